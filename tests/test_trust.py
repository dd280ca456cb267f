"""Trust on real staff workbooks: never overwrite a person's text, never act on a misreading, never leak a task.

Every workbook here is saved by LibreOffice (as staff who edit in LibreOffice save it), or written
by xlsxwriter, before coordxl reads it.
"""

import copy
import datetime as dt
import email
import re
import shutil
import sqlite3
from email import policy
from pathlib import Path

import openpyxl
import pytest
import xlsxwriter
from click.testing import CliRunner
from conftest import clean_launch, sha256, write_item

from coordxl.cli import main
from coordxl.run.archive import ArchiveRefused, archive_item
from coordxl.run.check import run_check
from coordxl.run.daily import run_daily
from coordxl.state.store import Store

TODAY = dt.date(2026, 8, 20)
NOW = dt.datetime(2026, 8, 20, 9, 0)
LAUNCH = "进行中/Q3新品上市推广.xlsx"
ROW = {f"T{n:02d}": n + 2 for n in range(1, 15)}  # the tracker's header is row 2: T01 is row 3


def saved_by_libreoffice(soffice, path: Path) -> Path:
    """Open and save the workbook in LibreOffice (xlsx → xlsx), in place."""
    shutil.copy(soffice(path, "xlsx:Calc MS Excel 2007 XML"), path)
    return path


def outbox(root: Path, day: dt.date = TODAY) -> list[email.message.EmailMessage]:
    return [email.message_from_bytes(p.read_bytes(), policy=policy.default)
            for p in sorted((root / ".coordxl" / "outbox" / day.isoformat()).glob("*.eml"))]


def body(msg) -> str:
    return msg.get_body(("plain",)).get_content()


def mails_to(root: Path, user: str, kind: str | None = None) -> list:
    return [m for m in outbox(root) if m["To"].addresses[0].username == user
            and (kind is None or m["X-Coordxl-Kind"] == kind)]


def tracker(path: Path, sheet: str = "执行进度"):
    return openpyxl.load_workbook(path)[sheet]


def codes(findings, code):
    return [(f.sheet, f.cell) for f in findings if f.code == code]


# --- 1. the 预警 column belongs to coordxl only where coordxl wrote it --------------------------

def _with_notes_in_the_alert_column(root: Path) -> Path:
    path = write_item(root, clean_launch())
    wb = openpyxl.load_workbook(path)
    ws = wb["执行进度"]
    ws[f"M{ROW['T03']}"] = "已和孙丽沟通"      # overdue task: a colleague's note, not coordxl's
    ws[f"M{ROW['T01']}"] = "已验收"            # done task
    ws[f"M{ROW['T06']}"] = "逾期2个工作日"      # coordxl's own text from an earlier day
    ws[f"M{ROW['T07']}"] = "Due in 3 wd"       # coordxl's own text, written while the setting was English
    wb.save(path)
    return path


def test_text_a_person_typed_in_the_alert_column_is_never_overwritten(share_with_roster, soffice):
    path = saved_by_libreoffice(soffice, _with_notes_in_the_alert_column(share_with_roster))
    result = run_daily(share_with_roster, TODAY, NOW)
    ws = tracker(path)
    assert ws[f"M{ROW['T03']}"].value == "已和孙丽沟通"
    assert ws[f"M{ROW['T01']}"].value == "已验收"
    assert ws[f"M{ROW['T06']}"].value == "逾期·已升级（截止08-14）"  # its own earlier text is updated
    assert ws[f"M{ROW['T07']}"].value == "2个工作日内到期（截止08-21）"
    edited = {f.cell: f for f in result.findings if f.code == "W-FLAG-EDITED"}
    assert sorted(edited) == [f"M{ROW['T01']}", f"M{ROW['T03']}"]
    assert edited[f"M{ROW['T03']}"].message_zh.startswith(f"预警列 M{ROW['T03']} 中的“已和孙丽沟通”不是 coordxl 写入的")
    assert "逾期·已升级（截止08-07）" in edited[f"M{ROW['T03']}"].message_zh  # what the cell should show
    # the task is still assessed and reminded as usual
    [feng] = mails_to(share_with_roster, "fengxue", "digest")
    assert "T03 包装设计定稿" in body(feng) and "逾期9个工作日" in body(feng)
    # the initiator is told, with the cell and the text found
    [zhang] = mails_to(share_with_roster, "zhangwei", "digest")
    assert f"执行进度 M{ROW['T03']} W-FLAG-EDITED" in body(zhang) and "已和孙丽沟通" in body(zhang)
    # a second run leaves the notes alone again, and says so again
    again = run_daily(share_with_roster, dt.date(2026, 8, 21), NOW)
    assert tracker(path)[f"M{ROW['T03']}"].value == "已和孙丽沟通"
    assert len(codes(again.findings, "W-FLAG-EDITED")) == 2


def test_text_coordxl_recorded_writing_is_its_own_even_when_the_wording_changed(share_with_roster):
    path = write_item(share_with_roster, clean_launch())
    wb = openpyxl.load_workbook(path)
    wb["执行进度"][f"M{ROW['T03']}"] = "超期（旧版写法）"
    wb.save(path)
    Store(share_with_roster / ".coordxl" / "state.db").record_flags(
        LAUNCH, "执行进度", {f"M{ROW['T03']}": "超期（旧版写法）"}, NOW)
    result = run_daily(share_with_roster, TODAY, NOW)
    assert tracker(path)[f"M{ROW['T03']}"].value == "逾期·已升级（截止08-07）"
    assert not codes(result.findings, "W-FLAG-EDITED")
    db = sqlite3.connect(share_with_roster / ".coordxl" / "state.db")
    assert db.execute("SELECT text FROM flags WHERE cell = ?", (f"M{ROW['T03']}",)).fetchone() == ("逾期·已升级（截止08-07）",)


def test_a_person_s_text_is_kept_in_a_workbook_written_by_xlsxwriter(share_with_roster):
    path = share_with_roster / "进行中" / "xlsxwriter事项.xlsx"
    wb = xlsxwriter.Workbook(path)
    req = wb.add_worksheet("需求单")
    for r, (label, value) in enumerate([("沟通主题", "xlsxwriter事项"), ("发起部门", "市场部"), ("发起人", "张伟"),
                                        ("发出日期", "2026-07-01"), ("状态", "进行中")]):
        req.write(r, 0, label)
        req.write(r, 1, value)
    ws = wb.add_worksheet("执行进度")
    bold = wb.add_format({"bold": True})
    ws.write_row(0, 0, ["编号", "任务", "负责部门", "负责人", "截止日期", "交付标准", "状态", "预警"], bold)
    ws.write_row(1, 0, ["X1", "报价单", "设计部", "冯雪", "2026-08-07", "报价单", "进行中", "等财务批预算"])
    ws.write_row(2, 0, ["X2", "样品", "设计部", "冯雪", "2026-08-10", "样品", "进行中", ""])
    wb.close()
    result = run_daily(share_with_roster, TODAY, NOW)
    ws = tracker(path)
    assert ws["H2"].value == "等财务批预算" and ws["H3"].value == "逾期·已升级（截止08-10）"
    assert codes(result.findings, "W-FLAG-EDITED") == [("执行进度", "H2")]


def test_a_deleted_alert_column_is_added_only_where_the_whole_column_is_empty(share_with_roster, soffice):
    path = write_item(share_with_roster, clean_launch())
    wb = openpyxl.load_workbook(path)
    ws = wb["执行进度"]
    ws.delete_cols(13)  # a colleague deleted 预警 ...
    ws[f"M{ROW['T03']}"] = "备注：等供应商打样"  # ... and types notes in the next column, without a header
    ws[f"M{ROW['T10']}"] = "财务周五答复"
    wb.save(path)
    saved_by_libreoffice(soffice, path)
    run_daily(share_with_roster, TODAY, NOW)
    ws = tracker(path)
    assert ws[f"M{ROW['T03']}"].value == "备注：等供应商打样" and ws[f"M{ROW['T10']}"].value == "财务周五答复"
    assert ws["N2"].value == "预警" and ws[f"N{ROW['T03']}"].value == "逾期·已升级（截止08-07）"
    # the new header looks like the others: the same cell style as the header to its left
    import zipfile

    from coordxl.xlsx.xlsxparts import sheet_part
    with zipfile.ZipFile(path) as zf:
        xml = zf.read(sheet_part(zf, "执行进度")).decode()
    style = lambda ref: re.search(rf'<c r="{ref}"[^>]*?\bs="(\d+)"', xml).group(1)  # noqa: E731
    assert style("N2") == style("L2")
    assert ws["N2"].font.b == ws["L2"].font.b is True


# --- 2. never pick the wrong sheet ----------------------------------------------------------

def _with_a_stale_copy(root: Path, rename_original: str | None = None) -> Path:
    path = write_item(root, clean_launch())
    wb = openpyxl.load_workbook(path)
    ws = wb["执行进度"]
    ws[f"I{ROW['T03']}"], ws[f"J{ROW['T03']}"] = "已完成", dt.datetime(2026, 8, 19)  # done in the real tracker
    old = wb.copy_worksheet(ws)
    old.title = "执行进度 (2)"
    old[f"I{ROW['T03']}"], old[f"J{ROW['T03']}"] = "进行中", None  # the stale copy still says in progress
    wb.move_sheet(old, offset=-(len(wb.sheetnames) - 1 - wb.sheetnames.index("执行进度")))  # the copy first
    if rename_original:
        ws.title = rename_original
    wb.save(path)
    return path


def test_the_sheet_named_exactly_is_read_and_the_copy_reported(share_with_roster, soffice):
    path = saved_by_libreoffice(soffice, _with_a_stale_copy(share_with_roster))
    assert openpyxl.load_workbook(path).sheetnames.index("执行进度 (2)") < openpyxl.load_workbook(
        path).sheetnames.index("执行进度")
    result = run_daily(share_with_roster, TODAY, NOW)
    assert tracker(path)[f"M{ROW['T03']}"].value in (None, "")  # done: no flag in the real tracker
    assert tracker(path, "执行进度 (2)")[f"M{ROW['T03']}"].value in (None, "")  # the copy is never written
    assert tracker(path)[f"M{ROW['T06']}"].value == "逾期·已升级（截止08-14）"
    [dup] = [f for f in result.findings if f.code == "W-DUPLICATE-SHEET"]
    assert dup.severity == "warning" and "执行进度 (2)" in dup.message_zh
    [feng] = mails_to(share_with_roster, "fengxue", "digest")
    assert "T03" not in body(feng)  # nobody is reminded of work that is done


def test_two_candidate_sheets_without_an_exact_name_are_an_error_and_nothing_is_acted_on(share_with_roster, soffice):
    path = saved_by_libreoffice(soffice, _with_a_stale_copy(share_with_roster, rename_original="执行进度-新"))
    before = sha256(path)
    report = run_check(share_with_roster, TODAY)
    [dup] = [f for f in report.findings if f.code == "W-DUPLICATE-SHEET"]
    assert dup.severity == "error" and "执行进度-新" in dup.message_zh and "执行进度 (2)" in dup.message_zh
    result = run_daily(share_with_roster, TODAY, NOW)
    assert sha256(path) == before  # no flag written anywhere in that workbook
    assert (LAUNCH, "ambiguous_sheet") in result.skipped
    # reminders about its tasks go only to the initiator, as an error (a pending resource request,
    # on its own unambiguous sheet, is still sent to its reviewer)
    for msg in outbox(share_with_roster):
        assert not re.search(r"T\d\d ", body(msg)), msg["To"]
    assert "W-DUPLICATE-SHEET" in body(mails_to(share_with_roster, "zhangwei")[0])
    assert CliRunner().invoke(main, ["check", str(share_with_roster), "--today", "2026-08-20"]).exit_code == 1


# --- 3. implausible values are findings, never overdue escalations --------------------------

def test_implausible_dates_are_findings_and_such_tasks_are_never_escalated(share_with_roster, soffice):
    d = clean_launch()
    d["tasks"][2]["due"] = 10.09                     # T03: 10月9日 typed as a number in a General cell
    d["tasks"][5]["due"] = dt.date(2031, 10, 9)      # T06: a year typed wrong, 5 years from the request
    d["tasks"][9]["start"] = dt.date(1900, 1, 9)     # T10: a start date nobody meant
    path = write_item(share_with_roster, d)
    wb = openpyxl.load_workbook(path)
    wb["执行进度"][f"G{ROW['T03']}"].number_format = "General"
    wb.save(path)
    saved_by_libreoffice(soffice, path)
    report = run_check(share_with_roster, TODAY)
    dates = {f.cell: f for f in report.findings if f.code == "F-DATE"}
    assert set(dates) == {f"G{ROW['T03']}", f"G{ROW['T06']}", f"F{ROW['T10']}"}
    assert "10.09" in dates[f"G{ROW['T03']}"].message_zh
    assert dates[f"G{ROW['T03']}"].hint_zh == "看起来是把 10月9日 输成了数字，请输入 2026-10-09。"
    assert "2031-10-09" in dates[f"G{ROW['T06']}"].message_zh and "3 年" in dates[f"G{ROW['T06']}"].message_zh
    assert "1900-01-09" in dates[f"F{ROW['T10']}"].message_zh
    assert all(f.is_error for f in dates.values()) and not report.ok

    run_daily(share_with_roster, TODAY, NOW)
    ws = tracker(path)
    assert ws[f"M{ROW['T03']}"].value == "待修正：截止日期" and ws[f"M{ROW['T06']}"].value == "待修正：截止日期"
    assert ws[f"M{ROW['T10']}"].value == "待修正：开始日期"  # an error in its start: never overdue either
    everything = "\n".join(body(m) for m in outbox(share_with_roster))
    assert "T03 包装设计定稿" not in everything and "T06 重点渠道铺货清单" not in everything
    assert "T10 新品定价方案" not in everything
    assert "32804" not in everything and "逾期3" not in everything
    for msg in outbox(share_with_roster):
        if msg["X-Coordxl-Kind"] == "escalation":
            assert "T03" not in body(msg) and "T06" not in body(msg)
    [zhang] = mails_to(share_with_roster, "zhangwei", "digest")
    assert f"执行进度 G{ROW['T03']} F-DATE" in body(zhang) and "2026-10-09" in body(zhang)


def test_a_meeting_time_and_a_resource_date_get_the_same_plausibility_rule(share_with_roster):
    d = clean_launch()
    d["minutes"]["start"] = dt.datetime(2016, 7, 8, 14, 0)   # ten years before the request
    d["resources"][0]["needed_by"] = 45.5                     # a number in a date cell
    write_item(share_with_roster, d)
    report = run_check(share_with_roster, TODAY)
    assert {(f.sheet, f.code) for f in report.findings if f.code == "F-DATE"} == {
        ("会议纪要", "F-DATE"), ("资源申请", "F-DATE")}


# --- 4. a person is who the roster says -----------------------------------------------------

def _roster_with_two_zhangwei(root: Path) -> None:
    wb = openpyxl.load_workbook(root / "名册.xlsx")
    ws = wb["人员"]
    ws.append(["张伟", "产品部", "zhangwei2@corp.example", "陈静", "否", "是", "产品助理"])
    wb.save(root / "名册.xlsx")


def test_two_people_with_one_name(share_with_roster, soffice):
    _roster_with_two_zhangwei(share_with_roster)
    saved_by_libreoffice(soffice, share_with_roster / "名册.xlsx")
    d = clean_launch()
    d["tasks"][11].update(department="产品部", owner="张伟")        # T12: 产品部's 张伟 by the row's department
    d["tasks"][5].update(department="销售部", owner="张伟")         # T06: neither 张伟 is in 销售部
    d["tasks"][9].update(owner="张伟 zhangwei2@corp.example")       # T10: by the address written with it
    path = write_item(share_with_roster, d)
    saved_by_libreoffice(soffice, path)
    result = run_daily(share_with_roster, TODAY, NOW)
    roster_dup = [f for f in result.findings if f.code == "F-PERSON-AMBIGUOUS" and f.workbook == "名册.xlsx"]
    assert len(roster_dup) == 1 and "张伟" in roster_dup[0].message_zh and "F-DUPLICATE-ID" not in {
        f.code for f in result.findings if f.workbook == "名册.xlsx"}
    # T06's owner, and the places where nothing says which 张伟 (the recorder, the reviewer) are errors
    assert set(codes(result.findings, "F-PERSON-AMBIGUOUS")) == {
        ("人员", roster_dup[0].cell), ("执行进度", f"E{ROW['T06']}"), ("会议纪要", "B7"), ("资源申请", "I3"),
        ("资源申请", "I5")}
    assert "张伟（市场部）、张伟（产品部）" in next(f.hint_zh for f in result.findings if f.cell == f"E{ROW['T06']}")
    assert tracker(path)[f"M{ROW['T06']}"].value == "待修正：负责人"
    everything = {m["To"].addresses[0].addr_spec: body(m) for m in outbox(share_with_roster)
                  if m["X-Coordxl-Kind"] == "digest"}
    # T12 (due today) and T10 (9 days late) reach 产品部's 张伟; the initiator 张伟 of 市场部 gets neither as
    # their own task: T10, escalated to him as the initiator, is in his escalation mail with its real owner
    assert "T12 门店陈列物料下单" in everything["zhangwei2@corp.example"]
    assert "T10 新品定价方案 | 截止日期 2026-08-07 | 已升级告知 陈静、张伟（市场部）、王海" in everything[
        "zhangwei2@corp.example"]
    initiator = everything["zhangwei@corp.example"]
    assert "T12 门店陈列物料下单" not in initiator and "T10 新品定价方案" not in initiator
    [escalated] = [body(m) for m in mails_to(share_with_roster, "zhangwei", "escalation")]
    assert "T10 新品定价方案 | 负责人 张伟（产品部）" in escalated and "T12 " not in escalated
    assert not mails_to(share_with_roster, "zhangwei2", "escalation")
    # the ambiguous T06 reaches nobody as a task; the initiator sees it as an error
    assert all("T06 重点渠道铺货清单" not in text for text in everything.values())
    assert f"执行进度 E{ROW['T06']} F-PERSON-AMBIGUOUS" in initiator


def test_a_departed_owner_s_open_tasks_go_to_their_manager_and_the_initiator(share_with_roster, soffice):
    d = clean_launch()
    d["tasks"][5]["owner"] = "马超"   # T06, overdue; 马超 has left (在职 = 否), his manager is 孙丽
    d["tasks"][6]["owner"] = "马超"   # T07, due tomorrow
    saved_by_libreoffice(soffice, write_item(share_with_roster, d))
    run_daily(share_with_roster, TODAY, NOW)
    [sun] = mails_to(share_with_roster, "sunli", "digest")
    assert "原负责人马超已离职，请重新指派" in body(sun)
    assert "T06 重点渠道铺货清单" in body(sun) and "T07 销售培训课件" in body(sun)
    [zhang] = mails_to(share_with_roster, "zhangwei", "digest")
    assert "原负责人马超已离职，请重新指派" in body(zhang) and "T06 重点渠道铺货清单" in body(zhang)
    assert not mails_to(share_with_roster, "machao")


def test_new_says_a_departed_colleague_has_left(share_with_roster):
    result = CliRunner().invoke(main, ["new", "年终盘点", "--root", str(share_with_roster), "--initiator", "马超"])
    assert result.exit_code == 2 and "已离职" in result.output and "不在名册" not in result.output
    assert not (share_with_roster / "进行中" / "年终盘点.xlsx").exists()


# --- 5. a mail shows a person only the tasks they are entitled to see -----------------------

def test_no_recipient_sees_a_task_of_an_item_they_are_not_part_of(share_with_roster, soffice):
    a = clean_launch()
    b = clean_launch()
    b["topic"] = "华南渠道拓展"
    b["request"].update(topic="华南渠道拓展", initiator="孙丽", initiating_department="销售部")
    b["minutes"].update(topic="华南渠道拓展", decision_maker="陈静")
    b["tasks"] = [copy.deepcopy(t) for t in b["tasks"]]
    for t in b["tasks"]:
        t["task"] = "华南-" + t["task"]
    saved_by_libreoffice(soffice, write_item(share_with_roster, a))
    saved_by_libreoffice(soffice, write_item(share_with_roster, b))
    run_daily(share_with_roster, TODAY, NOW)
    # who is part of which item: initiator, decision maker, and the owners and their managers
    managers = {"冯雪": "郑爽", "孙丽": "王海", "周强": "孙丽", "张伟": "李娜", "刘洋": "李娜", "赵磊": "陈静",
                "吴敏": "孙丽", "郑爽": "王海", "陈静": "王海", "李娜": "王海"}
    owners = {t["owner"] for t in a["tasks"]}
    part = {"Q3新品上市推广协调": {"张伟", "王海"}, "华南渠道拓展": {"孙丽", "陈静"}}
    for names in part.values():
        names |= owners | {managers[o] for o in owners if o in managers}
    tasks_of = {"Q3新品上市推广协调": {t["task"] for t in a["tasks"]}, "华南渠道拓展": {t["task"] for t in b["tasks"]}}
    checked = 0
    for msg in outbox(share_with_roster):
        text = body(msg)
        assert msg["Cc"] is None  # every mail is one person's own
        reader = msg["To"].addresses[0].display_name
        for topic, names in tasks_of.items():
            shown = {n for n in names if re.search(rf"T\d\d {re.escape(n)}\b", text)}
            if shown:
                checked += 1
                assert reader in part[topic], (reader, topic, shown)
    assert checked >= 4
    # 冯雪 is late in both items: her own digest lists both, each marked with whom it was escalated
    # to; she gets no escalation mail of her own tasks
    [feng] = mails_to(share_with_roster, "fengxue", "digest")
    assert "T03 包装设计定稿 | 截止日期 2026-08-07 | 已升级告知 郑爽、张伟、王海" in body(feng)
    assert "T03 华南-包装设计定稿 | 截止日期 2026-08-07 | 已升级告知 郑爽、孙丽、陈静" in body(feng)
    assert not mails_to(share_with_roster, "fengxue", "escalation")
    # an escalation to X shows only the tasks escalated to X: each initiator only their own item's
    [zhang] = mails_to(share_with_roster, "zhangwei", "escalation")
    assert "T03 包装设计定稿" in body(zhang) and "华南-" not in body(zhang)
    [sun] = mails_to(share_with_roster, "sunli", "escalation")
    assert "T03 华南-包装设计定稿" in body(sun) and "T03 包装设计定稿" not in body(sun)
    [chen] = mails_to(share_with_roster, "chenjing", "escalation")
    assert "T03 华南-包装设计定稿" in body(chen) and "T03 包装设计定稿" not in body(chen)
    # her manager, part of both, gets both in one mail
    [zheng] = mails_to(share_with_roster, "zhengshuang", "escalation")
    assert "T03 包装设计定稿" in body(zheng) and "T03 华南-包装设计定稿" in body(zheng)


# --- 6. archive never removes a workbook that is open or has changed ------------------------

def _closed_item(root: Path, soffice) -> Path:
    from conftest import EXAMPLE
    path = root / "进行中" / "618大促数据复盘对接.xlsx"
    shutil.copy(EXAMPLE / "进行中" / path.name, path)
    return saved_by_libreoffice(soffice, path)


def test_archive_refuses_a_workbook_open_in_libreoffice(share_with_roster, soffice):
    path = _closed_item(share_with_roster, soffice)
    lock = path.with_name(f".~lock.{path.name}#")
    lock.write_text("孙丽,sunli,PC-17,29.08.2026 09:12,file:///home/sunli/.config/libreoffice/4;")
    before = sha256(path)
    result = CliRunner().invoke(main, ["archive", str(share_with_roster), "618大促数据复盘对接", "--today", "2026-08-20"])
    assert result.exit_code == 1 and "正被打开" in result.output and len(result.output.strip().splitlines()) == 1
    assert sha256(path) == before and not (share_with_roster / "归档").exists()
    lock.unlink()
    assert archive_item(share_with_roster, "618大促数据复盘对接", TODAY, NOW, by="admin").index_written
    assert not path.exists()


def test_archive_refuses_a_workbook_saved_while_it_was_being_archived(share_with_roster, soffice):
    path = _closed_item(share_with_roster, soffice)

    def colleague_saves(step):
        if step == "after_copy":
            wb = openpyxl.load_workbook(path)
            wb["复盘"]["B20"] = "补充：渠道数据已更正"
            wb.save(path)

    with pytest.raises(ArchiveRefused, match="被修改"):
        archive_item(share_with_roster, "618大促数据复盘对接", TODAY, NOW, by="admin", hook=colleague_saves)
    assert openpyxl.load_workbook(path)["复盘"]["B20"].value == "补充：渠道数据已更正"  # the edit is kept
    assert not any((share_with_roster / "归档").rglob("*.xlsx"))
