"""The daily snapshots in state.db: each task's state per day, so weeks can be compared, thinned out as
they age; each task's first deadline kept aside for plan-vs-actual."""

from __future__ import annotations

import datetime as dt
import hashlib

from .db import Database, workbook_id


class Snapshots(Database):
    """Each daily run's per-task states, and the comparisons the weekly and the posts make of them."""

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
