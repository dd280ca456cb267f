"""Mainland China working days: public holidays and 调休 make-up days, with config overrides.

Backed by chinesecalendar, which holds the State Council's official schedule. For a year it has no
data for (it raises NotImplementedError), the statutory holidays of 《全国年节及纪念日放假办法》 are
computed (lunar dates and the 清明 solar term from borax) and treated as holidays, weekends stay
non-working, and only the 调休 swaps stay unknown. Such a year is an *estimate*: it is remembered in
:attr:`WorkCalendar.guessed_years`, and :meth:`WorkCalendar.estimated` says whether a count touched
one. A year listed in ``official_years`` (the State Council's notice imported as overrides) is not
estimated. The config overrides ``extra_holidays`` / ``extra_workdays`` always win.

>>> cal = WorkCalendar()
>>> cal.is_workday(dt.date(2026, 2, 14))   # Saturday, a 调休 working day before Spring Festival
True
>>> cal.count(dt.date(2026, 2, 13), dt.date(2026, 2, 24))  # across the festival
2
>>> cal.explain(dt.date(2027, 1, 1))       # 元旦 in a year without official data
Answer(day=datetime.date(2027, 1, 1), workday=False, source='statutory', name='new_years_day', estimated=True)
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass
from typing import Iterable

import chinese_calendar
from borax.calendars.lunardate import LunarDate, TermUtils

from ..messages import text

LIBRARY = "library"  # chinesecalendar's official data
STATUTORY = "statutory"  # a statutory holiday computed for a year without official data (an estimate)
OVERRIDE = "override"  # calendar.extra_holidays / calendar.extra_workdays
WEEK = "week"  # no holiday known: Monday–Friday work, the weekend not
SOURCES = (LIBRARY, STATUTORY, OVERRIDE, WEEK)

# the 2024 revision of 《全国年节及纪念日放假办法》 applies from 2025-01-01 (春节 from 除夕, 劳动节 2 days)
REVISION_2024 = 2025


def _dates(values: Iterable[object]) -> set[dt.date]:
    out = set()
    for v in values:
        out.add(v if isinstance(v, dt.date) else dt.date.fromisoformat(str(v)))
    return out


@dataclass(frozen=True)
class Answer:
    """Whether a day is worked, and where that answer came from (one of SOURCES).

    ``name`` is the holiday's key (``spring_festival``; a 调休 working day carries the holiday it
    serves, as chinesecalendar does); ``estimated`` is True in a year without official data.
    """

    day: dt.date
    workday: bool
    source: str
    name: str = ""
    estimated: bool = False


@functools.lru_cache(maxsize=None)
def has_library_data(year: int) -> bool:
    """Does the installed chinesecalendar hold the State Council's arrangement for ``year``?"""
    try:
        chinese_calendar.is_workday(dt.date(year, 6, 1))
        return True
    except NotImplementedError:
        return False


@functools.lru_cache(maxsize=None)
def statutory_holidays(year: int) -> dict[dt.date, str]:
    """The days off 《全国年节及纪念日放假办法》 gives in ``year``, by date, with the holiday's key.

    From 2025 (the 2024 revision): 元旦 1月1日, 春节 除夕 to 初三, 清明 (the solar term's day), 劳动节
    5月1日–2日, 端午 (五月初五), 中秋 (八月十五), 国庆 10月1日–3日; before it 春节 is 初一 to 初三 and
    劳动节 one day. Article 6 of the same rules: a holiday on a Saturday or Sunday is made up on a
    working day, here the working days right after that holiday. 调休 swaps are not in the rules.

    >>> sorted(d.isoformat() for d, name in statutory_holidays(2027).items() if name == "spring_festival")
    ['2027-02-05', '2027-02-06', '2027-02-07', '2027-02-08', '2027-02-09', '2027-02-10']
    """
    new_rules = year >= REVISION_2024
    new_year = LunarDate(year, 1, 1).to_solar_date()
    eve = new_year - dt.timedelta(days=1)  # 除夕: the last day of lunar month 12, the 29th in some years
    spring = [eve] if new_rules else []
    spring += [new_year + dt.timedelta(days=i) for i in range(3)]
    blocks = [
        ("new_years_day", [dt.date(year, 1, 1)]),
        ("spring_festival", spring),
        ("tomb_sweeping_day", [TermUtils.nth_term_day(year, term_name="清明")]),
        ("labour_day", [dt.date(year, 5, 1)] + ([dt.date(year, 5, 2)] if new_rules else [])),
        ("dragon_boat_festival", [LunarDate(year, 5, 5).to_solar_date()]),
        ("mid_autumn_festival", [LunarDate(year, 8, 15).to_solar_date()]),
        ("national_day", [dt.date(year, 10, i) for i in (1, 2, 3)]),
    ]
    out: dict[dt.date, str] = {}
    for name, days in blocks:
        for day in days:
            out.setdefault(day, name)
    for name, days in blocks:
        owed = sum(1 for day in days if day.weekday() >= 5)
        day = max(days)
        while owed:
            day += dt.timedelta(days=1)
            if day.weekday() < 5 and day not in out:
                out[day] = name
                owed -= 1
    return out


class WorkCalendar:
    """Working-day arithmetic on the mainland China calendar."""

    def __init__(self, extra_holidays: Iterable[object] = (), extra_workdays: Iterable[object] = (),
                 official_years: Iterable[int] = ()):
        self.extra_holidays = _dates(extra_holidays)
        self.extra_workdays = _dates(extra_workdays)
        self.official_years = frozenset(int(y) for y in official_years)
        self.guessed_years: set[int] = set()  # years without official data this calendar answered for
        self._cache: dict[dt.date, bool] = {}
        self._counts: dict[tuple[dt.date, dt.date], int] = {}  # many tasks share a due date

    @classmethod
    def from_settings(cls, settings) -> "WorkCalendar":
        return cls(settings["calendar.extra_holidays"], settings["calendar.extra_workdays"],
                   settings["calendar.official_years"])

    def has_data(self, year: int) -> bool:
        """Is ``year`` known officially: in chinesecalendar, or imported from the notice (official_years)?"""
        return year in self.official_years or has_library_data(year)

    def estimated(self, start: dt.date, end: dt.date | None = None) -> bool:
        """Does a count over the days from ``start`` to ``end`` (both included) touch a year without
        official data, so that its working days are an estimate?"""
        return bool(self.estimated_years(start, end))

    def estimated_years(self, start: dt.date, end: dt.date | None = None) -> set[int]:
        """The years without official data among those from ``start`` to ``end`` (either order)."""
        end = start if end is None else end
        low, high = sorted((start.year, end.year))
        return {y for y in range(low, high + 1) if not self.has_data(y)}

    def explain(self, day: dt.date) -> Answer:
        """Whether ``day`` is worked and why: chinesecalendar, a statutory estimate, an override or the week."""
        if isinstance(day, dt.datetime):
            day = day.date()
        estimated = not self.has_data(day.year)
        if day in self.extra_workdays:
            return Answer(day, True, OVERRIDE, estimated=estimated)
        if day in self.extra_holidays:
            return Answer(day, False, OVERRIDE, estimated=estimated)
        if has_library_data(day.year):
            is_holiday, name = chinese_calendar.get_holiday_detail(day)
            key = chinese_calendar.Holiday(name).name if name else ""
            return Answer(day, not is_holiday, LIBRARY if key else WEEK, key)
        if estimated and day in statutory_holidays(day.year):
            return Answer(day, False, STATUTORY, statutory_holidays(day.year)[day], True)
        return Answer(day, day.weekday() < 5, WEEK, estimated=estimated)

    def is_workday(self, day: dt.date) -> bool:
        if isinstance(day, dt.datetime):
            day = day.date()
        cached = self._cache.get(day)
        if cached is not None:
            return cached
        answer = self.explain(day)
        if answer.estimated:
            self.guessed_years.add(day.year)
        self._cache[day] = answer.workday
        return answer.workday

    def year(self, year: int) -> list[Answer]:
        """The days of ``year`` that differ from the plain week: weekdays off and weekends worked."""
        out = []
        day = dt.date(year, 1, 1)
        while day.year == year:
            answer = self.explain(day)
            if answer.workday != (day.weekday() < 5):
                out.append(answer)
            day += dt.timedelta(days=1)
        return out

    def add(self, day: dt.date, n: int) -> dt.date:
        """The n-th working day after ``day`` (before it when n < 0); n == 0 gives ``day``."""
        step = 1 if n >= 0 else -1
        remaining = abs(n)
        while remaining:
            day += dt.timedelta(days=step)
            if self.is_workday(day):
                remaining -= 1
        return day

    def count(self, start: dt.date, end: dt.date) -> int:
        """Working days in (start, end]; negative when end is before start.

        A task due Friday and looked at the next Tuesday is ``count(fri, tue) == 2`` working days late.
        """
        if end == start:
            return 0
        if end < start:
            return -self.count(end, start)
        known = self._counts.get((start, end))
        if known is not None:
            return known
        days = 0
        day = start
        while day < end:
            day += dt.timedelta(days=1)
            if self.is_workday(day):
                days += 1
        self._counts[(start, end)] = days
        return days

    def last_workday(self, day: dt.date) -> dt.date:
        """``day`` itself if it is a working day, else the working day before it (a deadline on 国庆
        is due, in practice, on the last working day before the holiday)."""
        while not self.is_workday(day):
            day -= dt.timedelta(days=1)
        return day


def estimate_note(calendar: WorkCalendar, lang: str, today: dt.date, dates: Iterable[object]) -> str:
    """The phrase an output carries when one of its counts touched a year without official data.

    ``dates`` are the far ends of the output's counts (a due date; today itself for a count up to today):
    each count runs between it and ``today``. Empty when no count is an estimate.
    """
    years: set[int] = set()
    for day in dates:
        if isinstance(day, dt.date):
            years |= calendar.estimated_years(today, day.date() if isinstance(day, dt.datetime) else day)
    return text("calendar.estimate", lang, years=year_span(years)) if years else ""


def year_span(years: Iterable[int]) -> str:
    """{2027} -> '2027'; {2027, 2028, 2029} -> '2027–2029'; gaps are listed: '2027, 2030'."""
    runs: list[list[int]] = []
    for year in sorted(years):
        if runs and year == runs[-1][-1] + 1:
            runs[-1].append(year)
        else:
            runs.append([year])
    return ", ".join(str(r[0]) if len(r) == 1 else f"{r[0]}–{r[-1]}" for r in runs)
