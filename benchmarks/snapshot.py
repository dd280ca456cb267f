"""What users get from one run of every job, as one comparable JSON file: for refactors that must not change it.

    python benchmarks/snapshot.py FOLDER OUT.json [--today 2026-08-20] [--history 2]   # run the jobs on a copy, write the snapshot
    python benchmarks/snapshot.py --compare BEFORE.json AFTER.json      # exit 1 and list what differs

The jobs run on a temporary copy of FOLDER (the folder itself is never touched): `daily` (flags,
digests and group posts to the outbox), the validation report workbook, `weekly` (workbook, mails,
posts) and `review` for the first 20 items. The snapshot holds the findings, every cell of every workbook
in the copy (the flagged ones and the generated ones, read with calamine), and every outbox file
(mail headers that vary per run — Date, Message-ID, MIME boundaries — left out). Byte-level
differences that change no cell (zip timestamps) are deliberately not compared.
``--history N``: `daily` runs first on the same weekday of each of the N weeks before, so the weekly
compares real snapshots (week-over-week changes, last week's plan, the KPIs' last values).
"""

from __future__ import annotations

import argparse
import datetime as dt
import email
import email.policy
import json
import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
REVIEWS = 20  # retrospective drafts made (the first items by name): each reads the roster again
sys.path.insert(0, str(REPO))


def cells(path: Path) -> dict:
    import python_calamine

    book = python_calamine.CalamineWorkbook.from_path(str(path))
    out = {}
    for name in book.sheet_names:
        try:
            rows = book.get_sheet_by_name(name).to_python(skip_empty_area=False)
        except Exception as exc:  # a chart sheet or a damaged one: note it, keep going
            out[name] = f"unreadable: {type(exc).__name__}"
            continue
        out[name] = [[v.isoformat() if isinstance(v, (dt.date, dt.time, dt.timedelta)) and hasattr(v, "isoformat")
                      else str(v) if isinstance(v, dt.timedelta) else v for v in row] for row in rows]
    return out


def mail(path: Path) -> dict:
    msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    parts = {}
    for part in msg.walk():
        if part.get_content_maintype() == "multipart":
            continue
        body = part.get_content()
        if isinstance(body, bytes) and part.get_filename("").endswith(".xlsx"):
            with tempfile.NamedTemporaryFile(suffix=".xlsx") as fh:  # an attached workbook: its cells
                fh.write(body)
                fh.flush()
                body = cells(Path(fh.name))
        parts.setdefault(part.get_content_type(), []).append(body if isinstance(body, (str, dict)) else len(body))
    return {"headers": {k: str(msg[k]) for k in ("From", "To", "Cc", "Subject", "X-Coordxl-Key") if msg[k]},
            "parts": parts}


def take(source: Path, today: dt.date, history: int = 0) -> dict:
    import coordxl
    from coordxl.run.check import write_report_workbook
    from coordxl.run.daily import run_daily
    if (Path(coordxl.__file__).parent / "layout.py").exists():
        from coordxl.state.layout import Layout
    else:  # a checkout from before layout.py (to take the "before" snapshot of a refactor)
        from coordxl.run.folder import Layout
    from coordxl.run.review import run_review
    try:
        from coordxl.run.weekly import run_weekly
    except ImportError:  # a checkout from before the weekly's split (the "before" snapshot of a refactor)
        from coordxl.run.summary import run_weekly

    # always the same place: what the jobs derive from paths (a mail's key) is the same run to run
    place = Path(tempfile.gettempdir()) / "coordxl-snapshot"
    shutil.rmtree(place, ignore_errors=True)
    place.mkdir()
    try:
        root = place / source.name
        shutil.copytree(source, root, ignore=shutil.ignore_patterns(".coordxl"))
        layout = Layout.of(root)
        now = dt.datetime.combine(today, dt.time(9, 0))
        for weeks in range(history, 0, -1):  # earlier daily runs: the snapshots the weekly compares
            day = today - dt.timedelta(weeks=weeks)
            run_daily(root, day, dt.datetime.combine(day, dt.time(9, 0)), layout=Layout.of(root))
        result = run_daily(root, today, now, layout=layout)
        write_report_workbook(result.report, layout)
        run_weekly(root, today, now.replace(minute=30), layout=layout)
        reviews = {}
        for path in sorted(layout.active.glob("*.xls*"))[:REVIEWS]:
            try:
                run_review(root, path.stem, today)
            except Exception as exc:  # an item that cannot be reviewed says so in the snapshot
                reviews[path.name] = f"{type(exc).__name__}: {exc}"
        snap = {
            "findings": sorted(json.dumps(f.to_json(), ensure_ascii=False,
                                          default=str, sort_keys=True) for f in result.report.findings),
            "flags": {"cells": result.cells_written, "workbooks": sorted(str(p) for p in result.written)},
            "reviews": reviews,
            "workbooks": {},
            "outbox": {},
        }
        for path in sorted(p for p in root.rglob("*.xls*") if ".coordxl" not in p.parts):
            snap["workbooks"][str(path.relative_to(root))] = cells(path)
        outbox = layout.state / "outbox"
        for path in sorted(outbox.rglob("*")):
            if path.suffix == ".eml":
                snap["outbox"][str(path.relative_to(outbox))] = mail(path)
            elif path.suffix == ".json":
                snap["outbox"][str(path.relative_to(outbox))] = json.loads(path.read_text(encoding="utf-8"))
        return json.loads(json.dumps(snap, ensure_ascii=False, default=str))
    finally:
        shutil.rmtree(place, ignore_errors=True)


def compare(before: dict, after: dict, where: str = "") -> list[str]:
    if type(before) is not type(after):
        return [f"{where}: {before!r:.120} != {after!r:.120}"]
    if isinstance(before, dict):
        out = []
        for key in sorted(set(before) | set(after)):
            if key not in after:
                out.append(f"{where}/{key}: only before")
            elif key not in before:
                out.append(f"{where}/{key}: only after")
            else:
                out += compare(before[key], after[key], f"{where}/{key}")
        return out
    if isinstance(before, list):
        if len(before) != len(after):
            return [f"{where}: {len(before)} entries != {len(after)}"]
        return [line for i, (a, b) in enumerate(zip(before, after)) for line in compare(a, b, f"{where}[{i}]")]
    return [] if before == after else [f"{where}: {before!r:.120} != {after!r:.120}"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs=2, type=Path)
    parser.add_argument("--today", type=dt.date.fromisoformat, default=dt.date(2026, 8, 20))
    parser.add_argument("--history", type=int, default=0, help="weeks of daily runs before --today")
    parser.add_argument("--compare", action="store_true")
    args = parser.parse_args()
    if args.compare:
        a, b = (json.loads(p.read_text(encoding="utf-8")) for p in args.paths)
        diff = compare(a, b)
        for line in diff[:50]:
            print(line)
        print(f"{len(diff)} differences" if diff else "identical")
        return 1 if diff else 0
    snap = take(args.paths[0], args.today, args.history)
    args.paths[1].write_text(json.dumps(snap, ensure_ascii=False, indent=0, sort_keys=True), encoding="utf-8")
    print(f"{args.paths[1]}: {len(snap['findings'])} findings, {len(snap['workbooks'])} workbooks, "
          f"{len(snap['outbox'])} outbox files")
    return 0


if __name__ == "__main__":
    sys.exit(main())
