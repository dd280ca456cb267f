"""Files written by real office programs (tests/corpus/, sources in its SOURCE.md): each gets its true
message, is never modified, never stops the other workbooks; an Excel-saved workbook takes flags losslessly."""

import datetime as dt
import io
import json
import shutil
import zipfile
from pathlib import Path

import openpyxl
import pytest
import python_calamine
from click.testing import CliRunner
from conftest import sha256

from coordxl.cli import main
from coordxl.normalize import from_serial
from coordxl.process.normalizer import DAYS_1900_TO_1904
from coordxl.xlsx.reader import open_workbook

CORPUS = Path(__file__).resolve().parent / "corpus"
NOW = dt.datetime(2026, 8, 20, 9, 0)

UNREADABLE = {
    "password_2002_40_xor.xls": "密码",          # Excel 2002, XOR obfuscation
    "password_2002_128_strong.xls": "密码",      # Excel 2002, RC4 CryptoAPI
    "biff5_password_2002_40_xor.xls": "密码",    # Excel 5.0/95
    "password_libreoffice74.ods": "密码",        # LibreOffice, ODF encryption
    "BlankSheetTypes.xlsm": "宏表",              # an Excel 4.0 macro sheet and a dialog sheet
}


def test_each_unreadable_file_gets_its_true_reason_and_the_run_goes_on(example_root):
    for name in UNREADABLE:
        shutil.copy(CORPUS / name, example_root / "进行中" / name)
    before = {name: sha256(example_root / "进行中" / name) for name in UNREADABLE}
    result = CliRunner().invoke(main, ["check", str(example_root), "--today", "2026-08-20", "--json", "--no-report"])
    report = json.loads(result.output)
    for name, word in UNREADABLE.items():
        found = [f for f in report["findings"] if f["workbook"] == f"进行中/{name}"]
        assert [f["code"] for f in found] == ["W-UNREADABLE"], (name, found)  # no "read, never written" either
        assert word in found[0]["message"] and "损坏" not in found[0]["message"], found[0]["message"]
    assert report["summary"]["unreadable"] == len(UNREADABLE)
    assert report["summary"]["items"] == 3  # the example's own items were all read
    daily = CliRunner().invoke(main, ["daily", str(example_root), "--today", "2026-08-20"])
    assert daily.exit_code == 0 and isinstance(daily.exception, (SystemExit, type(None))), daily.output
    assert {name: sha256(example_root / "进行中" / name) for name in UNREADABLE} == before
    assert list((example_root / ".coordxl" / "outbox").rglob("*.eml"))  # the others were reminded


@pytest.mark.parametrize("kind", ["xlsx", "xls"])
def test_excel_s_1904_date_system_is_detected_in_both_formats(kind):
    """Column A holds serials, column B the same cells formatted as dates, as Excel computed them."""
    for system, expected in (("1900", False), ("1904", True)):
        wb, data = open_workbook(CORPUS / f"date_{system}.{kind}", 2**29)
        assert data.date1904 is expected
        rows = wb.get_sheet_by_index(0).to_python()
        for serial, as_date, *_ in rows[:5]:
            ours = from_serial(serial + (DAYS_1900_TO_1904 if data.date1904 else 0))
            if serial >= 61 or expected:  # Excel's 1900 system has its fictitious 1900-02-29
                assert ours.date() == as_date, (system, kind, serial)


def test_an_excel_saved_workbook_takes_flags_losslessly(tmp_path, soffice):
    from coordxl.xlsx.writer import FlagWrite, write_flags
    from coordxl.xlsx.xlsxparts import Fingerprint
    path = tmp_path / "date_1904.xlsx"
    shutil.copy(CORPUS / "date_1904.xlsx", path)
    original = path.read_bytes()
    job = FlagWrite(path, path.name, "Sheet1", 5, 1, {2: "逾期2个工作日", 4: "受阻"}, Fingerprint.of(path))
    result = write_flags(job, tmp_path / "backups", now=NOW)
    assert result.written and result.findings == []
    with zipfile.ZipFile(path) as new, zipfile.ZipFile(result.backup) as old:
        assert new.namelist() == old.namelist()
        changed = [n for n in new.namelist() if new.read(n) != old.read(n)]
        assert changed == ["xl/worksheets/sheet1.xml"]
    before = python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(original)).get_sheet_by_index(0)
    after = python_calamine.CalamineWorkbook.from_path(str(path)).get_sheet_by_index(0).to_python()
    for r, row in enumerate(before.to_python(), start=1):
        assert after[r - 1][:4] == row[:4]  # every cell Excel wrote reads the same, dates in the 1904 system too
    assert after[1][4] == "逾期2个工作日" and after[3][4] == "受阻"
    ws = openpyxl.load_workbook(path).worksheets[0]  # a second reader agrees
    assert ws["E2"].value == "逾期2个工作日" and ws["E4"].value == "受阻"
    soffice(path)  # and LibreOffice opens it
