"""The day's digests: at most one reminder mail per person, never an empty one, and one escalation mail
per person escalated to, each recipient by roster key (audience.py); made from the collector's notes."""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
from collections import defaultdict
from dataclasses import dataclass
from dataclasses import field as dc_field

from ..findings import Finding
from ..process import assess
from ..process.roster import Person, Roster
from ..settings import Settings
from .audience import Audience, Refusal
from .notes import Collector, ItemNote, PendingNote, TaskNote


@dataclass
class Digest:
    """Everything one person is told in one run."""

    person: Person
    tasks: list[TaskNote] = dc_field(default_factory=list)
    errors: dict[str, list[Finding]] = dc_field(default_factory=dict)  # workbook -> findings (as initiator)
    overdue_summary: dict[str, int] = dc_field(default_factory=dict)  # workbook -> overdue tasks (as initiator)
    item_overdue: dict[str, list[TaskNote]] = dc_field(default_factory=dict)  # workbook -> those tasks
    pending: list[PendingNote] = dc_field(default_factory=list)
    reassign: list[TaskNote] = dc_field(default_factory=list)  # open tasks of colleagues who left
    reasons: set[str] = dc_field(default_factory=set)
    kind: str = "digest"  # or "escalation": the long-overdue tasks of others escalated to this person today
    behalf: dict[str, Person] = dc_field(default_factory=dict)  # colleagues on leave this person stands in for
    objections: list[dict] = dc_field(default_factory=list)  # to their items' minutes, open (run/replies.py)

    def empty(self) -> bool:
        return not (self.tasks or self.errors or self.pending or self.overdue_summary or self.reassign
                    or self.objections)


# warnings an item's initiator is told about with its errors (a person's text kept in 预警, a copied sheet,
# a copy of the item's workbook)
INITIATOR_WARNINGS = ("W-FLAG-EDITED", "W-DUPLICATE-SHEET", "W-DUPLICATE-ITEM")


def _task_order(note: TaskNote) -> tuple:
    return (assess.URGENCY[note.state], -note.days if note.state == assess.OVERDUE else note.days,
            note.due or dt.date.max, note.task_id)


def build_digests(collector: Collector, findings: list[Finding], roster: Roster, settings: Settings,
                  today: dt.date | None = None) -> tuple[list[Digest], list[Refusal]]:
    """At most one digest per roster person, never an empty one, and one escalation mail per person
    escalated to; recipients outside the roster are refused. ``today`` says who is on leave."""
    bag = _RunBag(Audience(roster, settings, today))
    overdue = bag.items(collector, roster, settings, today)
    bag.reassignments(collector)
    bag.initiators(collector, findings, overdue)
    for note in collector.pending:
        if (found := bag.addressed(note.waiting, "reviewer" if note.step == "review" else "approver")) is not None:
            found[0].pending.append(note)
    out = [d for d in (*bag.digests.values(), *bag.escalations.values()) if not d.empty()]
    return sorted(out, key=lambda d: (d.person.key, d.kind)), bag.audience.refused


@dataclass
class ItemPart:
    """One item's share of the day's digests, sorted where the item was read (a check worker, or this
    process): per recipient key, the item's tasks in their digest and in their escalation mail, each
    list in the order the mail shows it; whether it has overdue tasks, and those not escalated to its
    initiator (their list); the people it could not mail."""

    digests: dict[str, Digest]
    escalations: dict[str, Digest]
    any_overdue: bool
    overdue: list[TaskNote]
    refused: list[Refusal]


def sort_item(notes: list[TaskNote], item: ItemNote | None, roster: Roster | None, settings: Settings,
              today: dt.date | None) -> ItemPart:
    """One item's task notes into its owners' digests and the escalation mails (see :class:`ItemPart`)."""
    bag = _ItemBag(Audience(roster, settings, today))
    bag.owners_and_escalations(notes, {item.workbook: item} if item is not None else {}, settings)
    for d in (*bag.digests.values(), *bag.escalations.values()):
        d.tasks.sort(key=_task_order)
    overdue = _overdue(notes)
    # the initiator's list leaves out what was escalated to them (or to their stand-in): it is in that mail
    reader = bag.audience.person(item.initiator) if overdue and item is not None else None
    reader = reader and (bag.audience.stand_in(reader) or reader)
    told = {_where(n) for n in bag.escalations[reader.key].tasks} if reader and reader.key in bag.escalations else ()
    return ItemPart(bag.digests, bag.escalations, bool(overdue),
                    [n for n in overdue if _where(n) not in told] if reader else [], bag.audience.refused)


def presort(collector: Collector, ctx) -> tuple:
    """A worker's notes as it hands them back (Collector.merge), their task notes already sorted into
    digests item by item: the run merges each person's share instead of walking every task note.
    ``ctx``: the run's context (roster, today)."""
    for workbook, notes in _by_item(collector.tasks).items():
        collector.sorted[workbook] = sort_item(notes, collector.items.get(workbook), ctx.roster, collector.settings,
                                               ctx.today)
    collector.tasks = []
    return collector.notes()


def _by_item(notes: list[TaskNote]) -> dict[str, list[TaskNote]]:
    out: dict[str, list[TaskNote]] = {}
    for note in notes:  # an item's notes are next to each other (Collector.add makes them together)
        out.setdefault(note.workbook, []).append(note)
    return out


def _overdue(notes: list[TaskNote]) -> list[TaskNote]:
    """An item's overdue tasks, a task with two owners ('冯雪、郑爽') once, its owners together."""
    tasks: list[TaskNote] = []
    at: dict[tuple, int] = {}
    for note in notes:
        if note.state == assess.OVERDUE:
            where = _where(note)
            if where in at:
                first = tasks[at[where]]
                tasks[at[where]] = dataclasses.replace(first, owner=f"{first.owner}、{note.owner}",
                                                       escalated_to=tuple(dict.fromkeys(
                                                           first.escalated_to + note.escalated_to)))
            else:
                at[where] = len(tasks)
                tasks.append(note)
    return tasks


class _Mailbag:
    """The day's digests and escalation mails while they are filled, each recipient by roster key."""

    def __init__(self, audience: Audience):
        self.audience = audience
        self.digests: dict[str, Digest] = {}
        self.escalations: dict[str, Digest] = {}  # recipient key -> their one escalation mail of the day
        self._resolved: dict[tuple[str, str], tuple[Digest, str] | None] = {}  # many rows name a few people

    def addressed(self, key: str, reason: str) -> tuple[Digest, str] | None:
        """The digest a reminder for ``key`` goes into, and on whose behalf ('' when their own)."""
        if (key, reason) not in self._resolved:
            self._resolved[(key, reason)] = self._address(key, reason)
        return self._resolved[(key, reason)]

    def _address(self, key: str, reason: str) -> tuple[Digest, str] | None:
        person, behalf = self.audience.addressee(key)
        if person is None:
            return None
        d = self.digests.setdefault(person.key, Digest(person))
        d.reasons.add("deputy" if behalf else reason)
        if behalf is not None:
            d.behalf[behalf.label] = behalf
        return d, behalf.label if behalf is not None else ""


class _ItemBag(_Mailbag):
    """One item's task notes into its owners' digests and the escalation mails (:func:`sort_item`)."""

    def owners_and_escalations(self, tasks: list[TaskNote], items: dict[str, ItemNote], settings: Settings) -> None:
        """Each task to its owners' digests, marked with whom it was escalated to, and to those people's
        escalation mails."""
        told: dict[str, dict[tuple, int]] = defaultdict(dict)  # recipient key -> task place -> its line there
        targets = _Escalation(self.audience, items, settings)
        start = 0
        while start < len(tasks):
            # a task's notes, one per owner ('冯雪、郑爽'), are next to each other (Collector.add makes them
            # together): each owner hears it as an owner only; nothing is kept per task across tasks
            place, end = _where(tasks[start]), start + 1
            while end < len(tasks) and _where(tasks[end]) == place:
                end += 1
            owners = {note.owner for note in tasks[start:end]}
            placed: dict[str, int] = {}  # recipient key -> the task's line in their digest
            for note in tasks[start:end]:
                to = [p for p in targets.of(note) if p.key not in owners]
                if to:
                    # the owner is told once, in the digest, whom the task was escalated to
                    note = dataclasses.replace(note, escalated_to=tuple(p.label for p in to))
                if (found := self.addressed(note.owner, "owner")) is not None:
                    d, behalf = found
                    spot = d.person.key
                    if spot not in placed:
                        placed[spot] = len(d.tasks)
                        d.tasks.append(dataclasses.replace(note, on_behalf=behalf) if behalf else note)
                    elif behalf and (first := d.tasks[placed[spot]]).on_behalf:
                        # both owners of a task away with one deputy: the task once, on behalf of both
                        d.tasks[placed[spot]] = dataclasses.replace(first, on_behalf=f"{first.on_behalf}、{behalf}")
                for p in to:
                    self._escalate(note, p, owners, told)
            start = end

    def _escalate(self, note: TaskNote, target: Person, owners: set[str], told: dict[str, dict[tuple, int]]) -> None:
        """``note`` into ``target``'s escalation mail (their stand-in's while they are on leave), each
        task once with its owners together; never to one of its owners."""
        r, behalf = self.audience.addressee(target.key)
        if r is None or r.key in owners:
            return
        e = self.escalations.get(r.key)
        if e is None:
            e = self.escalations[r.key] = Digest(r, reasons={"escalation"}, kind="escalation")
        if behalf is not None:
            e.reasons.add("deputy")
            e.behalf[behalf.label] = behalf
        at = told[r.key].get(_where(note))
        if at is None:
            told[r.key][_where(note)] = len(e.tasks)
            e.tasks.append(dataclasses.replace(note, on_behalf=behalf.label) if behalf else note)
        else:
            e.tasks[at] = dataclasses.replace(e.tasks[at], owner=f"{e.tasks[at].owner}、{note.owner}")


class _RunBag(_Mailbag):
    """The run's digests: each item's share merged, then the reassignments, the initiators' lists and
    the resources waiting, which need the whole folder (:func:`build_digests`)."""

    def items(self, collector: Collector, roster: Roster | None, settings: Settings,
              today: dt.date | None) -> dict[str, list[TaskNote]]:
        """Each item's share (:class:`ItemPart`, sorted by a worker or here), merged item by item in the
        folder's order, each person's lists merged in the order they show; returns, per workbook with
        overdue tasks, those its initiator is to be told of."""
        here = _by_item(collector.tasks)
        overdue: dict[str, list[TaskNote]] = {}
        runs: dict[tuple[str, str], list[list[TaskNote]]] = defaultdict(list)  # each person's sorted lists
        for workbook in dict.fromkeys([*collector.items, *here]):  # the folder's order
            part = collector.sorted.get(workbook)
            if part is None:
                if workbook not in here:
                    continue
                part = sort_item(here[workbook], collector.items.get(workbook), roster, settings, today)
            self.audience.keep_refused(part.refused)
            for mails, theirs in ((self.digests, part.digests), (self.escalations, part.escalations)):
                for key, d in theirs.items():  # the parts stay as they were: a new digest gathers them
                    into = mails.get(key)
                    if into is None:
                        into = mails[key] = Digest(d.person, reasons=set(d.reasons), kind=d.kind, behalf=dict(d.behalf))
                    else:
                        into.reasons |= d.reasons
                        into.behalf.update(d.behalf)
                    runs[(key, d.kind)].append(d.tasks)
            if part.any_overdue:
                overdue[workbook] = part.overdue
        for (key, kind), lists in runs.items():
            d = (self.digests if kind == "digest" else self.escalations)[key]
            # lists each sorted already: the sort merges their runs (in C: faster than heapq.merge), and
            # keeps equal tasks in the folder's order as sorting all the notes at once did
            d.tasks = list(lists[0]) if len(lists) == 1 else sorted(itertools.chain(*lists), key=_task_order)
        return overdue

    def reassignments(self, collector: Collector) -> None:
        """A colleague who left still owns open tasks: their manager (or head) reassigns them."""
        for note in collector.reassign:
            gone = self.audience.person(note.owner)
            boss = self.audience.manager(gone) if gone else None
            if boss is not None and (found := self.addressed(boss.key, "reassign")) is not None:
                found[0].reassign.append(note)

    def initiators(self, collector: Collector, findings: list[Finding], overdue: dict[str, list[TaskNote]]) -> None:
        """Each initiator: their items' errors, the overdue tasks not escalated to them today (those are
        in their escalation mail), and the open tasks of colleagues who left."""
        by_workbook: dict[str, list[Finding]] = defaultdict(list)
        for f in findings:
            if (f.is_error or f.code in INITIATOR_WARNINGS) and f.workbook in collector.items:
                by_workbook[f.workbook].append(f)
        told: dict[str, set[tuple]] = {}  # recipient key -> the task places in their escalation mail

        def escalated_to(key: str) -> set[tuple]:
            if key not in told:
                told[key] = {_where(n) for n in self.escalations[key].tasks} if key in self.escalations else set()
            return told[key]

        left: dict[str, list[TaskNote]] = defaultdict(list)
        for note in collector.reassign:
            left[note.workbook].append(note)
        for workbook, item in collector.items.items():
            if not item.initiator or not (by_workbook.get(workbook) or workbook in overdue or left.get(workbook)):
                continue
            found = self.addressed(item.initiator, "initiator")
            if found is None:
                continue
            d = found[0]
            if by_workbook.get(workbook):
                d.errors[workbook] = by_workbook[workbook]
            mine = [n for n in overdue.get(workbook, ()) if _where(n) not in escalated_to(d.person.key)]
            if mine:
                d.overdue_summary[workbook] = len(mine)
                d.item_overdue[workbook] = sorted(mine, key=_task_order)
            d.reassign += [n for n in left.get(workbook, ()) if n not in d.reassign]


def _where(note: TaskNote) -> tuple:
    """A task's place: the same for each of its owners' notes and their copies marked as escalated."""
    return note.workbook, note.sheet, note.cell


class _Escalation:
    """Whom an overdue task escalates to, by working days overdue: from
    reminders.escalate_manager_workdays the owner's manager (or head); from
    reminders.escalate_initiator_workdays also the item's initiator and 决策人. Never the owner."""

    def __init__(self, audience: Audience, items: dict[str, ItemNote], settings: Settings):
        self.audience, self.items = audience, items
        self.manager_at = settings["reminders.escalate_manager_workdays"]
        self.initiator_at = settings["reminders.escalate_initiator_workdays"]
        self._memo: dict[tuple, list[Person]] = {}  # thousands of rows share a few owners, items and tiers

    def of(self, note: TaskNote) -> list[Person]:
        if note.state != assess.OVERDUE or note.days < self.manager_at:
            return []
        key = (note.owner, note.workbook, note.days >= self.initiator_at)
        if key not in self._memo:
            self._memo[key] = self._targets(*key)
        return self._memo[key]

    def _targets(self, owner_key: str, workbook: str, second_tier: bool) -> list[Person]:
        owner = self.audience.person(owner_key)
        if owner is None or owner.away(self.audience.today):
            return []  # escalation pauses while the owner is on leave (their stand-in is reminded)
        found = [self.audience.manager(owner)]
        item = self.items.get(workbook)
        if second_tier and item is not None:
            found += [self.audience.person(item.initiator), self.audience.person(item.decision_maker)]
        people = {p.key: p for p in found if p is not None and p.key != owner.key}
        return [p for p in people.values() if self.audience.addressee(p.key)[0] is not None]
