"""The peer: what a user would write instead of coordxl daily, timed against it, and what its save destroys.

    python benchmarks/bench_peer.py [--dir /tmp/coordxl-bench] [--repeat 1] [--example /path/to/example/folder]

Needs pandas, which coordxl does not depend on: install it for this benchmark only
(`.venv/bin/pip install pandas`). The peer reads each tracker with pandas `read_excel(engine="calamine")`,
works out a flag per task row (overdue, due within 3 days) with pandas, writes the flags with openpyxl
(load_workbook, set the cells, save) and groups the open tasks by owner for the mails (not sent: the mail
part is left out in its favour). coordxl daily (first run: every flag written, verified, digests made and
put in the outbox) runs on a copy of its own; both in fresh processes, alternating, the median counts.

Then, on the workbooks of ``--example`` (default: a folder made by coordxl.run.example), what the peer's
openpyxl save leaves of each workbook: parts of the package lost (drawings, images, ...), sparklines,
formula cells that lost their cached values (a reader that does not recalculate, calamine or a phone's
viewer, sees them empty), data validations, conditional formats.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
TODAY = dt.date(2026, 8, 20)


def peer(root: Path, today: dt.date = TODAY) -> dict:
    """The script a user would write: pandas to read and decide, openpyxl to write, per workbook."""
    import openpyxl
    import pandas as pd

    stamp = pd.Timestamp(today)
    flags = owners = 0
    by_owner: dict[str, int] = {}
    for path in sorted((root / "进行中").glob("*.xlsx")):
        df = pd.read_excel(path, sheet_name="执行进度", engine="calamine")
        if "截止日期" not in df.columns or "预警" not in df.columns:
            continue
        due = pd.to_datetime(df["截止日期"], errors="coerce")
        open_ = ~df["状态"].astype(str).isin(["已完成", "已取消"])
        days = (due - stamp).dt.days
        flag = pd.Series("", index=df.index)
        flag[open_ & (days < 0)] = "逾期"
        flag[open_ & (days >= 0) & (days <= 3)] = "3天内到期"
        for owner, n in df.loc[flag != "", "负责人"].astype(str).value_counts().items():
            by_owner[owner] = by_owner.get(owner, 0) + int(n)
        wb = openpyxl.load_workbook(path)
        ws = wb["执行进度"]
        column = list(df.columns).index("预警") + 1
        for i, value in enumerate(flag, start=2):
            ws.cell(row=i, column=column, value=value or None)
        wb.save(path)
        flags += int((flag != "").sum())
    owners = len(by_owner)
    return {"flags": flags, "owners": owners}


def coordxl_daily(root: Path, today: dt.date = TODAY) -> dict:
    from coordxl.run.daily import run_daily
    result = run_daily(root, today, dt.datetime.combine(today, dt.time(9)))
    return {"flags": result.cells_written, "workbooks": len(result.written)}


def _child(kind: str, root: str) -> None:
    start = time.perf_counter()
    out = (peer if kind == "peer" else coordxl_daily)(Path(root))
    out["seconds"] = round(time.perf_counter() - start, 2)
    with open("/proc/self/status", encoding="ascii") as fh:  # this process's peak, not its parent's
        out["peak_mb"] = next(round(int(line.split()[1]) / 1024) for line in fh if line.startswith("VmHWM:"))
    print(json.dumps(out))


def measure(kind: str, root: Path) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", kind, str(root)], capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def damage(before: Path, after: Path) -> list[str]:
    """What an openpyxl load + save of ``before`` (saved as ``after``) lost, in words."""
    out = []
    with zipfile.ZipFile(before) as a, zipfile.ZipFile(after) as b:
        for kind in ("xl/media/", "xl/drawings/drawing", "xl/charts/", "xl/featurePropertyBag/", "xl/metadata",
                     "xl/slicers/", "xl/pivotTables/", "xl/ctrlProps/"):  # what a file loses, not a renamed part
            was, now = (sum(n.startswith(kind) for n in zf.namelist()) for zf in (a, b))
            if now < was:
                out.append(f"{kind.rstrip('/')} parts {was} -> {now}")

        def count(zf: zipfile.ZipFile, pattern: bytes) -> int:
            return sum(len(re.findall(pattern, zf.read(n))) for n in zf.namelist()
                       if n.startswith("xl/worksheets/") and n.endswith(".xml"))

        for label, pattern in (("sparkline groups", rb"<x14:sparklineGroup\b"),
                               ("formula cells with a cached value", rb"</f>\s*<v>[^<]"),
                               ("data validations", rb"<(?:x14:)?dataValidation\b"),
                               ("conditional formats", rb"<(?:x14:)?conditionalFormatting\b")):
            was, now = count(a, pattern), count(b, pattern)
            if now < was:
                out.append(f"{label} {was} -> {now}")
    return out


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        return _child(sys.argv[2], sys.argv[3])
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", type=Path, default=Path("/tmp/coordxl-bench"))
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--example", type=Path, help="a folder whose workbooks show what the peer's save loses "
                                                 "(tests/data/excel has Excel's features, one a file)")
    args = ap.parse_args()
    source = args.dir / "share"
    if not (source / "进行中").is_dir():
        sys.exit("run benchmarks/bench_check.py first to generate the folder")
    work = args.dir / "peer"
    shutil.rmtree(work, ignore_errors=True)
    runs: dict[str, list[dict]] = {"coordxl": [], "peer": []}
    for n in range(args.repeat):
        for kind in runs:
            root = work / f"{kind}{n}"
            shutil.copytree(source, root)
            runs[kind].append(measure(kind, root))
    median = {k: sorted(v, key=lambda r: r["seconds"])[len(v) // 2] for k, v in runs.items()}
    c, p = median["coordxl"], median["peer"]
    print(f"coordxl daily (first run)       {c['seconds']:7.2f} s  peak {c['peak_mb']} MB  {c['flags']} flags  "
          f"runs {[r['seconds'] for r in runs['coordxl']]}")
    print(f"pandas + openpyxl (the peer)    {p['seconds']:7.2f} s  peak {p['peak_mb']} MB  {p['flags']} flags  "
          f"runs {[r['seconds'] for r in runs['peer']]}")
    print(f"peer / coordxl = {p['seconds'] / c['seconds']:.1f}x (target >= 5x)")
    with tempfile.TemporaryDirectory() as tmp:
        example = args.example
        if example is None:
            from coordxl.run import example as ex
            example = Path(tmp) / "example"
            ex.build(example)
        import openpyxl
        for path in sorted(example.rglob("*.xlsx")):
            if ".coordxl" in path.parts:
                continue
            saved = Path(tmp) / "saved.xlsx"
            try:
                openpyxl.load_workbook(path).save(saved)
            except Exception as exc:  # the peer's script stops here
                print(f"openpyxl save of {path.relative_to(example)}: fails ({type(exc).__name__})")
                continue
            lost = damage(path, saved)
            print(f"openpyxl save of {path.relative_to(example)}: {'; '.join(lost) or 'nothing lost that this counts'}")


if __name__ == "__main__":
    main()
