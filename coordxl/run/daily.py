"""The daily job: one pass over the folder (validate → assess → write the 预警 flags), then one digest
per person, one post per chat group and the administrator's health list, each sent once.

Each workbook is flagged as soon as it has been read and validated, so a run's
memory does not grow with the folder and one bad workbook never stops the rest.
On a folder big enough for check's worker processes, each worker does the whole
per-workbook part (validate, assess, snapshot, write the flags, gather what needs
reminding) and this process only merges, then builds and sends the mail.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from dataclasses import field as dc_field
from pathlib import Path

from ..errors import environment_fault
from ..findings import Finding, finding, sort_key
from ..messages import both, text
from ..platform_support import process_context
from ..process import assess
from ..process.calendar import WorkCalendar
from ..process.model import Item, key_of
from ..process.rules import Context, task_sources
from ..send import channels, health, meeting, notify
from ..send.delivery import Delivery
from ..send.digests import presort
from ..settings import Settings
from ..state.layout import Layout
from ..state.lock import heartbeats_paused, job_lock
from ..state.runlog import FILE_ONLY
from ..state.store import Store
from ..xlsx.writer import FlagWrite, write_flags
from ..xlsx.xlsxparts import col_letters
from . import replies
from .pipeline import FolderCheck, Report, heap_frozen

log = logging.getLogger(__name__)


@dataclass(slots=True)  # one per flag cell changed: every task row of a folder on a first run
class PlannedFlag:
    workbook: str
    sheet: str
    cell: str
    old: str
    new: str


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
    mail_note: str = ""  # why no mail was sent, when none was
    reassign: list = dc_field(default_factory=list)  # open tasks of colleagues who left
    health: list = dc_field(default_factory=list)  # what the administrator should know (health.Issue)
    posts: list = dc_field(default_factory=list)  # to the chat groups (channels.Post)
    posters: dict | None = None  # how posts go out this run
    post_delivery: Delivery | None = None  # the group posts
    admin_delivery: Delivery | None = None
    meetings: list = dc_field(default_factory=list)  # what the meeting mails need of each item (meeting.MeetingNote)

    def merge(self, part: "DailyResult") -> None:
        """Add what a worker did on its workbooks (the flag half of a run) to this run's result."""
        self.states.update(part.states)
        self.untracked_actions.update(part.untracked_actions)
        self.planned += part.planned
        self.written += part.written
        self.cells_written += part.cells_written
        self.skipped += part.skipped
        self.findings += part.findings
        self.pending_resources += part.pending_resources
        self.meetings += part.meetings

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


def desired_flags(assessed: assess.Assessed, lang: str, settings: Settings) -> tuple[dict[int, str], dict[int, str], Counter]:
    """(row → wanted flag text, row → current text, states) for the item's own tracker rows: the state,
    tier and date (:meth:`assess.TaskState.mark`), or with ``flags.count_days`` the state and its count."""
    counting = settings["flags.count_days"]
    texts: dict[assess.TaskState, str] = {}  # a few distinct states among thousands of rows
    wanted, current = {}, {}
    for r, state, raw in zip(assessed.rows.rownums, assessed.states, assessed.rows.raw_column("flag")):
        flag = texts.get(state)
        if flag is None:
            flag = texts[state] = state.flag(lang) if counting else state.mark(lang, settings)
        wanted[r] = flag
        current[r] = "" if raw in (None, "") else str(raw).strip()
    return wanted, current, Counter(state.state for state in assessed.states)


def free_column(rows: list[list] | None, width: int) -> int | None:
    """The first column right of the header whose every cell, header and each row, is empty (1-based).

    Where a colleague deleted the 预警 column, the next columns may hold their notes without a
    header above them: a new 预警 column only ever goes where nothing at all is written.
    """
    if rows is None:
        return None
    c = width
    while any(c < len(row) and row[c] not in ("", None) for row in rows):
        c += 1
    return c + 1


def people_text(item: Item, changed: dict[int, str], current: dict[int, str], column: int,
                store: Store | None) -> dict[int, str]:
    """Rows whose 预警 cell holds text coordxl did not write (row → that text).

    A cell is coordxl's when it is empty, holds one of its own flag texts (either language), or
    holds exactly what state.db says the job wrote there.
    """
    found = {r: current[r] for r in changed if current.get(r) and not assess.is_own_flag(current[r])}
    if found and store is not None:
        letter = col_letters(column)
        written = store.written_flags(item.workbook, item.tasks_sheet)
        found = {r: v for r, v in found.items() if written.get(f"{letter}{r}") != v}
    return found


def _should_show(flag: str) -> tuple[str, str] | str:
    return both("flag.should_show", flag=flag) if flag else ""


def snapshot_rows(assessed: assess.Assessed) -> list[tuple]:
    rows = assessed.rows
    out, seen = [], set()
    for r, ident, name, department, owner, due, done, status, state in zip(
            rows.rownums, rows.column("id"), rows.column("task"), rows.column("department"), rows.column("owner"),
            rows.column("due"), rows.column("done_on"), rows.column("status"), assessed.states):
        key = key_of(ident, name, r)
        if key in seen:
            continue  # a repeated 编号 is a finding already; keep the first
        seen.add(key)
        out.append((key, str(ident or ""), str(name or ""), str(department or ""), str(owner or ""),
                    due.isoformat() if isinstance(due, dt.date) else None,
                    done.isoformat() if isinstance(done, dt.date) else None, status, state.state, state.days))
    return out


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
    """One run of the daily job as of ``today``: validate, flag, remind.

    ``now`` stamps the run log, backups and mail log. ``transport`` sends the mails; without one the
    outbox is used when the settings say so (an smtp transport needs its password, which only the
    CLI and jobs/ read from the environment). ``posters``: one per chat channel (channels.make_posters);
    without them, channels whose transport is the outbox still get their posts.
    """
    layout = layout or Layout.of(root)
    if dry_run:  # writes and sends nothing: needs no lock
        return _run_daily(root, today, now, True, layout, hook, transport, resend, posters)
    with job_lock(layout, "daily"):
        return _run_daily(root, today, now, False, layout, hook, transport, resend, posters)


def _run_daily(root, today: dt.date, now: dt.datetime, dry_run: bool, layout: Layout, hook, transport,
               resend: bool, posters: dict | None = None) -> DailyResult:
    result = DailyResult(today, dry_run)
    store = None if dry_run else layout.open_store()
    run_id = store.start_run("daily", today, now, dry_run) if store else None
    if not dry_run:
        remove_stale_temps(layout)
    if store is not None and layout.settings["replies.enabled"]:  # replies still waiting to be written
        replies.apply_staged(store, layout, today, now)
    collector = notify.Collector(layout.settings)
    flags = Flagger(layout, result, store, now, hook)
    outcome = "failed"
    try:
        # a test's hook watches each write: then every workbook is done here
        checking = FolderCheck(layout, today, work=ItemWork(now, dry_run), workers=1 if hook else None)
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
        with heap_frozen():
            remind(result, collector, layout, today, now, dry_run, transport, resend, store)
            post_to_groups(result, collector, layout, today, now, dry_run, store, resend, posters)
            tell_admins(result, layout, today, now, dry_run, transport, store, run_id)
        if store:
            store.prune_snapshots(today, layout.settings["state.keep_daily_weeks"], layout.settings["state.keep_weeks"])
        outcome = "ok" if result.errors == 0 and not result.failed_sends else "findings"
    finally:
        if store:
            store.finish_run(run_id, outcome, result.counts(), now)
            store.close()
    return result


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

    def __call__(self, item: Item, layout: Layout, ctx: Context) -> tuple[DailyResult, tuple]:
        if self.store is None and not self.dry_run:
            self.store = layout.open_store()
        result = DailyResult(ctx.today, self.dry_run)
        collector = notify.Collector(layout.settings)
        flags = Flagger(layout, result, self.store, self.now, writer=False)  # a worker writes its own
        try:
            work_on(item, ctx, flags, collector)
        finally:
            flags.finish()
        return result, presort(collector, ctx)  # the item's reminders sorted into digests here, in the worker


class Flagger:
    """The 预警 half of a daily run: each item's flags worked out, planned, and written (or not)."""

    def __init__(self, layout: Layout, result: DailyResult, store: Store | None, now: dt.datetime, hook=None,
                 writer: bool = True):
        self.layout, self.result, self.store, self.now, self.hook = layout, result, store, now, hook
        self.settings = layout.settings
        self.lang = self.settings.lang
        # the writer process, started with the first write (False: none, writes are done here)
        self.pool = None if writer else False
        self.pending: list = []

    def flag(self, item: Item, ctx: Context, assessed) -> None:
        result, store, lang, settings = self.result, self.store, self.lang, self.settings
        if store is not None:
            store.save_snapshot(ctx.today, item.workbook, snapshot_rows(assessed))
        wanted, current, states = desired_flags(assessed, lang, settings)
        result.states.update(states)
        result.pending_resources += len(assess.pending_resources(item, ctx.today, ctx.calendar, settings))
        if "tasks" in item.ambiguous:
            result.skipped.append((item.workbook, "ambiguous_sheet"))
            return
        changed = {r: v for r, v in wanted.items() if current.get(r, "") != v}
        add_header = ""
        column = item.flag_column
        if column is None and any(wanted.values()):
            column = free_column(item.tasks_rows, item.tasks_width)
            add_header = text("flag.header", lang)
        if not changed or column is None or not item.tasks_header:
            return
        for r, found in people_text(item, changed, current, column, store).items():
            # a colleague's note in the 预警 column is theirs: never overwritten, never cleared
            ref = f"{col_letters(column)}{r}"
            result.findings.append(finding("W-FLAG-EDITED", item.workbook, item.tasks_sheet, ref, at=ref, value=found,
                                           wanted=_should_show(wanted[r])))
            del changed[r]
        if not changed:
            return
        for r, new in sorted(changed.items()):
            result.planned.append(PlannedFlag(item.workbook, item.tasks_sheet, f"{col_letters(column)}{r}",
                                              current.get(r, ""), new))
        if result.dry_run:
            return
        if not settings["writeback.enabled"]:
            result.skipped.append((item.workbook, "writeback_off"))
            return
        self.write(item, column, changed, add_header)

    def write(self, item: Item, column: int, changed: dict[int, str], add_header: str) -> None:
        """Hand the workbook's flags to the writer process: it writes while this process reads the next
        workbooks; :meth:`finish` collects the outcomes in order. In this process when the machine
        cannot start one, or a test hook watches the write."""
        job = FlagWrite(Path(item.path), item.workbook, item.tasks_sheet, column, item.tasks_header, changed,
                        item.fingerprint, add_header)
        args = (job, self.layout.backups, self.settings["writeback.backups_keep"], self.now)
        future = None
        if self.hook is None and self._writer():
            try:
                future = self.pool.submit(write_flags, *args)
            except BrokenProcessPool:  # the writer died (killed, out of memory): the rest is written here
                log.warning("the flag writer process stopped; writing in this process")
                self.pool = False
        if future is None:
            future = Future()
            try:
                future.set_result(write_flags(*args, self.hook))
            except Exception as exc:
                future.set_exception(exc)
        self.pending.append((item.workbook, item.tasks_sheet, item.path, column, changed, future))

    def _writer(self) -> ProcessPoolExecutor | None:
        """The writer process, started with the first write: forked where that is safe (it starts at
        once with everything imported, as check's workers do), else from a fork server or spawned."""
        if self.pool is None and self.settings["limits.workers"] != 1:
            try:
                with heartbeats_paused():
                    self.pool = ProcessPoolExecutor(1, mp_context=process_context(preload=("coordxl.xlsx.writer",)))
                    self.pool.submit(int)  # its process starts now: by fork only from this thread alone
            except (OSError, ImportError, NotImplementedError) as exc:  # no semaphores in a sandbox, no fork server
                log.warning("writing flags in this process: %s", exc)
                if self.pool:
                    self.pool.shutdown(wait=False, cancel_futures=True)
                self.pool = False
        return self.pool or None

    def finish(self) -> None:
        """Every write handed over, in the order handed over: its outcome recorded, the cells written
        into state.db in one transaction (made durable by the run's last commit)."""
        batch: list = []
        try:
            try:
                for workbook, sheet, path, column, changed, future in self.pending:
                    self._done(workbook, sheet, path, column, changed, future, batch)
            finally:
                self.pending.clear()
                if batch:
                    self.store.record_flag_batch(batch, self.now)
        finally:  # also when state.db fails to record them (a full disk): the writer ends with the run
            if self.pool:
                self.pool.shutdown()
            self.pool = None

    def _done(self, workbook: str, sheet: str, path, column: int, changed: dict[int, str], future,
              batch: list) -> None:
        result = self.result
        try:
            outcome = future.result()
        except Exception as exc:  # never let one workbook stop the run (a writer that died: written next run)
            fault = environment_fault(exc, self.layout.db)  # a full or read-only disk: what to fix, in words
            if fault is None:
                log.error("writing flags into %s failed", path, exc_info=exc)
            else:  # the run's summary says it, in the folder's language
                log.error("writing flags into %s failed: %s", path, fault, extra=FILE_ONLY)
            result.skipped.append((workbook, f"error: {fault.say(self.lang) if fault else exc}"))
            return
        result.findings.extend(outcome.findings)
        if outcome.written:
            written = {r: v for r, v in changed.items() if r not in outcome.formula_rows}
            result.written.append(workbook)
            result.cells_written += len(written)
            batch.append((workbook, sheet, {f"{col_letters(column)}{r}": v for r, v in written.items()}))
        else:
            result.skipped.append((workbook, outcome.reason))


def remind(result: DailyResult, collector: notify.Collector, layout: Layout, today: dt.date, now: dt.datetime,
           dry_run: bool, transport, resend: bool, store: Store | None) -> None:
    """The reminder half: one digest per person; sent once; nothing on non-working days."""

    settings = layout.settings
    if not settings["reminders.send_on_non_workdays"] and not WorkCalendar.from_settings(settings).is_workday(today):
        result.mail_note = "non_workday"
        return
    roster = result.report.roster
    digests, refused = notify.build_digests(collector, result.findings, roster, settings, today)
    if settings["replies.enabled"]:  # tasks their owner snoozed by reply
        digests = replies.without_snoozed(digests, store, today)
    result.mails = [notify.render(d, today, settings, collector.items) for d in digests]
    if not dry_run:  # update by reply: each digest's token, issued as it is rendered
        replies.arm_digests(result.mails, digests, store, settings, today, now, collector.items)
    result.mails = meeting.with_deadlines(result.mails, digests, store, settings, today, now)
    # the meeting stage: invitations, their updates and cancels, the minutes (coordxl/send/meeting.py)
    sent_for_meetings, not_mailed = meeting.mails(result.meetings, roster, settings, today, now, store)
    result.mails += sent_for_meetings
    refused = refused + [r for r in not_mailed if r.name not in {n.name for n in refused}]
    if dry_run:
        result.delivery = Delivery(refused=refused)
        return
    transport = notify.transport_or_outbox(transport, settings, layout.state, today)
    result.delivery = notify.deliver(result.mails, transport, store, settings, today, now, resend=resend)
    result.delivery.refused = refused


def post_to_groups(result: DailyResult, collector: notify.Collector, layout: Layout, today: dt.date,
                   now: dt.datetime, dry_run: bool, store: Store | None, resend: bool, posters: dict | None) -> None:
    """One post per item and chat group (channels), exactly once like mail; none on non-working days."""

    settings = layout.settings
    result.posters = posters
    if not settings.channels or result.mail_note == "non_workday":
        return
    roster = result.report.roster if result.report else None
    result.posts = channels.group_posts(collector, result.findings, roster, settings, store, today)
    if dry_run or store is None or not result.posts:
        return
    posters = posters if posters is not None else channels.outbox_posters(settings, layout.state, today)
    result.posters = posters
    result.post_delivery = channels.deliver_posts(result.posts, posters, store, today, now, resend,
                                                  cap=settings["reminders.max_mails_per_run"])


def tell_admins(result: DailyResult, layout: Layout, today: dt.date, now: dt.datetime, dry_run: bool, transport,
                store: Store | None, run_id: int | None) -> None:
    """The health list of this run (kept with it), mailed once a day to reminders.admins when not empty."""
    settings = layout.settings
    roster = result.report.roster if result.report else None
    people, unknown = health.admins(settings, roster)
    issues = health.from_run(result, store, settings, today) + unknown
    if store is not None:
        issues += health.from_ledgers(store, settings, today, run_id)
    result.health = health.ordered(issues)
    if dry_run or store is None or not result.health or result.mail_note == "non_workday":
        return
    admin_groups = [c for c in settings.channels.values() if c.admin]
    if admin_groups:
        posts = [p for p in (channels.health_post(c, result.health, settings, today) for c in admin_groups) if p]
        try:
            posters = channels.outbox_posters(settings, layout.state, today) if result.posters is None else result.posters
            channels.deliver_posts(posts, posters, store, today, now)
        except Exception:  # the health list must never stop the run
            log.exception("posting the health list failed")
    if not people:
        return
    mails = health.admin_mails(result.health, people, settings, today)
    transport = notify.transport_or_outbox(transport, settings, layout.state, today)
    result.admin_delivery = notify.deliver(mails, transport, store, settings, today, now)


def remove_stale_temps(layout: Layout) -> None:
    """Temp files a killed run left beside workbooks (.~coordxl-*.tmp): never staff files, safe to remove."""
    if layout.active.is_dir():
        for tmp in layout.active.rglob(".~coordxl-*.tmp"):
            try:
                tmp.unlink()
            except OSError:
                log.warning("could not remove %s", tmp)

