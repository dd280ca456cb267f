"""Write cells (the 预警 flags, or any :class:`SheetPatch`) into a staff workbook losslessly, or not at all.

A full openpyxl load + save drops images, shapes, x14 validations, slicers and
every cached formula result. So this module patches one worksheet XML part:
it sets or inserts cells (inline strings, numbers, dates) in column order,
adds rows that are not there yet, widens the row ``spans`` and the
``<dimension>``, and copies every other zip part with byte-identical content.
It never touches a formula cell.

The protocol around the patch (:func:`write_patch`): skip when an owner or
lock file is beside the workbook (W-LOCKED) or the file changed since it was
read (W-CHANGED); keep the previous version in .coordxl/backups/ (a hard link to
it, or a copy where there are none), write a temp file in the same folder, fsync,
atomically replace; then read the file
back from the disk and check that every other zip part is byte-identical, that
the patched sheet is byte-identical outside the patched cells, and that each of
them holds what was meant; else restore the backup (W-LOSSY).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import html
import io
import os
import re
import shutil
import struct
import sys
import zipfile
import zlib
from dataclasses import dataclass
from dataclasses import field as dc_field
from pathlib import Path
from typing import Callable

from ..findings import Finding, finding
from ..normalize import to_serial
from ..platform_support import name_room, path_units, replace_file
from ..state.layout import fit_bytes, fit_units
from .xlsxparts import (
    _CELL,
    _CELL_REF,
    _FORMULA,
    Fingerprint,
    PatchError,
    col_letters,
    col_number,
    owner_files,
    sheet_part,
    shown,
)


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


def patch_workbook_bytes(data: bytes, sheet_name: str, cells: dict[tuple[int, int], object],
                         styled: frozenset[tuple[int, int]] = frozenset()) -> bytes:
    """A new .xlsx with one sheet part patched and every other part's content unchanged: copied as
    stored, byte for byte (:func:`_rezip`), or, for a zip that reader does not take, re-written."""
    with zipfile.ZipFile(io.BytesIO(data)) as zin:
        part = sheet_part(zin, sheet_name)
        content = patch_sheet_xml(zin.read(part), cells, styled)
        rezipped = _rezip(data, part, content)
        if rezipped is not None:
            return rezipped
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as zout:
            for info in zin.infolist():
                if info.filename == part:
                    zout.writestr(info, content, compress_type=zipfile.ZIP_DEFLATED, compresslevel=1)
                else:
                    zout.writestr(info, zin.read(info), compress_type=info.compress_type)
    return out.getvalue()


# --- a zip's members as stored: copied without inflating, compared without inflating -----------------

_EOCD = struct.Struct("<4s4H2LH")
_CENTRAL = struct.Struct("<4s6H3L5H2L")
_LOCAL = struct.Struct("<4s5H3L2H")


@dataclass(frozen=True)
class _Member:
    name: str
    central: bytes  # its central directory entry
    stored: bytes  # local header, compressed data and data descriptor, as in the file
    fields: tuple  # the central entry's fields (_CENTRAL)


def _members(data: bytes) -> tuple[list[_Member], bytes] | None:
    """The members of a zip as stored, and the archive's comment; None for one this reader does not take
    (zip64, spanned, members out of place, a name twice): the caller then goes the zipfile way."""
    at = data.rfind(b"PK\x05\x06", max(0, len(data) - 65557))
    if at < 0 or at + _EOCD.size > len(data):
        return None
    _, disk, cd_disk, here, total, cd_size, cd_at, comment_len = _EOCD.unpack_from(data, at)
    if disk or cd_disk or here != total or cd_at + cd_size != at or 0xFFFFFFFF in (cd_at, cd_size):
        return None
    members, pos, names = [], cd_at, set()
    for _ in range(total):
        if data[pos:pos + 4] != b"PK\x01\x02":
            return None
        fields = _CENTRAL.unpack_from(data, pos)
        flags, size, name_len, extra_len, note_len, offset = fields[3], fields[8], fields[10], fields[11], fields[12], fields[16]
        raw_name = data[pos + 46:pos + 46 + name_len]
        name = raw_name.decode("utf-8" if flags & 0x800 else "cp437")
        end = pos + 46 + name_len + extra_len + note_len
        if name in names or 0xFFFFFFFF in (size, fields[9], offset) or data[offset:offset + 4] != b"PK\x03\x04":
            return None
        local = _LOCAL.unpack_from(data, offset)
        if data[offset + 30:offset + 30 + local[9]] != raw_name:
            return None
        stop = offset + 30 + local[9] + local[10] + size
        if flags & 0x08:  # a data descriptor follows the data, with or without its signature
            stop += 16 if data[stop:stop + 4] == b"PK\x07\x08" else 12
        if stop > cd_at:
            return None
        names.add(name)
        members.append(_Member(name, data[pos:end], data[offset:stop], fields))
        pos = end
    return members, data[at + _EOCD.size:at + _EOCD.size + comment_len]


def _rezip(data: bytes, part: str, content: bytes) -> bytes | None:
    """``data`` with ``part``'s content replaced (deflated at level 1) and every other member copied as
    stored, byte for byte: nothing else is inflated or compressed again. None where :func:`_members`
    does not take the zip."""
    parsed = _members(data)
    if parsed is None or sum(m.name == part for m in parsed[0]) != 1:
        return None
    members, comment = parsed
    out, central = bytearray(), bytearray()
    for m in members:
        offset = len(out)
        if m.name != part:
            out += m.stored
            central += m.central[:42] + struct.pack("<L", offset) + m.central[46:]
            continue
        packer = zlib.compressobj(1, zlib.DEFLATED, -15)
        packed = packer.compress(content) + packer.flush()
        fields = list(m.fields)
        name_len, extra_len = fields[10], fields[11]
        raw_name = m.central[46:46 + name_len]
        flags, crc = fields[3] & 0x800, zlib.crc32(content)  # no data descriptor, no extra field
        out += _LOCAL.pack(b"PK\x03\x04", max(20, fields[2]), flags, 8, fields[5], fields[6], crc, len(packed),
                           len(content), name_len, 0) + raw_name + packed
        fields[3:5], fields[7:10], fields[11], fields[16] = (flags, 8), (crc, len(packed), len(content)), 0, offset
        central += _CENTRAL.pack(*fields) + raw_name + m.central[46 + name_len + extra_len:]
    if len(out) + len(central) >= 0xFFFFFFFF:
        return None
    cd_at = len(out)
    out += central + _EOCD.pack(b"PK\x05\x06", 0, 0, len(members), len(members), len(central), cd_at,
                                len(comment)) + comment
    return bytes(out)


# --- verifying a patched sheet without re-reading it cell by cell ------------------------------
# Everything outside the patched cells must be byte-identical to the original sheet (but for the
# row spans and the <dimension>, which the patch widens, and the empty rows it adds), and each
# patched cell must be exactly one of the forms the patch writes, holding the value meant.

_SPANS = re.compile(rb'\sspans="[^"]*"')
_DIMENSION_ANY = re.compile(rb"<dimension\b[^>]*/>")
_BARE_ROW = re.compile(rb'<row r="\d+"(?:/>|></row>)')
_TEXT = rb'(?:[^<&]|&(?:amp|lt|gt|quot|apos|#\d+|#x[0-9A-Fa-f]+);)*'
_WRITTEN_CELL = re.compile(
    rb'<c r="[A-Z]+\d+"(?: s="\d+")?(?:/>'
    rb'| t="inlineStr"><is><t(?: xml:space="preserve")?>(?P<text>' + _TEXT + rb')</t></is></c>'
    rb'| t="b"><v>(?P<bool>[01])</v></c>'
    rb'|><v>(?P<number>-?[0-9.]+(?:[eE][-+]?\d+)?)</v></c>)\Z')


def _skeleton(xml: bytes, cells: list[tuple[int, int]]) -> tuple[bytes, dict[bytes, bytes]]:
    """The sheet without what a patch of ``cells`` may touch — those cells, their rows' spans, rows
    left empty without them, the dimension, an empty sheetData's form — and those cells' XML by
    reference. Rows are found in document order from where the last one was: one pass."""
    by_row: dict[int, list[int]] = {}
    for r, c in sorted(cells):
        by_row.setdefault(r, []).append(c)
    out, found, pos = [], {}, 0
    for r, columns in by_row.items():
        try:
            start, exists = _locate_row(xml, r, pos)
        except PatchError:  # no rows at all (<sheetData/>): nothing of the patch is there
            break
        if not exists:
            continue
        head_end = xml.index(b">", start)
        end = head_end + 1 if xml[head_end - 1:head_end] == b"/" else xml.index(b"</row>", head_end) + len(b"</row>")
        head, body = _SPANS.sub(b"", xml[start:head_end + 1], 1), xml[head_end + 1:end]
        for c in columns:
            ref = f"{col_letters(c)}{r}".encode()
            token = b' r="' + ref + b'"'
            at = body.find(token)
            while at >= 0:
                cell_start = body.rfind(b"<", 0, at)
                m = _CELL.match(body, cell_start) if cell_start >= 0 and _CELL_START.match(body, cell_start, at) else None
                if m:
                    found[ref] = m.group(0)
                    body = body[:cell_start] + body[m.end():]
                    break
                at = body.find(token, at + 1)
        row = head + body
        out.append(xml[pos:start])
        out.append(b"" if _BARE_ROW.fullmatch(row) else row)
        pos = end
    out.append(xml[pos:])
    skeleton = b"".join(out)
    data_at = skeleton.find(b"<sheetData")
    top = _DIMENSION_ANY.sub(b"", skeleton[:data_at], 1) if data_at >= 0 else skeleton
    rest = skeleton[data_at:] if data_at >= 0 else b""
    if rest.startswith(b"<sheetData></sheetData>"):
        rest = b"<sheetData/>" + rest[len(b"<sheetData></sheetData>"):]
    return top + rest, found


def sheet_differences(original: bytes, written: bytes, cells: dict[tuple[int, int], object],
                      sheet: str) -> list[str]:
    """What the patch changed besides ``cells`` ('sheet!row N'), and the cells that do not hold what
    was meant ('sheet!A1 not written'); [] when the written sheet is exactly the patch."""
    before, _ = _skeleton(original, list(cells))
    after, found = _skeleton(written, list(cells))
    out = []
    if before != after:
        at = next((i for i, (x, y) in enumerate(zip(before, after)) if x != y), min(len(before), len(after)))
        row = re.findall(rb'<row\b[^>]*?\br="(\d+)"', after[max(0, at - 20000):at])
        out.append(f"{sheet}!row {int(row[-1]) if row else '?'}")
    for (r, c), value in sorted(cells.items()):
        ref = f"{col_letters(c)}{r}".encode()
        if not _holds(found.get(ref), value.value if isinstance(value, Styled) else value):
            out.append(f"{sheet}!{ref.decode()} not written")
    return out


def _holds(cell: bytes | None, value) -> bool:
    """Whether a written cell's XML is one the patch makes, holding ``value``."""
    if cell is None:
        return value is None or value == ""
    m = _WRITTEN_CELL.match(cell)
    if m is None:
        return False
    if value is None or value == "":
        return cell.endswith(b"/>")
    if isinstance(value, bool):
        return m.group("bool") == (b"1" if value else b"0")
    if isinstance(value, (dt.date, dt.datetime)):
        value = to_serial(value)
    if isinstance(value, (int, float)):
        return m.group("number") is not None and float(m.group("number")) == value
    return m.group("text") is not None and html.unescape(m.group("text").decode("utf-8")) == str(value)


def changed_parts(old: bytes, new: bytes, patched: str) -> list[str]:
    """Zip parts whose content differs (or that appeared or vanished), other than the patched one. A part
    stored byte for byte as before is the same without inflating it; any other is inflated (CRC checked)
    and compared."""
    stored_old, stored_new = _members(old), _members(new)
    same = set()
    if stored_old and stored_new:
        before = {m.name: m.stored for m in stored_old[0]}
        same = {m.name for m in stored_new[0] if before.get(m.name) == m.stored}
    with zipfile.ZipFile(io.BytesIO(old)) as a, zipfile.ZipFile(io.BytesIO(new)) as b:
        names_a, names_b = a.namelist(), b.namelist()
        out = sorted(set(names_a) ^ set(names_b))
        for name in names_a:
            if name != patched and name not in same and name in names_b and a.read(name) != b.read(name):
                out.append(name)
    return out


@dataclass
class SheetPatch:
    """Cells to set in one sheet of one workbook: (row, column) → value (text, number, date,
    :class:`Styled`; '' clears), written by :func:`write_patch`'s protocol."""

    path: Path
    display: str
    sheet: str
    cells: dict[tuple[int, int], object]
    fingerprint: Fingerprint | None
    styled: frozenset[tuple[int, int]] = frozenset()  # new cells that take the style on their left


@dataclass
class FlagWrite:
    """The flags one workbook should show: row number → text, in one sheet's column (a SheetPatch)."""

    path: Path
    display: str
    sheet: str
    column: int
    header_row: int
    rows: dict[int, str]
    fingerprint: Fingerprint | None
    add_header: str = ""  # the 预警 header text when the column is new

    def cells(self) -> dict[int, str]:
        cells = dict(self.rows)
        if self.add_header:
            cells[self.header_row] = self.add_header
        return cells

    def patch(self) -> SheetPatch:
        styled = frozenset({(self.header_row, self.column)}) if self.add_header else frozenset()
        return SheetPatch(self.path, self.display, self.sheet, {(r, self.column): v for r, v in self.cells().items()},
                          self.fingerprint, styled)


@dataclass
class WriteResult:
    written: bool = False
    findings: list[Finding] = dc_field(default_factory=list)
    backup: Path | None = None
    reason: str = ""
    formula_cells: list[tuple[int, int]] = dc_field(default_factory=list)  # (row, col) left alone: formulas

    @property
    def formula_rows(self) -> list[int]:
        return [r for r, _ in self.formula_cells]


Hook = Callable[[str, Path], None]


def _fsync_write(path: Path, data: bytes, mode: int = 0o666) -> None:
    """Write a new file (never an existing one) to disk; ``mode`` as the umask allows (a backup: 0o600)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), mode)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def _keep(path: Path, backup: Path, original: bytes, st: os.stat_result) -> bool:
    """Keep the version about to be replaced as ``backup``: a hard link to the workbook's file where the file
    system has them (the atomic replace then leaves that file to the backup alone: nothing is copied), else
    a copy of ``original`` written and synced. True when linked."""
    try:
        os.link(path, backup)
    except (OSError, NotImplementedError):  # no hard links here (some shares, FAT): a copy
        _fsync_write(backup, original, 0o600)
        return False
    seen = os.stat(backup)
    if (seen.st_ino, seen.st_dev, seen.st_size, seen.st_mtime_ns) != (st.st_ino, st.st_dev, st.st_size, st.st_mtime_ns):
        backup.unlink()  # saved by someone since it was read: the backup is what was read
        _fsync_write(backup, original, 0o600)
        return False
    try:  # its data is the workbook's, most likely on the disk already; the new name must be too
        fd = os.open(backup, os.O_RDONLY | getattr(os, "O_BINARY", 0))
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        pass
    _fsync_dir(backup.parent)
    return True


def _private(backup: Path) -> None:
    try:
        os.chmod(backup, 0o600)
    except OSError:  # another user's file (coordxl is not root): the backups folder itself is private
        pass


def _rotate(folder: Path, stem: str, keep: int) -> None:
    backups = sorted(folder.glob(f"*-{stem}"))
    for old in backups[:-keep] if keep > 0 else backups:
        old.unlink()


STAMP_UNITS = len("20260820-090000-123456.99-coordxl-")  # what goes before the name in a backup's file name


def backup_names(backups: Path, path: Path, platform: str | None = None) -> tuple[Path, str]:
    """A workbook's backup folder and the name its copies end with (``<stamp>-<name>``).

    The folder is the workbook's stem and a hash of its path; both names are cut to 150/200 bytes (a
    name's limit is 255), and on Windows so that every backup's whole path, stamp included, stays under
    MAX_PATH on a deep share (the room goes a third to the folder, the rest to the file).
    """
    digest = hashlib.sha1(os.fsencode(path.resolve())).hexdigest()[:8]
    stem, name = fit_bytes(shown(path.stem), 150), fit_bytes(shown(path.name), 200)
    if (platform or sys.platform) == "win32":
        room = name_room(backups, platform) - 1 - STAMP_UNITS  # folder, separator, stamp, name
        stem_room = min(path_units(stem), max(4, room // 3 - 9))
        stem = fit_units(stem, stem_room) if room // 3 > 9 + 4 else ""
        name = fit_units(name, room - path_units(stem) - 9)
    return backups / (f"{stem}-{digest}" if stem else digest), name


def write_flags(job: FlagWrite, backups: Path, keep: int = 10, now: dt.datetime | None = None,
                hook: Hook | None = None) -> WriteResult:
    """Patch the flag cells into the workbook following the write protocol. Never raises on bad files."""
    return write_patch(job.patch(), backups, keep, now, hook)


def write_patch(job: SheetPatch, backups: Path, keep: int = 10, now: dt.datetime | None = None,
                hook: Hook | None = None) -> WriteResult:
    """Set the patch's cells following the write protocol: locks, fingerprint, backup, temp file and
    atomic replace, read back and compare, restore on any loss. Never raises on bad files."""
    result = WriteResult()
    if job.path.suffix.lower() not in (".xlsx", ".xlsm"):
        result.reason = "format"
        return result
    # a workbook in 进行中/ may be a link to a department's own file: that file is patched, in its own
    # folder, and the link stays a link (replacing the link would leave staff editing a stale original)
    path = Path(os.path.realpath(job.path))
    if owners := owner_files(job.path) + (owner_files(path) if path != job.path else []):
        result.findings.append(finding("W-LOCKED", job.display, job.sheet, owner=owners[0].name))
        result.reason = "locked"
        return result
    try:
        original = path.read_bytes()
        st = os.stat(path)
    except OSError as exc:
        result.findings.append(finding("W-CHANGED", job.display, job.sheet))
        result.reason = f"unreadable: {exc}"
        return result
    current = Fingerprint(st.st_size, st.st_mtime_ns, hashlib.sha256(original).hexdigest())
    if not st.st_mode & 0o222:  # marked read-only by its owner: never written
        result.findings.append(finding("W-READONLY", job.display, job.sheet))
        result.reason = "readonly"
        return result
    if not os.access(path.parent, os.W_OK | os.X_OK):  # before a backup is made that could never be used
        result.findings.append(finding("W-PERMISSION", job.display, job.sheet, variant=".folder"))
        result.reason = "permission"
        return result
    if job.fingerprint is not None and current != job.fingerprint:
        result.findings.append(finding("W-CHANGED", job.display, job.sheet))
        result.reason = "changed"
        return result
    try:
        with zipfile.ZipFile(io.BytesIO(original)) as zf:
            part = sheet_part(zf, job.sheet)
        while True:
            try:
                patched = patch_workbook_bytes(original, job.sheet, job.cells, job.styled)
                break
            except FormulaCell as exc:  # a formula blocks only its own cell
                result.findings.append(finding("W-FORMULA", job.display, job.sheet, exc.ref))
                letters = re.match(r"[A-Z]+", exc.ref).group(0)
                blocked = (int(exc.ref[len(letters):]), col_number(letters))
                result.formula_cells.append(blocked)
                job = dataclasses.replace(job, cells={k: v for k, v in job.cells.items() if k != blocked})
                if not job.cells:
                    result.reason = "formula"
                    return result
        with zipfile.ZipFile(io.BytesIO(original)) as zf:
            before = zf.read(part)
    except (PatchError, zipfile.BadZipFile, KeyError, ValueError) as exc:
        result.findings.append(finding("W-LOSSY", job.display, job.sheet, detail=str(exc)[:200]))
        result.reason = f"unsupported: {exc}"
        return result
    stamp = (now or dt.datetime.now()).strftime("%Y%m%d-%H%M%S-%f")
    folder, keep_name = backup_names(backups, path)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    backup = folder / f"{stamp}-{keep_name}"
    n = 1
    while backup.exists():  # two runs in the same instant (or one fixed clock): keep both
        backup = folder / f"{stamp}.{n}-{keep_name}"
        n += 1
    linked = _keep(path, backup, original, st)
    tmp = path.with_name(f".~coordxl-{os.getpid()}-{folder.name[-8:]}.tmp")  # no longer than a short name
    replaced = False
    try:
        _fsync_write(tmp, patched)
        if hook:
            hook("before_replace", tmp)
        # last look: someone may have saved the file while we were patching
        if Fingerprint.of(path) != current:
            result.findings.append(finding("W-CHANGED", job.display, job.sheet))
            result.reason = "changed"
            return result
        if owner_files(path):
            result.findings.append(finding("W-LOCKED", job.display, job.sheet, owner=owner_files(path)[0].name))
            result.reason = "locked"
            return result
        shutil.copymode(path, tmp)  # permissions only: the new mtime must say the file changed
        if not _same_owner(path, tmp, st):  # the colleague must still own (and be able to save) their file
            result.findings.append(finding("W-PERMISSION", job.display, job.sheet))
            result.reason = "permission"
            return result
        ours = tmp.read_bytes()  # exactly what goes in place, to tell our file from a later save
        if not replace_file(tmp, path):  # Windows: Excel, a virus scanner, the indexer or a sync client holds it
            result.findings.append(finding("W-LOCKED", job.display, job.sheet, variant="-HELD"))
            result.reason = "locked"
            return result
        replaced = True
    finally:
        if tmp.exists():
            tmp.unlink()
        if linked and not replaced:  # that link is the workbook itself, not a backup of it
            backup.unlink(missing_ok=True)
    _fsync_dir(path.parent)
    if linked:
        _private(backup)  # the version replaced, now the backup's alone: for the administrator only
    if hook:
        hook("after_replace", path)
    written = _read_or_none(path)
    if written != ours:
        # another program saved the workbook just after our replace (Excel's save-as-temp-and-rename,
        # a sync client): theirs is the newer file and stays; both versions are kept beside the backups
        _fsync_write(folder / f"{stamp}-coordxl-{keep_name}", ours)
        result.findings.append(finding("W-CHANGED", job.display, job.sheet))
        result.reason = "changed"
        result.backup = backup
        return result
    # every other part byte-identical in content, the patched sheet byte-identical outside its cells,
    # and each cell holding what was meant: never report a write that was not
    try:
        diff = changed_parts(original, written, part)
        with zipfile.ZipFile(io.BytesIO(written)) as zf:  # read back from the disk, CRC checked
            after = zf.read(part)
        diff += sheet_differences(before, after, job.cells, job.sheet)
    except Exception as exc:  # the written file does not even open: that is a loss too
        diff = [f"unreadable: {exc}"]
    if diff:
        if _read_or_none(path) != ours:  # saved by someone meanwhile: never put an old version over it
            result.findings.append(finding("W-CHANGED", job.display, job.sheet))
            result.reason = "changed"
            return result
        restore = path.with_name(f".~coordxl-restore-{os.getpid()}-{folder.name[-8:]}.tmp")
        shutil.copyfile(backup, restore)
        os.replace(restore, path)
        result.findings.append(finding("W-LOSSY", job.display, job.sheet, detail=", ".join(diff[:5])))
        result.reason = "lossy"
        return result
    _rotate(folder, keep_name, keep)
    result.written = True
    result.backup = backup
    return result


def _same_owner(path: Path, tmp: Path, st: os.stat_result) -> bool:
    """Give ``tmp`` the owner and group of the workbook it replaces; False when that is not allowed."""
    mine = os.stat(tmp)
    if (mine.st_uid, mine.st_gid) == (st.st_uid, st.st_gid) or not hasattr(os, "chown"):
        return True
    try:
        os.chown(tmp, st.st_uid, st.st_gid)
    except OSError:
        return False
    return True


def _read_or_none(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
