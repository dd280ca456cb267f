"""The weekly decision page: what a director reads in 30 seconds, first sheet of 周报 and the mail body.

In this order: what needs a decision or coordination (escalated, blocked, approvals waiting, items
without a follow-up meeting, tasks left to fix for over a week), KPIs with last week's value, an arrow
and a red/amber/green mark, the aging of overdue tasks by escalation tier per department, plan vs
actual for the tasks that were due this week, and next week's deadlines per department. Every figure
is computed for one reader's scope (``mine``), so an initiator or a head sees only what is theirs.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import Callable, NamedTuple

from ..messages import text
from ..send.audience import Scope
from ..settings import Settings


@dataclass
class Ask:
    """One line of 需要决策/协调: the item, who, and what is asked."""

    kind: str  # escalated | blocked | approval | no_followup | paused | stale_error
    topic: str
    owner: str
    lang: str
    said: tuple[tuple[str, dict], ...]  # the message table's (key, values) the line is made of

    @property
    def detail(self) -> str:
        """The line's text, made when shown: a page counts tens of thousands of asks and shows 30."""
        return "".join(text(key, self.lang, **values) for key, values in self.said)


@dataclass
class Kpi:
    key: str  # on_time_week | on_time_total | overdue | newly_overdue | moved
    value: float | int | None
    last: float | int | None
    mark: str  # green | amber | red | none
    percent: bool = False
    base: tuple[int, int] | None = None  # a rate's (on time, judged): shown beside it
    last_base: tuple[int, int] | None = None

    @property
    def arrow(self) -> str:
        """↑ ↓ → against last week; nothing when either week has no figure."""
        if self.value is None or self.last is None:
            return ""
        if self.value == self.last:
            return "→"
        return "↑" if self.value > self.last else "↓"


@dataclass
class Page:
    asks: list[Ask] = dc_field(default_factory=list)
    kpis: list[Kpi] = dc_field(default_factory=list)
    tiers: tuple[str, str, str] = ("", "", "")
    aging: dict[str, list[int]] = dc_field(default_factory=dict)  # department -> counts per tier
    planned: int = 0
    on_time: int = 0
    late: int = 0
    still_open: int = 0
    slipped: list = dc_field(default_factory=list)  # (TaskLine, due) not done on time
    next_week: dict[str, list] = dc_field(default_factory=dict)  # department -> TaskLines


def _mark(value, targets: list[int], higher_is_better: bool) -> str:
    if value is None:
        return "none"
    green, amber = targets
    if higher_is_better:
        value = value * 100
        return "green" if value >= green else "amber" if value >= amber else "red"
    return "green" if value <= green else "amber" if value <= amber else "red"


def on_time(due: dt.date | None, done_on: dt.date | None) -> bool:
    """Finished no later than its deadline (the calendar day: a task due Friday and done on Saturday is late)."""
    return bool(done_on and due and done_on <= due)


def on_time_base(done: list, overdue: list, start: dt.date | None, end: dt.date) -> tuple[int, int]:
    """(finished on time, judged) over a period: each task done in it, and each task that fell due in it
    and is still open and overdue (late, whenever it is finished). Every task counts once over the weeks:
    in the week it was finished, or, while it is open, in the week it fell due.

    ``done``/``overdue``: the week's task lines (TaskLine) in a reader's scope; ``start`` None: from the
    beginning."""
    finished = [x for x in done if (start is None or start <= x.done_on) and x.done_on <= end]
    late_open = sum(1 for x in overdue if x.due and (start is None or start <= x.due) and x.due <= end)
    return sum(on_time(x.due, x.done_on) for x in finished), len(finished) + late_open


def share(base: tuple[int, int]) -> float | None:
    """The on-time rate of an (on time, judged) pair; None when nothing was judged."""
    good, judged = base
    return good / judged if judged else None


class SnapTask(NamedTuple):
    """A task as a daily snapshot recorded it, named as the week's items show their workbook."""

    workbook: str
    key: str
    department: str


@dataclass
class Compared:
    """What every reader's page reads of the daily snapshots, compared in state.db once a week (each
    snapshot holds every task of the folder: none is loaded whole)."""

    has_prev: bool = False  # a snapshot from the end of last week
    changes_now: list = dc_field(default_factory=list)  # (SnapTask, newly overdue, moved): this week
    changes_last: list | None = None  # the same a week earlier; None without a snapshot from the week before
    overdue_prev: list = dc_field(default_factory=list)  # SnapTasks overdue at the end of last week
    invalid_prev: set = dc_field(default_factory=set)  # (workbook, key) of those left to fix then
    planned: list = dc_field(default_factory=list)  # (SnapTask, due): last week's plan for this week


def _count(changes: list[tuple[SnapTask, bool, bool]], keep: Callable[[SnapTask], bool]) -> tuple[int, int]:
    """(newly overdue, deadlines moved later) among the changes ``keep`` accepts."""
    mine = [(newly, moved) for row, newly, moved in changes if keep(row)]
    return sum(n for n, _ in mine), sum(m for _, m in mine)


def page(weekly, settings: Settings, mine: "Scope", snapshots: Compared) -> Page:
    """The decision page for one reader. ``mine(task)`` says whether a task is in their scope;
    ``snapshots``: what the daily snapshots of this week, the end of last week and a week before that
    say (Compared, worked out once for the week)."""
    out = Page()
    overdue = in_scope(weekly, "overdue", mine)
    _asks(out, weekly, settings, mine, snapshots, overdue)
    _kpis(out, weekly, settings, mine, snapshots, overdue)
    _aging(out, settings, overdue)
    _plan_vs_actual(out, weekly, mine, snapshots)
    # --- 5. next week's deadlines per department
    for x in in_scope(weekly, "due_next_week", mine):
        out.next_week.setdefault(x.department or "-", []).append(x)
    return out


def _asks(out: Page, weekly, settings: Settings, mine: "Scope", snapshots: Compared, overdue: list) -> None:
    """1. What needs a decision or coordination: escalated and blocked tasks, approvals, items without a
    follow-up, paused tasks, errors left standing since last week."""
    lang = settings.lang
    initiator_at = settings["reminders.escalate_initiator_workdays"]
    blocked = {(x.workbook, x.key): x for x in in_scope(weekly, "blocked", mine)}
    for x in overdue:
        if x.days >= initiator_at:
            said = (("decide.escalated", {"task": f"{x.task_id} {x.task}", "days": x.days}),)
            if blocked.pop((x.workbook, x.key), None) is not None:
                said += (("decide.and_blocked", {"note": x.note or "-"}),)
            out.asks.append(Ask("escalated", x.topic, x.owner, lang, said))
    for x in blocked.values():
        out.asks.append(Ask("blocked", x.topic, x.owner, lang,
                            (("decide.blocked", {"task": f"{x.task_id} {x.task}", "note": x.note or "-"}),)))
    topics = {i.workbook: i for i in weekly.items}
    readable = {i.workbook for i in weekly.items if mine.item(i)}
    for p in weekly.pending:
        if p.step == "approval" and p.workbook in readable:
            out.asks.append(Ask("approval", p.topic, p.waiting, lang,
                                (("decide.approval", {"id": p.request_id, "purpose": p.purpose, "days": p.days}),)))
    for workbook, topic, _ in weekly.missing_followups:
        if workbook in readable:
            out.asks.append(Ask("no_followup", topic, topics[workbook].initiator, lang, (("decide.no_followup", {}),)))
    for x in in_scope(weekly, "paused", mine):
        since = getattr(weekly, "paused_since", {}).get((x.workbook, x.key))
        said = (("decide.paused", {"task": f"{x.task_id} {x.task}", "days": (weekly.today - since).days,
                                   "since": since.isoformat()}),) if since else (("decide.paused_unknown",
                                                                                   {"task": f"{x.task_id} {x.task}"}),)
        out.asks.append(Ask("paused", x.topic, x.owner, lang, said))
    for x in in_scope(weekly, "invalid", mine):
        if (x.workbook, x.key) in snapshots.invalid_prev:
            out.asks.append(Ask("stale_error", x.topic, x.owner, lang,
                                (("decide.stale_error", {"task": f"{x.task_id} {x.task}"}),)))


def _kpis(out: Page, weekly, settings: Settings, mine: "Scope", snapshots: Compared, overdue: list) -> None:
    """2. KPIs: this week and last week, an arrow, a mark; an open overdue task counts as late."""
    prev = snapshots.has_prev
    done = in_scope(weekly, "done_ever", mine)
    last_monday, last_sunday = weekly.monday - dt.timedelta(days=7), weekly.sunday - dt.timedelta(days=7)
    this_week = on_time_base(done, overdue, weekly.monday, weekly.sunday)
    last_week = on_time_base(done, overdue, last_monday, last_sunday)
    to_date = on_time_base(done, overdue, None, weekly.sunday)
    to_last = on_time_base(done, overdue, None, last_sunday)

    newly_now, moved_now = _count(snapshots.changes_now, mine)
    newly_last, moved_last = (_count(snapshots.changes_last, mine) if snapshots.changes_last is not None
                              else (None, None))
    overdue_last = len(_picked(weekly, "overdue_prev", snapshots.overdue_prev, mine)) if prev else None
    targets, limits = settings["weekly.on_time_targets"], settings["weekly.overdue_limits"]
    out.kpis = [
        Kpi("on_time_week", share(this_week), share(last_week), _mark(share(this_week), targets, True), True,
            this_week, last_week),
        Kpi("on_time_total", share(to_date), share(to_last), _mark(share(to_date), targets, True), True,
            to_date, to_last),
        Kpi("overdue", len(overdue), overdue_last, _mark(len(overdue), limits, False)),
        Kpi("newly_overdue", newly_now if prev else None, newly_last,
            _mark(newly_now if prev else None, limits, False)),
        Kpi("moved", moved_now if prev else None, moved_last, _mark(moved_now if prev else None, limits, False)),
    ]


def _aging(out: Page, settings: Settings, overdue: list) -> None:
    """3. Aging by escalation tier, per department."""
    manager_at = settings["reminders.escalate_manager_workdays"]
    initiator_at = settings["reminders.escalate_initiator_workdays"]
    out.tiers = (f"1–{manager_at - 1}", f"{manager_at}–{initiator_at - 1}", f"≥{initiator_at}")
    for x in overdue:
        tier = 0 if x.days < manager_at else 1 if x.days < initiator_at else 2
        out.aging.setdefault(x.department or "-", [0, 0, 0])[tier] += 1


def _plan_vs_actual(out: Page, weekly, mine: "Scope", snapshots: Compared) -> None:
    """4. Plan vs actual: what last week's snapshot said was due this week, and how it went."""
    current = weekly.task_index()
    for row, due in snapshots.planned:
        if not mine(row):
            continue
        x = current.get((row.workbook, row.key))
        if x is None or x.state == "cancelled":
            continue
        out.planned += 1
        if x.state == "done" and on_time(due, x.done_on):
            out.on_time += 1
        else:
            if x.state == "done":
                out.late += 1
            else:
                out.still_open += 1
            out.slipped.append((x, due))


def _groups(weekly, name: str, rows: list) -> tuple[dict, dict]:
    """Positions in one of the week's lists (its tasks, or snapshot rows) by workbook and by department,
    made once a week: every reader's page picks its scope from them. The lists do not change once
    pages are made (build sorts them first)."""
    cache = weekly.cache.setdefault("groups", {})
    if name not in cache:
        by_workbook: dict = defaultdict(list)
        by_department: dict = defaultdict(list)
        for i, row in enumerate(rows):
            by_workbook[row.workbook].append(i)
            by_department[row.department].append(i)
        cache[name] = (by_workbook, by_department)
    return cache[name]


def in_scope(weekly, name: str, scope: Scope) -> list:
    """The tasks of ``weekly.<name>`` (overdue, blocked, done_ever, …) in a reader's scope, in order."""
    return _picked(weekly, name, getattr(weekly, name), scope)


def _picked(weekly, name: str, rows: list, scope: Scope) -> list:
    return rows if scope.everything else scope.pick(rows, _groups(weekly, name, rows))


def by_department(tasks: list) -> dict[str, list]:
    out = defaultdict(list)
    for x in tasks:
        out[x.department or "-"].append(x)
    return dict(out)
