"""How long printing a check's findings takes, by number of findings (target: ≤ 0.2 s at any size).

    python benchmarks/bench_output.py [--findings 7700 100000] [--workbooks 300]

Builds a report of N findings spread over --workbooks workbooks (the codes and texts a messy first run
gives) and prints it as `coordxl check` does to a terminal (capped, the default), as `--summary`
(jobs/ and cron logs) and as `--all`, to a console writing into /dev/null; median of 3 runs each.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from rich.console import Console  # noqa: E402

from coordxl.findings import finding  # noqa: E402
from coordxl.run.pipeline import Report  # noqa: E402
from coordxl.run.render import print_report  # noqa: E402


def report_of(n: int, workbooks: int) -> Report:
    kinds = [("F-DATE", dict(field=("截止日期", "Due date"), value="下周一")),
             ("F-PERSON", dict(field=("负责人", "Owner"), value="刘阳", hint=("您是否指“刘洋”？", "Did you mean 刘洋?"))),
             ("F-REQUIRED", dict(field=("交付标准", "Delivery standard")))]
    out = []
    for i in range(n):
        code, params = kinds[i % len(kinds)]
        params = dict(params)
        hint = params.pop("hint", None)
        out.append(finding(code, f"进行中/事项{i % workbooks:03d}.xlsx", "执行进度", f"G{i // workbooks + 2}",
                           hint=hint, **params))
    out.sort(key=lambda f: f.workbook)
    return Report(dt.date(2026, 8, 20), out, workbooks=workbooks, item_count=workbooks, task_count=n * 4)


def timed(report: Report, show: str) -> float:
    runs = []
    for _ in range(3):
        console = Console(file=open("/dev/null", "w"), width=120, force_terminal=True)
        start = time.perf_counter()
        print_report(report, "zh", console, Path("报告/校验报告-2026-08-20.xlsx"), 20, show)
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--findings", type=int, nargs="+", default=[7700, 100000])
    parser.add_argument("--workbooks", type=int, default=300)
    args = parser.parse_args()
    print(f"{'findings':>9} {'capped (terminal)':>18} {'--summary (logs)':>17} {'--all':>8}")
    for n in args.findings:
        report = report_of(n, args.workbooks)
        capped, summary = timed(report, "capped"), timed(report, "summary")
        every = timed(report, "all") if n <= 20000 else float("nan")
        print(f"{n:>9} {capped:>16.3f} s {summary:>15.3f} s {every:>6.2f} s")


if __name__ == "__main__":
    main()
