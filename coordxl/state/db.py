"""state.db, the state database of one shared folder: its connection, its schema and the migrations.

A Store keeps one connection per process and thread, opened on first use: a WAL database is
checkpointed on every close (measured: a first daily run's 1,200 opens and closes cost it 1–2 s).
Every write is its own transaction, so a crash leaves the database consistent; every commit is
fully durable except the daily snapshots', which survive a crash but may lose their last commits
on a power cut (they are rewritten every run).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sqlite3
import threading
import time
import unicodedata
from pathlib import Path

from ..errors import StateError, environment_fault

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
    # version 12: update by reply: what each mail's answer is to say, kept until the answer went out (a run
    # killed between reading a mail and answering it leaves the answer owed: the next run sends it)
    """
    ALTER TABLE reply_mails ADD COLUMN answer TEXT NOT NULL DEFAULT '';
    """,
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


class Database:
    """The connection to one state.db, opened per process and thread, its schema brought up to date."""

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
