"""The scheduler on a fake clock (time-machine) with a real state.db; the lock and signals with real processes."""

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import time_machine
from click.testing import CliRunner
from conftest import REPO

from coordxl.cli import main
from coordxl.scheduler import LockHeld, Scheduler, SchedulerLock, status
from coordxl.state.store import Store

SH = ZoneInfo("Asia/Shanghai")


def at(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=SH)


class Recorder:
    """Real jobs would work too; these record when they ran and can fail on request."""

    def __init__(self, root):
        self.store = Store(Path(root) / ".coordxl" / "state.db")
        self.calls = []
        self.fail = set()

    def job(self, name):
        def run(today, now):
            self.calls.append((name, now.strftime("%Y-%m-%d %H:%M")))
            if name in self.fail:
                raise RuntimeError(f"{name} broke")
            run_id = self.store.start_run(name, today, now)
            self.store.finish_run(run_id, "ok", {}, now)
            return "ok"
        return run


@pytest.fixture
def sched(example_root):
    rec = Recorder(example_root)
    made = []

    def make():
        s = Scheduler(example_root, jobs={"daily": rec.job("daily"), "weekly": rec.job("weekly")},
                      clock=lambda: dt.datetime.now(SH))
        made.append(s)
        return s
    return rec, make


def tick_at(traveller, scheduler, moment):
    traveller.move_to(moment)
    scheduler.tick()


def test_daily_runs_on_working_days_only(sched):
    rec, make = sched
    with time_machine.travel(at(2026, 2, 13, 8, 0), tick=False) as t:
        s = make()
        s.tick()
        # Fri 02-13 (working), Sat 02-14 (调休 working day), Mon 02-16 (Spring Festival), Tue 02-24 (back)
        for moment in (at(2026, 2, 13, 9, 0, 30), at(2026, 2, 14, 9, 0, 30), at(2026, 2, 15, 9, 0, 30),
                       at(2026, 2, 16, 9, 0, 30), at(2026, 2, 24, 9, 0, 30)):
            tick_at(t, s, moment - dt.timedelta(minutes=1))  # the machine is awake before the job time
            tick_at(t, s, moment)
    daily = [when for name, when in rec.calls if name == "daily"]
    assert daily == ["2026-02-13 09:00", "2026-02-14 09:00", "2026-02-24 09:00"]


def test_catch_up_after_a_three_day_sleep_runs_once(sched):
    rec, make = sched
    with time_machine.travel(at(2026, 8, 17, 8, 59), tick=False) as t:
        s = make()
        s.tick()
        tick_at(t, s, at(2026, 8, 17, 9, 0, 30))  # Monday: daily at 09:00, weekly at 09:30
        tick_at(t, s, at(2026, 8, 17, 9, 30, 30))
        assert [n for n, _ in rec.calls] == ["daily", "weekly"]
        tick_at(t, s, at(2026, 8, 20, 10, 15))    # woke up on Thursday after missing Tue, Wed, Thu 09:00
        tick_at(t, s, at(2026, 8, 20, 10, 15, 30))
    assert [c for c in rec.calls if c[0] == "daily"] == [("daily", "2026-08-17 09:00"), ("daily", "2026-08-20 10:15")]


def test_a_restart_catches_up_and_a_second_start_the_same_day_does_not(sched):
    rec, make = sched
    with time_machine.travel(at(2026, 8, 18, 9, 0, 30), tick=False) as t:
        s = make()
        rec.job("daily")(dt.date(2026, 8, 17), dt.datetime(2026, 8, 17, 9, 0))  # ran yesterday
        s.tick()                                   # down at 09:00 today: catch up now
        t.move_to(at(2026, 8, 18, 11, 0))
        make().tick()                              # restarted again: nothing to catch up
    assert [c for c in rec.calls if c[0] == "daily"] == [("daily", "2026-08-17 09:00"), ("daily", "2026-08-18 09:00")]


def test_a_failing_job_is_logged_retried_next_time_only_and_the_other_job_runs(sched):
    rec, make = sched
    rec.fail = {"daily"}
    with time_machine.travel(at(2026, 8, 17, 8, 59), tick=False) as t:
        s = make()
        s.tick()
        tick_at(t, s, at(2026, 8, 17, 9, 0, 30))
        for minute in range(1, 6):                 # no re-run storm on the following polls
            tick_at(t, s, at(2026, 8, 17, 9, minute, 30))
        tick_at(t, s, at(2026, 8, 17, 9, 30, 30))  # weekly still runs
        tick_at(t, s, at(2026, 8, 18, 9, 0, 30))   # daily retried at its next time
    assert rec.calls == [("daily", "2026-08-17 09:00"), ("weekly", "2026-08-17 09:30"), ("daily", "2026-08-18 09:00")]
    failed = [r for r in rec.store.runs("daily") if r["outcome"] == "failed"]
    assert len(failed) == 2


def test_a_job_stopped_by_a_full_disk_is_one_line_in_the_log_without_a_traceback(sched, caplog):
    """What the administrator must fix is said in one line (and recorded as the run's error); only a fault
    of coordxl's own keeps its traceback."""
    import errno
    rec, make = sched

    def full(today, now):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "/srv/share/报告/周报-2026-W34.xlsx")

    with time_machine.travel(at(2026, 8, 17, 8, 59), tick=False) as t:
        s = make()
        s.jobs["daily"] = full
        s.tick()
        tick_at(t, s, at(2026, 8, 17, 9, 0, 30))
    [record] = [r for r in caplog.records if r.getMessage().startswith("daily failed")]
    assert record.exc_info is None and "the disk is full" in record.getMessage() and "报告" in record.getMessage()
    [failed] = [r for r in rec.store.runs("daily") if r["outcome"] == "failed"]
    assert "the disk is full" in json.dumps(dict(failed), ensure_ascii=False)


def test_only_one_scheduler_holds_the_lock(tmp_path):
    first = SchedulerLock(tmp_path)
    first.acquire()
    with pytest.raises(LockHeld, match=str(os.getpid())):
        SchedulerLock(tmp_path).acquire()
    first.release()
    SchedulerLock(tmp_path).acquire()


def test_a_dead_schedulers_lock_is_taken_over(tmp_path):
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = int(proc.stdout)
    import socket
    (tmp_path / "scheduler.lock").write_text(json.dumps({"pid": dead, "host": socket.gethostname()}))
    lock = SchedulerLock(tmp_path)
    lock.acquire()
    assert lock.holder()["pid"] == os.getpid()


def _wait_for(path, timeout=30):
    deadline = time.time() + timeout
    while not path.exists() and time.time() < deadline:
        time.sleep(0.1)
    return path.exists()


def test_sigterm_releases_the_lock_and_exits_0(example_root):
    lock = example_root / ".coordxl" / "scheduler.lock"
    proc = subprocess.Popen([sys.executable, str(REPO / "jobs" / "scheduler.py"), "--root", str(example_root),
                             "--poll", "0.2"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert _wait_for(lock)
    second = subprocess.run([sys.executable, "-m", "coordxl", "schedule", str(example_root)], capture_output=True,
                            text=True, timeout=60)
    assert second.returncode == 2 and "另一个 coordxl 运行（scheduler）" in second.stderr
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 0
    assert not lock.exists()
    assert (example_root / ".coordxl" / "logs" / "coordxl.log").exists()


def test_status_shows_last_and_next_runs_and_the_lock(example_root):
    from coordxl.run.daily import run_daily
    run_daily(example_root, dt.date(2026, 8, 20), dt.datetime(2026, 8, 20, 9, 0))
    info = status(example_root, now=at(2026, 8, 20, 12, 0))
    assert info["jobs"]["daily"]["last_outcome"] == "findings"
    assert info["jobs"]["daily"]["next_run"] == "2026-08-21T09:00+08:00"
    assert info["jobs"]["weekly"]["next_run"] == "2026-08-24T09:30+08:00"
    assert info["mails_sent_today"] == 8 and info["lock"] is None  # 5 digests, 3 escalations
    result = CliRunner().invoke(main, ["status", str(example_root), "--json"])
    assert result.exit_code == 0 and json.loads(result.output)["jobs"]["daily"]["last_outcome"] == "findings"


@pytest.mark.slow  # real coordxl processes, one per job or fault
def test_job_scripts_exit_codes(example_root, tmp_path):
    ok = subprocess.run([sys.executable, str(REPO / "jobs" / "weekly.py"), "--root", str(example_root),
                         "--today", "2026-08-24"], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    findings = subprocess.run([sys.executable, str(REPO / "jobs" / "daily.py"), "--root", str(example_root),
                               "--today", "2026-08-20"], capture_output=True, text=True)
    assert findings.returncode == 0, findings.stderr  # the example has validation errors: reports, not failures
    (example_root / "coordxl.toml").write_text("[rules]\nnope = 1\n", encoding="utf-8")
    bad = subprocess.run([sys.executable, str(REPO / "jobs" / "daily.py"), "--root", str(example_root)],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "rules.nope" in bad.stderr


def test_a_run_recorded_in_the_future_does_not_count_after_the_clock_was_set_back(sched, caplog):
    """NTP moved the clock back: a run stamped 09-01 must not make 08-20's daily look done."""
    rec, make = sched
    rec.job("daily")(dt.date(2026, 9, 1), dt.datetime(2026, 9, 1, 9, 0))  # recorded while the clock was wrong
    with time_machine.travel(at(2026, 8, 20, 9, 5), tick=False) as t:
        s = make()
        s.tick()                                   # started after 09:00: today's daily is caught up
        tick_at(t, s, at(2026, 8, 20, 9, 6))       # and not run again
        tick_at(t, s, at(2026, 8, 20, 9, 7))
    assert [c for c in rec.calls if c[0] == "daily"] == [("daily", "2026-09-01 09:00"), ("daily", "2026-08-20 09:05")]
    warned = [r for r in caplog.records if "clock was set back" in r.getMessage()]
    assert len(warned) == 1  # reported once, not at every poll


DIE_MIDWAY = """
import datetime as dt, os, signal, sys
from coordxl.state.layout import Layout
from coordxl.state.lock import FolderLock
from coordxl.state.store import Store
layout = Layout.of(sys.argv[1])
FolderLock(layout.state, "job.lock").acquire("daily")
Store(layout.state / "state.db").start_run("daily", dt.date(2026, 8, 18), dt.datetime(2026, 8, 18, 9, 0))
os.kill(os.getpid(), signal.SIGKILL)  # killed halfway: the run stays 'running', the lock file stays
"""


def test_a_job_killed_halfway_is_marked_interrupted_and_runs_again_the_same_day(sched, example_root):
    rec, make = sched
    rec.job("daily")(dt.date(2026, 8, 17), dt.datetime(2026, 8, 17, 9, 0))  # ran yesterday
    killed = subprocess.run([sys.executable, "-c", DIE_MIDWAY, str(example_root)])
    assert killed.returncode == -signal.SIGKILL
    with time_machine.travel(at(2026, 8, 18, 9, 40), tick=False) as t:
        make().tick()                              # the scheduler restarts after the kill
        tick_at(t, make(), at(2026, 8, 18, 11, 0))  # and once more: today's daily is done now
    assert [c for c in rec.calls if c[0] == "daily"] == [("daily", "2026-08-17 09:00"), ("daily", "2026-08-18 09:40")]
    outcomes = [r["outcome"] for r in Store(example_root / ".coordxl" / "state.db").runs("daily")]
    assert outcomes == ["ok", "interrupted", "ok"]
    info = CliRunner().invoke(main, ["status", str(example_root), "--json"])
    assert json.loads(info.output)["jobs"]["daily"]["last_outcome"] == "ok"


def test_a_live_run_is_not_taken_for_an_interrupted_one(sched, example_root):
    """Another process holds the job lock and is running today's daily: the scheduler does not start it twice."""
    from coordxl.state.lock import FolderLock
    rec, make = sched
    rec.job("daily")(dt.date(2026, 8, 17), dt.datetime(2026, 8, 17, 9, 0))
    lock = FolderLock(example_root / ".coordxl", "job.lock")
    lock.acquire("daily")
    try:
        Store(example_root / ".coordxl" / "state.db").start_run("daily", dt.date(2026, 8, 18),
                                                               dt.datetime(2026, 8, 18, 9, 0))
        with time_machine.travel(at(2026, 8, 18, 9, 40), tick=False):
            make().tick()
    finally:
        lock.release()
    assert [c for c in rec.calls if c[0] == "daily"] == [("daily", "2026-08-17 09:00")]
    assert [r["outcome"] for r in Store(example_root / ".coordxl" / "state.db").runs("daily")] == ["ok", "running"]


def test_the_replies_mailbox_is_polled_in_working_hours_and_before_the_daily_run(example_root):
    text = (example_root / "coordxl.toml").read_text(encoding="utf-8")
    head, rest = text.split("[replies]", 1)
    rest = rest.replace("enabled = false", "enabled = true", 1).replace("poll_minutes = 5", "poll_minutes = 10", 1)
    (example_root / "coordxl.toml").write_text(f"{head}[replies]{rest}", encoding="utf-8")
    rec = Recorder(example_root)
    with time_machine.travel(at(2026, 8, 20, 7, 55), tick=False) as t:  # a Thursday
        s = Scheduler(example_root, jobs={name: rec.job(name) for name in ("daily", "weekly", "replies")},
                      clock=lambda: dt.datetime.now(SH))
        s.tick()
        for minute in range(0, 50, 5):  # 07:55 … 08:40; the daily job at 09:00
            tick_at(t, s, at(2026, 8, 20, 8, 0) + dt.timedelta(minutes=minute, seconds=30))
        tick_at(t, s, at(2026, 8, 20, 9, 0, 30))
        tick_at(t, s, at(2026, 8, 22, 10, 0, 30))  # Saturday: no poll
        tick_at(t, s, at(2026, 8, 22, 10, 11))
    polls = [when for name, when in rec.calls if name == "replies"]
    assert polls[:5] == ["2026-08-20 08:05", "2026-08-20 08:15", "2026-08-20 08:25", "2026-08-20 08:35",
                         "2026-08-20 08:45"]  # every poll_minutes, from an hour before the daily job
    daily = rec.calls.index(("daily", "2026-08-20 09:00"))
    assert rec.calls[daily - 1] == ("replies", "2026-08-20 09:00")  # right before the daily run
    assert all(when.startswith("2026-08-20") for _, when in rec.calls)  # none on Saturday
