"""A cell's raw value to its typed value, per schema type (the ``{schema type: converter}`` table
``Normalizer.CONVERTERS``), each problem a field-level finding at the cell it came from; a form as one
:class:`~coordxl.process.rows.Row`, a table as :class:`~coordxl.process.rows.Rows`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from typing import Any, Callable, Iterable

from .. import schema
from ..findings import WARNING, Finding, finding
from ..messages import both, text
from ..normalize import (
    display,
    implausible,
    nearest,
    number_as_date,
    parse_date,
    parse_datetime,
    parse_number,
    parse_time,
    percent_of,
    person_change,
)
from ..xlsx.reader import FormData, TableData, a1
from .roster import EMAIL_RE, Roster, _split_hints, clean_name
from .rows import Row, Rows


def _ref(cell) -> str:
    """A cell given as 'E7' or as (row, column): the A1 text is made only when a finding needs it."""
    return a1(*cell) if isinstance(cell, tuple) else cell


FORMULA_HINT = both("hint.formula_uncached")

# A value's conversion depends only on its field, the year used for '8月15日' and the roster, so a run
# converts each distinct value once across all its workbooks (a memo dict passed to build_item).
MEMO_LIMIT = 200_000

_TEXT_TYPES = (schema.TEXT, schema.LONG_TEXT, schema.PEOPLE)
_DATE_TYPES = (schema.DATE, schema.DATETIME)
# a real date this many days before the item's date or the row's start is the wrong year: LibreOffice and
# Excel complete "1/8" typed in December with the current year (2026-01-08 for a task starting 2026-12-20)
YEAR_EARLY = (240, 400)
DAYS_1900_TO_1904 = 1462  # serial 0 in the 1904 system is serial 1462 in the 1900 one
_DEPARTMENT_OF = ("owner", "requester")  # the people a table row's 负责部门 / 申请部门 belongs to
SEVERAL_PEOPLE = ("owner",)  # person fields that may name several people in one cell
_MARKS = re.compile(r"[✓✔√☑✅]")
_REMARK = re.compile(r"[(（【\[].*?[)）】\]]")


class Normalizer:
    """Typed values for one workbook, collecting the field-level findings."""

    def __init__(self, workbook: str, roster: Roster | None, anchor: dt.date, memo: dict | None = None,
                 formulas: frozenset[tuple[str, str]] = frozenset(), max_years: int = 3, date1904: bool = False,
                 reference: dt.date | None = None, today: dt.date | None = None):
        self.workbook = workbook
        self.roster = roster
        self.anchor = anchor  # the item's own date (else today): '1月8日' is the 1月8日 nearest it
        self.reference = reference  # the request form's own date: a date a year before it is a slip
        self.example = date_example(today or anchor)  # the date an unreadable date's hint shows
        self.guessed = False  # the last date converted had no year (see _column)
        self.max_years = max_years
        self.date1904 = date1904  # a plain number in a date cell counts from 1904-01-01
        span = dt.timedelta(days=max_years * 366)
        day_bounds = (anchor - span, anchor + span)
        self.bounds = {schema.DATE: day_bounds,
                       schema.DATETIME: tuple(dt.datetime.combine(d, t) for d, t in zip(day_bounds, (dt.time.min, dt.time.max)))}
        self.findings: list[Finding] = []
        self.memo = {} if memo is None else memo  # raw value -> (typed value, findings); see MEMO_LIMIT
        self.formulas = formulas  # (sheet, cell) of formulas the file holds no result for

    def add(self, code: str, sheet: str, cell, **params) -> None:
        if code == "F-DATE":
            params.setdefault("example", self.example)
        self.findings.append(self._at(finding(code, self.workbook, sheet, _ref(cell), **params), params))

    def _at(self, found: Finding, params: dict) -> Finding:
        """An empty required cell that is really a formula without its result says so."""
        if found.code == "F-REQUIRED" and (found.sheet, found.cell) in self.formulas:
            return finding("F-REQUIRED", found.workbook, found.sheet, found.cell, variant="-FORMULA",
                           hint=FORMULA_HINT, **params)
        return found

    def value(self, f: schema.Field, raw: Any, sheet: str, cell, required: bool | None = None,
              anchored: bool = True) -> Any:
        """One cell's typed value; a problem becomes a finding at ``cell`` ('E7' or (row, column)).

        ``anchored=False`` leaves out the check against the item's date (a value converted once for
        a whole run is checked per item afterwards, see ``_column``).
        """
        label = (f.zh, f.en)
        required = f.required if required is None else required
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            if required:
                self.add("F-REQUIRED", sheet, cell, field=label)
            return None
        if f.type in _DATE_TYPES and self.date1904 and isinstance(raw, (int, float)) and not isinstance(raw, bool):
            raw = raw + DAYS_1900_TO_1904
        convert = self.CONVERTERS.get(f.type)  # text, long text and people lists: the cell's text
        return display(raw) if convert is None else convert(self, f, raw, sheet, cell, anchored)

    # --- one converter per schema type (the table CONVERTERS at the end of the class): a cell's raw value
    # -> its typed value, a problem added as a finding at ``cell``; None when it cannot be read

    def _time(self, f: schema.Field, raw: Any, sheet: str, cell, anchored: bool) -> dt.time | None:
        value = parse_time(raw)
        if value is None:
            self.add("F-DATE", sheet, cell, field=(f.zh, f.en), value=display(raw))
        return value

    def _number(self, f: schema.Field, raw: Any, sheet: str, cell, anchored: bool) -> int | float | None:
        value = parse_number(raw)
        if value is None:
            self.add("F-NUMBER", sheet, cell, field=(f.zh, f.en), value=display(raw))
        return value

    def _choice(self, f: schema.Field, raw: Any, sheet: str, cell, anchored: bool) -> str | None:
        choice = f.choice_for(display(raw))
        if choice is None and f.choices is schema.TASK_STATUS:
            choice = _status_variant(f, raw)
        if choice is None:
            self.add("F-ENUM", sheet, cell, field=(f.zh, f.en), value=display(raw),
                     choices=("、".join(c.zh for c in f.choices), ", ".join(c.en for c in f.choices)))
            return None
        return choice.key

    def _department(self, f: schema.Field, raw: Any, sheet: str, cell, anchored: bool) -> str:
        name = clean_name(raw)
        if self.roster is not None and self.roster.departments and name not in self.roster.departments:
            close = self.roster.suggest_department(name)
            self.findings.append(finding("F-DEPT", self.workbook, sheet, _ref(cell), field=(f.zh, f.en), value=name,
                                         hint=_did_you_mean(close)))
        return name

    def _email(self, f: schema.Field, raw: Any, sheet: str, cell, anchored: bool) -> str:
        text = display(raw)
        if not EMAIL_RE.match(text):
            self.add("F-EMAIL", sheet, cell, field=(f.zh, f.en), value=text)
        return text

    def _date(self, f: schema.Field, raw: Any, sheet: str, cell, anchored: bool) -> dt.date | dt.datetime | None:
        """A date or datetime cell: a date without its year is the one nearest the item's own date, a
        recorded change ("延期至1月8日", "12-24→1-8") gives the new date and says so."""
        label = (f.zh, f.en)
        parsed = parse_date(raw, self.anchor)
        value = parsed.value if f.type == schema.DATE or parsed.value is None else parse_datetime(raw, self.anchor)[0]
        if value is None:
            self.add("F-DATE", sheet, cell, field=label, value=display(raw), **self._number_hint(raw))
            return None
        day = value.date() if isinstance(value, dt.datetime) else value
        if not self._plausible(f, raw, day, sheet, cell, anchored):
            return None
        self.guessed = parsed.year_guessed
        if parsed.moved:
            was = parsed.previous.isoformat() if parsed.previous else ""
            self.add("F-DATE-MOVED", sheet, cell, variant="-FROM" if was else "", field=label, value=display(raw),
                     read=day.isoformat(), previous=was)
        elif parsed.year_guessed:
            self.add("F-YEAR-GUESSED", sheet, cell, field=label, value=display(raw), read=day.isoformat())
        return value

    def _number_hint(self, raw: Any) -> dict:
        """A hint for a number typed where a date belongs ('looks like 10月9日 …'), as finding params."""
        meant = number_as_date(raw, self.anchor.year)
        if meant is None:
            return {}
        if isinstance(raw, float) and not raw.is_integer():  # 1.08 typed in December: next January
            meant = nearest(meant.month, meant.day, self.anchor) or meant
        return {"hint": tuple(text("hint.date_as_number", lang, month=meant.month, day=meant.day,
                                   iso=meant.isoformat()) for lang in ("zh", "en"))}

    def _plausible(self, f: schema.Field, raw: Any, value: dt.date, sheet: str, cell, anchored: bool) -> bool:
        """False (with an F-DATE finding) for a date nobody meant: a number, before 2000, after 2100,
        or (``anchored``) years away from the item's own date."""
        label = (f.zh, f.en)
        why = implausible(raw, value)
        if why == "number":
            self.add("F-DATE", sheet, cell, variant="-NUMBER", field=label, value=display(raw),
                     read=value.isoformat(), **self._number_hint(raw))
        elif why == "range":
            self.add("F-DATE", sheet, cell, variant="-RANGE", field=label, value=value.isoformat(),
                     hint=self._likely(value, self.anchor))
        elif anchored and self._too_far(value):
            self.add("F-DATE", sheet, cell, **self._distance_params(f, value))
        elif anchored and (year_early := self._year_early(f, value, self.reference)):
            self.add("F-DATE", sheet, cell, **year_early)
        else:
            return True
        return False

    def _too_far(self, value: dt.date) -> bool:
        lo, hi = self.bounds[schema.DATE]
        return not lo <= value <= hi

    def _year_early(self, f: schema.Field, value: dt.date, reference: dt.date | None,
                    reference_label: tuple[str, str] | None = None) -> dict:
        """F-DATE params for a real date about a year before the item's own date (or the row's start): what a
        spreadsheet's year autocomplete makes of "1/8" typed in December. Empty when it is not one."""
        if reference is None or not YEAR_EARLY[0] <= (reference - value).days <= YEAR_EARLY[1]:
            return {}
        label = reference_label or both("part.item_date")
        return dict(variant="-YEAR", field=(f.zh, f.en), value=value.isoformat(), reference=reference.isoformat(),
                    reference_field=label, hint=self._likely(value, reference))

    @staticmethod
    def _likely(value: dt.date, near: dt.date) -> tuple[str, str]:
        """The hint for a date in the wrong year: the same day in the year nearest ``near`` ('是否为 2027-01-08？')."""
        likely = nearest(value.month, value.day, near) or nearest(value.month, 28, near)  # 02-29 in a common year
        return both("hint.date_year", likely=likely.isoformat())

    def _distance_params(self, f: schema.Field, value: dt.date) -> dict:
        return dict(variant="-DISTANCE", field=(f.zh, f.en), value=value.isoformat(), anchor=self.anchor.isoformat(),
                    years=self.max_years,
                    hint=self._likely(value, self.anchor))

    def _person(self, f: schema.Field, raw: Any, sheet: str, cell, anchored: bool = True) -> str:
        """The roster key of the person a cell names (its text when unknown; a repeated name stays bare
        and is told apart by the row's department afterwards, see ``_repeated_names``).

        An owner cell may name several people ('周杰、赵敏', '高洁/罗婷'): each is checked on its own
        and the value is their keys joined by '、'. Other person fields take one person.
        """
        name = clean_name(raw)
        if self.roster is None or not self.roster.people:
            return name
        typed, handover = raw, _handover(raw, self.roster)
        if handover:
            raw = handover[1]  # the new person is the one the cell names now
        parts = self.roster.split(raw)
        if len(parts) > 1 and f.key not in SEVERAL_PEOPLE:
            self.add("F-PERSON", sheet, cell, variant="-SEVERAL", field=(f.zh, f.en), value=display(raw))
            return clean_name(raw)
        value = "、".join(self._one_person(f, part, sheet, cell) for part in parts)
        if handover:
            self.findings.append(finding("F-PERSON", self.workbook, sheet, _ref(cell), severity=WARNING,
                                         variant="-CHANGED", field=(f.zh, f.en), value=display(typed),
                                         previous=clean_name(handover[0]), name=value,
                                         hint=both("hint.person_changed", name=value)))
        return value

    def _one_person(self, f: schema.Field, raw: str, sheet: str, cell) -> str:
        person, problem = self.roster.resolve(raw)
        if person is not None:
            if problem == "dept":
                self.findings.append(finding("F-PERSON", self.workbook, sheet, _ref(cell), severity=WARNING,
                                             variant="-DEPT", value=clean_name(raw), name=person.name,
                                             department=person.department))
            if not person.active:
                self.findings.append(finding("F-PERSON", self.workbook, sheet, _ref(cell), severity=WARNING,
                                             variant="-INACTIVE", field=(f.zh, f.en), value=person.name,
                                             hint=both("hint.reassign")))
            return person.key
        if problem == "ambiguous":
            return _split_hints(raw)[0]
        name = clean_name(raw)
        close = self.roster.suggest(name)  # per name, never for the whole cell
        self.findings.append(finding("F-PERSON", self.workbook, sheet, _ref(cell), field=(f.zh, f.en),
                                     value=name, hint=_did_you_mean(close)))
        return name

    def _tell_apart(self, f: schema.Field, name: str, raw: Any, department: str, sheet: str, cell) -> str | None:
        """The roster key of one of several people called ``name``, by ``department`` or what the cell
        says besides the name; None (and F-PERSON-AMBIGUOUS) when nothing tells them apart."""
        person, _ = self.roster.resolve(raw, department)
        if person is not None:
            return person.key
        self.add("F-PERSON-AMBIGUOUS", sheet, cell, field=(f.zh, f.en), value=name, choices=self.roster.choices(name))
        return None

    def _repeated_names(self, fields, values: dict[str, list], raws: dict[str, list], rownums: list[int],
                        columns: dict[str, int], sheet: str, invalid: dict[int, set[str]]) -> None:
        """Tell apart people whose name the roster repeats by each row's 负责部门 (or an error)."""
        repeated = self.roster.repeated if self.roster is not None else ()
        if not repeated:
            return
        departments = values.get("department") or [None] * len(rownums)
        for f in fields:
            column = values.get(f.key)
            if f.type != schema.PERSON or not column or repeated.isdisjoint(column):
                continue
            for i, name in enumerate(column):
                if name not in repeated:
                    continue
                # the row's department is the owner's (or requester's), not a reviewer's or approver's
                department = (departments[i] or "") if f.key in _DEPARTMENT_OF else ""
                key = self._tell_apart(f, name, raws[f.key][i], department, sheet, (rownums[i], columns[f.key]))
                if key is not None:
                    column[i] = key
                else:
                    invalid.setdefault(rownums[i], set()).add(f.key)

    def form(self, data: FormData, fields: Iterable[schema.Field], sheet: str, optional: set[str] = frozenset()
             ) -> Row:
        values, raws = {}, {}
        for f in fields:
            raw = data.values.get(f.key)
            if f.key not in data.labels:
                if f.required and f.key not in optional:
                    self.add("W-HEADER", sheet, "A1", field=(f.zh, f.en))
                continue
            raws[f.key] = raw
            values[f.key] = self.value(f, raw, sheet, data.cell(f.key),
                                       required=f.required and f.key not in optional)
        repeated = self.roster.repeated if self.roster is not None else ()
        for f in fields if repeated else ():
            if f.type == schema.PERSON and values.get(f.key) in repeated:
                dept = values.get("initiating_department") or values.get("department") or ""
                key = self._tell_apart(f, values[f.key], raws[f.key], dept, sheet, data.cell(f.key))
                values[f.key] = key or values[f.key]
        return Row(sheet, 0, values, dict(data.cells), raws)

    def table(self, data: TableData, skip_required: set[str] = frozenset()) -> Rows:
        """Normalize a table column by column, converting each distinct value once."""
        for f in data.missing:
            if f.required:
                self.add("W-HEADER", data.sheet, a1(data.header_row, 1), field=(f.zh, f.en))
        for key, chosen, others in data.duplicates:
            f = data.table.field(key)
            cells = "、".join(a1(data.header_row, c) for c in sorted([chosen, *others]))
            self.add("W-HEADER-DUPLICATE", data.sheet, a1(data.header_row, chosen), field=(f.zh, f.en),
                     cells=cells, chosen=a1(1, chosen)[:-1])
        values = {}
        invalid: dict[int, set[str]] = {}  # sheet row -> fields whose value is an error
        start = len(self.findings)
        dated_start = any(f.key == "start" and f.type == schema.DATE for f in data.table.fields)
        for f in sorted(data.table.fields, key=lambda f: f.key != "start"):  # the row's start first: see _column
            col = data.columns.get(f.key)
            if col is None:
                continue
            required = f.required and f.key not in skip_required
            before = len(self.findings)
            starts = values.get("start") if f.type in _DATE_TYPES and f.key != "start" and dated_start else None
            values[f.key] = self._column(f, data.raw[f.key], data.rownums, col, data.sheet, required, starts)
            for found in self.findings[before:]:
                if found.is_error:
                    invalid.setdefault(_row_of(found.cell), set()).add(f.key)
        self._repeated_names(data.table.fields, values, data.raw, data.rownums, data.columns, data.sheet, invalid)
        self._missing_per_row(data, start)
        extra = {"item": data.items} if data.items is not None else {}
        if invalid:
            extra["invalid"] = [invalid.get(r) for r in data.rownums]
        if data.table.key == "tasks" and (percent := _percents(data)) is not None:
            extra["percent"] = percent
        return Rows(data.sheet, data.columns, data.rownums, values, data.raw, extra)

    def _missing_per_row(self, data: TableData, start: int) -> None:
        """One F-REQUIRED per row naming every missing field ('第7行缺少：负责人、截止日期'), not one per cell."""
        found = self.findings[start:]
        if not any(f.code == "F-REQUIRED" for f in found):
            return
        labels = {a1(1, data.columns[f.key])[:-1]: f for f in data.table.fields if f.key in data.columns}
        rows: dict[int, list[Finding]] = {}
        out: list = []  # findings, and in place of a row's first empty cell its row number
        for f in found:
            if f.code == "F-REQUIRED" and (f.sheet, f.cell) not in self.formulas:
                r = _row_of(f.cell)
                if r not in rows:
                    rows[r] = []
                    out.append(r)
                rows[r].append(f)
            else:
                out.append(f)
        for i, r in enumerate(out):
            if isinstance(r, int):
                fields = [labels[g.cell.rstrip("0123456789")] for g in rows[r]]
                out[i] = finding("F-REQUIRED", self.workbook, rows[r][0].sheet, rows[r][0].cell, variant="-ROW", row=r,
                                 fields=("、".join(x.zh for x in fields), ", ".join(x.en for x in fields)))
        self.findings[start:] = out

    def _column(self, f: schema.Field, raws: list, rownums: list[int], col: int, sheet: str,
                required: bool, starts: list | None = None) -> list:
        """Convert one column: each distinct value once; its findings repeated at every cell holding it.

        ``starts``: each row's 开始日期, for a date column of a table that has one: a date without its
        year is the one nearest the row's start, and a date about a year before it is a slip.
        """
        types = set(map(type, raws))
        if bool in types:  # True == 1 would share a key with 1.0: convert one by one
            return [self._one(f, raw, sheet, (r, col), required) for raw, r in zip(raws, rownums)]
        if f.type in _TEXT_TYPES and types <= {str}:
            out = list(map(str.strip, raws))
            if "" in out:
                out = [value or None for value in out]
            if required and None in out:
                for value, r in zip(out, rownums):
                    if value is None:
                        self.add("F-REQUIRED", sheet, (r, col), field=(f.zh, f.en))
            return out
        converted: dict[Any, Any] = {}
        problems: dict[Any, tuple[Finding, ...]] = {}
        guessed: set = set()  # values without a year
        memo = self.memo
        near = self.anchor if f.type in _DATE_TYPES else None  # only a date's reading depends on the item
        for raw in set(raws):
            key = (id(f), required, near, self.date1904, raw.__class__, raw)
            done = memo.get(key)
            if done is None:
                if len(memo) > MEMO_LIMIT:
                    memo.clear()
                done = memo[key] = self._convert(f, raw, required)
            converted[raw] = done[0]
            if done[1]:
                problems[raw] = done[1]
            if done[2]:
                guessed.add(raw)
        by_row: dict[int, tuple[Any, tuple[Finding, ...]]] = {}  # row index -> its own value and findings
        if f.type in _DATE_TYPES:  # the distance from the item's date is not part of the run-wide memo
            lo, hi = self.bounds[f.type]
            days = list(filter(None, converted.values()))  # dates are true, None is not
            if days and lo <= min(days) and max(days) <= hi:
                days = []  # the common case: every date near the item's own
            for raw, value in (converted.items() if days else ()):
                if value is not None and not lo <= value <= hi:
                    day = value.date() if isinstance(value, dt.datetime) else value
                    converted[raw] = None
                    problems[raw] = (finding("F-DATE", "", "", "", **self._distance_params(f, day)),)
            by_row = self._by_row(f, raws, converted, guessed, starts, sheet, rownums, col, required)
        if problems or by_row:
            for i, (raw, r) in enumerate(zip(raws, rownums)):
                if i in by_row:
                    self.findings.extend(by_row[i][1])
                elif raw in problems:
                    cell = a1(r, col)
                    self.findings.extend(self._at(dataclasses.replace(p, workbook=self.workbook, sheet=sheet, cell=cell),
                                                  {"field": (f.zh, f.en)}) for p in problems[raw])
        out = list(map(converted.__getitem__, raws))
        for i, (value, _) in by_row.items():
            out[i] = value
        return out

    def _by_row(self, f: schema.Field, raws: list, converted: dict, guessed: set, starts: list | None, sheet: str,
                rownums: list[int], col: int, required: bool) -> dict[int, tuple[Any, tuple[Finding, ...]]]:
        """The dates of a column that depend on their row: a date without its year nearest the row's start
        instead of the item's date; a real date about a year before the row's start (or the item's date)."""
        starts = starts if starts and any(starts) else None
        references = [d for d in (starts or ()) if d] + ([self.reference] if self.reference else [])
        if not references:
            return {}
        days = [v.date() if isinstance(v, dt.datetime) else v for raw, v in converted.items()
                if v is not None and raw not in guessed]
        early = bool(days) and min(days) <= max(references) - dt.timedelta(days=YEAR_EARLY[0])
        if not early and not (guessed and starts):
            return {}  # the common case: no date a year early, none to read against its row's start
        out = {}
        start_label = (schema.TASKS.field("start").zh, schema.TASKS.field("start").en)
        for i, raw in enumerate(raws):
            value = converted[raw]
            if value is None:
                continue
            start = starts[i] if starts else None
            cell = (rownums[i], col)
            if raw in guessed:
                day = value.date() if isinstance(value, dt.datetime) else value
                if start and nearest(day.month, day.day, start) != day:
                    out[i] = self._anchored_at(start, f, raw, sheet, cell, required)
            elif early:
                day = value.date() if isinstance(value, dt.datetime) else value
                params = self._year_early(f, day, start, start_label) if start else {}
                params = params or self._year_early(f, day, self.reference)
                if params:
                    out[i] = (None, (finding("F-DATE", self.workbook, sheet, a1(*cell), **params),))
        return out

    def _anchored_at(self, near: dt.date, f: schema.Field, raw: Any, sheet: str, cell, required: bool
                     ) -> tuple[Any, tuple[Finding, ...]]:
        """One cell's value and findings with '1月8日' read as the 1月8日 nearest ``near``."""
        anchor, self.anchor = self.anchor, near
        before = len(self.findings)
        try:
            value = self.value(f, raw, sheet, cell, required, anchored=False)
        finally:
            self.anchor = anchor
        found = tuple(self.findings[before:])
        del self.findings[before:]
        return value, found

    def _convert(self, f: schema.Field, raw: Any, required: bool) -> tuple[Any, tuple[Finding, ...], bool]:
        """One distinct value's typed value, its findings (their workbook and cell are filled in later), and
        whether it is a date without its year."""
        if _blank(raw):
            return None, ((finding("F-REQUIRED", "", "", "", field=(f.zh, f.en)),) if required else ()), False
        before = len(self.findings)
        self.guessed = False
        value = self.value(f, raw, "", "", required, anchored=False)
        found = tuple(self.findings[before:])
        del self.findings[before:]
        return value, found, self.guessed and value is not None

    def _one(self, f: schema.Field, raw: Any, sheet: str, cell, required: bool) -> Any:
        if _blank(raw):
            if required:
                self.add("F-REQUIRED", sheet, cell, field=(f.zh, f.en))
            return None
        return self.value(f, raw, sheet, cell, required)

    # schema type -> its converter (above); a type not listed (text, long text, a list of people) is the
    # cell's text. A new field type is its converter and its line here.
    CONVERTERS: dict[str, Callable[..., Any]] = {
        schema.DATE: _date,
        schema.DATETIME: _date,
        schema.TIME: _time,
        schema.NUMBER: _number,
        schema.ENUM: _choice,
        schema.PERSON: _person,
        schema.DEPARTMENT: _department,
        schema.EMAIL: _email,
    }


def date_example(today: dt.date) -> str:
    """The date an unreadable date's hint shows: the 15th of next month, near today in any year.

    >>> date_example(dt.date(2026, 12, 21)), date_example(dt.date(2026, 8, 3))
    ('2027-01-15', '2026-09-15')
    """
    return (today.replace(day=1) + dt.timedelta(days=32)).replace(day=15).isoformat()


def _handover(raw: Any, roster: Roster) -> tuple[str, str] | None:
    """(previous, new) when a person cell records a change of person ('胡斌→朱琳', '胡斌改朱琳',
    '朱琳（原胡斌）'), None otherwise: a name the roster knows as it is is never a change, and a change
    written with a word (改) only when its previous person is in the roster."""
    if not isinstance(raw, str) or clean_name(raw) in roster.people:
        return None
    change = person_change(raw)
    if change is None:
        return None
    previous, new, certain = change
    known = roster.resolve(previous)[0] is not None
    return (previous, new) if certain or known else None


def _status_variant(f: schema.Field, raw: Any) -> schema.Choice | None:
    """已完成√, 完成（待验收）, 100% → done; 0% → not started; 完成90%, 进行中(80%), 80% → in progress."""
    text = _MARKS.sub("", display(raw)).strip()
    for candidate in (text, _REMARK.sub("", text).strip()):
        if candidate and (choice := f.choice_for(candidate)) is not None:
            if percent_of(candidate) is None:
                return choice
    pct = percent_of(raw if not isinstance(raw, str) else text)
    if pct is None:
        return None
    return f.choice("done" if pct >= 100 else "not_started" if pct == 0 else "in_progress")


def _row_of(cell: str) -> int:
    """The row number of an A1 reference: 'AB12' → 12."""
    return int(cell.lstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZ") or 0)


def _percents(data: TableData) -> list | None:
    """Each task's percent complete: its 进度/完成率 column, else a percentage in its 状态 (完成90%)."""
    column = [percent_of(v) for v in data.progress] if data.progress is not None else None
    statuses = data.raw.get("status")
    if statuses is not None and any(isinstance(v, str) and "%" in v for v in set(statuses)):
        from_status = [percent_of(v) if isinstance(v, str) else None for v in statuses]
        column = [c if c is not None else s for c, s in zip(column or from_status, from_status)]
    return column if column is not None and any(v is not None for v in column) else None


def _blank(raw: Any) -> bool:
    return raw is None or (isinstance(raw, str) and not raw.strip())


def _did_you_mean(name: str | None) -> tuple[str, str]:
    if not name:
        return both("hint.check_roster_spelling")
    return both("hint.did_you_mean", name=name)
