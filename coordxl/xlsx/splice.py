"""The splice: cells set or inserted into one worksheet's XML, bytes in and bytes out.

Cells are written as inline strings, numbers, dates or booleans, in column order; rows that are not
there yet are added, the row ``spans`` and the ``<dimension>`` widened; everything else in the part is
kept byte for byte. A formula cell (or a cell inside an array formula's range) is never overwritten.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from dataclasses import dataclass

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
    value = str(value)
    escaped = html.escape(value, quote=False).encode("utf-8")
    space = b' xml:space="preserve"' if value != value.strip() else b""
    return head + b' t="inlineStr"><is><t' + space + b">" + escaped + b"</t></is></c>"


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
    new_body = None if style_from_left else _quick_splice(body, ref, col, value)
    if new_body is not None:
        if new_body == body:
            return row_xml  # nothing there, nothing to clear
        return _close_row(head_bytes, self_closing, new_body, col)
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
        if not value:
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


def _quick_splice(body: bytes, ref: str, col: int, value) -> bytes | None:
    """The common cases without walking the row cell by cell: the flag cell is there (found by its
    reference inside a cell tag), or the row ends before its column (the new cell goes last). None:
    anything else (the careful walk decides). A cell is never overwritten if it holds a formula."""
    token = b' r="%s"' % ref.encode()
    at = body.find(token)
    if at >= 0:
        start = body.rfind(b"<", 0, at)
        if start < 0 or not _CELL_START.match(body, start, at):
            return None  # the text is somewhere else (a value, another element): walk the row
        m = _CELL.match(body, start)
        if m is None:
            return None
        cell = m.group(0)
        if _FORMULA.search(cell):
            raise FormulaCell(ref)
        style = re.search(rb'\bs="(\d+)"', cell[:cell.find(b">") + 1])
        return body[:start] + _inline_cell(ref, style and style.group(1), value) + body[m.end():]
    last = body.rfind(b' r="')
    if last < 0:
        if body.strip():
            return None
        return _inline_cell(ref, None, value) if value else b""
    start = body.rfind(b"<", 0, last)
    letters = re.match(rb' r="([A-Z]+)\d+"', body[last:last + 16])
    if start < 0 or letters is None or not _CELL_START.match(body, start, last):
        return None
    if col_number(letters.group(1).decode()) >= col:
        return None  # the flag column is inside the row: walk it
    if not value:
        return body  # nothing there, nothing to clear
    return body + _inline_cell(ref, None, value)



def patch_sheet_xml(xml: bytes, cells: dict[tuple[int, int], object],
                    styled: frozenset[tuple[int, int]] = frozenset()) -> bytes:
    """Set each (row, column) cell to its value (text, number, date, :class:`Styled`; '' or None
    clears), splicing the bytes row by row. A new cell in ``styled`` takes the style of the cell to
    its left (a re-added header). A formula cell is never overwritten (:class:`FormulaCell`).
    """
    data_at = xml.find(b"<sheetData")
    if data_at < 0 and xml.find(b":sheetData") >= 0:
        raise PatchError("prefixed SpreadsheetML namespace")
    arrays = _array_ranges(xml)  # a cell inside an array formula's range (legacy CSE or a spill) is a formula too
    for r, c in sorted(cells):
        if any(top <= r <= bottom and left <= c <= right for top, left, bottom, right in arrays):
            raise FormulaCell(f"{col_letters(c)}{r}")
    by_row: dict[int, list[int]] = {}
    for r, c in sorted(cells):
        by_row.setdefault(r, []).append(c)
    if b"<sheetData/>" in xml:
        xml = xml.replace(b"<sheetData/>", b"<sheetData></sheetData>", 1)
    out = []
    pos = 0
    for row_no, columns in sorted(by_row.items()):
        start, found = _locate_row(xml, row_no, pos)
        if found:
            head_end = xml.index(b">", start)
            end = (head_end + 1 if xml[head_end - 1:head_end] == b"/" else
                   xml.index(b"</row>", head_end) + len(b"</row>"))
            row_xml = xml[start:end]
        else:  # a row nobody typed in yet: a new <row> in its place
            end, row_xml = start, b'<row r="%d"/>' % row_no
        out.append(xml[pos:start])
        for col in columns:
            row_xml = _patch_row(row_xml, row_no, col, cells[(row_no, col)], (row_no, col) in styled)
        out.append(row_xml)
        pos = end
    out.append(xml[pos:])
    patched = b"".join(out)
    if cells:
        rows, columns = [r for r, _ in cells], [c for _, c in cells]
        patched = _widen_dimension(patched, min(columns), min(rows))
        patched = _widen_dimension(patched, max(columns), max(rows))
    return patched


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


_ARRAY = re.compile(rb'<f\b[^>]*\bt="array"[^>]*\bref="([A-Z]+)(\d+)(?::([A-Z]+)(\d+))?"')


def _array_ranges(xml: bytes) -> list[tuple[int, int, int, int]]:
    """(top, left, bottom, right) of every array formula's range in a sheet's XML."""
    if b'"array"' not in xml:  # the common case costs one search
        return []
    out = []
    for m in _ARRAY.finditer(xml):
        c1, r1 = col_number(m.group(1).decode()), int(m.group(2))
        c2, r2 = (col_number(m.group(3).decode()), int(m.group(4))) if m.group(3) else (c1, r1)
        out.append((r1, c1, r2, c2))
    return out


_DIMENSION = re.compile(rb'<dimension ref="([A-Z]+)(\d+)(?::([A-Z]+)(\d+))?"\s*/>')


def _widen_dimension(xml: bytes, col: int, row: int) -> bytes:
    head_end = xml.find(b"<sheetData")
    m = _DIMENSION.search(xml, 0, head_end if head_end >= 0 else len(xml))
    if not m:
        return xml
    c1, r1 = col_number(m.group(1).decode()), int(m.group(2))
    c2 = col_number(m.group(3).decode()) if m.group(3) else c1
    r2 = int(m.group(4)) if m.group(4) else r1
    nc1, nr1, nc2, nr2 = min(c1, col), min(r1, row), max(c2, col), max(r2, row)
    if (nc1, nr1, nc2, nr2) == (c1, r1, c2, r2):
        return xml
    ref = f"{col_letters(nc1)}{nr1}:{col_letters(nc2)}{nr2}".encode()
    return xml[:m.start()] + b'<dimension ref="' + ref + b'"/>' + xml[m.end():]
