"""What coordxl sent of the items' meetings: the table ``meeting_mails`` in state.db.

One row per meeting mail (an invitation, its update or cancel, the minutes, a weekly follow-up, a
digest's deadlines in the calendar), keyed by the mail's key in the ledger (``mails``): the calendar
UID, the sequence, the step, the start, the minutes' content and hash, the deadlines published. A row
is written as its mail is sent (send/meeting.py); it counts once the ledger says the mail went out (or
may have), so the next run knows the sequence to send, the minutes a reader has, the deadlines in a
calendar. The rules read back when the minutes went out (R-MINUTES-24H).

Until schema 11 these values rode in the ledger's ``reasons`` column ("uid=…, seq=…"); schema 11
(state/db.py) carries those rows over.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import sqlite3
from pathlib import Path

from .store import Store

# a mail counts as sent to its reader while the ledger has it as sent, partly sent, unknown or in flight
# (never twice: what may have gone out is not sent again)
COUNTED = ("sent", "partial", "unknown", "sending")
INVITATION, MINUTES, FOLLOWUP, DEADLINES = "invitation", "minutes", "followup", "deadlines"


def record(store: Store, key: str, kind: str, uid: str, recipient: str, workbook: str = "", meeting: int = 0,
           seq: int = 0, step: str = "", start: str = "", hash_: str = "", content: str = "") -> None:
    """What one meeting mail says, as it is sent (the ledger's claim on ``key`` is already made)."""
    with store._tx() as db:
        db.execute("INSERT OR REPLACE INTO meeting_mails VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                   (key, kind, uid, recipient.lower(), workbook, meeting, seq, step, start, hash_, content))


def history(store: Store | None, kind: str) -> dict[tuple[str, str], list[dict]]:
    """(uid, recipient address) → what each mail of this kind said that went out, oldest first (by sequence:
    a late retry of an older version stays before the newer one)."""
    out: dict[tuple[str, str], list[dict]] = {}
    if store is None:
        return out
    rows = store.db().execute("SELECT m.uid, m.recipient, m.meeting, m.seq, m.step, m.start, m.hash, m.content "
                      "FROM meeting_mails m JOIN mails l ON l.key = m.key "
                      f"WHERE m.kind = ? AND l.status IN {COUNTED} ORDER BY l.updated_at", (kind,)).fetchall()
    for uid, recipient, meeting, seq, step, start, hash_, content in rows:
        out.setdefault((uid, recipient), []).append(
            {"uid": uid, "m": meeting, "seq": seq, "step": step, "start": start, "hash": hash_, "c": content})
    for sent in out.values():
        sent.sort(key=lambda said: said["seq"])
    return out


def published(store: Store | None) -> dict[str, str]:
    """Recipient address → the latest deadlines state their digests put in their calendar (packed)."""
    if store is None:
        return {}
    rows = store.db().execute("SELECT m.recipient, m.content FROM meeting_mails m JOIN mails l ON l.key = m.key "
                      f"WHERE m.kind = 'deadlines' AND l.status IN {COUNTED} ORDER BY l.updated_at").fetchall()
    return {recipient: content for recipient, content in rows}


def minutes_resent(store: Store, uid: str, after: str) -> bool:
    """Whether the minutes ``uid`` went out again (edited) on a day after ``after`` (ISO date)."""
    return store.db().execute("SELECT 1 FROM meeting_mails m JOIN mails l ON l.key = m.key WHERE m.kind = 'minutes' "
                      "AND m.uid = ? AND l.day > ? AND l.status = 'sent' LIMIT 1", (uid, after)).fetchone() is not None


def _when(day: str, updated_at: str) -> dt.datetime:
    """The time a mail went out: the ledger's clock time on the run's day (a job run for another day
    with --today keeps that day)."""
    at = dt.datetime.fromisoformat(updated_at)
    return at if at.date().isoformat() == day else dt.datetime.combine(dt.date.fromisoformat(day), at.time())


def minutes_mailed(path: Path) -> dict[tuple[str, int], dt.datetime]:
    """(workbook id, meeting number) → when coordxl first sent that meeting's minutes; {} without a
    ledger. Read-only: a `check` never creates or upgrades state.db."""
    if not Path(path).is_file():
        return {}
    try:
        with contextlib.closing(sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True)) as db:
            rows = db.execute("SELECT m.workbook, m.meeting, l.day, l.updated_at FROM meeting_mails m "
                              "JOIN mails l ON l.key = m.key WHERE m.kind = 'minutes' AND m.meeting > 0 "
                              "AND l.status IN ('sent', 'partial')").fetchall()
    except sqlite3.Error:  # no ledger yet, or one older than schema 11: nothing known
        return {}
    out: dict[tuple[str, int], dt.datetime] = {}
    for workbook, meeting, day, updated_at in rows:
        when = _when(day, updated_at)
        if (workbook, meeting) not in out or when < out[(workbook, meeting)]:
            out[(workbook, meeting)] = when
    return out
