"""What each task needs today: overdue, due today or soon, stale, blocked, paused, to fix, done, cancelled.

Pure functions of normalized rows, today and the working-day calendar. The
flag text is what the daily job writes into the 预警 column.

>>> from coordxl.process.calendar import WorkCalendar
>>> from coordxl.settings import Settings
>>> row = Row("执行进度", 3, {"status": "in_progress", "due": dt.date(2026, 8, 14)}, {})
>>> assess_task(row, dt.date(2026, 8, 20), WorkCalendar(), Settings.defaults()).flag("zh")
'逾期4个工作日'
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from dataclasses import dataclass

from .. import schema
from ..messages import MESSAGES, text
from ..settings import Settings
from .calendar import WorkCalendar
from .model import Item, Row, Rows

OVERDUE = "overdue"
DUE_TODAY = "due_today"
DUE_SOON = "due_soon"
STALE = "stale"
BLOCKED = "blocked"
PAUSED = "paused"  # 暂停/搁置: stopped on purpose, never reminded, escalated or overdue
DONE = "done"
CANCELLED = "cancelled"
INVALID = "invalid"  # its owner, dates or status are an error: never assessed as overdue
OK = "ok"

URGENCY = {OVERDUE: 0, DUE_TODAY: 1, DUE_SOON: 2, BLOCKED: 3, STALE: 4, INVALID: 5, PAUSED: 6, OK: 7, DONE: 8,
           CANCELLED: 9}

# the fields a task's state is computed from: an error in one of them makes the state unknowable
STATE_FIELDS = ("owner", "start", "due", "status")  # in the template's column order


@dataclass(frozen=True)
class TaskState:
    state: str
    days: int = 0  # working days overdue, until due, or since the last update
    fields: tuple[str, ...] = ()  # INVALID: the fields to fix
    holiday: dt.date | None = None  # DUE_TODAY / DUE_SOON: the real deadline, a non-working day
    date: dt.date | None = None  # OVERDUE / DUE_TODAY / DUE_SOON: the deadline; STALE: the last update
    escalated: bool = False  # OVERDUE long enough to be escalated (reminders.escalate_manager_workdays)

    def flag(self, lang: str = "zh") -> str:
        """The state with its count, as mails and posts say it: '逾期5个工作日', '2个工作日后到期',
        '今日到期', '7个工作日未更新', '受阻', '暂停', '待修正：截止日期', or ''."""
        if self.state in (OK, DONE, CANCELLED):
            return ""
        if self.state == INVALID:
            return text("flag.invalid", lang, fields=field_labels(self.fields, lang))
        if self.holiday is not None and self.state in (DUE_TODAY, DUE_SOON):
            return text(f"flag.{self.state}_holiday", lang, days=self.days, date=self.holiday.strftime("%m-%d"))
        return text(f"flag.{self.state}", lang, days=self.days)

    def mark(self, lang: str, settings: Settings) -> str:
        """The 预警 text the daily job writes: the state, its tier and its date, no day counter, so the
        cell changes only when its meaning does ('逾期（截止12-24）', '逾期·已升级（截止12-24）',
        '2个工作日内到期（截止12-26）', '5个工作日以上未更新（最近12-18）'; '今日到期', '受阻', '暂停',
        '待修正：…' as :meth:`flag`). ``flags.count_days`` keeps :meth:`flag`'s texts instead.

        >>> from coordxl.settings import Settings
        >>> TaskState(OVERDUE, 4, date=dt.date(2026, 12, 24), escalated=True).mark("zh", Settings.defaults())
        '逾期·已升级（截止12-24）'
        >>> TaskState(STALE, 9, date=dt.date(2026, 12, 18)).mark("en", Settings.defaults())
        'No update for 5+ wd (last 12-18)'
        """
        if self.date is None or self.state not in (OVERDUE, DUE_SOON, STALE):
            return self.flag(lang)
        date = self.date.strftime("%m-%d")
        if self.state == OVERDUE:
            return text("flag.mark.overdue_escalated" if self.escalated else "flag.mark.overdue", lang, date=date)
        if self.state == STALE:
            return text("flag.mark.stale", lang, window=settings["rules.stale_workdays"], date=date)
        key = "flag.mark.due_soon_holiday" if self.holiday is not None else "flag.mark.due_soon"
        return text(key, lang, window=settings["rules.due_soon_workdays"], date=date)


def field_labels(keys, lang: str) -> str:
    """'截止日期、负责人' / 'Due, Owner': task field labels as staff see them."""
    labels = [getattr(schema.TASKS.field(k), lang) for k in keys]
    return ("、" if lang == "zh" else ", ").join(labels)


@functools.lru_cache(maxsize=1)
def _own_flag_pattern() -> re.Pattern:
    """Every text the job writes into 预警, in either language, as one pattern."""
    parts = []
    for key, pair in MESSAGES.items():
        if key.startswith("flag.") and key != "flag.header":
            for template in pair:
                pattern = re.sub(r"\\\{(\w+)\\\}", lambda m: r"\d+" if m.group(1) == "days" else ".+",
                                 re.escape(template))
                parts.append(pattern)
    return re.compile("^(?:" + "|".join(parts) + ")$")


def is_own_flag(value: str) -> bool:
    """Could coordxl have written this 预警 text? (in either language, for any number of days)

    >>> is_own_flag("逾期12个工作日"), is_own_flag("Due in 2 wd"), is_own_flag("待修正：截止日期")
    (True, True, True)
    >>> is_own_flag("已验收"), is_own_flag("逾期，已和孙丽沟通")
    (False, False)
    """
    return bool(_own_flag_pattern().match(value.strip()))


def assess_task(row: Row, today: dt.date, calendar: WorkCalendar, settings: Settings) -> TaskState:
    values = row.values
    fields = _invalid_fields(row.extra.get("invalid"), values.get("start"), values.get("due"))
    return _assess(values.get("status"), fields, values.get("due"), values.get("updated_on"), today, calendar,
                   settings)


def _invalid_fields(invalid, start, due) -> tuple[str, ...]:
    """The state fields that are an error: unreadable (``invalid``), or a deadline before the start
    (F-DATE-ORDER: one of the two is wrong, and which is unknown)."""
    wrong = set(invalid) if invalid else set()
    if isinstance(start, dt.date) and isinstance(due, dt.date) and due < start:
        wrong |= {"start", "due"}
    return tuple(k for k in STATE_FIELDS if k in wrong) if wrong else ()


def _assess(status, fields: tuple[str, ...], due, updated, today: dt.date, calendar: WorkCalendar,
            settings: Settings) -> TaskState:
    """A task's state from what it depends on: its status, the state fields that are an error, its
    due date and last update."""
    if status == "done":
        return TaskState(DONE)
    if status == "cancelled":
        return TaskState(CANCELLED)
    if fields:
        return TaskState(INVALID, 0, fields)
    if status == "paused":
        return TaskState(PAUSED)
    if isinstance(due, dt.date):
        if due < today:
            # due on a Saturday and checked on Monday is one working day late, never zero
            late = max(1, calendar.count(due, today))
            return TaskState(OVERDUE, late, date=due,
                             escalated=late >= settings["reminders.escalate_manager_workdays"])
        # a deadline on a holiday or weekend is due on the last working day before it
        work_due = calendar.last_workday(due)
        holiday = due if work_due != due else None
        if work_due <= today:
            return TaskState(DUE_TODAY, 0, (), holiday, due)
        ahead = calendar.count(today, work_due)
        if ahead <= settings["rules.due_soon_workdays"]:
            return TaskState(DUE_SOON, ahead, (), holiday, due)
    if status == "blocked":
        return TaskState(BLOCKED)
    if status == "in_progress" and isinstance(updated, dt.date) and updated < today:
        idle = calendar.count(updated, today)
        if idle >= settings["rules.stale_workdays"]:
            return TaskState(STALE, idle, date=updated)
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


class Assessed:
    """Tasks with their states, column by column: ``rows`` (model.Rows) and ``states``, one per row.

    Iterating gives (Row, TaskState) pairs, making every Row; the daily and weekly jobs read the
    columns instead (a 50,000-row ledger makes no Row objects).
    """

    def __init__(self, rows: Rows, states: list[TaskState]):
        self.rows, self.states = rows, states

    def __iter__(self):
        return zip(self.rows, self.states)

    def __len__(self) -> int:
        return len(self.states)


def assess_rows(rows: Rows, today: dt.date, calendar: WorkCalendar, settings: Settings) -> list[TaskState]:
    """:func:`assess_task` for every row of a table, read column by column. A state depends only on the
    status, due date, last update and which of those cannot be read: rows alike share one answer
    (a 50,000-row ledger has a few hundred distinct ones)."""
    memo: dict = {}
    out = []
    for status, start, due, updated, invalid in zip(rows.column("status"), rows.column("start"), rows.column("due"),
                                                    rows.column("updated_on"), rows.extra_column("invalid")):
        fields = _invalid_fields(invalid, start, due) if invalid or start else ()
        key = (status, due, updated, fields)
        try:
            state = memo.get(key)
        except TypeError:  # a value that cannot be a key (never made by normalize, but cheap to allow)
            key, state = None, None
        if state is None:
            state = _assess(status, fields, due, updated, today, calendar, settings)
            if key is not None:
                memo[key] = state
        out.append(state)
    return out


def assess_item(item: Item, today: dt.date, calendar: WorkCalendar, settings: Settings) -> Assessed:
    """Every task of the item's own tracker with its state (a ledger's rows are assessed with the ledger).

    Nothing when the workbook has several tracker sheets and none is named exactly: which one is
    current is unknown, so nothing is flagged or reminded (the initiator is told to fix it).
    """
    if "tasks" in item.ambiguous:
        return Assessed(Rows(), [])
    own = item.own
    return Assessed(own, assess_rows(own, today, calendar, settings))
