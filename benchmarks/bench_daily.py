"""Benchmark the daily job's write-back (run benchmarks/bench_check.py first: it makes the folder).

    python benchmarks/bench_daily.py [--dir /tmp/coordxl-bench]

1. Flag one row of the 50k-row central ledger: the part-level patch alone, and the whole write
   protocol (fingerprint, patch, backup, temp + fsync + atomic replace, calamine re-read and
   cell-by-cell comparison), next to what an openpyxl load + save of the same file costs.
2. A daily run over the 300-workbook folder with nothing to write, next to `check` alone in one
   process, as the daily job reads (each in a fresh process; the daily run is done once beforehand
   so every flag is in place).
3. The weekly summary (workbook with charts, mails to the outbox) over the same folder.
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


def _child(kind: str, root: str) -> None:
    from coordxl.check import run_check
    from coordxl.daily import run_daily
    start = time.perf_counter()
    if kind == "check":
        run_check(root, dt.date(2026, 8, 20), workers=1)  # the daily job reads in one process too
        extra = {}
    elif kind == "weekly":
        from coordxl.summary import run_weekly
        result = run_weekly(root, dt.date(2026, 8, 24), dt.datetime(2026, 8, 24, 9, 30))
        extra = {"mails": len(result.delivery.sent)}
    else:
        result = run_daily(root, dt.date(2026, 8, 20), dt.datetime(2026, 8, 20, 9))
        extra = {"workbooks_written": len(result.written), "cells": result.cells_written}
    print(json.dumps({"seconds": round(time.perf_counter() - start, 2), **extra}))


def measure(kind: str, root: Path) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", kind, str(root)], capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def one_row(ledger: Path, work: Path) -> None:
    import openpyxl
    import python_calamine

    from coordxl.reader import sheet_rows
    from coordxl.writer import FlagWrite, patch_workbook_bytes, write_flags
    from coordxl.xlsxparts import Fingerprint

    path = work / "ledger.xlsx"
    shutil.copy(ledger, path)
    data = path.read_bytes()
    t = time.perf_counter()
    patch_workbook_bytes(data, "执行进度", {(25000, 14): "逾期3个工作日"})
    patch = time.perf_counter() - t
    wb = python_calamine.CalamineWorkbook.from_path(str(path))
    before = sheet_rows(wb, "执行进度")[0]
    t = time.perf_counter()
    job = FlagWrite(path, path.name, "执行进度", 14, 1, {25000: "逾期3个工作日"}, Fingerprint.of(path), before=before)
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
        return _child(sys.argv[2], sys.argv[3])
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", type=Path, default=Path("/tmp/coordxl-bench"))
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
    root = work / "share"
    shutil.copytree(source, root)
    first = measure("daily", root)
    print(f"first daily run (writes flags): {first['seconds']} s, {first['workbooks_written']} workbooks, "
          f"{first['cells']} cells")
    check, daily = measure("check", root), measure("daily", root)
    print(f"nothing to write: check (one process) {check['seconds']} s, daily {daily['seconds']} s "
          f"({daily['seconds'] / check['seconds']:.2f}x; target <= 1.3x), {daily['workbooks_written']} written")
    weekly = measure("weekly", root)
    print(f"weekly summary: {weekly['seconds']} s ({weekly['seconds'] / check['seconds']:.2f}x check), "
          f"{weekly['mails']} mails to the outbox")


if __name__ == "__main__":
    main()
