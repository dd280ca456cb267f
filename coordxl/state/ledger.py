"""The delivery ledger in state.db: every mail and post, claimed, sent or refused, per recipient; and the
texts coordxl wrote into 预警 cells, so a person's own text there is never overwritten."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import socket

from ..platform_support import pid_alive
from .db import Database, workbook_id, workbooks_id

log = logging.getLogger(__name__)

# mail states: sending (claimed by a live process) → sent | partial | failed | refused | unknown.
# 'unknown': the message went to the server but no answer came back (a timeout after DATA, or the
# sender was killed): the server may have delivered it, so it is never resent without `--resend`.
FINAL = frozenset({"sent", "unknown", "refused"})

# which of an older coordxl's rows for one parcel counts (Store.adopt): the one that reached its reader
_ADOPT_ORDER = {"sent": 0, "unknown": 1, "partial": 2, "refused": 3, "failed": 4, "sending": 5}


def _claim_alive(claimed_by: str, stale_after: dt.timedelta) -> bool:
    """Is the process that claimed a mail still sending it? On this host its PID says; from another
    host only the claim's age can."""
    try:
        claim = json.loads(claimed_by)
    except ValueError:
        return False
    if claim.get("host") == socket.gethostname():
        return pid_alive(int(claim.get("pid", 0)))
    age = dt.datetime.now() - dt.datetime.fromisoformat(claim.get("at", "2000-01-01T00:00:00"))
    return age < stale_after


def _delivered(row) -> set[str]:
    if row["status"] in FINAL and row["status"] != "refused":
        return {"*"}
    return {a for a in (row["accepted"] + "\n" + row["rejected"]).split("\n") if a}


def _mail_columns(mail, day: dt.date) -> tuple:
    return (mail.key, day.isoformat(), mail.kind, mail.to.email, ", ".join(p.email for p in mail.cc), mail.subject,
            ", ".join(mail.reasons))


class Ledger(Database):
    """What was sent to whom, mails and posts alike: claimed, sent, refused, unknown, per recipient."""

    def delivered_to_many(self, keys: list[str]) -> dict[str, set[str]]:
        """``delivered_to`` for many mails in one query (a run with thousands of digests)."""
        out: dict[str, set[str]] = {}
        db = self.db()
        for start in range(0, len(keys), 500):
            chunk = keys[start:start + 500]
            rows = db.execute(f"SELECT key, status, accepted, rejected FROM mails WHERE key IN "
                              f"({','.join('?' * len(chunk))})", chunk).fetchall()
            for row in rows:
                out[row["key"]] = _delivered(row)
        return out

    def delivered_to(self, key: str) -> set[str]:
        """Addresses a mail needs no more attempts for: the server accepted it for them, or refused them
        for good (5xx). A mail recorded as wholly sent counts for all its recipients (returns {'*'})."""
        db = self.db()
        row = db.execute("SELECT status, accepted, rejected FROM mails WHERE key = ?", (key,)).fetchone()
        return _delivered(row) if row else set()

    def adopt(self, parcels: list, day: dt.date) -> int:
        """The upgrade day: mails and posts an older coordxl recorded under keys made from local paths
        (schema 9 marks them 'legacy') count for the same parcels now, so nothing goes twice.

        The same parcel is the same recipient, kind, day and workbooks (a weekly post: the same ISO week,
        its ``day`` being the Monday): an older row found for it is moved to the parcel's key (sent first,
        then unknown, partial, refused, failed), which then reads as any row of this coordxl does (sent:
        skipped; failed: retried; unknown: `--resend`). A parcel whose text changed since the older run
        is not sent again before tomorrow: repeating a day's reminders is what this must never do.
        Returns how many rows were adopted."""
        since = min([day] + [p.day for p in parcels if isinstance(getattr(p, "day", None), dt.date)])
        span = (since.isoformat(), day.isoformat())
        db = self.db()
        if db.execute("SELECT 1 FROM mails WHERE day BETWEEN ? AND ? AND legacy = 1 LIMIT 1", span).fetchone() is None:
            return 0  # every day but the upgrade day: one indexed look
        adopted = 0
        with self._tx() as db:
            older: dict[tuple, list] = {}
            for row in db.execute("SELECT key, day, recipient, kind, workbooks, status FROM mails "
                                  "WHERE day BETWEEN ? AND ? AND legacy = 1", span):
                older.setdefault((row["recipient"].lower(), row["kind"], row["workbooks"]), []).append(row)
            for parcel in parcels:
                since = getattr(parcel, "day", day).isoformat()
                found = [r for r in older.get((parcel.to.email.lower(), parcel.kind,
                                               workbooks_id(getattr(parcel, "workbooks", ()))), []) if r["day"] >= since]
                if not found or db.execute("SELECT 1 FROM mails WHERE key = ?", (parcel.key,)).fetchone():
                    continue
                best = min(found, key=lambda r: _ADOPT_ORDER.get(r["status"], len(_ADOPT_ORDER)))
                older[(parcel.to.email.lower(), parcel.kind, best["workbooks"])].remove(best)
                db.execute("UPDATE mails SET key = ?, legacy = 0 WHERE key = ?", (parcel.key, best["key"]))
                adopted += 1
        if adopted:
            log.info("%d mail(s) and post(s) an older coordxl recorded are known under their new keys", adopted)
        return adopted

    def claim(self, mail, day: dt.date, now: dt.datetime, resend: bool = False,
              stale_after: dt.timedelta = dt.timedelta(hours=2)) -> str:
        """Claim a mail for sending, in one transaction, before it goes to the server.

        'claimed': go ahead. 'busy': another live process is sending it right now. 'done': it needs
        no more sending (sent, or unknown). 'unknown': a claim was found whose process died before
        recording the outcome, so the server may have it; it is marked unknown and not sent.
        ``resend``: the administrator asked to send again, whatever the ledger says.
        """
        me = json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "at": now.isoformat(timespec="seconds")})
        with self._tx() as db:  # the read and the claim are one step for every process
            row = db.execute("SELECT status, claimed_by FROM mails WHERE key = ?", (mail.key,)).fetchone()
            verdict = "claimed"
            if row and row["status"] == "sending":
                if _claim_alive(row["claimed_by"], stale_after):
                    verdict = "busy"
                elif not resend:
                    db.execute("UPDATE mails SET status = 'unknown', claimed_by = '', updated_at = ?, error = ? "
                               "WHERE key = ?", (now.isoformat(timespec="seconds"),
                                                 "the run sending it was killed before the server answered",
                                                 mail.key))
                    verdict = "unknown"
            elif row and row["status"] in ("sent", "unknown") and not resend:
                verdict = "done"
            if verdict == "claimed":
                keep = row is not None and row["status"] == "sent"  # once sent stays sent, even on --resend
                db.execute(
                    """INSERT INTO mails (key, day, kind, recipient, cc, subject, reasons, status, transport,
                                          updated_at, workbooks, escalated, claimed_by, attempts)
                       VALUES (?, ?, ?, ?, ?, ?, ?, 'sending', '', ?, ?, ?, ?, 0)
                       ON CONFLICT(key) DO UPDATE SET status = ?, claimed_by = excluded.claimed_by,
                                                      updated_at = excluded.updated_at""",
                    (*_mail_columns(mail, day), now.isoformat(timespec="seconds"),
                     workbooks_id(getattr(mail, "workbooks", ())), int(bool(mail.cc)), me,
                     "sent" if keep else "sending"))
        return verdict

    def record_mail(self, mail, day: dt.date, now: dt.datetime, status: str, transport: str,
                    error: str = "", refused: dict | None = None, accepted: set[str] = frozenset(),
                    rejected: set[str] = frozenset()) -> None:
        """Record a mail's outcome; a mail once sent stays sent (a later failed resend does not undo it).

        ``accepted`` / ``rejected``: the recipients the server took, or refused for good, this time;
        they add to what earlier attempts recorded. 'partial': some recipients are still to be retried.
        """
        if refused:
            error = "refused: " + ", ".join(f"{a} {c}" for a, (c, _) in refused.items())
        with self._tx() as db:
            row = db.execute("SELECT accepted, rejected FROM mails WHERE key = ?", (mail.key,)).fetchone()
            before_ok = set(filter(None, row["accepted"].split("\n"))) if row else set()
            before_no = set(filter(None, row["rejected"].split("\n"))) if row else set()
            db.execute(
                """INSERT INTO mails (key, day, kind, recipient, cc, subject, reasons, status, error, transport,
                                      updated_at, workbooks, escalated, accepted, rejected)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                   ON CONFLICT(key) DO UPDATE SET
                     status = CASE WHEN mails.status = 'sent' THEN 'sent' ELSE excluded.status END,
                     attempts = mails.attempts + 1, error = excluded.error, updated_at = excluded.updated_at,
                     accepted = excluded.accepted, rejected = excluded.rejected, claimed_by = '',
                     transport = excluded.transport""",
                (mail.key, day.isoformat(), mail.kind, mail.to.email, ", ".join(p.email for p in mail.cc),
                 mail.subject, ", ".join(mail.reasons), status, error, transport, now.isoformat(timespec="seconds"),
                 workbooks_id(getattr(mail, "workbooks", ())), int(bool(mail.cc)),
                 "\n".join(sorted(before_ok | set(accepted))), "\n".join(sorted(before_no | set(rejected)))))

    def statuses(self, keys: list[str]) -> dict[str, str]:
        """The ledger's status of each of these keys that it holds."""
        db = self.db()
        out: dict[str, str] = {}
        for start in range(0, len(keys), 500):
            chunk = keys[start:start + 500]
            out.update(db.execute(f"SELECT key, status FROM mails WHERE key IN ({', '.join('?' * len(chunk))})",
                                  chunk).fetchall())
        return out

    def unknown_mails(self) -> list[dict]:
        """Mails whose delivery is unknown (the server never answered after the message): for the admin."""
        db = self.db()
        rows = db.execute("SELECT * FROM mails WHERE status = 'unknown' ORDER BY updated_at, key").fetchall()
        return [dict(r) for r in rows]

    def mails(self, day: dt.date | None = None) -> list[dict]:
        db = self.db()
        rows = db.execute("SELECT * FROM mails" + (" WHERE day = ?" if day else "") + " ORDER BY updated_at, key",
                          (day.isoformat(),) if day else ()).fetchall()
        return [dict(r) for r in rows]


class Flags(Database):
    """What coordxl last wrote into each 预警 cell, so a person's own text there is never overwritten."""

    def written_flags(self, workbook: str, sheet: str) -> dict[str, str]:
        """Cell → the text the job last wrote there, for one tracker sheet."""
        workbook = workbook_id(workbook)
        db = self.db()
        rows = db.execute("SELECT cell, text FROM flags WHERE workbook = ? AND sheet = ?",
                          (workbook, sheet)).fetchall()
        return {r["cell"]: r["text"] for r in rows}

    def record_flags(self, workbook: str, sheet: str, cells: dict[str, str], now: dt.datetime) -> None:
        """Remember what was written into these cells ('' for a cleared cell)."""
        self.record_flag_batch([(workbook, sheet, cells)], now, durable=True)

    def record_flag_batch(self, batch: list[tuple[str, str, dict[str, str]]], now: dt.datetime,
                          durable: bool = False) -> None:
        """Remember what was written into the cells of several workbooks, (workbook, sheet, cell → text)
        each, in one transaction. Not durable by default: the run's last commit (finish_run) makes it
        so. A kill keeps it (the WAL is written); a power cut before the run's end may lose it, and then
        the next run knows the cells anyway, as coordxl's own flag texts (people_text)."""
        stamp = now.isoformat(timespec="seconds")
        rows = [(workbook_id(workbook), sheet, cell, value, stamp)
                for workbook, sheet, cells in batch for cell, value in cells.items()]
        if not rows:
            return
        with self._tx(durable=durable) as db:
            db.executemany("INSERT OR REPLACE INTO flags (workbook, sheet, cell, text, written_at) VALUES (?, ?, ?, ?, ?)",
                           rows)
