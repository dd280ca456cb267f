"""Normalized records: a form as one :class:`Row`, a table as :class:`Rows` kept column by column.

What the normalizer makes and what an :class:`~coordxl.process.model.Item`, the rules and the task
states read.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import Any, Iterable

from ..xlsx.reader import a1


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

