"""Job state in .coordxl/state.db (SQLite): the run log, which later jobs extend.

A Store keeps one connection per process and thread, opened on first use: a WAL database is
checkpointed on every close (measured: a first daily run's 1,200 opens and closes cost it 1–2 s).
Every write is its own transaction, so a crash leaves the database consistent; every commit is
fully durable except the daily snapshots', which survive a crash but may lose their last commits
on a power cut (they are rewritten every run).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import logging
import os
import re
import socket
import sqlite3
import threading
import time
import unicodedata
from pathlib import Path

from ..errors import StateError, environment_fault
from ..platform_support import pid_alive

log = logging.getLogger(__name__)

def _reason(name: str) -> str:
    """SQL: the value of the token ``name=…`` in a ledger row's ``reasons`` ('' when absent)."""
    at = f"instr(reasons || ', ', ', {name}=')"
    rest = f"substr(reasons || ', ', {at} + {len(name) + 3})"
    return f"CASE WHEN {at} > 0 THEN substr({rest}, 1, instr({rest}, ', ') - 1) ELSE '' END"


# schema 11: what the meeting mails said (state/meetings.py), and the ones sent until now carried over
MEETING_MAILS = f"""
CREATE TABLE meeting_mails (
    key TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    uid TEXT NOT NULL,
    recipient TEXT NOT NULL,
    workbook TEXT NOT NULL DEFAULT '',
    meeting INTEGER NOT NULL DEFAULT 0,
    seq INTEGER NOT NULL DEFAULT 0,
    step TEXT NOT NULL DEFAULT '',
    start TEXT NOT NULL DEFAULT '',
    hash TEXT NOT NULL DEFAULT '',
    content TEXT NOT NULL DEFAULT ''
);
CREATE INDEX meeting_mails_uid ON meeting_mails (kind, uid);
INSERT OR IGNORE INTO meeting_mails (key, kind, uid, recipient, workbook, meeting, seq, step, start, hash, content)
    SELECT key, kind, {_reason("uid")}, lower(recipient), workbooks, CAST({_reason("m")} AS INTEGER),
           CAST({_reason("seq")} AS INTEGER), {_reason("step")}, {_reason("start")}, {_reason("hash")}, {_reason("c")}
    FROM mails WHERE kind IN ('invitation', 'minutes', 'followup') AND {_reason("uid")} != '';
INSERT OR IGNORE INTO meeting_mails (key, kind, uid, recipient, content)
    SELECT key, 'deadlines', '', lower(recipient), {_reason("cal")} FROM mails WHERE kind = 'digest' AND {_reason("cal")} != ''
"""


SCHEMA = [
    # version 1
    """
    CREATE TABLE runs (
        id INTEGER PRIMARY KEY,
        job TEXT NOT NULL,
        today TEXT NOT NULL,
        started_at TEXT NOT NULL,
        finished_at TEXT,
        outcome TEXT NOT NULL DEFAULT 'running',
        dry_run INTEGER NOT NULL DEFAULT 0,
        counts TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX runs_job ON runs (job, started_at);
    """,
    # version 2: every mail, what it was, to whom, why, and whether the server accepted it
    """
    CREATE TABLE mails (
        key TEXT PRIMARY KEY,
        day TEXT NOT NULL,
        kind TEXT NOT NULL,
        recipient TEXT NOT NULL,
        cc TEXT NOT NULL DEFAULT '',
        subject TEXT NOT NULL,
        reasons TEXT NOT NULL DEFAULT '',
        status TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 1,
        error TEXT NOT NULL DEFAULT '',
        transport TEXT NOT NULL DEFAULT '',
        updated_at TEXT NOT NULL
    );
    CREATE INDEX mails_day ON mails (day, status);
    """,
    # version 3: each daily run's per-task state, so weeks can be compared; which items a mail was about
    """
    CREATE TABLE snapshots (
        day TEXT NOT NULL,
        workbook TEXT NOT NULL,
        task_key TEXT NOT NULL,
        task_id TEXT NOT NULL,
        task TEXT NOT NULL,
        department TEXT NOT NULL,
        owner TEXT NOT NULL,
        due TEXT,
        done_on TEXT,
        status TEXT,
        state TEXT NOT NULL,
        days INTEGER NOT NULL,
        PRIMARY KEY (day, workbook, task_key)
    );
    ALTER TABLE mails ADD COLUMN workbooks TEXT NOT NULL DEFAULT '';
    ALTER TABLE mails ADD COLUMN escalated INTEGER NOT NULL DEFAULT 0;
    """,
    # version 4: a digest of each workbook's snapshot, so a rerun on the same day rewrites only what changed
    """
    CREATE TABLE snapshot_digests (
        day TEXT NOT NULL,
        workbook TEXT NOT NULL,
        digest TEXT NOT NULL,
        PRIMARY KEY (day, workbook)
    );
    """,
    # version 5: what the daily job wrote into each 预警 cell, so a person's text there is never overwritten
    """
    CREATE TABLE flags (
        workbook TEXT NOT NULL,
        sheet TEXT NOT NULL,
        cell TEXT NOT NULL,
        text TEXT NOT NULL,
        written_at TEXT NOT NULL,
        PRIMARY KEY (workbook, sheet, cell)
    );
    """,
    # version 6: delivery per recipient: who accepted a mail, who refused it for good
    """
    ALTER TABLE mails ADD COLUMN accepted TEXT NOT NULL DEFAULT '';
    ALTER TABLE mails ADD COLUMN rejected TEXT NOT NULL DEFAULT '';
    """,
    # version 7: who runs a job and who is sending a mail right now (a claim), so a killed run is told
    # from a live one and two processes can never both send one mail
    """
    ALTER TABLE runs ADD COLUMN pid INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE runs ADD COLUMN host TEXT NOT NULL DEFAULT '';
    ALTER TABLE mails ADD COLUMN claimed_by TEXT NOT NULL DEFAULT '';
    """,
    # version 8: each task's deadline as first recorded, kept when its old daily snapshots are thinned out
    """
    CREATE TABLE first_due (
        workbook TEXT NOT NULL,
        task_key TEXT NOT NULL,
        due TEXT NOT NULL,
        day TEXT NOT NULL,
        PRIMARY KEY (workbook, task_key)
    );
    """,
    # version 9: a workbook by its identity in the folder (workbook_id), however the folder is named or
    # mounted; the mails recorded until now carry keys made from local paths: marked, so the upgrade
    # day's run recognises them (Store.adopt) instead of sending them again
    """
    UPDATE OR REPLACE snapshots SET workbook = coordxl_workbook(workbook) WHERE workbook != coordxl_workbook(workbook);
    UPDATE OR REPLACE snapshot_digests SET workbook = coordxl_workbook(workbook)
        WHERE workbook != coordxl_workbook(workbook);
    UPDATE OR REPLACE flags SET workbook = coordxl_workbook(workbook) WHERE workbook != coordxl_workbook(workbook);
    UPDATE OR REPLACE first_due SET workbook = coordxl_workbook(workbook) WHERE workbook != coordxl_workbook(workbook);
    UPDATE mails SET workbooks = coordxl_workbooks(workbooks) WHERE workbooks != coordxl_workbooks(workbooks);
    ALTER TABLE mails ADD COLUMN legacy INTEGER NOT NULL DEFAULT 0;
    UPDATE mails SET legacy = 1;
    """,
    # version 10: update by reply: the token each digest carried (its person and the rows it showed),
    # the replies read (once each, by Message-ID), the changes they asked for, the mailbox checkpoint
    """
    CREATE TABLE reply_tokens (
        token TEXT PRIMARY KEY,
        person TEXT NOT NULL,
        email TEXT NOT NULL,
        message_id TEXT NOT NULL,
        tasks TEXT NOT NULL,
        issued TEXT NOT NULL,
        expires TEXT NOT NULL
    );
    CREATE TABLE reply_mails (
        message_id TEXT PRIMARY KEY,
        sender TEXT NOT NULL,
        token TEXT NOT NULL,
        outcome TEXT NOT NULL,
        received TEXT NOT NULL
    );
    CREATE TABLE reply_changes (
        id INTEGER PRIMARY KEY,
        message_id TEXT NOT NULL,
        code TEXT NOT NULL,
        verb TEXT NOT NULL,
        workbook TEXT NOT NULL,
        path TEXT NOT NULL,
        sheet TEXT NOT NULL,
        row INTEGER NOT NULL,
        shown TEXT NOT NULL,
        value TEXT NOT NULL,
        sender TEXT NOT NULL,
        status TEXT NOT NULL,
        detail TEXT NOT NULL DEFAULT '',
        updated TEXT NOT NULL
    );
    CREATE INDEX reply_changes_status ON reply_changes (status);
    CREATE TABLE reply_checkpoint (
        folder TEXT PRIMARY KEY,
        uid_validity INTEGER NOT NULL,
        last_uid INTEGER NOT NULL
    );
    """,
    # version 11: what the meeting mails said (uid, sequence, step, start, the minutes, the deadlines
    # published) in a table of its own, no longer packed into the ledger's reasons; rows carried over
    MEETING_MAILS,
]


def workbook_id(workbook: str) -> str:
    r"""A workbook's identity in the ledger: its path relative to the folder as the scan shows it ('/'
    separators on every system, non-UTF-8 bytes already \xNN escapes: a backslash is part of a name,
    never a separator), in Unicode NFC and case-folded (Windows and macOS file systems are
    case-insensitive, and a Mac may list a name decomposed). It holds nothing of where the folder is:
    a cron job's absolute path, `cd share && coordxl daily .`, a symlink to the folder or another
    host's mount point all give the same one, and a workbook that is a symlink is known by its name in
    the folder, not its target. What people read keeps the name as it is; keys and state.db rows use this.

    >>> workbook_id("进行中/Q3 推广.xlsx") == workbook_id("进行中/q3 推广.XLSX") == "进行中/q3 推广.xlsx"
    True
    >>> workbook_id("进行中/Cafe\u0301.xlsx") == workbook_id("进行中/Caf\u00e9.xlsx")
    True
    """
    name = unicodedata.normalize("NFC", workbook)
    return unicodedata.normalize("NFC", name.casefold())


def workbooks_id(workbooks) -> str:
    """Several workbooks as one ledger column: their identities, sorted, one a line."""
    if isinstance(workbooks, str):
        workbooks = workbooks.split("\n")
    return "\n".join(sorted({workbook_id(w) for w in workbooks if w}))


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


def _migrate(db: sqlite3.Connection, number: int, script: str) -> None:
    """Bring the schema to ``number`` in one transaction; steps already there (a run killed halfway by
    an older coordxl) are skipped, so this never fails on 'table already exists'."""
    db.execute("BEGIN IMMEDIATE")
    try:
        for statement in filter(None, (part.strip() for part in script.split(";"))):
            added = re.match(r"ALTER TABLE (\w+) ADD COLUMN (\w+)", statement)
            if added and added.group(2) in {r[1] for r in db.execute(f"PRAGMA table_info({added.group(1)})")}:
                continue
            db.execute(re.sub(r"^CREATE (TABLE|INDEX) ", r"CREATE \1 IF NOT EXISTS ", statement))
        db.execute(f"PRAGMA user_version = {number}")
        db.execute("COMMIT")
    except BaseException:
        _rollback(db)
        raise


def _rollback(db: sqlite3.Connection) -> None:
    """Undo the open transaction, if SQLite has not already (it does on a full disk): the error that
    stopped it is the one to report, never 'cannot rollback - no transaction is active'."""
    if db.in_transaction:
        with contextlib.suppress(sqlite3.Error):
            db.execute("ROLLBACK")


class Store:
    """The state database of one shared folder."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._db: sqlite3.Connection | None = None
        self._owner: tuple[int, int] | None = None  # (pid, thread) the connection belongs to
        self.moved_aside: Path | None = None  # a damaged state.db found and replaced by a fresh one
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._open()
        except StateError:
            raise
        except sqlite3.DatabaseError as exc:
            if "file is not a database" not in str(exc) and "malformed" not in str(exc):
                raise (environment_fault(exc, self.path)
                       or StateError(key="state.db_unopenable", path=self.path, error=exc)) from None
            self.close()
            self.moved_aside = self.path.with_name(f"{self.path.name}.damaged-{int(time.time())}")
            os.replace(self.path, self.moved_aside)
            for extra in ("-wal", "-shm"):
                with contextlib.suppress(FileNotFoundError):
                    os.remove(f"{self.path}{extra}")
            log.error("state.db was damaged (%s): moved to %s and started afresh; the record of mails sent "
                      "so far is in the old file", exc, self.moved_aside,
                      extra={"say": ("health.state_moved", {"path": self.moved_aside})})
            self._open()
        except (OSError, sqlite3.Error) as exc:
            raise (environment_fault(exc, self.path)
                   or StateError(key="state.folder_unwritable", path=self.path, error=exc, folder=self.path.parent)) from None

    def _open(self) -> None:
        """Bring the schema up to date and switch to WAL. Two runs opening a new state.db at the same
        instant can meet SQLite's deadlock guard ('database is locked' at once, without waiting):
        the later one tries again."""
        for attempt in range(6):
            try:
                return self._open_once()
            except sqlite3.OperationalError as exc:
                self.close()
                if "locked" not in str(exc) or attempt == 5:
                    raise
                time.sleep(0.1 * (attempt + 1))

    def _open_once(self) -> None:
        db = self.db()  # autocommit: each migration is its own explicit transaction
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version > len(SCHEMA):
            raise StateError(key="state.newer", path=self.path, version=version, known=len(SCHEMA))
        for number, script in enumerate(SCHEMA[version:], start=version + 1):
            _migrate(db, number, script)
        db.execute("PRAGMA journal_mode = WAL")  # readers (status) never block the running job

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30)
        db.row_factory = sqlite3.Row
        db.create_function("coordxl_workbook", 1, workbook_id, deterministic=True)  # for the migrations
        db.create_function("coordxl_workbooks", 1, workbooks_id, deterministic=True)
        return db

    def db(self) -> sqlite3.Connection:
        """This process's and thread's connection (autocommit; writes go through :meth:`_tx`). A forked
        child never uses its parent's: it opens its own."""
        me = (os.getpid(), threading.get_ident())
        if self._db is None or self._owner != me:
            self._db = self._connect()
            self._db.isolation_level = None
            self._owner = me
        return self._db

    @contextlib.contextmanager
    def _tx(self, durable: bool = True):
        """One writing transaction. It takes the write lock before it reads (BEGIN IMMEDIATE): the read
        and the write are one step for every process, and a deferred one that read first would fail at
        once, without waiting, when another process wrote in between. ``durable=False``: no fsync at
        the commit (WAL survives a crash; a power cut may lose the last commits) — for statistics
        rewritten every run."""
        db = self.db()
        if not durable:
            db.execute("PRAGMA synchronous = NORMAL")
        try:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
                db.execute("COMMIT")
            except BaseException:
                _rollback(db)
                raise
        finally:
            if not durable:
                db.execute("PRAGMA synchronous = FULL")

    def close(self) -> None:
        """Close this process's connection (a job's end; the next use opens a new one)."""
        if self._db is not None and self._owner == (os.getpid(), threading.get_ident()):
            self._db.close()
        self._db = self._owner = None

    def start_run(self, job: str, today: dt.date, now: dt.datetime, dry_run: bool = False) -> int:
        """Record a run starting. Called with the folder's job lock held (dry runs excepted), so any
        other run still marked running was killed: it is marked 'interrupted'."""
        with self._tx() as db:
            if not dry_run:
                self._interrupt(db, "dry_run = 0", (), now)
            cur = db.execute("INSERT INTO runs (job, today, started_at, dry_run, pid, host) VALUES (?, ?, ?, ?, ?, ?)",
                             (job, today.isoformat(), now.isoformat(timespec="seconds"), int(dry_run), os.getpid(),
                              socket.gethostname()))
            return cur.lastrowid

    def record_failed_run(self, job: str, today: dt.date, now: dt.datetime, counts: dict) -> None:
        """A run that failed before it could start (e.g. another run held the lock): one finished row."""
        stamp = now.isoformat(timespec="seconds")
        with self._tx() as db:
            db.execute("INSERT INTO runs (job, today, started_at, finished_at, outcome, counts, pid, host) "
                       "VALUES (?, ?, ?, ?, 'failed', ?, ?, ?)",
                       (job, today.isoformat(), stamp, stamp, json.dumps(counts, ensure_ascii=False), os.getpid(),
                        socket.gethostname()))

    def settle_running(self, lock_alive: bool, now: dt.datetime) -> int:
        """Runs still marked running although nobody holds the job lock (their process was killed) are
        marked 'interrupted'; returns how many. ``lock_alive``: a live process holds the job lock."""
        if lock_alive:
            return 0
        with self._tx() as db:
            return self._interrupt(db, "dry_run = 0", (), now)

    @staticmethod
    def _interrupt(db: sqlite3.Connection, where: str, args: tuple, now: dt.datetime) -> int:
        cur = db.execute(f"UPDATE runs SET outcome = 'interrupted', finished_at = ? WHERE outcome = 'running' AND {where}",
                         (now.isoformat(timespec="seconds"), *args))
        if cur.rowcount:
            log.warning("%d earlier run(s) were killed before they finished: marked interrupted", cur.rowcount,
                        extra={"say": ("state.interrupted", {"n": cur.rowcount})})
        return cur.rowcount

    def finish_run(self, run_id: int, outcome: str, counts: dict, now: dt.datetime) -> None:
        with self._tx() as db:
            db.execute("UPDATE runs SET finished_at = ?, outcome = ?, counts = ? WHERE id = ?",
                       (now.isoformat(timespec="seconds"), outcome, json.dumps(counts, ensure_ascii=False), run_id))

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

    def save_snapshot(self, day: dt.date, workbook: str, rows: list[tuple]) -> bool:
        """Replace one workbook's task states for ``day``: rows of (task_key, task_id, task, department,
        owner, due, done_on, status, state, days). False when they equal what is stored (nothing written)."""
        digest = hashlib.sha256(repr(rows).encode("utf-8")).hexdigest()
        key = (day.isoformat(), workbook_id(workbook))
        # statistics, rewritten every run: no fsync per workbook (the mail log keeps full durability)
        with self._tx(durable=False) as db:
            stored = db.execute("SELECT digest FROM snapshot_digests WHERE day = ? AND workbook = ?", key).fetchone()
            if stored is not None and stored[0] == digest:
                return False
            db.execute("DELETE FROM snapshots WHERE day = ? AND workbook = ?", key)
            db.executemany("INSERT OR REPLACE INTO snapshots VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                           [(*key, *row) for row in rows])
            db.execute("INSERT OR REPLACE INTO snapshot_digests VALUES (?, ?, ?)", (*key, digest))
        return True

    def snapshot(self, day: dt.date) -> dict[tuple[str, str], dict]:
        """The latest snapshot taken on or before ``day``, by (workbook, task_key): each workbook by its
        identity (workbook_id), as it is stored."""
        db = self.db()
        latest = db.execute("SELECT MAX(day) FROM snapshots WHERE day <= ?", (day.isoformat(),)).fetchone()[0]
        if latest is None:
            return {}
        cursor = db.execute("SELECT * FROM snapshots WHERE day = ?", (latest,))
        cursor.row_factory = None  # plain tuples: a snapshot holds every task of the folder
        columns = [c[0] for c in cursor.description]
        return {(r[1], r[2]): dict(zip(columns, r)) for r in cursor}  # (workbook, task_key)

    def snapshot_day(self, day: dt.date) -> str | None:
        """The day (ISO) of the latest snapshot taken on or before ``day``; None when there is none."""
        return self.db().execute("SELECT MAX(day) FROM snapshots WHERE day <= ?", (day.isoformat(),)).fetchone()[0]

    def task_states(self, day: str, workbook: str) -> dict[str, tuple[str, str | None]]:
        """One workbook's tasks in the snapshot of ``day`` (a day :meth:`snapshot_day` gave): task key ->
        (state, due). A range of the primary key: what the weekly compares each item with, item by item."""
        cursor = self.db().execute("SELECT task_key, state, due FROM snapshots WHERE day = ? AND workbook = ?",
                                   (day, workbook_id(workbook)))
        cursor.row_factory = None
        return {key: (state, due) for key, state, due in cursor}

    def compared(self, new: str, old: str) -> list[tuple[str, str, str, bool, bool]]:
        """(workbook, task key, department, newly overdue, deadline moved later) for each task of the
        snapshot of day ``new`` that became overdue or whose deadline moved later since the snapshot of
        day ``old``, in (workbook, task key) order: one join, no snapshot loaded."""
        cursor = self.db().execute(
            """SELECT workbook, task_key, department, newly, moved FROM (
                   SELECT n.workbook, n.task_key, n.department,
                          n.state = 'overdue' AND o.state != 'overdue' AS newly,
                          COALESCE(n.due, '') != '' AND COALESCE(o.due, '') != '' AND n.due > o.due AS moved
                   FROM snapshots n JOIN snapshots o
                     ON o.day = ? AND o.workbook = n.workbook AND o.task_key = n.task_key
                   WHERE n.day = ?)
               WHERE newly OR moved ORDER BY workbook, task_key""", (old, new))
        cursor.row_factory = None
        return [(w, k, d, bool(n), bool(m)) for w, k, d, n, m in cursor]

    def in_state(self, day: str, state: str) -> list[tuple[str, str, str]]:
        """(workbook, task key, department) of the tasks in ``state`` in the snapshot of ``day``, in
        (workbook, task key) order."""
        cursor = self.db().execute("SELECT workbook, task_key, department FROM snapshots WHERE day = ? AND state = ? "
                                   "ORDER BY workbook, task_key", (day, state))
        cursor.row_factory = None
        return cursor.fetchall()

    def planned(self, day: str, start: dt.date, end: dt.date) -> list[tuple[str, str, str, str]]:
        """(workbook, task key, department, due) of the tasks open (neither done nor cancelled) in the
        snapshot of ``day`` and due from ``start`` to ``end``, in (workbook, task key) order."""
        cursor = self.db().execute(
            "SELECT workbook, task_key, department, due FROM snapshots WHERE day = ? AND due BETWEEN ? AND ? "
            "AND state NOT IN ('done', 'cancelled') ORDER BY workbook, task_key",
            (day, start.isoformat(), end.isoformat()))
        cursor.row_factory = None
        return cursor.fetchall()

    def changes(self, today: dt.date) -> list[tuple[str, str, str, str]]:
        """(workbook, newly_done | newly_overdue | moved, task id, task) for each task whose state or
        deadline changed between the latest snapshot on or before ``today`` and the latest one before
        it, in (workbook, task key) order: one join in the database, no snapshot loaded into memory."""
        db = self.db()
        latest = db.execute("SELECT MAX(day) FROM snapshots WHERE day <= ?", (today.isoformat(),)).fetchone()[0]
        earlier = db.execute("SELECT MAX(day) FROM snapshots WHERE day <= ?",
                             ((today - dt.timedelta(days=1)).isoformat(),)).fetchone()[0]
        if latest is None or earlier is None:
            return []
        cursor = db.execute(
            """SELECT workbook, found, task_id, task FROM (
                   SELECT n.workbook, n.task_key, n.task_id, n.task,
                          CASE WHEN n.state = 'done' AND o.state IS NOT 'done' THEN 'newly_done'
                               WHEN n.state = 'overdue' AND o.state IS NOT 'overdue' THEN 'newly_overdue'
                               WHEN n.due != '' AND o.due != '' AND n.due > o.due THEN 'moved' END AS found
                   FROM snapshots n JOIN snapshots o
                     ON o.day = ? AND o.workbook = n.workbook AND o.task_key = n.task_key
                   WHERE n.day = ?)
               WHERE found IS NOT NULL ORDER BY workbook, task_key""", (earlier, latest))
        cursor.row_factory = None
        return cursor.fetchall()

    def paused_since(self, workbook: str, task_key: str) -> tuple[dt.date | None, bool]:
        """The first snapshot day of a task's current pause, and whether an earlier snapshot shows it not
        paused (then that day is exact; else it was paused already when the snapshots began)."""
        workbook = workbook_id(workbook)
        db = self.db()
        before = db.execute("SELECT MAX(day) FROM snapshots WHERE workbook = ? AND task_key = ? AND state != 'paused'",
                            (workbook, task_key)).fetchone()[0]
        first = db.execute("SELECT MIN(day) FROM snapshots WHERE workbook = ? AND task_key = ? AND state = 'paused' "
                           "AND day > ?", (workbook, task_key, before or "")).fetchone()[0]
        return (dt.date.fromisoformat(first) if first else None), before is not None

    def done_and_total(self, day: dt.date) -> dict[str, list[int]]:
        """Per workbook (by its identity), [done, all but cancelled] in the latest snapshot taken on or before ``day``
        (counted by SQLite: a burn-up needs eight of them)."""
        db = self.db()
        latest = db.execute("SELECT MAX(day) FROM snapshots WHERE day <= ?", (day.isoformat(),)).fetchone()[0]
        if latest is None:
            return {}
        rows = db.execute("SELECT workbook, SUM(state = 'done'), SUM(state != 'cancelled') FROM snapshots "
                          "WHERE day = ? GROUP BY workbook", (latest,)).fetchall()
        return {workbook: [done, total] for workbook, done, total in rows}

    def overdue_in_week(self, monday: dt.date, sunday: dt.date) -> int | None:
        """Overdue tasks in the week's last snapshot, or None when no snapshot was taken that week."""
        db = self.db()
        day = db.execute("SELECT MAX(day) FROM snapshots WHERE day BETWEEN ? AND ?",
                         (monday.isoformat(), sunday.isoformat())).fetchone()[0]
        if day is None:
            return None
        return db.execute("SELECT COUNT(*) FROM snapshots WHERE day = ? AND state = 'overdue'",
                          (day,)).fetchone()[0]

    def first_due_dates(self, workbook: str) -> dict[str, dt.date]:
        """Each task's due date as first recorded, by task key."""
        workbook = workbook_id(workbook)
        db = self.db()
        rows = db.execute("SELECT task_key, due FROM (SELECT task_key, due, day FROM snapshots WHERE workbook = ? "
                          "AND due IS NOT NULL UNION ALL SELECT task_key, due, day FROM first_due WHERE workbook = ?) "
                          "ORDER BY day DESC", (workbook, workbook)).fetchall()
        return {key: dt.date.fromisoformat(due) for key, due in rows}  # the earliest day is written last

    def prune_snapshots(self, today: dt.date, daily_weeks: int, keep_weeks: int) -> int:
        """Keep state.db bounded: daily snapshots for ``daily_weeks``, then the last one of each week, and
        none older than ``keep_weeks``; each task's first deadline is kept aside for plan-vs-actual.
        Returns the rows deleted."""
        thin_before = (today - dt.timedelta(weeks=daily_weeks)).isoformat()
        drop_before = (today - dt.timedelta(weeks=keep_weeks)).isoformat()
        db = self.db()
        days = [r[0] for r in db.execute("SELECT DISTINCT day FROM snapshots WHERE day < ?", (thin_before,))]
        last_of_week: dict[tuple, str] = {}
        for day in days:  # ascending: the primary key starts with the day
            last_of_week[dt.date.fromisoformat(day).isocalendar()[:2]] = day
        gone = [d for d in days if d < drop_before or last_of_week[dt.date.fromisoformat(d).isocalendar()[:2]] != d]
        if not gone:
            return 0
        marks = ", ".join("?" * len(gone))
        with self._tx(durable=False) as db:
            db.execute(f"INSERT INTO first_due (workbook, task_key, due, day) SELECT workbook, task_key, due, MIN(day) "
                       f"FROM snapshots WHERE day IN ({marks}) AND due IS NOT NULL GROUP BY workbook, task_key "
                       f"ON CONFLICT (workbook, task_key) DO UPDATE SET due = excluded.due, day = excluded.day "
                       f"WHERE excluded.day < first_due.day", gone)
            deleted = db.execute(f"DELETE FROM snapshots WHERE day IN ({marks})", gone).rowcount
            db.execute(f"DELETE FROM snapshot_digests WHERE day IN ({marks})", gone)
        return deleted

    def runs(self, job: str | None = None) -> list[dict]:
        db = self.db()
        rows = db.execute("SELECT * FROM runs" + (" WHERE job = ?" if job else "") + " ORDER BY id",
                          (job,) if job else ()).fetchall()
        return [dict(r, counts=json.loads(r["counts"])) for r in rows]
