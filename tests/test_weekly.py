"""`coordxl weekly`: the figures match the rows, the charts point at them, changes week over week, mails."""

import datetime as dt
import email
import shutil
from email import policy

import openpyxl
import pytest
import python_calamine

from coordxl import example as ex
from coordxl.calendar import WorkCalendar
from coordxl.daily import run_daily
from coordxl.summary import report_week, run_weekly

from conftest import clean_launch, write_item

MONDAY = dt.date(2026, 8, 24)
NOW = dt.datetime(2026, 8, 24, 9, 30)


@pytest.mark.parametrize("today,monday", [
    (dt.date(2026, 8, 24), dt.date(2026, 8, 17)),  # Monday: the week that just ended
    (dt.date(2026, 8, 26), dt.date(2026, 8, 17)),  # Wednesday: still last week
    (dt.date(2026, 8, 27), dt.date(2026, 8, 24)),  # Thursday: this week
    (dt.date(2026, 8, 30), dt.date(2026, 8, 24)),  # Sunday
])
def test_report_week(today, monday):
    assert report_week(today) == (monday, monday + dt.timedelta(days=6))


def _expected_items():
    """The 总览 figures computed here, independently, from the example's own rows."""
    cal = WorkCalendar()
    out = {}
    # the real-life tracker: section and total rows are not tasks; 已完成√ is done
    stores = [dict(t, status={"已完成√": "done"}.get(t["status"], t["status"])) for t in ex.STORES_TASKS if t.get("due")]
    for topic, request, tasks, resources in (
            (ex.LAUNCH_REQUEST["topic"], ex.LAUNCH_REQUEST, ex.LAUNCH_TASKS, ex.LAUNCH_RESOURCES),
            (ex.RECAP_REQUEST["topic"], ex.RECAP_REQUEST, ex.RECAP_TASKS, ()),
            (ex.STORES_REQUEST["topic"], ex.STORES_REQUEST, stores, ())):
        done = sum(t["status"] == "done" for t in tasks)
        cancelled = sum(t["status"] == "cancelled" for t in tasks)
        overdue = 0
        next_week = 0
        for t in tasks:
            due = t["due"] if isinstance(t["due"], dt.date) else dt.date(2026, 8, 19)  # "2026/8/19" as typed
            if t["status"] in ("done", "cancelled"):
                continue
            overdue += due < MONDAY
            next_week += dt.date(2026, 8, 24) <= due <= dt.date(2026, 8, 30)
        pending = sum(1 for r in resources if r["review"] == "pending" and r["approval"] == "pending"
                      and cal.count(r["requested_on"], MONDAY) > 3)
        out[topic] = (done / (len(tasks) - cancelled), overdue, next_week, pending)
    return out


def test_overview_figures_equal_the_rows(example_root):
    result = run_weekly(example_root, MONDAY, NOW)
    path = example_root / "报告" / "周报-2026-W34.xlsx"
    assert result.weekly.path == path
    rows = python_calamine.CalamineWorkbook.from_path(str(path)).get_sheet_by_name("总览").to_python()
    header = rows[2]
    assert header[:5] == ["事项", "发起人", "状态", "进度", "逾期"]
    got = {}
    for row in rows[3:]:
        if not row[0]:
            break
        got[row[0]] = (row[3], row[4], row[5], row[6])
    expected = _expected_items()
    assert set(got) == set(expected)
    for topic, (progress, overdue, next_week, pending) in expected.items():
        assert got[topic][0] == pytest.approx(progress)
        assert got[topic][1:] == (overdue, next_week, pending)
    overdue_sheet = python_calamine.CalamineWorkbook.from_path(str(path)).get_sheet_by_name("逾期清单").to_python()
    assert len(overdue_sheet) - 1 == sum(v[1] for v in expected.values())


def test_charts_exist_and_reference_the_tables(example_root):
    run_weekly(example_root, MONDAY, NOW)
    ws = openpyxl.load_workbook(example_root / "报告" / "周报-2026-W34.xlsx")["总览"]
    charts = ws._charts
    assert len(charts) == 3
    bar = charts[0]
    assert bar.grouping == "stacked" and bar.type == "bar"
    labels = [ws.cell(row=r, column=1).value for r in range(1, ws.max_row + 1)]
    title = labels.index("各部门任务状态") + 1  # its title row; the header row follows, then 4 departments
    assert [ws.cell(row=title + 1 + i, column=1).value for i in range(1, 5)] == ["产品部", "市场部", "设计部", "销售部"]
    assert bar.series[0].val.numRef.f == f"'总览'!$B${title + 2}:$B${title + 5}"
    assert bar.series[0].tx.strRef.f == f"'总览'!B{title + 1}"  # the state's name from the header row
    trend_ref = charts[1].series[0].val.numRef.f
    trend_title = labels.index("近8周趋势") + 2
    assert f"$B${trend_title + 1}:$B${trend_title + 8}" in trend_ref


@pytest.mark.libreoffice
def test_libreoffice_opens_the_summary(example_root, soffice):
    run_weekly(example_root, MONDAY, NOW)
    soffice(example_root / "报告" / "周报-2026-W34.xlsx")


def test_week_over_week_changes(share_with_roster):
    d = clean_launch()
    write_item(share_with_roster, d)
    run_daily(share_with_roster, dt.date(2026, 8, 14), dt.datetime(2026, 8, 14, 9))  # a week earlier
    d["tasks"][2].update(status="done", done_on=dt.date(2026, 8, 20))  # T03 finished this week
    d["tasks"][6]["due"] = dt.date(2026, 8, 26)  # T07 moved from 08-21 to 08-26: 3 working days later
    write_item(share_with_roster, d)
    run_daily(share_with_roster, dt.date(2026, 8, 21), dt.datetime(2026, 8, 21, 9))
    weekly = run_weekly(share_with_roster, MONDAY, NOW).weekly
    assert [t.task_id for t in weekly.newly_done] == ["T03"]
    assert [(t.task_id, old, n) for t, old, n in weekly.slipped] == [("T07", dt.date(2026, 8, 21), 3)]
    # T06 (due 08-14) was due that day a week ago and is overdue now; T09 (08-19) and T12 (08-20) too
    assert sorted(t.task_id for t in weekly.newly_overdue) == ["T06", "T09", "T12"]
    slipped = python_calamine.CalamineWorkbook.from_path(str(weekly.path)).get_sheet_by_name("延期记录").to_python()
    assert slipped[1][1] == "T07" and slipped[1][7] == 3
    # the overdue trend: W33's count from the 08-14 snapshot (T03, T10 due 08-07), W34's from the rows now
    trend = {week: overdue for week, _, overdue in weekly.trend}
    assert trend["2026-W33"] == 2 and trend["2026-W34"] == len(weekly.overdue) and trend["2026-W32"] is None


def test_mails_once_per_iso_week_with_the_workbook_attached(example_root):
    (example_root / "coordxl.toml").write_text('[reminders]\nmanagement = ["王海"]\n', encoding="utf-8")
    first = run_weekly(example_root, MONDAY, NOW)
    recipients = sorted(m.to.name for m in first.delivery.sent)
    # initiators 张伟 and 李娜, the heads of the departments with tasks, and management (王海)
    assert recipients == sorted({"张伟", "李娜", "陈静", "孙丽", "郑爽", "王海"})
    again = run_weekly(example_root, dt.date(2026, 8, 25), NOW)
    assert again.delivery.sent == [] and len(again.delivery.skipped) == len(recipients)
    outbox = sorted((example_root / ".coordxl" / "outbox" / "2026-08-24").glob("wanghai*.eml"))
    msg = email.message_from_bytes(outbox[0].read_bytes(), policy=policy.default)
    assert msg["Subject"].startswith("【协调周报】2026-W34")
    [attachment] = list(msg.iter_attachments())
    assert attachment.get_filename() == "周报-2026-W34.xlsx"
    html = msg.get_body(("html",)).get_content()
    assert "Q3新品上市推广协调" in html and "王海，您好" in html and "您在管理层周报名单中" in html


def test_a_department_head_reads_their_departments_figures(example_root):
    result = run_weekly(example_root, MONDAY, NOW)
    sun = next(m for m in result.mails if m.to.name == "孙丽")  # heads 销售部: T06, T07, T10 overdue on 08-24
    assert "当前逾期 3 项" in sun.text and "销售部" in sun.text and "逾期任务 3 项" in sun.subject
    chen = next(m for m in result.mails if m.to.name == "陈静")  # 产品部: nothing overdue
    assert "当前逾期 0 项" in chen.text
