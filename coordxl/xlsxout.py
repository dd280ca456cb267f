"""What every workbook coordxl generates shares: the header look, column widths, an A4 print setup
that fits the width, typed cell writing (text never turns into a formula) and the save that
never leaves a half-written file where people look.

Used by the validation report, the weekly summary, the retrospective draft, the archive index
and the templates. openpyxl is imported here, so modules that only read never load it.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter

HEADER_COLOR = "DDEBF7"
HEADER_FILL = PatternFill("solid", start_color=HEADER_COLOR)
HEADER_FONT = Font(bold=True)
LINK_FONT = Font(color="0563C1", underline="single")


def title_font(size: int = 12) -> Font:
    return Font(size=size, bold=True)


def put_text(ws, row: int, col: int, value) -> None:
    """Write a value as text: a cell starting with '=' stays text, never becomes a formula."""
    cell = ws.cell(row=row, column=col)
    cell.value = "" if value is None else str(value)
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


def save(wb, path: Path) -> Path:
    """Save beside the target under a hidden temporary name, then replace it in one step: someone
    opening the file meanwhile gets the old one or the new one, never half of one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        wb.save(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
