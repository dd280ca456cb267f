"""The daily job: one pass over the folder (validate → assess → write the 预警 flags), then one digest
per person, one post per chat group and the administrator's health list, each sent once.

It reads as its steps (:func:`daily`): get ready, the pass with the flags, remind, post, tell the
administrators, keep the history; each step takes the run's context, the run's result and at most one
more thing. Each workbook is flagged (run.flags) as soon as it has been read and validated, so a run's
memory does not grow with the folder and one bad workbook never stops the rest. On a folder big enough
for check's worker processes (run.parallel), each worker does the whole per-workbook part (validate,
assess, snapshot, write the flags, gather what needs reminding) and this process only merges, then
builds and sends the mail.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections import Counter
from dataclasses import dataclass
from dataclasses import field as dc_field
from pathlib import Path

from ..findings import Finding, sort_key
from ..process import assess
from ..process.model import Item
from ..process.rules import Context, task_sources
from ..send import channels, health, meeting, notify
from ..send.delivery import Delivery
from ..send.digests import presort
from ..send.wiring import Senders
from ..state.layout import Layout
from ..state.store import Store
from . import objections, parallel, replies
from .context import RunContext
from .flags import Flagger, PlannedFlag
from .job import job
from .pipeline import FolderCheck, Report

log = logging.getLogger(__name__)


@dataclass
class DailyResult:
    today: dt.date
    dry_run: bool
    report: Report | None = None
    states: Counter = dc_field(default_factory=Counter)
    untracked_actions: Counter = dc_field(default_factory=Counter)  # action items with no task, by state
    planned: list[PlannedFlag] = dc_field(default_factory=list)
    written: list[str] = dc_field(default_factory=list)  # workbooks written
    cells_written: int = 0
    skipped: list[tuple[str, str]] = dc_field(default_factory=list)  # (workbook, reason)
    findings: list[Finding] = dc_field(default_factory=list)  # check's and the writer's
    pending_resources: int = 0
    mails: list = dc_field(default_factory=list)  # rendered digests
    delivery: Delivery | None = None
    quiet_day: bool = False  # a non-working day: nobody reminded, posted to or told (RunContext.quiet_day)
    reassign: list = dc_field(default_factory=list)  # open tasks of colleagues who left
    health: list = dc_field(default_factory=list)  # what the administrator should know (health.Issue)
    posts: list = dc_field(default_factory=list)  # to the chat groups (channels.Post)
    post_delivery: Delivery | None = None  # the group posts
    admin_delivery: Delivery | None = None
    meetings: list = dc_field(default_factory=list)  # what the meeting mails need of each item (meeting.MeetingNote)

    def merge(self, part: "DailyResult") -> None:
        """Add what a worker did on its workbooks (the flag half of a run) to this run's result."""
        parallel.add_up(self, part, ("states", "untracked_actions", "planned", "written", "cells_written", "skipped",
                                     "findings", "pending_resources", "meetings"))

    @property
    def mail_note(self) -> str:
        """Why no mail was sent, when none was (the CLI's --json and its lines say it)."""
        return "non_workday" if self.quiet_day else ""

    @property
    def failed_sends(self) -> int:
        return len(self.delivery.failed) if self.delivery else 0

    @property
    def errors(self) -> int:
        return sum(1 for f in self.findings if f.is_error)

    def counts(self) -> dict:
        return {
            "items": self.report.item_count if self.report else 0,
            "tasks": sum(self.states.values()),
            "states": dict(self.states),
            "untracked_actions": dict(self.untracked_actions),
            "flags_changed": len(self.planned),
            "workbooks_written": len(self.written),
            "cells_written": self.cells_written,
            "skipped": len(self.skipped),
            "pending_resources": self.pending_resources,
            "errors": self.errors,
            "warnings": len(self.findings) - self.errors,
            "mails": len(self.mails),
            "mails_sent": len(self.delivery.sent) if self.delivery else 0,
            "mails_skipped": len(self.delivery.skipped) if self.delivery else 0,
            "mails_failed": self.failed_sends,
            "mails_held": len(self.delivery.held) if self.delivery else 0,
            "mails_unknown": len(self.delivery.unknown) if self.delivery else 0,
            "posts": len(self.posts),
            "posts_sent": len(self.post_delivery.sent) if self.post_delivery else 0,
            "posts_failed": len(self.post_delivery.failed) if self.post_delivery else 0,
            "skipped_workbooks": dict(self.skipped),
            "health": [i.to_json("zh") for i in self.health if i.kind not in health.FROM_LEDGERS],
        }


def untracked_actions(item: Item, ctx: Context) -> Counter:
    """Open action items of the minutes that no task names in 来源, by state."""
    covered = task_sources(item)
    out = Counter()
    for m in item.meetings:
        for row in m.actions:
            if isinstance(row.get("no"), int) and (m.index, row["no"]) not in covered:
                out[assess.assess_task(row, ctx.today, ctx.calendar, ctx.settings).state] += 1
    return out


def run_daily(root: Path | str, today: dt.date, now: dt.datetime, dry_run: bool = False,
              layout: Layout | None = None, hook=None, transport: notify.Transport | None = None,
              resend: bool = False, posters: dict | None = None) -> DailyResult:
    """One run of the daily job as of ``today``, for library callers (tests, benchmarks): :func:`daily`.

    ``now`` stamps the run log, backups and mail log. ``transport`` sends the mails; without one the
    outbox is used when the settings say so (an smtp transport needs its password, which only the
    CLI and the scheduler read, send.wiring.wire). ``posters``: one per chat channel; without them,
    channels whose transport is the outbox still get their posts.
    """
    ctx = RunContext.of(layout or Layout.of(root), today, now, dry_run=dry_run, resend=resend,
                        senders=Senders(transport, posters))
    return daily(ctx, hook)


def daily(ctx: RunContext, hook=None) -> DailyResult:
    """One run of the daily job in its frame (run.job: the lock, the run record; a dry run writes and sends
    nothing). ``hook``: a test's, watching each flag write."""
    with job("daily", ctx) as run:
        ctx = run.ctx
        result = DailyResult(ctx.today, ctx.dry_run, quiet_day=ctx.quiet_day)
        run.counts = result.counts
        get_ready(ctx, result)
        ctx, notes = check_and_flag(ctx, result, hook)
        with run.frozen():
            remind(ctx, result, notes)
            post(ctx, result, notes)
            tell_admins(ctx, result, run.run_id)
        keep_history(ctx, result)
        run.outcome = "ok" if result.errors == 0 and not result.failed_sends else "findings"
    return result


def get_ready(ctx: RunContext, result: DailyResult) -> None:
    """Before the pass: temp files a killed run left are removed; replies staged since are written."""
    if not ctx.dry_run:
        remove_stale_temps(ctx.layout)
    if ctx.store is not None and ctx.settings["replies.enabled"]:  # replies still waiting to be written
        replies.apply_staged(ctx.store, ctx.layout, ctx.today, ctx.now)


def check_and_flag(ctx: RunContext, result: DailyResult, hook=None) -> tuple[RunContext, notify.Collector]:
    """The pass (pipeline.FolderCheck) with the flags written item by item (run.flags); returns the context
    with the folder's roster and what needs reminding (the mail collector's notes)."""
    collector = notify.Collector(ctx.settings)
    flags = Flagger(ctx, result, hook)
    # a test's hook watches each write: then every workbook is done here
    checking = FolderCheck(ctx, work=ItemWork(ctx.now, ctx.dry_run), workers=1 if hook else None)
    try:
        for item, done in checking:
            # action items no task names: the ledgers' tasks count, so this is done here
            result.untracked_actions.update(untracked_actions(item, checking.ctx))
            if done is None:  # validated in this process
                work_on(item, checking.ctx, flags, collector)
            else:
                result.merge(done[0])
                collector.merge(done[1])
    finally:
        flags.finish()  # every write handed over is waited for and recorded, even when the pass failed
    result.report = checking.report
    result.findings = sorted(result.report.findings + result.findings, key=sort_key)
    result.reassign = collector.reassign
    return checking.ctx, collector


def work_on(item: Item, ctx: Context, flags: "Flagger", collector: notify.Collector) -> None:
    """One item's part of the daily run: assess its tasks, snapshot and flag them, note what needs reminding."""
    try:
        assessed = assess.assess_item(item, ctx.today, ctx.calendar, ctx.settings)
        flags.flag(item, ctx, assessed)
        collector.add(item, ctx, assessed)
        if (note := meeting.note_of(item, ctx)) is not None:
            flags.result.meetings.append(note)
    finally:
        item.tasks_rows = None  # the raw cells were only needed to find the flag column


@dataclass
class ItemWork:
    """A daily run's work on one item in a check worker (pipeline.FolderCheck's ``work``): assess,
    snapshot, plan and write its flags, gather what needs reminding. It returns (the run's result
    for this item, its reminder notes) for this process to merge."""

    now: dt.datetime
    dry_run: bool
    store: Store | None = None  # the worker's own connection, opened with its first item

    def __getstate__(self) -> dict:  # spawned workers get no connection; they open their own
        return {**self.__dict__, "store": None}

    def __call__(self, item: Item, layout: Layout, ctx: RunContext) -> tuple[DailyResult, tuple]:
        if self.store is None and not self.dry_run:
            self.store = layout.open_store()
        result = DailyResult(ctx.today, self.dry_run)
        collector = notify.Collector(layout.settings)
        # a worker writes its own flags
        flags = Flagger(dataclasses.replace(ctx, store=self.store, now=self.now), result, writer=False)
        try:
            work_on(item, ctx, flags, collector)
        finally:
            flags.finish()
        return result, presort(collector, ctx)  # the item's reminders sorted into digests here, in the worker


def remind(ctx: RunContext, result: DailyResult, notes: notify.Collector) -> None:
    """The reminder half: one digest per person; sent once; nothing on non-working days."""
    if ctx.quiet_day:
        return
    settings, store, today, now = ctx.settings, ctx.store, ctx.today, ctx.now
    digests, refused = notify.build_digests(notes, result.findings, ctx.roster, settings, today)
    if settings["replies.enabled"]:  # tasks their owner snoozed by reply
        digests = replies.without_snoozed(digests, store, today)
    digests = objections.with_objections(digests, objections.open_objections(store, settings, today), ctx.roster,
                                         settings, today)
    result.mails = [notify.render(d, today, settings, notes.items) for d in digests]
    if not ctx.dry_run:  # update by reply: each digest's token, issued as it is rendered
        replies.arm_digests(result.mails, digests, store, settings, today, now, notes.items)
    result.mails = meeting.with_deadlines(result.mails, digests, store, settings, today, now)
    # the meeting stage: invitations, their updates and cancels, the minutes (coordxl/send/meeting.py)
    sent_for_meetings, not_mailed = meeting.mails(result.meetings, ctx.roster, settings, today, now, store)
    if not ctx.dry_run:  # a reply to the minutes is an objection for the initiator (replies.py, objections.py)
        replies.arm_minutes(sent_for_meetings, store, settings, today, now)
    result.mails += sent_for_meetings
    refused = refused + [r for r in not_mailed if r.name not in {n.name for n in refused}]
    if ctx.dry_run:
        result.delivery = Delivery(refused=refused)
        return
    transport = ctx.senders.mail(settings, ctx.layout.state, today)
    result.delivery = notify.deliver(result.mails, transport, store, settings, today, now, resend=ctx.resend)
    result.delivery.refused = refused


def post(ctx: RunContext, result: DailyResult, notes: notify.Collector) -> None:
    """One post per item and chat group (channels), exactly once like mail; none on non-working days."""
    settings, store = ctx.settings, ctx.store
    if not settings.channels or ctx.quiet_day:
        return
    result.posts = channels.group_posts(notes, result.findings, ctx.roster, settings, store, ctx.today)
    if ctx.dry_run or store is None or not result.posts:
        return
    posters = ctx.senders.chat(settings, ctx.layout.state, ctx.today)
    result.post_delivery = channels.deliver_posts(result.posts, posters, store, ctx.today, ctx.now, ctx.resend,
                                                  cap=settings["reminders.max_mails_per_run"])


def tell_admins(ctx: RunContext, result: DailyResult, run_id: int | None) -> None:
    """The health list of this run (kept with it), mailed once a day to reminders.admins when not empty."""
    settings, store, today, now = ctx.settings, ctx.store, ctx.today, ctx.now
    people, unknown = health.admins(settings, ctx.roster)
    issues = health.from_run(result, store, settings, today) + unknown
    if store is not None:
        issues += health.from_ledgers(store, settings, today, run_id)
    result.health = health.ordered(issues)
    if ctx.dry_run or store is None or not result.health or ctx.quiet_day:
        return
    admin_groups = [c for c in settings.channels.values() if c.admin]
    if admin_groups:
        posts = [p for p in (channels.health_post(c, result.health, settings, today) for c in admin_groups) if p]
        try:
            channels.deliver_posts(posts, ctx.senders.chat(settings, ctx.layout.state, today), store, today, now)
        except Exception:  # the health list must never stop the run
            log.exception("posting the health list failed")
    if not people:
        return
    mails = health.admin_mails(result.health, people, settings, today)
    transport = ctx.senders.mail(settings, ctx.layout.state, today)
    result.admin_delivery = notify.deliver(mails, transport, store, settings, today, now)


def keep_history(ctx: RunContext, result: DailyResult) -> None:
    """The daily snapshots kept for the weeks the settings say (the weekly compares them)."""
    if ctx.store is not None:
        ctx.store.prune_snapshots(ctx.today, ctx.settings["state.keep_daily_weeks"], ctx.settings["state.keep_weeks"])


def remove_stale_temps(layout: Layout) -> None:
    """Temp files a killed run left beside workbooks (.~coordxl-*.tmp): never staff files, safe to remove."""
    if layout.active.is_dir():
        for tmp in layout.active.rglob(".~coordxl-*.tmp"):
            try:
                tmp.unlink()
            except OSError:
                log.warning("could not remove %s", tmp)

