import datetime as dt

import pytest

from coordxl.process.assess import assess_task, pending_resources
from coordxl.process.calendar import WorkCalendar
from coordxl.process.model import Item, Row
from coordxl.settings import Settings

D = dt.date


def task(**values):
    return Row("执行进度", 3, values, {})


@pytest.mark.parametrize("today,values,zh,en", [
    (D(2026, 8, 20), dict(status="in_progress", due=D(2026, 8, 14)), "逾期4个工作日", "Overdue 4 wd"),
    (D(2026, 8, 20), dict(status="not_started", due=D(2026, 8, 20)), "今日到期", "Due today"),
    (D(2026, 8, 20), dict(status="in_progress", due=D(2026, 8, 24)), "2个工作日后到期", "Due in 2 wd"),
    (D(2026, 8, 20), dict(status="in_progress", due=D(2026, 8, 25)), "", ""),
    (D(2026, 8, 20), dict(status="in_progress", due=D(2026, 9, 30), updated_on=D(2026, 8, 11)),
     "7个工作日未更新", "No update for 7 wd"),
    (D(2026, 8, 20), dict(status="blocked", due=D(2026, 9, 30)), "受阻", "Blocked"),
    (D(2026, 8, 20), dict(status="blocked", due=D(2026, 8, 19)), "逾期1个工作日", "Overdue 1 wd"),
    (D(2026, 8, 20), dict(status="done", due=D(2026, 8, 1)), "", ""),
    (D(2026, 8, 20), dict(status="cancelled", due=D(2026, 8, 1)), "", ""),
    # across the 2026 Spring Festival: due Friday 02-13, the next working days are Sat 02-14 (调休) and 02-24
    (D(2026, 2, 24), dict(status="in_progress", due=D(2026, 2, 13)), "逾期2个工作日", "Overdue 2 wd"),
    (D(2026, 2, 13), dict(status="in_progress", due=D(2026, 2, 24)), "2个工作日后到期", "Due in 2 wd"),
    # due on an ordinary Saturday, seen on Monday: one working day late, never zero
    (D(2026, 8, 24), dict(status="in_progress", due=D(2026, 8, 22)), "逾期1个工作日", "Overdue 1 wd"),
])
def test_flag_texts(today, values, zh, en):
    state = assess_task(task(**values), today, WorkCalendar(), Settings.defaults())
    assert (state.flag("zh"), state.flag("en")) == (zh, en)


def test_thresholds_from_settings():
    settings = Settings.defaults().replace(rules__due_soon_workdays=5, rules__stale_workdays=2)
    row = task(status="in_progress", due=D(2026, 8, 27), updated_on=D(2026, 8, 26))
    assert assess_task(row, D(2026, 8, 20), WorkCalendar(), settings).flag() == "5个工作日后到期"


def test_pending_resource_requests():
    item = Item("x.xlsx")
    item.resources = [
        Row("资源申请", 3, dict(id="R1", requested_on=D(2026, 8, 10), review="pending", reviewer="李娜"), {}),
        Row("资源申请", 4, dict(id="R2", requested_on=D(2026, 8, 18), review="pending", reviewer="李娜"), {}),
        Row("资源申请", 5, dict(id="R3", requested_on=D(2026, 8, 3), review="passed", reviewed_on=D(2026, 8, 11),
                                approval="pending", approver="王海"), {}),
        Row("资源申请", 6, dict(id="R4", requested_on=D(2026, 8, 3), review="passed", approval="approved"), {}),
    ]
    pending = pending_resources(item, D(2026, 8, 20), WorkCalendar(), Settings.defaults())
    assert [(p.row["id"], p.step, p.waiting, p.days) for p in pending] == [
        ("R1", "review", "李娜", 8), ("R3", "approval", "王海", 7)]


def test_a_table_assessed_column_by_column_gets_each_row_s_own_state():
    """assess_rows shares one answer among rows alike: every row still gets exactly assess_task's state,
    whatever mix of statuses, dates, numbers where dates belong and unreadable fields the table has."""
    import itertools

    from coordxl.process.assess import assess_rows
    from coordxl.process.model import Rows

    statuses = ["in_progress", "not_started", "blocked", "done", "cancelled", None]
    dues = [D(2026, 8, 14), D(2026, 8, 20), D(2026, 8, 22), D(2026, 8, 24), D(2026, 9, 30), 46000, "下周", None]
    updates = [D(2026, 8, 11), D(2026, 8, 19), None]
    invalids = [None, {"due"}, {"owner", "status"}, {"note"}]
    combos = list(itertools.product(statuses, dues, updates, invalids))
    rows = Rows("执行进度", {"status": 9, "due": 7, "updated_on": 11}, list(range(3, 3 + 2 * len(combos))),
                {"status": [c[0] for c in combos] * 2, "due": [c[1] for c in combos] * 2,
                 "updated_on": [c[2] for c in combos] * 2},
                extra={"invalid": [c[3] for c in combos] * 2})
    today, calendar, settings = D(2026, 8, 20), WorkCalendar(), Settings.defaults()
    states = assess_rows(rows, today, calendar, settings)
    assert states == [assess_task(row, today, calendar, settings) for row in rows]
    assert len(set(states)) > 10  # the table really has many different states
