"""The administrator's side: settings that can never crash a job, damaged state that never gives a
traceback, and (further down) the health digest."""

import datetime as dt
import email
import errno
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from email import policy
from pathlib import Path
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from click.testing import CliRunner
from conftest import clean_launch, sha256, write_item

from coordxl.cli import main
from coordxl.messages import CLICK_ZH, MESSAGES
from coordxl.run.daily import run_daily
from coordxl.scheduler import status
from coordxl.send.health import has_calendar_data, next_year_missing
from coordxl.settings import SETTINGS, Setting, Settings

BAD_BY_KIND = {
    "zone": '"Beijing"', "time": '"9点"', "dates": '["2026-10-9"]', "folder": '"../elsewhere"',
    "address": '"not-an-address"', "host": '"smtp corp example"', "env": '"MY PASSWORD"',
    "domains": '["not a domain"]', "file": '"/no/such/ca.pem"', "names": '[""]', "counts": "[-1]", "monthday": '"12月1日"', "share": '"fileserver/share"', "targets": "[90]", "years": "[27]",
    "folder_id": '"协调-1"', "local_path": '"state/here"',
}


def bad_values(s: Setting) -> list[str]:
    """Values (as TOML) that the settings table says are wrong for ``s``: one of the wrong type, and
    one outside its choices, its range or its kind."""
    wrong_type = '"yes"' if isinstance(s.default, (bool, int, list)) else "123"
    out = [wrong_type]
    if s.choices:
        out.append('"bogus"')
    if s.minimum is not None:
        out.append(str(s.minimum - 1))
    if s.maximum is not None:
        out.append(str(s.maximum + 1))
    if s.kind:
        out.append(BAD_BY_KIND[s.kind])  # a new kind without a bad example fails here
    return out


CASES = [(s.name, value) for s in SETTINGS for value in bad_values(s)]


def test_every_setting_has_a_bad_value_beyond_its_type():
    """A setting that only checks its type would take 9点 for a time or -1 for a count."""
    for s in SETTINGS:
        if isinstance(s.default, bool) or (isinstance(s.default, str) and not s.choices and not s.kind):
            continue  # true/false; free text (email.user)
        assert len(bad_values(s)) >= 2, f"{s.name} has no check of its own: give it a kind or a range"


def _write(root: Path, name: str, value: str) -> None:
    section, key = name.split(".", 1)
    text = (root / "coordxl.toml").read_text(encoding="utf-8")
    text = re.sub(rf"(?m)^{key} = .*$", f"{key} = {value}", text.split(f"[{section}]", 1)[1], count=1)
    head = (root / "coordxl.toml").read_text(encoding="utf-8").split(f"[{section}]", 1)[0]
    (root / "coordxl.toml").write_text(f"{head}[{section}]{text}", encoding="utf-8")


@pytest.mark.parametrize("name,value", CASES, ids=[f"{n}={v}" for n, v in CASES])
def test_a_bad_value_is_one_line_and_exit_2_in_every_command(example_root, name, value, monkeypatch):
    from coordxl import scheduler
    monkeypatch.setattr(scheduler.Scheduler, "run_forever", lambda *a, **k: pytest.fail("schedule started"))
    _write(example_root, name, value)
    runner = CliRunner()
    for command in (["check"], ["daily"], ["weekly"], ["status"], ["schedule"]):
        args = command + [str(example_root)] + (["--today", "2026-08-20"] if command[0] in ("check", "daily", "weekly") else [])
        result = runner.invoke(main, args)
        assert result.exit_code == 2, (command, result.output, result.exception)
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and name in lines[0] and "Traceback" not in result.output, (command, result.output)
    assert not (example_root / ".coordxl" / "state.db").exists()  # refused before anything ran


def test_the_shipped_settings_and_the_defaults_pass():
    from coordxl.settings import Settings, render_config
    for lang in ("zh", "en"):
        loaded = Settings.from_toml(render_config(lang))  # every default passes its own check
        assert all(loaded[s.name] == s.default for s in SETTINGS)


def test_a_config_saved_by_notepad_as_gbk_is_read(example_root):
    path = example_root / "coordxl.toml"
    path.write_bytes(path.read_text(encoding="utf-8").encode("gb18030"))
    result = CliRunner().invoke(main, ["check", str(example_root), "--today", "2026-08-20", "--no-report", "--json"])
    assert result.exit_code == 1 and '"findings"' in result.output  # it ran: the example has findings


# --- damaged state: one line, exit 2, in every command -------------------------------------------

def _state_is_a_folder(root: Path) -> None:
    (root / ".coordxl" / "state.db").mkdir(parents=True)


def _state_folder_is_a_file(root: Path) -> None:
    (root / ".coordxl").write_text("not a folder")


def _newer_schema(root: Path) -> None:
    (root / ".coordxl").mkdir()
    db = sqlite3.connect(root / ".coordxl" / "state.db")
    db.execute("PRAGMA user_version = 99")
    db.close()


@pytest.mark.parametrize("damage", [_state_is_a_folder, _state_folder_is_a_file, _newer_schema])
def test_damaged_state_is_one_line_and_exit_2_in_every_command(example_root, damage, monkeypatch):
    from coordxl import scheduler
    monkeypatch.setattr(scheduler.Scheduler, "run_forever", lambda *a, **k: pytest.fail("schedule started"))
    damage(example_root)
    for command in (["daily"], ["weekly"], ["status"], ["schedule"]):
        args = command + [str(example_root)] + (["--today", "2026-08-20"] if command[0] in ("daily", "weekly") else [])
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 2, (command, result.output, repr(result.exception))
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and "state" in lines[0] and "Traceback" not in result.output, (command, result.output)


def test_a_fault_of_coordxl_itself_is_one_line_exit_3_and_its_traceback_is_in_the_log(example_root, monkeypatch):
    from coordxl.run import check
    def broken(*args, **kwargs):
        raise RuntimeError("a bug")
    monkeypatch.setattr(check, "run_check", broken)
    monkeypatch.delenv("COORDXL_DEBUG", raising=False)
    result = CliRunner().invoke(main, ["check", str(example_root), "--today", "2026-08-20"])
    assert result.exit_code == 3
    [line] = result.output.strip().splitlines()
    assert "内部错误" in line and "RuntimeError: a bug" in line and "Traceback" not in result.output
    log = (example_root / ".coordxl" / "logs" / "coordxl.log").read_text(encoding="utf-8")
    assert "Traceback" in log and "a bug" in log


# --- what the machine refuses: one line, exit 2, saying what to fix ------------------------------
# Root reads and writes whatever the mode bits say: the CLI then runs as root without the capabilities
# that override them (setpriv), so the kernel refuses as it would refuse any user.

def _as_a_user(*args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "coordxl", *args]
    if os.geteuid() == 0:  # without the capabilities that let root read, write, chmod or chown anything
        command = ["setpriv", "--bounding-set=-dac_override,-dac_read_search,-fowner,-chown", *command]
    return subprocess.run(command, capture_output=True, text=True, env={**os.environ, "COORDXL_LANG": ""})


def _ran_before(root: Path) -> None:
    assert CliRunner().invoke(main, ["daily", str(root), "--today", "2026-08-19"]).exit_code in (0, 1)


def _theirs(path: Path, mode: int) -> None:
    """``path`` belongs to another account (nobody), with ``mode``: coordxl cannot change it back."""
    if os.geteuid() != 0:
        pytest.skip("giving a file to another account needs root")
    path.mkdir(exist_ok=True) if path.suffix == "" else None
    os.chown(path, 65534, 65534)
    path.chmod(mode)


ENVIRONMENT_FAULTS = {  # what is made unusable → the commands it stops, and what their one line says
    "a state folder of another account": (lambda r: _theirs(r / ".coordxl", 0o755), ("daily", "weekly", "status"),
                                          ("没有权限", "无法写入", "读写出错"), ".coordxl"),
    "a read-only state.db of another account": (lambda r: _theirs(r / ".coordxl" / "state.db", 0o644),
                                                ("daily", "weekly", "status"), ("无法写入",), "state.db"),
    "a 报告 folder of another account": (lambda r: _theirs(r / "报告", 0o755), ("check", "weekly", "review"),
                                       ("没有权限",), "报告"),
    "an unreadable 进行中 folder": (lambda r: (r / "进行中").chmod(0), ("check", "daily", "weekly", "review"),
                                  ("没有权限",), "进行中"),
    "an unreadable coordxl.toml": (lambda r: (r / "coordxl.toml").chmod(0), ("check", "daily", "weekly", "status",
                                                                             "review"), ("无法读取",), "coordxl.toml"),
}


@pytest.mark.skipif(os.name != "posix" or (os.geteuid() == 0 and not shutil.which("setpriv")),
                    reason="needs POSIX permissions, and setpriv where the tests run as root")
@pytest.mark.parametrize("fault", list(ENVIRONMENT_FAULTS))
@pytest.mark.slow  # real coordxl processes, one per job or fault
def test_what_the_machine_refuses_is_one_line_exit_2_saying_what_to_fix(example_root, fault):
    damage, commands, says, names = ENVIRONMENT_FAULTS[fault]
    _ran_before(example_root)
    damage(example_root)
    for command in commands:
        extra = {"daily": ["--today", "2026-08-20"], "weekly": ["--today", "2026-08-21"], "check": ["--today", "2026-08-20"],
                 "review": ["Q3新品上市推广"]}.get(command, [])
        done = _as_a_user(command, str(example_root), *extra)
        assert done.returncode == 2, (command, done.stdout, done.stderr)
        [line] = done.stderr.strip().splitlines()  # no traceback, no 'Exception ignored', nothing else
        assert any(s in line for s in says) and names in line and "内部错误" not in line, (command, line)
        assert "然后再运行一次" in line or "可以读取它" in line  # it says what to do


@pytest.mark.skipif(os.name != "posix" or (os.geteuid() == 0 and not shutil.which("setpriv")),
                    reason="needs POSIX permissions, and setpriv where the tests run as root")
def test_a_sub_folder_coordxl_may_not_open_is_named_and_the_rest_is_checked(example_root):
    """A department's sub-folder of 进行中 that the account running coordxl may not list: its workbooks
    are not silently dropped, the folder is named (W-UNREADABLE) with what to do, the others run as always."""
    private = example_root / "进行中" / "财务部"
    private.mkdir()
    shutil.copy(example_root / "进行中" / "华东门店焕新.xlsx", private / "预算.xlsx")
    private.chmod(0)
    done = _as_a_user("check", str(example_root), "--today", "2026-08-20", "--json", "--no-report")
    report = json.loads(done.stdout)
    [denied] = [f for f in report["findings"] if f["workbook"] == "进行中/财务部/"]
    assert denied["code"] == "W-UNREADABLE" and "无权打开" in denied["message"] and "读取这个文件夹" in denied["hint"]
    assert report["summary"]["workbooks"] == 3 and done.returncode == 1


def _disk_full(path) -> OSError:
    return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))


def test_a_full_disk_under_the_reports_is_one_line_exit_2_and_leaves_no_half_file(example_root, monkeypatch):
    """The disk fills up while a report is put in place (injected at the rename into 报告/): one line
    that says the disk is full and where, exit 2, and no temporary file left behind."""
    real = os.replace

    def full(src, dst, *args, **kwargs):
        if Path(dst).parent.name == "报告":
            raise _disk_full(dst)
        return real(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", full)
    for args in (["check", "--today", "2026-08-20"], ["weekly", "--today", "2026-08-21"], ["review", "Q3新品上市推广"]):
        result = CliRunner().invoke(main, [args[0], str(example_root), *args[1:]])
        assert result.exit_code == 2, (args, result.output)
        [line] = result.output.strip().splitlines()
        assert "磁盘已满" in line and "报告" in line and "内部错误" not in line, line
    assert not [p.name for p in (example_root / "报告").iterdir() if p.name.endswith(".tmp")]


def test_a_full_disk_while_flags_are_written_says_so_changes_no_workbook_and_still_reminds(example_root, monkeypatch):
    """The disk of the backups or of the workbooks fills up as the flags are written (injected where the
    writer writes its files): each workbook is left as it was, the run says the disk is full (in words,
    not an errno) and exits 1 for the administrator, and the day's reminders still go out."""
    from coordxl.xlsx import writer
    config = example_root / "coordxl.toml"  # the flags written in this process, where the fault is injected
    config.write_text(config.read_text(encoding="utf-8").replace("workers = 0", "workers = 1"), encoding="utf-8")
    before = {p.name: sha256(p) for p in (example_root / "进行中").iterdir()}

    def full(path, data):
        raise _disk_full(path)

    monkeypatch.setattr(writer, "_fsync_write", full)
    result = CliRunner().invoke(main, ["daily", str(example_root), "--today", "2026-08-20"])
    assert result.exit_code == 1, result.output
    skipped = [line for line in result.output.splitlines() if line.strip().startswith("跳过")]
    assert len(skipped) == 2 and all("磁盘已满" in line and "Errno" not in line for line in skipped)
    assert {p.name: sha256(p) for p in (example_root / "进行中").iterdir()} == before
    assert "提醒邮件：发送 8" in result.output


FILL = r"""set -e
state="$1"
cp -a "$state" "$state.saved"
mount -t tmpfs -o size=3m tmpfs "$state"
cp -a "$state.saved/." "$state/" && rm -rf "$state.saved"
free=$(df --output=avail -B1 "$state" | tail -1)
head -c $((free - $2)) /dev/zero > "$state/filler" || true
set +e
"$3" -m coordxl daily "$4" --today 2026-08-20 > "$5.out" 2> "$5.err"
echo $? > "$5.rc"
rm "$state/filler"
"$3" -m coordxl daily "$4" --today 2026-08-20 > "$5.next" 2>&1
"$3" -m coordxl daily "$4" --today 2026-08-20 > "$5.again" 2>&1
cp -a "$state/outbox" "$5.outbox"
"""


def _can_mount() -> bool:
    if not (sys.platform == "linux" and shutil.which("unshare") and os.geteuid() == 0):
        return False
    return subprocess.run(["unshare", "-m", "sh", "-c", "mount -t tmpfs -o size=1m tmpfs /mnt"],
                          capture_output=True).returncode == 0


# bytes left on the disk: it fills up while the log, a mail file, SQLite's journal, a snapshot
# mid-transaction or the ledger of the flags written (with the writer process running) is written
@pytest.mark.skipif(not _can_mount(), reason="a small tmpfs needs Linux, root and a mount namespace (unshare -m)")
@pytest.mark.parametrize("left", [0, 16_384, 65_536, 139_264, 172_032])
@pytest.mark.slow  # real coordxl processes, one per job or fault
def test_a_full_disk_under_state_is_one_line_exit_2_and_no_mail_goes_twice(example_root, tmp_path, left):
    """The state folder on a real, nearly full disk (a 3 MB tmpfs): the run stops in one line saying the
    disk is full, exit 2, nothing else on stderr; once there is room, the next run does the day's work and
    a third sends nothing: no mail is ever written twice."""
    _ran_before(example_root)
    from coordxl.state.layout import Layout
    state, out = Layout.of(example_root).state, tmp_path / "run"
    script = tmp_path / "fill.sh"
    script.write_text(FILL, encoding="utf-8")
    subprocess.run(["unshare", "-m", "sh", str(script), str(state), str(left), sys.executable, str(example_root),
                    str(out)], check=True, capture_output=True)
    err = Path(f"{out}.err").read_text(encoding="utf-8")
    assert Path(f"{out}.rc").read_text().strip() == "2", err
    [line] = err.strip().splitlines()  # no traceback, no '--- Logging error ---', no 'Exception ignored'
    assert "磁盘已满" in line and "内部错误" not in line, line
    for run in ("next", "again"):
        shown = Path(f"{out}.{run}").read_text(encoding="utf-8")
        assert "Traceback" not in shown and "Exception ignored" not in shown and "内部错误" not in shown, shown
    assert "提醒邮件：发送 0" in Path(f"{out}.again").read_text(encoding="utf-8")
    mails = sorted((Path(f"{out}.outbox") / "2026-08-20").glob("*.eml"))
    keys = [email.message_from_bytes(p.read_bytes())["X-Coordxl-Key"].strip() for p in mails]
    assert len(keys) == len(set(keys)) <= 8  # the day's 8 reminders at most, each once


FULL_FOLDER = r"""set -e
mount -t tmpfs -o size=4m tmpfs "$1"
cp -a "$2/." "$1/"
if [ "$5" = full ]; then head -c $(df --output=avail -B1 "$1" | tail -1) /dev/zero > "$1/filler" || true; fi
if [ "$5" = read-only ]; then mount -o remount,ro "$1"; fi
set +e
n=0
for args in "check $1 --today 2026-08-20" "daily $1 --today 2026-08-20" "weekly $1 --today 2026-08-21" \
            "review $1 Q3新品上市推广" "archive $1 618大促数据复盘对接 --today 2026-08-21" "status $1"; do
  n=$((n + 1))
  "$3" -m coordxl $args > "$4.$n.out" 2> "$4.$n.err"
  echo $? > "$4.$n.rc"
done
"""


@pytest.mark.skipif(not _can_mount(), reason="a small tmpfs needs Linux, root and a mount namespace (unshare -m)")
@pytest.mark.parametrize("disk, says", [("full", "磁盘已满"), ("read-only", ("只读", "读写出错"))])
@pytest.mark.slow  # real coordxl processes, one per job or fault
def test_a_full_or_read_only_share_is_one_line_exit_2_in_every_job(example_root, tmp_path, disk, says):
    """The share itself is full (a 4 MB tmpfs filled to the last byte) or mounted read-only: every command
    says so in one line naming the folder, exit 2 (status too: SQLite needs to write beside state.db even
    to read it)."""
    _ran_before(example_root)
    mount, out = tmp_path / "full", tmp_path / "run"
    mount.mkdir()
    script = tmp_path / "full.sh"
    script.write_text(FULL_FOLDER, encoding="utf-8")
    subprocess.run(["unshare", "-m", "sh", str(script), str(mount), str(example_root), sys.executable, str(out),
                    disk], check=True, capture_output=True)
    for n, job in enumerate(("check", "daily", "weekly", "review", "archive", "status"), start=1):
        code = int(Path(f"{out}.{n}.rc").read_text())
        err = Path(f"{out}.{n}.err").read_text(encoding="utf-8")
        assert code == 2, (job, err, Path(f"{out}.{n}.out").read_text(encoding="utf-8"))
        [line] = err.strip().splitlines()
        assert any(w in line for w in (says if isinstance(says, tuple) else (says,))), (job, line)
        assert str(mount) in line and "内部错误" not in line, (job, line)


def test_a_crash_with_no_log_to_write_goes_to_a_private_new_file_never_a_planted_one(example_root, tmp_path, monkeypatch):
    """coordxl's own fault where the state folder has no log (it is a file here): the traceback goes to a
    new file created for it alone (mode 600) in the temp folder, never through a link someone left there."""
    import tempfile

    from coordxl.run import check
    monkeypatch.setattr(check, "run_check", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("a bug")))
    monkeypatch.delenv("COORDXL_DEBUG", raising=False)
    shared_tmp = tmp_path / "tmp"
    shared_tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(shared_tmp))
    victim = tmp_path / "victim.txt"
    victim.write_text("keep")
    (shared_tmp / "coordxl-crash.log").symlink_to(victim)
    shutil.rmtree(example_root / ".coordxl", ignore_errors=True)
    (example_root / ".coordxl").write_text("not a folder")
    result = CliRunner().invoke(main, ["check", str(example_root), "--today", "2026-08-20"])
    assert result.exit_code == 3 and "内部错误" in result.output
    [crash] = [p for p in shared_tmp.iterdir() if p.name.startswith("coordxl-crash-")]
    assert str(crash) in result.output.replace("\n", "") and "a bug" in crash.read_text(encoding="utf-8")
    assert crash.stat().st_mode & 0o777 == 0o600 and victim.read_text() == "keep"


def test_a_crash_in_a_dry_run_goes_to_the_state_folder(example_root, monkeypatch):
    from coordxl.run import daily
    monkeypatch.setattr(daily, "daily", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("a bug")))
    monkeypatch.delenv("COORDXL_DEBUG", raising=False)
    (example_root / ".coordxl" / "logs").mkdir(parents=True, exist_ok=True)
    result = CliRunner().invoke(main, ["daily", str(example_root), "--today", "2026-08-20", "--dry-run"])
    assert result.exit_code == 3
    [crash] = (example_root / ".coordxl" / "logs").glob("coordxl-crash-*.log")
    assert "a bug" in crash.read_text(encoding="utf-8") and crash.name in result.output.replace("\n", "")


# --- the administrator's daily health mail -------------------------------------------------------




CORPUS = Path(__file__).resolve().parent / "corpus"
SH = ZoneInfo("Asia/Shanghai")


def _admins(root: Path, extra: str = "") -> None:
    config = root / "coordxl.toml"
    text = config.read_text(encoding="utf-8").replace('admins = []', 'admins = ["ops@corp.example", "李娜"]')
    config.write_text(text + extra, encoding="utf-8")


def admin_mails(root: Path, day: dt.date) -> list:
    folder = root / ".coordxl" / "outbox" / day.isoformat()
    mails = [email.message_from_bytes(p.read_bytes(), policy=policy.default) for p in sorted(folder.glob("*.eml"))]
    return [m for m in mails if m["X-Coordxl-Kind"] == "admin"]


def test_no_admin_mail_when_all_is_well(share_with_roster):
    _admins(share_with_roster)
    write_item(share_with_roster, clean_launch())
    result = run_daily(share_with_roster, dt.date(2026, 8, 20), dt.datetime(2026, 8, 20, 9))
    assert result.health == [] and admin_mails(share_with_roster, dt.date(2026, 8, 20)) == []
    assert status(share_with_roster, now=dt.datetime(2026, 8, 20, 10, tzinfo=SH))["health"] == []


def test_the_admin_mail_lists_what_needs_the_administrator(share_with_roster):
    _admins(share_with_roster)
    config = share_with_roster / "coordxl.toml"
    config.write_text(config.read_text(encoding="utf-8").replace("allowed_domains = []",
                                                                 'allowed_domains = ["corp.example"]'), encoding="utf-8")
    d = clean_launch()
    d["tasks"][5]["owner"] = "马超"  # 马超 has left (在职 = 否): his open task needs a new owner
    tracker = write_item(share_with_roster, d)
    shutil.copy(CORPUS / "password_2002_40_xor.xls", share_with_roster / "进行中" / "旧台账.xls")
    roster = share_with_roster / "名册.xlsx"
    wb = openpyxl.load_workbook(roster)
    for row in wb["人员"].iter_rows(min_row=3):
        if row[0].value == "孙丽":
            row[2].value = "sunli@gmail.example"  # outside the allowed domains
    wb["人员"].append(["张伟", "产品部", "zhangwei2@corp.example", "陈静", "否", "是", "产品助理"])  # one name, two people
    wb.save(roster)
    lock = tracker.with_name(f".~lock.{tracker.name}#")  # LibreOffice has it open, day after day
    lock.write_text("孙丽,sunli,pc,29.11.2026 09:00,file:///home/sunli/.config/libreoffice/4;")
    # Monday: the job runs while the mail server is down; Tuesday: the machine was off; Wednesday: a weekly
    # run is killed halfway; Thursday: the job runs again
    from test_notify import free_port

    from coordxl.send.notify import SmtpTransport
    from coordxl.state.layout import Layout
    from coordxl.state.store import Store
    down = Layout.of(share_with_roster).settings.replace(email__transport="smtp", email__host="127.0.0.1",
                                                         email__port=free_port(), email__security="none")
    run_daily(share_with_roster, dt.date(2026, 8, 17), dt.datetime(2026, 8, 17, 9), transport=SmtpTransport(down, None))
    Store(share_with_roster / ".coordxl" / "state.db").start_run("weekly", dt.date(2026, 8, 19),
                                                               dt.datetime(2026, 8, 19, 9, 30))
    result = run_daily(share_with_roster, dt.date(2026, 8, 20), dt.datetime(2026, 8, 20, 9))
    kinds = {i.kind for i in result.health}
    assert {"skipped", "unreadable", "departed", "refused", "runs_missed", "send_failed", "run_failed",
            "roster"} <= kinds, kinds
    [mail, *_] = [m for m in admin_mails(share_with_roster, dt.date(2026, 8, 20)) if m["To"].addresses[0].username == "ops"]
    body = mail.get_body(("plain",)).get_content()
    assert "Q3新品上市推广.xlsx：未写入预警（文件正被打开），已连续 2 次" in body
    assert "旧台账.xls：无法读取工作簿：文件设置了打开密码（已加密）" in body
    assert "已离职的 马超 还有 1 个未完成任务" in body
    assert "未发给 孙丽 <sunli@gmail.example>：不在 email.allowed_domains 允许的域名内" in body
    assert "2026-08-18 至 2026-08-19 的 2 个工作日，每日任务都没有运行" in body
    assert "2026-08-17 发给 zhangwei@corp.example 的" in body and "未送达：cannot connect" in body
    assert "2026-08-19 的 周报 任务运行中途被终止" in body
    assert "名册 人员!" in body and "张伟" in body
    assert mail["Subject"].startswith("【coordxl 运行状况】2026-08-20")
    assert {m["To"].addresses[0].username for m in admin_mails(share_with_roster, dt.date(2026, 8, 20))} == {"ops", "lina"}
    # the same list in `coordxl status`, and exactly one admin mail per day however often the job runs
    info = status(share_with_roster, now=dt.datetime(2026, 8, 20, 10, tzinfo=SH))
    assert [h["text"] for h in info["health"]] == [i.text("zh") for i in result.health]
    again = run_daily(share_with_roster, dt.date(2026, 8, 20), dt.datetime(2026, 8, 20, 15))
    assert not again.admin_delivery.sent and len(admin_mails(share_with_roster, dt.date(2026, 8, 20))) == 2


def test_from_november_a_missing_next_year_of_holiday_data_is_reported():
    year = 2098  # a year no chinesecalendar release will cover
    assert not has_calendar_data(year + 1)
    settings = Settings.defaults()
    assert next_year_missing(settings, dt.date(year, 10, 31)) == []
    [issue] = next_year_missing(settings, dt.date(year, 11, 1))
    assert "coordxl calendar ROOT --import" in issue.text("zh") and f"{year + 1} 年" in issue.text("zh")
    # a company day off is not the year's arrangement; the imported notice (official_years) is
    assert next_year_missing(settings.replace(calendar__extra_holidays=[f"{year + 1}-01-01"]), dt.date(year, 11, 1))
    covered = settings.replace(calendar__extra_holidays=[f"{year + 1}-01-01"], calendar__official_years=[year + 1])
    assert next_year_missing(covered, dt.date(year, 12, 1)) == []


# --- a folder that is not a coordxl folder ----------------------------------------------------

def test_every_command_refuses_a_folder_without_coordxl_toml_and_writes_nothing(example_root):
    inside = example_root / "进行中"  # a person pointed the job at the items folder, not the shared folder
    before = sorted(p.name for p in inside.rglob("*"))
    runner = CliRunner()
    for args in (["check", str(inside)], ["daily", str(inside)], ["weekly", str(inside)], ["status", str(inside)],
                 ["schedule", str(inside)], ["review", str(inside), "Q3新品上市推广"],
                 ["archive", str(inside), "Q3新品上市推广"], ["new", "年终盘点", "--root", str(inside), "--initiator", "张伟"]):
        result = runner.invoke(main, args)
        assert result.exit_code == 2, (args, result.output)
        [line] = result.output.strip().splitlines()
        assert "不是 coordxl 共享文件夹" in line and f"是否是指 {example_root.resolve()}" in line, line
    assert sorted(p.name for p in inside.rglob("*")) == before  # no 报告/, no .coordxl/ in there


def test_coordxl_s_own_folders_under_the_items_folder_are_never_read_as_items(example_root):
    config = example_root / "coordxl.toml"
    config.write_text(config.read_text(encoding="utf-8").replace('reports = "报告"', 'reports = "进行中/报告"'),
                      encoding="utf-8")
    weekly = CliRunner().invoke(main, ["weekly", str(example_root), "--today", "2026-08-24"])
    assert weekly.exit_code == 0, weekly.output
    assert list((example_root / "进行中" / "报告").glob("周报-*.xlsx"))
    result = CliRunner().invoke(main, ["check", str(example_root), "--today", "2026-08-20", "--json", "--no-report"])
    report = json.loads(result.output)
    assert report["summary"]["items"] == 3 and not [f for f in report["findings"] if "报告" in f["workbook"]]


# --- links people can click ---------------------------------------------------------------------

@pytest.mark.parametrize("share,href,shown", [
    (r"\\fileserver\share\协调", "file://fileserver/share/%E5%8D%8F%E8%B0%83/%E8%BF%9B%E8%A1%8C%E4%B8%AD/",
     "\\\\fileserver\\share\\协调\\进行中\\Q3新品上市推广.xlsx"),
    ("https://corp.sharepoint.example/sites/ops/Shared Documents/协调",
     "https://corp.sharepoint.example/sites/ops/Shared%20Documents/%E5%8D%8F%E8%B0%83/%E8%BF%9B%E8%A1%8C%E4%B8%AD/",
     "https://corp.sharepoint.example/sites/ops/Shared Documents/协调/进行中/Q3新品上市推广.xlsx"),
])
def test_mails_link_each_workbook_and_show_its_full_path(example_root, share, href, shown):
    config = example_root / "coordxl.toml"
    escaped = share.replace("\\", "\\\\")
    config.write_text(config.read_text(encoding="utf-8").replace('share_url = ""', f'share_url = "{escaped}"'),
                      encoding="utf-8")
    run_daily(example_root, dt.date(2026, 8, 20), dt.datetime(2026, 8, 20, 9))
    folder = example_root / ".coordxl" / "outbox" / "2026-08-20"
    mails = [email.message_from_bytes(p.read_bytes(), policy=policy.default) for p in sorted(folder.glob("*.eml"))]
    [initiator] = [m for m in mails if m["X-Coordxl-Kind"] == "digest" and m["To"].addresses[0].username == "zhangwei"]
    html = initiator.get_body(("html",)).get_content()
    plain = initiator.get_body(("plain",)).get_content()
    assert f'href="{href}' in html and shown in plain
    # the initiator sees their item's overdue tasks themselves, not only how many there are
    overview = plain.split("== 您发起的事项中逾期的任务 ==")[1]
    assert "逾期" in overview and "负责人" in overview and overview.count("\n- ") >= 2


def test_a_percentage_in_the_mail_is_the_one_the_workbook_shows():
    from coordxl.messages import percent
    assert [percent(x) for x in (2 / 3, 0.125, 0.5, 1.0, 0.0)] == ["67%", "13%", "50%", "100%", "0%"]


# --- Chinese throughout in a Chinese folder -----------------------------------------------------


# what may stay in Latin letters inside Chinese text: commands, options, placeholders, dotted setting and
# file names, paths, finding codes, <angle> and "quoted" values
_KEPT = re.compile(r"coordxl [^，。；：）)\n]*|pip install[^，。；）)\n]*|keyring set[^，。；）)\n]*|--[\w-]+|\{[^}]*\}|\S+\.\S+|\S+/\S*"
                   r"|[A-Z][A-Z0-9]*-[A-Z0-9-]+|<[^>]*>|`[^`]*`|\"[^\"]*\"|'[^']*'")
_SENTENCE = re.compile(r"[A-Za-z]{2,}(?:[ ,'-]+[A-Za-z]{2,}){2,}")


def english_sentences(line: str) -> list[str]:
    return _SENTENCE.findall(_KEPT.sub(" ", line))


def test_the_heuristic_finds_an_english_sentence_and_spares_commands():
    assert english_sentences("coordxl: unknown finding code 'X'") == ["unknown finding code"]
    assert english_sentences("运行 coordxl daily --resend 重新发送；升级 pip install -U chinesecalendar") == []


def test_every_chinese_text_in_the_message_table_is_chinese():
    """Over the whole catalogue, click's words included: a new message left in English fails here."""
    leaks = {key: english_sentences(zh) for key, (zh, _) in MESSAGES.items() if english_sentences(zh)}
    leaks.update({key: english_sentences(zh) for key, zh in CLICK_ZH.items() if english_sentences(zh)})
    assert leaks == {}


def test_a_chinese_folder_s_command_line_prints_no_english_sentence(example_root, tmp_path):
    runner = CliRunner()
    root = str(example_root)
    runs = [["--help"], ["check", "--help"], ["daily", "--help"], ["weekly", "--help"], ["status", "--help"],
            ["review", "--help"], ["archive", "--help"], ["new", "--help"], ["schedule", "--help"], ["init", "--help"],
            ["check", root, "--today", "2026-08-20"], ["daily", root, "--today", "2026-08-20", "--dry-run"],
            ["daily", root, "--today", "2026-08-20"], ["weekly", root, "--today", "2026-08-24"], ["status", root],
            ["review", root, "618大促数据复盘对接", "--today", "2026-08-20"], ["review", root, "没有这个事项"],
            ["archive", root, "Q3新品上市推广"], ["new", "年终盘点", "--root", root, "--initiator", "无名氏"],
            ["check", root, "--today", "2026-13-01"], ["check", root, "--only", "X-NOPE"], ["check", root, "--bogus"],
            ["check"], ["bogus"], ["check", str(tmp_path / "nowhere")], ["init", root],
            ["doctor", "--help"], ["doctor", root, "--kind", "windows", "--today", "2026-08-20"],
            ["schedule", root, "--install", "--kind", "windows"]]
    for args in runs:
        result = runner.invoke(main, args)
        assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit), (args, result.exception)
        leaks = [line for line in result.output.splitlines() if english_sentences(line)]
        assert leaks == [], (args, leaks)


def test_text_from_cells_prints_literally_never_as_markup(share_with_roster):
    d = clean_launch()
    d["tasks"][2]["task"] = "[bold]不是粗体[/bold] [calendar]"
    d["tasks"][2]["owner"] = "[red]无名氏"
    write_item(share_with_roster, d)
    result = CliRunner().invoke(main, ["check", str(share_with_roster), "--today", "2026-08-20", "--no-report"])
    assert "[red]无名氏" in result.output
