"""What coordxl sent of an item's meetings, read back for the rules: when the minutes went out.

The meeting mails (coordxl/send/meeting.py) are recorded in the mail ledger like every mail; this
module reads, without writing and without creating state.db, when coordxl first sent each meeting's
minutes, so R-MINUTES-24H takes that time and a blank 纪要发出时间 is no mistake of the recorder.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import sqlite3
from pathlib import Path

SENT = ("sent", "partial")  # a server took the mail (for at least one recipient)


def _when(day: str, updated_at: str) -> dt.datetime:
    """The time a mail went out: the ledger's clock time on the run's day (a job run for another day
    with --today keeps that day)."""
    at = dt.datetime.fromisoformat(updated_at)
    return at if at.date().isoformat() == day else dt.datetime.combine(dt.date.fromisoformat(day), at.time())


def minutes_mailed(db: Path) -> dict[tuple[str, int], dt.datetime]:
    """(workbook id, meeting number) → when coordxl first sent that meeting's minutes; {} without a ledger."""
    if not Path(db).is_file():
        return {}
    out: dict[tuple[str, int], dt.datetime] = {}
    try:
        with contextlib.closing(sqlite3.connect(f"{Path(db).resolve().as_uri()}?mode=ro", uri=True)) as conn:
            rows = conn.execute("SELECT day, updated_at, workbooks, reasons FROM mails WHERE kind = 'minutes' "
                                f"AND status IN {SENT}").fetchall()
    except sqlite3.Error:  # no ledger yet, or one being made: nothing known
        return {}
    for day, updated_at, workbooks, reasons in rows:
        tokens = dict(t.split("=", 1) for t in reasons.split(", ") if "=" in t)
        if "m" not in tokens or not workbooks:
            continue
        key = (workbooks.split("\n")[0], int(tokens["m"]))
        when = _when(day, updated_at)
        if key not in out or when < out[key]:
            out[key] = when
    return out
