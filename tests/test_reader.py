"""Workbooks from other writers and other layouts read the same."""

import datetime as dt
import shutil

import pytest
import xlsxwriter
from conftest import EXAMPLE, sha256

from coordxl.run.check import run_check

TODAY = dt.date(2026, 8, 20)
LAUNCH = EXAMPLE / "进行中" / "Q3新品上市推广.xlsx"
PLANTED = {("F-PERSON", "执行进度", "E10"), ("F-DATE", "执行进度", "F13"), ("R-ACTION-INCOMPLETE", "会议纪要", "F22"),
           ("R-MINUTES-24H", "会议纪要", "B14"), ("R-FOLLOWUP", "跟进会", "C7"), ("R-RESOURCE-REVIEW", "资源申请", "M5")}


def found(report, name):
    return {(f.code, f.sheet, f.cell) for f in report.findings if name in f.workbook}


def test_example_shows_exactly_its_planted_problems(example_root):
    report = run_check(example_root, TODAY)
    assert found(report, "Q3新品") == PLANTED
    assert {f.workbook for f in report.findings} == {"进行中/Q3新品上市推广.xlsx"}


def test_english_labels_title_rows_and_any_column_order(share_with_roster):
    path = share_with_roster / "进行中" / "english.xlsx"
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet("Tracker")
    ws.write(0, 0, "Q3 launch — tracker")
    ws.write(1, 0, "updated daily")
    ws.write_row(3, 0, ["Notes", "Status", "Owner", " Due ", "ID", "Task", "Department", "Delivery standard",
                        "Cost centre"])
    date = wb.add_format({"num_format": "yyyy/m/d"})
    ws.write_row(4, 0, ["", "Done", "张伟", None, "T1", "方案", "市场部", "方案PPT", "CC-1"])
    ws.write_datetime(4, 3, dt.datetime(2026, 8, 1), date)
    ws.write_row(5, 0, ["", "进行中", "陈晶", "2026年8月25日", "T2", "卖点", "产品部", "文档", ""])
    wb.close()
    report = run_check(share_with_roster, TODAY, keep_items=True)
    [item] = report.items
    assert [t["id"] for t in item.tasks] == ["T1", "T2"]
    assert item.tasks[0]["due"] == dt.date(2026, 8, 1) and item.tasks[1]["due"] == dt.date(2026, 8, 25)
    assert item.tasks[0]["status"] == "done"
    codes = found(report, "english")
    assert ("F-PERSON", "Tracker", "C6") in codes              # 陈晶, with its own sheet name and cell
    assert ("F-DONE-DATE", "Tracker", "I5") not in codes       # no 完成日期 column: not a finding per row
    hint = [f for f in report.findings if f.code == "F-PERSON"][0].hint_zh
    assert "陈静" in hint


def test_full_width_and_spaced_labels(share_with_roster):
    path = share_with_roster / "进行中" / "fullwidth.xlsx"
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet("执行 进度")
    ws.write_row(0, 0, ["编 号", "任务：", "负责部门", "＊负责人", "截止日期 ", "交付标准", "状态"])
    ws.write_row(1, 0, ["T1", "方案", "市场部", "张伟", "2026/9/1", "PPT", "进行中"])
    wb.close()
    [item] = run_check(share_with_roster, TODAY, keep_items=True).items
    assert item.tasks[0]["owner"] == "张伟" and item.tasks[0]["due"] == dt.date(2026, 9, 1)


@pytest.mark.parametrize("sheet_name", ["执行进度", "Sheet1"], ids=["named", "found-by-labels"])
def test_central_ledger_with_an_item_column(share_with_roster, sheet_name):
    from conftest import clean_launch, write_item
    d = clean_launch()
    del d["tasks"][9]  # the ledger holds the task for action 8 instead
    write_item(share_with_roster, d)
    path = share_with_roster / "进行中" / "总台账.xlsx"
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet(sheet_name)
    ws.write_row(0, 0, ["事项", "编号", "任务", "来源", "负责部门", "负责人", "截止日期", "交付标准", "状态", "开始日期"])
    ws.write_row(1, 0, ["Q3新品上市推广", "L1", "定价", "会议纪要#8", "销售部", "孙丽", "2026-09-01", "文件", "进行中",
                        "2026-09-05"])
    ws.write_row(2, 0, ["Q3新品上市推广", "L2", "培训", "会议纪要#5", "销售部", "孙楠", "2026-09-01", "课件", "进行中"])
    wb.close()
    report = run_check(share_with_roster, TODAY)
    assert not [f for f in report.findings if f.code == "R-BREAKDOWN"]  # action 8 found in the ledger
    ledger = found(report, "总台账")
    assert ("F-PERSON", sheet_name, "F3") in ledger
    assert ("F-DATE-ORDER", sheet_name, "G2") in ledger  # starts after its deadline
    # the ledger's rows count for the item they name, but their problems are the ledger's, at its cells
    assert found(report, "Q3新品") == set()
    assert not [f for f in report.findings if f.code == "W-MISSING-SHEET"]


@pytest.mark.libreoffice
@pytest.mark.parametrize("fmt,suffix,extra", [
    ("xlsx:Calc MS Excel 2007 XML", "xlsx", None),
    ("xls:MS Excel 97", "xls", "W-LEGACY"),
    ("ods", "ods", "W-LEGACY"),
])
def test_libreoffice_saved_workbooks_read_the_same(share_with_roster, soffice, fmt, suffix, extra):
    converted = soffice(LAUNCH, fmt)
    target = share_with_roster / "进行中" / f"Q3新品上市推广.{suffix}"
    shutil.copy(converted, target)
    before = sha256(target)
    report = run_check(share_with_roster, TODAY)
    codes = found(report, "Q3新品")
    assert PLANTED <= codes
    assert codes - PLANTED == ({("W-LEGACY", "", "")} if extra else set())
    assert sha256(target) == before


def test_xlsm_is_read_like_xlsx(share_with_roster):
    shutil.copy(LAUNCH, share_with_roster / "进行中" / "Q3新品上市推广.xlsm")
    assert found(run_check(share_with_roster, TODAY), "Q3新品") == PLANTED
