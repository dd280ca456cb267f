"""What the daily run gathers while it reads each workbook: notes, nothing more.

:class:`Collector` keeps, item by item, the tasks someone must be reminded of (:class:`TaskNote`, one per
owner), the item itself (:class:`ItemNote`), the resources waiting for a reviewer or approver
(:class:`PendingNote`) and the open tasks of colleagues who left. The digests (digests.py) and the chat
groups' boards and posts (channels.py) are made from these notes; the collector knows neither.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from ..process import assess
from ..process.model import Item
from ..process.rules import Context
from ..settings import Settings
from .audience import Audience


@dataclass(frozen=True, slots=True)  # one per task to remind: hundreds of thousands on a big folder
class TaskNote:
    workbook: str
    path: str
    topic: str
    sheet: str
    cell: str
    task_id: str
    task: str
    owner: str
    due: dt.date | None
    state: str
    days: int
    holiday: dt.date | None = None  # the real deadline when it is a non-working day
    percent: float | None = None  # percent complete, when the tracker says
    escalated_to: tuple[str, ...] = ()  # the roster keys it was escalated to today (the owner's digest says so)
    on_behalf: str = ""  # the roster key of the colleague on leave this reminder stands in for

    def flag(self, lang: str) -> str:
        """The same words as the 预警 cell: 逾期3个工作日, 今日到期（截止日10-01为假日）…"""
        return assess.TaskState(self.state, self.days, (), self.holiday).flag(lang)


@dataclass(frozen=True)
class ItemNote:
    workbook: str
    path: str
    topic: str
    initiator: str
    decision_maker: str
    group: str | None = None  # the 需求单's 跟进群: the chat group that takes its posts (not what a mail says)


@dataclass(frozen=True)
class PendingNote:
    workbook: str
    path: str
    topic: str
    request_id: str
    step: str
    waiting: str
    days: int
    purpose: str


class Collector:
    """What needs reminding, gathered item by item during the daily run (small: only rows that need it)."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.tasks: list[TaskNote] = []
        self.items: dict[str, ItemNote] = {}
        self.pending: list[PendingNote] = []
        self.reassign: list[TaskNote] = []  # open tasks whose owner has left (roster: 在职 = 否)
        # workbook -> its tasks in a state the chat groups hear of, when there are groups (channels.boards):
        # (state, working days, task id, task, owners, due)
        self.states: dict[str, list[tuple]] = {}
        # workbook -> its task notes as the worker that read it already sorted them into digests
        # (digests.presort): the run then merges each person's share instead of walking every note
        self.sorted: dict[str, object] = {}
        self._ahead: dict = {}  # due date -> (working days from today, the working day it falls due)

    def notes(self) -> tuple:
        """What was gathered, without the settings: a worker sends it back to the run (see merge)."""
        return self.tasks, self.items, self.pending, self.reassign, self.states, self.sorted

    def merge(self, notes: tuple) -> None:
        tasks, items, pending, reassign, states, done = notes
        self.tasks += tasks
        self.items.update(items)
        self.pending += pending
        self.reassign += reassign
        self.states.update(states)
        self.sorted.update(done)

    def wants(self, state: assess.TaskState) -> bool:
        if state.state in (assess.OVERDUE, assess.DUE_TODAY, assess.STALE):
            return True
        return state.state == assess.DUE_SOON and state.days in self.settings["reminders.lead_workdays"]

    def add(self, item: Item, ctx: Context, assessed: assess.Assessed | None = None) -> None:
        path = str(item.path or item.workbook)
        self.items[item.workbook] = ItemNote(item.workbook, path, item.topic, item.initiator or "",
                                             item.decision_maker or "", item.group)
        lead = self.settings["reminders.lead_workdays"]
        if assessed is None:
            assessed = assess.assess_item(item, ctx.today, ctx.calendar, ctx.settings)
        gone = Audience(ctx.roster).departed()
        posted = self.states[item.workbook] = [] if self.settings.channels else None
        rows = assessed.rows  # column by column: no Row objects for thousands of tasks nobody is told about
        ids, names, people, dues, statuses = (rows.column(k) for k in ("id", "task", "owner", "due", "status"))
        percents = rows.extra_column("percent")
        split: dict = {}  # owner value -> its owners: a few values among thousands of rows

        def owners_of(value: object) -> tuple[str, ...]:
            found = split.get(value)
            if found is None:
                found = split[value] = tuple(owners(value))
            return found

        for i, state in enumerate(assessed.states):
            if posted is not None and state.state in GROUP_STATES:
                posted.append((state.state, state.days, str(ids[i] or ""), str(names[i] or ""),
                               owners_of(people[i]), dues[i]))
            if state.state == assess.DUE_SOON or state.state == assess.OK:
                # the reminder lead times may reach further than the 预警 window
                due = dues[i]
                if statuses[i] not in ("done", "cancelled") and isinstance(due, dt.date) and due > ctx.today:
                    ahead = self._ahead.get(due)
                    if ahead is None:
                        work_due = ctx.calendar.last_workday(due)  # lead times count back from it
                        ahead = self._ahead[due] = (ctx.calendar.count(ctx.today, work_due), work_due)
                    if ahead[0] in lead:
                        state = assess.TaskState(assess.DUE_SOON, ahead[0], (), due if ahead[1] != due else None)
            wanted = self.wants(state)
            if not wanted and (state.state in CLOSED or not gone):
                continue
            for owner in owners_of(people[i]):  # '周杰、赵敏': each owner is reminded and escalated
                departed = owner in gone and state.state not in CLOSED
                if wanted or departed:
                    note = TaskNote(item.workbook, path, item.topic, rows.sheets[i], rows.cell(i, "task"),
                                    str(ids[i] or ""), str(names[i] or ""), owner, dues[i], state.state, state.days,
                                    state.holiday, percents[i])
                    (self.reassign if departed else self.tasks).append(note)
        for p in assess.pending_resources(item, ctx.today, ctx.calendar, ctx.settings):
            self.pending.append(PendingNote(item.workbook, path, item.topic, str(p.row.get("id") or ""), p.step,
                                            p.waiting, p.days, str(p.row.get("purpose") or "")))


CLOSED = (assess.DONE, assess.CANCELLED)
# the states an item's chat group hears of (channels.py lists them), in assess.URGENCY's order
GROUP_STATES = tuple(sorted((assess.OVERDUE, assess.DUE_TODAY, assess.DUE_SOON, assess.BLOCKED),
                            key=assess.URGENCY.__getitem__))


def owners(value: object) -> list[str]:
    """The owners a normalized owner value names ('周杰、赵敏' → ['周杰', '赵敏'])."""
    return [o for o in str(value or "").split("、") if o] or [""]

