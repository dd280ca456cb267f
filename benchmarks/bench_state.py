"""How big state.db gets: a year of daily runs' task snapshots, thinned as the daily job thins them.

    python benchmarks/bench_state.py [--tasks 10000] [--days 365] [--no-prune]

Each simulated day stores every task's snapshot row (as the daily job does, one workbook of 1,000 tasks
at a time) and then runs Store.prune_snapshots with the default settings (state.keep_daily_weeks = 8,
state.keep_weeks = 104). Prints the file size at the end of each quarter, the days kept, and the time.
--no-prune shows what the file grows to without thinning.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from coordxl.state.store import Store  # noqa: E402


def rows(tasks: int, first: int, day: dt.date) -> list[tuple]:
    return [(f"k{n}", f"T{n}", f"任务{n}的说明文字", "市场部", "张伟", (day + dt.timedelta(days=n % 30)).isoformat(),
             None, "进行中", "open", n % 7) for n in range(first, first + tasks)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", type=int, default=10000)
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--no-prune", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "state.db"
        store = Store(path)
        day, started = dt.date(2026, 1, 1), time.perf_counter()
        for n in range(args.days):
            for first in range(0, args.tasks, 1000):
                store.save_snapshot(day, f"进行中/事项{first // 1000}.xlsx", rows(min(1000, args.tasks - first), first, day))
            if not args.no_prune:
                store.prune_snapshots(day, 8, 104)
            if (n + 1) % 91 == 0 or n + 1 == args.days:
                store.db().execute("PRAGMA wal_checkpoint(TRUNCATE)")
                kept = store.db().execute("SELECT COUNT(DISTINCT day) FROM snapshots").fetchone()[0]
                print(f"day {n + 1:>3}: state.db {path.stat().st_size / 2**20:6.1f} MB, {kept} days of snapshots kept, "
                      f"{time.perf_counter() - started:5.1f} s", flush=True)
            day += dt.timedelta(days=1)


if __name__ == "__main__":
    main()
