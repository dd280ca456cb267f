"""Turn raw cell values into typed values: dates, times, numbers, choices, names.

Dates arrive as Excel serials, date/datetime values, or text in the ways staff
type them. Parsers never raise; they return None for what they cannot read.

>>> parse_date("2026年8月15日").value
datetime.date(2026, 8, 15)
>>> parse_date("1/8", near=dt.date(2026, 12, 20)).value
datetime.date(2027, 1, 8)
>>> parse_date("12-24→1-8", near=dt.date(2026, 12, 20))
ParsedDate(value=datetime.date(2027, 1, 8), year_guessed=True, previous=datetime.date(2026, 12, 24), moved=True)
>>> parse_number("8万")
80000
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

EXCEL_EPOCH = dt.datetime(1899, 12, 30)
MAX_SERIAL = 2958465  # 9999-12-31

_SEP = r"\s*[-/.．年]\s*"
_FULL = re.compile(rf"^(\d{{4}}){_SEP}(\d{{1,2}}){_SEP.replace('年', '月')}(\d{{1,2}})\s*[日号]?$")
_COMPACT = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
_SHORT = re.compile(r"^(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*[日号]?$")
# how people write a deadline and its changes: "1月8日前", "截止1月8日", "延期至1月8日",
# "2027-01-08（原12-24）", "12-24→1-8" (the new date is the last one, never the 原 one)
_BY = re.compile(r"^(?:截止日期|截止时间|截止到|截止至|截至|截止|最晚|不晚于|due|by)\s*[:：]?\s*(.+)$", re.IGNORECASE)
_BEFORE = re.compile(r"^(.+?)\s*(?:之前|以前|前)$")
_MOVED_TO = re.compile(r"^(?:延期至|延期到|延期|延至|延到|推迟至|推迟到|顺延至|顺延到|改期至|改期到|改至|改到|改为|调整至|调整为|调整到)"
                       r"\s*[:：]?\s*(.+)$")
_ARROW = re.compile(r"\s*(?:→|⟶|➝|➔|⇒|-->|->|=>|—>)\s*")
_WAS = re.compile(r"^(.+?)\s*\(\s*原(?:定|计划|截止)?\s*[:：]?\s*(?:为|是)?\s*(.+?)\s*\)$")
# a change of person: '胡斌→朱琳', '胡斌改为朱琳', '朱琳（原胡斌）'
_HANDED_TO = re.compile(r"^(.+?)\s*(?:(→|⟶|➝|➔|⇒|-->|->|=>)|改由|改为|改成|换成|换为|转交|转给|改)\s*(.+)$")
_HANDED_FROM = re.compile(r"^(.+?)\s*\(\s*原(?:负责人)?\s*[:：]?\s*(?:为|是)?\s*(.+?)\s*\)$")
_TIME = re.compile(r"^(上午|下午|晚上|am|pm)?\s*(\d{1,2})\s*(?:[:：点时.]\s*(\d{1,2})?\s*分?)?\s*(?::(\d{1,2}))?\s*(am|pm)?$",
                   re.IGNORECASE)


@dataclass(frozen=True)
class ParsedDate:
    value: dt.date | None
    year_guessed: bool = False
    previous: dt.date | None = None  # "2027-01-08（原12-24）", "12-24→1-8": the date it was moved from
    moved: bool = False  # the cell records a change of date ("延期至1月8日", an arrow, a 原 date)


def _clean(text: str) -> str:
    s = unicodedata.normalize("NFKC", text).strip()
    s = s.replace("（", "(").replace("）", ")")
    # "2026-08-15(周六)" / "2026年8月15日 星期六": drop a trailing weekday
    s = re.sub(r"\s*\(?\s*(周|星期|礼拜)[一二三四五六日天]\s*\)?$", "", s)
    return s.strip()


def _date_or_none(y: int, m: int, d: int) -> dt.date | None:
    try:
        return dt.date(y, m, d)
    except ValueError:
        return None


def from_serial(value: float) -> dt.datetime | None:
    """An Excel 1900-system serial as a datetime (the 1900 leap-year bug does not matter after March 1900)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        return None
    if not 1 <= value <= MAX_SERIAL:
        return None
    return EXCEL_EPOCH + dt.timedelta(days=float(value))


def to_serial(value: dt.date | dt.datetime) -> float | int:
    """A date as Excel stores it (the inverse of from_serial): days since 1899-12-30, the time as a fraction.

    >>> to_serial(dt.date(2026, 8, 20)), to_serial(dt.datetime(2026, 8, 20, 18))
    (46254, 46254.75)
    """
    if not isinstance(value, dt.datetime):
        return (value - EXCEL_EPOCH.date()).days
    delta = value.replace(tzinfo=None) - EXCEL_EPOCH
    return delta.days + delta.seconds / 86400 if delta.seconds else delta.days


def _split_datetime(s: str) -> tuple[str, str]:
    """'2026/7/8 14:00' -> ('2026/7/8', '14:00'); '7月8日14:00' -> ('7月8日', '14:00')."""
    m = re.match(r"^(.*?[日号])\s*(.+)$", s)
    if m and re.search(r"\d", m.group(2)):
        return m.group(1), m.group(2)
    parts = s.rsplit(None, 1)
    if len(parts) == 2 and re.search(r"[:：点]", parts[1]):
        return parts[0], parts[1]
    if "T" in s and re.match(r"^\d{4}-\d{2}-\d{2}T", s):
        return s[:10], s[11:]
    return s, ""


def nearest(month: int, day: int, near: dt.date) -> dt.date | None:
    """The occurrence of month/day nearest ``near`` (at most about six months away): the year a person
    means when they leave it out.

    >>> nearest(1, 8, dt.date(2026, 12, 20)), nearest(12, 24, dt.date(2027, 1, 4)), nearest(8, 15, dt.date(2026, 3, 1))
    (datetime.date(2027, 1, 8), datetime.date(2026, 12, 24), datetime.date(2026, 8, 15))
    """
    candidates = filter(None, (_date_or_none(y, month, day) for y in (near.year - 1, near.year, near.year + 1)))
    return min(candidates, key=lambda c: abs((c - near).days), default=None)


def parse_date(value: Any, near: dt.date | None = None) -> ParsedDate:
    """A date from a cell value. '8月15日' and '8/15' (year_guessed=True) are the occurrence nearest ``near``
    (the item's own date); without ``near`` they are unreadable. A cell that records a change
    ("延期至1月8日", "2027-01-08（原12-24）", "12月30日→1月8日") gives the new date, with ``moved``."""
    if value is None or value == "":
        return ParsedDate(None)
    if isinstance(value, dt.datetime):
        return ParsedDate(value.date())
    if isinstance(value, dt.date):
        return ParsedDate(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        stamp = from_serial(value)
        return ParsedDate(stamp.date() if stamp else None)
    if not isinstance(value, str):
        return ParsedDate(None)
    s = _clean(value)
    if len(parts := _ARROW.split(s)) > 1:
        return _moved(_phrase(parts[-1], near), _phrase(parts[-2], near))
    if m := _WAS.match(s):
        return _moved(_phrase(m[1], near), _phrase(m[2], near))
    if m := _MOVED_TO.match(s):
        return _moved(_phrase(m[1], near), ParsedDate(None))
    return _phrase(s, near)


def person_change(text: str) -> tuple[str, str, bool] | None:
    """(previous, new, certain) when a cell records a change of person; ``certain``: written with an arrow,
    not with 改 (a name may hold it) or 原 (a department may follow it: 张伟（原市场部）).

    >>> person_change("胡斌→朱琳"), person_change("朱琳（原胡斌）"), person_change("胡斌改朱琳")
    (('胡斌', '朱琳', True), ('胡斌', '朱琳', False), ('胡斌', '朱琳', False))
    >>> person_change("周杰、赵敏") is None
    True
    """
    s = unicodedata.normalize("NFKC", text).strip()
    if m := _HANDED_FROM.match(s):
        return m[2], m[1], False
    if m := _HANDED_TO.match(s):
        return m[1].strip(), m[3].strip(), bool(m[2])
    return None


def _newest(s: str) -> str:
    """The text of the date a cell ends up naming: '12-24 10:00→1-8 14:00' → '1-8 14:00', '截止1月8日前' → '1月8日'."""
    if len(parts := _ARROW.split(s)) > 1:
        s = parts[-1]
    elif m := (_WAS.match(s) or _MOVED_TO.match(s)):
        s = m[1]
    if m := _BY.match(s.strip()):
        s = m[1]
    if m := _BEFORE.match(s.strip()):
        s = m[1]
    return s.strip()


def _moved(new: ParsedDate, old: ParsedDate) -> ParsedDate:
    if new.value is None:
        return new
    return ParsedDate(new.value, new.year_guessed, old.value if old.value != new.value else None, True)


def _phrase(s: str, near: dt.date | None) -> ParsedDate:
    """A date written alone or as a deadline: '1月8日前', '截止1月8日', '截止：2027-01-08'."""
    return _plain(_clean(_newest(s)), near)


def _plain(s: str, near: dt.date | None) -> ParsedDate:
    date_part, time_part = _split_datetime(s)
    if time_part and parse_time(time_part) is None:
        return ParsedDate(None)
    s = date_part
    if m := _FULL.match(s):
        return ParsedDate(_date_or_none(int(m[1]), int(m[2]), int(m[3])))
    if m := _COMPACT.match(s):
        return ParsedDate(_date_or_none(int(m[1]), int(m[2]), int(m[3])))
    if (m := _SHORT.match(s)) and near:
        return ParsedDate(nearest(int(m[1]), int(m[2]), near), year_guessed=True)
    if re.fullmatch(r"\d+(\.\d+)?", s):
        stamp = from_serial(float(s))
        if stamp and 20000 < float(s) < 80000:  # a serial pasted as text: 1954..2119
            return ParsedDate(stamp.date())
    return ParsedDate(None)


EARLIEST_YEAR, LATEST_YEAR = 2000, 2100  # a coordination date outside these is a typing slip


def number_as_date(value: Any, year: int) -> dt.date | None:
    """The date a person meant by typing a number into a date cell: 10.09 → 10月9日, 20261009.

    >>> number_as_date(10.09, 2026), number_as_date(8.15, 2026), number_as_date(20261009, 2026)
    (datetime.date(2026, 10, 9), datetime.date(2026, 8, 15), datetime.date(2026, 10, 9))
    >>> number_as_date(45000, 2026) is None
    True
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        return None
    if isinstance(value, float) and not value.is_integer():
        month, _, day = repr(value).partition(".")
        if day.isdigit() and len(day) <= 2:
            return _date_or_none(year, int(month), int(day)) if month.isdigit() else None
        return None
    m = _COMPACT.match(str(int(value)))
    return _date_or_none(int(m[1]), int(m[2]), int(m[3])) if m else None


def implausible(raw: Any, value: dt.date) -> str:
    """Why a date read from ``raw`` cannot be meant ('number', 'range'), or '' when it can.

    A plain number in a date cell (10.09 typed into a General cell reads as 1900-01-10) and any
    date outside 2000–2100 are typing slips, never real deadlines.

    >>> implausible(10.09, dt.date(1900, 1, 10)), implausible(dt.datetime(1900, 1, 9), dt.date(1900, 1, 9))
    ('number', 'range')
    >>> implausible(46249.0, dt.date(2026, 8, 15)), implausible("2026-08-15", dt.date(2026, 8, 15))
    ('', '')
    """
    if not EARLIEST_YEAR <= value.year <= LATEST_YEAR:
        return "number" if isinstance(raw, (int, float)) and not isinstance(raw, bool) else "range"
    return ""


# a task's 来源: which minutes' action item it comes from ('会议纪要2#3', '#3', 'minutes 2 # 3')
_SOURCE = re.compile(r"(?:会议纪要|纪要|minutes)?\s*(\d*)\s*[#＃]\s*(\d+)", re.IGNORECASE)


@functools.lru_cache(maxsize=4096)
def source_refs(text: str) -> frozenset[tuple[int, int]]:
    """(meeting number, action number) pairs a 来源 cell refers to; a bare '#3' is the first meeting's.

    >>> sorted(source_refs("会议纪要2#3、#1"))
    [(1, 1), (2, 3)]
    """
    return frozenset((int(m.group(1) or 1), int(m.group(2))) for m in _SOURCE.finditer(text))


_PERCENT = re.compile(r"(\d{1,3}(?:\.\d+)?)\s*%")


def percent_of(value: Any) -> float | None:
    """A percentage complete: 80%, '完成90%', '进行中(80%)', or a 0–1 fraction; None when there is none.

    >>> percent_of("进行中（80%）"), percent_of(0.8), percent_of("100%"), percent_of("进行中")
    (80.0, 80.0, 100.0, None)
    """
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        if math.isnan(value):
            return None
        if 0 <= value <= 1:
            return round(float(value) * 100, 1)
        return float(value) if 1 < value <= 100 else None
    if isinstance(value, str):
        m = _PERCENT.search(unicodedata.normalize("NFKC", value))
        if m and float(m.group(1)) <= 100:
            return float(m.group(1))
    return None


def parse_time(value: Any) -> dt.time | None:
    """A time of day: a time or datetime value, a fraction of a day, or '16:00', '16点30', '下午4点'."""
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.time()
    if isinstance(value, dt.time):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if 0 <= value < 1:
            minutes = round(value * 24 * 60)
            return dt.time(minutes // 60 % 24, minutes % 60)
        return None
    if isinstance(value, dt.timedelta):
        minutes = int(value.total_seconds() // 60)
        return dt.time(minutes // 60 % 24, minutes % 60) if 0 <= minutes < 1440 else None
    if not isinstance(value, str):
        return None
    m = _TIME.match(_clean(value).replace("半", "30"))
    if not m:
        return None
    hour, minute = int(m[2]), int(m[3] or 0)
    marker = (m[1] or m[5] or "").lower()
    if marker in ("下午", "晚上", "pm") and hour < 12:
        hour += 12
    if marker in ("am", "上午") and hour == 12:
        hour = 0
    if hour > 23 or minute > 59:
        return None
    return dt.time(hour, minute)


def parse_datetime(value: Any, near: dt.date | None = None) -> tuple[dt.datetime | None, bool]:
    """A date and time; a bare date gives midnight; a date without its year is the one nearest ``near``.
    Returns (value, year_guessed)."""
    if value is None or value == "":
        return None, False
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=None), False
    if isinstance(value, dt.date):
        return dt.datetime.combine(value, dt.time()), False
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        stamp = from_serial(value)
        if stamp is None:
            return None, False
        # serials carry float noise: 14:00 arrives as 13:59:59.99; round to the minute
        return EXCEL_EPOCH + dt.timedelta(minutes=round(float(value) * 1440)), False
    if not isinstance(value, str):
        return None, False
    s = _newest(_clean(value))
    date_part, time_part = _split_datetime(s)
    parsed = parse_date(date_part, near)
    if parsed.value is None:
        return None, False
    t = parse_time(time_part) if time_part else dt.time()
    if t is None:
        return None, False
    return dt.datetime.combine(parsed.value, t), parsed.year_guessed


def parse_number(value: Any) -> int | float | None:
    """A number: floats that are whole become ints; text like '80,000', '¥8,000.50', '8万', '2人'."""
    if value is None or value == "" or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
            return None
        return int(value) if float(value).is_integer() else value
    if not isinstance(value, str):
        return None
    s = _clean(value).replace(",", "").replace("，", "")
    s = re.sub(r"^[¥￥$€]|元$|人$|台$|个$|套$|名$", "", s).strip()
    scale = 1
    if s.endswith("万"):
        scale, s = 10_000, s[:-1]
    elif s.endswith("千"):
        scale, s = 1_000, s[:-1]
    try:
        number = float(s) * scale
    except ValueError:
        return None
    if math.isnan(number) or math.isinf(number):
        return None
    return int(number) if number.is_integer() else number


def display(value: Any) -> str:
    """A raw value as a person would read it back in a message."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M") if value.time() != dt.time() else value.date().isoformat()
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()[:16]
    return str(value).strip()
