"""Benchmark the daily and weekly jobs against check (run benchmarks/bench_check.py first: it makes the folder).

    python benchmarks/bench_daily.py [--dir /tmp/coordxl-bench] [--repeat 3] [--baseline /tmp/before] [--size 1000]

``--baseline``: a checkout of an earlier commit (git worktree add /tmp/before <commit>); each job is
then also run with that code, interleaved with this one's, on copies of its own, and each row shows
both side by side (same check, same minutes of the machine). ``--size N``: a folder of N item
workbooks and a ledger that grows with it (bench_check.py's 300 workbooks and 50,000 rows, scaled),
generated in --dir on first use. Each row shows the peak memory of the job and of check (the main
process's peak, VmHWM; a worker's largest ru_maxrss after '+').

1. Flag one row of the 50k-row central ledger: the part-level patch alone, and the whole write
   protocol (fingerprint, patch, backup, temp + fsync + atomic replace, read back and compare),
   next to what an openpyxl load + save of the same file costs.
2. Each as a ratio to `check` with the same number of processes, the median of --repeat
   alternating pairs, each run in a fresh process: the daily job's first run on a copy of the
   300-workbook folder (writes every flag, sends the first digests), a same-day rerun and a run on
   the next working day — each with check's worker processes (limits.workers), so against check
   with them —, the weekly summary (workbook with charts, mails to the outbox), against check in one
   process and with its workers, and last a rerun with nothing left to send (the first copy's cap
   raised and every held digest sent first, untimed): what a scheduled rerun usually is.
"""

from __future__ import annotations

import argparse
import compileall
import datetime as dt
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def _child(kind: str, root: str, day: str = "2026-08-20", repo: str = "") -> None:
    if repo:  # the baseline's code (nothing of coordxl is imported yet)
        sys.path.insert(0, repo)
    try:
        from coordxl.run.check import run_check
        from coordxl.run.daily import run_daily
        try:
            from coordxl.run.weekly import run_weekly
        except ImportError:  # a baseline from before the weekly's split
            from coordxl.run.summary import run_weekly
    except ImportError:  # a baseline from before the sub-packages: the flat modules
        from coordxl.check import run_check
        from coordxl.daily import run_daily
        from coordxl.summary import run_weekly
    today = dt.date.fromisoformat(day)
    start = time.perf_counter()
    if kind in ("check", "check1"):
        run_check(root, today, workers=1 if kind == "check1" else None)
        extra = {}
    elif kind == "weekly":
        result = run_weekly(root, today, dt.datetime.combine(today, dt.time(9, 30)))
        extra = {"mails": len(result.delivery.sent)}
    else:
        result = run_daily(root, today, dt.datetime.combine(today, dt.time(9)))
        extra = {"workbooks_written": len(result.written), "cells": result.cells_written,
                 "mails": len(result.delivery.sent) if result.delivery else 0}
    seconds = round(time.perf_counter() - start, 2)
    peak = _peak_mb()
    workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # its largest worker's
    print(json.dumps({"seconds": seconds, "peak_mb": round(peak), "worker_peak_mb": round(workers), **extra}))


def _peak_mb() -> float:
    """This process's peak resident memory: VmHWM where /proc has it (ru_maxrss also counts the memory of
    the process that started it, carried across exec), else ru_maxrss."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            return next(int(line.split()[1]) for line in fh if line.startswith("VmHWM:")) / 1024
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(kind: str, root: Path, day: dt.date = dt.date(2026, 8, 20), repo: Path | None = None) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", kind, str(root), day.isoformat(), str(repo or "")],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _median(values: list[float]) -> float:
    return sorted(values)[len(values) // 2]


def ratio(label: str, job: str, runs: list[tuple], target: float, check: str = "check") -> None:
    """The medians of alternating (check, job[, job with the baseline's code]) runs, as ratios to check;
    what the job did in its median run."""
    median_check = _median([r[0]["seconds"] for r in runs])
    median_job = sorted((r[1] for r in runs), key=lambda j: j["seconds"])[len(runs) // 2]
    check_mb, job_mb = max(r[0]["peak_mb"] for r in runs), max(r[1]["peak_mb"] for r in runs)
    did = ", ".join(f"{median_job[k]} {k.replace('_', ' ')}" for k in ("workbooks_written", "cells", "mails")
                    if k in median_job)
    before = ""
    if len(runs[0]) > 2:
        base = _median([r[2]["seconds"] for r in runs])
        before = (f"   before {base:6.2f} s {base / median_check:5.2f}x "
                  f"{max(r[2]['peak_mb'] for r in runs)} MB")
    print(f"{label:<40} {check:<6} {median_check:5.2f} s{before}   {job} {median_job['seconds']:6.2f} s "
          f"{median_job['seconds'] / median_check:5.2f}x (target <= {target}x)   {did}   "
          f"runs {[r[1]['seconds'] for r in runs]}   peak MB: {check} {check_mb}"
          f"+{max(r[0]['worker_peak_mb'] for r in runs)}, {job} {job_mb}+{max(r[1]['worker_peak_mb'] for r in runs)}"
          f" ({job_mb / check_mb - 1:+.0%}, target <= +25%)")


def one_row(ledger: Path, work: Path) -> None:
    import openpyxl

    from coordxl.xlsx.writer import FlagWrite, patch_workbook_bytes, write_flags
    from coordxl.xlsx.xlsxparts import Fingerprint

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


def one_item(item: Path, work: Path, copies: int = 40) -> None:
    """What a first run pays per item workbook: every task row's flag written (the whole protocol),
    next to reading and validating it as check does."""
    import datetime as dt

    import python_calamine

    from coordxl.run.pipeline import load_folder_roster, read_item
    from coordxl.state.layout import Layout
    from coordxl.xlsx.writer import FlagWrite, write_flags
    from coordxl.xlsx.xlsxparts import Fingerprint

    rows = len(python_calamine.CalamineWorkbook.from_path(str(item)).get_sheet_by_name("执行进度").to_python())
    paths = []
    for n in range(copies):
        paths.append(work / f"item{n}.xlsx")
        shutil.copy(item, paths[-1])
    os.sync()
    jobs = [FlagWrite(p, p.name, "执行进度", 14, 2, {r: f"逾期{r % 20 + 1}个工作日" for r in range(3, rows + 1)},
                      Fingerprint.of(p)) for p in paths]
    t = time.perf_counter()
    for job in jobs:
        assert write_flags(job, work / "backups").written
    write = (time.perf_counter() - t) / copies
    layout = Layout.of(item.parent.parent)
    roster, _ = load_folder_roster(layout)
    t = time.perf_counter()
    for p in paths:
        read_item(p, layout, roster, dt.date(2026, 8, 20))
    read = (time.perf_counter() - t) / copies
    print(f"one item workbook ({item.stat().st_size // 1024} KB, {rows - 2} flags): written and verified "
          f"{write * 1000:.1f} ms; read and normalized as check does {read * 1000:.1f} ms (mean of {copies} files)")


def _settings_the_baseline_knows(config: Path, baseline: Path) -> None:
    """Drop the sections of coordxl.toml that the baseline's code has no setting for (added since): it would
    refuse them as unknown settings; without them it runs with its own behaviour."""
    known = set(re.findall(r'Setting\("(\w+)\.', (baseline / "coordxl" / "settings.py").read_text(encoding="utf-8")))
    kept, keep = [], True
    for line in config.read_text(encoding="utf-8").splitlines(keepends=True):
        header = re.match(r"\[([\w-]+)[\].]", line)
        if header:
            keep = header.group(1) in known or header.group(1) == "channels"
        if keep:
            kept.append(line)
    config.write_text("".join(kept), encoding="utf-8")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        return _child(*sys.argv[2:])
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", type=Path, default=Path("/tmp/coordxl-bench"))
    ap.add_argument("--repeat", type=int, default=3, help="alternating runs per row; the median counts")
    ap.add_argument("--baseline", type=Path, help="a checkout of an earlier commit, to compare with")
    ap.add_argument("--size", type=int, default=300, help="item workbooks in the folder (300: bench_check.py's)")
    args = ap.parse_args()
    for repo in (REPO, args.baseline):  # as `pip install` does (see bench_check.py)
        if repo:
            compileall.compile_dir(str(repo / "coordxl"), quiet=1)
    source = args.dir / ("share" if args.size == 300 else f"share-{args.size}")
    if not (source / "进行中").is_dir():
        if args.size == 300:
            sys.exit("run benchmarks/bench_check.py first to generate the folder")
        sys.path.insert(0, str(REPO / "benchmarks"))
        from bench_check import generate
        generate(source, args.size, 334, 50_000 * args.size // 300)  # the ledger grows with the folder
    work = args.dir / ("daily" if args.size == 300 else f"daily-{args.size}")
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    one_row(source / "进行中" / "总台账.xlsx", work)
    one_item(source / "进行中" / "事项001.xlsx", work)
    print(f"(each row: the median of {args.repeat} alternating runs of check and the job, each in a fresh "
          f"process; 'check' uses limits.workers processes, 'check1' one process"
          + (f"; 'before': the job with the code in {args.baseline}, on copies of its own)" if args.baseline else ")"))
    day, next_day, monday = dt.date(2026, 8, 20), dt.date(2026, 8, 21), dt.date(2026, 8, 24)
    trees = [(REPO, "")] + ([(args.baseline, "-before")] if args.baseline else [])
    roots: dict[str, list[Path]] = {suffix: [] for _, suffix in trees}
    for n in range(args.repeat):  # a first run changes the folder: each on its own copy
        for _, suffix in trees:
            roots[suffix].append(work / f"share{n}{suffix}")
            shutil.copytree(source, roots[suffix][-1])
            if suffix:
                _settings_the_baseline_knows(roots[suffix][-1] / "coordxl.toml", args.baseline)
    os.sync()  # the copies' writes are on the disk before anything is timed

    def runs(check: str, job: str, day: dt.date, same_copy: bool = False) -> list[tuple]:
        out = []
        for n in range(args.repeat):
            k = 0 if same_copy else n
            row = [measure(check, roots[""][k], day)]
            row += [measure(job, roots[suffix][k], day, None if repo == REPO else repo) for repo, suffix in trees]
            out.append(tuple(row))
        return out

    ratio("daily, first run (writes flags)", "daily", runs("check", "daily", day), 2.5)
    ratio("daily, same-day rerun", "daily", runs("check", "daily", day, same_copy=True), 1.3)
    ratio("daily, next working day", "daily", runs("check", "daily", next_day), 1.5)
    weekly = runs("check1", "weekly", monday)
    ratio("weekly (first of the week on each copy)", "weekly", weekly, 1.5, "check1")
    ratio("  the same runs against check", "weekly",
          [(measure("check", roots[""][n], monday),) + r[1:] for n, r in enumerate(weekly)], 1.5)
    # a rerun that has nothing to send: the cap raised on the first copy, a run sends every digest held
    for repo, suffix in trees:
        config = roots[suffix][0] / "coordxl.toml"
        config.write_text(re.sub(r"(?m)^max_mails_per_run = .*$", "max_mails_per_run = 100000",
                                 config.read_text(encoding="utf-8")), encoding="utf-8")
        measure("daily", roots[suffix][0], next_day, None if repo == REPO else repo)
    ratio("daily, rerun with nothing to send", "daily", runs("check", "daily", next_day, same_copy=True), 1.3)
    print("(a daily run sends at most reminders.max_mails_per_run digests; what it held goes out in the next "
          "runs, so a rerun on the same day still sends mail: the 'mails' figure says how many)")


if __name__ == "__main__":
    main()
