"""Benchmark the write protocol per item workbook against check's read of the same workbook.

    python benchmarks/bench_write.py [--dir /tmp/coordxl-bench] [--rounds 5] [--copies 40] [--baseline /tmp/before]
                                     [--daily-lines]

The item workbook is bench_check.py's 事项001.xlsx (run benchmarks/bench_check.py first: it makes the
folder). Each round runs in a fresh process on fresh copies (synced to the disk first): every task row's
flag written through the whole protocol (fingerprint re-check, locks, splice, verify, backup, temp file +
fsync + atomic replace, read-back), then each copy read and normalized as check does. A round gives the
mean per workbook, wall clock and CPU time; the rows show the medians of the rounds and the ratio
write / read (target <= 1.1x). ``--baseline``: a checkout of an earlier commit (``git worktree add`` or
``git archive``), run in alternate rounds with its own code. The load average is printed with each row:
"idle" below 1 on this 2-core machine, else "loaded".
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _child(item: str, copies: str, repo: str) -> None:
    sys.path.insert(0, repo)
    import datetime as dt

    import python_calamine

    try:
        from coordxl.run.pipeline import load_folder_roster, read_item
        from coordxl.state.layout import Layout
        from coordxl.xlsx.writer import FlagWrite, write_flags
        from coordxl.xlsx.xlsxparts import Fingerprint
    except ImportError:  # a baseline from before the sub-packages
        from coordxl.layout import Layout
        from coordxl.pipeline import load_folder_roster, read_item
        from coordxl.writer import FlagWrite, write_flags
        from coordxl.xlsxparts import Fingerprint
    source = Path(item)
    rows = len(python_calamine.CalamineWorkbook.from_path(str(source)).get_sheet_by_name("执行进度").to_python())
    with tempfile.TemporaryDirectory(dir=source.parent.parent.parent) as work:
        paths = [Path(work) / f"item{n}.xlsx" for n in range(int(copies))]
        for path in paths:
            shutil.copy(source, path)
        os.sync()
        jobs = [FlagWrite(p, p.name, "执行进度", 14, 2, {r: f"逾期{r % 20 + 1}个工作日" for r in range(3, rows + 1)},
                          Fingerprint.of(p)) for p in paths]
        wall, cpu = time.perf_counter(), time.process_time()
        for job in jobs:
            assert write_flags(job, Path(work) / "backups").written
        write = (time.perf_counter() - wall, time.process_time() - cpu)
        layout = Layout.of(source.parent.parent)
        roster, _ = load_folder_roster(layout)
        wall, cpu = time.perf_counter(), time.process_time()
        for path in paths:
            read_item(path, layout, roster, dt.date(2026, 8, 20))
        read = (time.perf_counter() - wall, time.process_time() - cpu)
    n = len(paths)
    print(json.dumps({"flags": rows - 2, "write_ms": write[0] / n * 1000, "write_cpu_ms": write[1] / n * 1000,
                      "read_ms": read[0] / n * 1000, "read_cpu_ms": read[1] / n * 1000}))


def _round(item: Path, copies: int, repo: Path) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", str(item), str(copies), str(repo)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _median(values: list[float]) -> float:
    return sorted(values)[len(values) // 2]


def _row(label: str, rounds: list[dict], load: tuple[float, float]) -> None:
    w, r = _median([x["write_ms"] for x in rounds]), _median([x["read_ms"] for x in rounds])
    wc, rc = _median([x["write_cpu_ms"] for x in rounds]), _median([x["read_cpu_ms"] for x in rounds])
    state = "idle" if max(load) < 1 else "loaded"
    print(f"{label:<9} written and verified {w:5.2f} ms (cpu {wc:5.2f}), read as check does {r:5.2f} ms "
          f"(cpu {rc:5.2f}): {w / r:4.2f}x wall, {wc / rc:4.2f}x cpu (target <= 1.1x)   "
          f"rounds {[round(x['write_ms'], 1) for x in rounds]}   load {load[0]:.2f}-{load[1]:.2f} {state}")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        return _child(*sys.argv[2:])
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", type=Path, default=Path("/tmp/coordxl-bench"))
    ap.add_argument("--rounds", type=int, default=5, help="fresh-process rounds per code; the median counts")
    ap.add_argument("--copies", type=int, default=40, help="workbooks written and read per round")
    ap.add_argument("--baseline", type=Path, help="a checkout of an earlier commit, to compare with")
    ap.add_argument("--daily-lines", action="store_true",
                    help="first the two lines bench_daily.py starts with (the 50k-row ledger's one flag, one item)")
    args = ap.parse_args()
    item = args.dir / "share" / "进行中" / "事项001.xlsx"
    if not item.exists():
        sys.exit("run benchmarks/bench_check.py first to generate the folder")
    if args.daily_lines:  # what bench_daily.py prints first, without the jobs after them
        sys.path.insert(0, str(REPO / "benchmarks"))
        import bench_daily
        with tempfile.TemporaryDirectory(dir=args.dir) as work:
            bench_daily.one_row(item.parent / "总台账.xlsx", Path(work))
            bench_daily.one_item(item, Path(work))
    trees = [("now", REPO)] + ([("before", args.baseline)] if args.baseline else [])
    rounds: dict[str, list[dict]] = {label: [] for label, _ in trees}
    start = os.getloadavg()[0]
    for _ in range(args.rounds):
        for label, repo in trees:
            rounds[label].append(_round(item, args.copies, repo))
    load = (start, os.getloadavg()[0])
    print(f"one item workbook ({item.stat().st_size // 1024} KB, {rounds['now'][0]['flags']} flags), "
          f"{args.copies} copies per round, median of {args.rounds} fresh-process rounds:")
    for label, _ in trees:
        _row(label, rounds[label], load)


if __name__ == "__main__":
    main()
