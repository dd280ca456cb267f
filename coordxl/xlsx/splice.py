"""The splice: cells set or inserted into one worksheet's XML, bytes in and bytes out.

Cells are written as inline strings, numbers, dates or booleans, in column order; rows that are not
there yet are added, the row ``spans`` and the ``<dimension>`` widened; everything else in the part is
kept byte for byte. A formula cell (or a cell inside an array formula's range) is never overwritten.
"""

from __future__ import annotations

import datetime as dt
import functools
import html
import re
from dataclasses import dataclass
from typing import NamedTuple

from ..normalize import to_serial
from .xlsxparts import _CELL, _CELL_REF, _FORMULA, PatchError, col_letters, col_number


class FormulaCell(Exception):
    """The flag cell holds a formula; it is never overwritten."""

    def __init__(self, ref: str):
        super().__init__(ref)
        self.ref = ref


@dataclass(frozen=True)
class Styled:
    """A value written with a given cell style (an index into styles.xml's cellXfs), e.g. a date
    with the style of the column's other dates."""

    value: object
    style: int


def _inline_cell(ref: str, style: bytes | None, value) -> bytes:
    """One cell's XML: text as an inline string, a number or a date as a value, '' or None empty."""
    if type(value) is str and value:  # the common case (a flag): its text's XML made once per run
        return b'<c r="' + ref.encode() + (b'" s="' + style + b'"' if style else b'"') + _text_tail(value)
    if isinstance(value, Styled):
        style, value = str(value.style).encode(), value.value
    s = b' s="' + style + b'"' if style else b""
    head = b'<c r="' + ref.encode() + b'"' + s
    if value is None or value == "":
        return head + b"/>"
    if isinstance(value, bool):
        return head + b' t="b"><v>' + (b"1" if value else b"0") + b"</v></c>"
    if isinstance(value, (dt.date, dt.datetime)):
        value = to_serial(value)
    if isinstance(value, (int, float)):
        if value != value or value in (float("inf"), float("-inf")):
            raise PatchError(f"{ref}: {value} is not a number a cell can hold")
        return head + b"><v>" + repr(value).encode() + b"</v></c>"
    return head + _text_tail(str(value))


_NOT_IN_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\r\ufffe\uffff]")


@functools.lru_cache(maxsize=4096)
def _text_tail(value: str) -> bytes:
    """A text cell's XML after its reference and style: an inline string, escaped, its blanks kept. Text
    with a control character XML cannot hold, or a carriage return (read back as a line break), is refused."""
    if _NOT_IN_XML.search(value):
        raise PatchError(f"text with a control character or a carriage return a cell cannot hold as written: {value[:40]!r}")
    escaped = html.escape(value, quote=False).encode("utf-8")
    space = b' xml:space="preserve"' if value != value.strip() else b""
    return b' t="inlineStr"><is><t' + space + b">" + escaped + b"</t></is></c>"


_ROW_OPEN = re.compile(rb"<row\b[^>]*>")


def _patch_row(row_xml: bytes, row_no: int, col: int, value, style_from_left: bool = False) -> bytes:
    """Set column ``col`` of one ``<row>…</row>`` (or ``<row …/>``) to a value (see _inline_cell; '' clears).

    ``style_from_left``: a new cell takes the style of the cell to its left (a re-added header).
    """
    head = _ROW_OPEN.match(row_xml)
    if head is None:
        raise PatchError(f"row {row_no}: unexpected XML")
    head_bytes = head.group(0)
    self_closing = head_bytes.endswith(b"/>")
    body = b"" if self_closing else row_xml[head.end():row_xml.rindex(b"</row>")]
    ref = f"{col_letters(col)}{row_no}"
    quick = None if style_from_left else _quick_splice(body, ref, col, value)
    if quick is not None:
        start, end, cell = quick
        new_body = body[:start] + cell + body[end:]
        if new_body == body:
            return row_xml  # nothing there, nothing to clear
        return _close_row(head_bytes, self_closing, new_body, col)
    new_body = None
    insert_at = len(body)
    left_style = None
    for m in _CELL.finditer(body):
        cell = m.group(0)
        ref_m = _CELL_REF.search(cell[:cell.find(b">") + 1])
        if ref_m is None:
            raise PatchError(f"row {row_no}: a cell without its reference")
        c = col_number(ref_m.group(1).decode())
        style = re.search(rb'\bs="(\d+)"', cell[:cell.find(b">") + 1])
        if c == col:
            if _FORMULA.search(cell):
                raise FormulaCell(ref)
            own = left_style if style_from_left else style and style.group(1)
            new_body = body[:m.start()] + _inline_cell(ref, own, value) + body[m.end():]
            break
        if c > col:
            insert_at = m.start()
            break
        left_style = style and style.group(1)
    if new_body is None:
        if _blank(value):
            return row_xml  # nothing there, nothing to clear
        style = left_style if style_from_left else None
        new_body = body[:insert_at] + _inline_cell(ref, style, value) + body[insert_at:]
    return _close_row(head_bytes, self_closing, new_body, col)


def _close_row(head_bytes: bytes, self_closing: bool, new_body: bytes, col: int) -> bytes:
    if self_closing:
        head_bytes = head_bytes[:-2].rstrip() + b">"
    spans = re.search(rb'\bspans="(\d+):(\d+)"', head_bytes)
    if spans and not (int(spans.group(1)) <= col <= int(spans.group(2))):
        lo, hi = min(int(spans.group(1)), col), max(int(spans.group(2)), col)
        head_bytes = head_bytes[:spans.start()] + b'spans="%d:%d"' % (lo, hi) + head_bytes[spans.end():]
    return head_bytes + new_body + b"</row>"


_CELL_START = re.compile(rb"<c(?:\s[^>]*)?\Z")  # a cell's tag from its '<' up to a position inside it


def _quick_splice(xml: bytes, ref: str, col: int, value, lo: int = 0, hi: int | None = None,
                  column_empty: bool = False) -> tuple[int, int, bytes] | None:
    """The common cases in a row's body ``xml[lo:hi]`` without walking it cell by cell: the cell is there
    (found by its reference inside a cell tag) and is replaced, or the row ends before its column and
    the new cell goes last. Returns what changes as (start, end, bytes): ``xml[start:end]`` becomes
    ``bytes`` (the same bytes: nothing to do). None: anything else (the careful walk decides). A cell is
    never overwritten if it holds a formula. ``column_empty``: no reference to the column anywhere in
    ``xml`` (so none in this row either)."""
    hi = len(xml) if hi is None else hi
    at = -1 if column_empty else xml.find(b' r="' + ref.encode() + b'"', lo, hi)
    if at >= 0:
        start = xml.rfind(b"<", lo, at)
        if start < 0 or not _CELL_START.match(xml, start, at):
            return None  # the text is somewhere else (a value, another element): walk the row
        m = _CELL.match(xml, start, hi)
        if m is None:
            return None
        cell = m.group(0)
        if _FORMULA.search(cell):
            raise FormulaCell(ref)
        style = _STYLE.search(cell, 0, cell.find(b">") + 1)
        return start, m.end(), _inline_cell(ref, style and style.group(1), value)
    if xml.count(b"<c", lo, hi) != xml.count(b'<c r="', lo, hi):
        return None  # a cell not starting '<c r="' (without its reference, or after a tab): walk the row
    last = xml.rfind(b' r="', lo, hi)
    if last < 0:
        if xml[lo:hi].strip():
            return None
        return lo, hi, b"" if value is None or value == "" else _inline_cell(ref, None, value)
    start = xml.rfind(b"<", lo, last)
    letters = _LAST_LETTERS.match(xml, last, last + 16 if last + 16 < hi else hi)
    if start < 0 or letters is None or not _CELL_START.match(xml, start, last):
        return None
    if _column(letters.group(1)) >= col:
        return None  # the column is inside the row: walk it
    return hi, hi, b"" if value is None or value == "" else _inline_cell(ref, None, value)  # b"": nothing to clear


def _blank(value) -> bool:
    """Nothing to write: '' or None (a 0 or False is a value like any other)."""
    return value is None or value == ""


@functools.lru_cache(maxsize=1024)
def _column(letters: bytes) -> int:
    return col_number(letters.decode())


_STYLE = re.compile(rb'\bs="(\d+)"')
_LAST_LETTERS = re.compile(rb' r="([A-Z]+)\d+"')
_SPANS_RANGE = re.compile(rb'\bspans="(\d+):(\d+)"')


class Edit(NamedTuple):
    """One change of the splice: ``xml[start:end]`` of the original sheet becomes ``new``.

    ``kind``: CELL (one cell of ``row``/``col`` replaced, or inserted where start == end), SPANS (that
    row's ``spans="lo:hi"`` widened), ROW (a whole row ``row`` rewritten by the careful walk, or a new
    row inserted), DIMENSION (the ``<dimension>`` widened), SHEET (the whole part rewritten: an empty
    ``<sheetData/>``). ``head``: where the row starts (CELL, SPANS)."""

    start: int
    end: int
    new: bytes
    kind: str
    row: int = 0
    col: int = 0
    head: int = 0


CELL, SPANS, ROW, DIMENSION, SHEET = "cell", "spans", "row", "dimension", "sheet"


def patch_sheet_xml(xml: bytes, cells: dict[tuple[int, int], object],
                    styled: frozenset[tuple[int, int]] = frozenset(), edits: list[Edit] | None = None) -> bytes:
    """Set each (row, column) cell to its value (text, number, date, :class:`Styled`; '' or None
    clears), splicing the bytes row by row. A new cell in ``styled`` takes the style of the cell to
    its left (a re-added header). A formula cell is never overwritten (:class:`FormulaCell`).

    ``edits``: a list that receives what was changed (:class:`Edit`, in document order), so that the
    result can be proved to be the original with exactly those changes (:func:`.verify.proof`).
    """
    made = splice_edits(xml, cells, styled)
    if edits is not None:
        edits.extend(made)
    return apply_edits(xml, made)


def apply_edits(xml: bytes, edits: list[Edit]) -> bytes:
    """The original sheet with its edits (in document order) applied: the slices between them kept as they are."""
    pieces, pos = [], 0
    for edit in edits:
        pieces.append(xml[pos:edit.start])
        pieces.append(edit.new)
        pos = edit.end
    pieces.append(xml[pos:])
    return b"".join(pieces)


def splice_edits(xml: bytes, cells: dict[tuple[int, int], object],
                 styled: frozenset[tuple[int, int]] = frozenset()) -> list[Edit]:
    """What :func:`patch_sheet_xml` changes, as edits of the original bytes in document order: one
    ``bytes.find`` per row, a cell replaced or added last in its row (the common case) as a CELL edit
    (and a SPANS edit when the row's spans must widen); any other row rewritten by the careful walk."""
    data_at = xml.find(b"<sheetData")
    if data_at < 0 and xml.find(b":sheetData") >= 0:
        raise PatchError("prefixed SpreadsheetML namespace")
    ordered = sorted(cells)
    arrays = _array_ranges(xml)  # a cell inside an array formula's range (legacy CSE or a spill) is a formula too
    for r, c in ordered if arrays else ():
        if any(top <= r <= bottom and left <= c <= right for top, left, bottom, right in arrays):
            raise FormulaCell(f"{col_letters(c)}{r}")
    if data_at >= 0 and xml.startswith(b"<sheetData/>", data_at):  # no rows at all: the whole part, the rare way
        return [Edit(0, len(xml), _patched_whole(xml, cells, styled), SHEET)]
    edits = _row_edits(xml, cells, styled, ordered)
    if cells:
        dimension = _dimension_edit(xml, cells)
        if dimension is not None:
            edits.insert(0, dimension)
    return edits


def _row_edits(xml: bytes, cells: dict[tuple[int, int], object], styled: frozenset[tuple[int, int]],
               ordered: list[tuple[int, int]]) -> list[Edit]:
    """The edits of the rows, in order: per row one ``bytes.find`` from where the last one ended; a row
    with one cell to set takes the quick way (:func:`_quick_splice`: a CELL edit, and a SPANS edit where
    its spans must widen), any other is walked cell by cell (a ROW edit)."""
    by_row: dict[int, list[int]] = {}
    for r, c in ordered:
        by_row.setdefault(r, []).append(c)
    referenced = {c: _rows_referencing(xml, c) for c in {c for _, c in ordered}}
    letters = {c: col_letters(c) for c in referenced}
    edits: list[Edit] = []
    find, add, new_edit = xml.find, edits.append, Edit.__new__  # bound once: this loop runs once per row
    pos = 0
    for row_no, columns in by_row.items():
        start = find(b'<row r="%d"' % row_no, pos)
        if start < 0:
            start, found = _locate_row(xml, row_no, pos)
            if not found:  # a row nobody typed in yet: a new <row> in its place
                row_xml = b'<row r="%d"/>' % row_no
                for col in columns:
                    row_xml = _patch_row(row_xml, row_no, col, cells[(row_no, col)], (row_no, col) in styled)
                add(Edit(start, start, row_xml, ROW, row_no))
                pos = start
                continue
        head_end = xml.index(b">", start)
        if xml[head_end - 1] == 47:  # '/': an empty row <row …/>
            end = head_end + 1
        else:
            end = _row_end(xml, head_end)
            col = columns[0]
            if len(columns) == 1 and not (styled and (row_no, col) in styled):
                quick = _quick_splice(xml, letters[col] + str(row_no), col, cells[(row_no, col)], head_end + 1,
                                      end - 6, row_no not in referenced[col])
                if quick is not None:
                    at, stop, cell = quick
                    if (not cell if at == stop else xml[at:stop] == cell):  # nothing to clear; the very same cell
                        pos = end
                        continue
                    if at == stop or xml.startswith(b"<c", at):  # else a body of blanks only: the careful walk
                        if find(b"spans", start, head_end) >= 0:
                            _widen_spans(xml, row_no, col, start, head_end, edits)
                        add(new_edit(Edit, at, stop, cell, CELL, row_no, col, start))
                        pos = end
                        continue
        row_xml = xml[start:end]
        new_row = row_xml
        for col in columns:
            new_row = _patch_row(new_row, row_no, col, cells[(row_no, col)], (row_no, col) in styled)
        if new_row != row_xml:
            edits.append(Edit(start, end, new_row, ROW, row_no))
        pos = end
    return edits


def row_close(xml: bytes, pos: int, stop: int | None = None) -> int:
    """Where the first ``</row`` at or after ``pos`` (and before ``stop``) starts, or -1. Found through its
    'w' (one memchr: a sheet has few), not by searching the five bytes (a far slower search)."""
    w = xml.find(b"w", pos + 4, stop)
    while w >= 0 and not xml.startswith(b"</row", w - 4):
        w = xml.find(b"w", w + 1, stop)
    return w - 4 if w >= 0 else -1


def _row_end(xml: bytes, head_end: int) -> int:
    """Where the row whose head ends at ``head_end`` ends: just after its ``</row>`` (see :func:`row_close`)."""
    w = xml.find(b"w", head_end + 4)
    while w >= 0 and not xml.startswith(b"</row", w - 4):
        w = xml.find(b"w", w + 1)
    if w < 0 or xml[w + 1:w + 2] != b">":
        return xml.index(b"</row>", head_end) + 6
    return w + 2


def _widen_spans(xml: bytes, row_no: int, col: int, start: int, head_end: int, edits: list[Edit]) -> None:
    """A SPANS edit where the row's ``spans="lo:hi"`` (in its head, ``xml[start:head_end]``) leaves ``col`` out."""
    spans = _SPANS_RANGE.search(xml, start, head_end)
    if spans:
        lo, hi = int(spans.group(1)), int(spans.group(2))
        if not lo <= col <= hi:
            widened = b'spans="%d:%d"' % (min(lo, col), max(hi, col))
            edits.append(Edit(spans.start(), spans.end(), widened, SPANS, row_no, col, start))


def _rows_referencing(xml: bytes, col: int) -> set[int]:
    """The rows N for which ``r="<column>N"`` appears anywhere in the sheet (one scan): in any other row a
    search for the column's cell finds nothing."""
    prefix = b'r="' + col_letters(col).encode()
    rows, at = set(), xml.find(prefix)
    while at >= 0:
        m = _DIGITS_QUOTE.match(xml, at + len(prefix))
        if m and at > 0 and xml[at - 1] in b" \t\r\n":
            rows.add(int(m.group(1)))
        at = xml.find(prefix, at + 1)
    return rows


_DIGITS_QUOTE = re.compile(rb'(\d+)"')


def _patched_whole(xml: bytes, cells: dict[tuple[int, int], object], styled: frozenset[tuple[int, int]]) -> bytes:
    """A sheet whose sheetData is empty (``<sheetData/>``): opened, its rows spliced in, the dimension widened."""
    xml = xml.replace(b"<sheetData/>", b"<sheetData></sheetData>", 1)
    by_row: dict[int, list[int]] = {}
    for r, c in sorted(cells):
        by_row.setdefault(r, []).append(c)
    out, pos = [], 0
    for row_no, columns in by_row.items():
        start, found = _locate_row(xml, row_no, pos)
        if found:
            head_end = xml.index(b">", start)
            end = (head_end + 1 if xml[head_end - 1:head_end] == b"/" else
                   xml.index(b"</row>", head_end) + len(b"</row>"))
            row_xml = xml[start:end]
        else:
            end, row_xml = start, b'<row r="%d"/>' % row_no
        out.append(xml[pos:start])
        for col in columns:
            row_xml = _patch_row(row_xml, row_no, col, cells[(row_no, col)], (row_no, col) in styled)
        out.append(row_xml)
        pos = end
    out.append(xml[pos:])
    patched = b"".join(out)
    dimension = _dimension_edit(patched, cells) if cells else None
    return apply_edits(patched, [dimension]) if dimension else patched


_ROW_NUMBER = re.compile(rb'<row\b[^>]*?\br="(\d+)"')


def _locate_row(xml: bytes, row_no: int, pos: int) -> tuple[int, bool]:
    """Where row ``row_no`` starts at or after ``pos`` (True), or where a new one goes: before the
    first row below it, else at the end of sheetData (False)."""
    start = xml.find(b'<row r="%d"' % row_no, pos)
    if start >= 0:
        return start, True
    m = re.compile(rb'<row\s[^>]*?\br="%d"' % row_no).search(xml, pos)  # attributes in another order
    if m:
        return m.start(), True
    for m in _ROW_NUMBER.finditer(xml, pos):
        if int(m.group(1)) > row_no:
            return m.start(), False
    end = xml.find(b"</sheetData>", pos)
    if end < 0:
        raise PatchError(f"row {row_no}: no place for it in sheetData")
    return end, False


_F_TAG = re.compile(rb"<f\b[^>]*>")
_ARRAY_REF = re.compile(rb'\sref="([A-Z]+)(\d+)(?::([A-Z]+)(\d+))?"')


def _array_ranges(xml: bytes) -> list[tuple[int, int, int, int]]:
    """(top, left, bottom, right) of every array formula's range in a sheet's XML."""
    if b'"array"' not in xml:  # the common case costs one search
        return []
    out = []
    for tag in _F_TAG.finditer(xml):  # t="array" and ref= in either order
        m = _ARRAY_REF.search(tag.group(0)) if b't="array"' in tag.group(0) else None
        if m is None:
            continue
        c1, r1 = col_number(m.group(1).decode()), int(m.group(2))
        c2, r2 = (col_number(m.group(3).decode()), int(m.group(4))) if m.group(3) else (c1, r1)
        out.append((r1, c1, r2, c2))
    return out


_DIMENSION = re.compile(rb'<dimension ref="([A-Z]+)(\d+)(?::([A-Z]+)(\d+))?"\s*/>')


def _dimension_edit(xml: bytes, cells: dict[tuple[int, int], object]) -> Edit | None:
    """The ``<dimension>`` widened to hold every cell of the patch; None when it already does (or there is none)."""
    head_end = xml.find(b"<sheetData")
    m = _DIMENSION.search(xml, 0, head_end if head_end >= 0 else len(xml))
    if not m:
        return None
    rows, columns = [r for r, _ in cells], [c for _, c in cells]
    c1, r1 = col_number(m.group(1).decode()), int(m.group(2))
    c2 = col_number(m.group(3).decode()) if m.group(3) else c1
    r2 = int(m.group(4)) if m.group(4) else r1
    nc1, nr1, nc2, nr2 = min(c1, *columns), min(r1, *rows), max(c2, *columns), max(r2, *rows)
    if (nc1, nr1, nc2, nr2) == (c1, r1, c2, r2):
        return None
    ref = f"{col_letters(nc1)}{nr1}:{col_letters(nc2)}{nr2}".encode()
    return Edit(m.start(), m.end(), b'<dimension ref="' + ref + b'"/>', DIMENSION)
