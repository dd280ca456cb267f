"""Reminder mails: one digest per person per run, escalation, exactly-once delivery.

The daily job collects what needs saying while it reads each workbook
(:class:`Collector`), then :func:`build_digests` turns that into at most one
mail per recipient, and :func:`deliver` sends them through a transport,
recording each in state.db only after the server accepted it.

Messages are composed with the standard library's ``email`` package (policy
SMTP: encoded headers, and it refuses a header holding a line break); yagmail
provides the SMTP connection (SSL / STARTTLS / login) once per batch.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import logging
import os
import re
import smtplib
import socket
import ssl
from collections import defaultdict
from dataclasses import dataclass
from dataclasses import field as dc_field
from email.header import Header
from email.message import Message
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.policy import compat32
from email.utils import formataddr, formatdate, make_msgid
from pathlib import Path
from typing import Callable, Iterable, Protocol

import jinja2
from markupsafe import Markup, escape

from ..errors import ConfigError
from ..findings import Finding
from ..messages import text
from ..process import assess
from ..process.calendar import WorkCalendar, estimate_note
from ..process.model import Item
from ..process.roster import Person, Roster
from ..process.rules import Context
from ..settings import Settings
from ..state.layout import workbook_link
from ..state.store import Store, workbook_id
from . import delivery
from .audience import Audience, Refusal, header_safe
from .channels import BOARD_STATES, Board
from .delivery import Delivery, Failed
from .delivery import Unknown as DeliveryUnknown

log = logging.getLogger(__name__)

# --- what the daily run collects ---------------------------------------------------------

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
        self.boards: dict = {}  # workbook -> channels.Board: what the item's chat group is told
        self._ahead: dict = {}  # due date -> (working days from today, the working day it falls due)

    def notes(self) -> tuple:
        """What was gathered, without the settings: a worker sends it back to the run (see merge)."""
        return self.tasks, self.items, self.pending, self.reassign, self.boards

    def merge(self, notes: tuple) -> None:
        tasks, items, pending, reassign, boards = notes
        self.tasks += tasks
        self.items.update(items)
        self.pending += pending
        self.reassign += reassign
        self.boards.update(boards)

    def wants(self, state: assess.TaskState) -> bool:
        if state.state in (assess.OVERDUE, assess.DUE_TODAY, assess.STALE):
            return True
        return state.state == assess.DUE_SOON and state.days in self.settings["reminders.lead_workdays"]

    def add(self, item: Item, ctx: Context, assessed: assess.Assessed | None = None) -> None:
        path = str(item.path or item.workbook)
        self.items[item.workbook] = ItemNote(item.workbook, path, item.topic, item.initiator or "",
                                             item.decision_maker or "")
        lead = self.settings["reminders.lead_workdays"]
        if assessed is None:
            assessed = assess.assess_item(item, ctx.today, ctx.calendar, ctx.settings)
        gone = _departed(ctx.roster)
        board = None
        if self.settings.channels:
            board = self.boards[item.workbook] = Board(item.workbook, item.topic, item.group)
        rows = assessed.rows  # column by column: no Row objects for thousands of tasks nobody is told about
        ids, names, people, dues, statuses = (rows.column(k) for k in ("id", "task", "owner", "due", "status"))
        percents = rows.extra_column("percent")
        for i, state in enumerate(assessed.states):
            if board is not None and state.state in BOARD_STATES:
                board.tasks.append((state.state, state.days, str(ids[i] or ""), str(names[i] or ""),
                                    tuple(owners(people[i])), dues[i]))
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
            for owner in owners(people[i]):  # '周杰、赵敏': each owner is reminded and escalated
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


def owners(value: object) -> list[str]:
    """The owners a normalized owner value names ('周杰、赵敏' → ['周杰', '赵敏'])."""
    return [o for o in str(value or "").split("、") if o] or [""]


def _departed(roster: Roster | None) -> frozenset[str]:
    """Colleagues who have left (在职 = 否), as task owners are written once normalized."""
    return frozenset(p.key for p in roster.people_list if not p.active) if roster is not None else frozenset()


# --- digests -------------------------------------------------------------------------------

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
    bag = _Mailbag(Audience(roster, settings, today))
    told = bag.owners_and_escalations(collector, settings)
    bag.reassignments(collector)
    bag.initiators(collector, findings, told)
    for note in collector.pending:
        if (found := bag.addressed(note.waiting, "reviewer" if note.step == "review" else "approver")) is not None:
            found[0].pending.append(note)
    out = []
    for d in list(bag.digests.values()) + list(bag.escalations.values()):
        d.tasks.sort(key=_task_order)
        if not d.empty():
            out.append(d)
    return sorted(out, key=lambda d: (d.person.key, d.kind)), bag.audience.refused


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

    def owners_and_escalations(self, collector: Collector, settings: Settings) -> dict[str, set[tuple]]:
        """Each task to its owners' digests, marked with whom it was escalated to, and to those people's
        escalation mails; returns, per recipient key, the tasks escalated to them."""
        told: dict[str, dict[tuple, int]] = defaultdict(dict)  # recipient key -> task place -> its line there
        targets = _Escalation(self.audience, collector.items, settings)
        tasks = collector.tasks
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
        return {key: set(places) for key, places in told.items()}

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

    def reassignments(self, collector: Collector) -> None:
        """A colleague who left still owns open tasks: their manager (or head) reassigns them."""
        for note in collector.reassign:
            gone = self.audience.person(note.owner)
            boss = self.audience.manager(gone) if gone else None
            if boss is not None and (found := self.addressed(boss.key, "reassign")) is not None:
                found[0].reassign.append(note)

    def initiators(self, collector: Collector, findings: list[Finding], told: dict[str, set[tuple]]) -> None:
        """Each initiator: their items' errors, the overdue tasks not escalated to them today (those are
        in their escalation mail), and the open tasks of colleagues who left."""
        by_workbook: dict[str, list[Finding]] = defaultdict(list)
        for f in findings:
            if (f.is_error or f.code in INITIATOR_WARNINGS) and f.workbook in collector.items:
                by_workbook[f.workbook].append(f)
        overdue: dict[str, list[TaskNote]] = defaultdict(list)
        at: dict[tuple, int] = {}  # a task with two owners ('冯雪、郑爽') is one overdue task of the item
        for note in collector.tasks:
            if note.state == assess.OVERDUE:
                where, tasks = _where(note), overdue[note.workbook]
                if where in at:
                    first = tasks[at[where]]
                    tasks[at[where]] = dataclasses.replace(first, owner=f"{first.owner}、{note.owner}",
                                                           escalated_to=tuple(dict.fromkeys(
                                                               first.escalated_to + note.escalated_to)))
                else:
                    at[where] = len(tasks)
                    tasks.append(note)
        left: dict[str, list[TaskNote]] = defaultdict(list)
        for note in collector.reassign:
            left[note.workbook].append(note)
        for workbook, item in collector.items.items():
            if not item.initiator or not (by_workbook.get(workbook) or overdue.get(workbook) or left.get(workbook)):
                continue
            found = self.addressed(item.initiator, "initiator")
            if found is None:
                continue
            d = found[0]
            if by_workbook.get(workbook):
                d.errors[workbook] = by_workbook[workbook]
            mine = [n for n in overdue.get(workbook, ()) if _where(n) not in told.get(d.person.key, ())]
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


# --- rendering -----------------------------------------------------------------------------

HTML_TEMPLATES = jinja2.Environment(loader=jinja2.PackageLoader("coordxl", "mail"), autoescape=jinja2.select_autoescape(
    enabled_extensions=("html", "j2.html"), default_for_string=True, default=True),
    trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined)
TEXT_TEMPLATES = jinja2.Environment(loader=jinja2.PackageLoader("coordxl", "mail"), autoescape=False,
                               trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined)


@dataclass
class Mail:
    key: str
    kind: str
    to: Person
    cc: list[Person]
    subject: str
    text: str
    html: str
    reasons: list[str]
    workbooks: tuple[str, ...] = ()
    attachments: tuple = ()  # paths attached to the message (the weekly summary workbook)
    renderer: Callable[[], tuple[str, str]] | None = None  # (text, html) made when first needed
    # update by reply (replies.py): arm(mail) issues the digest's token when it is rendered and returns
    # what the templates show (task codes, how to reply); a confirmation's thread headers
    arm: Callable[["Mail"], dict] | None = None
    token: str = ""
    message_id: str = ""
    reply_to: str = ""
    headers: tuple[tuple[str, str], ...] = ()

    def bodies(self) -> tuple[str, str]:
        """The plain-text and HTML parts; a digest is rendered only when it is really sent (a rerun
        skips what went out, and a run's cap holds the rest: thousands of digests need no rendering)."""
        if self.renderer is not None:
            self.text, self.html = self.renderer()
            self.renderer = None
        return self.text, self.html

    def recipients(self) -> list[str]:
        return [header_safe(self.to.email)] + [header_safe(p.email) for p in self.cc]

    def message(self, settings: Settings, today: dt.date) -> Message:
        """The MIME message: plain text and HTML alternatives (and the attachments), non-ASCII names
        and subject as RFC 2047 words. Built with the email package's compat32 classes: the
        header-parsing API builds each one 3-4x slower, which a first run with hundreds of digests
        feels (measured 2.4 ms vs 0.7 ms a message)."""
        sender = header_safe(settings["email.sender"])
        plain, html = self.bodies()  # first: a digest's reply token is issued as it is rendered
        msg = MIMEMultipart("mixed" if self.attachments else "alternative", policy=compat32)
        msg["From"] = formataddr(("coordxl", sender))
        msg["Reply-To"] = self.reply_to or sender
        msg["To"] = formataddr((header_safe(self.to.name), header_safe(self.to.email)), charset="utf-8")
        if self.cc:
            msg["Cc"] = ", ".join(formataddr((header_safe(p.name), header_safe(p.email)), charset="utf-8")
                                  for p in self.cc)
        subject = header_safe(self.subject)
        msg["Subject"] = subject if subject.isascii() else Header(subject, "utf-8")
        msg["Date"] = formatdate(localtime=True)
        msg["Message-ID"] = self.message_id or make_msgid(idstring=self.key[:16],
                                                          domain=sender.rsplit("@", 1)[-1] or None)
        msg["X-Coordxl-Key"] = self.key
        msg["X-Coordxl-Kind"] = self.kind  # digest | escalation | weekly: for mail rules
        for name, value in self.headers:
            msg[name] = value
        body = msg if not self.attachments else MIMEMultipart("alternative", policy=compat32)
        body.attach(_text_part(plain, "plain"))
        body.attach(_text_part(html, "html"))
        if self.attachments:
            msg.attach(body)
        for path in self.attachments:
            path = Path(path)
            part = MIMEApplication(path.read_bytes(), "vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                                   policy=compat32)
            part.add_header("Content-Disposition", "attachment", filename=("utf-8", "", path.name))
            msg.attach(part)
        return msg


def _text_part(content: str, subtype: str) -> MIMEText:
    """A text part in UTF-8, base64-encoded (no line is ever too long for a mail server), its lines
    ending in CRLF as RFC 2046 has text in canonical form."""
    content = content.replace("\r\n", "\n")
    content = (content if content.endswith("\n") else content + "\n").replace("\n", "\r\n")
    return MIMEText(content, subtype, "utf-8", policy=compat32)


def subject_for(d: Digest, lang: str, items: dict[str, ItemNote] | None = None) -> str:
    if d.kind == "escalation":
        workbooks = list(dict.fromkeys(n.workbook for n in d.tasks))
        topics = [items[w].topic if items and w in items else w for w in workbooks]
        shown = ("、" if lang == "zh" else ", ").join(topics[:2])
        if len(topics) > 2:
            shown = text("mail.and_more_items", lang, items=shown, n=len(topics))
        return text("mail.escalation_subject", lang, topics=shown, n=len(d.tasks))
    counts = defaultdict(int)
    for note in d.tasks:
        counts[note.state] += 1
    parts = []
    for state in sorted(counts, key=assess.URGENCY.__getitem__):  # overdue, due today, due soon, stale
        parts.append(text(f"mail.n_{state}", lang, n=counts[state]))
    if d.errors:
        parts.append(text("mail.n_errors", lang, n=sum(len(v) for v in d.errors.values())))
    if d.pending:
        parts.append(text("mail.n_pending", lang, n=len(d.pending)))
    if d.overdue_summary and not counts[assess.OVERDUE]:
        parts.append(text("mail.n_item_overdue", lang, n=sum(d.overdue_summary.values())))
    if d.reassign:
        parts.append(text("mail.n_reassign", lang, n=len(d.reassign)))
    if d.objections:
        parts.append(text("objection.n", lang, n=len(d.objections)))
    sep = "、" if lang == "zh" else ", "
    return text("mail.subject", lang, summary=sep.join(parts))


def render(d: Digest, today: dt.date, settings: Settings, items: dict[str, ItemNote]) -> Mail:
    """The digest as a mail: its subject and key now, its text and HTML when it is sent (a rerun or
    a run's cap leaves thousands of digests that never need them)."""
    lang = settings.lang
    limit = settings["reminders.max_tasks_per_mail"]
    share = settings["general.share_url"]
    subject = subject_for(d, lang, items)
    # the key: who, what kind, which day, and a digest of everything the mail says (its data, so it is
    # known without rendering): a rerun with the same content sends nothing, a change sends anew
    # — each workbook by its identity in the folder, never its local path (the same folder under another
    # name, a symlink or another host's mount point sends nothing again)
    named = _workbooks(d)
    said = repr(([_said(n) for n in d.tasks[:limit]], len(d.tasks),
                 sorted(((workbook_id(k), [(f.code, f.sheet, f.cell, f.message_zh) for f in v])
                        for k, v in d.errors.items()), key=_first),
                 sorted(((workbook_id(k), n) for k, n in d.overdue_summary.items()), key=_first),
                 sorted(((workbook_id(k), [_said(n) for n in v[:limit]]) for k, v in d.item_overdue.items()),
                        key=_first),
                 [_said(p) for p in d.pending], [_said(n) for n in sorted(d.reassign, key=_reassign_order)],
                 sorted(d.reasons), sorted(d.behalf), lang, share,
                 sorted(_said(items[k]) for k in named if k in items)))
    if d.objections:  # objections to minutes (run/replies.py); without any, the key is as it always was
        said += repr([sorted(o.items()) for o in d.objections])
    digest = hashlib.sha256(said.encode("utf-8")).hexdigest()[:16]
    key = hashlib.sha256(f"{d.person.email.lower()}|{d.kind}|{today.isoformat()}|{digest}".encode()).hexdigest()
    mail = Mail(key, d.kind, d.person, [], subject, "", "", sorted(d.reasons), tuple(sorted(named)))
    mail.renderer = lambda: _digest_bodies(d, today, lang, limit, share, items, _estimate(d, today, settings),
                                           mail.arm(mail) if mail.arm else None)
    return mail


def _said(note) -> tuple:
    """A task, item or resource note as a mail's key reads it: its workbook by identity, its local path left out."""
    names = _NOTE_FIELDS.get(type(note))
    if names is None:
        names = _NOTE_FIELDS[type(note)] = tuple(f.name for f in dataclasses.fields(note) if f.name not in ("workbook", "path"))
    return (workbook_id(note.workbook), *(getattr(note, name) for name in names))


_NOTE_FIELDS: dict[type, tuple[str, ...]] = {}


def _first(pair: tuple):
    return pair[0]


def _estimate(d: Digest, today: dt.date, settings: Settings) -> str:
    """The estimate phrase when a count the digest shows touched a year without official holiday data."""
    # a count runs from today to a due date (overdue, due soon), or back to an update or a request
    counted = [n.due if n.state in COUNTED_TO_DUE and n.due else today
               for n in d.tasks + [n for v in d.item_overdue.values() for n in v]] + [today] * len(d.pending)
    return estimate_note(WorkCalendar.from_settings(settings), settings.lang, today, counted)


COUNTED_TO_DUE = (assess.OVERDUE, assess.DUE_SOON)


def _reassign_order(note: TaskNote) -> tuple:
    return note.workbook, note.task_id, note.cell


def _digest_bodies(d: Digest, today: dt.date, lang: str, limit: int, share: str, items: dict[str, ItemNote],
                   estimate: str = "", reply: dict | None = None) -> tuple[str, str]:
    """A digest's plain-text and HTML bodies; ``reply``: the task codes and how to reply (replies.py)."""
    t = lambda key, **kw: text(key, lang, **kw)  # noqa: E731
    groups: dict[str, list[TaskNote]] = defaultdict(list)
    for note in d.tasks[:limit]:  # most urgent first; a phone screen is not a spreadsheet
        groups[note.workbook].append(note)
    more = max(0, len(d.tasks) - limit)
    room = limit  # the initiator's list of their items' overdue tasks shares the cap, most overdue first
    item_overdue = {}
    for workbook, notes in d.item_overdue.items():
        if room > 0:
            item_overdue[workbook] = notes[:room]
            room -= len(item_overdue[workbook])
    where = lambda workbook: workbook_link(share, workbook)[1]  # noqa: E731

    def topic_link(workbook: str) -> Markup:
        return linked(workbook_link(share, workbook)[0], items[workbook].topic if workbook in items else workbook)

    def cell_link(n: TaskNote) -> Markup:
        href, full = workbook_link(share, n.workbook, n.sheet, n.cell)
        return linked(href, f"{full} › {n.sheet} › {n.cell}")

    context = dict(
        where=where, topic_link=topic_link, cell_link=cell_link, item_overdue=item_overdue,
        t=t, lang=lang, person=d.person, today=today, groups=groups, items=items, errors=d.errors,
        overdue_summary=d.overdue_summary, pending=d.pending, reasons=sorted(d.reasons),
        state_label=lambda s: t(f"mail.state.{s}"), days_text=_days_text(lang),
        why=("；" if lang == "zh" else "; ").join(t(f"mail.why.{r}") for r in sorted(d.reasons)),
        more=more, kind=d.kind, reassign=sorted(d.reassign, key=_reassign_order),
        escalated_days=min((n.days for n in d.tasks), default=0), behalf=sorted(d.behalf), estimate=estimate,
        reply=reply, objections=d.objections,
    )
    return (TEXT_TEMPLATES.get_template("digest.txt").render(**context),
            HTML_TEMPLATES.get_template("digest.html").render(**context))


def linked(href: str, shown: str) -> Markup:
    """``shown`` as HTML, a link to ``href`` when there is one (general.share_url is set)."""
    if not href:
        return escape(shown)
    return Markup(f'<a href="{escape(href)}" style="color:#0563c1;">{escape(shown)}</a>')


def _workbooks(d: Digest) -> set[str]:
    return ({n.workbook for n in d.tasks} | set(d.errors) | set(d.overdue_summary) | {p.workbook for p in d.pending}
            | {n.workbook for n in d.reassign})


def _days_text(lang: str):
    return lambda note: note.flag(lang)


# --- transports ----------------------------------------------------------------------------

class Transport(Protocol):
    name: str

    def open(self) -> None: ...
    def send(self, msg: Message, sender: str, recipients: list[str]) -> dict: ...
    def close(self) -> None: ...


class OutboxTransport:
    """Writes each message as an RFC 5322 .eml file under .coordxl/outbox/<date>/ instead of sending."""

    name = "outbox"

    def __init__(self, folder: Path, today: dt.date):
        self.folder = Path(folder) / today.isoformat()

    def open(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)

    def send(self, msg: Message, sender: str, recipients: list[str]) -> dict:
        key = msg["X-Coordxl-Key"][:12]
        name = re.sub(r"[^A-Za-z0-9@._-]", "_", recipients[0])
        path = self.folder / f"{name}-{key}.eml"
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(msg.as_bytes(policy=msg.policy.clone(linesep="\r\n")))  # as it goes over SMTP
        os.replace(tmp, path)
        return {}

    def close(self) -> None:
        pass


class SmtpTransport:
    """SMTP through yagmail's connection handling: one login per batch, sendmail per message."""

    name = "smtp"

    def __init__(self, settings: Settings, password: str | None):
        self.settings = settings
        self.password = password
        self.timeout = settings["email.timeout_seconds"]
        self.data_timeout = settings["email.data_timeout_seconds"]
        self.client = None

    def open(self) -> None:
        import yagmail

        s = self.settings
        security = s["email.security"]
        skip_login = not s["email.user"]
        # the certificate and the host name are verified (system trust store, or email.ca_file) before
        # the password is sent; smtplib alone would accept any certificate
        tls = tls_context(s["email.ca_file"]) if security in ("ssl", "starttls") else None
        extra = {"context": tls} if security == "ssl" else {}
        self.client = yagmail.SMTP(
            user=s["email.user"] or s["email.sender"], password=self.password or "", host=s["email.host"],
            port=s["email.port"], smtp_ssl=security == "ssl",
            smtp_starttls={"context": tls} if security == "starttls" else False,
            smtp_skip_login=skip_login, timeout=self.timeout, soft_email_validation=False, **extra)
        # yagmail turns a login without "@" into <login>@gmail.com: the server gets the login as written
        # (a bare user name, DOMAIN\user)
        self.client.user = s["email.user"] or s["email.sender"]
        self.client.login()

    def send(self, msg: Message, sender: str, recipients: list[str]) -> dict:
        """smtplib's sendmail, step by step, so that the one ambiguous moment is told apart: once the
        message's content went out, a missing answer (waited for up to email.data_timeout_seconds, as
        RFC 5321 §4.5.3.2 asks) raises DeliveryUnknown rather than an error that would be retried."""
        smtp = self.client.smtp
        smtp.sock.settimeout(self.timeout)
        smtp.ehlo_or_helo_if_needed()
        payload = msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))
        options = [f"size={len(payload)}"] if smtp.does_esmtp and smtp.has_extn("size") else []
        code, reply = smtp.mail(sender, options)
        if code != 250:
            smtp.rset()
            raise smtplib.SMTPSenderRefused(code, reply, sender)
        refused = {}
        for address in recipients:
            code, reply = smtp.rcpt(address)
            if code not in (250, 251):
                refused[address] = (code, reply)
        if len(refused) == len(recipients):
            smtp.rset()
            raise smtplib.SMTPRecipientsRefused(refused)
        code, reply = smtp.docmd("data")
        if code != 354:
            smtp.rset()
            raise smtplib.SMTPDataError(code, reply)
        body = re.sub(rb"(?m)^\.", b"..", payload)
        if not body.endswith(b"\r\n"):
            body += b"\r\n"
        smtp.send(body + b".\r\n")
        smtp.sock.settimeout(self.data_timeout)
        try:
            code, reply = smtp.getreply()
        except (smtplib.SMTPServerDisconnected, OSError) as exc:  # smtplib turns a timeout into a disconnect
            raise DeliveryUnknown(f"no answer from the server within {self.data_timeout} s after the message "
                                  f"was sent ({exc}); it may have been delivered") from exc
        if code != 250:
            smtp.rset()
            raise smtplib.SMTPDataError(code, reply)
        return refused

    def close(self) -> None:
        if self.client is not None:
            try:
                self.client.close()
            except Exception:  # a dropped connection cannot be closed politely
                pass
            self.client = None


def tls_context(ca_file: str = "") -> ssl.SSLContext:
    """A client context that verifies the server's certificate and host name."""
    try:
        return ssl.create_default_context(cafile=ca_file or None)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(key="config.ca_file", path=ca_file, error=exc) from None


def smtp_password(settings: Settings, environ: dict) -> str | None:
    """The SMTP password: from the environment variable named in settings, else the OS keyring; never prompted."""
    return login_password(settings, environ, "email", "coordxl")


def login_password(settings: Settings, environ: dict, section: str, service: str) -> str | None:
    """A login's password (``section``: "email" or "replies"): from the environment variable its
    ``password_env`` names, else the OS keyring under ``service``; never prompted. None without a user."""
    user = settings[f"{section}.user"]
    if not user:
        return None
    name = settings[f"{section}.password_env"]
    if environ.get(name):
        return environ[name]
    try:
        import keyring
        secret = keyring.get_password(service, user)
    except Exception:  # no keyring backend on a server is normal
        secret = None
    if secret:
        return secret
    raise ConfigError(text("config.no_password", settings.lang, env=name, user=user))


def transport_or_outbox(transport: Transport | None, settings: Settings, state_dir: Path, today: dt.date) -> Transport:
    """The transport a job was given, or, for library callers, the outbox when the settings say so; an
    smtp setting without a transport is refused (only the CLI and jobs/ read the password). One rule
    for the daily, weekly and admin mails alike."""
    if transport is not None:
        return transport
    if settings["email.transport"] != "outbox":
        raise ConfigError(key="config.smtp_library")
    return OutboxTransport(Path(state_dir) / "outbox", today)


def make_transport(settings: Settings, state_dir: Path, today: dt.date, environ: dict) -> Transport:
    if settings["email.transport"] == "outbox":
        return OutboxTransport(Path(state_dir) / "outbox", today)
    return SmtpTransport(settings, smtp_password(settings, environ))


# --- delivery: mail through the one seam (delivery.py) ----------------------------------------

CONNECTION_ERRORS = (smtplib.SMTPServerDisconnected, smtplib.SMTPConnectError, ConnectionError, socket.timeout,
                     TimeoutError, OSError)


class MailCourier:
    """Mail as delivery.py carries it: a transport (the outbox or SMTP) and what its errors mean."""

    def __init__(self, transport: Transport, settings: Settings, today: dt.date):
        self.transport, self.settings, self.today = transport, settings, today
        self.name = transport.name
        self.sender = header_safe(settings["email.sender"])

    def open(self) -> None:
        try:
            self.transport.open()
        except smtplib.SMTPAuthenticationError as exc:
            raise Failed(f"authentication failed: {exc.smtp_code}", "courier") from exc
        except ssl.SSLCertVerificationError as exc:
            raise Failed(f"the mail server's certificate was refused ({exc.verify_message}); nothing was sent. "
                         f"If it is signed by your company's CA, set email.ca_file", "courier") from exc
        except ConfigError:
            raise
        except Exception as exc:
            raise Failed(f"cannot connect: {type(exc).__name__}: {exc}", "courier") from exc

    def carry(self, mail: Mail, pending: list[str]) -> dict[str, int]:
        try:
            refused = self.transport.send(mail.message(self.settings, self.today), self.sender, pending) or {}
        except DeliveryUnknown:
            raise
        except smtplib.SMTPRecipientsRefused as exc:
            refused = exc.recipients  # nobody took it
        except (smtplib.SMTPDataError, smtplib.SMTPSenderRefused) as exc:
            raise Failed(f"{type(exc).__name__}: {exc.smtp_code}") from exc
        except CONNECTION_ERRORS as exc:
            raise Failed(f"{type(exc).__name__}: {exc}", "connection") from exc
        except smtplib.SMTPException as exc:  # any other refusal: this mail failed, its claim is released
            raise Failed(f"{type(exc).__name__}: {exc}") from exc
        return {address: code for address, (code, _) in refused.items()}

    def close(self) -> None:
        self.transport.close()


def deliver(mails: Iterable[Mail], transport: Transport, store: Store, settings: Settings, today: dt.date,
            now: dt.datetime, resend: bool = False) -> Delivery:
    """Send each mail once (delivery.deliver): skip what was sent, record after the server accepted,
    keep failures for the next run, at most reminders.max_mails_per_run a run."""
    return delivery.deliver(mails, MailCourier(transport, settings, today), store, today, now, resend=resend,
                            cap=settings["reminders.max_mails_per_run"])
