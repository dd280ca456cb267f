"""Bad input never stops a run: each bad file is a finding, the rest is still checked, nothing is modified."""

import datetime as dt
import io
import json
import re
import subprocess
import sys

import openpyxl
import pytest
import xlsxwriter
from click.testing import CliRunner
from conftest import EXAMPLE, another_item, rewrite_part, sha256, tree_hashes

from coordxl.cli import main
from coordxl.run.check import run_check

TODAY = dt.date(2026, 8, 20)
LAUNCH = EXAMPLE / "进行中" / "Q3新品上市推广.xlsx"


def not_a_zip(path):
    path.write_bytes(b"\x00\x01garbage" * 100)


def truncated_zip(path):
    path.write_bytes(LAUNCH.read_bytes()[:3000])


def encrypted(path):
    pytest.importorskip("msoffcrypto")
    from msoffcrypto.format.ooxml import OOXMLFile
    out = io.BytesIO()
    with open(LAUNCH, "rb") as fh:
        OOXMLFile(fh).encrypt("secret", out)
    path.write_bytes(out.getvalue())


def csv_named_xlsx(path):
    path.write_text("编号,任务,负责人\nT1,写方案,张伟\n", encoding="utf-8")


def entity_bomb(path):
    lol = '<!DOCTYPE lolz [<!ENTITY lol "lol">' + "".join(
        f'<!ENTITY lol{i} "' + (f"&lol{i - 1};" if i > 1 else "&lol;") * 10 + '">' for i in range(1, 10)) + "]>"

    def change(data):
        text = data.decode("utf-8")
        if text.startswith("<?xml"):
            text = text.split("?>", 1)[1]
        return (lol + text.replace("<t>", "<t>&lol9;", 1)).encode("utf-8")
    another_item(LAUNCH, path)  # its request form intact: not to be taken for a copy of the launch item
    rewrite_part(path, path, "xl/worksheets/sheet3.xml", change)  # 执行进度


def zip_bomb(path):
    # 100 MB of spaces inside a ~100 kB file; the folder's limit is set to 50 MB below
    rewrite_part(LAUNCH, path, "xl/worksheets/sheet1.xml",
                 lambda xml: xml.replace(b"</worksheet>", b"<!--" + b" " * 100_000_000 + b"--></worksheet>"))


def empty_workbook(path):
    wb = xlsxwriter.Workbook(str(path))
    wb.add_worksheet("Sheet1")
    wb.close()


def sheet_without_header(path):
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet("执行进度")
    ws.write_row(0, 0, ["T1", "写方案", "张伟", "2026-08-01"])
    wb.close()


CASES = [
    ("not a zip", not_a_zip, "x.xlsx", "W-UNREADABLE", "不是 Excel 工作簿"),
    ("truncated zip", truncated_zip, "x.xlsx", "W-UNREADABLE", "损坏"),
    ("encrypted", encrypted, "x.xlsx", "W-UNREADABLE", "密码"),
    ("CSV named .xlsx", csv_named_xlsx, "x.xlsx", "W-UNREADABLE", "CSV"),
    ("XML entity bomb", entity_bomb, "x.xlsx", "W-UNREADABLE", "损坏"),
    ("zip bomb", zip_bomb, "x.xlsx", "W-UNREADABLE", "压缩炸弹"),
    ("empty workbook", empty_workbook, "x.xlsx", "W-MISSING-SHEET", ""),
    ("sheet with no header", sheet_without_header, "x.xlsx", "W-HEADER", "执行进度"),
    ("odd file name", lambda p: another_item(LAUNCH, p), "事项 #1 (副本) 😀 [终版].xlsx", None, ""),
]


@pytest.mark.parametrize("what,make,name,code,text", CASES, ids=[c[0] for c in CASES])
def test_bad_workbook_is_a_finding_and_the_rest_is_checked(example_root, what, make, name, code, text):
    (example_root / "coordxl.toml").write_text("[limits]\nmax_unzipped_mb = 50\n", encoding="utf-8")
    bad = example_root / "进行中" / name
    make(bad)
    before = tree_hashes(example_root)
    report = run_check(example_root, TODAY)
    mine = [f for f in report.findings if f.workbook.endswith(name)]
    if code is None:
        assert ("F-PERSON", "E10") in [(f.code, f.cell) for f in mine]  # read like the original
    else:
        assert any(f.code == code and text in f.message_zh + f.sheet for f in mine), mine
    # the good workbook is still checked, and nothing was modified
    assert ("F-PERSON", "E10") in [(f.code, f.cell) for f in report.findings if "Q3新品" in f.workbook]
    assert tree_hashes(example_root) == before


def test_owner_and_lock_files_are_skipped(example_root):
    (example_root / "进行中" / "~$Q3新品上市推广.xlsx").write_bytes(b"owner")
    (example_root / "进行中" / ".~lock.Q3新品上市推广.xlsx#").write_text("lock")
    report = run_check(example_root, TODAY)
    assert report.workbooks == 3 and not [f for f in report.findings if "~" in f.workbook]


def test_hidden_sheet_and_duplicate_and_merged_headers_are_read(tmp_path, share_with_roster):
    path = share_with_roster / "进行中" / "台账.xlsx"
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet("执行进度")
    ws.merge_range(0, 0, 0, 8, "执行进度（合并标题）")
    ws.write_row(1, 0, ["编号", "任务", "负责部门", "负责人", "负责人", "截止日期", "交付标准", "状态", "完成日期"])
    ws.write_row(2, 0, ["T1", "写方案", "市场部", "张伟", "李娜", "2026-08-25", "方案", "进行中", ""])
    ws.hide()
    wb.add_worksheet("需求单")
    wb.close()
    report = run_check(share_with_roster, TODAY, keep_items=True)
    [item] = [i for i in report.items if i.workbook.endswith("台账.xlsx")]
    assert item.tasks[0]["owner"] == "张伟" and item.tasks[0]["due"] == dt.date(2026, 8, 25)


def test_formula_without_cached_value_is_reported_not_crashed(share_with_roster):
    path = share_with_roster / "进行中" / "公式.xlsx"
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet("执行进度")
    ws.write_row(0, 0, ["编号", "任务", "负责部门", "负责人", "截止日期", "交付标准", "状态"])
    ws.write_row(1, 0, ["T1", "写方案", "市场部", "张伟"])
    ws.write_formula(1, 4, "=DATE(2026,8,25)", None, "")  # no cached result
    ws.write_row(1, 5, ["方案", "进行中"])
    ws.write_row(2, 0, ["T2", "写文案", "市场部", "张伟"])
    ws.write_formula(2, 4, "=DATE(2026,8,26)", None, 46260)  # with its result: read as that date
    ws.write_row(2, 5, ["", "进行中"])                            # and a really empty required cell
    wb.close()
    before = sha256(path)
    report = run_check(share_with_roster, TODAY)
    mine = {f.cell: f for f in report.findings if f.workbook.endswith("公式.xlsx")}
    assert mine["E2"].code == "F-REQUIRED" and "公式" in mine["E2"].message_zh and "Excel" in mine["E2"].hint_zh
    assert mine["F3"].code == "F-REQUIRED" and "公式" not in mine["F3"].message_zh
    assert "E3" not in mine
    assert sha256(path) == before


@pytest.mark.slow
def test_a_100k_row_tracker_is_read(share_with_roster):
    path = share_with_roster / "进行中" / "大表.xlsx"
    wb = xlsxwriter.Workbook(str(path), {"constant_memory": True})
    ws = wb.add_worksheet("执行进度")
    ws.write_row(0, 0, ["编号", "任务", "负责部门", "负责人", "截止日期", "交付标准", "状态"])
    for r in range(1, 100_001):
        ws.write_row(r, 0, [f"T{r}", "任务", "市场部", "张伟", "2026-09-01", "交付", "进行中"])
    wb.close()
    report = run_check(share_with_roster, TODAY, keep_items=True)
    [item] = [i for i in report.items if i.workbook.endswith("大表.xlsx")]
    assert len(item.tasks) == 100_000


def test_what_cannot_be_read_and_what_is_no_item_are_told_apart(example_root):
    import openpyxl
    other = openpyxl.Workbook()
    other.active.append(["月份", "销售额"])
    other.save(example_root / "进行中" / "销售数据.xlsx")                  # a workbook, just not an item
    ole = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600
    (example_root / "进行中" / "旧账.xls").write_bytes(ole)                # an .xls that cannot be read at all
    report = run_check(example_root, TODAY)
    assert report.unreadable == 1
    old = [f.code for f in report.findings if f.workbook == "进行中/旧账.xls"]
    assert old == ["W-UNREADABLE"]  # not also "W-LEGACY: read, never written"
    assert [f.code for f in report.findings if f.workbook == "进行中/销售数据.xlsx"] == ["W-MISSING-SHEET"]


def test_a_file_name_that_is_not_utf8_is_shown_escaped_and_stops_nothing(share_with_roster):
    """A workbook whose name came from a Chinese Windows zip or a Samba share with the wrong charset
    (GBK bytes): every job runs, reminds and writes it like any other, and shows its name as \\xNN escapes."""
    import copy
    import os
    import sqlite3

    from conftest import clean_launch, write_item

    item = clean_launch()
    item["topic"] = "东区促销"
    made = write_item(share_with_roster, item, "tmp-name")
    os.rename(made, os.path.join(os.fsencode(made.parent), "东区促销".encode("gbk") + b".xlsx"))
    other = copy.deepcopy(item)
    other["topic"] = "西区促销"
    write_item(share_with_roster, other)
    shown = "进行中/\\xb6\\xab\\xc7\\xf8\\xb4\\xd9\\xcf\\xfa.xlsx"
    for command in (["check", "--no-report", "--json"], ["daily"], ["weekly"], ["review", "西区促销"]):
        result = CliRunner().invoke(main, [command[0], str(share_with_roster), *command[1:], "--today", "2026-08-20"]
                                    if command[0] != "review" else [command[0], str(share_with_roster), command[1]])
        assert result.exit_code in (0, 1), (command, result.output)
        assert "UnicodeEncodeError" not in result.output and "内部错误" not in result.output
        if command[0] == "check":
            summary = json.loads(result.output)["summary"]
            assert (summary["workbooks"], summary["items"], summary["unreadable"]) == (2, 2, 0)
        if command[0] == "daily":
            assert "写入 2 个工作簿" in result.output
    db = sqlite3.connect(share_with_roster / ".coordxl" / "state.db")
    assert shown in {r[0] for r in db.execute("SELECT DISTINCT workbook FROM snapshots")}
    assert any(shown in r[0] for r in db.execute("SELECT workbooks FROM mails"))
    [path] = [p for p in (share_with_roster / "进行中").iterdir() if "\udcb6" in str(p)]
    ws = openpyxl.load_workbook(path)["执行进度"]
    assert any(str(c.value or "").startswith(("逾期", "今日到期")) for c in ws["M"])  # its flags were written


def test_a_workbook_larger_than_the_limit_is_refused_before_it_is_read(example_root):
    """A 60 MB stored (uncompressed) "xlsx" with limits.max_unzipped_mb = 50: refused (W-UNREADABLE, too big)
    without the file being read into memory."""
    import tracemalloc
    import zipfile

    (example_root / "coordxl.toml").write_text("[limits]\nmax_unzipped_mb = 50\n", encoding="utf-8")
    big = example_root / "进行中" / "大文件.xlsx"
    with zipfile.ZipFile(big, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("xl/worksheets/sheet1.xml", b"<x/>" * (15 * 2**20))
    tracemalloc.start()
    try:
        report = run_check(example_root, TODAY)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    [refused] = [f for f in report.findings if f.workbook.endswith("大文件.xlsx")]
    assert refused.code == "W-UNREADABLE" and "解压后体积超过上限" in refused.message_zh
    assert peak < 30 * 2**20  # the 60 MB were never read


# what a terminal would act on: C0 but tab and newline, DEL, C1, bidi overrides and isolates
RAW_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


@pytest.mark.slow  # real coordxl processes, one per job or fault
def test_control_characters_from_a_cell_or_a_file_name_never_reach_the_terminal_or_the_log_raw(example_root):
    """Excel's _x001B_ escapes in a task and an owner cell (clear the screen, retitle the window, ring,
    reverse the line, return to its start) and ESC [2J + U+202E in a workbook's name: every command prints
    them, and logs them, as visible escapes; no raw control character reaches stdout, stderr or the log."""
    hostile = "_x001B_[2J_x001B_]0;pwned_x0007__x202E_evil_x000D_"
    path = example_root / "进行中" / "Q3新品上市推广.xlsx"
    wb = openpyxl.load_workbook(path)
    [row] = [r for r in wb["执行进度"].iter_rows(min_row=2) if r[0].value == "T03"]
    row[1].value, row[4].value = f"任务{hostile}", f"冯雪{hostile}"  # 任务, 负责人 (not in the roster: shown)
    wb.save(path)
    recap = example_root / "进行中" / "618大促数据复盘对接.xlsx"
    recap.rename(recap.with_name("618\x1b[2J\u202e复盘.xlsx"))
    runs = {
        "check": (["check", "--no-report", "--today", "2026-08-20"], "冯雪\\x1b[2J\\x1b]0"),
        "json": (["check", "--no-report", "--json", "--today", "2026-08-20"], "\\u001b[2J"),
        "daily": (["daily", "--today", "2026-08-20"], "冯雪\\x1b[2J\\x1b]0"),
        "weekly": (["weekly", "--today", "2026-08-21"], ""),
        "status": (["status"], ""),
        "review": (["review", "Q3新品上市推广", "--today", "2026-08-20"], ""),
        "archive": (["archive", "618大促数据复盘对接", "--today", "2026-08-21"], "\\u202e复盘"),
        "unknown item": (["review", "不存在\x1b]0;t\x07\r", "--today", "2026-08-20"], "不存在\\x1b]0;t\\x07"),
    }
    for name, (args, shown) in runs.items():
        done = subprocess.run([sys.executable, "-m", "coordxl", args[0], str(example_root), *args[1:]],
                              capture_output=True, encoding="utf-8", errors="surrogateescape")
        out = done.stdout + done.stderr
        assert done.returncode in ((2,) if name == "unknown item" else (0, 1)), (name, out)
        assert not RAW_CONTROL.search(out), (name, out)
        assert shown in out, (name, out)
    log = (example_root / ".coordxl" / "logs" / "coordxl.log").read_text(encoding="utf-8")
    assert not RAW_CONTROL.search(log) and "不存在\\x1b]0;t\\x07" in log
    draft = next((example_root / "报告").glob("复盘草稿-Q3*.xlsx"))  # the draft holds the task, escaped
    assert any("任务\\x1b[2J" in str(c) for r in openpyxl.load_workbook(draft).active.iter_rows(values_only=True)
               for c in r)


def test_an_item_whose_file_name_is_not_utf8_is_reviewed_and_archived_with_its_name_kept(example_root):
    """A closed item saved under a GBK name: review writes its draft, archive moves the workbook (under its
    very name) and the draft into 归档/ with a manifest that verifies; nothing stops with exit 3."""
    import os

    from coordxl.run.archive import verify
    active = os.fsencode(example_root / "进行中")
    gbk_name = "复盘".encode("gbk") + b".xlsx"
    os.rename(os.path.join(active, "618大促数据复盘对接.xlsx".encode()), os.path.join(active, gbk_name))
    for args in (["review", "618大促数据复盘对接", "--today", "2026-08-20"],
                 ["archive", "618大促数据复盘对接", "--today", "2026-08-21"]):
        result = CliRunner().invoke(main, [args[0], str(example_root), *args[1:]])
        assert result.exit_code == 0 and "内部错误" not in result.output, (args, result.output)
    [dest] = (example_root / "归档" / "2026").iterdir()
    assert verify(dest) and gbk_name in os.listdir(os.fsencode(dest))
    assert gbk_name not in os.listdir(active) and not list((example_root / "报告").glob("复盘草稿-*"))
