"""The State Council's notices as published, read against chinesecalendar's own data for those years."""

import datetime as dt
from pathlib import Path

import chinese_calendar
import pytest

from coordxl.process.holiday_notice import NoticeError, parse_notice, read_notice

NOTICES = Path(__file__).parent / "data" / "holiday_notices"
NEW_YEAR = "New Year's Day"


def library_days(table: dict, year: int) -> set[dt.date]:
    """The library's days of ``year`` (a late-December day of next year's 元旦 belongs to next year)."""
    return {d for d, name in table.items() if d.year == year and not (d.month == 12 and name == NEW_YEAR)}


@pytest.mark.parametrize("year", range(2021, 2027))
def test_a_past_notice_gives_the_library_s_days_off_and_make_up_days(year):
    notice = read_notice(NOTICES / f"{year}.txt")
    assert notice.year == year
    in_year = {d for d in notice.holidays if d.year == year}
    assert in_year == library_days(chinese_calendar.holidays, year)
    # a 元旦 break that starts in December (2023's notice: 2022年12月31日至2023年1月2日)
    assert all(d in chinese_calendar.holidays for d in notice.holidays if d.year != year)
    assert set(notice.workdays) == library_days(chinese_calendar.workdays, year)


def test_the_2026_notice_gives_exactly_the_library_s_2026():
    notice = read_notice(NOTICES / "2026.txt")
    assert sorted(notice.holidays) == sorted(d for d in chinese_calendar.holidays if d.year == 2026)
    assert sorted(notice.workdays) == sorted(d for d in chinese_calendar.workdays if d.year == 2026)
    assert notice.holidays[dt.date(2026, 2, 15)] == "spring_festival"
    assert notice.workdays[dt.date(2026, 10, 10)] == "national_day"


def test_a_remark_is_not_an_arrangement():
    # 2024: "鼓励……安排职工在除夕（2月9日）休息" is advice, not a day off
    notice = read_notice(NOTICES / "2024.txt")
    assert dt.date(2024, 2, 9) not in notice.holidays
    # 2025's preamble names 10月1日 in a rule, not an arrangement: only the numbered lines count
    assert set(read_notice(NOTICES / "2025.txt").holidays) == library_days(chinese_calendar.holidays, 2025)


def test_a_copy_with_ascii_punctuation_and_a_make_up_day_off_is_read():
    copied = ("国务院办公厅关于2014年部分节假日安排的通知\n"
              "三、清明节:4月5日放假,4月7日(星期一)补休。\n"
              "四、劳动节:5月1日至3日放假调休,共3天。5月4日(星期日)上班。")
    notice = parse_notice(copied)
    assert sorted(d.isoformat() for d in notice.holidays) == ["2014-04-05", "2014-04-07", "2014-05-01",
                                                             "2014-05-02", "2014-05-03"]
    assert list(notice.workdays) == [dt.date(2014, 5, 4)]


@pytest.mark.parametrize("content,year,says", [
    ("一、元旦：1月1日放假。", None, "看不出是哪一年"),
    ("关于2027年元旦联欢会的通知：请各部门12月30日下午参加。", None, "没有读到放假安排"),
    ("国务院办公厅关于2027年部分节假日安排的通知\n放假安排另行通知。", None, "没有读到放假安排"),
    ("一、元旦：2月30日放假。", 2027, "无法识别"),
])
def test_a_text_that_is_not_a_readable_notice_is_refused_with_what_to_do(content, year, says):
    with pytest.raises(NoticeError, match=says):
        parse_notice(content, year)
