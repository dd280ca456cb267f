"""Across the new year without 2027's holiday data: the daily job run day by day from 2026-12-21 to
2027-01-08 through the CLI, mail to the outbox; then the same with the 2027 notice imported."""

from __future__ import annotations

import datetime as dt
import email
import json
import shutil
from email import policy
from pathlib import Path

import openpyxl
import pytest
import time_machine
from click.testing import CliRunner
from conftest import clean_launch, write_item

from coordxl.cli import main
from coordxl.run.weekly import report_week, week_label

D = dt.date
FIXTURE_2027 = Path(__file__).parent / "data" / "holiday_notices" / "test-2027.txt"  # a test fixture, not a notice
ESTIMATE = "按估算的工作日"
FIRST, LAST = D(2026, 12, 21), D(2027, 1, 8)


def december_item() -> dict:
    """A small item set up in mid-December: three tasks due on either side of 元旦."""
    d = clean_launch()
    d["request"].update(sent_on=D(2026, 12, 14), planned_meeting=dt.datetime(2026, 12, 16, 14, 0))
    d["minutes"].update(start=dt.datetime(2026, 12, 16, 14, 0), end=dt.datetime(2026, 12, 16, 15, 0),
                        materials_sent=dt.datetime(2026, 12, 15, 10, 0), minutes_sent=dt.datetime(2026, 12, 16, 17, 0))
    tasks = [("T01", "年终盘点报告", "陈静", "产品部", D(2026, 12, 31), "not_started"),
             ("T02", "元旦海报定稿", "郑爽", "设计部", D(2026, 12, 23), "not_started"),
             ("T03", "年货节详情页", "冯雪", "设计部", D(2027, 1, 5), "not_started"),
             ("T04", "春节排班表", "赵磊", "产品部", D(2027, 1, 20), "in_progress")]  # stale from 12-25
    d["actions"] = [dict(no=i + 1, action=task, department=dept, owner=owner, due=due, standard=f"{task}终稿")
                    for i, (_, task, owner, dept, due, _) in enumerate(tasks)]
    d["tasks"] = [dict(id=tid, task=task, source=f"会议纪要#{i + 1}", department=dept, owner=owner,
                       start=D(2026, 12, 17), due=due, standard=f"{task}终稿", status=status, done_on=None,
                       note="", updated_on=D(2026, 12, 18))
                  for i, (tid, task, owner, dept, due, status) in enumerate(tasks)]
    d["followups"] = [dict(date=D(2026, 12, 17) + dt.timedelta(days=7 * i), start=dt.time(16, 0),
                           end=dt.time(16, 20), attendees="张伟、陈静、郑爽、冯雪、赵磊", conclusion="按计划推进",
                           open_issues="") for i in range(4)]
    d["resources"] = []
    return d


def run_days(root: Path) -> dict[D, list]:
    """`coordxl daily --today D` on every day of the run; the mails each day left in the outbox."""
    runner = CliRunner()
    day = FIRST
    while day <= LAST:
        result = runner.invoke(main, ["daily", str(root), "--today", day.isoformat()])
        assert result.exit_code in (0, 1) and "Traceback" not in result.output, (day, result.output)
        day += dt.timedelta(days=1)
    out: dict[D, list] = {}
    for folder in sorted((root / ".coordxl" / "outbox").iterdir()):
        out[D.fromisoformat(folder.name)] = [email.message_from_bytes(p.read_bytes(), policy=policy.default)
                                             for p in sorted(folder.glob("*.eml"))]
    return out


def body(msg) -> str:
    return msg.get_body(preferencelist=("plain",)).get_content()


def to(mails: list, address: str) -> list[str]:
    return [body(m) for m in mails if m["To"].addresses[0].addr_spec == address
            and m["X-Coordxl-Kind"] == "digest"]


@pytest.fixture
def december(share_with_roster, soffice) -> Path:
    """The folder with the item as staff keep it: saved by LibreOffice."""
    path = write_item(share_with_roster, december_item())
    shutil.copy(soffice(path, "xlsx"), path)
    return share_with_roster


@pytest.mark.libreoffice
def test_without_2027_data_no_mail_on_new_year_and_counts_are_right_and_said_to_be_estimates(december):
    mails = run_days(december)
    for day in (D(2026, 12, 26), D(2026, 12, 27), D(2027, 1, 1), D(2027, 1, 2), D(2027, 1, 3)):
        assert not mails.get(day), day                            # 元旦 and the weekends: nothing sent
    [chen] = to(mails[D(2027, 1, 4)], "chenjing@corp.example")
    assert "逾期1个工作日" in chen and "逾期2个工作日" not in chen   # due 12-31, Monday the 4th: one day late
    assert ESTIMATE in chen and "coordxl calendar ROOT --import" in chen
    [html] = [m for m in mails[D(2027, 1, 4)] if m["To"].addresses[0].addr_spec == "chenjing@corp.example"
              and m["X-Coordxl-Kind"] == "digest"]
    assert ESTIMATE in html.get_body(preferencelist=("html",)).get_content()
    for day, sent in mails.items():
        if day.year == 2027:
            assert sent and all(ESTIMATE in body(m) for m in sent), day
    # in December, only a count that reaches into 2027 is an estimate
    [zheng] = to(mails[D(2026, 12, 24)], "zhengshuang@corp.example")
    assert "逾期1个工作日" in zheng and ESTIMATE not in zheng      # due 12-23: a count within 2026
    [chen_28] = to(mails[D(2026, 12, 28)], "chenjing@corp.example")
    assert ESTIMATE not in chen_28                                # due 12-31, three working days ahead
    [feng] = to(mails[D(2026, 12, 30)], "fengxue@corp.example")
    assert "年货节详情页" in feng and ESTIMATE in feng              # due 2027-01-05: counted across 元旦
    [zhao] = to(mails[D(2026, 12, 25)], "zhaolei@corp.example")
    assert "未更新" in zhao and ESTIMATE not in zhao                # due in 2027, but stale since 12-18: within 2026
    posts = [json.loads(p.read_text(encoding="utf-8"))
             for p in (december / ".coordxl" / "outbox" / "2027-01-04").glob("post-*.json")]
    assert posts and all(ESTIMATE in json.dumps(p, ensure_ascii=False) for p in posts)


def weekly(root: Path, day: D) -> tuple[list[str], str]:
    """`coordxl weekly --today D`: the weekly mails' text, and the text of the workbook's overview sheet."""
    result = CliRunner().invoke(main, ["weekly", str(root), "--today", day.isoformat()])
    assert result.exit_code == 0, result.output
    sent = [email.message_from_bytes(p.read_bytes(), policy=policy.default)
            for p in (root / ".coordxl" / "outbox" / day.isoformat()).glob("*.eml")]
    wb = openpyxl.load_workbook(root / "报告" / f"周报-{week_label(report_week(day)[0])}.xlsx", read_only=True)
    sheet = " ".join(str(c) for row in wb["总览"].iter_rows(values_only=True) for c in row if c is not None)
    return [body(m) for m in sent if m["X-Coordxl-Kind"] == "weekly"], sheet


@pytest.mark.libreoffice
def test_the_weekly_says_so_only_when_its_overdue_counts_reach_2027(december):
    run_days(december)
    before, sheet_before = weekly(december, D(2026, 12, 28))       # week 52: T02 overdue since 12-23
    assert before and all(ESTIMATE not in b for b in before) and ESTIMATE not in sheet_before
    after, sheet_after = weekly(december, D(2027, 1, 4))           # week 53: overdue counted up to 01-04
    assert after and all(ESTIMATE in b for b in after) and ESTIMATE in sheet_after
    html = [email.message_from_bytes(p.read_bytes(), policy=policy.default)
            for p in (december / ".coordxl" / "outbox" / "2027-01-04").glob("*.eml")]
    assert all(ESTIMATE in m.get_body(preferencelist=("html",)).get_content()
               for m in html if m["X-Coordxl-Kind"] == "weekly")


@pytest.mark.libreoffice
def test_with_the_2027_notice_imported_counts_follow_it_and_nothing_is_an_estimate(december):
    runner = CliRunner()
    imported = runner.invoke(main, ["calendar", str(december), "--import", str(FIXTURE_2027), "--yes"])
    assert imported.exit_code == 0, imported.output
    mails = run_days(december)
    for day in (D(2027, 1, 1), D(2027, 1, 2), D(2027, 1, 3), D(2027, 1, 4)):   # the fixture gives 1月1日至4日
        assert not mails.get(day), day
    [chen] = to(mails[D(2027, 1, 5)], "chenjing@corp.example")
    assert "逾期1个工作日" in chen                                  # 01-04 was a day off: one working day late
    assert all(ESTIMATE not in body(m) for sent in mails.values() for m in sent)
    # T03 (due 01-05) is three working days ahead on 12-29 now (12-30, 12-31, 01-05), not on 12-30
    assert to(mails[D(2026, 12, 29)], "fengxue@corp.example") and not to(mails[D(2026, 12, 30)], "fengxue@corp.example")
    check = runner.invoke(main, ["check", str(december), "--today", "2027-01-05", "--json"])
    assert "W-CALENDAR" not in check.output


@pytest.mark.libreoffice
def test_status_says_the_next_run_was_found_with_estimated_working_days(december):
    runner = CliRunner()
    with time_machine.travel(dt.datetime(2026, 12, 31, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=8))), tick=False):
        shown = runner.invoke(main, ["status", str(december)])
        as_json = json.loads(runner.invoke(main, ["status", str(december), "--json"]).output)
    assert shown.exit_code == 0, shown.output
    assert ESTIMATE in shown.output and "2027" in shown.output
    assert as_json["calendar_estimated"] == [2027] and as_json["jobs"]["daily"]["next_run"].startswith("2027-01-04")
    with time_machine.travel(dt.datetime(2026, 12, 21, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=8))), tick=False):
        assert ESTIMATE not in runner.invoke(main, ["status", str(december)]).output
