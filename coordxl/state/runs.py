"""The run log in state.db: each job's run, how it ended, and the runs a killed process left running."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import socket
import sqlite3

from .db import Database

log = logging.getLogger(__name__)


class Runs(Database):
    """Each job's runs: started, finished, failed before starting, or interrupted."""

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

    def runs(self, job: str | None = None) -> list[dict]:
        db = self.db()
        rows = db.execute("SELECT * FROM runs" + (" WHERE job = ?" if job else "") + " ORDER BY id",
                          (job,) if job else ()).fetchall()
        return [dict(r, counts=json.loads(r["counts"])) for r in rows]
