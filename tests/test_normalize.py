import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coordxl.normalize import parse_date, parse_datetime, parse_number, parse_time

D = dt.date


@pytest.mark.parametrize("typed,expected,guessed", [
    ("2026-08-15", D(2026, 8, 15), False),
    ("2026/8/15", D(2026, 8, 15), False),
    ("2026.8.15", D(2026, 8, 15), False),
    ("2026年8月15日", D(2026, 8, 15), False),
    ("2026 年 8 月 15 日", D(2026, 8, 15), False),
    ("２０２６／８／１５", D(2026, 8, 15), False),
    ("2026-08-15（周六）", D(2026, 8, 15), False),
    ("2026-08-15 00:00:00", D(2026, 8, 15), False),
    ("20260815", D(2026, 8, 15), False),
    ("8月15日", D(2026, 8, 15), True),
    ("8/15", D(2026, 8, 15), True),
    (46249.0, D(2026, 8, 15), False),
    ("46249", D(2026, 8, 15), False),
    (dt.datetime(2026, 8, 15, 14, 30), D(2026, 8, 15), False),
])
def test_dates_as_staff_type_them(typed, expected, guessed):
    parsed = parse_date(typed, near=D(2026, 6, 1))
    assert (parsed.value, parsed.year_guessed) == (expected, guessed)


@pytest.mark.parametrize("typed", ["下周一", "月底", "2026-02-30", "13/45", "TBD", "", None, True, "8/15/2026x"])
def test_unreadable_dates_are_none(typed):
    assert parse_date(typed, near=D(2026, 6, 1)).value is None


def test_short_dates_need_a_year():
    assert parse_date("8月15日").value is None


DEC = D(2026, 12, 20)  # a task starting in December


@pytest.mark.parametrize("typed,near,expected", [
    ("1月8日", DEC, D(2027, 1, 8)),
    ("1/8", DEC, D(2027, 1, 8)),
    ("1-8", DEC, D(2027, 1, 8)),
    ("1月8日 18:00", DEC, D(2027, 1, 8)),
    ("12月24日", D(2027, 1, 4), D(2026, 12, 24)),  # typed after New Year about last month
    ("8/15", DEC, D(2026, 8, 15)),  # four months back is nearer than eight months ahead
    ("8/1", D(2026, 12, 31), D(2026, 8, 1)),
    ("6/1", D(2026, 12, 31), D(2027, 6, 1)),
    ("2月29日", D(2027, 12, 1), D(2028, 2, 29)),  # only a leap year has it
])
def test_a_date_without_its_year_is_the_one_nearest_the_items_date(typed, near, expected):
    parsed = parse_date(typed, near=near)
    assert (parsed.value, parsed.year_guessed) == (expected, True)


@pytest.mark.parametrize("typed,expected,previous,moved", [
    ("1月8日前", D(2027, 1, 8), None, False),
    ("1月8日之前", D(2027, 1, 8), None, False),
    ("截止1月8日", D(2027, 1, 8), None, False),
    ("截止：2027-01-08", D(2027, 1, 8), None, False),
    ("延期至1月8日", D(2027, 1, 8), None, True),
    ("推迟到2027/1/8", D(2027, 1, 8), None, True),
    ("2027-01-08（原12-24）", D(2027, 1, 8), D(2026, 12, 24), True),
    ("1月8日(原定12月24日)", D(2027, 1, 8), D(2026, 12, 24), True),
    ("12-24→1-8", D(2027, 1, 8), D(2026, 12, 24), True),
    ("12月30日→1月8日", D(2027, 1, 8), D(2026, 12, 30), True),
    ("12-24 -> 1-8", D(2027, 1, 8), D(2026, 12, 24), True),
    ("12-24→12-30→1-8", D(2027, 1, 8), D(2026, 12, 30), True),
    ("待定→1-8", D(2027, 1, 8), None, True),
])
def test_a_changed_date_gives_the_new_date(typed, expected, previous, moved):
    parsed = parse_date(typed, near=DEC)
    assert (parsed.value, parsed.previous, parsed.moved) == (expected, previous, moved)


@pytest.mark.parametrize("typed", ["1-8→待定", "前", "截止", "延期", "12-24→"])
def test_a_change_without_a_new_date_is_unreadable(typed):
    assert parse_date(typed, near=DEC).value is None


@pytest.mark.parametrize("typed,expected", [
    ("2026-07-08 14:00", dt.datetime(2026, 7, 8, 14)),
    ("2026/7/8 14:30", dt.datetime(2026, 7, 8, 14, 30)),
    ("2026年7月8日 下午2点", dt.datetime(2026, 7, 8, 14)),
    ("7月8日14:00", dt.datetime(2026, 7, 8, 14)),
    (46211.5833333333, dt.datetime(2026, 7, 8, 14)),
    (D(2026, 7, 8), dt.datetime(2026, 7, 8)),
])
def test_datetimes(typed, expected):
    assert parse_datetime(typed, near=D(2026, 6, 1))[0] == expected


@pytest.mark.parametrize("typed,expected", [
    ("16:00", dt.time(16)), ("16：30", dt.time(16, 30)), ("16点半", dt.time(16, 30)), ("下午4点", dt.time(16)),
    (0.6875, dt.time(16, 30)), (dt.time(9, 5), dt.time(9, 5)), ("25:00", None), ("soon", None),
])
def test_times(typed, expected):
    assert parse_time(typed) == expected


@pytest.mark.parametrize("typed,expected", [
    (2.0, 2), (2.5, 2.5), ("80,000", 80000), ("8万", 80000), ("¥8,000.50", 8000.5), ("2人", 2), ("many", None),
])
def test_numbers(typed, expected):
    assert parse_number(typed) == expected


@given(st.text(max_size=40))
def test_parsers_never_raise_on_any_text(text):
    parse_date(text, near=D(2026, 6, 1))
    parse_datetime(text, near=D(2026, 6, 1))
    parse_time(text)
    parse_number(text)


@given(st.dates(min_value=D(1950, 1, 1), max_value=D(2100, 12, 31)))
def test_every_written_form_round_trips(day):
    for text in (day.isoformat(), f"{day.year}/{day.month}/{day.day}", f"{day.year}.{day.month}.{day.day}",
                 f"{day.year}年{day.month}月{day.day}日", day.strftime("%Y%m%d")):
        assert parse_date(text).value == day, text
    assert parse_date(f"{day.month}月{day.day}日", near=day).value == day


@given(st.dates(min_value=D(1950, 1, 1), max_value=D(2100, 12, 31)), st.floats(min_value=0, max_value=0.99))
def test_excel_serials_round_trip(day, fraction):
    serial = (day - D(1899, 12, 30)).days + fraction
    assert parse_date(serial).value == day


def test_every_schema_type_has_its_converter_or_is_read_as_text():
    """A new field type is one converter in the normalizer's table; one left out would be read as plain text."""
    from coordxl import schema
    from coordxl.process.normalizer import _TEXT_TYPES, Normalizer

    converters = set(Normalizer.CONVERTERS)
    assert converters | set(_TEXT_TYPES) == set(schema.TYPES) and not converters & set(_TEXT_TYPES)
