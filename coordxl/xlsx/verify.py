"""Checking a patched sheet against the original: every other byte kept, each patched cell holding
what was meant.

Before anything is written, :func:`proof` checks the splice by its own record (its edits): the original
re-joined from them byte for byte, each change one the patch makes. After the write, :func:`read_back`
compares the sheet read from the disk with what was proved; only where they differ are both sheets'
skeletons built (:func:`sheet_differences`) to say where.
"""

from __future__ import annotations

import datetime as dt
import functools
import html
import re

from ..normalize import to_serial
from .splice import (
    _CELL_START,
    _DIMENSION,
    _ROW_NUMBER,
    CELL,
    DIMENSION,
    ROW,
    SHEET,
    SPANS,
    Edit,
    Styled,
    _locate_row,
    row_close,
)
from .xlsxparts import _CELL, _CELL_REF, _FORMULA, PatchError, col_letters, col_number

# --- verifying a patched sheet without re-reading it cell by cell ------------------------------
# Everything outside the patched cells must be byte-identical to the original sheet (but for the
# row spans and the <dimension>, which the patch widens, and the empty rows it adds), and each
# patched cell must be exactly one of the forms the patch writes, holding the value meant.

_SPANS = re.compile(rb'\sspans="[^"]*"')
_DIMENSION_ANY = re.compile(rb"<dimension\b[^>]*/>")
_BARE_ROW = re.compile(rb'<row r="\d+"(?:/>|></row>)')
_TEXT = rb'(?:[^<&\x00-\x08\x0b\x0c\x0e-\x1f\r]++|&(?:amp|lt|gt|quot|apos|#\d+|#x[0-9A-Fa-f]+);)*+'  # possessive: no backtracking into a long text
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
        if head.endswith(b"/>"):  # an empty row <row …/> is the same as <row …></row>, which a patch makes of it
            head, body = head[:-2].rstrip() + b">", b"</row>"
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


def read_back(before: bytes, content: bytes, after: bytes, cells: dict[tuple[int, int], object],
              sheet: str) -> list[str]:
    """The sheet read back from the disk against what the splice made (``content``, proved against
    ``before``): [] when it is byte for byte the same; else what differs, found by comparing ``before``
    and ``after`` as :func:`sheet_differences` does, or at least the row where the bytes part."""
    if after == content:
        return []
    told = sheet_differences(before, after, cells, sheet)
    if told:
        return told
    at = next((i for i, (x, y) in enumerate(zip(content, after)) if x != y), min(len(content), len(after)))
    row = re.findall(rb'<row\b[^>]*?\br="(\d+)"', after[max(0, at - 20000):at])
    return [f"{sheet}!row {int(row[-1]) if row else '?'}"]


def _holds(cell: bytes | None, value) -> bool:
    """Whether a written cell's XML is one the patch makes, holding ``value``."""
    if cell is None:
        return value is None or value == ""
    m = _WRITTEN_CELL.match(cell)
    return m is not None and _written_holds(m, value)


def _written_holds(m: re.Match, value) -> bool:
    """Whether a cell the patch makes (``m``: it matched :data:`_WRITTEN_CELL`) holds ``value``."""
    if type(value) is str and value:  # the common case first
        text = m.group("text")
        return text is not None and _unescaped(text) == value
    if value is None or value == "":
        return m.group(0).endswith(b"/>")
    if isinstance(value, bool):
        return m.group("bool") == (b"1" if value else b"0")
    if isinstance(value, (dt.date, dt.datetime)):
        value = to_serial(value)
    if isinstance(value, (int, float)):
        return m.group("number") is not None and float(m.group("number")) == value
    return m.group("text") is not None and _unescaped(m.group("text")) == str(value)


@functools.lru_cache(maxsize=4096)
def _unescaped(text: bytes) -> str:
    return html.unescape(text.decode("utf-8"))


# --- the splice proved by its own record: the original re-joined, each change of a kind the patch makes --------

_SPANS_VALUE = re.compile(rb'spans="(\d+):(\d+)"')
_NEW_DIMENSION = re.compile(rb'<dimension ref="([A-Z]+)(\d+):([A-Z]+)(\d+)"/>')


def proof(original: bytes, content: bytes, edits: list[Edit], cells: dict[tuple[int, int], object],
          sheet: str = "") -> list[str]:
    """Why ``content`` is not ``original`` changed by exactly the splice's ``edits`` ([]: it is).

    The edits tile the original (its slices between them and the slices they replace re-join to it, byte for
    byte), the content is those kept slices with the new bytes between them, and each edit is one the patch
    makes: a cell of the patch (the one it replaces was that cell and no formula; the new one is exactly a
    form the patch writes, holding the value meant, in that cell's row), a row's spans or the dimension
    widened, a row walked cell by cell that is the same outside the patch's cells. A cell of the patch
    without an edit already holds its value. So no skeleton of either sheet is built."""
    old_pieces, new_pieces, removed, pos = [], [], [], 0
    for edit in edits:
        if edit.start < pos or edit.end < edit.start:
            return [f"{sheet}!row {edit.row or '?'}"]
        kept, old = original[pos:edit.start], original[edit.start:edit.end]
        old_pieces += (kept, old)
        new_pieces += (kept, edit.new)
        removed.append(old)
        pos = edit.end
    old_pieces.append(original[pos:])
    new_pieces.append(original[pos:])
    if b"".join(old_pieces) != original or b"".join(new_pieces) != content:
        return [f"{sheet}!row ?"]
    problems, done = [], set()
    letters: dict[int, bytes] = {}
    for edit, old in zip(edits, removed):
        if edit.kind == CELL:  # the common case, checked here
            key = (edit.row, edit.col)
            done.add(key)
            if edit.col not in letters:
                letters[edit.col] = col_letters(edit.col).encode()
            if not _cell_in_place(original, edit, old, cells.get(key, _MISSING), letters[edit.col]):
                problems.append(f"{sheet}!{col_letters(edit.col)}{edit.row} not written")
        else:
            problems += _CHECKS[edit.kind](original, edit, old, cells, sheet, done)
    if cells.keys() - done:
        problems += _unchanged_hold(content, {key: cells[key] for key in cells.keys() - done}, sheet)
    return problems


def _cell_in_place(original: bytes, edit: Edit, old: bytes, value, letters: bytes) -> bool:
    """A CELL edit: in its row's body (after the head that says its row, before the row's end); replacing
    exactly that one cell without a formula, or nothing between two cells; the new bytes exactly a cell the
    patch writes, of that reference, holding ``value``."""
    start, _, new, _, row, _, head = edit
    if value is _MISSING or original.rfind(b"<row", head, start) != head:  # no row starts in between
        return False
    number = b"%d" % row
    if not original.startswith(b'<row r="' + number + b'"', head) and _row_at(original, head) != row:
        return False
    head_end = original.find(b">", head, start)
    if head_end < 0 or original[head_end - 1] == 47 or row_close(original, head_end, start) >= 0:  # 47: '/'
        return False  # a row <row …/> without a body, or one that ended before
    ref = b'r="' + letters + number + b'"'
    if old:  # exactly one cell, that one, without a formula
        one = old.count(b"</c>") == 1 if old.endswith(b"</c>") else old.find(b">") == len(old) - 1
        ref_m = _CELL_REF.search(old, 0, old.find(b">") + 1) if one and _CELL.fullmatch(old) else None
        if ref_m is None or ref_m.group(0) != ref or _FORMULA.search(old):
            return False
    elif original[start - 1] != 62 or not original.startswith((b"<c", b"</row>"), start):  # 62: '>'
        return False  # not between two cells, nor after the row's head or its last cell
    elif not _row_lacks(original, head_end, ref):
        return False  # a new cell where the row already has that one, or a cell of unknown place
    written = _WRITTEN_CELL.match(new)
    return (written is not None and new.startswith(ref, 3)
            and _written_holds(written, value.value if isinstance(value, Styled) else value))


_CELL_TAG = re.compile(rb"<c(?=[\s>/])[^>]*>")


def _row_lacks(original: bytes, head_end: int, ref: bytes) -> bool:
    """Does the row whose head ends at ``head_end`` have no cell ``ref`` (r="B2"), every cell saying its
    reference? A cell without one stands at a place only its order tells (legal, and read so by Excel)."""
    end = original.find(b"</row>", head_end)
    end = end if end >= 0 else len(original)
    if original.count(b"<c", head_end, end) == original.count(b'<c r="', head_end, end):  # as every writer does
        return original.find(b"<c " + ref, head_end, end) < 0
    for tag in _CELL_TAG.finditer(original, head_end, end):
        found = _CELL_REF.search(tag.group(0))
        if found is None or found.group(0) == ref:
            return False
    return True


def _row_at(xml: bytes, at: int) -> int | None:
    """The number of the row whose tag starts at ``at``."""
    m = _ROW_NUMBER.match(xml, at)
    return int(m.group(1)) if m else None


def _spans_edit(original: bytes, edit: Edit, old: bytes, cells: dict, sheet: str, done: set) -> list[str]:
    before, after = _SPANS_VALUE.fullmatch(old), _SPANS_VALUE.fullmatch(edit.new)
    where = original.rfind(b"<row", 0, edit.start)
    if (before is None or after is None or where != edit.head or _row_at(original, where) != edit.row
            or original.find(b">", where, edit.start) >= 0 or (edit.row, edit.col) not in cells
            or not int(after.group(1)) <= min(int(before.group(1)), edit.col)
            or not int(after.group(2)) >= max(int(before.group(2)), edit.col)):
        return [f"{sheet}!row {edit.row}"]
    return []


def _row_edit(original: bytes, edit: Edit, old: bytes, cells: dict, sheet: str, done: set) -> list[str]:
    mine = {key: value for key, value in cells.items() if key[0] == edit.row}
    done.update(mine)
    row_new = _ROW_NUMBER.match(edit.new)
    row_old = _ROW_NUMBER.match(old) if old else row_new
    if row_new is None or row_old is None or {int(row_new.group(1)), int(row_old.group(1))} != {edit.row}:
        return [f"{sheet}!row {edit.row}"]
    return sheet_differences(old, edit.new, mine, sheet)


def _dimension_edit(original: bytes, edit: Edit, old: bytes, cells: dict, sheet: str, done: set) -> list[str]:
    before, after = _DIMENSION.fullmatch(old), _NEW_DIMENSION.fullmatch(edit.new)
    if before is None or after is None or original.find(b"<sheetData", 0, edit.start) >= 0:
        return [f"{sheet}!dimension"]
    c1, r1 = col_number(before.group(1).decode()), int(before.group(2))
    c2 = col_number(before.group(3).decode()) if before.group(3) else c1
    r2 = int(before.group(4)) if before.group(4) else r1
    n1, m1 = col_number(after.group(1).decode()), int(after.group(2))
    n2, m2 = col_number(after.group(3).decode()), int(after.group(4))
    rows, columns = [r for r, _ in cells] or [r1], [c for _, c in cells] or [c1]
    if not (n1 <= min(c1, *columns) and m1 <= min(r1, *rows) and n2 >= max(c2, *columns) and m2 >= max(r2, *rows)):
        return [f"{sheet}!dimension"]
    return []


def _sheet_edit(original: bytes, edit: Edit, old: bytes, cells: dict, sheet: str, done: set) -> list[str]:
    done.update(cells)
    return sheet_differences(old, edit.new, cells, sheet)


_CHECKS = {SPANS: _spans_edit, ROW: _row_edit, DIMENSION: _dimension_edit, SHEET: _sheet_edit}
_MISSING = object()


def _unchanged_hold(content: bytes, cells: dict[tuple[int, int], object], sheet: str) -> list[str]:
    """The cells of the patch the splice left as they were: each must already hold its value."""
    _, found = _skeleton(content, list(cells))
    out = []
    for (r, c), value in sorted(cells.items()):
        ref = f"{col_letters(c)}{r}".encode()
        if not _holds(found.get(ref), value.value if isinstance(value, Styled) else value):
            out.append(f"{sheet}!{ref.decode()} not written")
    return out
