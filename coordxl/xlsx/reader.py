"""Read staff workbooks fast with python-calamine: raw values with their Excel cells.

:func:`read_workbook` is the entry: it opens the file (:mod:`.diagnose`: what kind of file it is, and
why it cannot be read) and reads each sheet it recognizes (:mod:`.recognize`: which document a sheet
is, its header row, its table and form). :func:`identity` is a quick look at which item a workbook says
it is. Nothing here judges values: :mod:`coordxl.normalize` and :mod:`coordxl.process.rules` do.
"""

from __future__ import annotations

import functools
import io
import os
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import python_calamine as calamine

from .. import schema
from ..findings import finding
from .diagnose import OLE_MAGIC, ZIP_MAGIC, open_workbook, short_error
from .recognize import (
    FormData,
    TableData,
    WorkbookData,
    _progress_labels,
    choose_sheets,
    classify,
    fill_merged,
    label_key,
    name_matches,
    read_sheet,
)
from .xlsxparts import a1, sheet_names

__all__ = ["FormData", "Identity", "TableData", "WorkbookData", "_progress_labels", "a1", "identity", "label_key",
           "name_matches", "open_workbook", "read_workbook", "sheet_rows", "table_rows"]


@dataclass(frozen=True)
class Identity:
    """Which item a workbook says it is: its sheet names and its 需求单's topic, initiator and sent date
    (folded for comparing; empty when the workbook has no request form)."""

    sheets: tuple[str, ...]
    topic: str = ""
    initiator: str = ""
    sent_on: str = ""


def identity(path: Path, max_unzipped_bytes: int) -> Identity | None:
    """A quick look at a workbook (its sheet names, and only the request form's cells); None when it
    cannot be opened. A workbook without a sheet named as a request form is not opened by calamine."""
    try:
        if os.stat(path).st_size > max_unzipped_bytes:  # never read into memory; the full read names it
            return None
        raw = Path(path).read_bytes()
        if raw.startswith(ZIP_MAGIC):
            with zipfile.ZipFile(io.BytesIO(raw)) as zf:
                if sum(info.file_size for info in zf.infolist()) > max_unzipped_bytes:
                    return None
                names = sheet_names(zf)
            if names and not any(name_matches(n, schema.REQUEST) for n in names):
                return Identity(tuple(label_key(n) for n in names))  # a ledger, say: no calamine needed
        elif not raw.startswith(OLE_MAGIC):
            return None
        wb = calamine.CalamineWorkbook.from_filelike(io.BytesIO(raw))
    except Exception:  # not a workbook, damaged: the full read says why
        return None
    try:
        names = [m.name for m in wb.sheets_metadata if m.typ == calamine.SheetTypeEnum.WorkSheet]
        sheets = tuple(label_key(n) for n in names)
        request = next((n for n in names if name_matches(n, schema.REQUEST)), None)
        if request is None:
            return Identity(sheets)
        values = _identity_values(sheet_rows(wb, request)[0])
    except Exception:
        return None
    finally:
        wb.close()
    return Identity(sheets, *(schema.fold(values.get(key) or "") for key in IDENTITY_FIELDS))


IDENTITY_FIELDS = ("topic", "initiator", "sent_on")


@functools.lru_cache(maxsize=None)
def _identity_labels() -> dict[str, str]:
    assert schema.REQUEST.form is not None
    return {label_key(s): f.key for f in schema.REQUEST.form.fields if f.key in IDENTITY_FIELDS
            for s in f.spellings()}


def _identity_values(rows: list[list[Any]]) -> dict[str, Any]:
    """The request form's topic, initiator and sent date as :func:`_read_form` finds them: the first
    cell labelled so, and the next non-empty cell to its right."""
    labels = _identity_labels()
    values: dict[str, Any] = {}
    for row in rows:
        for c, value in enumerate(row):
            key = labels.get(label_key(value))
            if key and key not in values:
                values[key] = next((v for v in row[c + 1:] if v != "" and v is not None), "")
        if len(values) == len(IDENTITY_FIELDS):
            break
    return values


def sheet_rows(wb, name: str) -> tuple[list[list[Any]], list]:
    """A sheet's cells from A1, and its merged ranges ((row, col), (row, col)), 0-based, inclusive."""
    sheet = wb.get_sheet_by_name(name)
    return sheet.to_python(skip_empty_area=False), sheet.merged_cell_ranges or []


def read_workbook(path: Path, candidates: tuple[schema.Sheet, ...], max_unzipped_bytes: int,
                  display: str | None = None) -> WorkbookData:
    """Read every sheet of a workbook that matches one of ``candidates``; problems become findings."""
    wb, out = open_workbook(path, max_unzipped_bytes, display)
    if wb is None:
        return out
    try:
        metas = wb.sheets_metadata
        for meta in metas:
            if meta.typ != calamine.SheetTypeEnum.WorkSheet or schema.fold(meta.name) in schema.GUIDE_NAMES:
                continue  # a chart sheet; the templates' 填写说明, which lists every column label
            try:
                stored, ranges = sheet_rows(wb, meta.name)
                rows, merged = fill_merged(stored, ranges)
            except Exception as exc:
                out.findings.append(finding("W-UNREADABLE", out.name, sheet=meta.name, reason="corrupt",
                                            detail=short_error(exc)))
                continue
            sheet = classify(meta.name, rows, candidates)
            if sheet is None:
                continue
            hidden = meta.visible != calamine.SheetVisibleEnum.Visible
            out.sheets.setdefault(sheet.key, []).append(
                read_sheet(rows, sheet, meta.name, hidden, stored, merged, table_rows(wb, out.tables, meta.name)))
        choose_sheets(out)
    except Exception as exc:
        out.findings.append(finding("W-UNREADABLE", out.name, reason="corrupt", detail=short_error(exc)))
    finally:
        wb.close()
    return out


def table_rows(wb, tables: dict[str, tuple], sheet_name: str) -> frozenset[int]:
    """0-based rows of a sheet that an Excel table names as its header or its Total Row: never records."""
    rows: set[int] = set()
    for name, (ref, headers, totals) in tables.items():
        try:
            if wb.get_table_by_name(name).sheet != sheet_name:
                continue
            top, bottom = (int(re.sub(r"[^0-9]", "", corner)) - 1 for corner in ref.split(":"))
        except Exception:  # an odd table part: read the sheet as if it had none
            continue
        rows |= set(range(top, top + headers)) | set(range(bottom - totals + 1, bottom + 1))
    return frozenset(rows)
