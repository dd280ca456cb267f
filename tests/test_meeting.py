"""The meeting stage done by the daily job, through the CLI on workbooks saved by LibreOffice: the
invitation (≥ 2 working days ahead, once more one working day ahead with the materials, 调休 counted),
its update on a changed time and its cancel, the minutes with each reader's action items first and
their update; each .ics read back by two parsers (icalendar and vobject), each mail sent once."""

from __future__ import annotations

import datetime as dt
import email
import shutil
from email import policy
from pathlib import Path

import icalendar
import pytest
import vobject
from click.testing import CliRunner
from conftest import clean_launch, write_item
from test_replies import dovecot  # noqa: F401  (the real IMAP server the objection tests reply to)

from coordxl.cli import main

pytestmark = [pytest.mark.libreoffice, pytest.mark.slow]

D, T = dt.date, dt.datetime
MEETING = T(2026, 12, 14, 14, 0)  # a Monday; Saturday 12-12 is a make-up working day (调休) in this folder
PARTICIPANTS = {"chenjing@corp.example", "zhaolei@corp.example", "sunli@corp.example", "zhouqiang@corp.example",
                "zhengshuang@corp.example", "fengxue@corp.example"}


def planned_item(**request) -> dict:
    """An item whose meeting is still ahead: the request form filled in, no minutes yet."""
    d = clean_launch()
    d["request"].update({"sent_on": D(2026, 12, 8), "planned_meeting": MEETING, "item_status": "preparing",
                         "attachments": "议程说明.pdf；竞品分析.xlsx", **request})
    d["minutes"], d["actions"], d["tasks"], d["followups"], d["resources"] = {}, [], [], [], []
    return d


@pytest.fixture
def folder(share_with_roster) -> Path:
    toml = share_with_roster / "coordxl.toml"
    toml.write_text(toml.read_text(encoding="utf-8").replace('extra_workdays = []', 'extra_workdays = ["2026-12-12"]'),
                    encoding="utf-8")
    return share_with_roster


def save(root: Path, d: dict, soffice, name: str | None = None) -> Path:
    """The item as staff keep it: written, then opened and saved by LibreOffice."""
    path = write_item(root, d, name)
    shutil.copy(soffice(path, "xlsx"), path)
    return path


def run(root: Path, day: D) -> None:
    result = CliRunner().invoke(main, ["daily", str(root), "--today", day.isoformat()])
    assert result.exit_code in (0, 1) and "Traceback" not in result.output, (day, result.output)


def sent(root: Path, day: D, kind: str) -> list:
    folder = root / ".coordxl" / "outbox" / day.isoformat()
    mails = [email.message_from_bytes(p.read_bytes(), policy=policy.default) for p in sorted(folder.glob("*.eml"))]
    return [m for m in mails if m["X-Coordxl-Kind"] == kind]


def to(m) -> str:
    return m["To"].addresses[0].addr_spec


def body(m) -> str:
    return m.get_body(preferencelist=("plain",)).get_content()


def calendar_of(m) -> tuple[icalendar.Event, object, str]:
    """The .ics attached to a mail, read by icalendar and by vobject; both must agree."""
    [data] = [p.get_payload(decode=True) for p in m.walk() if p.get_filename() in ("invite.ics", "cancel.ics")]
    [inline] = [p for p in m.walk() if p.get_content_type() == "text/calendar"]
    assert inline.get_payload(decode=True) == data and inline.get_param("method") in ("REQUEST", "CANCEL")
    cal = icalendar.Calendar.from_ical(data)
    [event] = cal.walk("VEVENT")
    assert cal.walk("VTIMEZONE") and cal.walk("VTIMEZONE")[0]["TZID"] == "Asia/Shanghai"
    other = vobject.readOne(data.decode("utf-8"))
    assert other.vevent.uid.value == str(event["UID"])
    assert other.vevent.dtstart.value == event.decoded("DTSTART")
    assert int(other.vevent.sequence.value) == int(event["SEQUENCE"])
    assert other.method.value == str(cal["METHOD"])
    return event, other, str(cal["METHOD"])


def test_the_invitation_goes_out_ahead_then_with_the_materials_on_the_working_day_before(folder, soffice):
    path = save(folder, planned_item(), soffice)
    (path.parent / "议程说明.pdf").write_bytes(b"%PDF-1.4 agenda")
    save(folder, planned_item(background=None), soffice, name="未填完的事项")  # no background: no invitation
    for day in (D(2026, 12, 8), D(2026, 12, 8), D(2026, 12, 9), D(2026, 12, 10), D(2026, 12, 11), D(2026, 12, 12),
                D(2026, 12, 12), D(2026, 12, 14)):
        run(folder, day)

    first = sent(folder, D(2026, 12, 8), "invitation")
    # every participant once (departments with named people: those people), not the organizer 张伟
    assert sorted(map(to, first)) == sorted(PARTICIPANTS)
    assert all("未填完的事项" not in m["Subject"] for m in first)
    event, other, method = calendar_of(first[0])
    assert method == "REQUEST" and int(event["SEQUENCE"]) == 0
    assert event.decoded("DTSTART") == MEETING.replace(tzinfo=event.decoded("DTSTART").tzinfo)
    assert str(event["DTSTART"].params["TZID"]) == "Asia/Shanghai"
    assert "zhangwei@corp.example" in str(event["ORGANIZER"])
    assert (event.decoded("DTEND") - event.decoded("DTSTART")) == dt.timedelta(minutes=90)
    text = body(first[0])
    steps = [text.index(s) for s in ("背景介绍", "需求阐述", "议题讨论", "共识确认", "待办明确")]
    assert steps == sorted(steps), "the agenda follows the seed's order"
    assert "不超过 90 分钟" in text and "议程说明.pdf" in text
    assert not [p for p in first[0].walk() if p.get_filename() == "议程说明.pdf"], "materials come the day before"

    # nothing more until the working day before the meeting: the make-up Saturday, not Friday
    for day in (D(2026, 12, 9), D(2026, 12, 10), D(2026, 12, 11), D(2026, 12, 14)):
        assert not sent(folder, day, "invitation"), day
    second = sent(folder, D(2026, 12, 12), "invitation")
    assert sorted(map(to, second)) == sorted(PARTICIPANTS)
    [pdf] = [p for p in second[0].walk() if p.get_filename() == "议程说明.pdf"]
    assert pdf.get_payload(decode=True) == b"%PDF-1.4 agenda"
    assert "竞品分析.xlsx" in body(second[0]) and "未在事项文件夹中找到" in body(second[0])
    again, _, _ = calendar_of(second[0])
    assert str(again["UID"]) == str(event["UID"]) and int(again["SEQUENCE"]) == 0


def test_a_changed_time_sends_an_update_and_a_closed_item_a_cancel_each_once(folder, soffice):
    save(folder, planned_item(), soffice)
    run(folder, D(2026, 12, 7))
    [first] = [m for m in sent(folder, D(2026, 12, 7), "invitation") if to(m) == "sunli@corp.example"]
    uid = str(calendar_of(first)[0]["UID"])

    moved = MEETING + dt.timedelta(days=1, hours=1)  # Tuesday 15:00
    save(folder, planned_item(planned_meeting=moved), soffice)
    run(folder, D(2026, 12, 8))
    run(folder, D(2026, 12, 8))
    updates = sent(folder, D(2026, 12, 8), "invitation")
    assert sorted(map(to, updates)) == sorted(PARTICIPANTS), "one update each, not two"
    event, _, method = calendar_of(updates[0])
    assert method == "REQUEST" and int(event["SEQUENCE"]) == 1 and str(event["UID"]) == uid
    assert event.decoded("DTSTART").replace(tzinfo=None) == moved
    assert "变更" in updates[0]["Subject"]

    fewer = "产品部（陈静、赵磊）、销售部（孙丽）、设计部（郑爽、冯雪）"  # 周强 taken off the list
    save(folder, planned_item(planned_meeting=moved, participants=fewer), soffice)
    run(folder, D(2026, 12, 9))
    [dropped] = sent(folder, D(2026, 12, 9), "invitation")
    event, _, method = calendar_of(dropped)
    assert to(dropped) == "zhouqiang@corp.example" and method == "CANCEL" and int(event["SEQUENCE"]) == 2

    # the initiator writes 已取消 in 状态 (read as 已关闭): the meeting is cancelled
    save(folder, planned_item(planned_meeting=moved, participants=fewer, item_status="已取消"), soffice)
    run(folder, D(2026, 12, 10))
    run(folder, D(2026, 12, 10))
    cancels = sent(folder, D(2026, 12, 10), "invitation")
    assert sorted(map(to, cancels)) == sorted(PARTICIPANTS - {"zhouqiang@corp.example"})
    event, other, method = calendar_of(cancels[0])
    assert method == "CANCEL" and int(event["SEQUENCE"]) == 2 and str(event["UID"]) == uid
    assert str(event["STATUS"]) == "CANCELLED" and other.vevent.status.value == "CANCELLED"
    assert event.decoded("DTSTART").replace(tzinfo=None) == moved
    run(folder, D(2026, 12, 11))
    assert not sent(folder, D(2026, 12, 11), "invitation")


def held_item(**change) -> dict:
    d = clean_launch()
    d["request"].update(sent_on=D(2026, 12, 8), planned_meeting=MEETING, item_status="active")
    d["minutes"].update(start=MEETING, end=MEETING + dt.timedelta(minutes=80), materials_sent=T(2026, 12, 11, 10, 0),
                        minutes_sent=None, discussion="产品部介绍参数；设计部提出主视觉需3周。",
                        consensus="9月8日上市。")
    d["actions"] = d["actions"][:4]
    d["actions"][1].update(owner="陈静", department="产品部")  # 陈静 owns #1 and #2
    for no, values in change.items():
        d["actions"][int(no[1:]) - 1].update(values)
    d["tasks"], d["followups"], d["resources"] = [], [], []
    return d


def test_the_minutes_go_out_once_complete_with_each_reader_s_items_first_and_an_edit_once(folder, soffice):
    save(folder, held_item(a3={"standard": None}), soffice)  # one action item without its standard
    run(folder, D(2026, 12, 14))
    assert not sent(folder, D(2026, 12, 14), "minutes"), "incomplete action items: not sent yet"
    assert not sent(folder, D(2026, 12, 14), "invitation"), "the meeting was held: no invitation any more"

    save(folder, held_item(), soffice)
    run(folder, D(2026, 12, 15))  # the next morning, within 24 h of the meeting's end
    run(folder, D(2026, 12, 15))
    minutes = {to(m): m for m in sent(folder, D(2026, 12, 15), "minutes")}
    assert len(minutes) == len(sent(folder, D(2026, 12, 15), "minutes")), "one each"
    assert {"chenjing@corp.example", "sunli@corp.example", "zhangwei@corp.example",
            "zhengshuang@corp.example", "lina@corp.example"} <= set(minutes)
    chen = body(minutes["chenjing@corp.example"])
    assert chen.index("您负责的待办") < chen.index("确定新品核心卖点") < chen.index("完成主视觉") < chen.index("其他待办")
    assert chen.index("其他待办") < chen.index("制定上市推广方案")
    sun = body(minutes["sunli@corp.example"])
    assert sun.index("制定渠道铺货计划") < sun.index("确定新品核心卖点"), "孙丽's own item first"
    assert "产品部介绍参数" in sun and "9月8日上市" in sun
    assert sun.rstrip().splitlines()[-3].startswith("如有异议，请在 2026-12-16 前回复")

    save(folder, held_item(a4={"due": D(2026, 8, 20)}), soffice)
    run(folder, D(2026, 12, 16))
    run(folder, D(2026, 12, 16))
    updated = sent(folder, D(2026, 12, 16), "minutes")
    assert sorted(map(to, updated)) == sorted(minutes), "the edit goes to the same readers, once"
    assert all(m["Subject"].startswith("【纪要已更新】") for m in updated)
    assert "待办 #4 改为" in body(updated[0]) and "2026-08-20" in body(updated[0])
    run(folder, D(2026, 12, 17))
    assert not sent(folder, D(2026, 12, 17), "minutes")


def tracked_item(t01_due: D, t02_status: str = "in_progress") -> dict:
    d = planned_item()
    d["tasks"] = [dict(id="T01", task="卖点文档", source="", department="产品部", owner="陈静", start=D(2026, 11, 20),
                       due=t01_due, standard="卖点文档v1.0", status="not_started", done_on=None, note="",
                       updated_on=D(2026, 12, 3)),
                  dict(id="T02", task="参数表", source="", department="产品部", owner="陈静", start=D(2026, 11, 20),
                       due=D(2026, 12, 2), standard="参数表终稿", status=t02_status,
                       done_on=D(2026, 12, 8) if t02_status == "done" else None, note="", updated_on=D(2026, 12, 8))]
    return d


def deadlines_of(m) -> dict[str, tuple[str, object]]:
    """UID → (METHOD, the all-day item) of every .ics a digest carries, each read by both parsers."""
    out = {}
    for part in m.walk():
        if (part.get_filename() or "").startswith("deadlines"):
            data = part.get_payload(decode=True)
            cal = icalendar.Calendar.from_ical(data)
            other = {e.uid.value: e for e in vobject.readOne(data.decode("utf-8")).vevent_list}
            for event in cal.walk("VEVENT"):
                uid = str(event["UID"])
                assert other[uid].dtstart.value == event.decoded("DTSTART") and isinstance(event.decoded("DTSTART"), D)
                assert not isinstance(event.decoded("DTSTART"), dt.datetime), "an all-day item"
                out[uid] = (str(cal["METHOD"]), event)
    return out


def test_deadlines_go_into_the_owner_s_calendar_with_stable_uids_across_three_days(folder, soffice):
    save(folder, tracked_item(D(2026, 12, 1)), soffice)
    run(folder, D(2026, 12, 4))  # reminders.calendar_items is off by default: the digest is as before
    [before] = [m for m in sent(folder, D(2026, 12, 4), "digest") if to(m) == "chenjing@corp.example"]
    assert not deadlines_of(before) and not [p for p in before.walk() if p.get_content_type() == "text/calendar"]

    toml = folder / "coordxl.toml"
    toml.write_text(toml.read_text(encoding="utf-8").replace("calendar_items = false", "calendar_items = true"),
                    encoding="utf-8")
    run(folder, D(2026, 12, 7))
    [day1] = [m for m in sent(folder, D(2026, 12, 7), "digest") if to(m) == "chenjing@corp.example"]
    first = deadlines_of(day1)
    assert len(first) == 2 and {m for m, _ in first.values()} == {"PUBLISH"}
    t01 = next(u for u, (_, e) in first.items() if "卖点文档" in str(e["SUMMARY"]))
    assert first[t01][1].decoded("DTSTART") == D(2026, 12, 1) and int(first[t01][1]["SEQUENCE"]) == 0

    save(folder, tracked_item(D(2026, 12, 4)), soffice)  # T01's deadline moves
    run(folder, D(2026, 12, 8))
    [day2] = [m for m in sent(folder, D(2026, 12, 8), "digest") if to(m) == "chenjing@corp.example"]
    second = deadlines_of(day2)
    assert list(second) == [t01], "only the changed deadline, under the same UID"
    assert second[t01][1].decoded("DTSTART") == D(2026, 12, 4) and int(second[t01][1]["SEQUENCE"]) == 1

    save(folder, tracked_item(D(2026, 12, 4), "done"), soffice)  # T02 done
    run(folder, D(2026, 12, 9))
    run(folder, D(2026, 12, 9))
    [day3] = [m for m in sent(folder, D(2026, 12, 9), "digest") if to(m) == "chenjing@corp.example"]
    third = deadlines_of(day3)
    [t02] = [u for u in first if u != t01]
    assert list(third) == [t02] and third[t02][0] == "CANCEL" and str(third[t02][1]["STATUS"]) == "CANCELLED"
    run(folder, D(2026, 12, 10))
    later = [deadlines_of(m) for m in sent(folder, D(2026, 12, 10), "digest") if to(m) == "chenjing@corp.example"]
    assert all(not d for d in later), "nothing new: no calendar file"


def test_an_item_in_progress_gets_a_weekly_recurring_follow_up_updated_then_cancelled(folder, soffice):
    toml = folder / "coordxl.toml"
    toml.write_text(toml.read_text(encoding="utf-8")
                    .replace("followup_invite = false", "followup_invite = true")
                    .replace("extra_holidays = []", 'extra_holidays = ["2026-12-24"]'), encoding="utf-8")
    save(folder, planned_item(item_status="active"), soffice)
    run(folder, D(2026, 12, 7))
    run(folder, D(2026, 12, 8))
    first = sent(folder, D(2026, 12, 7), "followup")
    assert sorted(map(to, first)) == sorted(PARTICIPANTS) and not sent(folder, D(2026, 12, 8), "followup")
    event, other, method = calendar_of(first[0])
    assert method == "REQUEST" and int(event["SEQUENCE"]) == 0
    assert event.decoded("DTSTART").replace(tzinfo=None) == T(2026, 12, 10, 16, 0)  # the settings' Thursday 16:00
    assert event.decoded("DTEND") - event.decoded("DTSTART") == dt.timedelta(minutes=30)
    assert event["RRULE"]["FREQ"] == ["WEEKLY"] and other.vevent.rrule.value == "FREQ=WEEKLY"
    skipped = [d.dt.replace(tzinfo=None) for d in event["EXDATE"].dts]
    assert T(2026, 12, 24, 16, 0) in skipped, "the company's day off is no meeting"
    uid = str(event["UID"])

    d = planned_item(item_status="active")
    d["followups"] = [dict(date=D(2026, 12, 11), start=dt.time(10, 0), end=dt.time(10, 25), attendees="张伟、陈静",
                           conclusion="按计划推进", open_issues="")]  # held on Friday at 10:00: the new slot
    save(folder, d, soffice)
    run(folder, D(2026, 12, 14))
    run(folder, D(2026, 12, 14))
    moved = sent(folder, D(2026, 12, 14), "followup")
    assert sorted(map(to, moved)) == sorted(PARTICIPANTS)
    event, _, _ = calendar_of(moved[0])
    assert str(event["UID"]) == uid and int(event["SEQUENCE"]) == 1
    assert event.decoded("DTSTART").replace(tzinfo=None) == T(2026, 12, 18, 10, 0)
    assert T(2027, 1, 1, 10, 0) in [x.dt.replace(tzinfo=None) for x in event["EXDATE"].dts], "元旦"

    d["request"]["item_status"] = "closed"
    save(folder, d, soffice)
    run(folder, D(2026, 12, 15))
    cancels = sent(folder, D(2026, 12, 15), "followup")
    assert sorted(map(to, cancels)) == sorted(PARTICIPANTS)
    event, _, method = calendar_of(cancels[0])
    assert method == "CANCEL" and str(event["UID"]) == uid and int(event["SEQUENCE"]) == 2


def test_invitations_killed_mid_batch_are_never_sent_twice_nor_lost(folder, soffice):
    import signal
    import subprocess
    import sys
    import time

    from aiosmtpd.controller import Controller
    from test_notify import Recorder, configure, free_port

    from coordxl.state.store import Store

    save(folder, planned_item(), soffice)
    save(folder, planned_item(), soffice, name="第二个事项")
    handler = Recorder()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        configure(folder, controller.port)
        command = [sys.executable, "-m", "coordxl", "daily", str(folder), "--today", "2026-12-08"]
        handler.delay = 0.4
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 60
        while len(handler.messages) < 3 and time.time() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert 3 <= len(handler.messages) < 12
        time.sleep(0.5)
        handler.delay = 0
        subprocess.run(command, capture_output=True, timeout=120)
        subprocess.run(command, capture_output=True, timeout=120)
    finally:
        controller.stop()
    invitations = [m for _, m in handler.messages if m["X-Coordxl-Kind"] == "invitation"]
    keys = [m["X-Coordxl-Key"].strip() for m in invitations]
    assert len(keys) == len(set(keys)), "the one in flight is never sent twice"
    ledger = [m for m in Store(folder / ".coordxl" / "state.db").mails() if m["kind"] == "invitation"]
    unknown = {m["key"] for m in ledger if m["status"] == "unknown"}
    assert len(unknown) <= 1 and len(set(keys) | unknown) == 12, "and never silently lost"


def test_items_read_by_worker_processes_get_their_invitations_too(folder):
    """A folder big enough for check's workers: each worker notes its items' meetings for this process."""
    toml = folder / "coordxl.toml"
    toml.write_text(toml.read_text(encoding="utf-8").replace("workers = 0", "workers = 2"), encoding="utf-8")
    for i in range(16):
        write_item(folder, planned_item(), name=f"事项{i:02d}")
    run(folder, D(2026, 12, 8))
    invitations = sent(folder, D(2026, 12, 8), "invitation")
    assert len(invitations) == 16 * len(PARTICIPANTS)
    assert len({m["Subject"] for m in invitations}) == 16


def test_a_participant_who_cannot_be_mailed_is_on_the_administrator_s_list(folder):
    import json

    import openpyxl

    from coordxl.state.store import Store

    wb = openpyxl.load_workbook(folder / "名册.xlsx")
    for row in wb["人员"].iter_rows(min_row=3):
        if row[0].value == "周强":
            row[2].value = "zhouqiang-at-corp"  # no address: invited, but nothing can reach him
    wb.save(folder / "名册.xlsx")
    write_item(folder, planned_item())
    run(folder, D(2026, 12, 8))
    assert sorted(map(to, sent(folder, D(2026, 12, 8), "invitation"))) == sorted(PARTICIPANTS - {"zhouqiang@corp.example"})
    [daily] = Store(folder / ".coordxl" / "state.db").runs("daily")
    health = json.loads(daily["counts"])["health"] if isinstance(daily["counts"], str) else daily["counts"]["health"]
    assert any(i["kind"] == "refused" and "周强" in i["text"] for i in health), health


# --- 异议: a reply to the minutes reaches the initiator (update by reply's mailbox, a real Dovecot) ---------

def objection_reply(minutes, sender: str, name: str, message_id: str, said: str) -> bytes:
    """A reply to a minutes mail as QQ Mail writes it: the text, then its quote header and the quoted mail."""
    from email.header import Header

    return (f"From: {Header(name, 'utf-8').encode()} <{sender}>\r\nTo: coordxl@corp.example\r\n"
            f"Subject: {Header('回复：' + minutes['Subject'], 'utf-8').encode()}\r\nMessage-ID: {message_id}\r\n"
            f"In-Reply-To: {minutes['Message-ID']}\r\nReferences: {minutes['Message-ID']}\r\n"
            f"Date: Wed, 16 Dec 2026 10:05:00 +0800\r\n"
            f"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
            f"{said}\r\n\r\n------------------ 原始邮件 ------------------\r\n"
            f"发件人: \"coordxl\" <coordxl@corp.example>\r\n发送时间: 2026年12月15日(星期二) 上午9:00\r\n"
            f"主题: 会议纪要\r\n\r\n如有异议，请在 2026-12-16 前回复\r\n").encode()


def test_an_objection_to_the_minutes_is_forwarded_to_the_initiator_once_and_listed_in_the_digest(
        folder, soffice, dovecot):  # noqa: F811  (the fixture imported above)
    import os
    import subprocess
    import sys

    from test_replies import PASSWORD, append, enable

    from coordxl.run.replies import TOKEN_RE

    enable(folder, dovecot)

    def replies_run(day: D) -> None:
        done = subprocess.run([sys.executable, "-m", "coordxl", "replies", str(folder), "--today", day.isoformat()],
                              capture_output=True, text=True, timeout=300,
                              env={**os.environ, "COORDXL_IMAP_PASSWORD": PASSWORD})
        assert done.returncode == 0, done.stderr + done.stdout

    save(folder, held_item(), soffice)
    run(folder, D(2026, 12, 15))
    minutes = {to(m): m for m in sent(folder, D(2026, 12, 15), "minutes")}
    sun, boss = minutes["sunli@corp.example"], minutes["zhangwei@corp.example"]
    token = TOKEN_RE.search(sun["Message-ID"])[1]
    text = body(sun)
    assert "如有异议，请在 2026-12-16 前回复" in text and "转给发起人 张伟" in text
    assert f"回复码：R-{token.upper()}" in text and text.index("请在此线以上回复") < text.index("回复码")

    said = "异议：渠道铺货计划（待办 #3）的截止日期太紧，\r\n建议延后一周。"
    append(dovecot, objection_reply(sun, "sunli@corp.example", "孙丽", "<obj-1@corp.example>", said))
    append(dovecot, objection_reply(minutes["chenjing@corp.example"], "chenjing@corp.example", "陈静",
                                    "<ack-1@corp.example>", "收到，谢谢！"))  # an acknowledgement: no objection
    append(dovecot, objection_reply(boss, "zhangwei@corp.example", "张伟", "<own-1@corp.example>",
                                    "好的，周一我再和设计部对一下。"))  # the initiator on his own copy: nobody to tell
    replies_run(D(2026, 12, 16))
    replies_run(D(2026, 12, 16))  # nothing new: nothing sent again
    append(dovecot, objection_reply(sun, "sunli@corp.example", "孙丽", "<obj-1@corp.example>", said))  # delivered twice
    replies_run(D(2026, 12, 16))

    import sqlite3

    db = sqlite3.connect(folder / ".coordxl" / "state.db")  # as if killed after sending, before marking it forwarded
    assert db.execute("UPDATE reply_changes SET status = 'objection' WHERE verb = 'objection'").rowcount == 1
    db.commit()
    db.close()
    replies_run(D(2026, 12, 16))  # the ledger knows the forward went out: not sent again

    [forward] = sent(folder, D(2026, 12, 16), "objection")
    assert to(forward) == "zhangwei@corp.example" and forward["Subject"] == "【纪要异议】孙丽：Q3新品上市推广协调会"
    assert forward["In-Reply-To"] == boss["Message-ID"], "in the thread of the initiator's own minutes"
    assert forward["Reply-To"] == "sunli@corp.example", "the initiator's answer goes to the objector"
    fwd = body(forward).replace("\r\n", "\n")
    assert "提出异议：\n\n> 渠道铺货计划（待办 #3）的截止日期太紧，\n> 建议延后一周。\n" in fwd, "the prefix 异议： left out"
    assert "2026-12-16 收到，未超过异议期限 2026-12-16" in fwd and "原始邮件" not in fwd
    [answer] = [m for m in sent(folder, D(2026, 12, 16), "reply")]  # 陈静's 收到 is not answered
    assert to(answer) == "sunli@corp.example" and answer["In-Reply-To"] == "<obj-1@corp.example>"
    assert answer["Subject"] == "回复：【会议纪要】Q3新品上市推广协调会"
    assert body(answer).splitlines()[0] == "✅ 您对“Q3新品上市推广协调会”会议纪要的异议已收到，已转给发起人 张伟。"

    late = "第4项交付标准写的是旧版本。"  # 陈静 the day after the deadline: still forwarded, marked late
    append(dovecot, objection_reply(minutes["chenjing@corp.example"], "chenjing@corp.example", "陈静",
                                    "<obj-2@corp.example>", late))
    replies_run(D(2026, 12, 17))
    [forward] = sent(folder, D(2026, 12, 17), "objection")
    assert forward["Subject"] == "【纪要异议·逾期】陈静：Q3新品上市推广协调会"
    assert "逾期：异议期限为 2026-12-16，2026-12-17 才收到" in body(forward)
    [answer] = sent(folder, D(2026, 12, 17), "reply")
    assert "已过 2026-12-16 的异议期限，已注明逾期" in body(answer)

    append(dovecot, objection_reply(minutes["zhengshuang@corp.example"], "zhengshuang@corp.example", "郑爽",
                                    "<empty-1@corp.example>", ""))  # sent with nothing written: said how
    replies_run(D(2026, 12, 17))
    assert len(sent(folder, D(2026, 12, 17), "objection")) == 1, "nothing forwarded"
    [empty] = [m for m in sent(folder, D(2026, 12, 17), "reply") if to(m) == "zhengshuang@corp.example"]
    assert body(empty).startswith("没有读到异议内容。请在引用内容上方写明您的异议")

    # the next morning the initiator's digest lists both, until the minutes are sent again (updated)
    run(folder, D(2026, 12, 18))
    [digest] = [m for m in sent(folder, D(2026, 12, 18), "digest") if to(m) == "zhangwei@corp.example"]
    listed = body(digest)
    assert "纪要异议（待处理）" in listed and "纪要异议 2 条" in digest["Subject"]
    assert "孙丽（2026-12-16）对“Q3新品上市推广协调会”：渠道铺货计划（待办 #3）的截止日期太紧，建议延后一周。" in listed
    assert "陈静（2026-12-17，逾期）对“Q3新品上市推广协调会”：第4项交付标准写的是旧版本。" in listed
    save(folder, held_item(a4={"standard": "推广方案v2"}), soffice)
    run(folder, D(2026, 12, 21))
    assert sent(folder, D(2026, 12, 21), "minutes"), "纪要已更新"
    run(folder, D(2026, 12, 22))
    assert not [m for m in sent(folder, D(2026, 12, 22), "digest")
                if to(m) == "zhangwei@corp.example" and "纪要异议" in body(m)]

    # the initiator's address gone from the roster: the objection is kept, and its sender is not told it was passed on
    import openpyxl

    wb = openpyxl.load_workbook(folder / "名册.xlsx")
    for row in wb["人员"].iter_rows(min_row=3):
        if row[0].value == "张伟":
            row[2].value = None
    wb.save(folder / "名册.xlsx")
    append(dovecot, objection_reply(sun, "sunli@corp.example", "孙丽", "<obj-3@corp.example>", "第2项负责人写错了。"))
    replies_run(D(2026, 12, 23))
    assert not sent(folder, D(2026, 12, 23), "objection")
    [answer] = sent(folder, D(2026, 12, 23), "reply")
    first = body(answer).splitlines()[0]
    assert "已转给" not in first and "发起人 张伟 在名册中没有可用的邮箱" in first and "请直接联系发起人" in first


def test_a_participant_not_in_the_roster_is_a_finding_at_the_cell_and_on_the_administrator_s_list(folder, soffice):
    import json
    import subprocess
    import sys

    from coordxl.state.store import Store

    cell = "产品部（陈静、赵磊）、销售部（孙丽、周强）、设计部（郑爽、冯雪）、王晓明、陈晶"  # 陈晶: a typo of 陈静
    save(folder, planned_item(participants=cell), soffice)
    checked = subprocess.run([sys.executable, "-m", "coordxl", "check", str(folder), "--json", "--today", "2026-12-08"],
                             capture_output=True, text=True, timeout=300)
    found = [f for f in json.loads(checked.stdout)["findings"] if f["code"] == "F-PERSON"]
    assert [(f["sheet"], f["message"]) for f in found] == [
        ("需求单", "“王晓明”不在名册中（参与部门/人），收不到会议邀请和纪要（其他人照常邀请）"),
        ("需求单", "“陈晶”不在名册中（参与部门/人），收不到会议邀请和纪要（其他人照常邀请）")]
    assert found[0]["cell"] == found[1]["cell"] and found[1]["hint"] == "您是否指“陈静”？"

    run(folder, D(2026, 12, 8))
    assert sorted(map(to, sent(folder, D(2026, 12, 8), "invitation"))) == sorted(PARTICIPANTS), "the others invited"
    [daily] = Store(folder / ".coordxl" / "state.db").runs("daily")
    health = [i["text"] for i in daily["counts"]["health"] if i["kind"] == "uninvited"]
    assert health == [f"进行中/Q3新品上市推广.xlsx（需求单!{found[0]['cell']}）：“王晓明”不在名册中（参与部门/人），收不到会议邀请和"
                      "纪要（其他人照常邀请）；请把此人加入名册，或请发起人改正姓名",
                      f"进行中/Q3新品上市推广.xlsx（需求单!{found[0]['cell']}）：“陈晶”不在名册中（参与部门/人），收不到会议邀请和"
                      "纪要（其他人照常邀请）；请把此人加入名册，或请发起人改正姓名"]
    [digest] = [m for m in sent(folder, D(2026, 12, 8), "digest") if to(m) == "zhangwei@corp.example"]
    assert "“王晓明”不在名册中" in body(digest), "the initiator is told too"


def findings_on(folder: Path, day: D) -> list[dict]:
    import json
    import subprocess
    import sys

    checked = subprocess.run([sys.executable, "-m", "coordxl", "check", str(folder), "--json", "--today", day.isoformat()],
                             capture_output=True, text=True, timeout=300)
    return json.loads(checked.stdout)["findings"]


def test_minutes_coordxl_sent_count_from_its_ledger_and_a_blank_sent_time_is_no_mistake(folder, soffice):
    from coordxl.state.store import Store

    def about_sending(day: D, name: str) -> list[dict]:
        return [f for f in findings_on(folder, day) if f["workbook"].endswith(f"{name}.xlsx") and f["sheet"] == "会议纪要"
                and (f["code"] == "R-MINUTES-24H" or "纪要发出时间" in f["message"])]

    save(folder, held_item(), soffice, name="按时")  # complete: coordxl sends the minutes the next morning
    save(folder, held_item(a3={"standard": None}), soffice, name="补全较晚")  # complete only three days later
    [blank] = about_sending(D(2026, 12, 15), "补全较晚")
    assert blank["code"] == "F-REQUIRED", "minutes nobody sent: the recorder is still asked for the time"
    run(folder, D(2026, 12, 15))
    [digest] = [m for m in sent(folder, D(2026, 12, 15), "digest") if to(m) == "zhangwei@corp.example"]
    told = body(digest)
    assert told.count("必填项“纪要发出时间”为空") == 1 and "[按时]" not in told, "only of the minutes not sent"

    save(folder, held_item(), soffice, name="补全较晚")
    run(folder, D(2026, 12, 17))
    assert {m["Subject"] for m in sent(folder, D(2026, 12, 17), "minutes")} == {"【会议纪要】Q3新品上市推广协调会"}
    later = D(2026, 12, 23)  # past the days the minutes are sent in: only the ledger knows they went out
    assert not about_sending(later, "按时"), "sent by coordxl within 24 h: nothing to say"
    [late] = about_sending(later, "补全较晚")
    ledger = [m for m in Store(folder / ".coordxl" / "state.db").mails() if m["kind"] == "minutes" and m["day"] == "2026-12-17"]
    at = dt.datetime.combine(D(2026, 12, 17), dt.datetime.fromisoformat(min(m["updated_at"] for m in ledger)).time())
    hours = int((at - (MEETING + dt.timedelta(minutes=80))).total_seconds() // 3600)
    assert late["code"] == "R-MINUTES-24H" and late["message"] == f"纪要在会后 {hours} 小时才发出（要求 24 小时内）"
    assert late["cell"] == blank["cell"], "at the 纪要发出时间 cell, as before"


def as_an_older_coordxl_left_it(db_path: Path) -> None:
    """state.db as coordxl 0.2.0 before schema 11 kept it: what each meeting mail said packed into the
    ledger's reasons ("participant, uid=…, seq=…"), no meeting_mails table."""
    import sqlite3

    db = sqlite3.connect(db_path)
    for key, kind, uid, seq, step, start, hash_, content in db.execute(
            "SELECT key, kind, uid, seq, step, start, hash, content FROM meeting_mails").fetchall():
        tokens = {"invitation": f"uid={uid}, seq={seq}, step={step}, start={start}",
                  "followup": f"uid={uid}, seq={seq}, step={step}, start={start}",
                  "minutes": f"uid={uid}, hash={hash_}, c={content}", "deadlines": f"cal={content}"}[kind]
        db.execute("UPDATE mails SET reasons = reasons || ', ' || ? WHERE key = ?", (tokens, key))
    db.execute("DROP TABLE meeting_mails")
    db.execute("PRAGMA user_version = 10")
    db.commit()
    db.close()


def test_the_meeting_history_moves_into_its_own_table_and_the_upgrade_sends_nothing_twice(folder, soffice):
    import sqlite3

    toml = folder / "coordxl.toml"
    toml.write_text(toml.read_text(encoding="utf-8").replace("calendar_items = false", "calendar_items = true"),
                    encoding="utf-8")

    def held(**change) -> dict:
        d = held_item(**change)
        d["minutes"].update(start=T(2026, 12, 7, 14, 0), end=T(2026, 12, 7, 15, 20))
        return d

    save(folder, tracked_item(D(2026, 12, 1)), soffice)  # its meeting on 12-14 and 陈静's two deadlines
    save(folder, held(), soffice, name="纪要事项")  # met on 12-07: its minutes go out on 12-08
    run(folder, D(2026, 12, 8))
    assert len(sent(folder, D(2026, 12, 8), "invitation")) == len(PARTICIPANTS)
    assert sent(folder, D(2026, 12, 8), "minutes")
    db_path = folder / ".coordxl" / "state.db"
    db = sqlite3.connect(db_path)
    assert db.execute("SELECT reasons FROM mails WHERE kind = 'invitation' LIMIT 1").fetchone()[0] == "participant"
    db.close()
    as_an_older_coordxl_left_it(db_path)

    # the upgrade: the next day, the meeting moved, the minutes edited, a deadline changed
    moved = tracked_item(D(2026, 12, 4))
    moved["request"]["planned_meeting"] = MEETING + dt.timedelta(hours=2)
    save(folder, moved, soffice)
    save(folder, held(a4={"due": D(2026, 8, 20)}), soffice, name="纪要事项")
    run(folder, D(2026, 12, 9))
    run(folder, D(2026, 12, 9))
    updates = sent(folder, D(2026, 12, 9), "invitation")
    assert sorted(map(to, updates)) == sorted(PARTICIPANTS)
    event, _, _ = calendar_of(updates[0])
    assert int(event["SEQUENCE"]) == 1 and "变更" in updates[0]["Subject"], "the sequence carried over"
    edited = sent(folder, D(2026, 12, 9), "minutes")
    assert edited and all(m["Subject"].startswith("【纪要已更新】") for m in edited)
    assert "待办 #4 改为" in body(edited[0]), "what changed, against the minutes sent before the upgrade"
    [digest] = [m for m in sent(folder, D(2026, 12, 9), "digest") if to(m) == "chenjing@corp.example"]
    [(_, t01)] = deadlines_of(digest).values()
    assert t01.decoded("DTSTART") == D(2026, 12, 4) and int(t01["SEQUENCE"]) == 1, "only the changed deadline"
    db = sqlite3.connect(db_path)
    kinds = dict(db.execute("SELECT kind, COUNT(*) FROM meeting_mails GROUP BY kind").fetchall())
    assert kinds["invitation"] == 2 * len(PARTICIPANTS) and kinds["minutes"] == 2 * len(edited)
