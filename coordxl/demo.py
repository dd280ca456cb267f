"""`coordxl demo`: the example folder in a temporary place, the jobs run on it, and where to look."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from rich.console import Console

from . import example


def prepare(target: Path | None, source: Path | None) -> Path:
    """Copy the bundled example folder (or build it when not running from a checkout) to ``target``."""
    root = Path(target) if target else Path(tempfile.mkdtemp(prefix="coordxl-demo-")) / "协调"
    if source is not None:
        shutil.copytree(source, root, dirs_exist_ok=True)
    else:
        example.build(root)
    for name in ("归档", "报告", ".coordxl"):
        (root / name).mkdir(parents=True, exist_ok=True)
    return root


def run(target: Path | None, source: Path | None, console: Console) -> Path:
    from .check import run_check, write_report_workbook
    from .folder import Layout
    from .render import print_report

    root = prepare(target, source)
    console.print(f"[bold]coordxl demo[/] — 示例文件夹 / example folder: {root}", highlight=False)
    console.print(f"演示日期 / demo date: {example.DEMO_TODAY.isoformat()}\n")
    layout = Layout.of(root)
    report = run_check(root, example.DEMO_TODAY, layout=layout)
    written = write_report_workbook(report, layout)
    print_report(report, layout.settings.lang, console, written)
    console.print("\n[bold]下一步 / next:[/] 打开 进行中/Q3新品上市推广.xlsx 查看示例；"
                  f"coordxl check {root} --today {example.DEMO_TODAY.isoformat()} --json", highlight=False)
    return root
