"""The State Council's holiday notice (国务院办公厅关于Y年部分节假日安排的通知), read as published.

Each arrangement is one numbered line: "一、元旦：1月1日（周五）放假，与周末连休。" or "二、春节：2月15日
（农历腊月二十八）至23日（农历正月初七）放假调休，共9天。2月14日（周六）、2月28日（周六）上班。" The days
before 放假 (a range with 至, or single days) are days off, as are days before 补休; the days before 上班 are
make-up working days. Remarks in brackets and other sentences (鼓励……休息) are not arrangements.

>>> n = parse_notice("国务院办公厅关于2026年部分节假日安排的通知\\n一、元旦：1月1日（周四）至3日（周六）放假调休，共3天。1月4日（周日）上班。")
>>> sorted(d.isoformat() for d in n.holidays), sorted(d.isoformat() for d in n.workdays)
(['2026-01-01', '2026-01-02', '2026-01-03'], ['2026-01-04'])
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import CoordxlError
from ..messages import text
from ..settings import Settings, add_calendar_values
from ..state.layout import Layout

HOLIDAY_NAMES = {"元旦": "new_years_day", "春节": "spring_festival", "清明": "tomb_sweeping_day",
                 "劳动": "labour_day", "五一": "labour_day", "端午": "dragon_boat_festival",
                 "中秋": "mid_autumn_festival", "国庆": "national_day"}

# copies on news sites and in chats turn the notice's full-width marks into ASCII ones
_WIDTH = str.maketrans({"(": "（", ")": "）", ":": "：", ",": "，", ";": "；", "\u3000": " "})
_ITEM = re.compile(r"^\s*[一二三四五六七八九十]+\s*[、.．]\s*([^：]{1,20})：(.+)$", re.M)
_BRACKETS = re.compile(r"（[^（）]*）")
_DATE = re.compile(r"(?:(\d{4})\s*年\s*)?(?:(\d{1,2})\s*月\s*)?(\d{1,2})\s*日")
_YEAR = (re.compile(r"关于\s*(\d{4})\s*年部分节假日"), re.compile(r"现将\s*(\d{4})\s*年"))
LONGEST_BREAK = 15  # days: a range longer than this is a misreading, not a holiday


class NoticeError(CoordxlError):
    """The text is not a holiday notice coordxl can read."""

    exit_code = 2


@dataclass
class Notice:
    """One year's arrangement: days off and make-up working days, each with its holiday's key."""

    year: int
    holidays: dict[dt.date, str] = field(default_factory=dict)
    workdays: dict[dt.date, str] = field(default_factory=dict)


def read_notice(path: Path, year: int | None = None, lang: str = "zh") -> Notice:
    """The notice in a text file (UTF-8, or GBK as Notepad saves it)."""
    raw = Path(path).read_bytes()
    try:
        content = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        content = raw.decode("gb18030", errors="replace")
    return parse_notice(content, year, lang, str(path))


def parse_notice(content: str, year: int | None = None, lang: str = "zh", where: str = "notice") -> Notice:
    """The arrangement the notice text gives; ``year`` when the text does not say it."""
    content = content.translate(_WIDTH)
    items = [(name, m.group(2)) for m in map(_ITEM.match, content.splitlines()) if m is not None
             and (name := next((key for word, key in HOLIDAY_NAMES.items() if word in m.group(1)), None))]
    if not items:
        raise NoticeError(text("notice.unreadable", lang, path=where))
    if year is None:
        found = next((m for pattern in _YEAR if (m := pattern.search(content))), None)
        if found is None:
            raise NoticeError(text("notice.no_year", lang, path=where))
        year = int(found.group(1))
    notice = Notice(year)
    for name, arrangement in items:
        for clause in re.split(r"[。，；]", _BRACKETS.sub("", arrangement)):
            _read_clause(clause, name, notice, lang, where)
    if not notice.holidays:
        raise NoticeError(text("notice.unreadable", lang, path=where))
    return notice


def _read_clause(clause: str, name: str, notice: Notice, lang: str, where: str) -> None:
    for word, target in (("放假", notice.holidays), ("补休", notice.holidays), ("上班", notice.workdays)):
        if word in clause:
            before = clause.split(word, 1)[0]
            for day in _days(before, notice.year, lang, where, clause):
                target[day] = name
            return


def _days(part: str, year: int, lang: str, where: str, clause: str) -> list[dt.date]:
    """The days a part of a clause names: 'A至B' is every day from A to B, else each day listed."""
    dates, month = [], None
    for m in _DATE.finditer(part):
        year = int(m.group(1)) if m.group(1) else year
        month = int(m.group(2)) if m.group(2) else month
        try:
            dates.append((dt.date(year, month, int(m.group(3))), m.end()))
        except (TypeError, ValueError):
            raise NoticeError(text("notice.bad_date", lang, path=where, text=clause.strip())) from None
    if len(dates) == 2 and "至" in part[dates[0][1]:]:
        start, end = dates[0][0], dates[1][0]
        if not 0 <= (end - start).days <= LONGEST_BREAK:
            raise NoticeError(text("notice.bad_date", lang, path=where, text=clause.strip()))
        return [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]
    return [d for d, _ in dates]


# --- importing a notice into the folder's coordxl.toml -----------------------------------------------

@dataclass
class Import:
    """What importing a notice adds to [calendar]: the days not listed yet, and the year as official."""

    notice: Notice
    config: Path
    holidays: list[dt.date]
    workdays: list[dt.date]
    add_year: bool

    @property
    def nothing(self) -> bool:
        return not (self.holidays or self.workdays or self.add_year)


def plan_import(layout: Layout, notice: Notice) -> Import:
    """The overrides the notice adds to the folder's settings (nothing it already has)."""
    settings = layout.settings
    have_off = {str(d) for d in settings["calendar.extra_holidays"]}
    have_work = {str(d) for d in settings["calendar.extra_workdays"]}
    return Import(notice, layout.config,
                  sorted(d for d in notice.holidays if d.isoformat() not in have_off),
                  sorted(d for d in notice.workdays if d.isoformat() not in have_work),
                  notice.year not in settings["calendar.official_years"])


def apply_import(layout: Layout, plan: Import, now: dt.datetime) -> Path:
    """Write the plan into coordxl.toml (the administrator's text kept; the old file copied to
    .coordxl/backups/ first); return the copy's path. The new file is read back before it replaces the old."""
    config = plan.config
    old = config.read_text(encoding="utf-8-sig") if config.exists() else ""
    note = text("notice.comment", layout.settings.lang, year=plan.notice.year, day=now.date().isoformat())
    new = add_calendar_values(old, {"extra_holidays": [d.isoformat() for d in plan.holidays],
                                    "extra_workdays": [d.isoformat() for d in plan.workdays],
                                    "official_years": [plan.notice.year] if plan.add_year else []}, note)
    check = Settings.from_toml(new, config)
    if plan.notice.year not in check["calendar.official_years"]:
        raise NoticeError(text("notice.not_written", layout.settings.lang, path=config))
    backup = layout.backups / f"calendar-{now.strftime('%Y%m%d-%H%M%S')}" / config.name
    backup.parent.mkdir(parents=True, exist_ok=True)
    if config.exists():
        shutil.copy2(config, backup)
    tmp = config.with_name(f".~coordxl-{config.name}.tmp")
    tmp.write_text(new, encoding="utf-8")
    os.replace(tmp, config)
    return backup
