"""Which sheet is which document, and where its table and form are: sheet and table recognition.

Sheets are found by name or by their labels; a table's header row is the row
among the first ones that best matches its labels (title rows above it, any
column order, extra columns ignored); a form's value is the next non-empty cell
to the right of its label. Nothing here judges values: :mod:`coordxl.normalize`
and :mod:`coordxl.process.rules` do.
"""

from __future__ import annotations

import functools
import itertools
import operator
import re
from dataclasses import dataclass
from dataclasses import field as dc_field
from pathlib import Path
from typing import Any

from .. import schema
from ..findings import ERROR, Finding, finding
from .xlsxparts import Fingerprint, a1

HEADER_SCAN_ROWS = 40
LEDGER_ITEM_LABELS = ("事项", "项目", "协调事项", "事项名称", "item", "project")
# a tracker's own percent-complete column (read when present; not part of the template)
PROGRESS_LABELS = ("进度", "完成率", "完成进度", "进度%", "完成百分比", "完成比例", "progress", "%complete", "percent complete")
# a row whose first cell is one of these words (合计, 小计：, Total (Q3)) is a total, not a task
# a note or legend row under (or inside) a list: 说明：…, 备注, 注:, 图例, Note: … (NFKC folds ： to :)
_NOTE = re.compile(r"^(说明|备注|注|注意|图例|填表说明|填写说明|note|notes|legend)(:.*)?$")
_TOTAL = re.compile(r"^[\d.、一二三四五六七八九十]*(合计|小计|总计|汇总|total|subtotal)([(:].*)?$")


def label_key(value: Any) -> str:
    """A cell's text folded for matching labels: no spaces, marks or trailing colons."""
    if not isinstance(value, str) or not value:
        return ""
    return _label_key(value)


@functools.lru_cache(maxsize=65536)
def _label_key(value: str) -> str:
    return re.sub(r"^[*＊※]+|[*＊※:：]+$", "", schema.fold(value))


@dataclass
class Record:
    """One table row: raw values, and where each field's cell is (computed only when asked)."""

    sheet: str
    row: int
    values: dict[str, Any]
    columns: dict[str, int]  # field key -> 1-based column, shared by every row of the table
    extra: dict[str, Any] = dc_field(default_factory=dict)  # ledger item and other known extras

    def get(self, key: str, default: Any = "") -> Any:
        return self.values.get(key, default)

    def cell(self, key: str) -> str:
        col = self.columns.get(key)
        return a1(self.row, col) if col else f"A{self.row}"


@dataclass
class TableData:
    """A table as columns: the raw values of each found field, row by row, and the rows' numbers."""

    table: schema.Table
    sheet: str
    header_row: int
    columns: dict[str, int]  # field key -> 1-based column
    rownums: list[int]       # 1-based sheet row of each record (blank rows skipped)
    raw: dict[str, list]     # field key -> raw values, one per record
    missing: list[schema.Field]
    item_column: int | None = None
    header_width: int = 0  # 1-based column of the header row's last non-empty cell
    items: list | None = None  # a ledger's 事项 value of each record
    progress: list | None = None  # the 进度 / 完成率 column's value of each record, when there is one
    skipped: int = 0  # section rows (一、市场部) and total rows (合计) between the records
    duplicates: list = dc_field(default_factory=list)  # (field key, chosen column, other columns), 1-based

    def __len__(self) -> int:
        return len(self.rownums)

    @property
    def records(self) -> list[Record]:
        """The rows one by one (for small tables such as the roster's)."""
        keys = list(self.raw)
        items = self.items or [None] * len(self.rownums)
        return [Record(self.sheet, r, dict(zip(keys, vals)), self.columns,
                       {"item": it} if self.items is not None else {})
                for r, vals, it in zip(self.rownums, zip(*self.raw.values()) if keys else [()] * len(self), items)]


@dataclass
class FormData:
    sheet: str
    values: dict[str, Any]
    cells: dict[str, str]      # where the value is (or would be)
    labels: dict[str, str]     # where the label is

    def get(self, key: str, default: Any = "") -> Any:
        return self.values.get(key, default)

    def cell(self, key: str) -> str:
        return self.cells.get(key) or "A1"


@dataclass
class SheetData:
    schema: schema.Sheet
    name: str
    hidden: bool
    form: FormData | None
    tables: dict[str, TableData]
    rows: list[list[Any]] | None = None  # every cell as read (kept for the flag write's comparison)
    merged: dict[str, str] = dc_field(default_factory=dict)  # A1 of a cell inside a merged range -> its top-left


@dataclass
class WorkbookData:
    path: Path
    name: str  # file name as staff see it
    fingerprint: Fingerprint | None
    sheets: dict[str, list[SheetData]] = dc_field(default_factory=dict)  # schema key -> sheets (minutes: several)
    findings: list[Finding] = dc_field(default_factory=list)
    legacy: bool = False
    date1904: bool = False  # Mac Excel's date system: a plain serial counts from 1904-01-01
    ambiguous: set[str] = dc_field(default_factory=set)  # schema keys with several candidate sheets, none exact
    tables: dict[str, tuple] = dc_field(default_factory=dict)  # Excel table name -> (ref, header rows, total rows)

    def first(self, key: str) -> SheetData | None:
        found = self.sheets.get(key)
        return found[0] if found else None

    @property
    def readable(self) -> bool:
        return not any(f.code == "W-UNREADABLE" for f in self.findings)


_SPELLINGS: dict[int, tuple[tuple, dict[str, str]]] = {}


def _spellings(fields: tuple[schema.Field, ...]) -> dict[str, str]:
    """Folded label -> field key, cached by the identity of the schema's field tuple (kept alive here)."""
    cached = _SPELLINGS.get(id(fields))
    if cached is not None and cached[0] is fields:
        return cached[1]
    out: dict[str, str] = {}
    for f in fields:
        for s in f.spellings():
            out.setdefault(label_key(s), f.key)
    _SPELLINGS[id(fields)] = (fields, out)
    return out


def find_header(rows: list[list[Any]], table: schema.Table, start: int = 0, stop: int | None = None,
                min_hits: int = 2) -> tuple[int, dict[str, int], bool] | None:
    """The 0-based row index and field→0-based column map of the best header row, and whether a
    field is named twice in it; or None."""
    names = _spellings(table.fields)
    best: tuple[int, int, dict[str, int], bool] | None = None
    stop = min(len(rows), stop if stop is not None else start + HEADER_SCAN_ROWS)
    every = len(set(names.values()))
    for r in range(start, stop):
        columns: dict[str, int] = {}
        twice = False
        for c, value in enumerate(rows[r]):
            if value.__class__ is not str or not value:
                continue
            key = names.get(_label_key(value))
            if key:
                if key not in columns:
                    columns[key] = c
                else:
                    twice = True
        hits = len(columns)
        if hits >= min_hits and (best is None or hits > best[1]):
            best = (r, hits, columns, twice)
            if hits == every:
                break  # every field found: no later row can match better
    return (best[0], best[2], best[3]) if best else None


def duplicate_columns(rows: list[list[Any]], header: int, table: schema.Table, cols: dict[str, int]
                      ) -> list[tuple[str, int, list[int]]]:
    """Fields named by two header cells (an English 'Status' left of 状态): (key, chosen, others), 0-based.

    The canonical Chinese label wins, then the column with more values below; ``cols`` is updated.
    """
    names = _spellings(table.fields)
    seen: dict[str, list[int]] = {}
    for c, value in enumerate(rows[header]):
        if value.__class__ is str and value and (key := names.get(_label_key(value))):
            seen.setdefault(key, []).append(c)
    out = []
    for key, found in seen.items():
        if len(found) < 2:
            continue
        zh = label_key(table.field(key).zh)
        filled = lambda c: sum(1 for row in rows[header + 1:] if c < len(row) and row[c] not in ("", None))  # noqa: E731
        chosen = max(found, key=lambda c: (label_key(rows[header][c]) == zh, filled(c), -c))
        cols[key] = chosen
        out.append((key, chosen, [c for c in found if c != chosen]))
    return out


@functools.lru_cache(maxsize=None)
def _ledger_labels() -> frozenset[str]:
    return frozenset(label_key(x) for x in LEDGER_ITEM_LABELS)


@functools.lru_cache(maxsize=None)
def _progress_labels() -> frozenset[str]:
    return frozenset(label_key(x) for x in PROGRESS_LABELS)


def _is_total(value: Any) -> bool:
    return isinstance(value, str) and bool(_TOTAL.match(schema.fold(value)))


def _section_and_total_rows(picked: list[tuple], wanted: list[int], status: int | None = None,
                            flag: int | None = None) -> set[int]:
    """Rows that are not tasks: a section row (its only content a label in the table's first one or
    two columns: 一、市场部, 第二阶段), a total row (合计, 小计, 总计, 汇总, Total in those columns) or a
    note row (说明：…, 备注, 图例 first). Text in the 预警 column (position ``flag``) does not make
    such a row a task: a legend often explains that very column.

    Only rows with at least half their cells empty are looked at (a task fills most of its row), and
    in a tracker only those without a 状态 (position ``status`` in the row): a 50,000-row tracker
    costs a few C-level passes.
    """
    leading = sorted(range(len(wanted)), key=wanted.__getitem__)[:2]
    out = set()
    half = (len(wanted) + 1) // 2
    rows = itertools.count()
    if status is not None:
        rows = list(itertools.compress(rows, map(operator.not_, map(operator.itemgetter(status), picked))))
        candidates = [picked[i] for i in rows]
    else:
        candidates = picked
    empties = map(tuple.count, candidates, itertools.repeat(""))
    for i in itertools.compress(rows, map(operator.le, itertools.repeat(half), empties)):
        t = picked[i]
        if flag is not None:
            t = t[:flag] + t[flag + 1:]
        empty = t.count("")
        if empty == len(t):
            continue
        labels = [t[j] for j in leading if isinstance(t[j], str) and t[j]]
        if (any(_is_total(v) for v in labels) or (empty == len(t) - 1 and labels)
                or (labels and labels[0] is t[leading[0]] and _NOTE.match(schema.fold(labels[0])))):
            out.add(i)
    return out


def _repeated_headers(picked: list[tuple], keys: list[str], header: list[Any], wanted: list[int],
                      table: schema.Table) -> set[int]:
    """Rows that repeat the table's header (a second section of the list starts with its own header):
    at least two cells, and most of the row's filled cells, name their own column's field.

    Candidates are found through one column's distinct values (状态 where there is one), so a long
    tracker costs one C-level pass.
    """
    names = _spellings(table.fields)
    own = [_label_key(header[c]) if c < len(header) and isinstance(header[c], str) and header[c] else ""
           for c in wanted[:len(keys)]]

    def names_its_column(j: int, value: Any) -> bool:
        if value.__class__ is not str or not value:
            return False
        folded = _label_key(value)
        return folded == own[j] or names.get(folded) == keys[j]

    probe = keys.index("status") if "status" in keys else 0
    column = list(map(operator.itemgetter(probe), picked))
    labelish = {v for v in set(column) if names_its_column(probe, v)}
    if not labelish:
        return set()
    out = set()
    for i in itertools.compress(range(len(picked)), map(labelish.__contains__, column)):
        t = picked[i][:len(keys)]
        hits = sum(names_its_column(j, v) for j, v in enumerate(t))
        if hits >= 2 and 2 * hits >= len(t) - t.count(""):
            out.add(i)
    return out


def fill_merged(rows: list[list[Any]], ranges) -> tuple[list[list[Any]], dict[str, str]]:
    """Rows where a vertically merged value (负责部门 over four tasks, one 截止日期 over two) is in every
    row the range covers, and where each covered cell's top-left is (for findings).

    Only down, never across: a note merged over two columns is not a date in the second one.
    ``rows`` itself is not changed (the write-back compares the sheet as stored).
    """
    if not ranges:
        return rows, {}
    out = list(rows)
    origin: dict[str, str] = {}
    copied: set[int] = set()
    for (r0, c0), (r1, c1) in ranges:
        if r1 <= r0 or r0 >= len(rows) or c0 >= len(rows[r0]):
            continue
        value = rows[r0][c0]
        top = a1(r0 + 1, c0 + 1)
        for r in range(r0 + 1, min(r1, len(out) - 1) + 1):
            if r not in copied:
                out[r] = list(out[r])
                copied.add(r)
            if c0 < len(out[r]):
                out[r][c0] = value
                origin[a1(r + 1, c0 + 1)] = top
    return out, origin


def _read_table(rows, sheet: schema.Sheet, table: schema.Table, name: str, start: int,
                stop_labels: set[str], not_records: frozenset[int] = frozenset()) -> TableData | None:
    found = find_header(rows, table, start=start, stop=len(rows) if start else None)
    if not found:
        return None
    header, cols, twice = found
    duplicates = duplicate_columns(rows, header, table, cols) if twice else []
    item_col = progress_col = None
    if table.key == "tasks":
        for c, value in enumerate(rows[header]):
            if label_key(value) in _ledger_labels():
                item_col = c
            elif label_key(value) in _progress_labels() and c not in cols.values() and progress_col is None:
                progress_col = c
    keys = list(cols)
    extras = [c for c in (progress_col, item_col) if c is not None]
    wanted = list(cols.values()) + extras
    width = max(wanted) + 1
    body = rows[header + 1:]
    if body and min(map(len, body)) < width:
        body = [row if len(row) >= width else list(row) + [""] * (width - len(row)) for row in body]
    if stop_labels:  # the next part of the sheet (the minutes' form below its actions, …) ends the table
        for i, row in enumerate(body):
            if isinstance(row[0], str) and label_key(row[0]) in stop_labels:
                body = body[:i]
                break
    # one tuple per row of the wanted cells, then columns by transposing: no per-cell Python work
    picked = list(map(operator.itemgetter(*wanted), body)) if len(wanted) > 1 else [(row[wanted[0]],) for row in body]
    n = len(keys)
    blank = ("",) * n
    skip = _section_and_total_rows(picked, wanted, keys.index("status") if "status" in keys else None,
                                   keys.index("flag") if "flag" in keys else None)
    skip |= _repeated_headers(picked, keys, rows[header], wanted, table)
    skip |= {i for i in (r - header - 1 for r in not_records) if 0 <= i < len(picked) and picked[i][:n] != blank}
    keep = [i for i, t in enumerate(picked) if t[:n] != blank and i not in skip]
    if len(keep) != len(picked):
        picked = [picked[i] for i in keep]
    transposed = list(zip(*picked)) if picked else [()] * len(wanted)
    raw = {k: list(transposed[j]) for j, k in enumerate(keys)}
    items = list(transposed[-1]) if item_col is not None else None
    progress = list(transposed[len(keys)]) if progress_col is not None else None
    first = header + 2
    rownums = [first + i for i in keep]
    missing = [f for f in table.fields if f.key not in cols and not f.written_by_jobs]
    header_width = max((c + 1 for c, v in enumerate(rows[header]) if v not in ("", None)), default=0)
    return TableData(table, name, header + 1, {k: c + 1 for k, c in cols.items()}, rownums, raw, missing,
                     item_col + 1 if item_col is not None else None, header_width, items, progress, len(skip),
                     [(k, c + 1, [o + 1 for o in others]) for k, c, others in duplicates])


def _read_form(rows, sheet: schema.Sheet, name: str, skip_rows: set[int]) -> FormData:
    form = sheet.form
    assert form is not None
    names = _spellings(form.fields)
    values: dict[str, Any] = {}
    cells: dict[str, str] = {}
    labels: dict[str, str] = {}
    for r, row in enumerate(rows):
        if r in skip_rows:
            continue
        for c, value in enumerate(row):
            key = names.get(label_key(value))
            if not key or key in labels:
                continue
            labels[key] = a1(r + 1, c + 1)
            cells[key] = a1(r + 1, c + 2)
            values[key] = ""
            for c2 in range(c + 1, len(row)):
                if row[c2] != "" and row[c2] is not None:
                    values[key] = row[c2]
                    cells[key] = a1(r + 1, c2 + 1)
                    break
    return FormData(name, values, cells, labels)


def _stop_labels(sheet: schema.Sheet, table: schema.Table) -> set[str]:
    labels = set()
    for part in sheet.parts:
        if part is table:
            continue
        if isinstance(part, schema.Table):
            labels |= {label_key(part.zh), label_key(part.en)}
        else:
            labels |= {label_key(s) for f in part.fields for s in (f.zh, f.en)}
    return labels


def read_sheet(rows: list[list[Any]], sheet: schema.Sheet, name: str, hidden: bool = False,
               stored: list[list[Any]] | None = None, merged: dict[str, str] | None = None,
               not_records: frozenset[int] = frozenset()) -> SheetData:
    """Read a sheet's rows (as calamine gives them, from A1, merged values filled down) against its schema.

    ``stored``: the rows as the file holds them, when merged values were filled in (kept for the
    flag write's comparison); ``merged``: where each filled cell's value really is; ``not_records``:
    0-based rows that are an Excel table's header or Total Row.
    """
    tables: dict[str, TableData] = {}
    header_rows: set[int] = set()
    start = 0
    for table in sheet.tables:
        data = _read_table(rows, sheet, table, name, start, _stop_labels(sheet, table), not_records)
        if data is not None:
            tables[table.key] = data
            header_rows.add(data.header_row - 1)
            header_rows |= {r - 1 for r in data.rownums}
            start = data.header_row  # the next table is further down
    form = _read_form(rows, sheet, name, header_rows) if sheet.form else None
    return SheetData(sheet, name, hidden, form, tables,
                     (stored if stored is not None else rows) if sheet.key == "tasks" else None, merged or {})


def name_matches(sheet_name: str, sheet: schema.Sheet) -> bool:
    key = label_key(sheet_name)
    for spelling in sheet.spellings():
        s = label_key(spelling)
        if key == s:
            return True
        # 会议纪要2, 会议纪要(2), 会议纪要-0708: numbered meetings
        if sheet.key == "minutes" and key.startswith(s) and len(key) > len(s):
            return True
    return False


def _content_score(rows: list[list[Any]], sheet: schema.Sheet) -> int:
    names = {}
    for f in sheet.fields():
        for s in f.spellings():
            names.setdefault(label_key(s), f.key)
    seen = set()
    for row in rows[:HEADER_SCAN_ROWS]:
        for value in row[:40]:
            if key := names.get(label_key(value)):
                seen.add(key)
    return len(seen)


def classify(sheet_name: str, rows: list[list[Any]], candidates: tuple[schema.Sheet, ...]) -> schema.Sheet | None:
    """Which schema sheet a worksheet is: by its name, else by its labels (at least half the required ones)."""
    for sheet in candidates:
        if name_matches(sheet_name, sheet):
            return sheet
    best, best_score = None, 0
    for sheet in candidates:
        score = _content_score(rows, sheet)
        required = sum(1 for f in sheet.fields() if f.required)
        if score >= max(3, required // 2 + 1) and score > best_score:
            best, best_score = sheet, score
    return best

def exact_name(sheet_name: str, sheet: schema.Sheet) -> bool:
    """Is the sheet named exactly as the document (or an accepted name), not a copy such as '执行进度 (2)'?"""
    key = label_key(sheet_name)
    return any(key == label_key(s) for s in sheet.spellings())


def choose_sheets(data: WorkbookData) -> None:
    """One sheet per document: the one named exactly so; other candidates are W-DUPLICATE-SHEET.

    Excel's "move or copy → create a copy" puts '执行进度 (2)' before the original, and staff keep
    '执行进度-备份' or '执行进度(旧)' beside it: reading the first match would read a stale copy.
    Without exactly one such name the document is ambiguous (an error; nothing is acted on).
    Minutes are left alone: 会议纪要2 is the second meeting, not a copy.
    """
    for key, sheets in data.sheets.items():
        if key == "minutes" or len(sheets) < 2:
            continue
        sheet = sheets[0].schema
        label = (sheet.zh, sheet.en)
        exact = [s for s in sheets if exact_name(s.name, sheet)]
        others = [s.name for s in sheets if len(exact) != 1 or s is not exact[0]]
        quoted = ("、".join(f"“{n}”" for n in others), ", ".join(f"'{n}'" for n in others))
        if len(exact) == 1:
            data.findings.append(finding("W-DUPLICATE-SHEET", data.name, exact[0].name, chosen=exact[0].name,
                                         others=quoted, sheet_label=label))
            data.sheets[key] = exact
        else:
            data.findings.append(finding("W-DUPLICATE-SHEET", data.name, severity=ERROR, variant="-AMBIGUOUS",
                                         others=quoted, sheet_label=label))
            data.ambiguous.add(key)
