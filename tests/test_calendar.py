import datetime as dt

import pytest

from coordxl.calendar import WorkCalendar
from coordxl.check import run_check

D = dt.date


@pytest.mark.parametrize("day,working", [
    (D(2026, 2, 14), True),    # Saturday, 调休 before Spring Festival
    (D(2026, 2, 16), False),   # Spring Festival
    (D(2026, 2, 23), False),   # Monday, still the festival holiday
    (D(2026, 2, 28), True),    # Saturday, 调休 after it
    (D(2025, 10, 11), True),   # the design's example make-up Saturday
    (D(2026, 10, 1), False),   # National Day
    (D(2026, 10, 10), True),   # Saturday make-up day
    (D(2026, 8, 22), False),   # an ordinary Saturday
])
def test_china_working_days(day, working):
    assert WorkCalendar().is_workday(day) is working


def test_counting_across_spring_festival():
    cal = WorkCalendar()
    assert cal.count(D(2026, 2, 13), D(2026, 2, 24)) == 2       # Sat 14th and Tue 24th
    assert cal.add(D(2026, 2, 13), 2) == D(2026, 2, 24)
    assert cal.count(D(2026, 2, 24), D(2026, 2, 13)) == -2
    assert cal.add(D(2026, 2, 24), -2) == D(2026, 2, 13)


def test_config_overrides_win():
    cal = WorkCalendar(extra_holidays=["2026-08-21"], extra_workdays=["2026-08-22"])
    assert not cal.is_workday(D(2026, 8, 21)) and cal.is_workday(D(2026, 8, 22))


def test_a_year_without_data_is_guessed_and_remembered():
    cal = WorkCalendar()
    assert cal.is_workday(D(2099, 3, 3)) is True   # a Tuesday
    assert cal.guessed_years == {2099}


def test_check_warns_loudly_once_for_a_year_without_data(example_root):
    report = run_check(example_root, D(2099, 1, 5))
    calendar = [f for f in report.findings if f.code == "W-CALENDAR"]
    assert len(calendar) == 1 and "2099" in calendar[0].message_zh
