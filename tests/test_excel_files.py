"""The general sheet patch on workbooks Microsoft Excel saved (tests/data/excel/SOURCE.md).

Each file gets text, a number, a date (with a date style) and a cleared cell beside what it holds;
the protocol must write them, keep every other part's content byte-identical, and leave a file
that openpyxl (a second reader) and LibreOffice open with the values in place.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import openpyxl
import pytest

from coordxl.xlsx.writer import SheetPatch, Styled, write_patch
from coordxl.xlsx.xlsxparts import Fingerprint, col_number, sheet_names, sheet_part

EXCEL = Path(__file__).parent / "data" / "excel"
FILES = sorted(EXCEL.glob("*.xlsx"))
DAY = dt.date(2026, 8, 20)


def _free_columns(path: Path, sheet: str) -> tuple[int, int]:
    """The first column right of the sheet's used range, and its last used row."""
    with zipfile.ZipFile(path) as zf:
        xml = zf.read(sheet_part(zf, sheet))
    refs = re.findall(rb'<c r="([A-Z]+)(\d+)"', xml)
    last_col = max((col_number(c.decode()) for c, _ in refs), default=1)
    last_row = max((int(r) for _, r in refs), default=1)
    return last_col + 2, last_row  # one empty column between, as a person would leave it


def _date_style(path: Path) -> int:
    """A cellXfs index whose number format is a date (built-in 14), added by no one: found or 0."""
    with zipfile.ZipFile(path) as zf:
        styles = zf.read("xl/styles.xml")
    xfs = re.search(rb"<cellXfs[^>]*>(.*?)</cellXfs>", styles, re.S)
    for i, xf in enumerate(re.findall(rb"<xf\b[^>]*>", xfs.group(1) if xfs else b"")):
        if re.search(rb'numFmtId="(14|15|16|17|22)"', xf):
            return i
    return 0


def _patch(path: Path, tmp_path: Path):
    sheet = sheet_names(path)[0]
    col, last_row = _free_columns(path, sheet)
    date_style = _date_style(path)
    cells = {(1, col): "逾期3个工作日 <&> \"quoted\"", (2, col): 42, (3, col): 2.5,
             (4, col): Styled(DAY, date_style) if date_style else DAY, (5, col): "", (1, col + 1): "预警"}
    patch = SheetPatch(path, path.name, sheet, cells, Fingerprint.of(path))
    return sheet, col, write_patch(patch, tmp_path / "backups"), date_style


@pytest.mark.parametrize("source", FILES, ids=[p.stem for p in FILES])
def test_an_excel_saved_workbook_takes_a_patch_and_keeps_everything_else(source, tmp_path):
    path = tmp_path / source.name
    shutil.copy(source, path)
    sheet, col, result, date_style = _patch(path, tmp_path)
    assert result.written and not result.findings, (result.reason, [f.message_en for f in result.findings])
    with zipfile.ZipFile(source) as before, zipfile.ZipFile(path) as after:
        part = sheet_part(before, sheet)
        assert sorted(before.namelist()) == sorted(after.namelist())
        changed = [n for n in before.namelist() if before.read(n) != after.read(n)]
        assert changed == [part]
    ws = openpyxl.load_workbook(path)[sheet]  # a second reader
    assert ws.cell(1, col).value == "逾期3个工作日 <&> \"quoted\""
    assert ws.cell(2, col).value == 42 and ws.cell(3, col).value == 2.5
    shown = ws.cell(4, col).value
    assert shown == dt.datetime.combine(DAY, dt.time()) if date_style else shown == 46254
    assert ws.cell(5, col).value is None and ws.cell(1, col + 1).value == "预警"


def test_a_formula_cell_in_a_patch_is_left_alone_and_the_rest_is_written(tmp_path):
    path = tmp_path / "array_formula01.xlsx"
    shutil.copy(EXCEL / path.name, path)
    sheet = sheet_names(path)[0]
    formula_at = openpyxl.load_workbook(path)[sheet]["A1"].value.text  # an array formula
    assert formula_at.startswith("=")
    patch = SheetPatch(path, path.name, sheet, {(1, 1): "x", (1, 6): "y"}, Fingerprint.of(path))
    result = write_patch(patch, tmp_path / "backups")
    assert result.written and result.formula_cells == [(1, 1)]
    assert [f.code for f in result.findings] == ["W-FORMULA"]
    ws = openpyxl.load_workbook(path)[sheet]
    assert ws["A1"].value.text == formula_at and ws["F1"].value == "y"


def test_a_sheet_in_a_prefixed_namespace_is_refused_and_left_byte_identical(tmp_path):
    """Some producers (the .NET Open XML SDK) write <x:worksheet><x:sheetData>: valid, but the patch
    does not splice it; it says so (W-LOSSY) and writes nothing."""
    path = tmp_path / "prefixed.xlsx"
    with zipfile.ZipFile(EXCEL / "types01.xlsx") as zin, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename == "xl/worksheets/sheet1.xml":
                data = data.replace(b'<worksheet xmlns="', b'<x:worksheet xmlns:x="').replace(b"</worksheet>", b"</x:worksheet>")
                data = re.sub(rb"<(/?)(?!x:|\?)([A-Za-z]+)", rb"<\1x:\2", data)
            zout.writestr(info, data)
    assert openpyxl.load_workbook(path).sheetnames  # a reader takes it
    before = path.read_bytes()
    result = write_patch(SheetPatch(path, path.name, "Sheet1", {(1, 5): "x"}, Fingerprint.of(path)),
                         tmp_path / "backups")
    assert not result.written and [f.code for f in result.findings] == ["W-LOSSY"]
    assert path.read_bytes() == before


@pytest.mark.libreoffice
def test_libreoffice_opens_every_patched_excel_file_with_the_values_in_place(soffice, tmp_path):
    from conftest import _soffice  # the fixture above makes sure it is there; one process converts them all

    written = tmp_path / "patched"
    written.mkdir()
    columns = {}
    for source in FILES:
        path = written / source.name
        shutil.copy(source, path)
        sheet, col, result, _ = _patch(path, tmp_path / source.stem)
        assert result.written, source.name
        columns[source.stem] = col
    out = tmp_path / "csv"
    subprocess.run([_soffice(), f"-env:UserInstallation=file://{tmp_path / 'profile'}", "--headless", "--convert-to", "csv:Text - txt - csv (StarCalc):44,34,76",
                    "--outdir", str(out), *map(str, sorted(written.glob("*.xlsx")))],
                   check=True, capture_output=True, timeout=300)
    for stem, col in columns.items():
        rows = list(csv.reader((out / f"{stem}.csv").open(encoding="utf-8")))
        assert rows[0][col - 1] == "逾期3个工作日 <&> \"quoted\"", stem
        assert rows[1][col - 1] == "42" and rows[2][col - 1] == "2.5", stem
        assert rows[0][col] == "预警", stem
