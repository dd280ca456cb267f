"""What each task needs today: overdue, due today or soon, stale, blocked, done, cancelled.

Pure functions of normalized rows, today and the working-day calendar. The
flag text is what the daily job writes into the 预警 column.

>>> from coordxl.calendar import WorkCalendar
>>> from coordxl.settings import Settings
>>> row = Row("执行进度", 3, {"status": "in_progress", "due": dt.date(2026, 8, 14)}, {})
>>> assess_task(row, dt.date(2026, 8, 20), WorkCalendar(), Settings.defaults()).flag("zh")
'逾期4个工作日'
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from .calendar import WorkCalendar
from .messages import text
from .model import Item, Row
from .settings import Settings

OVERDUE = "overdue"
DUE_TODAY = "due_today"
DUE_SOON = "due_soon"
STALE = "stale"
BLOCKED = "blocked"
DONE = "done"
CANCELLED = "cancelled"
OK = "ok"

STATES = (OVERDUE, DUE_TODAY, DUE_SOON, STALE, BLOCKED, DONE, CANCELLED, OK)
URGENCY = {OVERDUE: 0, DUE_TODAY: 1, DUE_SOON: 2, BLOCKED: 3, STALE: 4, OK: 5, DONE: 6, CANCELLED: 7}


@dataclass(frozen=True)
class TaskState:
    state: str
    days: int = 0  # working days overdue, until due, or since the last update

    def flag(self, lang: str = "zh") -> str:
        """The 预警 text: '逾期5个工作日', '2个工作日后到期', '今日到期', '7个工作日未更新', '受阻', or ''."""
        if self.state in (OK, DONE, CANCELLED):
            return ""
        return text(f"flag.{self.state}", lang, days=self.days)


def assess_task(row: Row, today: dt.date, calendar: WorkCalendar, settings: Settings) -> TaskState:
    values = row.values  # hot path: every task of every workbook, every run
    status = values.get("status")
    if status == "done":
        return TaskState(DONE)
    if status == "cancelled":
        return TaskState(CANCELLED)
    due = values.get("due")
    if isinstance(due, dt.date):
        if due < today:
            # due on a Saturday and checked on Monday is one working day late, never zero
            return TaskState(OVERDUE, max(1, calendar.count(due, today)))
        if due == today:
            return TaskState(DUE_TODAY)
        ahead = calendar.count(today, due)
        if ahead <= settings["rules.due_soon_workdays"]:
            return TaskState(DUE_SOON, ahead)
    if status == "blocked":
        return TaskState(BLOCKED)
    updated = values.get("updated_on")
    if status == "in_progress" and isinstance(updated, dt.date) and updated < today:
        idle = calendar.count(updated, today)
        if idle >= settings["rules.stale_workdays"]:
            return TaskState(STALE, idle)
    return TaskState(OK)


@dataclass(frozen=True)
class Pending:
    """A resource request waiting for its review or approval."""

    row: Row
    step: str  # "review" or "approval"
    waiting: str  # who it waits for
    days: int


def pending_resources(item: Item, today: dt.date, calendar: WorkCalendar, settings: Settings) -> list[Pending]:
    """Resource requests whose review or approval has waited longer than the setting allows."""
    limit = settings["rules.resource_pending_workdays"]
    out = []
    for row in item.resources:
        review, approval = row.get("review"), row.get("approval")
        if review in (None, "pending") and approval not in ("approved", "rejected"):
            since = row.get("requested_on")
            step, who = "review", row.get("reviewer")
        elif review == "passed" and approval in (None, "pending"):
            since = row.get("reviewed_on") or row.get("requested_on")
            step, who = "approval", row.get("approver")
        else:
            continue
        if isinstance(since, dt.date):
            days = calendar.count(since, today)
            if days > limit:
                out.append(Pending(row, step, who or "", days))
    return out


def assess_item(item: Item, today: dt.date, calendar: WorkCalendar, settings: Settings) -> list[tuple[Row, TaskState]]:
    """Every task of the item's own tracker with its state (a ledger's rows are assessed with the ledger)."""
    return [(row, assess_task(row, today, calendar, settings)) for row in item.own]
