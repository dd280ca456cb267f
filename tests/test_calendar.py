import datetime as dt

import chinese_calendar
import pytest

from coordxl.calendar import LIBRARY, OVERRIDE, STATUTORY, WorkCalendar, statutory_holidays
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


def test_a_year_without_data_is_estimated_and_remembered():
    cal = WorkCalendar()
    assert cal.is_workday(D(2099, 3, 3)) is True   # a Tuesday
    assert cal.guessed_years == {2099}
    assert cal.estimated(D(2098, 12, 30), D(2099, 1, 2)) and not cal.estimated(D(2026, 1, 5), D(2026, 12, 31))


@pytest.mark.parametrize("year", range(2020, 2027))
def test_every_computed_statutory_day_is_a_holiday_in_chinesecalendar(year):
    """The lunar dates, 清明 and the make-up of a holiday on a weekend, checked on the years with official data."""
    computed = statutory_holidays(year)
    assert len(computed) >= 11
    assert sorted(d for d in computed if d not in chinese_calendar.holidays) == []


def test_2027_without_official_data_keeps_the_statutory_holidays():
    cal = WorkCalendar()
    assert not cal.is_workday(D(2027, 1, 1))                     # 元旦, a Friday
    assert cal.count(D(2026, 12, 31), D(2027, 1, 4)) == 1         # one working day late on Monday the 4th, not two
    assert not cal.is_workday(D(2027, 2, 5))                     # 除夕 (腊月二十九 that year)
    assert [cal.is_workday(D(2027, 2, d)) for d in (8, 9, 10, 11)] == [False, False, False, True]  # 初三, made up
    assert not cal.is_workday(D(2027, 4, 5)) and not cal.is_workday(D(2027, 6, 9))  # 清明, 端午
    assert not cal.is_workday(D(2027, 9, 15)) and not cal.is_workday(D(2027, 10, 4))  # 中秋, 国庆 made up
    assert cal.is_workday(D(2027, 1, 5)) and not cal.is_workday(D(2027, 1, 9))     # no 调休 is invented
    assert cal.guessed_years == {2027}
    answer = cal.explain(D(2027, 1, 1))
    assert (answer.source, answer.name, answer.estimated) == (STATUTORY, "new_years_day", True)
    assert cal.explain(D(2026, 10, 10)).source == LIBRARY and cal.explain(D(2026, 10, 10)).workday
    assert cal.estimated(D(2026, 12, 31), D(2027, 1, 4)) and not cal.estimated(D(2026, 12, 1), D(2026, 12, 31))


def test_overrides_win_over_the_estimate_and_an_official_year_is_no_estimate():
    cal = WorkCalendar(extra_holidays=["2027-01-04"], extra_workdays=["2027-01-09"])
    assert not cal.is_workday(D(2027, 1, 4)) and cal.is_workday(D(2027, 1, 9))
    assert cal.explain(D(2027, 1, 4)).source == OVERRIDE and cal.estimated(D(2027, 1, 4))
    imported = WorkCalendar(extra_holidays=["2027-01-01"], official_years=[2027])
    assert not imported.is_workday(D(2027, 1, 1)) and imported.is_workday(D(2027, 2, 5))  # the notice's days only
    assert not imported.estimated(D(2026, 12, 31), D(2027, 6, 1)) and imported.guessed_years == set()


def test_check_warns_loudly_once_for_a_year_without_data(example_root):
    report = run_check(example_root, D(2099, 1, 5))
    calendar = [f for f in report.findings if f.code == "W-CALENDAR"]
    assert len(calendar) == 1 and "2099" in calendar[0].message_zh
    assert "coordxl calendar ROOT --import" in calendar[0].hint("zh") and "extra_workdays" in calendar[0].hint("zh")
    assert "升级" not in calendar[0].hint("zh")
