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
    import datetime as dt

    from .check import write_report_workbook
    from .daily import run_daily
    from .folder import Layout
    from .render import print_daily

    root = prepare(target, source)
    console.print(f"[bold]coordxl demo[/] — 示例文件夹 / example folder: {root}", highlight=False)
    console.print(f"演示日期 / demo date: {example.DEMO_TODAY.isoformat()}\n")
    layout = Layout.of(root)
    now = dt.datetime.combine(example.DEMO_TODAY, dt.time(9, 0))
    result = run_daily(root, example.DEMO_TODAY, now, layout=layout)
    written = write_report_workbook(result.report, layout)
    print_daily(result, layout.settings.lang, console)
    from .summary import run_weekly

    weekly = run_weekly(root, example.DEMO_TODAY, now.replace(hour=9, minute=30), layout=layout)
    console.print("\n[bold]去看看 / where to look[/]", highlight=False)
    console.print(f"  预警已写入 / flagged workbook: {layout.active / 'Q3新品上市推广.xlsx'}（执行进度 › 预警）",
                  highlight=False)
    console.print(f"  真实排版 / real-life layout:   {layout.active / (example.STORES + '.xlsx')}"
                  "（分节行、合并单元格、两位负责人、完成90%、合计行 / sections, merged cells, two owners, 90%, a total row）",
                  highlight=False)
    console.print(f"  校验报告 / validation report:  {written}", highlight=False)
    console.print(f"  周报 / weekly summary:         {weekly.weekly.path}", highlight=False)
    console.print(f"  邮件 / mails (.eml):           {layout.state / 'outbox' / example.DEMO_TODAY.isoformat()}",
                  highlight=False)
    console.print(f"  运行记录 / run log:            {layout.state / 'state.db'}", highlight=False)
    console.print(f"  再试 / try: coordxl check {root} --today {example.DEMO_TODAY.isoformat()} --json", highlight=False)
    return root
