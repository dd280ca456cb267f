"""Run the daily and weekly jobs unattended: `coordxl schedule`.

The ``schedule`` library keeps no state, skips missed runs, and lets an
exception escape ``run_pending`` (after which the job re-runs every poll). So:
every job is wrapped (an exception is logged with its traceback and recorded as
a failed run; the loop goes on), runs are recorded in state.db, a job that
missed its time while the machine slept or the scheduler was down runs once on
start or wake-up (catch-up), a daily job never runs twice for the same date,
and a lock file keeps a second scheduler on the same folder from sending too.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable
from zoneinfo import ZoneInfo

import schedule

from .errors import StateError, administrators_error
from .messages import text
from .process.calendar import WorkCalendar
from .state import runlog
from .state.layout import Layout
from .state.lock import FolderLock, LockHeld  # noqa: F401  (LockHeld: what a second scheduler gets)

log = logging.getLogger("coordxl.scheduler")

LOCK_NAME = "scheduler.lock"
POLL_SECONDS = 30
WAKE_GAP = dt.timedelta(minutes=5)  # a tick this late means the machine slept
CLOCK_SLACK = dt.timedelta(minutes=5)  # runs stamped further ahead than this came from a clock now set back


class SchedulerLock(FolderLock):
    """.coordxl/scheduler.lock: one scheduler per folder."""

    what = "scheduler"

    def __init__(self, state_dir: Path, stale_after: dt.timedelta = dt.timedelta(minutes=10), seen: Path | None = None):
        super().__init__(state_dir, LOCK_NAME, stale_after, seen=seen)


WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


@dataclass
class Times:
    """The job times of a folder, in its time zone."""

    zone: ZoneInfo
    daily: dt.time
    weekly_day: int
    weekly: dt.time

    @classmethod
    def of(cls, settings) -> "Times":
        def hm(text: str) -> dt.time:
            hour, minute = text.split(":")
            return dt.time(int(hour), int(minute))
        return cls(ZoneInfo(settings["general.timezone"]), hm(settings["schedule.daily_time"]),
                   WEEKDAYS.index(settings["schedule.weekly_day"]), hm(settings["schedule.weekly_time"]))


def latest_daily(now: dt.datetime, times: Times, calendar: WorkCalendar) -> dt.datetime | None:
    """The most recent scheduled daily time at or before ``now`` (working days only), within two weeks."""
    day = now.date()
    for _ in range(15):
        slot = dt.datetime.combine(day, times.daily, now.tzinfo)
        if slot <= now and calendar.is_workday(day):
            return slot
        day -= dt.timedelta(days=1)
    return None


def latest_weekly(now: dt.datetime, times: Times) -> dt.datetime:
    day = now.date() - dt.timedelta(days=(now.weekday() - times.weekly_day) % 7)
    slot = dt.datetime.combine(day, times.weekly, now.tzinfo)
    return slot if slot <= now else slot - dt.timedelta(days=7)


def next_daily(now: dt.datetime, times: Times, calendar: WorkCalendar) -> dt.datetime:
    day = now.date()
    for _ in range(60):
        slot = dt.datetime.combine(day, times.daily, now.tzinfo)
        if slot > now and calendar.is_workday(day):
            return slot
        day += dt.timedelta(days=1)
    return dt.datetime.combine(day, times.daily, now.tzinfo)


def next_weekly(now: dt.datetime, times: Times) -> dt.datetime:
    return latest_weekly(now, times) + dt.timedelta(days=7)


Job = Callable[[dt.date, dt.datetime], str]  # (today, now naive local) -> outcome


class Scheduler:
    """The loop: ``tick()`` once per poll; ``run_forever()`` until stopped."""

    def __init__(self, root: Path | str, jobs: dict[str, Job] | None = None,
                 clock: Callable[[], dt.datetime] | None = None, stop: threading.Event | None = None):
        self.layout = Layout.of(root)
        self.settings = self.layout.settings
        self.times = Times.of(self.settings)
        self.calendar = WorkCalendar.from_settings(self.settings)
        self.store = self.layout.open_store()
        self.clock = clock or (lambda: dt.datetime.now(self.times.zone))
        self.jobs = jobs or default_jobs(self.layout)
        self.stop = stop or threading.Event()  # set → the loop ends after the current job
        self.running: str | None = None
        self.last_tick: dt.datetime | None = None
        self.future_runs: set[tuple[str, str]] = set()  # runs stamped after now, logged once each
        self.sched = schedule.Scheduler()
        self._plan()

    def _plan(self) -> None:
        self.sched.clear()
        tz = self.settings["general.timezone"]
        self.sched.every().day.at(self.times.daily.strftime("%H:%M"), tz).do(self.run_job, "daily", True)
        every = getattr(self.sched.every(), WEEKDAYS[self.times.weekly_day])
        every.at(self.times.weekly.strftime("%H:%M"), tz).do(self.run_job, "weekly", True)
        if self.settings["replies.enabled"] and "replies" in self.jobs:  # update by reply: the mailbox, polled
            self.sched.every(self.settings["replies.poll_minutes"]).minutes.do(self.run_job, "replies", True)

    def _attempted(self, job: str, since: dt.datetime) -> bool:
        """Did ``job`` run (successfully or not) at or after ``since``? A failed run waits for the next slot.

        A run stamped after now (the clock was set back, e.g. by NTP) never counts: it would
        otherwise make every slot up to its date look done, silently.
        """
        since = since.replace(tzinfo=None)
        now = self.clock().replace(tzinfo=None)
        # a run killed halfway (SIGKILL, power loss) stays 'running': with nobody holding the job lock it
        # is marked interrupted and does not count, so the job runs again the same day
        self.store.settle_running(FolderLock(self.layout.shared, "job.lock").held(), now)
        found = False
        for run in self.store.runs(job):
            if run["outcome"] == "interrupted":
                continue
            started = dt.datetime.fromisoformat(run["started_at"])
            if started > now + CLOCK_SLACK:
                if (job, run["started_at"]) not in self.future_runs:
                    self.future_runs.add((job, run["started_at"]))
                    log.warning("%s: a run is recorded at %s, after now (%s): the clock was set back? "
                                "It does not count as done", job, run["started_at"], now.isoformat(timespec="minutes"))
                continue
            found = found or (not run["dry_run"] and started >= since)
        return found

    def run_job(self, job: str, scheduled: bool = False) -> None:
        """Run one job, whatever happens: log it, record it, never raise."""
        now = self.clock()
        today = now.date()
        if job == "replies" and not self._working_hours(now):
            return
        if job == "daily":
            if not self.calendar.is_workday(today):
                log.info("daily: %s is not a working day, skipped", today)
                return
            slot = latest_daily(now, self.times, self.calendar)
            if slot and self._attempted("daily", slot):
                log.info("daily: already ran for %s", today)
                return
            if self.settings["replies.enabled"] and "replies" in self.jobs:
                self.run_job("replies")  # what staff replied since the last poll counts in today's run
        elif job == "weekly" and self._attempted("weekly", latest_weekly(now, self.times)):
            log.info("weekly: already ran this week")
            return
        self.running = job
        started = time.monotonic()
        try:
            outcome = self.jobs[job](today, now.replace(tzinfo=None))
            log.info("heartbeat: %s %s %s in %.1f s", job, today, outcome, time.monotonic() - started)
        except Exception as exc:
            # what the administrator must fix (a setting, a permission, a full disk) is one line; a fault of
            # coordxl's own keeps its traceback
            fault = administrators_error(exc, self.store.path)
            if fault is None:
                log.exception("%s failed", job)
            else:
                log.error("%s failed: %s", job, fault)
            try:
                self.store.record_failed_run(job, today, now.replace(tzinfo=None),
                                             {"error": str(fault) if fault else "exception; see the log"})
            except Exception as unrecorded:  # state.db itself is what failed: the next poll tries again
                log.error("%s: the failure could not be recorded in state.db: %s", job, unrecorded)
        finally:
            self.running = None

    def _working_hours(self, now: dt.datetime) -> bool:
        """The replies mailbox is polled on working days from an hour before the daily job until 20:00."""
        start = (dt.datetime.combine(now.date(), self.times.daily) - dt.timedelta(hours=1)).time()
        return self.calendar.is_workday(now.date()) and start <= now.time().replace(tzinfo=None) < dt.time(20)

    def catch_up(self) -> list[str]:
        """Run, once each, the jobs whose latest scheduled time passed while nothing ran it (a restart)."""
        now = self.clock()
        ran = []
        for job, slot in (("daily", latest_daily(now, self.times, self.calendar)),
                          ("weekly", latest_weekly(now, self.times))):
            if slot is None or not self.store.runs(job):
                continue  # a job that never ran starts at its next time, not at install time
            if not self._attempted(job, slot):
                log.info("catch-up: %s missed %s", job, slot.isoformat(timespec="minutes"))
                self.run_job(job)
                ran.append(job)
        return ran

    def tick(self) -> None:
        """One poll: due jobs run (after a sleep, an overdue job runs once, late), then catch-up on start/wake."""
        now = self.clock()
        woke = self.last_tick is None or now - self.last_tick > WAKE_GAP
        self.last_tick = now
        self.sched.run_pending()
        if woke:
            self.catch_up()

    def run_forever(self, lock: SchedulerLock, poll: float = POLL_SECONDS) -> None:
        log.info("scheduler started on %s (daily %s on working days, weekly %s %s, %s)", self.layout.root,
                 self.times.daily, WEEKDAYS[self.times.weekly_day], self.times.weekly, self.times.zone)
        while not self.stop.is_set():
            self.tick()
            lock.heartbeat()
            self.stop.wait(poll)
        log.info("scheduler stopped")


def default_jobs(layout: Layout) -> dict[str, Job]:
    """The real jobs, with mail through the configured transport (the password read here, at the edge)."""
    from .run import daily as daily_job
    from .run.context import RunContext
    from .run.weekly import week_job
    from .send.wiring import wire
    from .state.statefolder import check_owner

    def daily(today: dt.date, now: dt.datetime) -> str:
        check_owner(layout)  # another machine may have taken the jobs over while this scheduler ran
        senders = wire(layout.settings, layout.state, today, dict(os.environ))
        result = daily_job.daily(RunContext.of(Layout.of(layout.root), today, now, senders=senders))
        counts = result.counts()
        return (f"{counts['items']} items, {counts['tasks']} tasks, {counts['flags_changed']} flags, "
                f"{counts['mails_sent']} mails sent, {counts['mails_failed']} failed")

    def weekly(today: dt.date, now: dt.datetime) -> str:
        check_owner(layout)
        senders = wire(layout.settings, layout.state, today, dict(os.environ))
        result = week_job(RunContext.of(Layout.of(layout.root), today, now, senders=senders))
        return f"{result.weekly.path.name}, {len(result.delivery.sent)} mails sent"

    def replies(today: dt.date, now: dt.datetime) -> str:
        from .run.replies import run_replies
        from .send.imap import Mailbox, imap_password

        check_owner(layout)
        settings = layout.settings
        transport = wire(settings, layout.state, today, dict(os.environ), chat=False).transport
        mailbox = Mailbox(settings, imap_password(settings, dict(os.environ)))
        result = run_replies(layout.root, today, now, mailbox, transport)
        return f"{result.read} replies read, {result.written} changes written"

    jobs = {"daily": daily, "weekly": weekly}
    if layout.settings["replies.enabled"]:
        jobs["replies"] = replies
    return jobs


def setup_logging(layout: Layout) -> None:
    """Log to the folder's log (runlog: rotated 5 × 1 MB) and, unless the CLI already does, to stderr."""
    runlog.attach(layout.state)
    if not logging.getLogger().handlers and not any(type(h) is logging.StreamHandler
                                                    for h in runlog.root_logger.handlers):
        runlog.attach_console(logging.INFO, fmt="%(asctime)s %(message)s")


def serve(root: Path | str, poll: float = POLL_SECONDS, take_over: bool = False) -> int:
    """`coordxl schedule`: hold the lock, run until SIGTERM/SIGINT, release the lock, return 0.

    Refused (statefolder.NotOwner) where another machine runs the folder's jobs, unless ``take_over``."""
    from .state.statefolder import settle

    layout, notes = settle(Layout.of(root), take_over)
    setup_logging(layout)
    for note in notes:
        log.warning("%s", note)
    stopping = threading.Event()

    def stop(signum, frame):
        log.info("signal %s: stopping after the current job", signum)
        stopping.set()

    # handlers first: a SIGTERM that arrives just after the lock is taken must still release it
    previous = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        lock = SchedulerLock(layout.shared, seen=layout.state / "locks-seen.json")
        lock.acquire()
        try:
            Scheduler(root, stop=stopping).run_forever(lock, poll)
        finally:
            lock.release()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    return 0


def status(root: Path | str, now: dt.datetime | None = None) -> dict:
    """What an admin checks first: last and next run of each job, outcome, mails today, lock holder."""
    layout = Layout.of(root)
    times = Times.of(layout.settings)
    calendar = WorkCalendar.from_settings(layout.settings)
    now = now or dt.datetime.now(times.zone)
    if layout.state.exists() and not layout.state.is_dir():
        raise StateError(key="state.is_a_file", path=layout.state)
    store = layout.open_store(existing=True)
    if store:
        store.settle_running(FolderLock(layout.shared, "job.lock").held(), now.replace(tzinfo=None))
    out = {"root": str(layout.root), "now": now.isoformat(timespec="minutes"), "jobs": {}}
    jobs = [("daily", next_daily(now, times, calendar)), ("weekly", next_weekly(now, times))]
    if layout.settings["replies.enabled"]:  # the last poll of the replies mailbox (run by the system's scheduler)
        jobs.append(("replies", None))
    for job, nxt in jobs:
        runs = [r for r in (store.runs(job) if store else []) if not r["dry_run"]]
        last = runs[-1] if runs else None
        out["jobs"][job] = {
            "last_run": last["started_at"] if last else None,
            "last_outcome": last["outcome"] if last else None,
            "last_counts": last["counts"] if last else None,
            "next_run": nxt.isoformat(timespec="minutes") if nxt else "-",
        }
    today = now.date()
    # the next daily run is found with the working-day calendar: an estimate when it reaches a year without data
    next_day = dt.datetime.fromisoformat(out["jobs"]["daily"]["next_run"]).date()
    out["calendar_estimated"] = sorted(calendar.estimated_years(today, next_day))
    ledger = store.mails(today) if store else []
    mails = [m for m in ledger if not m["kind"].startswith("post")]
    posts = [m for m in ledger if m["kind"].startswith("post")]
    out["mails_sent_today"] = sum(1 for m in mails if m["status"] == "sent")
    out["mails_failed_today"] = sum(1 for m in mails if m["status"] == "failed")
    out["posts_sent_today"] = sum(1 for m in posts if m["status"] == "sent")
    out["posts_failed_today"] = sum(1 for m in posts if m["status"] == "failed")
    from .send.health import current, next_year_missing
    issues = current(store, layout.settings, today) if store else next_year_missing(layout.settings, today)
    out["health"] = [i.to_json(layout.settings.lang) for i in issues]
    if store is None and (evidence := layout.ran_before()):
        out["health"].insert(0, {"kind": "state_lost", "text": text("state.lost", layout.settings.lang, db=layout.db,
                                                                    evidence=evidence)})
    out["mails_unknown"] = [{k: m[k] for k in ("day", "recipient", "subject", "error")}
                            for m in (store.unknown_mails() if store else [])]
    lock = SchedulerLock(layout.shared)
    holder = lock.holder()
    if holder:
        holder["alive"] = not lock._stale(holder)
    out["lock"] = holder
    out["log"] = str(runlog.log_path(layout.state))
    out["state"] = str(layout.state)
    out["network"] = layout.network
    out["state_on_network"] = not layout.state_is_local
    from .state.statefolder import read_owner
    owner = read_owner(layout)
    if owner is not None:
        from .platform_support import host_name
        owner["this_machine"] = owner.get("host", "").casefold() == host_name().casefold()
    out["owner"] = owner
    db = layout.state / "state.db"
    out["state_bytes"] = sum(p.stat().st_size for p in (db, db.with_name("state.db-wal")) if p.exists())
    return out
