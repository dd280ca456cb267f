"""Reminder mails through a real SMTP server (aiosmtpd on 127.0.0.1): content, escalation, exactly once, faults."""

import datetime as dt
import email
import signal
import subprocess
import sys
import time
from email import policy

import openpyxl
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from conftest import Recorder, clean_launch, free_port, write_item  # noqa: F401  (Recorder, free_port: other tests import them from here)

from coordxl.run.daily import run_daily
from coordxl.send.notify import SmtpTransport, header_safe
from coordxl.state.layout import Layout
from coordxl.state.store import Store

TODAY = dt.date(2026, 8, 20)
NOW = dt.datetime(2026, 8, 20, 9, 0)


def configure(root, port, extra=""):
    (root / "coordxl.toml").write_text(
        f'[email]\ntransport = "smtp"\nhost = "127.0.0.1"\nport = {port}\nsecurity = "none"\n{extra}',
        encoding="utf-8")
    return Layout.of(root)


def daily(root, transport=None, today=TODAY, **kw):
    layout = Layout.of(root)
    transport = transport or SmtpTransport(layout.settings, None)
    return run_daily(root, today, NOW, layout=layout, transport=transport, **kw)


def by_recipient(smtp):
    """Each person's digest (escalations are mails of their own, see ``escalations``)."""
    return {rcpts[0]: msg for rcpts, msg in smtp.messages if msg["X-Coordxl-Kind"] == "digest"}


def escalations(smtp):
    return [(rcpts, msg) for rcpts, msg in smtp.messages if msg["X-Coordxl-Kind"] == "escalation"]


def sent_once(smtp):
    keys = [msg["X-Coordxl-Key"] for _, msg in smtp.messages]
    return len(keys) == len(set(keys))


# the example on 2026-08-20: five digests and three escalations (冯雪's 9-day task and 孙丽's 4-day and 9-day
# tasks, escalated to 郑爽, 王海 and 张伟: one mail each)
MAILS = 8


def test_one_digest_per_person_with_escalation(example_root, smtp):
    configure(example_root, smtp.port)
    result = daily(example_root)
    assert len(result.delivery.sent) == MAILS and not result.delivery.failed
    mails = by_recipient(smtp)
    assert sorted(mails) == ["fengxue@corp.example", "lina@corp.example", "sunli@corp.example",
                             "zhangwei@corp.example", "zhouqiang@corp.example"]
    feng = mails["fengxue@corp.example"]
    assert feng["Subject"] == "【协调提醒】您有2项逾期"
    assert feng["To"].addresses[0].display_name == "冯雪"
    assert all(m["Cc"] is None for m in mails.values())  # a digest is the person's own: nobody is copied
    plain, html = feng.get_body(("plain",)).get_content(), feng.get_body(("html",)).get_content()
    assert "逾期9个工作日" in plain and "T03 包装设计定稿" in plain and "执行进度 > B5" in plain
    assert "逾期9个工作日" in html and "包装设计定稿" in html
    assert "冯雪，您好" in html and "您是以上任务的负责人" in html and 'name="viewport"' in html
    assert plain.index("逾期9个工作日") < plain.index("逾期1个工作日")  # most urgent first
    assert "您是以上任务的负责人" in plain
    # the owners hear of their escalated tasks once, in their digest, marked with whom it was escalated to
    assert "T03 包装设计定稿 | 截止日期 2026-08-07 | 已升级告知 郑爽、张伟、王海" in plain
    assert "已升级告知 郑爽、张伟、王海" in html
    sun = mails["sunli@corp.example"].get_body(("plain",)).get_content()
    assert "T10 新品定价方案 | 截止日期 2026-08-07 | 已升级告知 王海、张伟" in sun
    assert "T06 重点渠道铺货清单 | 截止日期 2026-08-14 | 已升级告知 王海" in sun
    assert "T09 电商详情页设计 | 截止日期 2026-08-19  " in plain  # one day late: not escalated
    # escalations: one mail per recipient, To them alone, listing only the tasks escalated to them
    seen = {}
    for rcpts, msg in escalations(smtp):
        body = msg.get_body(("plain",)).get_content()
        assert msg["Cc"] is None and rcpts == [msg["To"].addresses[0].addr_spec]
        seen[msg["To"].addresses[0].username] = [t for t in ("T03", "T06", "T09", "T10", "T08") if f"{t} " in body]
        assert msg["Subject"] == f"【逾期升级】Q3新品上市推广协调：{len(seen[msg['To'].addresses[0].username])}项任务逾期较久，请协调"
    assert seen == {
        # 冯雪's T03 is 9 working days late: her manager (≥3), the initiator and the decision maker (≥5)
        "zhengshuang": ["T03"],
        # 孙丽: T06 4 days late goes to her manager 王海 only; T10 9 days late also to the initiator 张伟
        "wanghai": ["T03", "T06", "T10"],
        "zhangwei": ["T03", "T10"],
    }
    [wang] = [m for _, m in escalations(smtp) if m["To"].addresses[0].username == "wanghai"]
    assert "T06 重点渠道铺货清单 | 负责人 孙丽 | 截止日期 2026-08-14" in wang.get_body(("plain",)).get_content()
    assert "负责人已在今天的提醒中得知" in wang.get_body(("plain",)).get_content()
    # the initiator hears about the item's validation errors, with where and how to fix; the overdue
    # tasks escalated to him (T03, T10) are in his escalation mail, not listed again in his digest
    zhang = mails["zhangwei@corp.example"].get_body(("plain",)).get_content()
    assert "共 2 项任务逾期" in zhang and "T06 重点渠道铺货清单" in zhang and "T09 电商详情页设计" in zhang
    assert "T03 " not in zhang and "T10 " not in zhang
    assert "执行进度 E10 F-PERSON" in zhang and "您是否指“刘洋”？" in zhang and "今日到期" in zhang
    # the reviewer of a request waiting 7 working days
    assert "R02" in mails["lina@corp.example"].get_body(("plain",)).get_content()
    # due in 1 working day (a lead time)
    assert "1个工作日后到期" in mails["zhouqiang@corp.example"].get_body(("plain",)).get_content()


def test_two_runs_the_same_day_send_once_and_the_next_working_day_sends_again(example_root, smtp):
    configure(example_root, smtp.port)
    daily(example_root)
    again = daily(example_root)
    assert len(smtp.messages) == MAILS and len(again.delivery.skipped) == MAILS and not again.delivery.sent
    daily(example_root, today=dt.date(2026, 8, 21))
    assert len(smtp.messages) > MAILS and sent_once(smtp)
    log = Store(example_root / ".coordxl" / "state.db").mails(TODAY)
    assert {(m["recipient"], m["status"]) for m in log} >= {("fengxue@corp.example", "sent")}
    assert all(m["reasons"] for m in log)


def test_resend_is_an_explicit_override(example_root, smtp):
    configure(example_root, smtp.port)
    daily(example_root)
    daily(example_root, resend=True)
    assert len(smtp.messages) == 2 * MAILS


def test_nothing_on_a_non_working_day(example_root, smtp):
    configure(example_root, smtp.port)
    result = daily(example_root, today=dt.date(2026, 8, 22))
    assert result.mail_note == "non_workday" and smtp.messages == []


def test_server_down_then_back(example_root, smtp):
    configure(example_root, free_port())  # nothing listens there
    down = daily(example_root)
    assert len(down.delivery.failed) == MAILS and down.failed_sends == MAILS
    configure(example_root, smtp.port)
    up = daily(example_root)
    assert len(up.delivery.sent) == MAILS and len(smtp.messages) == MAILS


def test_a_recipient_refused_for_now_is_retried_next_run(example_root, smtp):
    configure(example_root, smtp.port)
    smtp.refuse = {"zhouqiang@corp.example": "450 4.2.1 mailbox busy, try later"}
    first = daily(example_root)
    assert [m.to.name for m, _ in first.delivery.failed] == ["周强"] and "450" in first.delivery.failed[0][1]
    smtp.refuse = set()
    second = daily(example_root)
    assert [m.to.name for m in second.delivery.sent] == ["周强"]
    assert sent_once(smtp) and len(smtp.messages) == MAILS


def test_a_recipient_refused_for_good_is_reported_and_not_retried(example_root, smtp):
    configure(example_root, smtp.port)
    smtp.refuse = {"zhouqiang@corp.example"}  # 550: no such mailbox
    first = daily(example_root)
    assert [m.to.name for m, _ in first.delivery.failed] == ["周强"] and "550" in first.delivery.failed[0][1]
    smtp.refuse = set()
    second = daily(example_root)
    assert second.delivery.sent == [] and len(smtp.messages) == MAILS - 1
    [row] = [m for m in Store(example_root / ".coordxl" / "state.db").mails(TODAY)
             if m["recipient"] == "zhouqiang@corp.example"]
    assert row["status"] == "refused" and "550" in row["error"]


def test_an_escalation_refused_for_now_goes_to_its_manager_once_the_owner_s_digest_once(example_root, smtp):
    """450 for the manager an escalation goes to: it is sent next run, everything else only once."""
    configure(example_root, smtp.port)
    smtp.refuse = {"wanghai@corp.example": "450 4.2.1 try later"}
    first = daily(example_root)
    assert [(m.to.name, m.kind) for m, _ in first.delivery.failed] == [("王海", "escalation")]
    smtp.refuse = set()
    second = daily(example_root)
    assert [(m.to.name, m.kind) for m in second.delivery.sent] == [("王海", "escalation")]
    got = {}
    for rcpts, msg in smtp.messages:
        for r in rcpts:
            got.setdefault((msg["X-Coordxl-Key"], r), 0)
            got[(msg["X-Coordxl-Key"], r)] += 1
    assert set(got.values()) == {1} and len(got) == MAILS  # every recipient got every mail exactly once
    # the owner heard of T03 in her digest only, once
    fengxue = [msg for rcpts, msg in smtp.messages if rcpts == ["fengxue@corp.example"]]
    assert [m["X-Coordxl-Kind"] for m in fengxue] == ["digest"]


def test_connection_dropped_mid_batch(example_root, smtp):
    configure(example_root, smtp.port)
    smtp.hang_up_after = 2
    first = daily(example_root)
    assert len(first.delivery.sent) + len(first.delivery.failed) == MAILS
    daily(example_root)
    assert len(smtp.messages) == MAILS and sent_once(smtp)


def test_a_slow_server_is_waited_for_and_nothing_is_sent_twice(example_root, smtp):
    # the answer after a message's content is waited for up to data_timeout_seconds, not the 1 s each
    # command gets: a server that queues first and confirms after 1.5 s is not taken for dead
    configure(example_root, smtp.port, "timeout_seconds = 1\ndata_timeout_seconds = 10\n")
    smtp.slow_once = 1.5  # stores the first message, then takes 1.5 s to say so
    first = daily(example_root)
    assert len(first.delivery.sent) == MAILS and not first.delivery.failed and not first.delivery.unknown
    second = daily(example_root)
    assert not second.delivery.sent and len(smtp.messages) == MAILS and sent_once(smtp)


def test_no_answer_after_the_message_is_unknown_and_never_resent_blindly(example_root, smtp):
    from click.testing import CliRunner

    from coordxl.cli import main
    configure(example_root, smtp.port, "data_timeout_seconds = 1\n")
    smtp.slow_once = 2.5  # the server stores the first message but answers after the client gave up
    first = daily(example_root)
    assert len(first.delivery.unknown) == 1 and len(first.delivery.sent) == MAILS - 1
    slow = first.delivery.unknown[0][0]
    assert "1 s" in first.delivery.unknown[0][1]
    second = daily(example_root)
    assert not second.delivery.sent and not second.delivery.failed
    assert len(smtp.messages) == MAILS and sent_once(smtp)  # it had arrived: a resend would duplicate it
    status = CliRunner().invoke(main, ["status", str(example_root), "--json"])
    import json
    unknown = json.loads(status.output)["mails_unknown"]
    assert [u["recipient"] for u in unknown] == [slow.to.email]
    # the administrator decides: plain --resend sends that one mail again, and only it, after naming it
    resent = CliRunner().invoke(main, ["daily", str(example_root), "--today", TODAY.isoformat(), "--resend"])
    assert resent.output.index("将重发（状态未知）") < resent.output.index("提醒邮件：发送 1")
    assert slow.to.email in resent.output and len(smtp.messages) == MAILS + 1
    assert smtp.messages[-1][1]["X-Coordxl-Key"].strip() == slow.key
    nothing = CliRunner().invoke(main, ["daily", str(example_root), "--today", TODAY.isoformat(), "--resend"])
    assert "没有状态未知的邮件" in nothing.output and len(smtp.messages) == MAILS + 1
    # a recipient named: only their mails; `all`: the whole day again, on purpose
    named = CliRunner().invoke(main, ["daily", str(example_root), "--today", TODAY.isoformat(),
                                      "--resend", "fengxue@corp.example"])
    assert "将重发：fengxue@corp.example" in named.output
    assert {r[0] for r, _ in smtp.messages[MAILS + 1:]} == {"fengxue@corp.example"}
    again = daily(example_root, resend="all")
    assert len(again.delivery.sent) == MAILS


def test_authentication_failure(example_root):
    def reject(server, session, envelope, mechanism, auth_data):
        return AuthResult(success=False, handled=False)
    handler = Recorder()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port(), authenticator=reject,
                            auth_required=True, auth_require_tls=False)
    controller.start()
    try:
        configure(example_root, controller.port, 'user = "coordxl"\n')
        layout = Layout.of(example_root)
        result = daily(example_root, transport=SmtpTransport(layout.settings, "wrong"))
        assert len(result.delivery.failed) == MAILS and "authentication" in result.delivery.failed[0][1]
        assert handler.messages == []
        log = Store(example_root / ".coordxl" / "state.db").mails(TODAY)
        assert {m["status"] for m in log} == {"failed"}
    finally:
        controller.stop()


def test_missing_password_is_a_config_error_exit_2(example_root, monkeypatch):
    from click.testing import CliRunner

    from coordxl.cli import main
    configure(example_root, 2525, 'user = "coordxl"\npassword_env = "COORDXL_TEST_NO_SUCH_VAR"\n')
    monkeypatch.delenv("COORDXL_TEST_NO_SUCH_VAR", raising=False)
    result = CliRunner().invoke(main, ["daily", str(example_root), "--today", "2026-08-20"])
    assert result.exit_code == 2 and "COORDXL_TEST_NO_SUCH_VAR" in result.output


KILL = """
import datetime as dt, sys
from coordxl.run.daily import run_daily
from coordxl.state.layout import Layout
from coordxl.send.notify import SmtpTransport
root = sys.argv[1]
layout = Layout.of(root)
run_daily(root, dt.date(2026, 8, 20), dt.datetime(2026, 8, 20, 9), layout=layout,
          transport=SmtpTransport(layout.settings, None))
"""


@pytest.mark.slow  # real coordxl processes, one per job or fault
def test_process_killed_mid_batch(example_root, smtp):
    configure(example_root, smtp.port)
    smtp.delay = 0.4
    proc = subprocess.Popen([sys.executable, "-c", KILL, str(example_root)])
    deadline = time.time() + 60
    while len(smtp.messages) < 2 and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = len(smtp.messages)
    assert 2 <= before < MAILS
    time.sleep(0.5)
    smtp.delay = 0
    rerun = daily(example_root)
    keys = [msg["X-Coordxl-Key"].strip() for _, msg in smtp.messages]
    assert len(keys) == len(set(keys))  # the one in flight is never sent twice
    ledger = Store(example_root / ".coordxl" / "state.db").mails(TODAY)
    unknown = {m["key"] for m in ledger if m["status"] == "unknown"}
    # ... and never silently lost: a mail claimed by the killed run is 'unknown' and reported
    assert len(unknown) <= 1 and len(set(keys) | unknown) == MAILS
    assert {m.key for m, _ in rerun.delivery.unknown} == unknown
    runs = Store(example_root / ".coordxl" / "state.db").runs("daily")
    assert [r["outcome"] for r in runs][0] == "interrupted"


def test_cell_text_never_reaches_a_header_or_runs_as_html(share_with_roster, smtp, tmp_path):
    d = clean_launch()
    existing = tmp_path / "secret.txt"
    existing.write_text("not for mail")
    d["tasks"][2]["task"] = "包装\r\nBcc: x@evil.example <script>alert(1)</script>"
    d["tasks"][5]["task"] = str(existing)
    write_item(share_with_roster, d)
    wb = openpyxl.load_workbook(share_with_roster / "名册.xlsx")
    ws = wb["人员"]
    for row in ws.iter_rows(min_row=3):
        if row[0].value == "孙丽":
            row[2].value = "sunli@gmail.example"
    wb.save(share_with_roster / "名册.xlsx")
    configure(share_with_roster, smtp.port, 'allowed_domains = ["corp.example"]\n')
    result = daily(share_with_roster)
    assert [(r.name, r.reason) for r in result.delivery.refused] == [("孙丽", "domain")]
    assert all("gmail" not in a for rcpts, _ in smtp.messages for a in rcpts)
    feng = by_recipient(smtp)["fengxue@corp.example"]
    assert feng["Bcc"] is None
    assert all("evil" not in a for rcpts, _ in smtp.messages for a in rcpts)
    html = feng.get_body(("html",)).get_content()
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert not list(feng.iter_attachments())
    assert "not for mail" not in feng.as_string()


def test_header_safe_strips_control_characters():
    assert header_safe("a\r\nBcc: x@evil\x00\u2028b") == "a Bcc: x@evil b"


def test_outbox_is_the_default_and_writes_eml_files(example_root):
    result = run_daily(example_root, TODAY, NOW)
    files = sorted((example_root / ".coordxl" / "outbox" / "2026-08-20").glob("*.eml"))
    assert len(files) == MAILS == len(result.delivery.sent)
    msg = email.message_from_bytes(files[0].read_bytes(), policy=policy.default)
    assert msg.get_body(("plain",)) is not None and msg.get_body(("html",)) is not None
    assert run_daily(example_root, TODAY, NOW).delivery.skipped  # the outbox is exactly-once too


def test_per_run_cap(example_root, smtp):
    configure(example_root, smtp.port, "")
    with open(example_root / "coordxl.toml", "a", encoding="utf-8") as fh:
        fh.write("[reminders]\nmax_mails_per_run = 2\n")
    first = daily(example_root)
    assert len(first.delivery.sent) == 2 and len(first.delivery.held) == MAILS - 2
    for _ in range(4):
        daily(example_root)
    assert len(smtp.messages) == MAILS and sent_once(smtp)


def test_english_by_setting(example_root, smtp):
    configure(example_root, smtp.port, "")
    with open(example_root / "coordxl.toml", "a", encoding="utf-8") as fh:
        fh.write('[general]\nlanguage = "en"\n')
    daily(example_root)
    feng = by_recipient(smtp)["fengxue@corp.example"]
    assert feng["Subject"] == "[coordxl] You have 2 overdue"
    assert "Overdue 9 wd" in feng.get_body(("plain",)).get_content()


def test_dry_run_sends_and_records_nothing(example_root, smtp):
    configure(example_root, smtp.port)
    result = run_daily(example_root, TODAY, NOW, dry_run=True)
    assert len(result.mails) == MAILS and smtp.messages == []
    assert not (example_root / ".coordxl" / "state.db").exists()


def test_a_long_digest_lists_the_most_urgent_and_counts_the_rest(example_root):
    (example_root / "coordxl.toml").write_text("[reminders]\nmax_tasks_per_mail = 1\n", encoding="utf-8")
    run_daily(example_root, TODAY, NOW)
    [msg] = [m for m in (email.message_from_bytes(p.read_bytes(), policy=policy.default)
                         for p in (example_root / ".coordxl" / "outbox" / "2026-08-20").glob("fengxue*.eml"))
             if m["X-Coordxl-Kind"] == "digest"]
    plain = msg.get_body(("plain",)).get_content()
    assert "逾期9个工作日" in plain and "逾期1个工作日" not in plain and "另有 1 项任务未列出" in plain


def _outbox_mail(root, day, prefix):
    """The person's digest of the day from the outbox (an escalation mail is another file)."""
    mails = [email.message_from_bytes(p.read_bytes(), policy=policy.default)
             for p in sorted((root / ".coordxl" / "outbox" / day).glob(f"{prefix}*.eml"))]
    [digest] = [m for m in mails if m["X-Coordxl-Kind"] == "digest"]
    return digest


def test_a_task_with_two_owners_is_one_overdue_task_of_the_item_and_one_line_in_each_owner_s_mail(share_with_roster):
    """T09 (due 08-19, one working day late on 08-20) belongs to 冯雪 and 郑爽. The initiator 张伟 is told of
    the item's overdue tasks not escalated to him: T06 and T09, two tasks (the rows say so), never three."""
    from click.testing import CliRunner

    from coordxl.cli import main

    d = clean_launch()
    d["tasks"][8]["owner"] = "冯雪、郑爽"
    path = write_item(share_with_roster, d)
    result = CliRunner().invoke(main, ["daily", str(share_with_roster), "--today", "2026-08-20"])
    assert result.exit_code == 0, result.output
    # the independent count: open rows of the tracker past their deadline, not escalated to the initiator
    # (under 5 working days late with the default settings), each row once whatever its owners
    from coordxl.process.calendar import WorkCalendar

    cal = WorkCalendar()
    ws = openpyxl.load_workbook(path)["执行进度"]
    head = {c.value: c.column - 1 for c in ws[2]}
    late = []
    for row in ws.iter_rows(min_row=3, values_only=True):
        due, status = row[head["截止日期"]], row[head["状态"]]
        if isinstance(due, str):
            due = dt.datetime(*map(int, due.split("/")))
        if isinstance(due, dt.datetime) and status not in ("已完成", "已取消") and due.date() < TODAY:
            if cal.count(due.date(), TODAY) < 5:
                late.append(row[head["编号"]])
    assert sorted(late) == ["T06", "T09"]
    zhang = _outbox_mail(share_with_roster, "2026-08-20", "zhangwei")
    plain = zhang.get_body(("plain",)).get_content()
    assert f"共 {len(late)} 项任务逾期" in plain
    assert plain.count("T09 电商详情页设计") == 1 and "负责人 冯雪、郑爽" in plain
    # each owner has the task once, in their own digest
    for prefix in ("fengxue", "zhengshuang"):
        body = _outbox_mail(share_with_roster, "2026-08-20", prefix).get_body(("plain",)).get_content()
        assert body.count("T09 电商详情页设计") == 1, prefix


def test_a_deputy_standing_in_for_both_owners_of_a_task_has_it_once(share_with_roster):
    """冯雪 and 郑爽 own T09 and are both on leave, 陈静 stands in for both: her digest lists T09 once,
    on behalf of both (one line per task in a person's own list)."""
    from click.testing import CliRunner

    from coordxl.cli import main

    d = clean_launch()
    d["tasks"][8]["owner"] = "冯雪、郑爽"
    write_item(share_with_roster, d)
    wb = openpyxl.load_workbook(share_with_roster / "名册.xlsx")
    ws = wb["人员"]
    column = {c.value: c.column for c in ws[2] if c.value}
    for row in ws.iter_rows(min_row=3):
        if row[0].value in ("冯雪", "郑爽"):
            ws.cell(row[0].row, column["在职"], "休假")
            ws.cell(row[0].row, column["代理人"], "陈静")
    wb.save(share_with_roster / "名册.xlsx")
    result = CliRunner().invoke(main, ["daily", str(share_with_roster), "--today", "2026-08-20"])
    assert result.exit_code == 0, result.output
    plain = _outbox_mail(share_with_roster, "2026-08-20", "chenjing").get_body(("plain",)).get_content()
    [line] = [x for x in plain.splitlines() if "T09 电商详情页设计" in x]
    assert "代 冯雪、郑爽" in line or "代 郑爽、冯雪" in line
def test_an_unknown_weekly_mail_is_resent_by_weekly_resend_alone_as_status_says(example_root, smtp):
    """The weekly's first mail reaches the server, whose answer comes too late: status names
    `coordxl weekly --resend` for it (not daily's), `weekly --resend` lists it and sends only it again,
    and `daily --resend` does not take it for one of its own."""
    import json
    from zoneinfo import ZoneInfo

    from click.testing import CliRunner

    from coordxl.cli import main
    configure(example_root, smtp.port, "data_timeout_seconds = 1\n")
    today = dt.datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()  # status looks back from the real today
    smtp.slow_once = 2.5
    first = CliRunner().invoke(main, ["weekly", str(example_root), "--today", today])
    assert first.exit_code == 1, first.output  # a mail whose delivery is unknown: the administrator decides
    weekly_mails, slow_key = len(smtp.messages), smtp.messages[0][1]["X-Coordxl-Key"].strip()
    [unknown] = json.loads(CliRunner().invoke(main, ["status", str(example_root), "--json"]).output)["mails_unknown"]
    status = CliRunner().invoke(main, ["status", str(example_root)]).output.replace("\n", "")
    assert "coordxl weekly --resend" in status and "coordxl daily --resend" not in status
    daily_resend = CliRunner().invoke(main, ["daily", str(example_root), "--today", today, "--resend"])
    assert unknown["subject"] not in daily_resend.output  # not daily's to send again
    smtp.messages.clear()
    again = CliRunner().invoke(main, ["weekly", str(example_root), "--today", today, "--resend"])
    assert unknown["subject"] in again.output and unknown["recipient"] in again.output
    assert [m["X-Coordxl-Key"].strip() for _, m in smtp.messages] == [slow_key]
    assert weekly_mails > 1  # the others of that weekly were not sent again


def test_each_email_transport_value_is_one_registry_entry():
    """A new mail transport is one entry of notify.TRANSPORTS (its name among the setting's choices): each
    value a folder may write has its entry, and each entry a value."""
    from coordxl.send.notify import TRANSPORTS
    from coordxl.settings import SETTINGS

    [setting] = [s for s in SETTINGS if s.name == "email.transport"]
    assert set(setting.choices) == set(TRANSPORTS)


def test_a_library_run_with_smtp_settings_and_no_transport_is_refused_not_previewed(example_root):
    """smtp reads a password, which only the CLI and jobs/ do: a library caller is told so, and nothing
    quietly lands in the outbox instead."""
    from coordxl.errors import ConfigError

    configure(example_root, 2525)
    with pytest.raises(ConfigError, match="jobs/"):
        run_daily(example_root, TODAY, NOW)
    assert not list((example_root / ".coordxl").rglob("*.eml"))


def test_a_person_s_tasks_from_several_items_read_most_urgent_first_wherever_each_item_was_sorted():
    """Each item's share of the digests is sorted where the item was read (a check worker, or the run
    itself): the digest still lists all of a person's tasks most urgent first, a tie in the folder's order,
    and both ways give the same mails."""
    import types

    from coordxl.process.roster import Person, Roster
    from coordxl.send.digests import build_digests, presort
    from coordxl.send.notes import Collector, ItemNote, TaskNote
    from coordxl.settings import Settings

    roster = Roster([Person("周杰", "产品部", "zhoujie@corp.example", manager="王海"),
                     Person("王海", "产品部", "wanghai@corp.example", is_head=True),
                     Person("李娜", "市场部", "lina@corp.example")], [("产品部", "王海")])
    settings = Settings.defaults()
    day = dt.date(2026, 8, 20)
    items = {w: ItemNote(w, w, w.removesuffix(".xlsx"), "李娜", "") for w in ("甲.xlsx", "乙.xlsx")}

    def note(workbook, row, task_id, state, days, due):
        return TaskNote(workbook, workbook, workbook, "执行进度", f"B{row}", task_id, f"任务{task_id}", "周杰",
                        due, state, days)

    notes = [note("甲.xlsx", 3, "T1", "overdue", 2, dt.date(2026, 8, 18)),
             note("甲.xlsx", 4, "T2", "due_soon", 3, dt.date(2026, 8, 25)),
             note("甲.xlsx", 5, "T3", "overdue", 5, dt.date(2026, 8, 13)),
             note("乙.xlsx", 3, "T4", "overdue", 9, dt.date(2026, 8, 7)),
             note("乙.xlsx", 4, "T1", "overdue", 2, dt.date(2026, 8, 18)),  # the same as 甲's T1 but for its item
             note("乙.xlsx", 5, "T5", "due_today", 0, day)]
    here = Collector(settings)
    here.items.update(items)
    here.tasks += notes
    run = Collector(settings)  # as a run gets them from its workers: each item's notes sorted there
    for workbook in items:
        part = Collector(settings)
        part.items[workbook] = items[workbook]
        part.tasks += [n for n in notes if n.workbook == workbook]
        run.merge(presort(part, types.SimpleNamespace(roster=roster, today=day)))

    def mails(collector):
        found, _ = build_digests(collector, [], roster, settings, day)
        return [(d.person.key, d.kind, [(n.workbook, n.task_id, n.escalated_to) for n in d.tasks],
                 {w: [n.task_id for n in v] for w, v in d.item_overdue.items()}, sorted(d.reasons)) for d in found]

    [(_, _, tasks, _, _)] = [m for m in mails(run) if m[:2] == ("周杰", "digest")]
    assert [(w, t) for w, t, _ in tasks] == [("乙.xlsx", "T4"), ("甲.xlsx", "T3"), ("甲.xlsx", "T1"), ("乙.xlsx", "T1"),
                                             ("乙.xlsx", "T5"), ("甲.xlsx", "T2")]
    assert mails(run) == mails(here)
    assert {m[:2] for m in mails(run)} == {("周杰", "digest"), ("王海", "escalation"), ("李娜", "digest"),
                                           ("李娜", "escalation")}
