"""Benchmark `coordxl check` against a bare calamine read (the floor) and a naive openpyxl checker.

    python benchmarks/bench_check.py [--dir /tmp/coordxl-bench] [--items 300] [--rows 334] [--ledger 50000] [--repeat 5]

Generates a synthetic shared folder once (kept in --dir for reruns), then times, each in a fresh
subprocess so peak memory (max RSS) is the run's own:
  floor   python-calamine reading every sheet of every workbook, nothing else
  check   coordxl.run.check.run_check (read, normalize, validate, all rules), with its default worker
          processes (limits.workers = 0: one per core, at most 4) and again in one process
  naive   openpyxl load_workbook + the same field checks (required, dates, choices, roster names)
the same on a "many findings" folder (--mistakes of the task rows carry a typical mistake: a
misspelt name, an empty owner, 月底 for a date, an unknown status …), and check's peak memory over a
third and over all of the item workbooks (no ledger), to show
whether memory grows with the number of workbooks.
"""

from __future__ import annotations

import argparse
import compileall
import datetime as dt
import json
import random
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import xlsxwriter

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

PEOPLE = [("张伟", "市场部"), ("陈静", "产品部"), ("孙丽", "销售部"), ("郑爽", "设计部"), ("刘洋", "市场部"),
          ("冯雪", "设计部"), ("周强", "销售部"), ("赵磊", "产品部")]
STATUSES = ["未开始", "进行中", "已完成", "受阻", "已取消"]
TASK_HEAD = ["编号", "任务", "来源", "负责部门", "负责人", "开始日期", "截止日期", "交付标准", "状态", "完成日期",
             "进展说明", "更新日期", "预警"]


# what people really get wrong in a tracker, for the "many findings" folder: (column, wrong value)
MISTAKES = ((4, "孙莉"), (4, ""), (6, "月底"), (8, "进行"), (3, "市场"), (7, ""), (6, "10.09"))


def _task_row(rng: random.Random, i: int, base: dt.date, mistakes: float = 0.0) -> list:
    name, dept = rng.choice(PEOPLE)
    start = base + dt.timedelta(days=rng.randint(0, 30))
    due = start + dt.timedelta(days=rng.randint(5, 40))
    status = rng.choice(STATUSES)
    done = due - dt.timedelta(days=rng.randint(-3, 3)) if status == "已完成" else None
    row = [f"T{i:05d}", f"任务{i}", f"会议纪要#{i % 8 + 1}", dept, name, start, due, "交付物说明", status, done,
           "进展正常", due - dt.timedelta(days=2), ""]
    if mistakes and rng.random() < mistakes:
        column, wrong = rng.choice(MISTAKES)
        row[column] = wrong
    return row


def _write_tasks(wb, ws, rows, date_fmt, first_row=1, item_col=False):
    ws.write_row(0, 0, (["事项"] if item_col else []) + TASK_HEAD)
    for r, row in enumerate(rows, start=first_row):
        for c, v in enumerate(row):
            if isinstance(v, dt.date):
                ws.write_datetime(r, c, dt.datetime.combine(v, dt.time()), date_fmt)
            elif v is not None:
                ws.write(r, c, v)


def generate(root: Path, items: int, rows: int, ledger: int, mistakes: float = 0.0) -> None:
    from coordxl.run import example

    if root.exists():
        shutil.rmtree(root)
    example.build(root)
    for p in (root / "进行中").iterdir():
        p.unlink()
    rng = random.Random(7)
    base = dt.date(2026, 7, 1)
    for n in range(items):
        wb = xlsxwriter.Workbook(str(root / "进行中" / f"事项{n:03d}.xlsx"), {"constant_memory": True})
        date_fmt = wb.add_format({"num_format": "yyyy-mm-dd"})
        req = wb.add_worksheet("需求单")
        form = [("沟通主题", f"事项{n:03d}"), ("发起部门", "市场部"), ("发起人", "张伟"), ("参与部门/人", "产品部"),
                ("沟通背景与目的", "背景"), ("需解决的核心问题", "问题"), ("期望成果与时间", "成果"),
                ("发出日期", dt.datetime(2026, 7, 1)), ("计划会议时间", dt.datetime(2026, 7, 6, 14)), ("状态", "进行中")]
        for r, (k, v) in enumerate(form):
            req.write(r, 0, k)
            req.write_datetime(r, 1, v, date_fmt) if isinstance(v, dt.datetime) else req.write(r, 1, v)
        mins = wb.add_worksheet("会议纪要")
        mform = [("会议主题", "协调会"), ("会议时间", dt.datetime(2026, 7, 6, 14)), ("结束时间", dt.datetime(2026, 7, 6, 15)),
                 ("主持人", "张伟"), ("记录人", "刘洋"), ("参会人员", "张伟、陈静"), ("议程", "背景→需求→议题→共识→待办"),
                 ("纪要发出时间", dt.datetime(2026, 7, 6, 18))]
        for r, (k, v) in enumerate(mform):
            mins.write(r, 0, k)
            mins.write_datetime(r, 1, v, date_fmt) if isinstance(v, dt.datetime) else mins.write(r, 1, v)
        mins.write_row(10, 0, ["序号", "事项", "负责部门", "负责人", "截止日期", "交付标准"])
        for a in range(8):
            mins.write_row(11 + a, 0, [a + 1, f"待办{a + 1}", "市场部", "张伟", "2026-08-01", "标准"])
        ws = wb.add_worksheet("执行进度")
        _write_tasks(wb, ws, (_task_row(rng, i, base, mistakes) for i in range(rows)), date_fmt)
        fu = wb.add_worksheet("跟进会")
        fu.write_row(0, 0, ["日期", "开始时间", "结束时间", "参会人员", "检查结论", "待协调问题"])
        for w in range(8):
            fu.write_row(1 + w, 0, [(dt.date(2026, 7, 8) + dt.timedelta(weeks=w)).isoformat(), "16:00", "16:20", "张伟", "", ""])
        res = wb.add_worksheet("资源申请")
        res.write_row(0, 0, ["申请编号", "申请部门", "申请人", "申请日期", "资源类型", "数量或金额", "用途说明", "需要日期"])
        res.write_row(1, 0, ["R1", "市场部", "张伟", "2026-07-10", "资金", 1000, "物料", "2026-07-20"])
        wb.close()
    wb = xlsxwriter.Workbook(str(root / "进行中" / "总台账.xlsx"), {"constant_memory": True})
    date_fmt = wb.add_format({"num_format": "yyyy-mm-dd"})
    ws = wb.add_worksheet("执行进度")
    _write_tasks(wb, ws, ([f"事项{i % items:03d}"] + _task_row(rng, i, base, mistakes) for i in range(ledger)), date_fmt,
                 item_col=True)
    wb.close()


def run_floor(root: Path) -> dict:
    import python_calamine as calamine
    cells = 0
    for path in sorted((root / "进行中").glob("*.xlsx")):
        wb = calamine.CalamineWorkbook.from_path(str(path))
        for name in wb.sheet_names:
            rows = wb.get_sheet_by_name(name).to_python(skip_empty_area=False)
            cells += sum(len(r) for r in rows)
        wb.close()
    return {"cells": cells}


def run_check(root: Path, workers: int | None = None) -> dict:
    from coordxl.run.check import run_check as check
    report = check(root, dt.date(2026, 8, 20), workers=workers)
    return {"tasks": report.task_count, "findings": len(report.findings), "workers": report.workers}


def run_naive(root: Path) -> dict:
    """What a first attempt with openpyxl looks like: load every workbook, walk the rows, check fields."""
    import openpyxl

    from coordxl.normalize import parse_date
    names = {p for p, _ in PEOPLE}
    depts = {d for _, d in PEOPLE}
    findings = tasks = 0
    for path in sorted((root / "进行中").glob("*.xlsx")):
        wb = openpyxl.load_workbook(path, data_only=True)
        for ws in wb.worksheets:
            rows = ws.iter_rows(values_only=True)
            header = next(rows, None)
            if not header or "编号" not in header:
                continue
            col = {h: i for i, h in enumerate(header)}
            for row in rows:
                tasks += 1
                for key in ("编号", "任务", "负责部门", "负责人", "截止日期", "交付标准", "状态"):
                    if row[col[key]] in (None, ""):
                        findings += 1
                for key in ("开始日期", "截止日期", "完成日期", "更新日期"):
                    v = row[col[key]]
                    if v not in (None, "") and parse_date(v, 2026).value is None:
                        findings += 1
                findings += row[col["负责人"]] not in names
                findings += row[col["负责部门"]] not in depts
                findings += row[col["状态"]] not in STATUSES
    return {"tasks": tasks, "findings": findings}


def _child(kind: str, root: str) -> None:
    fn = {"floor": run_floor, "check": run_check, "check1": lambda r: run_check(r, workers=1),
          "naive": run_naive}[kind]
    start = time.perf_counter()
    result = fn(Path(root))
    result["seconds"] = round(time.perf_counter() - start, 2)
    result["peak_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    # a worker process's own peak (the largest one), when the check used several processes
    result["worker_peak_mb"] = round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1)
    print(json.dumps(result))


def measure(kind: str, root: Path) -> dict:
    """One run of ``kind`` in a fresh process."""
    out = subprocess.run([sys.executable, __file__, "--child", kind, str(root)], capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure_alternating(kinds: tuple[str, ...], root: Path, repeat: int) -> list[dict]:
    """The median run of each kind over ``repeat`` rounds that run every kind once, so a slow spell of
    this shared VM (timings vary by ±20 %) falls on all of them alike."""
    runs: dict[str, list[dict]] = {k: [] for k in kinds}
    for _ in range(repeat):
        for kind in kinds:
            runs[kind].append(measure(kind, root))
    out = []
    for kind in kinds:
        median = sorted(runs[kind], key=lambda r: r["seconds"])[repeat // 2]
        median["all_seconds"] = [r["seconds"] for r in runs[kind]]
        out.append(median)
    return out


def subset(root: Path, target: Path, count: int) -> Path:
    """A copy of the folder with only the first ``count`` item workbooks and no ledger."""
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(root, target, ignore=shutil.ignore_patterns("事项*.xlsx", "总台账.xlsx"))
    for path in sorted((root / "进行中").glob("事项*.xlsx"))[:count]:
        shutil.copy(path, target / "进行中" / path.name)
    return target


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        return _child(sys.argv[2], sys.argv[3])
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", type=Path, default=Path("/tmp/coordxl-bench"))
    ap.add_argument("--items", type=int, default=300)
    ap.add_argument("--rows", type=int, default=334)
    ap.add_argument("--ledger", type=int, default=50_000)
    ap.add_argument("--regenerate", action="store_true")
    ap.add_argument("--repeat", type=int, default=5, help="runs of floor and check; the median counts")
    ap.add_argument("--mistakes", type=float, default=0.05,
                    help="share of task rows with a typical mistake in the 'many findings' folder")
    args = ap.parse_args()
    # byte-compile coordxl first, as `pip install` does: with PYTHONDONTWRITEBYTECODE set, every
    # timed process would otherwise compile the package from source
    compileall.compile_dir(str(REPO / "coordxl"), quiet=1)
    root = args.dir / "share"
    if args.regenerate or not (root / "进行中").is_dir():
        t = time.perf_counter()
        generate(root, args.items, args.rows, args.ledger)
        print(f"generated {args.items} workbooks x {args.rows} tasks + a {args.ledger}-row ledger "
              f"in {time.perf_counter() - t:.1f} s")
    floor, check, check1 = measure_alternating(("floor", "check", "check1"), root, args.repeat)
    naive = measure("naive", root)
    print(f"(median of {args.repeat} runs each, alternating, in fresh processes; naive: one run)")
    print(f"floor (calamine read)         {floor['seconds']:7.2f} s   peak {floor['peak_mb']:7.1f} MB   "
          f"runs {floor['all_seconds']}")
    print(f"coordxl check, {check['workers']} processes   {check['seconds']:7.2f} s   peak {check['peak_mb']:7.1f} MB "
          f"(each worker <= {check['worker_peak_mb']} MB)   runs {check['all_seconds']}   "
          f"{check['tasks']} tasks, {check['findings']} findings")
    print(f"coordxl check, 1 process      {check1['seconds']:7.2f} s   peak {check1['peak_mb']:7.1f} MB   "
          f"runs {check1['all_seconds']}")
    print(f"naive openpyxl                {naive['seconds']:7.2f} s   peak {naive['peak_mb']:7.1f} MB   "
          f"{naive['tasks']} tasks")
    print(f"check / floor = {check['seconds'] / floor['seconds']:.2f}x with {check['workers']} processes, "
          f"{check1['seconds'] / floor['seconds']:.2f}x in one process (target <= 1.3x)")
    print(f"naive / check = {naive['seconds'] / check['seconds']:.1f}x with {check['workers']} processes, "
          f"{naive['seconds'] / check1['seconds']:.1f}x in one process (target >= 10x)")
    third_root, whole_root = subset(root, args.dir / "third", args.items // 3), subset(root, args.dir / "whole", args.items)
    for kind, label in (("check1", "one process"), ("check", "default processes")):
        third, whole = measure(kind, third_root), measure(kind, whole_root)
        print(f"check peak memory ({label}, no ledger): {args.items // 3} workbooks {third['peak_mb']} MB "
              f"(workers {third['worker_peak_mb']} MB), {args.items} workbooks {whole['peak_mb']} MB "
              f"(workers {whole['worker_peak_mb']} MB)")
    # last: generating it grows this process, and a child's peak memory (ru_maxrss) starts from its parent's
    messy = args.dir / f"messy-{args.mistakes}"
    if args.regenerate or not (messy / "进行中").is_dir():
        generate(messy, args.items, args.rows, args.ledger, args.mistakes)
    floor_m, check_m, check1_m = measure_alternating(("floor", "check", "check1"), messy, max(3, args.repeat // 2))
    print(f"many findings ({check_m['findings']} findings, {args.mistakes:.0%} of rows with a mistake): "
          f"floor {floor_m['seconds']:.2f} s, check {check_m['seconds']:.2f} s with {check_m['workers']} processes "
          f"({check_m['seconds'] / floor_m['seconds']:.2f}x), {check1_m['seconds']:.2f} s in one process "
          f"({check1_m['seconds'] / floor_m['seconds']:.2f}x); runs {check_m['all_seconds']} / {check1_m['all_seconds']}")


if __name__ == "__main__":
    main()
