"""Checking a patched sheet against the original: every other byte kept, each patched cell holding
what was meant."""

from __future__ import annotations

import datetime as dt
import html
import re

from ..normalize import to_serial
from .splice import _CELL_START, Styled, _locate_row
from .xlsxparts import _CELL, PatchError, col_letters

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
