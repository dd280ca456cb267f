"""Process rules: small functions over a normalized Item that yield Findings.

The list :data:`RULES` is data; a :class:`Selection` picks rules by finding code
(``--only R-NOTICE,R-MINUTES-24H`` / ``--skip R-FOLLOWUP``). Field-level
codes (F-REQUIRED, F-DATE, …) come from :mod:`coordxl.process.model` while values are
normalized, and are filtered by the same selection.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator, Mapping, Protocol

from .. import schema
from ..errors import ConfigError
from ..findings import CODES, Finding, finding
from ..messages import both, text
from ..normalize import source_refs
from ..settings import Settings
from ..state.store import workbook_id
from .calendar import WorkCalendar
from .model import Item
from .roster import Roster, people


class Context(Protocol):
    """What a rule reads of its run, read-only: ``run.context.RunContext`` is one (it also carries the
    folder, the clock, the ledger and the senders, which no rule reads)."""

    @property
    def today(self) -> dt.date: ...

    @property
    def calendar(self) -> WorkCalendar: ...

    @property
    def settings(self) -> Settings: ...

    @property
    def roster(self) -> Roster | None: ...

    @property
    def minutes_mailed(self) -> Mapping[tuple[str, int], dt.datetime]:
        """(workbook id, meeting number) → when coordxl sent the minutes (state.meetings.minutes_mailed)."""
        ...


@dataclass(frozen=True)
class Rule:
    """A rule and what it reads. ``ledger_columns``: the task columns it reads of ``item.tasks`` — every
    task of the item, a central ledger's rows included; such a rule runs where the ledgers are (the
    parent process), on those columns only. A rule reading only ``item.own`` (this workbook's tasks)
    declares none and runs in the workers. tests/test_rules.py checks each declaration against the code.
    ``evidence``: what the retrospective draft says of a rule that was kept (review.py reads it)."""

    name: str
    codes: tuple[str, ...]
    check: Callable[[Item, Context], Iterable[Finding]]
    ledger_columns: tuple[str, ...] = ()
    # what the retrospective shows when the rule was kept: (message key, its values) from the same
    # measure the check compares, or None when there is nothing to measure
    evidence: Callable[[Item, Context], tuple[str, dict] | None] | None = None


def _label(sheet: schema.Sheet, key: str) -> tuple[str, str]:
    f = sheet.field(key)
    return (f.zh, f.en)


def _fmt(value) -> str:
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    return value.isoformat() if value else ""


def date_order(item: Item, ctx: Context) -> Iterator[Finding]:
    checks = [(item.own, schema.TASKS, [("start", "due"), ("start", "done_on")]),
              (item.resources, schema.RESOURCES, [("requested_on", "reviewed_on"), ("requested_on", "approved_on")])]
    for rows, sheet, pairs in checks:
        for early, late in pairs:
            if early not in rows.values or late not in rows.values:
                continue
            for i, (a, b) in enumerate(zip(rows.values[early], rows.values[late])):
                if a and b and b < a:
                    yield finding("F-DATE-ORDER", item.workbook, rows.sheets[i], rows.cell(i, late),
                                  later_field=_label(sheet, late), later=_fmt(b),
                                  earlier_field=_label(sheet, early), earlier=_fmt(a))
    for m in item.meetings:
        start, end = m.form.get("start"), m.form.get("end")
        if start and end and end < start:
            yield finding("F-DATE-ORDER", item.workbook, m.sheet, m.form.cell("end"),
                          later_field=_label(schema.MINUTES, "end"), later=_fmt(end),
                          earlier_field=_label(schema.MINUTES, "start"), earlier=_fmt(start))


def done_date(item: Item, ctx: Context) -> Iterator[Finding]:
    tasks = item.own
    today = ctx.today
    for i, (status, done_on, raw) in enumerate(zip(tasks.column("status"), tasks.column("done_on"),
                                                   tasks.raw_column("done_on"))):
        if status == "done" and not done_on and raw in ("", None):
            yield finding("F-DONE-DATE", item.workbook, tasks.sheets[i], tasks.cell(i, "done_on"))
        elif done_on and status not in (None, "done"):
            yield finding("F-DONE-DATE", item.workbook, tasks.sheets[i], tasks.cell(i, "status"), variant="-STATUS")
        elif done_on and done_on > today:
            yield finding("F-DONE-DATE", item.workbook, tasks.sheets[i], tasks.cell(i, "done_on"), variant="-FUTURE")


def duplicate_ids(item: Item, ctx: Context) -> Iterator[Finding]:
    for rows in (item.own, item.resources):
        ids = rows.column("id")
        distinct = set(ids) - {None}
        if len(distinct) == len(ids) - ids.count(None):
            continue  # no id repeats: the common case costs one set
        seen: dict[str, int] = {}
        for i, key in enumerate(ids):
            if not key:
                continue
            if key in seen:
                yield finding("F-DUPLICATE-ID", item.workbook, rows.sheets[i], rows.cell(i, "id"), value=key,
                              other=rows.cell(seen[key], "id"))
            else:
                seen[key] = i


def _meeting_time(item: Item) -> dt.datetime | None:
    if item.request and item.request.get("planned_meeting"):
        return item.request["planned_meeting"]
    return item.meetings[0].form.get("start") if item.meetings else None


def notice_days(item: Item, ctx: Context) -> int | None:
    """Working days from sending the request form to the meeting; None when a date is missing."""
    if not item.request:
        return None
    sent, meeting = item.request.get("sent_on"), _meeting_time(item)
    return ctx.calendar.count(sent, meeting.date()) if sent and meeting else None


def materials_hours(form) -> int | None:
    """Hours the materials went out before a meeting started."""
    sent, start = form.get("materials_sent"), form.get("start")
    return int((start - sent).total_seconds() // 3600) if sent and start else None


def meeting_minutes(form) -> int | None:
    """A meeting's length in minutes."""
    start, end = form.get("start"), form.get("end")
    return int((end - start).total_seconds() // 60) if start and end else None


def minutes_hours(form, mailed: dt.datetime | None = None) -> int | None:
    """Hours from a meeting's end (its start when no end is given) to the minutes going out: the
    纪要发出时间 written, or when coordxl sent them (``mailed``), whichever was first."""
    end, sent = form.get("end") or form.get("start"), minutes_out(form, mailed)
    return int((sent - end).total_seconds() // 3600) if end and sent else None


def minutes_out(form, mailed: dt.datetime | None = None) -> dt.datetime | None:
    written = form.get("minutes_sent")
    return min((t for t in (written, mailed) if isinstance(t, dt.datetime)), default=None)


def mailed(item: Item, meeting, ctx: Context) -> dt.datetime | None:
    """When coordxl sent this meeting's minutes, if it did."""
    return ctx.minutes_mailed.get((workbook_id(item.workbook), meeting.index))


def notice(item: Item, ctx: Context) -> Iterator[Finding]:
    need = ctx.settings["rules.notice_workdays"]
    days = notice_days(item, ctx)
    if days is not None and days < need:
        yield finding("R-NOTICE", item.workbook, item.request.sheet, item.request.cell("sent_on"),
                      days=max(days, 0), need=need)


def materials(item: Item, ctx: Context) -> Iterator[Finding]:
    need = ctx.settings["rules.materials_days"]
    for m in item.meetings:
        sent, start = m.form.get("materials_sent"), m.form.get("start")
        if sent and start and start - sent < dt.timedelta(days=need):
            yield finding("R-MATERIALS", item.workbook, m.sheet, m.form.cell("materials_sent"),
                          hours=max(0, materials_hours(m.form)), need=need)


def meeting_length(item: Item, ctx: Context) -> Iterator[Finding]:
    limit = ctx.settings["rules.meeting_max_minutes"]
    for m in item.meetings:
        start, end = m.form.get("start"), m.form.get("end")
        if start and end and end > start:
            minutes = meeting_minutes(m.form)
            if minutes > limit:
                yield finding("R-MEETING-LENGTH", item.workbook, m.sheet, m.form.cell("end"),
                              minutes=minutes, limit=limit)


def minutes_24h(item: Item, ctx: Context) -> Iterator[Finding]:
    limit = ctx.settings["rules.minutes_max_hours"]
    for m in item.meetings:
        end = m.form.get("end") or m.form.get("start")
        sent = minutes_out(m.form, mailed(item, m, ctx))
        if end and sent and sent - end > dt.timedelta(hours=limit):
            yield finding("R-MINUTES-24H", item.workbook, m.sheet, m.form.cell("minutes_sent"),
                          hours=minutes_hours(m.form, mailed(item, m, ctx)), limit=limit)


def settled(item: Item, ctx: Context, findings: list[Finding]) -> list[Finding]:
    """The findings without a blank 纪要发出时间 (F-REQUIRED) of minutes coordxl sent: before today
    (its ledger says when), or sends in this run (the meeting held in the last days, every action item
    complete: send/meeting.py's condition)."""
    blank = {(m.sheet, m.form.cell("minutes_sent")) for m in item.meetings
             if mailed(item, m, ctx) is not None or _sent_today(m, ctx.today)}
    if not blank:
        return findings
    return [f for f in findings if not (f.code == "F-REQUIRED" and (f.sheet, f.cell) in blank)]


MINUTES_WINDOW_DAYS = 7  # send/meeting.py sends the minutes of meetings held this many days back at most


def _sent_today(m, today: dt.date) -> bool:
    end = m.form.get("end") or m.form.get("start")
    rows = [row for row in m.actions if row.get("action")]
    return (isinstance(end, dt.datetime) and end.date() <= today <= end.date() + dt.timedelta(days=MINUTES_WINDOW_DAYS)
            and bool(rows) and all(row.raw.get(k) not in ("", None) for row in rows for k in ACTION_NEEDS))


def participants(item: Item, ctx: Context) -> Iterator[Finding]:
    """Each name in 参与部门/人 the roster does not know: that person gets no invitation and no minutes."""
    r = item.request
    if r is None or ctx.roster is None or not ctx.roster.people or not r.get("participants"):
        return
    unknown: list[str] = []
    people(str(r.get("participants")), ctx.roster, unknown)
    f = schema.REQUEST.field("participants")
    for name in unknown:
        close = ctx.roster.suggest(name)
        yield finding("F-PERSON", item.workbook, r.sheet, r.cell("participants"), variant="-INVITE",
                      field=(f.zh, f.en), value=name,
                      hint=both("hint.did_you_mean", name=close) if close else both("hint.check_roster_spelling"))


def _first_meeting(measure: Callable, key: str, name: str) -> Callable:
    """Evidence from the first meeting's minutes: (key, {name: measured}), or None."""
    def evidence(item: Item, ctx: Context):
        value = measure(item.meetings[0].form) if item.meetings else None
        return None if value is None else (key, {name: value})
    return evidence


def _counted(key: str, count: Callable[[Item], int]) -> Callable:
    return lambda item, ctx: (key, {"n": count(item)})


ACTION_NEEDS = ("owner", "due", "standard")  # named by the message table's part.<key>


def _listed(parts: list[str]) -> tuple[str, str]:
    """Parts of a document named in both languages: ('负责人、截止日期', 'owner, deadline')."""
    return "、".join(text(f"part.{p}", "zh") for p in parts), ", ".join(text(f"part.{p}", "en") for p in parts)


def action_incomplete(item: Item, ctx: Context) -> Iterator[Finding]:
    for m in item.meetings:
        for row in m.actions:
            missing = [key for key in ACTION_NEEDS if row.raw.get(key) in ("", None)]
            if missing:
                yield finding("R-ACTION-INCOMPLETE", item.workbook, m.sheet, row.cell(missing[0]),
                              no=row.get("no") or row.row, missing=_listed(missing))


def task_sources(item: Item) -> set[tuple[int, int]]:
    """(meeting number, action number) pairs the tracker's 来源 column refers to: 会议纪要2#3 → (2, 3)."""
    out: set[tuple[int, int]] = set()
    for source in set(item.tasks.column("source")):
        if source:
            out |= source_refs(str(source))
    return out


def breakdown(item: Item, ctx: Context) -> Iterator[Finding]:
    grace = ctx.settings["rules.notice_workdays"]
    covered = task_sources(item)
    for m in item.meetings:
        end = m.form.get("end") or m.form.get("start")
        if not end or ctx.calendar.count(end.date(), ctx.today) < grace:
            continue  # departments get a couple of working days to break the actions down
        for row in m.actions:
            no = row.get("no")
            if isinstance(no, int) and (m.index, no) not in covered:
                source = f"{m.sheet}#{no}"
                yield finding("R-BREAKDOWN", item.workbook, m.sheet, row.cell("action"), no=no,
                              action=row.get("action") or "", source=source)


def _monday(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=day.weekday())


def followup(item: Item, ctx: Context) -> Iterator[Finding]:
    limit = ctx.settings["rules.followup_max_minutes"]
    sheet = item.followups_sheet or schema.FOLLOWUPS.zh
    for row in item.followups:
        start, end = row.get("start"), row.get("end")
        if start and end:
            minutes = (end.hour * 60 + end.minute) - (start.hour * 60 + start.minute)
            if minutes > limit:
                yield finding("R-FOLLOWUP", item.workbook, row.sheet, row.cell("end"), limit=limit,
                              date=_fmt(row.get("date")), minutes=minutes)
    if not item.meetings or item.ledger:
        return
    first = min((m.form.get("start") for m in item.meetings if m.form.get("start")), default=None)
    if first is None:
        return
    until = ctx.today
    if item.status == "closed":
        accepted = item.retro.get("accepted_on") if item.retro else None
        until = min(until, accepted) if accepted else until
    held = {_monday(r.get("date")) for r in item.followups if r.get("date")}
    week = _monday(first.date()) + dt.timedelta(days=7)
    while week + dt.timedelta(days=6) < until:  # only full weeks
        workdays = [week + dt.timedelta(days=i) for i in range(7) if ctx.calendar.is_workday(week + dt.timedelta(days=i))]
        if workdays and week not in held:
            sunday = week + dt.timedelta(days=6)
            yield finding("R-FOLLOWUP", item.workbook, sheet, "A1", variant="-WEEK", limit=limit, week=_fmt(week),
                          sunday=_fmt(sunday))
        week += dt.timedelta(days=7)


def resource_review(item: Item, ctx: Context) -> Iterator[Finding]:
    for row in item.resources:
        if row.get("approval") != "approved":
            continue
        reviewed_on, approved_on = row.get("reviewed_on"), row.get("approved_on")
        if row.get("review") != "passed" or (reviewed_on and approved_on and approved_on < reviewed_on):
            yield finding("R-RESOURCE-REVIEW", item.workbook, row.sheet, row.cell("approval"), id=row.get("id") or row.row)


OPEN = ("not_started", "in_progress", "blocked", "paused")


def close(item: Item, ctx: Context) -> Iterator[Finding]:
    if item.status != "closed":
        return
    cell = item.request.cell("item_status")
    tasks = item.tasks
    open_tasks = [ident or f"#{r}" for ident, r, status in zip(tasks.column("id"), tasks.rownums, tasks.column("status"))
                  if status in OPEN or status is None]
    if open_tasks:
        shown = [str(i) for i in open_tasks[:10]]
        yield finding("R-CLOSE", item.workbook, item.request.sheet, cell, ids=("、".join(shown), ", ".join(shown)))
    if not item.retro or not item.retro.get("acceptance"):
        yield finding("R-CLOSE", item.workbook, item.request.sheet, cell, variant="-ACCEPTANCE")


def retro(item: Item, ctx: Context) -> Iterator[Finding]:
    if item.status != "closed":
        return
    missing = [key for key in ("went_well", "went_wrong") if not item.retro or not item.retro.get(key)]
    if not any(r.get("measure") for r in item.measures):
        missing.append("measures")
    if missing:
        yield finding("R-RETRO", item.workbook, item.retro_sheet or schema.RETRO.zh,
                      item.retro.cell("went_well") if item.retro else "A1",
                      missing=_listed(missing))


def group_channel(item: Item, ctx: Context) -> Iterator[Finding]:
    group = item.group
    if group and group not in ctx.settings.channels:
        known = "、".join(ctx.settings.channels) or "-"
        yield finding("W-CHANNEL", item.workbook, item.request.sheet, item.request.cell("group"), value=group,
                      known=known)


def _actions(item: Item) -> int:
    return sum(len(m.actions) for m in item.meetings)


RULES: tuple[Rule, ...] = (
    Rule("date_order", ("F-DATE-ORDER",), date_order),
    Rule("done_date", ("F-DONE-DATE",), done_date),
    Rule("duplicate_ids", ("F-DUPLICATE-ID",), duplicate_ids),
    Rule("notice", ("R-NOTICE",), notice,
         evidence=lambda item, ctx: None if (d := notice_days(item, ctx)) is None else ("review.ev.notice", {"days": d})),
    Rule("materials", ("R-MATERIALS",), materials, evidence=_first_meeting(materials_hours, "review.ev.materials", "hours")),
    Rule("meeting_length", ("R-MEETING-LENGTH",), meeting_length,
         evidence=_first_meeting(meeting_minutes, "review.ev.length", "minutes")),
    Rule("participants", ("F-PERSON",), participants),
    Rule("minutes_24h", ("R-MINUTES-24H",), minutes_24h, evidence=_first_meeting(minutes_hours, "review.ev.minutes", "hours")),
    Rule("action_incomplete", ("R-ACTION-INCOMPLETE",), action_incomplete, evidence=_counted("review.ev.actions", _actions)),
    Rule("breakdown", ("R-BREAKDOWN",), breakdown, ledger_columns=("source",),
         evidence=_counted("review.ev.actions", _actions)),
    Rule("followup", ("R-FOLLOWUP",), followup, evidence=_counted("review.ev.followups", lambda i: len(i.followups))),
    Rule("resource_review", ("R-RESOURCE-REVIEW",), resource_review,
         evidence=_counted("review.ev.resources", lambda i: len(i.resources))),
    Rule("close", ("R-CLOSE",), close, ledger_columns=("id", "status")),
    Rule("retro", ("R-RETRO",), retro),
    Rule("group_channel", ("W-CHANNEL",), group_channel),
)
RULE_OF: dict[str, Rule] = {code: rule for rule in RULES for code in rule.codes}


@dataclass(frozen=True)
class Selection:
    """Which finding codes a run reports; a code prefix such as ``R-`` or ``F-`` selects a family."""

    only: tuple[str, ...] = ()
    skip: tuple[str, ...] = ()

    @classmethod
    def parse(cls, only: str | None, skip: str | None, lang: str = "zh") -> "Selection":
        def split(value):
            codes = tuple(c.strip().upper() for c in (value or "").split(",") if c.strip())
            for code in codes:
                if not any(k.startswith(code) for k in CODES):
                    raise ConfigError(text("cli.bad_code", lang, code=code, codes=", ".join(CODES)))
            return codes
        return cls(split(only), split(skip))

    def wants(self, code: str) -> bool:
        if not self.only and not self.skip:
            return True
        if self.only and not any(code.startswith(c) for c in self.only):
            return False
        return not any(code.startswith(c) for c in self.skip)


# the rules that need a central ledger's rows, and the task columns they read: derived, never listed by hand
def ledger_rules() -> tuple[str, ...]:
    """The codes of the rules that read a central ledger's rows (derived from RULES, never listed by hand)."""
    return tuple(code for rule in RULES if rule.ledger_columns for code in rule.codes)


def ledger_columns() -> tuple[str, ...]:
    """The task columns those rules read: all a worker sends back of an item's tasks."""
    return tuple(dict.fromkeys(c for rule in RULES for c in rule.ledger_columns))


def run_rules(item: Item, ctx: Context, selection: Selection = Selection()) -> list[Finding]:
    out = []
    for rule in RULES:
        if any(selection.wants(code) for code in rule.codes):
            out.extend(f for f in rule.check(item, ctx) if selection.wants(f.code))
    return out
