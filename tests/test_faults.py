"""Promises kept under an operator's bad day: text never becomes a formula, mail per recipient, TLS verified,
one job at a time, a state.db that cannot brick a folder."""

import datetime as dt

import openpyxl
import python_calamine
from click.testing import CliRunner

from coordxl.cli import main

TODAY = dt.date(2026, 8, 20)
NOW = dt.datetime(2026, 8, 20, 9, 0)


def test_new_writes_a_title_or_name_starting_with_equals_as_text(share_with_roster, soffice):
    wb = openpyxl.load_workbook(share_with_roster / "名册.xlsx")
    ws = wb["人员"]
    ws.append(["=HYPERLINK(\"http://x.example\",\"点我\")", "市场部", "x@corp.example", "李娜", "否", "是"])
    ws.cell(row=ws.max_row, column=1).data_type = "s"  # typed as text in the roster
    wb.save(share_with_roster / "名册.xlsx")
    result = CliRunner().invoke(main, ["new", "=1+2", "--root", str(share_with_roster), "--initiator", "张伟",
                                       "--today", "2026-08-20"])
    assert result.exit_code == 0, result.output
    [path] = (share_with_roster / "进行中").glob("*.xlsx")
    wb = openpyxl.load_workbook(path)
    formulas = [(ws.title, c.coordinate, c.value) for ws in wb.worksheets for row in ws.iter_rows() for c in row
                if c.data_type == "f"]
    assert formulas == []
    # a second reader sees the text itself, not a formula's result
    book = python_calamine.CalamineWorkbook.from_path(str(path))
    texts = {v for name in book.sheet_names for row in book.get_sheet_by_name(name).to_python() for v in row}
    assert "=1+2" in texts and "=HYPERLINK(\"http://x.example\",\"点我\")" in texts
    soffice(path)  # and LibreOffice opens it
