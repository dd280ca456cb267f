"""Mainland China working days: public holidays and 调休 make-up days, with config overrides.

Backed by chinesecalendar, which holds the State Council's official schedule.
For a year it has no data for, days are guessed as Monday–Friday and the year
is remembered in :attr:`WorkCalendar.guessed_years`, so a run can warn loudly
(W-CALENDAR) instead of guessing silently.

>>> cal = WorkCalendar()
>>> cal.is_workday(dt.date(2026, 2, 14))   # Saturday, a 调休 working day before Spring Festival
True
>>> cal.count(dt.date(2026, 2, 13), dt.date(2026, 2, 24))  # across the festival
2
"""

from __future__ import annotations

import datetime as dt
from typing import Iterable

import chinese_calendar


def _dates(values: Iterable[object]) -> set[dt.date]:
    out = set()
    for v in values:
        out.add(v if isinstance(v, dt.date) else dt.date.fromisoformat(str(v)))
    return out


class WorkCalendar:
    """Working-day arithmetic on the mainland China calendar."""

    def __init__(self, extra_holidays: Iterable[object] = (), extra_workdays: Iterable[object] = ()):
        self.extra_holidays = _dates(extra_holidays)
        self.extra_workdays = _dates(extra_workdays)
        self.guessed_years: set[int] = set()
        self._cache: dict[dt.date, bool] = {}
        self._counts: dict[tuple[dt.date, dt.date], int] = {}  # many tasks share a due date

    @classmethod
    def from_settings(cls, settings) -> "WorkCalendar":
        return cls(settings["calendar.extra_holidays"], settings["calendar.extra_workdays"])

    def is_workday(self, day: dt.date) -> bool:
        if isinstance(day, dt.datetime):
            day = day.date()
        cached = self._cache.get(day)
        if cached is not None:
            return cached
        if day in self.extra_workdays:
            result = True
        elif day in self.extra_holidays:
            result = False
        else:
            try:
                result = chinese_calendar.is_workday(day)
            except NotImplementedError:
                self.guessed_years.add(day.year)
                result = day.weekday() < 5
        self._cache[day] = result
        return result

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
