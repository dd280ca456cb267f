"""`coordxl schedule ROOT --install`: the operating system's own scheduler runs the jobs.

One entry per job: ``coordxl daily ROOT --summary`` every day at ``schedule.daily_time`` (coordxl itself
decides what a working day is: on a day off the daily job flags and sends nothing, so the trigger is
every day) and ``coordxl weekly ROOT`` on ``schedule.weekly_day`` at ``schedule.weekly_time``; with update by
reply on (``replies.enabled``), ``coordxl replies ROOT`` every ``replies.poll_minutes`` in working hours (from
an hour before the daily job until 20:00, as the ``coordxl schedule`` loop polls). Each job
runs as its own command so that its exit code (0 done, 1 the administrator must act) is what Task
Scheduler's "last run result", systemd's unit state and cron's mail show; a ``schedule --once`` wrapper
would have swallowed it.

Four kinds: a Windows Task Scheduler task (schtasks XML, UTF-16), a systemd user service + timer, a
cron line, a launchd agent. Everything that writes takes its target directory and a *runner* for the
system command (schtasks, systemctl, crontab, launchctl), so tests inject a folder and a fake runner
that records the argv; nothing here touches this machine's real scheduler unless asked to.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import plistlib
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Protocol
from xml.sax.saxutils import escape as xml_escape
from zoneinfo import ZoneInfo

from .errors import CoordxlError
from .settings import Settings

KINDS = ("windows", "systemd", "cron", "launchd")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
TASK_FOLDER = "coordxl"


class SchedulerSetupError(CoordxlError):
    """The system's scheduler refused an entry, or its command is missing."""

    exit_code = 2


class Runner(Protocol):
    def __call__(self, argv: list[str], input: str | None = None) -> subprocess.CompletedProcess: ...


def run_command(argv: list[str], input: str | None = None) -> subprocess.CompletedProcess:
    """The real runner: the system command, its output captured as text (never raises on a non-zero exit)."""
    program = shutil.which(argv[0])
    if program is None:
        raise SchedulerSetupError(key="install.no_command", command=argv[0])
    return subprocess.run([program, *argv[1:]], input=input, capture_output=True, text=True, errors="replace",
                          timeout=60)


def default_kind(platform: str | None = None, systemd_running: bool | None = None) -> str:
    """Windows → Task Scheduler, macOS → launchd, Linux → systemd when it runs the machine, else cron."""
    platform = platform or sys.platform
    if platform == "win32":
        return "windows"
    if platform == "darwin":
        return "launchd"
    if systemd_running is None:
        systemd_running = Path("/run/systemd/system").is_dir()  # sd_booted()'s own test
    return "systemd" if systemd_running else "cron"


def program(executable: str | None = None, platform: str | None = None, scripts: str | None = None) -> list[str]:
    """The command that runs coordxl: the installed ``coordxl`` script, by its absolute path, beside this
    Python (a virtual environment) or in its scripts folder (C:\\Python311\\Scripts); where there is none,
    ``python -m coordxl`` with this Python."""
    import sysconfig

    executable = os.path.abspath(executable or sys.executable)
    name = "coordxl.exe" if (platform or sys.platform) == "win32" else "coordxl"
    for folder in (Path(executable).parent, Path(scripts or sysconfig.get_path("scripts"))):
        if (folder / name).is_file():
            return [str(folder / name)]
    return [executable, "-m", "coordxl"]


def folder_tag(root: Path) -> str:
    """A short stable name for one folder's entries (several folders can each have theirs)."""
    return hashlib.sha256(os.path.abspath(root).encode("utf-8", "surrogatepass")).hexdigest()[:8]


@dataclass(frozen=True)
class Job:
    """One scheduled job: its name, the arguments after the program, and when (in ``zone``)."""

    name: str  # daily | weekly | replies
    args: tuple[str, ...]
    at: dt.time
    weekday: int | None = None  # 0 = Monday; None = every day
    every: int = 0  # minutes between two runs from ``at`` until ``until`` (0: once)
    until: dt.time | None = None

    def times(self) -> list[dt.time]:
        """Every start of the day: ``at`` alone, or ``at``, ``at`` + every, … before ``until``."""
        if not self.every or self.until is None:
            return [self.at]
        out, t = [], dt.datetime.combine(dt.date(2000, 1, 1), self.at)
        end = dt.datetime.combine(dt.date(2000, 1, 1), self.until)
        while t < end:
            out.append(t.time())
            t += dt.timedelta(minutes=self.every)
        return out

    def span(self) -> dt.timedelta:
        """How long the repetition lasts (from ``at`` to ``until``)."""
        if self.until is None:
            return dt.timedelta(0)
        day = dt.date(2000, 1, 1)
        return dt.datetime.combine(day, self.until) - dt.datetime.combine(day, self.at)


@dataclass
class Plan:
    """What --install writes for one folder."""

    kind: str
    root: Path
    command: list[str]
    jobs: list[Job]
    zone: str
    local_zone: dt.tzinfo
    today: dt.date
    tag: str = ""
    retired: list[Job] = field(default_factory=list)  # known jobs not wanted now (replies off): removed on install

    def __post_init__(self):
        self.tag = self.tag or folder_tag(self.root)

    def name(self, job: Job) -> str:
        """The entry's name: coordxl-<tag>-<job>."""
        return f"coordxl-{self.tag}-{job.name}"

    def argv(self, job: Job) -> list[str]:
        return [*self.command, *job.args]

    def local(self, job: Job) -> tuple[dt.time, int | None]:
        """The job's time (and weekday) on this machine's clock, for schedulers that know no time zones."""
        zone = ZoneInfo(self.zone)
        day = self.today
        if job.weekday is not None:
            day += dt.timedelta(days=(job.weekday - day.weekday()) % 7)
        there = dt.datetime.combine(day, job.at, zone).astimezone(self.local_zone)
        weekday = None if job.weekday is None else (job.weekday + (there.date() - day).days) % 7
        return there.time().replace(second=0, microsecond=0), weekday

    def local_times(self, job: Job) -> list[dt.time]:
        """Each start of a repeated job on this machine's clock."""
        return [self.local(Job(job.name, job.args, at, job.weekday))[0] for at in job.times()]

    def differs(self) -> bool:
        """Is this machine's clock in another zone than the folder's (times are then converted)?"""
        return any(self.local(job) != (job.at, job.weekday) for job in self.jobs)


def plan(root: Path | str, settings: Settings, kind: str, command: list[str] | None = None,
         today: dt.date | None = None, local_zone: dt.tzinfo | None = None) -> Plan:
    """The daily and weekly entries for the folder ``root`` with its settings."""
    root = Path(os.path.abspath(root))

    def hm(value: str) -> dt.time:
        hour, minute = value.split(":")
        return dt.time(int(hour), int(minute))

    daily = hm(settings["schedule.daily_time"])
    jobs = [Job("daily", ("daily", str(root), "--summary"), daily),
            Job("weekly", ("weekly", str(root)), hm(settings["schedule.weekly_time"]),
                WEEKDAYS.index(settings["schedule.weekly_day"]))]
    replies = replies_job(root, daily, settings["replies.poll_minutes"])
    wanted = settings["replies.enabled"]
    local_zone = local_zone or dt.datetime.now().astimezone().tzinfo
    return Plan(kind, root, command or program(), jobs + ([replies] if wanted else []), settings["general.timezone"],
                local_zone, today or dt.date.today(), retired=[] if wanted else [replies])


REPLIES_UNTIL = dt.time(20, 0)


def replies_job(root: Path, daily: dt.time, minutes: int) -> Job:
    """``coordxl replies`` every ``minutes`` from an hour before the daily job until 20:00, every day (the
    same window as the ``coordxl schedule`` loop's; a reply read on a day off is harmless)."""
    start = max(dt.datetime.combine(dt.date(2000, 1, 1), daily) - dt.timedelta(hours=1),
                dt.datetime(2000, 1, 1)).time()
    until = REPLIES_UNTIL if start < REPLIES_UNTIL else dt.time(23, 59)
    return Job("replies", ("replies", str(root)), start, None, max(1, minutes), until)


# --- what each scheduler reads ----------------------------------------------------------------------

TASK_NS = "http://schemas.microsoft.com/windows/2004/02/mit/task"
TASK_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def windows_command_line(args: list[str]) -> str:
    """Arguments as one Windows command line (the quoting CreateProcess's parser undoes)."""
    return subprocess.list2cmdline(args)


def schtasks_xml(p: Plan, job: Job) -> str:
    """The Task Scheduler task for one job (schema 1.3, Windows 7 and later; it validates against the XSD
    in Microsoft's Task Scheduler Schema reference): a calendar trigger on the machine's local time,
    started late when the PC was off at that time, never twice at once, the folder as working directory."""
    at, weekday = p.local(job)
    start = dt.datetime.combine(p.today, at).isoformat(timespec="seconds")
    repetition = ""
    if job.every:  # again every N minutes until the end of the window; a run still going is left to finish
        minutes = int(job.span().total_seconds() // 60)
        repetition = (f"\n      <Repetition><Interval>PT{job.every}M</Interval><Duration>PT{minutes}M</Duration>"
                      "<StopAtDurationEnd>false</StopAtDurationEnd></Repetition>")
    if weekday is None:
        schedule = "<ScheduleByDay><DaysInterval>1</DaysInterval></ScheduleByDay>"
    else:
        schedule = (f"<ScheduleByWeek><DaysOfWeek><{TASK_DAYS[weekday]} /></DaysOfWeek>"
                    "<WeeksInterval>1</WeeksInterval></ScheduleByWeek>")
    e = xml_escape
    argv = p.argv(job)
    # the schema's paths have at most 260 characters: a deeper folder is named in the arguments only
    working = f"      <WorkingDirectory>{e(str(p.root))}</WorkingDirectory>\n" if len(str(p.root)) <= 260 else ""
    return f"""<?xml version="1.0" encoding="UTF-16"?>
<Task version="1.3" xmlns="{TASK_NS}">
  <RegistrationInfo>
    <Description>{e(f"coordxl {job.name}: {p.root}")}</Description>
    <URI>{e(task_name(p, job))}</URI>
  </RegistrationInfo>
  <Triggers>
    <CalendarTrigger>
      <StartBoundary>{start}</StartBoundary>{repetition}
      {schedule}
    </CalendarTrigger>
  </Triggers>
  <Principals>
    <Principal id="Author">
      <LogonType>InteractiveToken</LogonType>
      <RunLevel>LeastPrivilege</RunLevel>
    </Principal>
  </Principals>
  <Settings>
    <MultipleInstancesPolicy>IgnoreNew</MultipleInstancesPolicy>
    <DisallowStartIfOnBatteries>false</DisallowStartIfOnBatteries>
    <StopIfGoingOnBatteries>false</StopIfGoingOnBatteries>
    <StartWhenAvailable>true</StartWhenAvailable>
    <RunOnlyIfNetworkAvailable>true</RunOnlyIfNetworkAvailable>
    <ExecutionTimeLimit>{"PT30M" if job.every else "PT4H"}</ExecutionTimeLimit>
    <Enabled>true</Enabled>
  </Settings>
  <Actions Context="Author">
    <Exec>
      <Command>{e(argv[0])}</Command>
      <Arguments>{e(windows_command_line(argv[1:]))}</Arguments>
{working}    </Exec>
  </Actions>
</Task>
"""


def task_name(p: Plan, job: Job) -> str:
    return f"\\{TASK_FOLDER}\\{p.name(job)}"


def systemd_quote(arg: str) -> str:
    """One ExecStart argument: double-quoted, with systemd's specifiers (%) and variables ($) kept literal."""
    escaped = arg.replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%").replace("$", "$$")
    return f'"{escaped}"'


def _systemd_value(value: str) -> str:
    return value.replace("%", "%%")


def systemd_units(p: Plan, job: Job) -> dict[str, str]:
    """A oneshot service and its timer (OnCalendar in the folder's own time zone, catching up a missed
    run after the machine was off: Persistent=true)."""
    when = f"*-*-* {job.at.strftime('%H:%M')}:00 {p.zone}"
    if job.weekday is not None:
        when = f"{TASK_DAYS[job.weekday][:3]} {when}"
    calendars = [when] if not job.every else [f"*-*-* {spec}:00 {p.zone}" for spec in _repeated(job.times())]
    name = p.name(job)
    description = _systemd_value(f"coordxl {job.name}: {p.root}")
    service = (f"[Unit]\nDescription={description}\nAfter=network-online.target\n\n"
               f"[Service]\nType=oneshot\nWorkingDirectory={_systemd_value(str(p.root))}\n"
               "EnvironmentFile=-%h/.config/coordxl/coordxl.env\n"
               f"ExecStart={' '.join(systemd_quote(a) for a in p.argv(job))}\n")
    timer = (f"[Unit]\nDescription={description}\n\n"
             "[Timer]\n" + "".join(f"OnCalendar={c}\n" for c in calendars) +
             f"Persistent=true\nUnit={name}.service\n\n"
             "[Install]\nWantedBy=timers.target\n")
    return {f"{name}.service": service, f"{name}.timer": timer}


def _repeated(times: list[dt.time]) -> list[str]:
    """Start times as 'HOURS:MINUTES' specs, hours with the same minutes together ('8..19:00,05,…' in
    systemd's syntax; cron_lines turns '..' into '-')."""
    by_hour: dict[int, list[int]] = {}
    for t in times:
        by_hour.setdefault(t.hour, []).append(t.minute)
    groups: list[tuple[list[int], list[int]]] = []  # (hours, minutes), consecutive hours with the same minutes
    for hour, minutes in sorted(by_hour.items()):
        if groups and groups[-1][1] == minutes and groups[-1][0][-1] == hour - 1:
            groups[-1][0].append(hour)
        else:
            groups.append(([hour], minutes))
    out = []
    for hours, minutes in groups:
        span = f"{hours[0]:02d}" if len(hours) == 1 else f"{hours[0]:02d}..{hours[-1]:02d}"
        out.append(f"{span}:{','.join(f'{m:02d}' for m in minutes)}")
    return out


def cron_lines(p: Plan, job: Job) -> list[str]:
    """minute hour * * day command # marker (cron reads the machine's local time; % must be escaped); a
    repeated job is one line per run of hours with the same minutes."""
    at, weekday = p.local(job)
    days = "*" if weekday is None else str((weekday + 1) % 7)  # cron: 0 = Sunday
    command = " ".join(shlex.quote(a) for a in p.argv(job)).replace("%", "\\%")
    if not job.every:
        return [f"{at.minute} {at.hour} * * {days} {command} # {p.name(job)}"]
    out = []
    for spec in _repeated(sorted(p.local_times(job))):
        hours, minutes = spec.split(":")
        hours = "-".join(str(int(h)) for h in hours.split(".."))
        out.append(f"{','.join(str(int(m)) for m in minutes.split(','))} {hours} * * {days} {command} # {p.name(job)}")
    return out


def cron_line(p: Plan, job: Job) -> str:
    """The one cron line of a job run once a day."""
    return cron_lines(p, job)[0]


def launchd_label(p: Plan, job: Job) -> str:
    return f"org.coordxl.{p.tag}.{job.name}"


def launchd_plist(p: Plan, job: Job) -> bytes:
    """A LaunchAgent: the program and its arguments, StartCalendarInterval on the machine's local time
    (launchd runs a time missed during sleep at wake-up)."""
    at, weekday = p.local(job)
    interval = {"Hour": at.hour, "Minute": at.minute}
    if weekday is not None:
        interval["Weekday"] = (weekday + 1) % 7  # launchd: 0 = Sunday
    if job.every:  # one entry per start (launchd has no repetition window)
        interval = [{"Hour": t.hour, "Minute": t.minute} for t in p.local_times(job)]
    return plistlib.dumps({"Label": launchd_label(p, job), "ProgramArguments": p.argv(job),
                           "StartCalendarInterval": interval, "WorkingDirectory": str(p.root),
                           "RunAtLoad": False, "ProcessType": "Background"})


# --- writing and removing ---------------------------------------------------------------------------


@dataclass
class Change:
    """What an install writes or runs, for showing before it happens."""

    files: dict[Path, str] = field(default_factory=dict)  # path → text shown
    commands: list[list[str]] = field(default_factory=list)
    entries: list[str] = field(default_factory=list)  # names of the scheduler entries


class Installer:
    """One kind of scheduler: what it would write (``change``), ``install``, ``uninstall``, ``present``."""

    kind = ""

    def __init__(self, runner: Runner = run_command):
        self.runner = runner

    def _run(self, argv: list[str], input: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
        done = self.runner(argv, input=input)
        if check and done.returncode != 0:
            raise SchedulerSetupError(key="install.command_failed", command=" ".join(argv),
                                      code=done.returncode, output=(done.stderr or done.stdout or "").strip()[:300])
        return done

    def change(self, p: Plan) -> Change:
        raise NotImplementedError

    def install(self, p: Plan) -> Change:
        raise NotImplementedError

    def uninstall(self, p: Plan) -> list[str]:
        """Remove this folder's entries; the names removed."""
        raise NotImplementedError

    def present(self, p: Plan) -> list[str]:
        """This folder's entries that exist now."""
        raise NotImplementedError


class WindowsTasks(Installer):
    """Task Scheduler: ``schtasks /Create /XML`` from a UTF-16 file (schtasks reads only that)."""

    kind = "windows"

    def __init__(self, runner: Runner = run_command, scratch: Path | None = None):
        super().__init__(runner)
        self.scratch = scratch

    def change(self, p: Plan) -> Change:
        out = Change()
        for job in p.jobs:
            out.entries.append(task_name(p, job))
            out.files[Path(f"{p.name(job)}.xml")] = schtasks_xml(p, job)
            out.commands.append(["schtasks", "/Create", "/TN", task_name(p, job), "/XML", f"{p.name(job)}.xml", "/F"])
        return out

    def install(self, p: Plan) -> Change:
        out = self.change(p)
        with tempfile.TemporaryDirectory(dir=self.scratch) as scratch:
            for job in p.jobs:
                path = Path(scratch) / f"{p.name(job)}.xml"
                path.write_bytes(schtasks_xml(p, job).encode("utf-16"))  # with its BOM, as schtasks wants
                self._run(["schtasks", "/Create", "/TN", task_name(p, job), "/XML", str(path), "/F"])
        for name in self._present(p, p.retired):  # e.g. the replies task after replies were turned off
            self._run(["schtasks", "/Delete", "/TN", name, "/F"])
        return out

    def uninstall(self, p: Plan) -> list[str]:
        gone = []
        for name in self._present(p, p.jobs + p.retired):
            self._run(["schtasks", "/Delete", "/TN", name, "/F"])
            gone.append(name)
        return gone

    def _present(self, p: Plan, jobs: list[Job]) -> list[str]:
        return [task_name(p, job) for job in jobs
                if self._run(["schtasks", "/Query", "/TN", task_name(p, job)], check=False).returncode == 0]

    def present(self, p: Plan) -> list[str]:
        return self._present(p, p.jobs)


def systemd_user_dir(environ: dict | None = None) -> Path:
    environ = os.environ if environ is None else environ
    base = environ.get("XDG_CONFIG_HOME") or os.path.join(environ.get("HOME") or os.path.expanduser("~"), ".config")
    return Path(base) / "systemd" / "user"


class SystemdTimers(Installer):
    """systemd user units in ~/.config/systemd/user, enabled with ``systemctl --user``."""

    kind = "systemd"

    def __init__(self, runner: Runner = run_command, unit_dir: Path | None = None):
        super().__init__(runner)
        self.unit_dir = unit_dir or systemd_user_dir()

    def change(self, p: Plan) -> Change:
        out = Change()
        for job in p.jobs:
            for name, content in systemd_units(p, job).items():
                out.files[self.unit_dir / name] = content
            out.entries.append(f"{p.name(job)}.timer")
        out.commands = [["systemctl", "--user", "daemon-reload"],
                        ["systemctl", "--user", "enable", "--now", *out.entries]]
        return out

    def install(self, p: Plan) -> Change:
        out = self.change(p)
        self.unit_dir.mkdir(parents=True, exist_ok=True)
        self._remove(p, p.retired)  # e.g. the replies timer after replies were turned off
        for path, content in out.files.items():
            _write_atomically(path, content.encode("utf-8"))
        for argv in out.commands:
            self._run(argv)
        return out

    def _files(self, p: Plan, jobs: list[Job]) -> list[Path]:
        return [self.unit_dir / f"{p.name(job)}.{ext}" for job in jobs for ext in ("timer", "service")]

    def uninstall(self, p: Plan) -> list[str]:
        return self._remove(p, p.jobs + p.retired)

    def _remove(self, p: Plan, jobs: list[Job]) -> list[str]:
        timers = [f"{p.name(job)}.timer" for job in jobs if (self.unit_dir / f"{p.name(job)}.timer").exists()]
        if timers:
            self._run(["systemctl", "--user", "disable", "--now", *timers], check=False)
        gone = []
        for path in self._files(p, jobs):
            if path.exists():
                path.unlink()
                gone.append(path.name)
        if gone:
            self._run(["systemctl", "--user", "daemon-reload"], check=False)
        return gone

    def present(self, p: Plan) -> list[str]:
        return [f"{p.name(job)}.timer" for job in p.jobs if (self.unit_dir / f"{p.name(job)}.timer").exists()]


class CronLines(Installer):
    """The user's crontab: ``crontab -l`` read, this folder's lines replaced, ``crontab -`` written."""

    kind = "cron"

    def change(self, p: Plan) -> Change:
        out = Change(entries=[p.name(job) for job in p.jobs])
        out.files[Path("crontab")] = "\n".join(line for job in p.jobs for line in cron_lines(p, job)) + "\n"
        out.commands = [["crontab", "-"]]  # the current crontab with this folder's lines replaced
        return out

    def _current(self) -> list[str]:
        done = self._run(["crontab", "-l"], check=False)
        # no crontab yet: exit 1 and "no crontab for <user>" on stderr
        return done.stdout.splitlines() if done.returncode == 0 else []

    def _ours(self, p: Plan, line: str, jobs: list[Job] | None = None) -> bool:
        """A line this folder's install wrote (retired jobs' included: replaced, or removed)."""
        return any(line.rstrip().endswith(f"# {p.name(job)}") for job in (p.jobs + p.retired if jobs is None else jobs))

    def install(self, p: Plan) -> Change:
        out = self.change(p)
        kept = [line for line in self._current() if not self._ours(p, line)]
        ours = [line for job in p.jobs for line in cron_lines(p, job)]
        self._run(["crontab", "-"], input="\n".join(kept + ours) + "\n")
        return out

    def uninstall(self, p: Plan) -> list[str]:
        lines = self._current()
        gone = list(dict.fromkeys(line.rsplit("# ", 1)[1].strip() for line in lines if self._ours(p, line)))
        if gone:
            kept = [line for line in lines if not self._ours(p, line)]
            self._run(["crontab", "-"], input="\n".join(kept) + "\n" if kept else "")
        return gone

    def present(self, p: Plan) -> list[str]:
        return list(dict.fromkeys(line.rsplit("# ", 1)[1].strip() for line in self._current()
                                  if self._ours(p, line, p.jobs)))


class LaunchdAgents(Installer):
    """A LaunchAgent per job in ~/Library/LaunchAgents, loaded with ``launchctl bootstrap gui/<uid>``."""

    kind = "launchd"

    def __init__(self, runner: Runner = run_command, agent_dir: Path | None = None, uid: int | None = None):
        super().__init__(runner)
        self.agent_dir = agent_dir or Path(os.path.expanduser("~")) / "Library" / "LaunchAgents"
        self.uid = uid if uid is not None else (os.getuid() if hasattr(os, "getuid") else 0)

    def _path(self, p: Plan, job: Job) -> Path:
        return self.agent_dir / f"{launchd_label(p, job)}.plist"

    def change(self, p: Plan) -> Change:
        out = Change()
        for job in p.jobs:
            out.files[self._path(p, job)] = launchd_plist(p, job).decode("utf-8")
            out.entries.append(launchd_label(p, job))
            out.commands.append(["launchctl", "bootstrap", f"gui/{self.uid}", str(self._path(p, job))])
        return out

    def install(self, p: Plan) -> Change:
        out = self.change(p)
        self.agent_dir.mkdir(parents=True, exist_ok=True)
        self._remove(p, p.retired)  # e.g. the replies agent after replies were turned off
        for job in p.jobs:
            path = self._path(p, job)
            if path.exists():  # a reinstall: the old definition leaves launchd first
                self._run(["launchctl", "bootout", f"gui/{self.uid}", str(path)], check=False)
            _write_atomically(path, launchd_plist(p, job))
            self._run(["launchctl", "bootstrap", f"gui/{self.uid}", str(path)])
        return out

    def uninstall(self, p: Plan) -> list[str]:
        return self._remove(p, p.jobs + p.retired)

    def _remove(self, p: Plan, jobs: list[Job]) -> list[str]:
        gone = []
        for job in jobs:
            path = self._path(p, job)
            if path.exists():
                self._run(["launchctl", "bootout", f"gui/{self.uid}", str(path)], check=False)
                path.unlink()
                gone.append(launchd_label(p, job))
        return gone

    def present(self, p: Plan) -> list[str]:
        return [launchd_label(p, job) for job in p.jobs if self._path(p, job).exists()]


INSTALLERS: dict[str, Callable[..., Installer]] = {
    "windows": WindowsTasks, "systemd": SystemdTimers, "cron": CronLines, "launchd": LaunchdAgents}


def installer(kind: str, runner: Runner = run_command, **where) -> Installer:
    """The installer of ``kind``; ``where`` names its folder (unit_dir, agent_dir, scratch) for tests."""
    return INSTALLERS[kind](runner, **where)


def _write_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


_UNSAFE = re.compile(r"[\x00-\x1f]")


def shown(text: str) -> str:
    """A file's text as shown before it is written (control characters visible)."""
    return _UNSAFE.sub(lambda m: "\\x%02x" % ord(m.group()) if m.group() not in "\n\t" else m.group(), text)
