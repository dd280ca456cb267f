"""What every workbook coordxl generates shares: the header look, column widths, an A4 print setup
that fits the width, typed cell writing (text never turns into a formula) and the save that
never leaves a half-written file where people look.

Used by the validation report, the weekly summary, the retrospective draft, the archive index
and the templates. openpyxl is imported here, so modules that only read never load it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import html
import io
import os
import re
import zipfile
from dataclasses import dataclass
from dataclasses import field as dc_field
from pathlib import Path

from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter

from ..normalize import to_serial
from .xlsxparts import col_letters, sheet_part

HEADER_COLOR = "DDEBF7"
HEADER_FILL = PatternFill("solid", start_color=HEADER_COLOR)
HEADER_FONT = Font(bold=True)
LINK_FONT = Font(color="0563C1", underline="single")


def title_font(size: int = 12) -> Font:
    return Font(size=size, bold=True)


def put_text(ws, row: int, col: int, value) -> None:
    """Write a value as text: a cell starting with '=' stays text, never becomes a formula; a control
    character XML cannot hold (ESC from Excel's ``_x001B_`` in a staff cell) as its visible escape."""
    cell = ws.cell(row=row, column=col)
    cell.value = "" if value is None else xml_safe(str(value))
    cell.data_type = "s"


def put_value(ws, row: int, col: int, value, percent: bool = False):
    """Write a report value: text as text (never a formula), dates as yyyy-mm-dd, rates as percentages."""
    if isinstance(value, str):
        put_text(ws, row, col, value)
        return ws.cell(row=row, column=col)
    cell = ws.cell(row=row, column=col, value=value)
    if isinstance(value, dt.date):
        cell.number_format = "yyyy-mm-dd"
    elif percent:
        cell.number_format = "0%"
    return cell


def header(cells) -> None:
    """Bold on the header colour, for each cell of a header row."""
    for cell in cells:
        cell.font, cell.fill = HEADER_FONT, HEADER_FILL


def widths(ws, values, first: int = 1) -> None:
    """Column widths from column ``first`` on (works on write-only sheets before their first row too)."""
    for c, width in enumerate(values, start=first):
        ws.column_dimensions[get_column_letter(c)].width = width


def print_setup(ws, landscape: bool = True, title_row: int | None = None, centered: bool = False) -> None:
    """A4, as wide as the page and as long as it takes; the header row repeated on every page."""
    ws.page_setup.orientation = "landscape" if landscape else "portrait"
    ws.page_setup.paperSize = 9  # A4 (write-only sheets lack the PAPERSIZE_A4 name)
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    if centered:
        ws.print_options.horizontalCentered = True
    if title_row:
        ws.print_title_rows = f"{title_row}:{title_row}"


def save(wb, path: Path, bodies: "list[Body]" = ()) -> Path:
    """Save beside the target under a hidden temporary name, then replace it in one step: someone
    opening the file meanwhile gets the old one or the new one, never half of one. ``bodies``: long
    tables written into their sheets after openpyxl saved the rest (see :class:`Body`)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        saved = io.BytesIO()  # made in memory, then written: a full disk fails our write, which says where
        wb.save(saved)
        tmp.write_bytes(saved.getvalue())
        if bodies:
            _fill(tmp, bodies)
        os.replace(tmp, path)
    except OSError as exc:
        _close_streams(wb)
        if exc.filename is None:  # a write that failed (a full disk) names no file: it is this one
            raise OSError(exc.errno, exc.strerror, str(path)) from exc
        raise
    except BaseException:
        _close_streams(wb)
        raise
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _close_streams(wb) -> None:
    """End the streams of a write-only workbook that could not be saved (a read-only or full disk): left
    open, each prints an 'Exception ignored' traceback when Python collects it."""
    for ws in wb.worksheets:
        if hasattr(ws, "closed") and not ws.closed:
            with contextlib.suppress(Exception):
                ws.close()


# --- long tables, written as SpreadsheetML straight ----------------------------------------------
# openpyxl makes an object per cell (about 10 µs each: 7 s for the weekly's 740,000 list cells);
# a long list needs only text, numbers and dates in a handful of styles, so its rows are written
# as XML directly into the sheet openpyxl saved with its header, widths, filter and print setup.


@dataclass(frozen=True)
class Link:
    """A cell's text that links to ``target`` (a file, optionally with #'Sheet'!A1, or a web address)."""

    text: str
    target: str


@dataclass
class Body:
    """The rows of one write-only sheet below what openpyxl wrote there (its header), filled in by
    :func:`save`. Values: text (always text, never a formula), int/float, bool, date/datetime,
    :class:`Link`, '' or None (an empty cell). ``styles``: column (1-based) → a style made with
    :func:`style` for that column's non-empty cells; a date elsewhere takes ``date_style``."""

    ws: object
    first_row: int
    rows: list = dc_field(default_factory=list)
    styles: dict = dc_field(default_factory=dict)
    date_style: int | None = None


def style(ws, **look) -> int:
    """The workbook's index of a cell style (number_format=…, font=…): registered with openpyxl, so
    styles.xml holds it when the workbook is saved."""
    cell = WriteOnlyCell(ws, value=None)
    for key, value in look.items():
        setattr(cell, key, value)
    return cell.style_id


_ILLEGAL_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def xml_safe(value: str) -> str:
    r"""Text a worksheet can hold: what XML 1.0 forbids as a visible escape (never dropped, never a
    workbook that fails to save).

    >>> xml_safe("T03\x1b[2J")
    'T03\\x1b[2J'
    """
    return _ILLEGAL_XML.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), value)


_MARKUP = re.compile("[&<>\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")  # what escaping would change


def _text_cell(ref: str, style_attr: str, value: str) -> str:
    if _MARKUP.search(value) is None and not (value[:1].isspace() or value[-1:].isspace()):
        return f'<c r="{ref}"{style_attr} t="inlineStr"><is><t>{value}</t></is></c>'  # most cells: as is
    value = xml_safe(value)
    space = ' xml:space="preserve"' if value != value.strip() else ""
    return f'<c r="{ref}"{style_attr} t="inlineStr"><is><t{space}>{html.escape(value, quote=False)}</t></is></c>'


def _row_chunks(body: Body, links: list[tuple[str, str]], rows_per_chunk: int = 2000):
    """The <row> elements of a body as UTF-8 chunks of a few thousand rows (a list of 250,000 rows is
    never one string in memory); its links are added to ``links`` as (cell reference, target)."""
    out: list[str] = []
    width = max((len(r) for r in body.rows), default=0)
    # each column's letters and style attribute, worked out once, not per cell
    columns = [(col_letters(c), f' s="{body.styles[c]}"' if c in body.styles else "") for c in range(1, 1 + width)]
    date_attr = f' s="{body.date_style}"' if body.date_style is not None else ""
    serials: dict = {}  # each distinct date's serial number once: a long list repeats a few hundred dates
    for r, values in enumerate(body.rows, start=body.first_row):
        cells = []
        for (letter, attr), value in zip(columns, values):
            if value is None or value == "":
                continue
            ref = f"{letter}{r}"
            if isinstance(value, str):
                cells.append(_text_cell(ref, attr, value))
            elif isinstance(value, Link):
                cells.append(_text_cell(ref, attr, value.text))
                links.append((ref, value.target))
            elif isinstance(value, bool):
                cells.append(f'<c r="{ref}"{attr} t="b"><v>{int(value)}</v></c>')
            elif isinstance(value, (int, float)):
                cells.append(f'<c r="{ref}"{attr}><v>{value!r}</v></c>' if value == value and abs(value) != float("inf")
                             else _text_cell(ref, attr, str(value)))
            elif isinstance(value, dt.date):
                serial = serials.get(value)
                if serial is None:
                    serial = serials[value] = repr(to_serial(value))
                cells.append(f'<c r="{ref}"{attr or date_attr}><v>{serial}</v></c>')
            else:
                cells.append(_text_cell(ref, attr, str(value)))
        out.append(f'<row r="{r}">{"".join(cells)}</row>')
        if len(out) == rows_per_chunk:
            yield "".join(out).encode("utf-8")
            out.clear()
    if out:
        yield "".join(out).encode("utf-8")


def _links(body: Body) -> list[tuple[str, str]]:
    """A body's links, (cell reference, target), in the order :func:`_row_chunks` meets them."""
    letters: dict[int, str] = {}
    return [(f"{letters.setdefault(c, col_letters(c))}{r}", value.target)
            for r, values in enumerate(body.rows, start=body.first_row)
            for c, value in enumerate(values, start=1) if isinstance(value, Link)]


# where <hyperlinks> goes in a worksheet: before the first of these (ECMA-376 CT_Worksheet's order)
_AFTER_HYPERLINKS = re.compile(rb"<(?:printOptions|pageMargins|pageSetup|headerFooter|rowBreaks|colBreaks|"
                               rb"customProperties|cellWatches|ignoredErrors|smartTags|drawing|legacyDrawing|"
                               rb"legacyDrawingHF|picture|oleObjects|controls|webPublishItems|tableParts|extLst)\b"
                               rb"|</worksheet>")
_REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_HYPERLINK_REL = f"{_REL_NS}/hyperlink"


def _fill(path: Path, bodies: "list[Body]") -> None:
    """Write each body's rows (and links) into its sheet part of the saved workbook at ``path``: the
    new file is written beside it, each long sheet streamed into it chunk by chunk, then put in its place."""
    out = path.with_name(path.name + ".fill")
    try:
        with zipfile.ZipFile(path) as zin:
            sheets, rels = {}, {}
            for body in bodies:
                part = sheet_part(zin, body.ws.title)
                links = _links(body)
                sheets[part] = (body, _around_rows(zin.read(part), links))
                if links:
                    name = _rels_name(part)
                    rels[name] = _add_links_rels(zin.read(name) if name in zin.namelist() else None, links)
            with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
                for info in zin.infolist():
                    if info.filename in sheets:  # tens of MB of XML: the fastest compression, still small
                        body, (head, tail) = sheets[info.filename]
                        target = zipfile.ZipInfo(info.filename, info.date_time)
                        target.compress_type = zipfile.ZIP_DEFLATED
                        # ZipFile.open takes no level of its own (the attribute's name since Python 3.13, before)
                        setattr(target, "compress_level" if hasattr(target, "compress_level") else "_compresslevel", 1)
                        with zout.open(target, "w") as fh:
                            fh.write(head)
                            for chunk in _row_chunks(body, []):
                                fh.write(chunk)
                            fh.write(tail)
                    elif info.filename in rels:
                        zout.writestr(info.filename, rels.pop(info.filename))
                    else:
                        zout.writestr(info, zin.read(info))
                for name, data in rels.items():  # a sheet that had no relationships before
                    zout.writestr(name, data)
        os.replace(out, path)
    finally:
        out.unlink(missing_ok=True)


def _rels_name(part: str) -> str:
    folder, _, name = part.rpartition("/")
    return f"{folder}/_rels/{name}.rels"


def _around_rows(xml: bytes, links: list[tuple[str, str]]) -> tuple[bytes, bytes]:
    """A saved sheet's XML (its header row only) cut where the body's rows go: (before, after), with the
    body's links after its rows."""
    xml = re.sub(rb"<dimension\b[^>]*/>", b"", xml, count=1)  # optional; it would say only the header
    if b"<sheetData/>" in xml:
        xml = xml.replace(b"<sheetData/>", b"<sheetData></sheetData>", 1)
    at = xml.index(b"</sheetData>")
    head, tail = xml[:at], xml[at:]
    if links:
        if b"<hyperlinks" in xml:
            raise ValueError("a sheet with a long table has no other links")
        refs = "".join(f'<hyperlink xmlns:r="{_REL_NS}" ref="{ref}" r:id="rIdL{n}"/>'
                       for n, (ref, _) in enumerate(links, start=1))
        cut = _AFTER_HYPERLINKS.search(tail).start()
        tail = tail[:cut] + f"<hyperlinks>{refs}</hyperlinks>".encode("utf-8") + tail[cut:]
    return head, tail


def _add_links_rels(old: bytes | None, links: list[tuple[str, str]]) -> bytes:
    mine = "".join(f'<Relationship Type="{_HYPERLINK_REL}" Target="{html.escape(target)}" TargetMode="External" '
                   f'Id="rIdL{n}"/>' for n, (_, target) in enumerate(links, start=1))
    if old is None:
        return (f'<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">{mine}'
                f'</Relationships>').encode("utf-8")
    at = old.rindex(b"</Relationships>")
    return old[:at] + mine.encode("utf-8") + old[at:]
