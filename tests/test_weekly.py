"""`coordxl weekly`: the figures match the rows, the charts point at them, changes week over week, mails."""

import datetime as dt
import email
import sqlite3
from email import policy

import openpyxl
import pytest
import python_calamine
from conftest import another_item, clean_launch, write_item

from coordxl.process.calendar import WorkCalendar
from coordxl.run import decisions
from coordxl.run import example as ex
from coordxl.run.daily import run_daily
from coordxl.run.weekly import report_week, run_weekly
from coordxl.state.layout import Layout
from coordxl.state.store import workbook_id

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


def test_the_list_sheets_hold_dates_as_dates_and_follow_the_schema(example_root):
    """The lists are written as XML straight (xlsxout.Body): due dates stay dates a manager can sort
    and filter, the filter covers every row, and each sheet validates against ECMA-376."""
    import zipfile

    from ooxml_schema import errors

    from coordxl.xlsx.xlsxparts import sheet_part

    result = run_weekly(example_root, MONDAY, NOW)
    wb = openpyxl.load_workbook(result.weekly.path)
    ws = wb["逾期清单"]
    rows = list(ws.iter_rows(min_row=2))
    assert len(rows) == len(result.weekly.overdue) > 3
    for row, task in zip(rows, result.weekly.overdue):
        assert [c.value for c in row[:3]] == [task.topic, task.task_id, task.task]
        assert row[5].value.date() == task.due and row[5].number_format == "yyyy-mm-dd"
        assert row[6].value == task.days
    assert ws.auto_filter.ref == f"A1:H{len(rows) + 1}" and ws.freeze_panes == "A2"
    with zipfile.ZipFile(result.weekly.path) as zf:
        for name in ("逾期清单", "下周到期", "本周完成", "资源申请待办", "校验问题"):
            assert errors(zf.read(sheet_part(zf, name))) == [], name


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


def test_the_workbook_is_encoded_once_for_all_readers_mails(example_root, monkeypatch):
    """Every reader's mail carries the workbook byte for byte, yet it is read and base64-encoded once a
    run (each encoding cost 8x its size in memory and ~65 ms a mail at 300 items)."""
    from coordxl.send import notify
    encoded = []
    real = notify.base64_lines
    monkeypatch.setattr(notify, "base64_lines", lambda data: encoded.append(len(data)) or real(data))
    (example_root / "coordxl.toml").write_text('[reminders]\nmanagement = ["王海"]\n', encoding="utf-8")
    result = run_weekly(example_root, MONDAY, NOW)
    assert len(result.delivery.sent) == 6 and encoded == [result.weekly.path.stat().st_size]
    outbox = sorted((example_root / ".coordxl" / "outbox" / "2026-08-24").glob("*.eml"))
    assert len(outbox) == 6
    for eml in outbox:
        msg = email.message_from_bytes(eml.read_bytes(), policy=policy.default)
        [attachment] = list(msg.iter_attachments())
        assert attachment.get_content() == result.weekly.path.read_bytes()


@pytest.mark.parametrize("size", [0, 1, 56, 57, 58, 57 * 1024 - 1, 57 * 1024, 57 * 1024 + 1, 3 * 57 * 1024 + 100])
def test_the_attachment_is_encoded_as_the_email_package_encodes_it(size):
    """The weekly's workbook, encoded a block at a time, is line for line what the email package writes."""
    import random
    from email.mime.application import MIMEApplication
    from email.policy import compat32

    from coordxl.send.notify import base64_lines
    data = random.Random(size).randbytes(size)
    assert base64_lines(data) == MIMEApplication(data, "octet-stream", policy=compat32).get_payload()


def test_a_weekly_mail_goes_out_byte_for_byte_as_the_email_package_writes_it(example_root):
    """The outbox and SMTP write a mail with its workbook in pieces (wire_pieces): the same bytes as msg.as_bytes()."""
    from email.policy import compat32

    from coordxl.send import notify
    result = run_weekly(example_root, MONDAY, NOW)
    mail = result.mails[0]
    msg = mail.message(Layout.of(example_root).settings, MONDAY)
    sent = b"".join(notify.wire_pieces(msg))  # first: it sets the boundaries as_bytes then keeps
    assert sent == msg.as_bytes(policy=compat32.clone(linesep="\r\n"))
    assert len(sent) > result.weekly.path.stat().st_size  # the workbook is in it
    eml = next((example_root / ".coordxl" / "outbox" / "2026-08-24").glob(mail.to.email.split("@")[0] + "*.eml"))
    assert email.message_from_bytes(eml.read_bytes()).get_payload()[1].get_payload(decode=True) == \
        result.weekly.path.read_bytes()


def test_a_department_head_reads_their_departments_figures(example_root):
    result = run_weekly(example_root, MONDAY, NOW)
    sun = next(m for m in result.mails if m.to.name == "孙丽")  # heads 销售部: T06, T07, T10 overdue on 08-24
    assert "当前逾期 3 项" in sun.text and "销售部" in sun.text and "逾期任务 3 项" in sun.subject
    chen = next(m for m in result.mails if m.to.name == "陈静")  # 产品部: nothing overdue
    assert "当前逾期 0 项" in chen.text


# --- the decision page --------------------------------------------------------------------------




def _two_weeks(root):
    """Daily runs over two weeks, so the week has a snapshot from last week and the week before."""
    for day in (dt.date(2026, 8, 7), dt.date(2026, 8, 10), dt.date(2026, 8, 14), dt.date(2026, 8, 17),
                dt.date(2026, 8, 20)):
        run_daily(root, day, dt.datetime.combine(day, dt.time(9)))


def _snapshot(root, day):
    db = sqlite3.connect(root / ".coordxl" / "state.db")
    db.row_factory = sqlite3.Row
    latest = db.execute("SELECT MAX(day) FROM snapshots WHERE day <= ?", (day.isoformat(),)).fetchone()[0]
    return [dict(r) for r in db.execute("SELECT * FROM snapshots WHERE day = ?", (latest,))]


def _tracker_rows(root):
    """Every task row of every item, read here with openpyxl: (workbook, id, department, owner, due, status, done)."""
    out = []
    for path in sorted((root / "进行中").glob("*.xlsx")):
        ws = openpyxl.load_workbook(path, data_only=True)["执行进度"]
        for merged in list(ws.merged_cells.ranges):  # a department merged over several tasks applies to each
            value = ws.cell(merged.min_row, merged.min_col).value
            ws.unmerge_cells(str(merged))
            for r in range(merged.min_row, merged.max_row + 1):
                ws.cell(r, merged.min_col).value = value
        head = [c.value for c in ws[2]]
        col = {name: head.index(name) for name in ("编号", "负责部门", "负责人", "截止日期", "状态", "完成日期")}
        for row in ws.iter_rows(min_row=3, values_only=True):
            due = row[col["截止日期"]]
            if isinstance(due, str) and due.count("/") == 2:  # typed as text, as staff do: 2026/8/19
                due = dt.datetime(*map(int, due.split("/")))
            if not row[col["编号"]] or not isinstance(due, dt.datetime):
                continue
            done = row[col["完成日期"]]
            out.append((f"进行中/{path.name}", row[col["编号"]], row[col["负责部门"]], row[col["负责人"]], due.date(),
                        str(row[col["状态"]]), done.date() if isinstance(done, dt.datetime) else None))
    return out


def test_the_decision_page_figures_are_what_the_rows_and_snapshots_say(example_root):
    _two_weeks(example_root)
    result = run_weekly(example_root, MONDAY, NOW)
    page = result.weekly.page
    cal = WorkCalendar()
    rows = _tracker_rows(example_root)
    open_rows = [r for r in rows if not r[5].startswith(("已完成", "已取消"))]
    # overdue now, by tier (1–2, 3–4, ≥5 working days with the default escalation settings), per department
    tiers: dict = {}
    for wb, tid, dept, owner, due, status, done in open_rows:
        days = cal.count(due, MONDAY) if due < MONDAY else 0
        if days > 0:
            tiers.setdefault(dept, [0, 0, 0])[0 if days < 3 else 1 if days < 5 else 2] += 1
    assert page.aging == tiers
    escalated = sorted(tid for wb, tid, dept, owner, due, status, done in open_rows
                       if due < MONDAY and cal.count(due, MONDAY) >= 5)
    assert sorted(a.detail.split(" ")[0] for a in page.asks if a.kind == "escalated") == escalated
    # plan vs actual: last week's snapshot (to Sunday 08-16) listed what was due 08-17 – 08-23
    planned = {(r["workbook"], r["task_id"]): dt.date.fromisoformat(r["due"])
               for r in _snapshot(example_root, dt.date(2026, 8, 16))
               if r["due"] and dt.date(2026, 8, 17) <= dt.date.fromisoformat(r["due"]) <= dt.date(2026, 8, 23)
               and r["state"] not in ("done", "cancelled")}
    now = {(workbook_id(wb), tid): (status, done) for wb, tid, dept, owner, due, status, done in rows}
    on_time = sum(1 for k, due in planned.items() if now[k][0].startswith("已完成") and now[k][1] <= due)
    late = sum(1 for k, due in planned.items() if now[k][0].startswith("已完成") and now[k][1] > due)
    assert (page.planned, page.on_time, page.late, page.still_open) == (len(planned), on_time, late,
                                                                         len(planned) - on_time - late)
    assert sorted(x.task_id for x, _ in page.slipped) == sorted(tid for (wb, tid), due in planned.items()
                                                                 if not (now[(wb, tid)][0].startswith("已完成")
                                                                         and now[(wb, tid)][1] <= due))
    # KPIs: open overdue now vs the snapshot at the end of last week; the arrow follows
    kpi = {k.key: k for k in page.kpis}
    last_overdue = sum(1 for r in _snapshot(example_root, dt.date(2026, 8, 16)) if r["state"] == "overdue")
    assert (kpi["overdue"].value, kpi["overdue"].last) == (sum(sum(v) for v in tiers.values()), last_overdue)
    assert kpi["overdue"].arrow == ("↑" if kpi["overdue"].value > last_overdue else "↓" if kpi["overdue"].value < last_overdue else "→")
    assert kpi["overdue"].mark == ("green" if kpi["overdue"].value == 0 else "amber" if kpi["overdue"].value <= 5 else "red")
    # on-time rates from the rows' 完成日期 against 截止日期, this week and to date, an open task past its
    # deadline counting as late (in the week it fell due); newly overdue and moved deadlines from the
    # snapshots at the end of this week and of last week
    done = [(due, fin) for wb, tid, dept, owner, due, status, fin in rows if status.startswith("已完成") and fin]
    late_open = [due for wb, tid, dept, owner, due, status, done_on in open_rows
                 if due < MONDAY and not status.startswith("暂停")]
    sunday = dt.date(2026, 8, 23)
    week = ([fin <= due for due, fin in done if dt.date(2026, 8, 17) <= fin <= sunday]
            + [False for due in late_open if dt.date(2026, 8, 17) <= due <= sunday])
    to_date = [fin <= due for due, fin in done if fin <= sunday] + [False for _ in late_open]
    assert kpi["on_time_week"].base == (sum(week), len(week)) and kpi["on_time_total"].base == (sum(to_date), len(to_date))
    assert kpi["on_time_week"].value == pytest.approx(sum(week) / len(week))
    assert kpi["on_time_total"].value == pytest.approx(sum(to_date) / len(to_date))
    now_rows = {(r["workbook"], r["task_key"]): r for r in _snapshot(example_root, dt.date(2026, 8, 23))}
    before = {(r["workbook"], r["task_key"]): r for r in _snapshot(example_root, dt.date(2026, 8, 16))}
    newly = sum(1 for k, r in now_rows.items() if k in before and r["state"] == "overdue"
                and before[k]["state"] != "overdue")
    moved = sum(1 for k, r in now_rows.items() if k in before and r["due"] and before[k]["due"]
                and r["due"] > before[k]["due"])
    assert (kpi["newly_overdue"].value, kpi["moved"].value) == (newly, moved)
    # next week's deadlines (08-24 – 08-30), per department
    nxt = sorted((dept, tid) for wb, tid, dept, owner, due, status, done in open_rows
                 if dt.date(2026, 8, 24) <= due <= dt.date(2026, 8, 30))
    assert sorted((d, x.task_id) for d, xs in page.next_week.items() for x in xs) == nxt
    # the page is the workbook's first sheet
    [path] = (example_root / "报告").glob("周报-*.xlsx")
    assert python_calamine.CalamineWorkbook.from_path(str(path)).sheet_names[0] == "决策页"


def test_a_head_s_and_an_initiator_s_page_cover_only_what_is_theirs(example_root):
    _two_weeks(example_root)
    weekly = run_weekly(example_root, MONDAY, NOW).weekly
    design = decisions.page(weekly, settings_of(example_root), decisions.Scope(departments={"设计部"}),
                            weekly.snapshots)
    assert set(design.aging) <= {"设计部"} and set(design.next_week) <= {"设计部"}
    assert all(x.department == "设计部" for x, _ in design.slipped)
    launch = "进行中/Q3新品上市推广.xlsx"
    initiator = decisions.page(weekly, settings_of(example_root), decisions.Scope(items={launch}), weekly.snapshots)
    assert all(x.workbook == launch for xs in initiator.next_week.values() for x in xs)
    assert {a.topic for a in initiator.asks} <= {ex.LAUNCH_REQUEST["topic"]}
    everything = weekly.page
    assert sum(map(sum, initiator.aging.values())) <= sum(map(sum, everything.aging.values()))


def test_a_reader_s_scope_picks_exactly_their_tasks_in_the_list_s_order(example_root):
    """Pages pick a scope's tasks from positions grouped once a week: the same tasks, in the same order,
    as asking each task whether it is in the scope, for a head, an initiator, both, and everyone."""
    _two_weeks(example_root)
    weekly = run_weekly(example_root, MONDAY, NOW).weekly
    launch, stores = "进行中/Q3新品上市推广.xlsx", "进行中/华东门店焕新.xlsx"
    scopes = [decisions.Scope(departments={"设计部"}), decisions.Scope(items={launch}),
              decisions.Scope(items={stores}, departments={"销售部", "设计部"}), decisions.Scope(everything=True),
              decisions.Scope(items={"进行中/不存在.xlsx"})]
    for name in ("overdue", "blocked", "done_ever", "due_next_week", "done_this_week", "invalid"):
        tasks = getattr(weekly, name)
        for scope in scopes:
            assert decisions.in_scope(weekly, name, scope) == [x for x in tasks if scope(x)], (name, scope.__dict__)
    assert any(decisions.in_scope(weekly, "overdue", s) for s in scopes[:3])


def settings_of(root):
    from coordxl.state.layout import Layout
    return Layout.of(root).settings


def test_burn_up_per_item_follows_the_snapshots_and_the_charts_point_at_their_tables(example_root):
    import zipfile
    _two_weeks(example_root)
    weekly = run_weekly(example_root, MONDAY, NOW).weekly
    launch = "进行中/Q3新品上市推广.xlsx"
    series = dict((week, (done, total)) for week, done, total in weekly.burnup[launch])
    end_w32 = [r for r in _snapshot(example_root, dt.date(2026, 8, 9)) if r["workbook"] == workbook_id(launch)]
    assert series["2026-W32"] == (sum(r["state"] == "done" for r in end_w32), sum(r["state"] != "cancelled" for r in end_w32))
    item = next(i for i in weekly.items if i.workbook == launch)
    assert series["2026-W34"] == (item.done, item.total - item.cancelled)
    assert series["2026-W31"] == (0, 0)  # no run that week: nothing is invented
    [path] = (example_root / "报告").glob("周报-*.xlsx")
    with zipfile.ZipFile(path) as zf:
        drawings = {n: zf.read(n).decode() for n in zf.namelist() if n.startswith("xl/charts/chart")}
    refs = " ".join(drawings.values())
    assert "'决策页'!$B$" in refs and "'进度走势'!$B$" in refs  # the aging bars and a burn-up line read their tables


def test_a_long_list_in_the_weekly_mail_is_cut_with_the_count_of_the_rest(example_root):
    """Read on a phone: at most weekly.MAIL_LIST_MAX lines per list, the items most behind first, and
    how many more there are; the attached workbook keeps every row."""

    from coordxl.run.weekly import MAIL_LIST_MAX

    (example_root / "coordxl.toml").write_text('[reminders]\nmanagement = ["王海"]\n', encoding="utf-8")
    active = example_root / "进行中"
    for n in range(MAIL_LIST_MAX + 4):
        another_item(active / "Q3新品上市推广.xlsx", active / f"副本{n:02d}.xlsx")
    result = run_weekly(example_root, MONDAY, NOW)
    [mail] = [m for m in result.mails if m.to.name == "王海"]
    plain, html = mail.bodies()
    items = len(result.weekly.items)
    assert items > MAIL_LIST_MAX
    assert f"另有 {items - MAIL_LIST_MAX} 条，见所附周报表格" in plain and f"另有 {items - MAIL_LIST_MAX} 条" in html
    # the aging bars are scaled to the largest count: they fit a phone's width however many tasks are late
    import re
    bars = [int(w) for w in re.findall(r"height:10px;width:(\d+)px", html)]
    assert bars and max(bars) == 48 and min(bars) >= 2
    listed = [line for line in plain.splitlines() if line.startswith("- ") and " (进行中/" in line]
    assert len(listed) == MAIL_LIST_MAX
    most_behind = sorted((i.overdue for i in result.weekly.items), reverse=True)[:MAIL_LIST_MAX]
    assert [int(line.rsplit(" ", 1)[1]) for line in listed] == most_behind
    wb = openpyxl.load_workbook(result.weekly.path, read_only=True)
    topics = {i.topic for i in result.weekly.items}
    assert sum(1 for r in wb.worksheets[1].iter_rows(values_only=True) if r and r[0] in topics) == items
    # the decision page stays a page: the first PAGE_LIST_MAX asks and the count of the rest
    from coordxl.run.weekly_book import PAGE_LIST_MAX
    asks = len(result.weekly.page.asks)
    assert asks > PAGE_LIST_MAX
    page = [r[0] for r in wb.worksheets[0].iter_rows(values_only=True) if r and r[0]]
    assert sum(1 for v in page if v in topics) <= PAGE_LIST_MAX + 2 * PAGE_LIST_MAX  # asks, slipped, next week
    assert f"……另有 {asks - PAGE_LIST_MAX} 条，见后面各表" in page


def test_a_decision_page_of_a_big_folder_holds_what_it_shows_not_a_line_per_escalated_task():
    """50,000 long-overdue tasks: the page counts them all and makes the lines it shows when they are read
    (what every reader's page holds while the weekly's mails are made stays small)."""
    import tracemalloc

    from coordxl.run.weekly import TaskLine, Weekly
    from coordxl.settings import Settings

    weekly = Weekly(MONDAY, MONDAY - dt.timedelta(days=7), MONDAY - dt.timedelta(days=1))
    due = dt.date(2026, 6, 1)
    weekly.overdue = [TaskLine(f"进行中/事项{n % 300:03d}.xlsx", f"事项{n % 300:03d}", f"id:T{n}", f"T{n}", "交付物",
                               "设计部", "张伟", due, None, "in_progress", "overdue", 40) for n in range(50_000)]
    weekly.blocked = [weekly.overdue[7]]
    weekly.blocked[0].note = "等供应商报价"
    settings = Settings.defaults()
    tracemalloc.start()
    try:
        page = decisions.page(weekly, settings, decisions.Scope(everything=True), decisions.Compared())
        held = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert len(page.asks) == 50_000 and page.asks
    assert held < 2_000_000  # a list of the escalated tasks (8 bytes each), not 50,000 lines of text
    shown = page.asks[:30]
    assert [a.kind for a in shown] == ["escalated"] * 30
    assert "等供应商报价" in shown[7].detail and "等供应商报价" not in shown[6].detail  # escalated and blocked: one line
    assert list(page.asks)[-1].detail == page.asks[-1].detail and "T49999" in page.asks[-1].detail


def test_the_week_collected_in_check_s_workers_equals_one_process(example_root, tmp_path):
    """On a folder big enough for check's workers, each collects the items it read: the figures, the
    lists, the workbook and the mails are the ones one process makes."""
    import shutil

    from test_daily import _big_folder, _workers

    from coordxl.run.daily import run_daily

    _big_folder(example_root)
    run_daily(example_root, dt.date(2026, 8, 14), dt.datetime(2026, 8, 14, 9))  # last week's snapshot
    alone = tmp_path / "alone"
    shutil.copytree(example_root, alone)
    _workers(example_root, 2)
    _workers(alone, 1)
    two, one = run_weekly(example_root, MONDAY, NOW), run_weekly(alone, MONDAY, NOW)
    assert (two.weekly.report.workers, one.weekly.report.workers) == (2, 1)
    for name in ("items", "departments", "overdue", "due_next_week", "done_this_week", "newly_overdue", "slipped",
                 "missing_followups", "blocked", "trend", "burnup"):
        assert getattr(two.weekly, name) == getattr(one.weekly, name), name
    assert [p.path.replace(str(example_root), "") for p in two.weekly.pending] == [  # each folder's own path
        p.path.replace(str(alone), "") for p in one.weekly.pending] and two.weekly.pending
    assert two.weekly.tasks == one.weekly.tasks and two.weekly.tasks and two.weekly.newly_overdue
    def book(path):
        wb = python_calamine.CalamineWorkbook.from_path(str(path))
        return {name: wb.get_sheet_by_name(name).to_python() for name in wb.sheet_names}

    def said(result, root):  # the mails name each folder's own path
        return [(m.to.email, m.subject, m.text.replace(str(root), "<root>")) for m in result.mails]

    assert book(two.weekly.path) == book(one.weekly.path)
    assert said(two, example_root) == said(one, alone) and two.mails


def test_a_job_leaves_garbage_collection_as_it_found_it(example_root):
    """The jobs freeze what a pass left alive while they make pages and mails; the scheduler runs job
    after job in one process, so each must unfreeze it, also when sending fails."""
    import gc

    from coordxl.errors import ConfigError
    from coordxl.run.daily import run_daily

    assert gc.get_freeze_count() == 0
    run_daily(example_root, dt.date(2026, 8, 21), dt.datetime(2026, 8, 21, 9))
    run_weekly(example_root, MONDAY, NOW)
    assert gc.get_freeze_count() == 0

    class Broken:
        name = "broken"

        def open(self):
            raise ConfigError("no way to send")

    with pytest.raises(ConfigError):
        run_weekly(example_root, MONDAY + dt.timedelta(days=7), NOW + dt.timedelta(days=7), transport=Broken())
    assert gc.get_freeze_count() == 0


def _kpi_rows(path):
    """The decision sheet's KPI table as a reader sees it: label -> (this week, last week, mark)."""
    ws = openpyxl.load_workbook(path)["决策页"]
    rows = [[c.value for c in row] for row in ws.iter_rows()]
    top = next(i for i, r in enumerate(rows) if r[0] == "指标")
    out = {}
    for r in rows[top + 1:]:
        if not r[0] or r[0].startswith("按时完成率："):
            break
        out[r[0]] = tuple(r[1:4])
    return out


def test_the_on_time_rate_counts_open_overdue_tasks_as_late_shows_its_base_and_no_arrow_without_last_week(
        example_root):
    """No daily run before: last week has no overdue figure, so no arrow beside this week's. The rate to
    date is what the rows say: tasks done on time over tasks done plus open tasks past their deadline."""
    result = run_weekly(example_root, MONDAY, NOW)
    rows = _tracker_rows(example_root)
    done = [(due, fin) for wb, tid, dept, owner, due, status, fin in rows if status.startswith("已完成") and fin]
    late_open = [tid for wb, tid, dept, owner, due, status, fin in rows
                 if not status.startswith(("已完成", "已取消", "暂停")) and due < MONDAY]
    on_time = sum(fin <= due for due, fin in done if fin <= dt.date(2026, 8, 23))
    judged = len([1 for _, fin in done if fin <= dt.date(2026, 8, 23)]) + len(late_open)
    kpis = _kpi_rows(result.weekly.path)
    value, last, mark = kpis["累计按时完成率"]
    assert value.startswith(f"{round(100 * on_time / judged)}%（{on_time}/{judged} 按时）")
    share = on_time / judged
    assert mark == ("● 正常" if share >= 0.9 else "● 关注" if share >= 0.75 else "● 告警")
    # the overdue count has no last week: no arrow ("4 →" beside "-" was the old page)
    n = len(late_open)
    assert kpis["当前逾期任务"] == (str(n), "-", "● 正常" if n == 0 else "● 关注" if n <= 5 else "● 告警")
    assert n > 5 and mark == "● 告警"  # six overdue in red: the rate beside them is not green
    assert all(not v.endswith(("→", "↑", "↓")) for label, (v, last, _) in kpis.items() if last == "-")


def test_arrows_appear_where_last_week_has_a_figure(example_root):
    _two_weeks(example_root)
    result = run_weekly(example_root, MONDAY, NOW)
    kpis = _kpi_rows(result.weekly.path)
    value, last, _ = kpis["当前逾期任务"]
    assert last != "-"
    arrow = "↑" if int(value.split()[0]) > int(last) else "↓" if int(value.split()[0]) < int(last) else "→"
    assert value == f"{value.split()[0]} {arrow}"


def test_department_on_time_rates_count_their_open_overdue_tasks_as_late(example_root):
    result = run_weekly(example_root, MONDAY, NOW)
    rows = python_calamine.CalamineWorkbook.from_path(str(result.weekly.path)).get_sheet_by_name("总览").to_python()
    top = next(i for i, r in enumerate(rows) if r[:2] == ["部门", "未完成"])
    got = {r[0]: r[5] for r in rows[top + 1:top + 5]}
    expected = {}
    for wb, tid, dept, owner, due, status, fin in _tracker_rows(example_root):
        good, judged = expected.get(dept, (0, 0))
        if status.startswith("已完成") and fin:
            expected[dept] = (good + (fin <= due), judged + 1)
        elif not status.startswith(("已完成", "已取消", "暂停")) and due < MONDAY:
            expected[dept] = (good, judged + 1)
    assert got == {d: pytest.approx(g / n) for d, (g, n) in expected.items()}
    # 销售部 finished its two tasks on time, and T06, T07 and T10 are past their deadline: 2/5, never 100%
    assert got["销售部"] == pytest.approx(2 / 5)


def test_estimated_working_day_counts_are_marked_on_the_decision_page(example_root):
    """In 2027 (no official holiday data in chinesecalendar 1.11) the overdue days are an estimate."""
    result = run_weekly(example_root, dt.date(2027, 1, 11), dt.datetime(2027, 1, 11, 9))
    first = [c.value for c in openpyxl.load_workbook(result.weekly.path)["决策页"]["A"][:3]]
    assert any(v and v.startswith("※") and "估算" in v and "2027" in v for v in first)


def _charts_by_sheet(path):
    """Each sheet's charts as its XML says: (sheet, print area, anchor (from col, from row, to col, to row),
    chart XML root), read from the workbook's parts with ElementTree."""
    import posixpath
    import re
    import zipfile
    from xml.etree import ElementTree as ET

    ns = {"m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main",
          "r": "http://schemas.openxmlformats.org/officeDocument/2006/relationships",
          "rel": "http://schemas.openxmlformats.org/package/2006/relationships",
          "xdr": "http://schemas.openxmlformats.org/drawingml/2006/spreadsheetDrawing",
          "c": "http://schemas.openxmlformats.org/drawingml/2006/chart"}

    def rels(zf, part):
        folder, name = posixpath.split(part)
        root = ET.fromstring(zf.read(posixpath.join(folder, "_rels", name + ".rels")))
        return {r.get("Id"): (r.get("Target").lstrip("/") if r.get("Target").startswith("/")
                              else posixpath.normpath(posixpath.join(folder, r.get("Target"))))
                for r in root.findall("rel:Relationship", ns)}

    out = []
    with zipfile.ZipFile(path) as zf:
        book = ET.fromstring(zf.read("xl/workbook.xml"))
        areas = {int(d.get("localSheetId")): d.text for d in book.iter(f"{{{ns['m']}}}definedName")
                 if d.get("name") == "_xlnm.Print_Area"}
        targets = rels(zf, "xl/workbook.xml")
        for i, sheet in enumerate(book.find("m:sheets", ns)):
            part = targets[sheet.get(f"{{{ns['r']}}}id")]
            root = ET.fromstring(zf.read(part))
            drawing = root.find("m:drawing", ns)
            if drawing is None:
                continue
            dpart = rels(zf, part)[drawing.get(f"{{{ns['r']}}}id")]
            charts = rels(zf, dpart)
            area = None
            if i in areas:
                c1, r1, c2, r2 = re.match(r".*!\$([A-Z]+)\$(\d+):\$([A-Z]+)\$(\d+)$", areas[i]).groups()
                from openpyxl.utils import column_index_from_string as col
                area = (col(c1), int(r1), col(c2), int(r2))
            for anchor in ET.fromstring(zf.read(dpart)):
                pos = [int(anchor.find(f"xdr:{end}/xdr:{k}", ns).text) if anchor.find(f"xdr:{end}", ns) is not None
                       else None for end in ("from", "to") for k in ("col", "row")]
                rid = anchor.find(".//c:chart", ns).get(f"{{{ns['r']}}}id")
                out.append((sheet.get("name"), area, anchor.tag.split("}")[1], pos, ET.fromstring(zf.read(charts[rid]))))
    return out, ns


def test_charts_have_whole_number_axes_markers_and_print_inside_the_page(example_root):
    _two_weeks(example_root)
    result = run_weekly(example_root, MONDAY, NOW)
    charts, ns = _charts_by_sheet(result.weekly.path)
    assert {name for name, *_ in charts} == {"决策页", "总览", "进度走势"} and len(charts) == 1 + 3 + 3
    for name, area, kind, (c1, r1, c2, r2), chart in charts:
        # the chart is anchored to cells, and those cells are inside the sheet's print area (one page wide:
        # the print setup fits the area's width on the page)
        assert kind == "twoCellAnchor" and area is not None, name
        first_col, first_row, last_col, last_row = area
        assert first_col - 1 <= c1 and c2 <= last_col and first_row - 1 <= r1 and r2 <= last_row, (name, area)
        [axis] = chart.findall(".//c:valAx", ns)
        fmt = axis.find("c:numFmt", ns).get("formatCode")
        unit = float(axis.find("c:majorUnit", ns).get("val"))
        assert axis.find("c:scaling/c:min", ns).get("val") == "0"
        if fmt == "0%":  # the on-time rate: 0 to 100 %
            assert axis.find("c:scaling/c:max", ns).get("val") == "1"
        else:  # counts: whole steps, no decimals
            assert fmt == "0" and unit >= 1 and unit == int(unit), name
        for series in chart.findall(".//c:lineChart/c:ser", ns):
            assert series.find("c:marker/c:symbol", ns).get("val") == "circle"
    fits = openpyxl.load_workbook(result.weekly.path)
    for name in ("决策页", "总览", "进度走势"):
        ws = fits[name]
        assert ws.sheet_properties.pageSetUpPr.fitToPage and ws.page_setup.fitToWidth == 1
        assert ws.page_setup.fitToHeight == 0
