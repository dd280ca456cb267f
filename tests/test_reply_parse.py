"""Reading a reply: the part a person wrote (cut above the quote of each client) and its command lines."""

import datetime as dt
import email
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coordxl.process import reply_parse as rp

CORPUS = Path(__file__).parent / "data" / "replies"
TODAY = dt.date(2026, 8, 20)


def read(name: str) -> tuple[list, list]:
    msg = email.message_from_bytes((CORPUS / f"{name}.eml").read_bytes())
    commands, unread = rp.parse(rp.cut(rp.body_text(msg)), TODAY)
    return ([(c.codes, c.verb, c.value, c.text) for c in commands], [(u.line, u.why) for u in unread])


@pytest.mark.parametrize("name, expected", [
    ("qq", [(("T1",), "done", None, "")]),
    ("foxmail", [(("T2",), "percent", 50, "")]),
    ("outlook_zh", [(("【T1】",), "started", None, "")]),
    ("netease", [(("T1",), "note", None, "初稿已发法务审核")]),  # labelled GBK
    ("apple_zh", [(("T2",), "postpone", dt.date(2026, 8, 27), "等供应商报价")]),
    ("gmail_en", [(("T1",), "done", None, ""), (("T2",), "note", None, "sent to legal for review")]),
    ("gmail_zh", [(("T1", "T2"), "started", None, "")]),
    ("outlook_en", [(("T2",), "blocked", None, "waiting for the vendor's drawings")]),
    ("html_only", [(("T1",), "done", None, "")]),  # T2 完成 in the quoted block is never read
    ("gb2312", [(("T1",), "note", None, "请朱镕审核")]),  # 镕 is GB18030, not GB2312
    ("bottom_post", [(("T1",), "done", None, "")]),
    ("footer_only", [(("T1",), "done", None, "")]),
    ("all_quoted", []),
])
def test_each_client_s_reply_is_read_above_its_quote(name, expected):
    commands, unread = read(name)
    assert commands == expected
    assert unread == []


def test_two_verbs_a_past_date_and_full_width_digits():
    commands, unread = read("two_verbs")
    assert commands == [(("T2",), "percent", 50, "")]  # 'Ｔ２　５０％'
    assert unread == [("T1 完成 延期到 8月27日", "two_verbs"), ("T2 延期到 8月1日", "date_past")]


@pytest.mark.parametrize("line, codes, verb, value, note", [
    ("T3 完成", ("T3",), "done", None, ""),
    ("【T3】已完成", ("【T3】",), "done", None, ""),
    ("#3 done", ("T3",), "done", None, ""),
    ("T3、T4 进度 60%", ("T3", "T4"), "percent", 60, ""),
    ("T3,T4 收到", ("T3", "T4"), "started", None, ""),
    ("全部完成", ("*",), "done", None, ""),
    ("all on it", ("*",), "started", None, ""),
    ("T5 延期到 9月15日 原因：等供应商", ("T5",), "postpone", dt.date(2026, 9, 15), "等供应商"),
    ("T5 postpone to 2026-09-15 reason: vendor", ("T5",), "postpone", dt.date(2026, 9, 15), "vendor"),
    ("T1 暂缓提醒 3天", ("T1",), "snooze", 3, ""),
    ("T1 受阻 等法务意见", ("T1",), "blocked", None, "等法务意见"),
    ("T1 备注：初稿已发", ("T1",), "note", None, "初稿已发"),
    ("T03 完成", ("T03",), "done", None, ""),
    ("撤销 C12", ("C12",), "undo", 12, ""),
    ("undo c7", ("C7",), "undo", 7, ""),  # maybe the tracker's own 编号: resolved against the digest
])
def test_grammar(line, codes, verb, value, note):
    assert rp.parse_line(line, TODAY) == rp.Command(codes, verb, value, note, rp.normalized(line))


@pytest.mark.parametrize("line, why", [
    ("完成", "no_code"), ("T3 好的我看看", "unknown"), ("T3 100%", "percent_full"), ("T3 120%", "percent"),
    ("T3 延期到 下下个月", "date"), ("T3 延期到 8月1日", "date_past"), ("T3 完成 50%", "two_verbs"),
])
def test_lines_not_understood_say_why(line, why):
    assert rp.parse_line(line, TODAY).why == why


def test_greetings_and_signatures_are_not_commands():
    assert rp.parse("谢谢！\n\n冯雪\n市场部\n发自我的iPhone", TODAY) == ([], [])


def test_codes_resolve_against_the_digest():
    tasks = {"T1": {"id": "T03"}, "T2": {"id": "T09"}, "T3": {"id": "T1"}}
    assert rp.resolve("T03", tasks) == ("T1",)
    assert rp.resolve("【T1】", tasks) == ("T1",)
    assert rp.resolve("T1", tasks) == ("T1", "T3")  # the digest's T1 or the task numbered T1: ambiguous
    assert rp.resolve("T7", tasks) == ()


# --- properties -------------------------------------------------------------------------------------

HEADERS = [
    rp.SENTINEL,
    "------------------ 原始邮件 ------------------",
    "-----原始邮件-----",
    "-----Original Message-----",
    "发件人: 协调助手 <coordxl@corp.example>\n发送时间: 2026年8月20日 9:00",
    "From: coordxl <coordxl@corp.example>\nSent: Thursday, August 20, 2026 9:00 AM",
    "在 2026年8月20日，09:00，协调助手 <coordxl@corp.example> 写道：",
    "协调助手 <coordxl@corp.example> 于2026年8月20日周四 09:00写道：",
    "On Thu, Aug 20, 2026 at 9:00 AM coordxl <coordxl@corp.example> wrote:",
]
own_line = st.text(st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")), max_size=40)


@given(own=st.lists(own_line, max_size=6), header=st.sampled_from(HEADERS), quoted=st.text(max_size=200))
def test_nothing_below_a_quote_header_is_ever_read(own, header, quoted):
    mine = "\n".join(own)
    assert rp.cut(f"{mine}\n{header}\n{quoted}") == rp.cut(mine)


@given(st.text(max_size=200))
def test_any_text_is_cut_and_parsed_without_error(body):
    commands, unread = rp.parse(rp.cut(body), TODAY)
    for c in commands:
        assert c.codes and c.verb


SPELLINGS = {"done": ["完成", "已完成", "done", "Done", "finished"], "started": ["进行中", "收到", "在做", "on it"]}


@given(n=st.integers(1, 300), verb=st.sampled_from(sorted(SPELLINGS)), data=st.data(),
       style=st.sampled_from(["T{n} {v}", "【T{n}】{v}", "#{n} {v}", "Ｔ{n}　{v}", "T{n}：{v}"]))
def test_any_code_with_any_spelling_of_a_verb(n, verb, data, style):
    word = data.draw(st.sampled_from(SPELLINGS[verb]))
    found = rp.parse_line(style.format(n=n, v=word), TODAY)
    assert found.verb == verb
    assert found.codes == ((f"【T{n}】",) if style.startswith("【") else (f"T{n}",))


@given(n=st.integers(0, 99), codes=st.lists(st.integers(1, 40), min_size=1, max_size=4, unique=True),
       sep=st.sampled_from(["、", ",", "，", " ", "/"]))
def test_any_percent_for_several_codes(n, codes, sep):
    found = rp.parse_line(sep.join(f"T{c}" for c in codes) + f" {n}%", TODAY)
    assert (found.verb, found.value, found.codes) == ("percent", n, tuple(f"T{c}" for c in codes))


def test_a_postponement_to_a_day_off_is_refused_with_the_working_days_either_side():
    from coordxl.process.calendar import WorkCalendar

    workday = WorkCalendar().is_workday
    found = rp.parse_line("T2 延期到 10月3日 原因：国庆", TODAY, workday)  # the National Day holiday
    assert (found.why, found.readings) == ("holiday", ("2026-09-30", "2026-10-08"))
    assert rp.parse_line("T2 延期到 2026-10-08", TODAY, workday).verb == "postpone"  # the first working day after


def test_attachments_are_never_read():
    from email.message import EmailMessage

    msg = EmailMessage()
    msg.set_content("谢谢")
    msg.add_attachment("T1 完成\n", filename="命令.txt")
    assert rp.parse(rp.cut(rp.body_text(msg)), TODAY) == ([], [])
