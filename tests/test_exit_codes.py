"""Exit codes a scheduler can use: the jobs exit 0 when they did their work, findings or not; 1 only when
the administrator must act; `--json` gives the run's summary for monitoring. `check` keeps 1 for errors."""

import json
import socket

from click.testing import CliRunner

from coordxl.cli import admin_reasons, main
from coordxl.findings import finding

TODAY = "2026-08-20"


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def smtp_nowhere(root) -> None:
    """Mail through an SMTP server that is down (nothing listens on the port)."""
    path = root / "coordxl.toml"
    settings = path.read_text(encoding="utf-8")
    for old, new in (('transport = "outbox"', 'transport = "smtp"'), ('host = "smtp.corp.example"', 'host = "127.0.0.1"'),
                     ("port = 465", f"port = {free_port()}"), ('security = "ssl"', 'security = "none"')):
        assert old in settings
        settings = settings.replace(old, new, 1)
    path.write_text(settings, encoding="utf-8")


def test_daily_with_staff_mistakes_exits_0_and_its_json_says_what_it_did(example_root):
    result = run("daily", example_root, "--today", TODAY, "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)  # nothing else on stdout
    assert summary["exit_code"] == 0 and summary["exit_reasons"] == []
    assert summary["findings"] == {"errors": 4, "warnings": 2}
    assert summary["mails"]["sent"] == 8 and summary["mails"]["failed"] == 0 and summary["mails"]["unknown"] == 0
    assert summary["flags"] == {"changed": 9, "cells_written": 9, "workbooks_written": 2}
    assert summary["posts"]["sent"] == 1 and summary["skipped_workbooks"] == []


def test_check_keeps_exit_1_for_errors_like_a_linter(example_root):
    assert run("check", example_root, "--today", TODAY, "--no-report").exit_code == 1


def test_a_failed_send_exits_1_daily_and_weekly(example_root):
    smtp_nowhere(example_root)
    daily = run("daily", example_root, "--today", TODAY, "--json")
    assert daily.exit_code == 1, daily.output
    summary = json.loads(daily.output)
    assert summary["exit_reasons"] == ["mail_failed"] and summary["mails"]["failed"] == 8
    assert summary["mails"]["sent"] == 0 and summary["flags"]["workbooks_written"] == 2  # the rest was done
    weekly = run("weekly", example_root, "--today", "2026-08-24", "--json")
    assert weekly.exit_code == 1, weekly.output
    assert json.loads(weekly.output)["exit_reasons"] == ["mail_failed"]
    printed = run("daily", example_root, "--today", "2026-08-21")  # the human summary: same code, said in words
    assert printed.exit_code == 1 and "失败 " in printed.output


def test_a_workbook_open_in_excel_is_skipped_and_still_exit_0(example_root):
    """W-LOCKED is retried next run by itself: nobody needs to act."""
    (example_root / "进行中" / "~$Q3新品上市推广.xlsx").write_bytes(b"\x05zhangwei")
    result = run("daily", example_root, "--today", TODAY, "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert {"workbook": "进行中/Q3新品上市推广.xlsx", "reason": "locked"} in summary["skipped_workbooks"]


def test_a_year_without_holiday_data_in_use_exits_1(example_root):
    """The calendar ran out: every working-day count is a guess until the administrator acts."""
    result = run("daily", example_root, "--today", "2099-01-05", "--json")
    assert result.exit_code == 1, result.output
    assert "calendar" in json.loads(result.output)["exit_reasons"]


def test_which_findings_and_skips_need_the_administrator():
    lossy = finding("W-LOSSY", "进行中/a.xlsx", "执行进度", detail="sharedStrings")
    locked = finding("W-LOCKED", "进行中/a.xlsx", "执行进度", owner="~$a.xlsx")
    permission = finding("W-PERMISSION", "进行中/a.xlsx", "执行进度")
    assert admin_reasons([locked], [("进行中/a.xlsx", "locked"), ("进行中/b.xlsx", "changed")], None) == []
    assert admin_reasons([lossy], [("进行中/a.xlsx", "unsupported: x:worksheet")], None) == ["write_fault"]
    assert admin_reasons([permission], [("进行中/a.xlsx", "permission")], None) == ["write_fault"]
    assert admin_reasons([], [("进行中/a.xlsx", "error: BrokenProcessPool")], None) == ["write_fault"]


def test_usage_and_settings_errors_exit_2(example_root):
    assert run("daily", example_root, "--bogus").exit_code == 2
    (example_root / "coordxl.toml").write_text("[rules]\nnope = 1\n", encoding="utf-8")
    assert run("daily", example_root, "--today", TODAY).exit_code == 2


# --- every run logs ---------------------------------------------------------------------------------


def log_lines(root) -> list[str]:
    return (root / ".coordxl" / "logs" / "coordxl.log").read_bytes().decode("utf-8").splitlines()


def test_every_run_on_a_folder_logs_to_its_utf8_log_and_status_names_that_file(example_root):
    """By hand, cron or Task Scheduler alike: a line when the run starts and one with its exit code."""
    assert run("check", example_root, "--today", TODAY, "--no-report").exit_code == 1
    assert run("daily", example_root, "--today", TODAY).exit_code == 0
    lines = log_lines(example_root)
    assert any("check: started" in line and f"check {example_root}" in line for line in lines)
    assert any("check: ended, exit 1" in line for line in lines)
    [summary] = [line for line in lines if "daily: {" in line]
    assert '"exit_code": 0' in summary and '"sent": 8' in summary
    assert any("daily: ended, exit 0" in line for line in lines)
    status = run("status", example_root, "--json")
    named = json.loads(status.output)["log"]
    assert named == str(example_root / ".coordxl" / "logs" / "coordxl.log")
    assert any("status: started" in line for line in log_lines(example_root))


def test_log_level_and_verbose_are_global_options(example_root):
    quiet = run("--log-level", "warning", "check", example_root, "--today", TODAY, "--no-report")
    assert quiet.exit_code == 1 and not any("check: started" in line for line in log_lines(example_root))
    assert run("--log-level", "loud", "check", example_root).exit_code == 2


def test_verbose_shows_the_run_on_stderr_and_the_log_survives_gbk(example_root, tmp_path):
    """-v prints the run's log lines on stderr; the file stays UTF-8 whatever the console's encoding."""
    import os
    import subprocess
    import sys

    root = example_root.rename(example_root.with_name("协调"))
    env = {**os.environ, "PYTHONIOENCODING": "gbk"}
    proc = subprocess.run([sys.executable, "-m", "coordxl", "-v", "daily", str(root), "--today", TODAY,
                           "--summary"], capture_output=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr.decode("gbk")
    assert "daily: ended, exit 0" in proc.stderr.decode("gbk") and "协调" in proc.stderr.decode("gbk")
    assert any("daily: started" in line and f"daily {root}" in line for line in log_lines(root))
