"""`coordxl schedule ROOT --install`: what it writes for Task Scheduler, systemd, cron and launchd, parsed back.

Nothing here touches this machine's scheduler: the library tests hand the installers a temporary folder
and a fake runner that records each command; the command-line tests put fake `schtasks`, `systemctl`,
`crontab` and `launchctl` first on PATH (they record their arguments and keep a crontab in a file).
"""

import codecs
import configparser
import datetime as dt
import json
import os
import plistlib
import re
import shlex
import shutil
import stat
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from coordxl import install
from coordxl.settings import Settings

SHANGHAI = ZoneInfo("Asia/Shanghai")
MONDAY = dt.date(2026, 12, 7)
NS = {"t": install.TASK_NS}
EXE = r"C:\coordxl\.venv\Scripts\coordxl.exe"


class FakeRunner:
    """Records every command; keeps a crontab; schtasks /Create keeps the XML file it was given."""

    def __init__(self, crontab: str | None = None):
        self.calls: list[list[str]] = []
        self.crontab = crontab
        self.tasks: dict[str, bytes] = {}

    def __call__(self, argv, input=None):
        self.calls.append(list(argv))
        code, out, err = 0, "", ""
        if argv[:2] == ["schtasks", "/Create"]:
            self.tasks[argv[3]] = Path(argv[5]).read_bytes()
        elif argv[:2] == ["schtasks", "/Query"]:
            code = 0 if argv[3] in self.tasks else 1
        elif argv[:2] == ["schtasks", "/Delete"]:
            self.tasks.pop(argv[3])
        elif argv == ["crontab", "-l"]:
            if self.crontab is None:
                code, err = 1, "no crontab for coordxl\n"
            else:
                out = self.crontab
        elif argv == ["crontab", "-"]:
            self.crontab = input
        return subprocess.CompletedProcess(argv, code, out, err)


def settings(**values) -> Settings:
    return Settings.defaults().replace(**{k.replace(".", "__"): v for k, v in values.items()})


def a_plan(root: Path, kind: str, zone=SHANGHAI, command=None, **values) -> install.Plan:
    return install.plan(root, settings(**values), kind, command=command or ["/opt/coordxl/bin/coordxl"],
                        today=MONDAY, local_zone=zone)


# --- Windows Task Scheduler ------------------------------------------------------------------------


def _task(data: bytes) -> ET.Element:
    assert data[:2] == codecs.BOM_UTF16_LE  # schtasks /XML reads UTF-16 only
    return ET.fromstring(data)


def test_a_windows_task_runs_the_daily_job_every_day_at_the_configured_time(tmp_path):
    root = tmp_path / "共享 协调"
    p = a_plan(root, "windows", command=[EXE])
    runner = FakeRunner()
    install.WindowsTasks(runner, scratch=tmp_path).install(p)
    daily, weekly = (install.task_name(p, job) for job in p.jobs)
    created = [c for c in runner.calls if c[1] == "/Create"]
    assert [c[:4] for c in created] == [["schtasks", "/Create", "/TN", daily], ["schtasks", "/Create", "/TN", weekly]]
    assert all(c[4] == "/XML" and c[6] == "/F" for c in created)

    task = _task(runner.tasks[daily])
    trigger = task.find("t:Triggers/t:CalendarTrigger", NS)
    assert dt.datetime.fromisoformat(trigger.find("t:StartBoundary", NS).text).time() == dt.time(9, 0)
    assert trigger.find("t:ScheduleByDay/t:DaysInterval", NS).text == "1"  # every day: coordxl knows the days off
    action = task.find("t:Actions/t:Exec", NS)
    assert action.find("t:Command", NS).text == EXE
    assert shlex.split(action.find("t:Arguments", NS).text) == ["daily", str(root), "--summary"]
    assert action.find("t:WorkingDirectory", NS).text == str(root)
    assert task.find("t:Settings/t:StartWhenAvailable", NS).text == "true"  # a PC off at 09:00 runs it later
    assert task.find("t:Settings/t:MultipleInstancesPolicy", NS).text == "IgnoreNew"

    task = _task(runner.tasks[weekly])
    trigger = task.find("t:Triggers/t:CalendarTrigger", NS)
    assert dt.datetime.fromisoformat(trigger.find("t:StartBoundary", NS).text).time() == dt.time(9, 30)
    days = trigger.find("t:ScheduleByWeek/t:DaysOfWeek", NS)
    assert [d.tag.split("}")[1] for d in days] == ["Monday"]
    assert shlex.split(task.find("t:Actions/t:Exec/t:Arguments", NS).text) == ["weekly", str(root)]


def test_a_folder_deeper_than_the_schema_s_260_characters_is_named_in_the_arguments_only(tmp_path):
    root = tmp_path / ("深" * 270)
    p = a_plan(root, "windows", command=[EXE])
    task = ET.fromstring(install.schtasks_xml(p, p.jobs[0]).encode("utf-16"))
    assert task.get("version") == "1.3" and task.find("t:Actions/t:Exec/t:WorkingDirectory", NS) is None
    assert shlex.split(task.find("t:Actions/t:Exec/t:Arguments", NS).text)[1] == str(root)


def test_a_windows_task_is_found_and_removed(tmp_path):
    p = a_plan(tmp_path, "windows", command=[EXE])
    runner = FakeRunner()
    tasks = install.WindowsTasks(runner, scratch=tmp_path)
    assert tasks.present(p) == []
    tasks.install(p)
    assert tasks.present(p) == [install.task_name(p, job) for job in p.jobs]
    assert tasks.uninstall(p) == [install.task_name(p, job) for job in p.jobs]
    assert runner.tasks == {} and ["schtasks", "/Delete", "/TN", install.task_name(p, p.jobs[0]), "/F"] in runner.calls


def test_times_are_converted_when_the_machine_s_clock_is_in_another_zone(tmp_path):
    """09:30 Monday in Shanghai is 01:30 Monday UTC; 07:00 Monday in Shanghai is 23:00 Sunday UTC."""
    p = a_plan(tmp_path, "windows", zone=dt.timezone.utc, command=[EXE])
    assert [p.local(job) for job in p.jobs] == [(dt.time(1, 0), None), (dt.time(1, 30), 0)]
    early = a_plan(tmp_path, "cron", zone=dt.timezone.utc, **{"schedule.daily_time": "07:00",
                                                              "schedule.weekly_time": "07:00"})
    assert early.differs()
    assert [install.cron_line(early, job).split()[:5] for job in early.jobs] == [
        ["0", "23", "*", "*", "*"], ["0", "23", "*", "*", "0"]]


def test_with_replies_on_a_windows_task_reads_the_mailbox_every_few_minutes_in_working_hours(tmp_path):
    root = tmp_path / "共享 协调"
    p = a_plan(root, "windows", command=[EXE], **{"replies.enabled": True, "replies.poll_minutes": 10})
    runner = FakeRunner()
    install.WindowsTasks(runner, scratch=tmp_path).install(p)
    name = install.task_name(p, p.jobs[2])
    assert name.endswith("-replies") and sorted(runner.tasks) == sorted(install.task_name(p, j) for j in p.jobs)
    task = _task(runner.tasks[name])
    trigger = task.find("t:Triggers/t:CalendarTrigger", NS)
    # the schema's order: StartBoundary, then Repetition (triggerBaseType), then the calendar's schedule
    assert [child.tag.split("}")[1] for child in trigger] == ["StartBoundary", "Repetition", "ScheduleByDay"]
    assert dt.datetime.fromisoformat(trigger.find("t:StartBoundary", NS).text).time() == dt.time(8, 0)  # an hour early
    assert trigger.find("t:Repetition/t:Interval", NS).text == "PT10M"
    assert trigger.find("t:Repetition/t:Duration", NS).text == "PT720M"  # until 20:00
    assert shlex.split(task.find("t:Actions/t:Exec/t:Arguments", NS).text) == ["replies", str(root)]

    off = a_plan(root, "windows", command=[EXE])  # replies turned off again: the next install removes its task
    install.WindowsTasks(runner, scratch=tmp_path).install(off)
    assert name not in runner.tasks and ["schtasks", "/Delete", "/TN", name, "/F"] in runner.calls


def test_with_replies_on_cron_polls_on_the_machine_s_clock_from_an_hour_before_the_daily_job(tmp_path):
    root = tmp_path / "共享 协调"
    p = a_plan(root, "cron", zone=dt.timezone.utc, **{"replies.enabled": True, "schedule.daily_time": "09:30"})
    runner = FakeRunner(crontab="")
    install.CronLines(runner).install(p)
    lines = [shlex.split(line, comments=True) for line in runner.crontab.splitlines() if line.endswith("-replies")]
    assert all(f[5:] == ["/opt/coordxl/bin/coordxl", "replies", str(root)] for f in lines)
    starts = set()
    for f in lines:  # 08:30 to 19:55 in Shanghai is 00:30 to 11:55 UTC
        first, _, last = f[1].partition("-")
        starts |= {(h, int(m)) for h in range(int(first), int(last or first) + 1) for m in f[0].split(",")}
    assert min(starts) == (0, 30) and max(starts) == (11, 55) and len(starts) == 138  # every 5 minutes
    assert install.CronLines(runner).present(p) == [f"coordxl-{p.tag}-{j}" for j in ("daily", "weekly", "replies")]
    install.CronLines(runner).install(a_plan(root, "cron"))  # replies off: its lines go, the others stay
    assert len(runner.crontab.splitlines()) == 2 and "-replies" not in runner.crontab


def test_with_replies_on_launchd_starts_the_agent_at_each_poll(tmp_path):
    p = a_plan(tmp_path, "launchd", **{"replies.enabled": True, "replies.poll_minutes": 15})
    agents = tmp_path / "LaunchAgents"
    install.LaunchdAgents(FakeRunner(), agent_dir=agents, uid=501).install(p)
    agent = plistlib.loads((agents / f"org.coordxl.{p.tag}.replies.plist").read_bytes())
    assert agent["ProgramArguments"][1:] == ["replies", str(tmp_path)]
    times = agent["StartCalendarInterval"]
    assert times[0] == {"Hour": 8, "Minute": 0} and times[-1] == {"Hour": 19, "Minute": 45} and len(times) == 48


# --- systemd -------------------------------------------------------------------------------------------


def _units(unit_dir: Path) -> dict[str, configparser.ConfigParser]:
    out = {}
    for path in sorted(unit_dir.iterdir()):
        parser = configparser.ConfigParser(interpolation=None)
        parser.optionxform = str
        parser.read_string(path.read_text(encoding="utf-8"))
        out[path.name] = parser
    return out


def test_systemd_user_units_are_written_enabled_and_removed(tmp_path):
    root = tmp_path / "共享 协调"
    unit_dir = tmp_path / "systemd" / "user"
    p = a_plan(root, "systemd", command=[sys.executable, "-m", "coordxl"])
    runner = FakeRunner()
    timers = install.SystemdTimers(runner, unit_dir=unit_dir)
    timers.install(p)
    name = f"coordxl-{p.tag}"
    units = _units(unit_dir)
    assert sorted(units) == [f"{name}-daily.service", f"{name}-daily.timer", f"{name}-weekly.service", f"{name}-weekly.timer"]
    assert units[f"{name}-daily.timer"]["Timer"]["OnCalendar"] == "*-*-* 09:00:00 Asia/Shanghai"
    assert units[f"{name}-weekly.timer"]["Timer"]["OnCalendar"] == "Mon *-*-* 09:30:00 Asia/Shanghai"
    assert units[f"{name}-daily.timer"]["Timer"]["Persistent"] == "true"
    service = units[f"{name}-daily.service"]["Service"]
    assert shlex.split(service["ExecStart"]) == [sys.executable, "-m", "coordxl", "daily", str(root), "--summary"]
    assert service["WorkingDirectory"] == str(root) and service["Type"] == "oneshot"
    assert runner.calls == [["systemctl", "--user", "daemon-reload"],
                            ["systemctl", "--user", "enable", "--now", f"{name}-daily.timer", f"{name}-weekly.timer"]]
    assert timers.present(p) == [f"{name}-daily.timer", f"{name}-weekly.timer"]

    assert len(timers.uninstall(p)) == 4 and list(unit_dir.iterdir()) == []
    assert ["systemctl", "--user", "disable", "--now", f"{name}-daily.timer", f"{name}-weekly.timer"] in runner.calls


def _verify(unit_dir: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["systemd-analyze", "verify", *map(str, sorted(unit_dir.iterdir()))],
                          capture_output=True, text=True)


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed here")
def test_systemd_analyze_verifies_the_units(tmp_path):
    """systemd's own parser reads them: the calendar spec, the quoting of a path with a space and %."""
    root = tmp_path / "共享 协调 100%"
    unit_dir = tmp_path / "units"
    p = a_plan(root, "systemd", command=[sys.executable, "-m", "coordxl"])
    install.SystemdTimers(FakeRunner(), unit_dir=unit_dir).install(p)
    result = _verify(unit_dir)
    assert result.returncode == 0, result.stderr
    # and it would say so: a time systemd cannot read fails the same check
    broken = unit_dir / f"coordxl-{p.tag}-daily.timer"
    broken.write_text(broken.read_text(encoding="utf-8").replace("09:00:00", "29:00:00"), encoding="utf-8")
    assert _verify(unit_dir).returncode != 0


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed here")
def test_with_replies_on_a_systemd_timer_polls_in_working_hours(tmp_path):
    unit_dir = tmp_path / "units"
    p = a_plan(tmp_path / "共享", "systemd", command=[sys.executable, "-m", "coordxl"],
               **{"replies.enabled": True, "schedule.daily_time": "09:30"})
    install.SystemdTimers(FakeRunner(), unit_dir=unit_dir).install(p)
    assert _verify(unit_dir).returncode == 0, _verify(unit_dir).stderr
    timer = (unit_dir / f"coordxl-{p.tag}-replies.timer").read_text(encoding="utf-8")
    calendars = [line.split("=", 1)[1] for line in timer.splitlines() if line.startswith("OnCalendar=")]
    # systemd's own reading of the specs: after 19:56 in Shanghai the next poll is 08:30 the next morning
    read = subprocess.run(["systemd-analyze", "calendar", "--iterations=2", "--base-time=2026-12-07 19:56:00",
                           *calendars], capture_output=True, text=True, env=dict(os.environ, TZ="Asia/Shanghai"))
    assert read.returncode == 0, read.stderr
    elapses = re.findall(r"(?:Next elapse|Iter\. #\d+): \w+ (\S+ \S+) CST", read.stdout)
    assert elapses == ["2026-12-08 08:30:00", "2026-12-08 08:35:00", "2026-12-08 09:00:00", "2026-12-08 09:05:00"]
    service = (unit_dir / f"coordxl-{p.tag}-replies.service").read_text(encoding="utf-8")
    assert shlex.split(service.split("ExecStart=", 1)[1].splitlines()[0])[-2:] == ["replies", str(tmp_path / "共享")]
    assert calendars == ["*-*-* 08:30,35,40,45,50,55:00 Asia/Shanghai",
                         "*-*-* 09..19:00,05,10,15,20,25,30,35,40,45,50,55:00 Asia/Shanghai"]


# --- cron ------------------------------------------------------------------------------------------------


def test_cron_lines_keep_the_rest_of_the_crontab_and_replace_their_own(tmp_path):
    root = tmp_path / "共享 协调"
    p = a_plan(root, "cron")
    mine = "MAILTO=admin@corp.example\n15 2 * * * /usr/local/bin/backup.sh\n"
    runner = FakeRunner(crontab=mine)
    cron = install.CronLines(runner)
    cron.install(p)
    cron.install(p)  # again: replaced, not doubled
    lines = runner.crontab.splitlines()
    assert lines[:2] == mine.splitlines() and len(lines) == 4
    daily, weekly = (shlex.split(line, comments=True) for line in lines[2:])
    assert daily[:5] == ["0", "9", "*", "*", "*"] and daily[5:] == ["/opt/coordxl/bin/coordxl", "daily", str(root), "--summary"]
    assert weekly[:5] == ["30", "9", "*", "*", "1"] and weekly[5:] == ["/opt/coordxl/bin/coordxl", "weekly", str(root)]
    assert cron.present(p) == [f"coordxl-{p.tag}-daily", f"coordxl-{p.tag}-weekly"]
    cron.uninstall(p)
    assert runner.crontab == mine and cron.present(p) == []


def test_a_first_crontab_is_made_and_a_percent_sign_is_escaped(tmp_path):
    p = a_plan(tmp_path / "完成率100%", "cron")
    runner = FakeRunner(crontab=None)  # `crontab -l` says: no crontab for this user
    install.CronLines(runner).install(p)
    assert "完成率100\\%" in runner.crontab and "100%" not in runner.crontab.replace("100\\%", "")


# --- launchd ----------------------------------------------------------------------------------------------


def test_launchd_agents_are_plists_loaded_for_the_user(tmp_path):
    root = tmp_path / "共享 协调"
    agents = tmp_path / "LaunchAgents"
    p = a_plan(root, "launchd")
    runner = FakeRunner()
    launchd = install.LaunchdAgents(runner, agent_dir=agents, uid=501)
    launchd.install(p)
    daily = plistlib.loads((agents / f"org.coordxl.{p.tag}.daily.plist").read_bytes())
    weekly = plistlib.loads((agents / f"org.coordxl.{p.tag}.weekly.plist").read_bytes())
    assert daily["ProgramArguments"] == ["/opt/coordxl/bin/coordxl", "daily", str(root), "--summary"]
    assert daily["StartCalendarInterval"] == {"Hour": 9, "Minute": 0}
    assert weekly["StartCalendarInterval"] == {"Hour": 9, "Minute": 30, "Weekday": 1}  # launchd: 1 = Monday
    assert daily["WorkingDirectory"] == str(root) and daily["Label"] == f"org.coordxl.{p.tag}.daily"
    assert ["launchctl", "bootstrap", "gui/501", str(agents / f"org.coordxl.{p.tag}.daily.plist")] in runner.calls
    assert launchd.uninstall(p) == [f"org.coordxl.{p.tag}.daily", f"org.coordxl.{p.tag}.weekly"]
    assert list(agents.iterdir()) == []


def test_the_kind_follows_the_platform():
    assert install.default_kind("win32") == "windows"
    assert install.default_kind("darwin") == "launchd"
    assert install.default_kind("linux", systemd_running=True) == "systemd"
    assert install.default_kind("linux", systemd_running=False) == "cron"


def test_the_command_is_the_installed_script_by_its_absolute_path(tmp_path):
    (tmp_path / "bin").mkdir()
    (tmp_path / "Scripts").mkdir()
    python = tmp_path / "bin" / "python"
    scripts = str(tmp_path / "Scripts")
    assert install.program(str(python), scripts=scripts) == [str(python), "-m", "coordxl"]
    (tmp_path / "Scripts" / "coordxl.exe").write_text("")  # Windows, Python installed for all users
    assert install.program(str(python), "win32", scripts) == [str(tmp_path / "Scripts" / "coordxl.exe")]
    (tmp_path / "bin" / "coordxl").write_text("")  # a virtual environment
    assert install.program(str(python), "linux", scripts) == [str(tmp_path / "bin" / "coordxl")]


# --- through the command line, with fake system commands on PATH -------------------------------------

FAKE = """#!{python}
import json, os, shutil, sys
name = os.path.basename(sys.argv[0])
args = sys.argv[1:]
with open(os.environ["FAKE_LOG"], "a", encoding="utf-8") as fh:
    fh.write(json.dumps([name] + args, ensure_ascii=False) + "\\n")
saved = os.environ["FAKE_DIR"]
if name == "crontab":
    tab = os.path.join(saved, "crontab")
    if args == ["-l"]:
        if not os.path.exists(tab):
            sys.stderr.write("no crontab for coordxl\\n")
            sys.exit(1)
        sys.stdout.write(open(tab, encoding="utf-8").read())
    elif args == ["-"]:
        open(tab, "w", encoding="utf-8").write(sys.stdin.read())
if name == "schtasks":
    task = os.path.join(saved, args[2].replace("\\\\", "_") + ".xml")
    if args[0] == "/Create":
        shutil.copy(args[4], task)
    elif args[0] == "/Query":
        sys.exit(0 if os.path.exists(task) else 1)
    elif args[0] == "/Delete":
        os.remove(task)
"""


@pytest.fixture
def fake_system(tmp_path):
    """PATH with fake schtasks/systemctl/crontab/launchctl; XDG_CONFIG_HOME and HOME in tmp_path."""
    if sys.platform == "win32":
        pytest.skip("the fake system commands are POSIX scripts (a shebang line)")
    bin_dir, saved = tmp_path / "fakebin", tmp_path / "saved"
    bin_dir.mkdir()
    saved.mkdir()
    for name in ("schtasks", "systemctl", "crontab", "launchctl"):
        path = bin_dir / name
        path.write_text(FAKE.format(python=sys.executable), encoding="utf-8")
        path.chmod(path.stat().st_mode | stat.S_IEXEC)
    env = dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}", FAKE_LOG=str(tmp_path / "calls.jsonl"),
               FAKE_DIR=str(saved), XDG_CONFIG_HOME=str(tmp_path / "config"), HOME=str(tmp_path / "home"),
               TZ="Asia/Shanghai", COORDXL_LANG="zh")

    class System:
        def __init__(self):
            self.env, self.saved, self.config = env, saved, tmp_path / "config"

        def run(self, *args, stdin=subprocess.DEVNULL):
            return subprocess.run([sys.executable, "-m", "coordxl", *args], env=self.env, stdin=stdin,
                                  capture_output=True, text=True, encoding="utf-8", timeout=120)

        def calls(self) -> list[list[str]]:
            log = tmp_path / "calls.jsonl"
            return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()] if log.exists() else []

    return System()


def test_install_without_a_terminal_only_shows_what_it_would_write(example_root, fake_system):
    result = fake_system.run("schedule", str(example_root), "--install", "--kind", "cron")
    assert result.returncode == 0, result.stderr
    assert "0 9 * * *" in result.stdout and "--summary" in result.stdout  # the line, shown
    assert "未安装" in result.stdout and "--yes" in result.stdout
    assert ["crontab", "-"] not in fake_system.calls() and not (fake_system.saved / "crontab").exists()


def test_install_and_uninstall_a_cron_line_through_the_command_line(example_root, fake_system):
    result = fake_system.run("schedule", str(example_root), "--install", "--kind", "cron", "--yes")
    assert result.returncode == 0, result.stderr
    assert "已安装" in result.stdout
    lines = (fake_system.saved / "crontab").read_text(encoding="utf-8").splitlines()
    fields = [shlex.split(line, comments=True) for line in lines]
    assert [f[:5] for f in fields] == [["0", "9", "*", "*", "*"], ["30", "9", "*", "*", "1"]]
    program = fields[0][5]
    assert os.path.isabs(program) and os.path.exists(program)  # the installed coordxl (or this python -m coordxl)
    assert fields[0][-3:] == ["daily", str(example_root), "--summary"] and fields[1][-2:] == ["weekly", str(example_root)]

    doctor = fake_system.run("doctor", str(example_root), "--kind", "cron", "--today", "2026-08-20")
    assert "✔ 计划任务（cron）" in doctor.stdout, doctor.stdout

    removed = fake_system.run("schedule", str(example_root), "--uninstall", "--kind", "cron", "--yes")
    assert removed.returncode == 0 and "已移除" in removed.stdout
    assert (fake_system.saved / "crontab").read_text(encoding="utf-8").strip() == ""
    doctor = fake_system.run("doctor", str(example_root), "--kind", "cron", "--today", "2026-08-20")
    assert "✘ 没有计划任务（cron）" in doctor.stdout and doctor.returncode == 1


def test_install_a_windows_task_through_the_command_line(example_root, fake_system):
    result = fake_system.run("schedule", str(example_root), "--install", "--kind", "windows", "--yes")
    assert result.returncode == 0, result.stderr
    [daily] = fake_system.saved.glob("*daily.xml")
    task = _task(daily.read_bytes())
    assert dt.datetime.fromisoformat(task.find("t:Triggers/t:CalendarTrigger/t:StartBoundary", NS).text).time() == dt.time(9)
    assert shlex.split(task.find("t:Actions/t:Exec/t:Arguments", NS).text) == ["daily", str(example_root), "--summary"]
    assert "不管用户是否登录都要运行" in result.stdout  # how to run it with nobody logged on
    removed = fake_system.run("schedule", str(example_root), "--uninstall", "--kind", "windows", "--yes")
    assert removed.returncode == 0 and list(fake_system.saved.glob("*.xml")) == []


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed here")
def test_install_systemd_units_through_the_command_line(example_root, fake_system):
    result = fake_system.run("schedule", str(example_root), "--install", "--kind", "systemd", "--yes")
    assert result.returncode == 0, result.stderr
    unit_dir = fake_system.config / "systemd" / "user"
    assert len(list(unit_dir.glob("*.timer"))) == 2 and _verify(unit_dir).returncode == 0
    calls = fake_system.calls()
    assert calls[0] == ["systemctl", "--user", "daemon-reload"] and calls[1][:4] == ["systemctl", "--user", "enable", "--now"]
    assert "loginctl enable-linger" in result.stdout
    fake_system.run("schedule", str(example_root), "--uninstall", "--kind", "systemd", "--yes")
    assert list(unit_dir.iterdir()) == []


def test_with_replies_on_the_install_shows_and_writes_the_replies_poll(example_root, fake_system):
    toml = example_root / "coordxl.toml"
    head, rest = toml.read_text(encoding="utf-8").split("[replies]", 1)
    toml.write_text(head + "[replies]" + rest.replace("enabled = false", "enabled = true", 1), encoding="utf-8")
    result = fake_system.run("schedule", str(example_root), "--install", "--kind", "cron", "--yes")
    assert result.returncode == 0, result.stderr
    assert "每天 08:00–20:00 每 5 分钟运行 coordxl replies" in result.stdout
    lines = (fake_system.saved / "crontab").read_text(encoding="utf-8").splitlines()
    polls = [shlex.split(line, comments=True) for line in lines if line.endswith("-replies")]
    assert [p[:5] for p in polls] == [["0,5,10,15,20,25,30,35,40,45,50,55", "8-19", "*", "*", "*"]]
    assert polls[0][-2:] == ["replies", str(example_root)]
    doctor = fake_system.run("doctor", str(example_root), "--kind", "cron", "--today", "2026-08-20")
    assert "✔ 计划任务（cron）" in doctor.stdout, doctor.stdout
    shutil.rmtree(example_root)  # the folder gone, its settings with it: --uninstall still finds the replies poll
    removed = fake_system.run("schedule", str(example_root), "--uninstall", "--kind", "cron", "--yes")
    assert removed.returncode == 0 and "replies" in removed.stdout
    assert (fake_system.saved / "crontab").read_text(encoding="utf-8").strip() == ""


def test_install_and_uninstall_together_is_a_usage_error(example_root, fake_system):
    result = fake_system.run("schedule", str(example_root), "--install", "--uninstall", "--kind", "cron")
    assert result.returncode == 2 and "只能选一个" in result.stderr


def test_on_a_terminal_install_asks_first(example_root, fake_system):
    """A terminal answers the question: n changes nothing, y installs."""
    import pty

    def on_terminal(answer: str) -> subprocess.CompletedProcess:
        controller, terminal = pty.openpty()
        try:
            os.write(controller, answer.encode())
            return fake_system.run("schedule", str(example_root), "--install", "--kind", "cron", stdin=terminal)
        finally:
            os.close(controller)
            os.close(terminal)

    refused = on_terminal("n\n")
    assert "安装？" in refused.stdout and "未做任何修改" in refused.stdout
    assert not (fake_system.saved / "crontab").exists()
    accepted = on_terminal("y\n")
    assert "已安装" in accepted.stdout and len((fake_system.saved / "crontab").read_text(encoding="utf-8").splitlines()) == 2


def test_uninstall_works_after_the_folder_is_gone(example_root, fake_system):
    fake_system.run("schedule", str(example_root), "--install", "--kind", "cron", "--yes")
    shutil.rmtree(example_root)
    removed = fake_system.run("schedule", str(example_root), "--uninstall", "--kind", "cron", "--yes")
    assert removed.returncode == 0 and "已移除" in removed.stdout, removed.stdout + removed.stderr
    assert (fake_system.saved / "crontab").read_text(encoding="utf-8").strip() == ""
