"""Benchmark the daily and weekly jobs against check (run benchmarks/bench_check.py first: it makes the folder).

    python benchmarks/bench_daily.py [--dir /tmp/coordxl-bench] [--repeat 3]

1. Flag one row of the 50k-row central ledger: the part-level patch alone, and the whole write
   protocol (fingerprint, patch, backup, temp + fsync + atomic replace, read back and compare),
   next to what an openpyxl load + save of the same file costs.
2. Each as a ratio to `check` with the same number of processes, the median of --repeat
   alternating pairs, each run in a fresh process: the daily job's first run on a copy of the
   300-workbook folder (writes every flag, sends the first digests), a same-day rerun and a run on
   the next working day — each with check's worker processes (limits.workers), so against check
   with them — and the weekly summary (workbook with charts, mails to the outbox), which reads in
   one process, so against check in one process (and, for reference, check with its workers).
"""

from __future__ import annotations

import argparse
import compileall
import datetime as dt
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def _child(kind: str, root: str, day: str = "2026-08-20") -> None:
    from coordxl.check import run_check
    from coordxl.daily import run_daily
    today = dt.date.fromisoformat(day)
    start = time.perf_counter()
    if kind in ("check", "check1"):
        run_check(root, today, workers=1 if kind == "check1" else None)
        extra = {}
    elif kind == "weekly":
        from coordxl.summary import run_weekly
        result = run_weekly(root, today, dt.datetime.combine(today, dt.time(9, 30)))
        extra = {"mails": len(result.delivery.sent)}
    else:
        result = run_daily(root, today, dt.datetime.combine(today, dt.time(9)))
        extra = {"workbooks_written": len(result.written), "cells": result.cells_written,
                 "mails": len(result.delivery.sent) if result.delivery else 0}
    print(json.dumps({"seconds": round(time.perf_counter() - start, 2), **extra}))


def measure(kind: str, root: Path, day: dt.date = dt.date(2026, 8, 20)) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", kind, str(root), day.isoformat()],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def ratio(label: str, job: str, runs: list[tuple[dict, dict]], target: float, check: str = "check") -> None:
    """The median of alternating (check, job) pairs, as a ratio; what the job did in its median run."""
    checks = sorted(c["seconds"] for c, _ in runs)
    jobs = sorted(runs, key=lambda r: r[1]["seconds"])
    median_check, median_job = checks[len(checks) // 2], jobs[len(jobs) // 2][1]
    did = ", ".join(f"{median_job[k]} {k.replace('_', ' ')}" for k in ("workbooks_written", "cells", "mails")
                    if k in median_job)
    print(f"{label:<34} {check:<7} {median_check:5.2f} s   {job} {median_job['seconds']:6.2f} s   "
          f"{median_job['seconds'] / median_check:5.2f}x (target <= {target}x)   {did}   "
          f"runs {[r[1]['seconds'] for r in runs]}")


def one_row(ledger: Path, work: Path) -> None:
    import openpyxl

    from coordxl.writer import FlagWrite, patch_workbook_bytes, write_flags
    from coordxl.xlsxparts import Fingerprint

    path = work / "ledger.xlsx"
    shutil.copy(ledger, path)
    data = path.read_bytes()
    t = time.perf_counter()
    patch_workbook_bytes(data, "执行进度", {(25000, 14): "逾期3个工作日"})
    patch = time.perf_counter() - t
    t = time.perf_counter()
    job = FlagWrite(path, path.name, "执行进度", 14, 1, {25000: "逾期3个工作日"}, Fingerprint.of(path))
    assert write_flags(job, work / "backups").written
    protocol = time.perf_counter() - t
    t = time.perf_counter()
    wb = openpyxl.load_workbook(path)
    wb["执行进度"].cell(row=25001, column=14, value="逾期3个工作日")
    wb.save(work / "openpyxl.xlsx")
    naive = time.perf_counter() - t
    print(f"flag one row of a 50k-row workbook: part-level patch {patch:.2f} s (target <= 0.5 s); "
          f"whole write protocol {protocol:.2f} s; openpyxl load + save {naive:.2f} s")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        return _child(*sys.argv[2:])
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", type=Path, default=Path("/tmp/coordxl-bench"))
    ap.add_argument("--repeat", type=int, default=3, help="alternating runs per row; the median counts")
    args = ap.parse_args()
    compileall.compile_dir(str(REPO / "coordxl"), quiet=1)  # as `pip install` does (see bench_check.py)
    source = args.dir / "share"
    if not (source / "进行中").is_dir():
        sys.exit("run benchmarks/bench_check.py first to generate the folder")
    work = args.dir / "daily"
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    one_row(source / "进行中" / "总台账.xlsx", work)
    print(f"(each row: the median of {args.repeat} alternating runs of check and the job, each in a fresh "
          f"process; 'check' uses limits.workers processes as the daily job does, 'check1' one process)")
    day, next_day, monday = dt.date(2026, 8, 20), dt.date(2026, 8, 21), dt.date(2026, 8, 24)
    roots = []
    first = []
    for n in range(args.repeat):  # a first run changes the folder: each on its own copy
        root = work / f"share{n}"
        shutil.copytree(source, root)
        roots.append(root)
        first.append((measure("check", root, day), measure("daily", root, day)))
    ratio("daily, first run (writes flags)", "daily", first, 1.3)
    root = roots[0]
    ratio("daily, same-day rerun", "daily", [(measure("check", root, day), measure("daily", root, day))
                                             for _ in range(args.repeat)], 1.3)
    ratio("daily, next working day", "daily", [(measure("check", r, next_day), measure("daily", r, next_day))
                                               for r in roots], 1.3)
    weekly = [(measure("check1", r, monday), measure("weekly", r, monday)) for r in roots]
    ratio("weekly (first of the week on each copy)", "weekly", weekly, 1.5, "check1")
    ratio("  the same runs against check", "weekly",
          [(measure("check", r, monday), w) for r, (_, w) in zip(roots, weekly)], 1.5)
    print("(a daily run sends at most reminders.max_mails_per_run digests; what it held goes out in the next "
          "runs, so a rerun on the same day still sends mail: the 'mails' figure says how many)")


if __name__ == "__main__":
    main()
