"""Normalized coordination items: typed values with the cell each came from.

:func:`build_item` turns what :mod:`coordxl.xlsx.reader` read into an :class:`Item`
and the field-level findings (F-REQUIRED, F-DATE, F-ENUM, F-PERSON, F-DEPT,
F-EMAIL, F-YEAR-GUESSED, W-HEADER, W-MISSING-SHEET) along the way.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import operator
import re
from dataclasses import dataclass
from dataclasses import field as dc_field
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
from ..xlsx.reader import FormData, TableData, WorkbookData, a1
from .roster import EMAIL_RE, Roster, _split_hints, clean_name


@dataclass(slots=True)
class Row:
    """One normalized record (a table row, or a form as a single row)."""

    sheet: str
    row: int
    values: dict[str, Any]
    cells: dict[str, str]  # a form's cells; a table row finds its cell through ``columns``
    raw: dict[str, Any] = dc_field(default_factory=dict)
    extra: dict[str, Any] = dc_field(default_factory=dict)
    columns: dict[str, int] | None = None

    def __getitem__(self, key: str) -> Any:
        return self.values.get(key)

    def get(self, key: str, default: Any = None) -> Any:
        value = self.values.get(key)
        return default if value is None else value

    def cell(self, key: str) -> str:
        if self.columns is not None:
            col = self.columns.get(key)
            return a1(self.row, col) if col else f"A{self.row}"
        return self.cells.get(key) or f"A{self.row}"


class Rows:
    """Normalized table rows kept column by column; a :class:`Row` object is made only when asked for.

    Validation and the rules read whole columns (``column``, ``raw_column``) and name a cell by
    position (``cell``), so a 50,000-row tracker costs a few list operations rather than 50,000
    objects. Anything else may use it as a list of Rows: iterate, index, slice, ``len``.
    """

    def __init__(self, sheet: str = "", columns: dict[str, int] | None = None, rownums: list[int] | None = None,
                 values: dict[str, list] | None = None, raw: dict[str, list] | None = None,
                 extra: dict[str, list] | None = None):
        n = len(rownums or ())
        self.sheets: list[str] = [sheet] * n
        self.colmaps: list[dict[str, int]] = [columns or {}] * n
        self.rownums: list[int] = list(rownums or ())
        self.values: dict[str, list] = values or {}
        self.raw: dict[str, list] = raw or {}
        self.extra: dict[str, list] = extra or {}
        self._rows: list[Row] | None = None

    def __len__(self) -> int:
        return len(self.rownums)

    def __bool__(self) -> bool:
        return bool(self.rownums)

    def __iter__(self):
        return iter(self.rows())

    def __getitem__(self, index):
        return self.rows()[index]

    def __repr__(self) -> str:
        return f"Rows({len(self)} rows, {sorted(self.values)})"

    def column(self, key: str) -> list:
        """The normalized values of one field, one per row (None where the table has no such column)."""
        return self.values.get(key) or [None] * len(self)

    def raw_column(self, key: str) -> list:
        return self.raw.get(key) or [None] * len(self)

    def extra_column(self, key: str) -> list:
        return self.extra.get(key) or [None] * len(self)

    def cell(self, i: int, key: str) -> str:
        """A1 reference of field ``key`` in row ``i`` (the row's first cell when the column is absent)."""
        col = self.colmaps[i].get(key)
        return a1(self.rownums[i], col) if col else f"A{self.rownums[i]}"

    def rows(self) -> list[Row]:
        if self._rows is None:
            vkeys, rkeys, xkeys = list(self.values), list(self.raw), list(self.extra)
            n = len(self)
            vcols = zip(*self.values.values()) if vkeys else [()] * n
            rcols = zip(*self.raw.values()) if rkeys else [()] * n
            xcols = zip(*self.extra.values()) if xkeys else [()] * n
            self._rows = [Row(sheet, r, dict(zip(vkeys, v)), {}, dict(zip(rkeys, w)), dict(zip(xkeys, x)), cols)
                          for sheet, r, cols, v, w, x in zip(self.sheets, self.rownums, self.colmaps, vcols, rcols, xcols)]
        return self._rows

    def slim(self, keys: Iterable[str], extra: Iterable[str] = ("item",)) -> "Rows":
        """Only the given value columns (and extras), without raw values: a small copy to send elsewhere."""
        out = Rows()
        out.sheets, out.colmaps, out.rownums = list(self.sheets), list(self.colmaps), list(self.rownums)
        out.values = {k: list(self.values[k]) for k in keys if k in self.values}
        out.extra = {k: list(self.extra[k]) for k in extra if k in self.extra}
        return out

    def head(self, n: int) -> "Rows":
        """The first ``n`` rows, as a new Rows (itself when that is all of them)."""
        if n >= len(self):
            return self
        out = Rows()
        out.sheets, out.colmaps, out.rownums = self.sheets[:n], self.colmaps[:n], self.rownums[:n]
        for mine, theirs in ((self.values, out.values), (self.raw, out.raw), (self.extra, out.extra)):
            for key, col in mine.items():
                theirs[key] = col[:n]
        return out

    def take(self, indices: list[int], raw: bool = True) -> "Rows":
        """The rows at ``indices``, as a new Rows (``raw=False``: without their raw cell values)."""
        out = Rows()
        if not indices:
            return out
        pick = operator.itemgetter(*indices) if len(indices) > 1 else (lambda col: (col[indices[0]],))
        out.sheets, out.colmaps, out.rownums = list(pick(self.sheets)), list(pick(self.colmaps)), list(pick(self.rownums))
        for mine, theirs in ((self.values, out.values), (self.raw if raw else {}, out.raw), (self.extra, out.extra)):
            for key, col in mine.items():
                theirs[key] = list(pick(col))
        return out

    def extend(self, other: "Rows") -> None:
        """Append another table's rows; a field only one side has is None on the other."""
        if not other:
            return
        n, m = len(self), len(other)
        for mine, theirs in ((self.values, other.values), (self.raw, other.raw), (self.extra, other.extra)):
            for key in list(mine) + [k for k in theirs if k not in mine]:
                col = mine.setdefault(key, [None] * n)
                col.extend(theirs.get(key) or [None] * m)
        self.sheets += other.sheets
        self.colmaps += other.colmaps
        self.rownums += other.rownums
        self._rows = None


@dataclass
class Meeting:
    sheet: str
    index: int  # 1 for 会议纪要, 2 for 会议纪要2, …
    form: Row
    actions: Rows
    actions_header: int | None = None


@dataclass
class Item:
    """One coordination item (a workbook in 进行中/, or one item of a central ledger)."""

    workbook: str
    request: Row | None = None
    request_sheet: str = ""
    meetings: list[Meeting] = dc_field(default_factory=list)
    tasks: Rows = dc_field(default_factory=Rows)
    tasks_sheet: str = ""
    tasks_header: int | None = None
    flag_column: int | None = None
    followups: Rows = dc_field(default_factory=Rows)
    followups_sheet: str = ""
    resources: Rows = dc_field(default_factory=Rows)
    retro: Row | None = None
    retro_sheet: str = ""
    metrics: Rows = dc_field(default_factory=Rows)
    measures: Rows = dc_field(default_factory=Rows)
    ledger: bool = False
    own_tasks: int = 0  # tasks from this workbook; a central ledger's rows for this item follow them
    tasks_width: int = 0  # columns in the tracker's header row (where a new 预警 column goes)
    path: object = None
    fingerprint: object = None
    tasks_rows: list | None = None  # the tracker sheet's cells as read, until the item is let go
    ambiguous: frozenset[str] = frozenset()  # documents with several candidate sheets: not acted on
    merged: dict[str, dict[str, str]] = dc_field(default_factory=dict)  # sheet -> covered cell -> top-left
    skipped_rows: int = 0  # section and total rows of the tracker

    @property
    def own(self) -> Rows:
        """The tasks of this workbook itself: a central ledger's rows for the item are validated in the ledger."""
        return self.tasks.head(self.own_tasks)

    @property
    def topic(self) -> str:
        topic = self.request.get("topic") if self.request else None
        return topic or self.workbook.rsplit(".", 1)[0]

    @property
    def status(self) -> str | None:
        return self.request.get("item_status") if self.request else None

    @property
    def initiator(self) -> str | None:
        return self.request.get("initiator") if self.request else None

    @property
    def group(self) -> str | None:
        """The 跟进群 (a channel name from the settings) the 需求单 names, if any."""
        value = self.request.get("group") if self.request else None
        return str(value).strip() or None if value else None

    @property
    def decision_maker(self) -> str | None:
        for m in self.meetings:
            if m.form.get("decision_maker"):
                return m.form["decision_maker"]
        return None


def at_merged_origin(findings: list[Finding], merged: dict[str, dict[str, str]]) -> list[Finding]:
    """Findings about a value inside a merged range name the range's top-left cell, once."""
    if not merged:
        return findings
    out, seen = [], set()
    for f in findings:
        origin = merged.get(f.sheet, {}).get(f.cell)
        if origin is not None:
            f = dataclasses.replace(f, cell=origin)
            key = (f.code, f.sheet, f.cell, f.message_zh)
            if key in seen:
                continue
            seen.add(key)
        elif f.sheet in merged:
            seen.add((f.code, f.sheet, f.cell, f.message_zh))
        out.append(f)
    return out


def _ref(cell) -> str:
    """A cell given as 'E7' or as (row, column): the A1 text is made only when a finding needs it."""
    return a1(*cell) if isinstance(cell, tuple) else cell


FORMULA_HINT = both("hint.formula_uncached")

# A value's conversion depends only on its field, the year used for '8月15日' and the roster, so a run
# converts each distinct value once across all its workbooks (a memo dict passed to build_item).
MEMO_LIMIT = 200_000


class _Normalizer:
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


_TEXT_TYPES = (schema.TEXT, schema.LONG_TEXT, schema.PEOPLE)
_DATE_TYPES = (schema.DATE, schema.DATETIME)
# a real date this many days before the item's date or the row's start is the wrong year: LibreOffice and
# Excel complete "1/8" typed in December with the current year (2026-01-08 for a task starting 2026-12-20)
YEAR_EARLY = (240, 400)


def date_example(today: dt.date) -> str:
    """The date an unreadable date's hint shows: the 15th of next month, near today in any year.

    >>> date_example(dt.date(2026, 12, 21)), date_example(dt.date(2026, 8, 3))
    ('2027-01-15', '2026-09-15')
    """
    return (today.replace(day=1) + dt.timedelta(days=32)).replace(day=15).isoformat()
DAYS_1900_TO_1904 = 1462  # serial 0 in the 1904 system is serial 1462 in the 1900 one
_DEPARTMENT_OF = ("owner", "requester")  # the people a table row's 负责部门 / 申请部门 belongs to
SEVERAL_PEOPLE = ("owner",)  # person fields that may name several people in one cell


_MARKS = re.compile(r"[✓✔√☑✅]")
_REMARK = re.compile(r"[(（【\[].*?[)）】\]]")


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


def _sheet_number(name: str) -> int:
    m = re.search(r"(\d+)\D*$", name)
    return int(m.group(1)) if m else 1


def _anchor(data: WorkbookData) -> dt.date | None:
    """The item's own date: its request form's date (a date written without its year is the one nearest
    it), None when the form gives none (then today is used)."""
    req = data.first("request")
    if req and req.form:
        for key in ("sent_on", "planned_meeting"):
            raw = req.form.get(key)
            if data.date1904 and isinstance(raw, (int, float)) and not isinstance(raw, bool):
                raw += DAYS_1900_TO_1904
            parsed = parse_date(raw)
            if parsed.value and not parsed.year_guessed and not implausible(raw, parsed.value):
                return parsed.value
    return None


ACTION_FIELDS_FOR_RULE = {"owner", "due", "standard"}  # reported as R-ACTION-INCOMPLETE, not F-REQUIRED


def build_item(data: WorkbookData, roster: Roster | None, today: dt.date, memo: dict | None = None,
               formulas: frozenset[tuple[str, str]] = frozenset(), max_years: int = 3
               ) -> tuple[Item, list[Finding]]:
    """Normalize a workbook into an Item, with field-level findings. Missing sheets are W-MISSING-SHEET.

    ``memo`` carries conversions from one workbook to the next; it must only be shared by calls
    with the same roster. A date more than ``max_years`` from the item's request date is F-DATE. ``formulas``: (sheet, cell) of formulas without a stored result, which
    an empty required cell then names as such.
    """
    reference = _anchor(data)
    n = _Normalizer(data.name, roster, reference or today, memo, formulas, max_years, data.date1904, reference, today)
    item = Item(data.name, path=data.path, fingerprint=data.fingerprint, ambiguous=frozenset(data.ambiguous),
                merged={sd.name: sd.merged for sheets in data.sheets.values() for sd in sheets if sd.merged})
    tasks_only = "tasks" in data.sheets and "request" not in data.sheets
    first_tasks = data.first("tasks")
    item.ledger = bool(tasks_only and first_tasks and "tasks" in first_tasks.tables
                       and first_tasks.tables["tasks"].item_column)
    if not item.ledger:
        for sheet in (schema.REQUEST, schema.MINUTES, schema.TASKS, schema.FOLLOWUPS, schema.RESOURCES):
            if sheet.key not in data.sheets:
                n.add("W-MISSING-SHEET", "", "", sheet_label=(sheet.zh, sheet.en))
    if req := data.first("request"):
        item.request_sheet = req.name
        item.request = n.form(req.form, schema.REQUEST.form.fields, req.name)
    status = item.status
    for sd in sorted(data.sheets.get("minutes", []), key=lambda s: _sheet_number(s.name)):
        # an item still 筹备中 has an empty minutes sheet: nothing is required of it yet
        # (`coordxl new` prefills the topic, so the topic alone does not make a meeting)
        empty = not any(v not in ("", None) for k, v in sd.form.values.items() if k != "topic") and not (
            "actions" in sd.tables and sd.tables["actions"].rownums)
        optional = {f.key for f in schema.MINUTES.form.fields} if (empty and status in (None, "preparing")) else set()
        form = n.form(sd.form, schema.MINUTES.form.fields, sd.name, optional)
        actions, header = [], None
        if "actions" in sd.tables:
            actions = n.table(sd.tables["actions"], skip_required=ACTION_FIELDS_FOR_RULE)
            header = sd.tables["actions"].header_row
        elif not empty:
            n.add("W-HEADER", sd.name, "A1", field=(schema.MINUTES.table("actions").zh,
                                                     schema.MINUTES.table("actions").en))
        if not empty:
            item.meetings.append(Meeting(sd.name, _sheet_number(sd.name), form, actions, header))
    if first_tasks:
        item.tasks_sheet = first_tasks.name
        item.tasks_rows = first_tasks.rows
        if "tasks" in first_tasks.tables:
            t = first_tasks.tables["tasks"]
            item.tasks = n.table(t)
            item.own_tasks = len(item.tasks)
            item.tasks_header = t.header_row
            item.tasks_width = t.header_width
            item.flag_column = t.columns.get("flag")
            item.skipped_rows = t.skipped
        else:
            n.add("W-HEADER", first_tasks.name, "A1", field=(schema.TASKS.zh, schema.TASKS.en))
    for key in ("followups", "resources"):
        if sd := data.first(key):
            if key == "followups":
                item.followups_sheet = sd.name
            if key in sd.tables:
                setattr(item, key, n.table(sd.tables[key]))
            else:
                n.add("W-HEADER", sd.name, "A1", field=(sd.schema.zh, sd.schema.en))
    if retro := data.first("retro"):
        item.retro_sheet = retro.name
        item.retro = n.form(retro.form, schema.RETRO.form.fields, retro.name)
        for key in ("metrics", "measures"):
            if key in retro.tables:
                setattr(item, key, n.table(retro.tables[key]))
    return item, n.findings


def roster_findings(roster: Roster, workbook: str) -> list[Finding]:
    """Problems in the roster itself: bad addresses, unknown managers, missing columns."""
    out: list[Finding] = list(roster.findings)
    data = roster.source
    if data is None or not data.readable:
        return out
    people = data.first("people")
    if people is None or "people" not in people.tables:
        out.append(finding("W-MISSING-SHEET", workbook, sheet_label=both("part.people")))
        return out
    n = _Normalizer(workbook, roster, dt.date(2000, 1, 1))
    table = people.tables["people"]
    for f in table.missing:
        if f.required:
            n.add("W-HEADER", table.sheet, a1(table.header_row, 1), field=(f.zh, f.en))
    seen: dict[str, str] = {}
    for rec in table.records:
        for key in ("name", "department", "email", "manager", "is_head", "active", "deputy", "leave_until"):
            f = schema.PEOPLE_SHEET.field(key)
            if key not in table.columns:
                continue
            if key in ("name", "department"):
                continue  # the roster defines people and departments; it does not assign them
            n.value(f, rec.values.get(key), table.sheet, rec.cell(key), anchored=False)
        n.findings += deputy_findings(roster, rec, workbook, table.sheet)
        name = clean_name(rec.get("name"))
        if name in seen:
            # a warning: both are still mailed about what names them unambiguously
            n.findings.append(finding("F-PERSON-AMBIGUOUS", workbook, table.sheet, rec.cell("name"), severity=WARNING,
                                      variant="-ROSTER", value=name, cells=f"{seen[name]}、{rec.cell('name')}",
                                      hint=both("hint.roster_twin", example=roster.choices(name).split("、")[0])))
        seen.setdefault(name, rec.cell("name"))
    return out + n.findings


def deputy_findings(roster: Roster, rec, workbook: str, sheet: str) -> list[Finding]:
    """A 代理人 who is on leave too, or is the person themselves: the reminders would go nowhere useful."""
    deputy = roster.resolve(rec.get("deputy"))[0] if rec.get("deputy") not in ("", None) else None
    if deputy is None:
        return []
    name = clean_name(rec.get("name"))
    if deputy.name == name and deputy.row == rec.row:
        variant = "-DEPUTY-SELF"
    elif deputy.on_leave:
        variant = "-DEPUTY-AWAY"
    else:
        return []
    return [finding("F-PERSON", workbook, sheet, rec.cell("deputy"), severity=WARNING, variant=variant,
                    value=deputy.label, name=name, hint=both("hint.deputy"))]


def task_key(row) -> str:
    """A task's identity across runs: its 编号 (survives sorting and inserted rows), else its name."""
    v = row.values
    return key_of(v.get("id"), v.get("task"), row.row)


def key_of(ident, name, row: int) -> str:
    """:func:`task_key` from a task's 编号, name and row number (a table read column by column)."""
    return f"id:{ident}" if ident else f"task:{name or row}"
