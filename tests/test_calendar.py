import datetime as dt
from pathlib import Path

import chinese_calendar
import pytest
from click.testing import CliRunner

from coordxl.cli import main
from coordxl.process.calendar import LIBRARY, OVERRIDE, STATUTORY, WorkCalendar, statutory_holidays
from coordxl.run.check import run_check
from coordxl.settings import Settings

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


# --- coordxl calendar ------------------------------------------------------------------------------

NOTICES = Path(__file__).parent / "data" / "holiday_notices"


def test_calendar_shows_a_year_s_days_and_where_each_comes_from(example_root):
    runner = CliRunner()
    estimated = runner.invoke(main, ["calendar", str(example_root), "--year", "2027"])
    assert estimated.exit_code == 0, estimated.output
    lines = estimated.output.splitlines()
    assert any("2027-01-01" in line and "元旦" in line and "法定估算" in line for line in lines)
    assert any("2027-02-05" in line and "春节" in line for line in lines)                 # 除夕
    assert "调休上班日未知" in estimated.output and f"coordxl calendar {example_root} --import" in estimated.output
    official = runner.invoke(main, ["calendar", str(example_root), "--year", "2026"])
    assert any("2026-02-14" in line and "调休上班" in line and "chinesecalendar" in line
               for line in official.output.splitlines())
    assert "估算" not in official.output


ADMIN_TOML = """# 我们公司的设置（管理员 李娜 维护）
[general]
language = "zh"

[calendar]
# 公司年会放假
extra_holidays = [
    "2026-12-31",  # 年会
]
extra_workdays = ["2026-12-26"]  # 年会补班

[rules]
stale_workdays = 3  # 我们节奏快
"""


def test_importing_the_notice_shows_it_then_keeps_the_administrator_s_file(example_root):
    config = example_root / "coordxl.toml"
    config.write_text(ADMIN_TOML, encoding="utf-8")
    runner = CliRunner()
    notice = NOTICES / "test-2027.txt"
    dry = runner.invoke(main, ["calendar", str(example_root), "--import", str(notice), "--dry-run"])
    assert dry.exit_code == 0 and "元旦：放假 01-01–01-04" in dry.output and "国庆节：调休上班 09-26、10-09" in dry.output
    assert "extra_holidays 增加 29 天" in dry.output and config.read_text(encoding="utf-8") == ADMIN_TOML
    asked = runner.invoke(main, ["calendar", str(example_root), "--import", str(notice)])  # no terminal to ask on
    assert asked.exit_code == 2 and "--yes" in asked.output and config.read_text(encoding="utf-8") == ADMIN_TOML
    done = runner.invoke(main, ["calendar", str(example_root), "--import", str(notice), "--yes"])
    assert done.exit_code == 0, done.output
    written = config.read_text(encoding="utf-8")
    for kept in ("# 我们公司的设置（管理员 李娜 维护）", '"2026-12-31",  # 年会', "# 年会补班", "stale_workdays = 3  # 我们节奏快"):
        assert kept in written
    settings = Settings.load(example_root)
    assert settings["rules.stale_workdays"] == 3 and settings["calendar.official_years"] == [2027]
    assert "2026-12-31" in settings["calendar.extra_holidays"] and "2027-01-04" in settings["calendar.extra_holidays"]
    assert settings["calendar.extra_workdays"] == ["2026-12-26", "2027-01-09", "2027-02-20", "2027-04-25",
                                                   "2027-09-26", "2027-10-09"]
    assert [p.read_text(encoding="utf-8") for p in (example_root / ".coordxl" / "backups").glob("calendar-*/coordxl.toml")] == [ADMIN_TOML]
    assert "国务院通知" in done.output and "法定估算" not in done.output                  # the year as it is now
    again = runner.invoke(main, ["calendar", str(example_root), "--import", str(notice), "--yes"])
    assert "无需修改" in again.output and config.read_text(encoding="utf-8") == written


def test_importing_into_the_file_coordxl_init_writes_gives_the_library_s_year(tmp_path):
    runner = CliRunner()
    assert runner.invoke(main, ["init", str(tmp_path / "f")]).exit_code == 0
    root = tmp_path / "f"
    assert runner.invoke(main, ["calendar", str(root), "--import", str(NOTICES / "2026.txt"), "--yes"]).exit_code == 0
    settings = Settings.load(root)
    cal = WorkCalendar.from_settings(settings)
    assert {d for d in map(dt.date.fromisoformat, settings["calendar.extra_holidays"])} == {
        d for d in chinese_calendar.holidays if d.year == 2026}
    assert all(cal.is_workday(d) for d in chinese_calendar.workdays if d.year == 2026)


def test_a_file_that_is_not_a_notice_is_refused_and_nothing_is_written(example_root, tmp_path):
    before = (example_root / "coordxl.toml").read_text(encoding="utf-8")
    other = tmp_path / "memo.txt"
    other.write_text("关于2027年元旦联欢会的通知：请各部门12月30日下午参加。", encoding="utf-8")
    result = CliRunner().invoke(main, ["calendar", str(example_root), "--import", str(other), "--yes"])
    assert result.exit_code == 2 and "没有读到放假安排" in result.output and "Traceback" not in result.output
    assert (example_root / "coordxl.toml").read_text(encoding="utf-8") == before
