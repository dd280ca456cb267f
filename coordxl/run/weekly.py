"""The weekly job (`coordxl weekly`): figures per item and department, lists, week-over-week changes, the
mails and group posts; its workbook is drawn by run.weekly_book.

The report week is the ISO week that just ended when the job runs Monday to
Wednesday, and the current ISO week from Thursday on (so a Monday-morning and
a Friday-afternoon job both report the week people expect, and a rerun a day
later reports the same week). Figures come from the workbooks as they are
now; week-over-week changes (newly done, newly overdue, slipped deadlines)
compare with the daily job's snapshot from a week earlier.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import Counter
from dataclasses import dataclass
from dataclasses import field as dc_field
from pathlib import Path
from typing import NamedTuple

from ..findings import Finding
from ..messages import percent as as_percent
from ..messages import text
from ..process import assess
from ..process.model import Item, key_of
from ..process.rules import Context
from ..send import channels, mail_render, notify
from ..send.audience import Audience, Refusal, Scope
from ..send.delivery import Delivery
from ..send.wiring import Senders
from ..state.layout import Layout, workbook_link
from ..state.store import Store, workbook_id
from . import decisions, parallel
from .context import RunContext
from .job import heap_frozen, job
from .pipeline import FolderCheck, Report
from .weekly_book import kpi_text, week_estimate, write_workbook


def report_week(today: dt.date) -> tuple[dt.date, dt.date]:
    """Monday and Sunday of the week reported: last week when run Monday–Wednesday, else this week."""
    monday = today - dt.timedelta(days=today.weekday())
    if today.weekday() < 3:
        monday -= dt.timedelta(days=7)
    return monday, monday + dt.timedelta(days=6)


def week_label(monday: dt.date) -> str:
    year, week, _ = monday.isocalendar()
    return f"{year}-W{week:02d}"


@dataclass(slots=True)  # one per task the week lists: hundreds of thousands on a big folder
class TaskLine:
    workbook: str
    topic: str
    key_text: str | None  # the task key (model.key_of) where it is not 'id:' + task_id (a task without 编号)
    task_id: str
    task: str
    department: str
    owner: str
    due: dt.date | None
    done_on: dt.date | None
    status: str | None
    state: str
    days: int
    percent: float | None = None  # percent complete, when the tracker says
    note: str = ""  # 进展说明
    updated_on: dt.date | None = None  # 更新日期

    @property
    def key(self) -> str:
        """The task's key in state.db (model.key_of), made when asked: one string less per task line."""
        return f"id:{self.task_id}" if self.key_text is None else self.key_text


class DoneLine(NamedTuple):
    """A task done, as the 8-week on-time trend and the KPIs count it (done_ever: every done task of the
    folder, so only what they read)."""

    workbook: str
    department: str
    due: dt.date | None
    done_on: dt.date


@dataclass
class ItemLine:
    workbook: str
    topic: str
    initiator: str
    status: str
    total: int = 0
    cancelled: int = 0
    done: int = 0
    overdue: int = 0
    due_next_week: int = 0
    pending_resources: int = 0
    last_followup: dt.date | None = None
    open_percents: list = dc_field(default_factory=list)  # each open task's percent complete (None: not given)
    group: str | None = None  # the 跟进群 the 需求单 names

    @property
    def progress(self) -> float | None:
        """Done / (all − cancelled); when every open task gives its percent complete, the average of
        those and 100 % for each done task."""
        base = self.total - self.cancelled
        if not base:
            return None
        if self.open_percents and None not in self.open_percents:
            return (self.done * 100 + sum(self.open_percents)) / base / 100
        return self.done / base


@dataclass
class DeptLine:
    department: str
    states: Counter = dc_field(default_factory=Counter)
    done_week: int = 0
    on_time_week: int = 0
    done_total: int = 0
    on_time_total: int = 0
    late_open_week: int = 0  # open and overdue, fell due this week: late in this week's rate

    @property
    def open(self) -> int:
        return sum(n for s, n in self.states.items() if s not in ("done", "cancelled"))

    @property
    def week_base(self) -> tuple[int, int]:
        """(on time, judged) this week, as decisions.on_time_base counts: an open overdue task is late."""
        return self.on_time_week, self.done_week + self.late_open_week

    @property
    def total_base(self) -> tuple[int, int]:
        return self.on_time_total, self.done_total + self.states["overdue"]


@dataclass
class Weekly:
    today: dt.date
    monday: dt.date
    sunday: dt.date
    items: list[ItemLine] = dc_field(default_factory=list)
    departments: dict[str, DeptLine] = dc_field(default_factory=dict)
    overdue: list[TaskLine] = dc_field(default_factory=list)
    due_next_week: list[TaskLine] = dc_field(default_factory=list)
    done_this_week: list[TaskLine] = dc_field(default_factory=list)
    done_ever: list[DoneLine] = dc_field(default_factory=list)  # for the 8-week on-time trend
    newly_done: list[TaskLine] = dc_field(default_factory=list)
    newly_overdue: list[TaskLine] = dc_field(default_factory=list)
    slipped: list[tuple[TaskLine, dt.date, int]] = dc_field(default_factory=list)  # (task, old due, workdays)
    pending: list[notify.PendingNote] = dc_field(default_factory=list)
    missing_followups: list[tuple[str, str, str]] = dc_field(default_factory=list)  # (workbook, topic, message)
    findings: list[Finding] = dc_field(default_factory=list)
    trend: list[tuple[str, float | None, int | None]] = dc_field(default_factory=list)  # (week, on-time, overdue)
    report: Report | None = None
    path: Path | None = None
    tasks: list[TaskLine] = dc_field(default_factory=list)  # the tasks last week's plan had due this week
    blocked: list[TaskLine] = dc_field(default_factory=list)
    invalid: list[TaskLine] = dc_field(default_factory=list)  # 待修正: a date or owner the job cannot read
    paused: list[TaskLine] = dc_field(default_factory=list)  # 暂停 on purpose
    paused_since: dict = dc_field(default_factory=dict)  # (workbook, key) -> the day a paused task was paused
    snapshots: decisions.Compared = dc_field(default_factory=decisions.Compared)  # what the page compares
    page: object = None  # decisions.Page for every item (the workbook's decision sheet)
    burnup: dict = dc_field(default_factory=dict)  # workbook -> [(week, done, total)] over 8 weeks
    # what the decision pages work out once a week (the task index, the snapshots' facts, scopes)
    cache: dict = dc_field(default_factory=dict, repr=False, compare=False)

    @property
    def label(self) -> str:
        return week_label(self.monday)

    def merge(self, part: "Weekly") -> None:
        """Add what a worker collected (its items, in order) to the week."""
        self.items += part.items
        for name, dept in part.departments.items():
            mine = self.departments.get(name)
            if mine is None:
                self.departments[name] = dept
                continue
            parallel.add_up(mine, dept, ("states", "done_week", "on_time_week", "done_total", "on_time_total",
                                         "late_open_week"))
        parallel.add_up(self, part, ("tasks", "overdue", "due_next_week", "done_this_week", "done_ever", "newly_done",
                                     "newly_overdue", "slipped", "pending", "missing_followups", "blocked", "invalid",
                                     "paused"))

    def task_index(self) -> dict:
        """(workbook, task key) -> TaskLine of the tasks last week's plan had due this week, made once:
        every reader's decision page looks them up (plan vs actual)."""
        if "index" not in self.cache:
            self.cache["index"] = {(x.workbook, x.key): x for x in self.tasks}
        return self.cache["index"]


def _on_time(line: TaskLine) -> bool:
    return decisions.on_time(line.due, line.done_on)


def collect(item: Item, ctx: Context, weekly: Weekly, previous: dict, shared: dict | None = None) -> None:
    """Add one item's figures and lists to the week. ``previous``: its tasks in last week's snapshot,
    task key -> (state, due) (Store.task_states). ``shared``: one object per distinct department, owner
    and date, so the week's task lines (a line per overdue task: tens of thousands) repeat none."""
    next_monday = weekly.sunday + dt.timedelta(days=1)
    next_sunday = next_monday + dt.timedelta(days=6)
    one = (weekly.cache.setdefault("shared", {}) if shared is None else shared).setdefault
    topic = item.topic  # once: an item without a 需求单 names it anew each time asked (a ledger: 30k strings)
    line = ItemLine(item.workbook, topic, item.initiator or "", item.status or "", group=item.group)
    dates = [r.get("date") for r in item.followups if isinstance(r.get("date"), dt.date)]
    line.last_followup = max(dates) if dates else None
    seen = set()
    assessed = assess.assess_item(item, ctx.today, ctx.calendar, ctx.settings)
    rows = assessed.rows  # column by column: a 50,000-row ledger makes no Row objects
    blocked_keys, notes = set(), []  # a line keeps its 进展说明 only where the page says it: a blocked task's
    for r, ident, name, department, owner, due, done, status, percent, note, updated, state in zip(
            rows.rownums, *(rows.column(k) for k in ("id", "task", "department", "owner", "due", "done_on", "status")),
            rows.extra_column("percent"), rows.column("note"), rows.column("updated_on"), assessed.states):
        key = key_of(ident, name, r)
        department, owner = str(department or ""), str(owner or "")
        due = one(due, due) if isinstance(due, dt.date) else None
        done = one(done, done) if isinstance(done, dt.date) else None
        is_blocked = state.state == "blocked" or (status == "blocked" and state.state == "overdue")
        t = TaskLine(item.workbook, topic, None if ident else key, str(ident or ""), str(name or ""), one(department, department),
                     one(owner, owner), due, done, status, state.state, state.days, percent,
                     str(note or "") if is_blocked else "",
                     updated if state.state == "paused" and isinstance(updated, dt.date) else None)
        if is_blocked:
            weekly.blocked.append(t)  # blocked, overdue or not: the reason is what a director acts on
            blocked_keys.add(key)
        elif state.state == "invalid":
            weekly.invalid.append(t)
        elif state.state == "paused":
            weekly.paused.append(t)
        if state.state == "overdue" and not is_blocked and note not in (None, ""):
            notes.append((t, note))  # its note is said only if a blocked task has its key (a repeated 编号)
        line.total += 1
        if state.state not in ("done", "cancelled"):
            line.open_percents.append(t.percent)
        line.cancelled += state.state == "cancelled"
        line.done += state.state == "done"
        line.overdue += state.state == "overdue"
        dept = weekly.departments.get(t.department or "-")
        if dept is None:
            dept = weekly.departments[t.department or "-"] = DeptLine(t.department or "-")
        dept.states[state.state] += 1
        if state.state == "overdue":
            weekly.overdue.append(t)
            dept.late_open_week += bool(t.due and weekly.monday <= t.due <= weekly.sunday)
        if t.state not in ("done", "cancelled") and t.due and next_monday <= t.due <= next_sunday:
            weekly.due_next_week.append(t)
            line.due_next_week += 1
        if t.state == "done" and t.done_on:
            weekly.done_ever.append(DoneLine(t.workbook, t.department, t.due, t.done_on))
            dept.done_total += 1
            dept.on_time_total += _on_time(t)
            if weekly.monday <= t.done_on <= weekly.sunday:
                weekly.done_this_week.append(t)
                dept.done_week += 1
                dept.on_time_week += _on_time(t)
        before = previous.get(key)
        if before is not None:
            _since_last_week(t, before, key not in seen, weekly, ctx)
        seen.add(key)
    for t, note in notes:
        if t.key in blocked_keys:
            t.note = str(note)
    for p in assess.pending_resources(item, ctx.today, ctx.calendar, ctx.settings):
        line.pending_resources += 1
        weekly.pending.append(notify.PendingNote(item.workbook, str(item.path), item.topic, str(p.row.get("id") or ""),
                                                 p.step, p.waiting, p.days, str(p.row.get("purpose") or "")))
    if item.meetings and item.status != "closed" and not any(weekly.monday <= d <= weekly.sunday for d in dates):
        weekly.missing_followups.append((item.workbook, item.topic, text("weekly.no_followup", ctx.settings.lang,
                                                                         start=weekly.monday.isoformat(),
                                                                         end=weekly.sunday.isoformat())))
    weekly.items.append(line)


def _since_last_week(t: TaskLine, before: tuple[str, str | None], first: bool, weekly: Weekly, ctx: Context) -> None:
    """A task against last week's snapshot of it, ``before`` (state, due): in last week's plan for this
    week, newly done, newly overdue, its deadline moved later. ``first``: the first task of its key."""
    if before[1] and before[0] not in ("done", "cancelled") and (
            weekly.monday <= dt.date.fromisoformat(before[1]) <= weekly.sunday):
        weekly.tasks.append(t)  # in last week's plan for this week (Store.planned): plan vs actual
    if first:
        was, due_was = before
        if t.state == "done" and was != "done":
            weekly.newly_done.append(t)
        if t.state == "overdue" and was != "overdue":
            weekly.newly_overdue.append(t)
        old_due = dt.date.fromisoformat(due_was) if due_was else None
        if old_due and t.due and t.due > old_due:
            weekly.slipped.append((t, old_due, ctx.calendar.count(old_due, t.due)))


@dataclass
class WeekWork:
    """The weekly's work on one item in a check worker (pipeline.FolderCheck's ``work``): its figures
    and lists, collected into a Weekly of its own for this process to merge."""

    monday: dt.date
    sunday: dt.date
    previous: str | None  # the day of last week's snapshot (Store.snapshot_day), None without one
    store: Store | None = None  # the worker's own connection, opened with its first item
    shared: dict = dc_field(default_factory=dict)  # collect's distinct values, over the worker's items

    def __getstate__(self) -> dict:  # spawned workers get no connection; they open their own
        return {**self.__dict__, "store": None, "shared": {}}

    def __call__(self, item: Item, layout: Layout, ctx: Context) -> Weekly:
        if self.store is None and self.previous is not None:
            self.store = layout.open_store(existing=True)
        part = Weekly(ctx.today, self.monday, self.sunday)
        collect(item, ctx, part, last_week(self.store, self.previous, item), self.shared)
        return part


def last_week(store: Store | None, day: str | None, item: Item) -> dict:
    """An item's tasks in last week's snapshot (task key -> (state, due)): read from state.db item by
    item, so no process holds the whole snapshot."""
    return store.task_states(day, item.workbook) if store is not None and day is not None else {}


def trend(store: Store | None, weekly: Weekly) -> None:
    """On-time completion rate per week (decisions.on_time_base: 完成日期 vs 截止日期, an open overdue task
    late in the week it fell due) and overdue count (from snapshots), 8 weeks."""
    for back in range(7, -1, -1):
        monday = weekly.monday - dt.timedelta(weeks=back)
        sunday = monday + dt.timedelta(days=6)
        rate = decisions.share(decisions.on_time_base(weekly.done_ever, weekly.overdue, monday, sunday))
        if back == 0:
            overdue = len(weekly.overdue)
        else:
            overdue = store.overdue_in_week(monday, sunday) if store is not None else None
        weekly.trend.append((week_label(monday), rate, overdue))


def burnup(store: Store | None, weekly: Weekly) -> None:
    """Per item, 8 weeks of (week, done, total − cancelled) from the snapshot at each week's end; a week
    without a run (a holiday week) repeats the week before, so the line stays flat."""
    weeks = [weekly.monday - dt.timedelta(weeks=back) for back in range(7, -1, -1)]
    per_week = []
    for monday in weeks[:-1]:
        per_week.append(store.done_and_total(monday + dt.timedelta(days=6)) if store is not None else {})
    current = {workbook_id(i.workbook): [i.done, i.total - i.cancelled] for i in weekly.items}
    per_week.append(current)
    for item in weekly.items:
        series = []
        ident = workbook_id(item.workbook)
        for monday, counts in zip(weeks, per_week):
            done, total = counts.get(ident, series[-1][1:] if series else [0, 0])
            series.append((week_label(monday), done, total))
        weekly.burnup[item.workbook] = series


def build(ctx: RunContext) -> Weekly:
    """Read the folder and compute the week's figures (writes nothing)."""
    layout, today = ctx.layout, ctx.today
    monday, sunday = report_week(today)
    weekly = Weekly(today, monday, sunday)
    store = layout.open_store(existing=True)
    previous = store.snapshot_day(sunday - dt.timedelta(days=7)) if store else None

    # on a folder big enough for check's workers, each worker collects the items it read
    checking = FolderCheck(RunContext.of(layout, today), work=WeekWork(monday, sunday, previous))
    for item, part in checking:
        if part is None:  # read in this process
            collect(item, checking.ctx, weekly, last_week(store, previous, item))
        else:
            weekly.merge(part)
    weekly.report = checking.report
    weekly.findings = [f for f in weekly.report.findings if f.is_error]
    with heap_frozen():
        _figures(weekly, store, previous, layout, today)
    return weekly


def compare_snapshots(store: Store, weekly: Weekly, previous: str | None, today: dt.date) -> decisions.Compared:
    """What the decision pages read of this week's, last week's and the week before's snapshots, compared
    in state.db; each workbook of this week's items named as they show it (state.db keeps identities),
    so the pages compare the rows with the week's tasks and scopes."""
    out = decisions.Compared()
    if previous is None:
        return out
    names = {workbook_id(i.workbook): i.workbook for i in weekly.items}

    def task(workbook: str, key: str, department: str) -> decisions.SnapTask:
        return decisions.SnapTask(names.get(workbook, workbook), key, department)

    def changes(new: str, old: str) -> list:
        return [(task(w, k, d), newly, moved) for w, k, d, newly, moved in store.compared(new, old)]

    now = store.snapshot_day(min(weekly.sunday, today))
    before = store.snapshot_day(weekly.sunday - dt.timedelta(days=14))
    out.has_prev = True
    out.changes_now = changes(now, previous)
    out.changes_last = changes(previous, before) if before is not None else None
    out.overdue_prev = [task(*row) for row in store.in_state(previous, "overdue")]
    out.invalid_prev = {(names.get(w, w), k) for w, k, _ in store.in_state(previous, "invalid")}
    out.planned = [(task(w, k, d), dt.date.fromisoformat(due))
                   for w, k, d, due in store.planned(previous, weekly.monday, weekly.sunday)]
    return out


def _figures(weekly: Weekly, store: Store | None, previous: str | None, layout: Layout, today: dt.date) -> None:
    """The week's trend, snapshots, burn-up and decision page, once every item is collected."""
    trend(store, weekly)
    if store is not None:
        weekly.snapshots = compare_snapshots(store, weekly, previous, today)
    burnup(store, weekly)
    weekly.paused_since = paused_since(store, weekly.paused)
    weekly.overdue.sort(key=lambda t: (-t.days, t.workbook, t.task_id))
    weekly.due_next_week.sort(key=lambda t: (t.due, t.workbook, t.task_id))
    weekly.done_this_week.sort(key=lambda t: (t.done_on, t.workbook, t.task_id))
    # after the sorts: the page lists the longest overdue first, as every reader's mail does
    weekly.page = decisions.page(weekly, layout.settings, Scope(everything=True), weekly.snapshots)


def paused_since(store: Store | None, paused: list[TaskLine]) -> dict:
    """(workbook, key) -> the day each paused task was paused: the first daily snapshot of its pause when
    state.db saw it before (and the 更新日期 when that is earlier and no snapshot shows it unpaused),
    else its 更新日期; a task with neither is left out (shown without a duration)."""
    out = {}
    for t in paused:
        seen, exact = store.paused_since(t.workbook, t.key) if store is not None else (None, False)
        candidates = [seen] if exact else [d for d in (seen, t.updated_on) if d]
        if candidates:
            out[(t.workbook, t.key)] = min(candidates)
    return out


# --- the mails -----------------------------------------------------------------------------

MAIL_LIST_MAX = 15  # lines per list in the weekly mail (read on a phone); the workbook has them all


def weekly_mails(weekly: Weekly, layout: Layout, roster) -> tuple[list[notify.Mail], list[Refusal]]:
    """Each initiator (their items), each department head (their department), the management list (all),
    each by roster key (audience.weekly_readers)."""
    settings = layout.settings
    lang = settings.lang
    audience = Audience(roster, settings)
    readers = audience.weekly_readers([(i.workbook, i.initiator) for i in weekly.items if i.initiator],
                                      list(weekly.departments), settings["reminders.management"])
    mails = []
    attached = (notify.Attachment(weekly.path),) if weekly.path else ()  # encoded once for every reader's mail
    for reader in readers:
        scope = reader.scope
        # the items most behind first: a long list is cut in the mail, never in the workbook
        items = sorted((i for i in weekly.items if scope.item(i)), key=lambda i: -i.overdue)
        depts = [d for d in weekly.departments.values() if scope.everything or d.department in scope.departments]
        t = lambda key, **kw: text(key, lang, **kw)  # noqa: E731

        # the tasks this reader answers for: in an item they started, or in the department they head
        overdue = decisions.in_scope(weekly, "overdue", scope)
        figures = dict(done=len(decisions.in_scope(weekly, "done_this_week", scope)), overdue=len(overdue),
                       next=len(decisions.in_scope(weekly, "due_next_week", scope)))

        def bodies(reader=reader, t=t, items=items, depts=depts, overdue=overdue, figures=figures, scope=scope
                   ) -> tuple[str, str]:
            """The mail's text and HTML, made when it is sent (a rerun in the week sends nothing again)."""
            # everyone's figures: the workbook's decision sheet has that page already
            page = (weekly.page if scope.everything and weekly.page is not None else
                    decisions.page(weekly, settings, scope, weekly.snapshots))
            share = settings["general.share_url"]

            def topic_link(workbook: str, topic: str):
                return mail_render.linked(workbook_link(share, workbook)[0], topic)

            context = dict(trend=weekly.trend if scope.everything else [],  # the whole-folder trend, for management only
                           page=page, kpi_value=lambda k: kpi_text(k.value, k.percent, k.base, lang),
                           kpi_last=lambda k: kpi_text(k.last, k.percent, k.last_base, lang),
                           has_prev=weekly.snapshots.has_prev,
                           pct=as_percent, topic_link=topic_link, where=lambda wb: workbook_link(share, wb)[1],
                           t=t, lang=lang, person=reader.person, weekly=weekly, items=items, depts=depts,
                           share=decisions.share, figures=figures, overdue=overdue, shown=MAIL_LIST_MAX,
                           next_week=[(dept, x) for dept, tasks in sorted(page.next_week.items()) for x in tasks],
                           why=("；" if lang == "zh" else "; ").join(t(f"weekly.why.{r}") for r in sorted(reader.reasons)),
                           estimate=week_estimate(weekly, settings, overdue))
            return mail_render.render("weekly", context, lang)

        # one summary per person per ISO week, even if the figures moved since it was sent
        key = hashlib.sha256(f"{reader.person.email.lower()}|weekly|{weekly.label}".encode()).hexdigest()
        subject = t("weekly.subject", week=weekly.label, overdue=figures["overdue"])
        mails.append(notify.Mail(key, "weekly", reader.person, [], subject, "", "", sorted(reader.reasons),
                                 tuple(i.workbook for i in items), attached,
                                 renderer=bodies))
    return mails, audience.refused


@dataclass
class WeeklyResult:
    weekly: Weekly | None = None
    mails: list[notify.Mail] = dc_field(default_factory=list)
    delivery: Delivery | None = None
    post_delivery: Delivery | None = None  # the group posts, when groups are set up

    def counts(self) -> dict:
        """What the run record keeps."""
        weekly, delivery = self.weekly, self.delivery
        return {"week": weekly.label if weekly else "", "items": len(weekly.items) if weekly else 0,
                "mails_sent": len(delivery.sent) if delivery else 0,
                "mails_failed": len(delivery.failed) if delivery else 0}


def run_weekly(root: Path | str, today: dt.date, now: dt.datetime, layout: Layout | None = None,
               transport: notify.Transport | None = None, resend: bool = False,
               posters: dict | None = None) -> WeeklyResult:
    """The weekly job as of ``today``, for library callers (tests, benchmarks): :func:`week_job`, with the
    senders given (none: the outbox, where the settings say so)."""
    return week_job(RunContext.of(layout or Layout.of(root), today, now, resend=resend,
                                  senders=Senders(transport, posters)))


def week_job(ctx: RunContext) -> WeeklyResult:
    """Write the weekly summary workbook and mail it; the mails (and group posts) go once per ISO week. In
    its frame (run.job: the lock, the run record)."""
    with job("weekly", ctx) as run:
        ctx = run.ctx
        result = WeeklyResult()
        run.counts = result.counts
        result.weekly = build(ctx)
        with run.frozen():  # the week's tasks stay put while the workbook, pages and mails are made
            write_workbook(result.weekly, ctx.layout)
            send_mails(ctx, result)
            send_posts(ctx, result)
        run.outcome = "ok" if not result.delivery.failed else "failed_sends"
    return result


def send_mails(ctx: RunContext, result: WeeklyResult) -> None:
    """Each reader's mail (weekly_mails), sent once per ISO week."""
    settings = ctx.settings
    result.mails, refused = weekly_mails(result.weekly, ctx.layout, result.weekly.report.roster)
    transport = ctx.senders.mail(settings, ctx.layout.state, ctx.today)
    result.delivery = notify.deliver(result.mails, transport, ctx.store, settings, ctx.today, ctx.now,
                                     resend=ctx.resend)
    result.delivery.refused = refused


def send_posts(ctx: RunContext, result: WeeklyResult) -> None:
    """The weekly post of each chat group that asks for one (week_posts), once per ISO week."""
    settings = ctx.settings
    posts = week_posts(result.weekly, settings)
    if posts:
        result.post_delivery = channels.deliver_posts(posts, ctx.senders.chat(settings, ctx.layout.state, ctx.today),
                                                      ctx.store, ctx.today, ctx.now, ctx.resend,
                                                      cap=settings["reminders.max_mails_per_run"])


def week_posts(weekly: Weekly, settings) -> list:
    """The weekly post of each group with weekly = true: its items' figures (a management group: all)."""

    posts = []
    for channel in settings.channels.values():
        if not channel.weekly or channel.admin:
            continue
        items = [i for i in weekly.items if channel.management
                 or channels.serves(channel, i.workbook, i.topic, i.group)]
        post = channels.weekly_post(channel, items, weekly.label, settings, weekly.today)
        if post is not None:
            post.day = weekly.monday  # once per ISO week
            posts.append(post.seal())
    return posts
