"""Findings for a person at a terminal: a rich table per workbook and a one-line summary."""

from __future__ import annotations

from itertools import groupby
from pathlib import Path

from rich.console import Console
from rich.table import Table

from .check import Report

HEAD = {
    "zh": ("级别", "代码", "工作表", "单元格", "问题", "处理建议", "错误", "提醒"),
    "en": ("Level", "Code", "Sheet", "Cell", "Problem", "How to fix", "error", "warning"),
}


def print_report(report: Report, lang: str, console: Console, written: Path | None = None) -> None:
    level, code, sheet, cell, problem, fix, err, warn = HEAD[lang]
    for workbook, group in groupby(report.findings, key=lambda f: f.workbook):
        table = Table(title=workbook, title_justify="left", show_lines=False, expand=False)
        for name in (level, code, sheet, cell, problem, fix):
            table.add_column(name, overflow="fold")
        for f in group:
            style = "red" if f.is_error else "yellow"
            table.add_row(f"[{style}]{err if f.is_error else warn}[/]", f.code, f.sheet, f.cell,
                          f.message(lang), f.hint(lang))
        console.print(table)
    s = report.summary()
    if lang == "zh":
        line = (f"检查了 {s['workbooks']} 个工作簿、{s['items']} 个事项、{s['tasks']} 项任务："
                f"{s['errors']} 个错误，{s['warnings']} 个提醒（{s['today']}）")
    else:
        line = (f"Checked {s['workbooks']} workbooks, {s['items']} items, {s['tasks']} tasks: "
                f"{s['errors']} errors, {s['warnings']} warnings ({s['today']})")
    console.print(("[green]✔ " if report.ok else "[red]✘ ") + line + "[/]", highlight=False)
    if written:
        console.print(("校验报告：" if lang == "zh" else "Report: ") + str(written), highlight=False)
