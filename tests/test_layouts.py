"""Trackers as staff really lay them out, saved by LibreOffice: merged cells, several owners, section and
total rows, status variants and percentages, two-level headers, deadlines on holidays."""

import datetime as dt
import email
import re
import shutil
import zipfile
from email import policy
from pathlib import Path

import openpyxl
import python_calamine
from conftest import clean_launch, write_item

from coordxl.run.check import run_check
from coordxl.run.daily import run_daily
from coordxl.run.weekly import run_weekly

TODAY = dt.date(2026, 8, 20)
NOW = dt.datetime(2026, 8, 20, 9, 0)
ROW = {f"T{n:02d}": n + 2 for n in range(1, 15)}  # header in row 2: T01 is row 3


def saved_by_libreoffice(soffice, path: Path) -> Path:
    shutil.copy(soffice(path, "xlsx:Calc MS Excel 2007 XML"), path)
    return path


def tracker_workbook(root: Path, change, d=None, name=None) -> Path:
    """The clean launch item, its 执行进度 sheet changed as a colleague would, saved by LibreOffice (later)."""
    path = write_item(root, d or clean_launch(), name)
    wb = openpyxl.load_workbook(path)
    change(wb["执行进度"], wb)
    wb.save(path)
    return path


def flags(path: Path, col: str = "M", sheet: str = "执行进度") -> dict[int, str]:
    ws = openpyxl.load_workbook(path)[sheet]
    return {r: ws[f"{col}{r}"].value for r in range(3, 30) if ws[f"{col}{r}"].value}


def digests(root: Path, day: dt.date = TODAY) -> dict[str, str]:
    out = {}
    for p in sorted((root / ".coordxl" / "outbox" / day.isoformat()).glob("*.eml")):
        msg = email.message_from_bytes(p.read_bytes(), policy=policy.default)
        if msg["X-Coordxl-Kind"] == "digest":
            out[msg["To"].addresses[0].username] = msg.get_body(("plain",)).get_content()
    return out


def escalations(root: Path) -> dict[str, str]:
    """Each escalation mail's recipient and its text."""
    out = {}
    for p in sorted((root / ".coordxl" / "outbox" / TODAY.isoformat()).glob("*.eml")):
        msg = email.message_from_bytes(p.read_bytes(), policy=policy.default)
        if msg["X-Coordxl-Kind"] == "escalation":
            assert msg["To"].addresses[0].username not in out  # one escalation mail per recipient
            out[msg["To"].addresses[0].username] = msg.get_body(("plain",)).get_content()
    return out


def weekly_sheet(root: Path, title: str) -> list[list]:
    [path] = (root / "报告").glob("周报-*.xlsx")
    return python_calamine.CalamineWorkbook.from_path(str(path)).get_sheet_by_name(title).to_python()


# --- 1. merged cells ---------------------------------------------------------------------

def _merged(ws, wb):
    ws[f"D{ROW['T07']}"] = None
    ws.merge_cells(f"D{ROW['T06']}:D{ROW['T07']}")        # 销售部 over its two tasks
    ws[f"G{ROW['T11']}"] = None
    ws.merge_cells(f"G{ROW['T10']}:G{ROW['T11']}")        # one 截止日期 (08-07) over two tasks
    ws[f"F{ROW['T11']}"] = dt.date(2026, 7, 27)          # T11 starts before that deadline
    ws[f"E{ROW['T01']}"], ws[f"E{ROW['T02']}"] = "陈晶", None  # a typo inside a merged range
    ws.merge_cells(f"E{ROW['T01']}:E{ROW['T02']}")


def test_merged_cells_apply_to_every_row_they_cover(share_with_roster, soffice):
    path = saved_by_libreoffice(soffice, tracker_workbook(share_with_roster, _merged))
    report = run_check(share_with_roster, TODAY)
    dept_or_due = [f for f in report.findings if f.code == "F-REQUIRED"]
    assert dept_or_due == []  # the covered cells are not empty
    [typo] = [f for f in report.findings if f.code == "F-PERSON"]
    assert typo.cell == f"E{ROW['T01']}" and typo.hint_zh == "您是否指“陈静”？"  # once, at the top-left cell
    run_daily(share_with_roster, TODAY, NOW)
    # T11 (due 09-04 in the clean item) now shares T10's merged deadline 08-07: 9 working days late
    assert flags(path)[ROW["T11"]] == "逾期·已升级（截止08-07）"
    assert "T11 KOL投放合作洽谈" in digests(share_with_roster)["liuyang"]
    run_weekly(share_with_roster, TODAY, NOW)
    by_dept = weekly_sheet(share_with_roster, "总览")
    departments = {r[0] for r in by_dept if r and r[0] in ("销售部", "-", "")}
    assert "销售部" in departments and "-" not in departments
    [item] = run_check(share_with_roster, TODAY, keep_items=True).items
    department = dict(zip(item.tasks.column("id"), item.tasks.column("department")))
    assert department["T06"] == department["T07"] == "销售部"


# --- 2. several owners, owners written with their department -------------------------------

def test_several_owners_in_one_cell_are_each_reminded(share_with_roster, soffice):
    d = clean_launch()
    d["tasks"][2]["owner"] = "冯雪、郑爽"            # T03, 9 working days late
    d["tasks"][5]["owner"] = "孙丽/周强"             # T06, 4 days late
    d["tasks"][11]["owner"] = "市场部-张伟"          # T12, due today
    d["tasks"][9]["owner"] = "孙丽(设计部)"          # T10: 孙丽 is in 销售部
    d["tasks"][6]["owner"] = "周强，陈晶"            # T07: one of them mistyped
    d["resources"][0]["reviewer"] = "李娜、张伟"     # one person decides
    path = saved_by_libreoffice(soffice, write_item(share_with_roster, d))
    result = run_daily(share_with_roster, TODAY, NOW)
    mails = digests(share_with_roster)
    assert "T03 包装设计定稿" in mails["fengxue"] and "T03 包装设计定稿" in mails["zhengshuang"]
    assert "T06 重点渠道铺货清单" in mails["sunli"] and "T06 重点渠道铺货清单" in mails["zhouqiang"]
    assert "T12 门店陈列物料下单" in mails["zhangwei"]
    assert "T10 新品定价方案" in mails["sunli"]
    # T03 (9 days late) escalates to 郑爽's manager 王海, the initiator 张伟 and the decision maker 王海;
    # 冯雪's manager is 郑爽, who owns T03 too and hears of it once, as an owner
    assert "T03 包装设计定稿 | 截止日期 2026-08-07 | 已升级告知 王海、张伟" in mails["zhengshuang"]
    assert "T03 包装设计定稿 | 截止日期 2026-08-07 | 已升级告知 张伟、王海" in mails["fengxue"]
    told = escalations(share_with_roster)
    assert sorted(told) == ["wanghai", "zhangwei"]
    assert told["wanghai"].count("T03 包装设计定稿") == 1 and "负责人 冯雪、郑爽" in told["wanghai"]
    persons = {(f.cell, f.message_zh, f.hint_zh) for f in result.findings if f.code == "F-PERSON"}
    assert (f"E{ROW['T07']}", "“陈晶”不在名册中（负责人）", "您是否指“陈静”？") in persons  # per name
    dept = [m for c, m, _ in persons if c == f"E{ROW['T10']}"]
    assert dept == ["“孙丽(设计部)”写的部门与名册不符：名册中孙丽属于销售部"]
    several = [f for f in result.findings if f.message_zh.startswith("“审核人”只能填写一人")]
    assert len(several) == 1 and several[0].is_error
    assert flags(path)[ROW["T03"]] == "逾期·已升级（截止08-07）"


# --- 3. section rows and total rows ---------------------------------------------------------

def _sections(ws, wb):
    ws["A17"] = "二、收尾工作"                     # a section label
    ws["A18"], ws["B18"], ws["I18"] = "T15", "发布会复盘材料", "未开始"  # a task missing four fields
    ws["A19"], ws["B19"] = "合计", "15项"           # a total row


def test_section_and_total_rows_are_not_tasks(share_with_roster, soffice):
    path = saved_by_libreoffice(soffice, tracker_workbook(share_with_roster, _sections))
    report = run_check(share_with_roster, TODAY)
    assert report.task_count == 15 and report.summary()["skipped_rows"] == 2
    required = [f for f in report.findings if f.code == "F-REQUIRED"]
    assert [(f.cell, f.message_zh) for f in required] == [("D18", "第18行缺少：负责部门、负责人、截止日期、交付标准")]
    result = run_daily(share_with_roster, TODAY, NOW)
    assert 17 not in flags(path) and 19 not in flags(path)
    assert flags(path)[18] == "待修正：负责人、截止日期"
    initiator = digests(share_with_roster)["zhangwei"]
    assert initiator.count("F-REQUIRED") == 1 and "第18行缺少：负责部门、负责人、截止日期、交付标准" in initiator
    assert result.report.summary()["skipped_rows"] == 2


# --- 4. status variants and percentages ----------------------------------------------------

def _statuses(ws, wb):
    ws[f"I{ROW['T03']}"] = "进行中(80%)"
    ws[f"I{ROW['T06']}"] = "完成90%"
    ws[f"I{ROW['T07']}"], ws[f"J{ROW['T07']}"] = "已完成√", dt.datetime(2026, 8, 19)
    ws[f"I{ROW['T12']}"], ws[f"J{ROW['T12']}"] = "100%", dt.datetime(2026, 8, 20)
    ws[f"I{ROW['T10']}"] = "0%"
    ws[f"I{ROW['T09']}"] = "完成（待验收）"
    ws[f"J{ROW['T09']}"] = dt.datetime(2026, 8, 19)
    ws[f"I{ROW['T11']}"] = "搞定了"


def test_status_variants_and_percentages(share_with_roster, soffice):
    path = saved_by_libreoffice(soffice, tracker_workbook(share_with_roster, _statuses))
    report = run_check(share_with_roster, TODAY)
    enums = [(f.cell, f.code) for f in report.findings if f.code in ("F-ENUM", "F-DONE-DATE")]
    assert enums == [(f"I{ROW['T11']}", "F-ENUM")]  # only the unrecognised one
    run_daily(share_with_roster, TODAY, NOW)
    got = flags(path)
    assert got[ROW["T03"]] == "逾期·已升级（截止08-07）" and got[ROW["T06"]] == "逾期·已升级（截止08-14）"
    assert ROW["T07"] not in got and ROW["T12"] not in got and ROW["T09"] not in got  # done
    assert got[ROW["T10"]] == "逾期·已升级（截止08-07）"  # 0%: not started, still late
    assert got[ROW["T11"]] == "待修正：状态"
    mails = digests(share_with_roster)
    assert re.search(r"T03 包装设计定稿 \| 截止日期 2026-08-07 \| 进度 80%", mails["fengxue"])
    assert "进度 90%" in mails["sunli"]
    run_weekly(share_with_roster, TODAY, NOW)
    overdue = {r[1]: r for r in weekly_sheet(share_with_roster, "逾期清单")[1:]}
    assert overdue["T03"][7] == 0.8 and overdue["T06"][7] == 0.9 and overdue["T10"][7] == 0


def test_a_progress_column_drives_the_weekly_progress_when_every_open_task_has_one(share_with_roster, soffice):
    def progress(ws, wb):
        ws["N2"] = "完成率"
        for task, value in {"T03": 0.5, "T06": "60%", "T07": 0.2, "T08": 0.4, "T09": 0.9, "T10": 0.1,
                            "T11": 0, "T12": 0.8}.items():
            ws[f"N{ROW[task]}"] = value
    saved_by_libreoffice(soffice, tracker_workbook(share_with_roster, progress))
    run_weekly(share_with_roster, TODAY, NOW)
    overview = weekly_sheet(share_with_roster, "总览")
    [line] = [r for r in overview if r and r[0] == "Q3新品上市推广协调"]
    # 5 done + open (0.5+0.6+0.2+0.4+0.9+0.1+0+0.8) over 13 tasks that are not cancelled
    assert abs(line[3] - (5 + 3.5) / 13) < 1e-6


# --- 5. two-level headers ------------------------------------------------------------------

def _two_level(ws, wb):
    ws.unmerge_cells("A1:M1")
    ws.insert_rows(3)
    for col in "ABCHIJKLM":
        ws[f"{col}3"] = None
        ws.merge_cells(f"{col}2:{col}3")
    ws["D2"], ws["E2"], ws["F2"], ws["G2"] = "责任", None, "时间节点", None
    ws.merge_cells("D2:E2")
    ws.merge_cells("F2:G2")
    ws["D3"], ws["E3"], ws["F3"], ws["G3"] = "部门", "负责人", "开始", "截止"
    ws.merge_cells("A1:M1")


def test_two_level_headers(share_with_roster, soffice):
    path = saved_by_libreoffice(soffice, tracker_workbook(share_with_roster, _two_level))
    report = run_check(share_with_roster, TODAY)
    assert [f for f in report.findings if f.code == "W-HEADER"] == []
    assert report.task_count == 14
    run_daily(share_with_roster, TODAY, NOW)
    got = flags(path)
    assert got[ROW["T03"] + 1] == "逾期·已升级（截止08-07）" and got[ROW["T12"] + 1] == "今日到期"


# --- 6. deadlines on non-working days ------------------------------------------------------

def test_a_deadline_on_a_holiday_is_due_on_the_working_day_before(share_with_roster, soffice):
    d = clean_launch()
    d["tasks"][6].update(due=dt.date(2026, 10, 1), updated_on=dt.date(2026, 9, 29))  # T07, 国庆
    d["tasks"][11].update(due=dt.date(2026, 10, 5), updated_on=dt.date(2026, 9, 29))  # T12, still in the holiday
    for i, t in enumerate(d["tasks"]):  # everything else finished, so only these two speak
        if i not in (6, 11):
            t.update(status="done", done_on=t["done_on"] or dt.date(2026, 8, 19))
    path = saved_by_libreoffice(soffice, write_item(share_with_roster, d))
    seen = {}
    for day in (dt.date(2026, 9, 24), dt.date(2026, 9, 29), dt.date(2026, 9, 30), dt.date(2026, 10, 8)):
        run_daily(share_with_roster, day, dt.datetime.combine(day, dt.time(9)))
        seen[day] = (flags(path).get(ROW["T07"]), digests(share_with_roster, day).get("zhouqiang", ""))
    # three working days ahead of 09-30 (the lead time counts back from the working day before 10-01)
    assert seen[dt.date(2026, 9, 24)][0] is None and "3个工作日后到期（截止日10-01为假日）" in seen[dt.date(2026, 9, 24)][1]
    assert seen[dt.date(2026, 9, 29)][0] == "2个工作日内到期（截止日10-01为假日）"
    assert "1个工作日后到期（截止日10-01为假日）" in seen[dt.date(2026, 9, 29)][1]
    assert seen[dt.date(2026, 9, 30)][0] == "今日到期（截止日10-01为假日）"
    assert "今日到期（截止日10-01为假日）" in seen[dt.date(2026, 9, 30)][1]
    assert seen[dt.date(2026, 10, 8)][0] == "逾期（截止10-01）"  # late from the day after the real deadline
    assert flags(path).get(ROW["T12"]) == "逾期（截止10-05）"  # due 10-05 (holiday): one working day late on 10-08
    everything = "\n".join(text for day in seen for text in digests(share_with_roster, day).values())
    assert "0个工作日" not in everything


# --- all of it in one workbook: the example's real-life tracker, saved by LibreOffice ---------

def test_the_real_life_example_tracker_through_libreoffice(share_with_roster, soffice):
    from conftest import EXAMPLE
    path = share_with_roster / "进行中" / "华东门店焕新.xlsx"
    shutil.copy(EXAMPLE / "进行中" / path.name, path)
    saved_by_libreoffice(soffice, path)
    report = run_check(share_with_roster, TODAY)
    assert report.findings == [] and report.task_count == 4 and report.summary()["skipped_rows"] == 3
    result = run_daily(share_with_roster, TODAY, NOW)
    # H1 (郑爽、冯雪, 设计部 merged over H1:H2) is due Monday; H2 完成90% and H3 进行中(50%) are on track; H4 已完成√
    assert flags(path) == {4: "2个工作日内到期（截止08-24）"}
    assert dict(result.states) == {"due_soon": 1, "ok": 2, "done": 1}
    assert digests(share_with_roster) == {}  # 2 working days ahead is not a reminder day (3 and 1 are)
    friday = dt.date(2026, 8, 21)  # the day after: 1 working day before H1's deadline, both owners reminded
    run_daily(share_with_roster, friday, NOW)
    mails = digests(share_with_roster, friday)
    assert sorted(mails) == ["fengxue", "zhengshuang"]
    assert all("H1 门店形象设计方案 | 截止日期 2026-08-24" in text and "1个工作日后到期" in text for text in mails.values())
    run_weekly(share_with_roster, TODAY, NOW)
    [line] = [r for r in weekly_sheet(share_with_roster, "总览") if r and r[0] == "华东门店焕新"]
    assert line[3] == 0.25 and line[5] == 2  # 1 of 4 done (H1 gives no percentage); H1, H2 due next week


def test_two_header_cells_naming_one_field_prefer_the_chinese_one_and_say_so(share_with_roster, soffice):
    def english_status_left(ws, wb):
        ws.insert_cols(9)  # an English 'Status' column left of 状态, half filled in long ago
        ws["I2"] = "Status"
        for task in ("T03", "T06"):
            ws[f"I{ROW[task]}"] = "In progress"
    path = saved_by_libreoffice(soffice, tracker_workbook(share_with_roster, english_status_left,
                                                          d=_done_t03()))
    report = run_check(share_with_roster, TODAY)
    [dup] = [f for f in report.findings if f.code == "W-HEADER-DUPLICATE"]
    assert dup.cell == "J2" and "I2、J2" in dup.message_zh and dup.severity == "warning"
    run_daily(share_with_roster, TODAY, NOW)
    got = flags(path, col="N")
    assert ROW["T03"] not in got  # 状态 says 已完成: no flag, no reminder
    assert "T03" not in digests(share_with_roster).get("fengxue", "")


def _done_t03():
    d = clean_launch()
    d["tasks"][2].update(status="done", done_on=dt.date(2026, 8, 19))
    return d


# --- 3b. rows below the task list that are not tasks -----------------------------------------

def _below_the_list(ws, wb):
    for c in range(1, 14):                          # a second section starts with the header repeated
        ws.cell(18, c).value = ws.cell(2, c).value
    ws["A19"], ws["B19"], ws["C19"], ws["D19"], ws["E19"] = "T15", "发布会复盘材料", "会议纪要#3", "市场部", "张伟"
    ws["F19"], ws["G19"], ws["H19"], ws["I19"] = dt.date(2026, 8, 20), dt.date(2026, 9, 30), "复盘PPT", "未开始"
    ws["A21"], ws["B21"], ws["M21"] = "说明：", "逾期任务由系统在预警列标注", "请勿手工填写此列"  # a legend
    ws["A22"], ws["M22"] = "图例", "红色=逾期"


def test_rows_below_the_task_list_that_are_not_tasks_keep_their_text(share_with_roster, soffice):
    path = saved_by_libreoffice(soffice, tracker_workbook(share_with_roster, _below_the_list))
    report = run_check(share_with_roster, TODAY)
    assert report.task_count == 15 and report.summary()["skipped_rows"] == 3
    assert not [f for f in report.findings if f.sheet == "执行进度" and f.cell and f.cell[1:] in ("18", "21", "22")]
    result = run_daily(share_with_roster, TODAY, NOW)
    after = flags(path)
    assert (after[18], after[21], after[22]) == ("预警", "请勿手工填写此列", "红色=逾期")
    assert not [f for f in result.findings if f.code == "W-FLAG-EDITED"]
    assert sum(result.states.values()) == 15 and 19 not in after  # T15 is a task, due later: no flag
    assert after[ROW["T03"]].startswith("逾期")            # the list above still gets its flags


# --- 3c. an Excel table with its Total Row ---------------------------------------------------

def _as_a_table_with_totals(ws, wb):
    from openpyxl.worksheet.table import Table
    ws["A17"] = "汇总"
    for col in "BCDEFGHIJKLM":  # Excel's Total Row: SUBTOTAL under every column, the last one is 预警
        ws[f"{col}17"] = f"=SUBTOTAL(103,任务表[{ws[f'{col}2'].value}])"
    table = Table(displayName="任务表", ref="A2:M17", totalsRowCount=1)
    table._initialise_columns()
    table.tableColumns[0].totalsRowLabel = "汇总"
    for column in table.tableColumns[1:]:
        column.totalsRowFunction = "count"
    ws.add_table(table)
    ws[f"M{ROW['T06']}"] = '=IF(G8>TODAY()+999,"远期","")'  # someone's own formula in one 预警 cell, showing ""


def test_an_excel_table_s_total_row_is_not_a_task_and_a_formula_blocks_only_its_cell(share_with_roster, soffice):
    path = saved_by_libreoffice(soffice, tracker_workbook(share_with_roster, _as_a_table_with_totals))
    with zipfile.ZipFile(path) as zf:
        assert "xl/tables/table1.xml" in zf.namelist()  # LibreOffice kept the table and its Total Row
        table_before = zf.read("xl/tables/table1.xml")
    report = run_check(share_with_roster, TODAY)
    assert report.task_count == 14
    assert not [f for f in report.findings if f.sheet == "执行进度" and f.cell and f.cell[1:] == "17"]
    result = run_daily(share_with_roster, TODAY, NOW)
    assert [(f.code, f.cell) for f in result.findings if f.code in ("W-FORMULA", "W-FLAG-EDITED", "W-LOSSY")] == [
        ("W-FORMULA", f"M{ROW['T06']}")]
    assert result.written == ["进行中/Q3新品上市推广.xlsx"]
    ws = openpyxl.load_workbook(path)["执行进度"]
    assert ws["M17"].value == "=SUBTOTAL(103,任务表[预警])" and ws[f"M{ROW['T06']}"].value.startswith("=IF(")
    assert ws[f"M{ROW['T03']}"].value.startswith("逾期")
    with zipfile.ZipFile(path) as zf:
        assert zf.read("xl/tables/table1.xml") == table_before
    soffice(path)  # and LibreOffice still opens it
