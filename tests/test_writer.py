"""The 预警 write-back: lossless for every writer, or not at all."""

import datetime as dt
import io
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import openpyxl
import pytest
import python_calamine
import xlsxwriter
from conftest import rewrite_part, sha256

from coordxl.xlsx.writer import FlagWrite, patch_sheet_xml, write_flags
from coordxl.xlsx.xlsxparts import Fingerprint

NOW = dt.datetime(2026, 8, 20, 9, 0)
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000185d114090000000049454e44ae426082")


def all_cells(data: bytes) -> dict[str, list[list]]:
    """Every cell of every sheet, as calamine reads it (for the before/after comparison)."""
    wb = python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(data))
    try:
        return {name: wb.get_sheet_by_name(name).to_python(skip_empty_area=False) for name in wb.sheet_names}
    finally:
        wb.close()


def xlsxwriter_workbook(path: Path, with_flag_column: bool = True) -> None:
    """A tracker with an image, a chart, validation pointing at another sheet, a comment, names, formulas."""
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet("执行进度")
    lists = wb.add_worksheet("列表")
    lists.write_column(0, 0, ["张伟", "陈静", "孙丽"])
    wb.define_name("people", "=列表!$A$1:$A$3")
    head = ["编号", "任务", "负责人", "截止日期", "状态", "工时", "合计"] + (["预警"] if with_flag_column else [])
    ws.write_row(0, 0, head)
    date = wb.add_format({"num_format": "yyyy-mm-dd"})
    for r in range(1, 6):
        ws.write_row(r, 0, [f"T{r}", f"任务{r}", "张伟"])
        ws.write_datetime(r, 3, dt.datetime(2026, 8, 10 + r), date)
        ws.write(r, 4, "进行中")
        ws.write_number(r, 5, r * 2)
        ws.write_formula(r, 6, f"=F{r + 1}*10", None, r * 20)
    ws.write_row(8, 0, ["T8", "隔行的任务", "陈静"])  # a gap: rows 7 and 8 do not exist
    ws.data_validation(1, 2, 20, 2, {"validate": "list", "source": "=列表!$A$1:$A$3"})
    ws.write_comment(1, 1, "请每日更新")
    ws.insert_image(10, 1, "logo.png", {"image_data": io.BytesIO(PNG)})
    chart = wb.add_chart({"type": "column"})
    chart.add_series({"values": "=执行进度!$F$2:$F$6"})
    ws.insert_chart(12, 4, chart)
    wb.close()


def parts(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {n: zf.read(n) for n in zf.namelist()}


def flag(path, rows, column=8, header_row=1, add_header="", fingerprint="now", **kw):
    fp = Fingerprint.of(path) if fingerprint == "now" else fingerprint
    job = FlagWrite(path, path.name, "执行进度", column, header_row, rows, fp, add_header)
    return write_flags(job, path.parent / ".coordxl" / "backups", now=NOW, **kw)


def assert_only_flags_changed(before_path_bytes: bytes, after: Path, sheet_part: str, flags: dict, col: int):
    old, new = parts_of(before_path_bytes), parts(after)
    assert list(old) == list(new)
    for name in old:
        if name != sheet_part:
            assert old[name] == new[name], f"{name} changed"
    before, now = all_cells(before_path_bytes), all_cells(after.read_bytes())
    for sheet in before:
        for r, row in enumerate(now[sheet], start=1):
            for c, value in enumerate(row, start=1):
                old_value = before[sheet][r - 1][c - 1] if r <= len(before[sheet]) and c <= len(before[sheet][r - 1]) else ""
                if sheet == "执行进度" and c == col and r in flags:
                    assert value == flags[r]
                else:
                    assert value == old_value, f"{sheet}!{r},{c}"


def parts_of(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return {n: zf.read(n) for n in zf.namelist()}


def test_xlsxwriter_workbook_with_image_chart_validation_comment_names(tmp_path, soffice_optional):
    path = tmp_path / "tracker.xlsx"
    xlsxwriter_workbook(path)
    original = path.read_bytes()
    flags = {2: "逾期5个工作日", 4: "今日到期", 9: "受阻"}
    result = flag(path, flags)
    assert result.written and result.findings == []
    assert_only_flags_changed(original, path, "xl/worksheets/sheet1.xml", flags, 8)
    # formula cells keep their cached values, for every reader
    assert python_calamine.CalamineWorkbook.from_path(str(path)).get_sheet_by_name("执行进度").to_python()[1][6] == 20
    ws = openpyxl.load_workbook(path, data_only=True)["执行进度"]
    assert ws["G2"].value == 20 and ws["H2"].value == "逾期5个工作日" and ws["H9"].value == "受阻"
    assert openpyxl.load_workbook(path)["执行进度"]["G2"].value == "=F2*10"
    soffice_optional(path)


def test_a_new_alert_column_gets_its_header_in_column_order(tmp_path):
    path = tmp_path / "tracker.xlsx"
    xlsxwriter_workbook(path, with_flag_column=False)
    original = path.read_bytes()
    result = flag(path, {3: "逾期1个工作日"}, column=8, add_header="预警")
    assert result.written
    assert_only_flags_changed(original, path, "xl/worksheets/sheet1.xml", {1: "预警", 3: "逾期1个工作日"}, 8)
    xml = parts(path)["xl/worksheets/sheet1.xml"].decode()
    row3 = re.search(r'<row r="3".*?</row>', xml).group(0)
    refs = re.findall(r'<c r="([A-Z]+)3"', row3)
    assert refs == sorted(refs, key=lambda s: (len(s), s)) and refs[-1] == "H"
    assert re.search(r'<dimension ref="A1:H\d+"/>', xml)


def test_openpyxl_example_workbook(example_root):
    path = example_root / "进行中" / "Q3新品上市推广.xlsx"
    original = path.read_bytes()
    flags = {5: "逾期9个工作日", 14: "今日到期"}
    job = FlagWrite(path, path.name, "执行进度", 13, 2, flags, Fingerprint.of(path))
    assert write_flags(job, example_root / ".coordxl" / "backups", now=NOW).written
    assert_only_flags_changed(original, path, "xl/worksheets/sheet3.xml", flags, 13)


def test_rows_without_spans_and_a_cell_past_the_flag_column(tmp_path):
    path = tmp_path / "tracker.xlsx"
    xlsxwriter_workbook(path)
    def no_spans_and_a_note_in_j3(xml):
        xml = re.sub(rb' spans="[0-9:]+"', b"", xml)
        row3 = re.search(rb'<row r="3".*?</row>', xml, re.S).group(0)
        return xml.replace(row3, row3.replace(b"</row>", b'<c r="J3" t="inlineStr"><is><t>note</t></is></c></row>'))
    rewrite_part(path, path, "xl/worksheets/sheet1.xml", no_spans_and_a_note_in_j3)
    assert b'<c r="J3"' in parts(path)["xl/worksheets/sheet1.xml"] and b"spans" not in parts(path)["xl/worksheets/sheet1.xml"]
    result = flag(path, {2: "受阻", 3: "今日到期"})
    assert result.written
    ws = openpyxl.load_workbook(path)["执行进度"]
    assert (ws["H2"].value, ws["H3"].value, ws["J3"].value) == ("受阻", "今日到期", "note")
    row3 = re.search(rb'<row r="3".*?</row>', parts(path)["xl/worksheets/sheet1.xml"], re.S).group(0)
    assert re.findall(rb'<c r="([A-Z]+)3"', row3)[-2:] == [b"H", b"J"]


def test_patch_keeps_cells_in_column_order_and_widens_spans():
    xml = (b'<worksheet><dimension ref="A1:C3"/><sheetData><row r="1" spans="1:3"><c r="A1" t="s"><v>0</v></c>'
           b'<c r="C1"><v>1</v></c></row><row r="3" spans="1:3"><c r="A3"><v>2</v></c><c r="E3"><v>5</v></c>'
           b'</row></sheetData></worksheet>')
    out = patch_sheet_xml(xml, {(1, 4): "x", (3, 4): "y<&>"})
    assert b'<row r="1" spans="1:4">' in out
    assert b'<c r="C1"><v>1</v></c><c r="D1" t="inlineStr"><is><t>x</t></is></c></row>' in out
    assert b'<c r="A3"><v>2</v></c><c r="D3" t="inlineStr"><is><t>y&lt;&amp;&gt;</t></is></c><c r="E3">' in out
    assert b'<dimension ref="A1:D3"/>' in out


def test_clearing_a_flag_keeps_the_cell_style(tmp_path):
    xml = b'<sheetData><row r="2"><c r="A2"><v>1</v></c><c r="B2" s="7" t="inlineStr"><is><t>old</t></is></c></row></sheetData>'
    assert b'<c r="B2" s="7"/>' in patch_sheet_xml(xml, {(2, 2): ""})


def test_formula_in_the_alert_cell_is_never_overwritten(tmp_path):
    path = tmp_path / "tracker.xlsx"
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet("执行进度")
    ws.write_row(0, 0, ["编号", "预警"])
    ws.write(1, 0, "T1")
    ws.write_formula(1, 1, '=IF(A2="","","x")', None, "x")
    wb.close()
    before = sha256(path)
    result = flag(path, {2: "逾期1个工作日"}, column=2)
    assert not result.written and [f.code for f in result.findings] == ["W-FORMULA"]
    assert result.findings[0].cell == "B2" and sha256(path) == before


@pytest.mark.parametrize("owner", ["~$tracker.xlsx", ".~lock.tracker.xlsx#"])
def test_open_workbook_is_skipped(tmp_path, owner):
    path = tmp_path / "tracker.xlsx"
    xlsxwriter_workbook(path)
    (tmp_path / owner).write_text("someone")
    before = sha256(path)
    result = flag(path, {2: "受阻"})
    assert [f.code for f in result.findings] == ["W-LOCKED"] and sha256(path) == before


def test_changed_since_read_is_skipped(tmp_path):
    path = tmp_path / "tracker.xlsx"
    xlsxwriter_workbook(path)
    read_at = Fingerprint.of(path)
    xlsxwriter_workbook(path)  # a colleague saved it meanwhile
    saved = sha256(path)
    result = flag(path, {2: "受阻"}, fingerprint=read_at)
    assert [f.code for f in result.findings] == ["W-CHANGED"] and sha256(path) == saved


def test_saved_while_we_patched_is_skipped(tmp_path):
    path = tmp_path / "tracker.xlsx"
    xlsxwriter_workbook(path)
    def colleague_saves(stage, tmp):
        path.write_bytes(path.read_bytes() + b"")  # same bytes, new mtime
        with open(path, "ab") as fh:
            fh.write(b"\0")
    result = flag(path, {2: "受阻"}, hook=colleague_saves)
    assert [f.code for f in result.findings] == ["W-CHANGED"]
    assert not list(tmp_path.glob(".~coordxl-*"))


def test_a_save_right_after_ours_is_never_reverted(tmp_path):
    """Excel's save-as-temp-and-rename or a sync client lands between our replace and our read-back."""
    path = tmp_path / "tracker.xlsx"
    xlsxwriter_workbook(path)
    original = path.read_bytes()

    def colleague_saves(stage, target):
        if stage == "after_replace":
            wb = openpyxl.load_workbook(target)
            wb["执行进度"]["B3"] = "同事刚改的任务名"
            wb.save(target)

    result = flag(path, {2: "受阻"}, hook=colleague_saves)
    assert [f.code for f in result.findings] == ["W-CHANGED"] and not result.written
    assert openpyxl.load_workbook(path)["执行进度"]["B3"].value == "同事刚改的任务名"  # their save stays
    kept = sorted((tmp_path / ".coordxl" / "backups").rglob("*.xlsx"))
    assert any(p.read_bytes() == original for p in kept)                  # the version we read
    [ours] = [p for p in kept if "-coordxl-" in p.name]                   # and the version we wrote
    assert openpyxl.load_workbook(ours)["执行进度"]["H2"].value == "受阻"


KILL = """
import sys, os, datetime as dt
from pathlib import Path
from coordxl.xlsx.xlsxparts import Fingerprint
from coordxl.xlsx.writer import FlagWrite, write_flags
path = Path(sys.argv[1])
job = FlagWrite(path, path.name, "执行进度", 8, 1, {2: "受阻"}, Fingerprint.of(path))
write_flags(job, path.parent / "backups", now=dt.datetime(2026, 8, 20), hook=lambda stage, tmp: os._exit(9))
"""


def test_killed_between_temp_write_and_replace_leaves_the_original(tmp_path):
    path = tmp_path / "tracker.xlsx"
    xlsxwriter_workbook(path)
    before = sha256(path)
    proc = subprocess.run([sys.executable, "-c", KILL, str(path)])
    assert proc.returncode == 9
    assert sha256(path) == before
    openpyxl.load_workbook(path)


def test_backups_are_rotated(tmp_path):
    path = tmp_path / "tracker.xlsx"
    xlsxwriter_workbook(path)
    for i in range(4):
        job = FlagWrite(path, path.name, "执行进度", 8, 1, {2: f"逾期{i + 1}个工作日"}, Fingerprint.of(path))
        assert write_flags(job, tmp_path / "b", keep=2, now=NOW + dt.timedelta(minutes=i)).written
    [folder] = (tmp_path / "b").iterdir()
    assert len(list(folder.iterdir())) == 2


def test_xlsm_macros_are_kept(tmp_path):
    path = tmp_path / "tracker.xlsm"
    vba = tmp_path / "vbaProject.bin"
    vba.write_bytes(b"\xd0\xcf\x11\xe0macro-project" * 50)
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet("执行进度")
    ws.write_row(0, 0, ["编号", "任务", "预警"])
    ws.write_row(1, 0, ["T1", "x"])
    wb.add_vba_project(str(vba))
    wb.close()
    macro = parts(path)["xl/vbaProject.bin"]
    result = write_flags(FlagWrite(path, path.name, "执行进度", 3, 1, {2: "受阻"}, Fingerprint.of(path)),
                         tmp_path / "b", now=NOW)
    assert result.written and parts(path)["xl/vbaProject.bin"] == macro


@pytest.mark.libreoffice
def test_libreoffice_saved_workbook(tmp_path, soffice):
    source = tmp_path / "src.xlsx"
    xlsxwriter_workbook(source)
    converted = soffice(source, "xlsx:Calc MS Excel 2007 XML")
    path = tmp_path / "tracker.xlsx"
    shutil.copy(converted, path)
    original = path.read_bytes()
    flags = {2: "逾期5个工作日", 9: "受阻"}
    assert flag(path, flags).written
    part = [n for n in parts(path) if n.startswith("xl/worksheets/sheet")][0]
    assert_only_flags_changed(original, path, part, flags, 8)
    soffice(path)


# --- files other office programs write (issue: every office program's files) ------------------

def test_a_sheet_part_named_in_another_letter_case_is_patched(tmp_path, soffice):
    """OPC part names are case-insensitive: workbook.xml.rels may say worksheets/Sheet1.xml for sheet1.xml."""
    path = tmp_path / "tracker.xlsx"
    xlsxwriter_workbook(path)
    rewrite_part(path, path, "xl/_rels/workbook.xml.rels",
                 lambda xml: xml.replace(b"worksheets/sheet1.xml", b"worksheets/Sheet1.xml"))
    before = path.read_bytes()
    result = flag(path, {2: "受阻", 3: "逾期2个工作日"})
    assert result.written and result.findings == []
    assert_only_flags_changed(before, path, "xl/worksheets/sheet1.xml", {2: "受阻", 3: "逾期2个工作日"}, 8)
    soffice(path)  # LibreOffice opens it too (openpyxl does not, with or without the flags)


def test_rows_with_their_attributes_in_another_order_are_patched(tmp_path, soffice):
    """LibreOffice 4.x writes <row collapsed="false" customFormat="false" … r="7">."""
    path = tmp_path / "tracker.xlsx"
    xlsxwriter_workbook(path)
    rewrite_part(path, path, "xl/worksheets/sheet1.xml",
                 lambda xml: re.sub(rb'<row r="(\d+)"', rb'<row collapsed="false" r="\1"', xml))
    before = path.read_bytes()
    result = flag(path, {2: "受阻"})
    assert result.written and result.findings == []
    assert_only_flags_changed(before, path, "xl/worksheets/sheet1.xml", {2: "受阻"}, 8)
    soffice(path)


def test_cells_inside_an_array_formula_are_never_overwritten(tmp_path, soffice):
    """An array formula (Ctrl+Shift+Enter, or a spilling dynamic array) over H2:H4 owns every cell of it."""
    path = tmp_path / "tracker.xlsx"
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet("执行进度")
    ws.write_row(0, 0, ["编号", "任务", "负责人", "截止日期", "状态", "工时", "合计", "预警"])
    for r in range(1, 6):
        ws.write_row(r, 0, [f"T{r}", f"任务{r}", "张伟", "2026-08-10", "进行中", r])
    ws.write_array_formula("H2:H4", "{=F2:F4*2}", None, 2)
    wb.close()
    before = sha256(path)
    result = flag(path, {3: "逾期1个工作日"})  # H3 is inside the array
    assert not result.written and [(f.code, f.cell) for f in result.findings] == [("W-FORMULA", "H3")]
    assert sha256(path) == before
    before = path.read_bytes()
    result = flag(path, {3: "逾期1个工作日", 5: "逾期1个工作日"})  # H5 is outside it: the array blocks only H3
    assert result.written and [(f.code, f.cell) for f in result.findings] == [("W-FORMULA", "H3")]
    assert_only_flags_changed(before, path, "xl/worksheets/sheet1.xml", {5: "逾期1个工作日"}, 8)
    soffice(path)


def test_a_mac_excel_workbook_counts_its_dates_from_1904(share_with_roster):
    """date1904="1": typed dates and plain serials alike are read in the workbook's own date system."""
    from coordxl.run.daily import run_daily
    path = share_with_roster / "进行中" / "Mac事项.xlsx"
    wb = xlsxwriter.Workbook(str(path), {"date_1904": True})
    req = wb.add_worksheet("需求单")
    for r, (label, value) in enumerate([("沟通主题", "Mac事项"), ("发起部门", "市场部"), ("发起人", "张伟"),
                                        ("状态", "进行中")]):
        req.write_row(r, 0, [label, value])
    date = wb.add_format({"num_format": "yyyy-mm-dd"})
    req.write(4, 0, "发出日期")
    req.write_datetime(4, 1, dt.datetime(2026, 7, 1), date)
    ws = wb.add_worksheet("执行进度")
    ws.write_row(0, 0, ["编号", "任务", "负责部门", "负责人", "截止日期", "交付标准", "状态", "预警"])
    ws.write_row(1, 0, ["M1", "报价单", "设计部", "冯雪"])
    ws.write_datetime(1, 4, dt.datetime(2026, 8, 7), date)                       # a typed date
    ws.write_row(1, 5, ["报价单", "进行中"])
    ws.write_row(2, 0, ["M2", "样品", "设计部", "冯雪", (dt.date(2026, 8, 7) - dt.date(1904, 1, 1)).days,
                        "样品", "进行中"])                                        # a plain 1904 serial
    wb.close()
    run_daily(share_with_roster, dt.date(2026, 8, 20), NOW)
    ws = openpyxl.load_workbook(path)["执行进度"]
    assert ws["H2"].value == ws["H3"].value == "逾期·已升级（截止08-07）"  # 2026-08-07, not 1,000+ days late


def test_a_read_only_workbook_is_never_written(tmp_path):
    path = tmp_path / "tracker.xlsx"
    xlsxwriter_workbook(path)
    path.chmod(0o444)
    before = sha256(path)
    result = flag(path, {2: "受阻"})
    assert not result.written and [f.code for f in result.findings] == ["W-READONLY"]
    assert sha256(path) == before and (path.stat().st_mode & 0o777) == 0o444


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root to give a file away")
def test_a_colleague_s_workbook_stays_theirs_after_the_flags(tmp_path):
    path = tmp_path / "tracker.xlsx"
    xlsxwriter_workbook(path)
    os.chown(path, 4321, 4321)  # owned by a colleague, as on a shared folder
    path.chmod(0o664)
    result = flag(path, {2: "受阻"})
    assert result.written
    st = path.stat()
    assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == (4321, 4321, 0o664)


def test_the_schema_check_of_every_patched_sheet_can_fail(tmp_path):
    """The autouse check in conftest validates each patched sheet with ECMA-376 sml.xsd; it does catch
    what a careless splice would write (text straight in <c>, a cell after its row's end)."""
    from ooxml_schema import errors

    from coordxl.xlsx.writer import patch_sheet_xml
    path = tmp_path / "tracker.xlsx"
    xlsxwriter_workbook(path)
    with zipfile.ZipFile(path) as zf:
        xml = zf.read("xl/worksheets/sheet1.xml")
    patched = patch_sheet_xml(xml, {(2, 8): "受阻"})
    assert errors(xml) == [] and errors(patched) == []
    careless = re.sub(rb'<c r="H2"[^>]*>.*?</c>', '<c r="H2" t="inlineStr"><t>受阻</t></c>'.encode(), patched)
    assert careless != patched and errors(careless)
    misplaced = patched.replace(b"</sheetData>", b"</sheetData><c r=\"Z1\"/>", 1)
    assert errors(misplaced)


@pytest.mark.parametrize("row", [
    b'<row r="2"><c r="A2" t="s"><v>0</v></c><c r="B2" s="3"><v>5</v></c></row>',             # flag cell missing
    b'<row r="2" spans="1:2"><c r="A2"><v>1</v></c></row>',                                     # spans to widen
    b'<row r="2"><c r="A2"><v>1</v></c><c r="H2" s="7" t="inlineStr"><is><t>old</t></is></c></row>',  # flag there
    b'<row r="2"><c r="A2"><v>1</v></c><c r="H2"/><c r="K2"><v>9</v></c></row>',                # a cell after it
    b'<row r="2"><c r="A2" t="inlineStr"><is><t>a note: r="H2"</t></is></c></row>',            # the ref in a text
    b'<row r="2"/>',                                                                             # an empty row
    b'<row r="2"><c s="4" r="H2"><v>3</v></c></row>',                                           # attributes in another order
])
@pytest.mark.parametrize("value", ["逾期1个工作日", ""])
def test_the_quick_splice_writes_exactly_what_the_careful_walk_writes(row, value, monkeypatch):
    from coordxl.xlsx import splice as writer  # the splice's own module: where _quick_splice is looked up
    xml = b'<worksheet><sheetData>' + row + b'</sheetData></worksheet>'
    quick = writer.patch_sheet_xml(xml, {(2, 8): value})
    monkeypatch.setattr(writer, "_quick_splice", lambda *a: None)
    assert quick == writer.patch_sheet_xml(xml, {(2, 8): value})


def _restyle_a3(xml: bytes) -> bytes:
    if b'<c r="A3" s="0"' in xml:
        return xml.replace(b'<c r="A3" s="0"', b'<c r="A3" s="1"', 1)
    return re.sub(rb'<c r="A3"( s="\d+")?', b'<c r="A3" s="0"', xml, count=1)


SHEET = "xl/worksheets/sheet1.xml"
# What a broken write, a disk or another program might do to the file between the patch and the
# replace; the read-back finds each (W-LOSSY, with where), and the original comes back byte for byte.
DAMAGE = [
    ("another cell's value", SHEET, lambda xml: xml.replace(b"<v>2</v>", b"<v>999</v>", 1), "执行进度!row"),
    ("another part (shared strings)", "xl/sharedStrings.xml",
     lambda xml: xml.replace("任务1".encode(), "任务X".encode(), 1), "sharedStrings"),
    ("a style no value shows", SHEET, _restyle_a3, "row 3"),
    ("the flag in another form", SHEET, lambda xml: xml.replace("受阻".encode(), "受".encode(), 1), "not written"),
    ("the patch missing its part", None, None, "not written"),
]


@pytest.mark.parametrize("what,part,damage,told", DAMAGE, ids=[d[0] for d in DAMAGE])
def test_a_write_that_does_not_read_back_as_meant_is_restored(tmp_path, what, part, damage, told):
    path = tmp_path / "tracker.xlsx"
    xlsxwriter_workbook(path)
    original = path.read_bytes()

    def damaged(stage, tmp):
        if stage != "before_replace":
            return
        if part is None:
            tmp.write_bytes(original)  # as if the patch had gone nowhere
        else:
            rewrite_part(tmp, tmp, part, damage)
    result = flag(path, {2: "受阻"}, hook=damaged)
    assert not result.written and [f.code for f in result.findings] == ["W-LOSSY"]
    assert told in result.findings[0].hint_en
    assert path.read_bytes() == original


# --- the lighter protocol: parts copied as stored, the replaced file kept as the backup ------------

def _stored(data: bytes) -> dict[str, bytes]:
    """Each member's compressed bytes as they lie in the file (read with zipfile's own offsets)."""
    out = {}
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        for info in zf.infolist():
            name_len, extra_len = int.from_bytes(data[info.header_offset + 26:info.header_offset + 28], "little"), \
                int.from_bytes(data[info.header_offset + 28:info.header_offset + 30], "little")
            start = info.header_offset + 30 + name_len + extra_len
            out[info.filename] = data[start:start + info.compress_size]
    return out


def _repacked(src: Path, dst: Path, level: int, stream: bool = False) -> None:
    """The same workbook with every part deflated at ``level``; ``stream``: written as a streaming writer
    does (no seeking back: each part followed by a data descriptor)."""
    class Pipe(io.RawIOBase):
        def __init__(self, fh):
            self.fh = fh

        def writable(self):
            return True

        def write(self, b):
            return self.fh.write(b)

    with zipfile.ZipFile(src) as zin, open(dst, "wb") as fh:
        with zipfile.ZipFile(Pipe(fh) if stream else fh, "w", zipfile.ZIP_DEFLATED, compresslevel=level) as zout:
            for info in zin.infolist():
                zout.writestr(info.filename, zin.read(info))


@pytest.mark.parametrize("stream", [False, True], ids=["seekable", "data-descriptors"])
def test_every_other_part_is_copied_as_stored_byte_for_byte(tmp_path, stream):
    """Images, charts and the other sheets are never inflated and compressed again: what lies in the file
    stays (a part deflated at level 9 by its writer is not re-deflated at another level)."""
    source = tmp_path / "source.xlsx"
    xlsxwriter_workbook(source)
    path = tmp_path / "tracker.xlsx"
    _repacked(source, path, level=9, stream=stream)
    before = path.read_bytes()
    assert flag(path, {2: "受阻", 5: "逾期（截止08-07）"}).written
    after = path.read_bytes()
    old, new = _stored(before), _stored(after)
    sheet = "xl/worksheets/sheet1.xml"
    assert sorted(old) == sorted(new)
    assert [name for name in old if name != sheet and old[name] != new[name]] == []
    assert old[sheet] != new[sheet]
    cells = all_cells(after)["执行进度"]
    assert cells[1][7] == "受阻" and cells[4][7] == "逾期（截止08-07）"
    with zipfile.ZipFile(io.BytesIO(after)) as zf:
        assert zf.testzip() is None


def test_the_backup_is_the_replaced_file_itself_and_only_the_administrator_reads_it(tmp_path):
    path = tmp_path / "tracker.xlsx"
    xlsxwriter_workbook(path)
    os.chmod(path, 0o664)
    original, inode = path.read_bytes(), os.stat(path).st_ino
    result = flag(path, {2: "受阻"})
    assert result.written
    assert os.stat(result.backup).st_ino == inode  # nothing copied: the old file is the backup
    assert result.backup.read_bytes() == original and os.stat(path).st_ino != inode
    assert os.stat(result.backup).st_mode & 0o777 == 0o600 and os.stat(path).st_mode & 0o777 == 0o664


def test_where_there_are_no_hard_links_the_backup_is_a_copy(tmp_path, monkeypatch):
    def refused(*_):  # a share or a FAT disk: no hard links
        raise PermissionError(1, "Operation not permitted")
    monkeypatch.setattr(os, "link", refused)
    path = tmp_path / "tracker.xlsx"
    xlsxwriter_workbook(path)
    original = path.read_bytes()
    result = flag(path, {2: "受阻"})
    assert result.written and result.backup.read_bytes() == original
    assert os.stat(result.backup).st_mode & 0o777 == 0o600


def test_a_write_given_up_leaves_no_backup_that_is_the_workbook_itself(tmp_path):
    path = tmp_path / "tracker.xlsx"
    xlsxwriter_workbook(path)

    def colleague_saves(stage, tmp):  # in place: the same file, new bytes
        with open(path, "ab") as fh:
            fh.write(b"\0")
    result = flag(path, {2: "受阻"}, hook=colleague_saves)
    assert [f.code for f in result.findings] == ["W-CHANGED"]
    live = os.stat(path).st_ino
    assert not [p for p in (tmp_path / "backups").rglob("*") if p.is_file() and os.stat(p).st_ino == live]


def test_the_backups_of_a_workbook_with_brackets_in_its_name_are_rotated_too(tmp_path):
    """`事项[2026].xlsx`: its name was read as a pattern when old backups were rotated, so they piled up."""
    path = tmp_path / "事项[2026].xlsx"
    xlsxwriter_workbook(path)
    backups = tmp_path / "backups"
    for n, text in enumerate(["受阻", "逾期（截止08-07）", "今日到期"]):
        job = FlagWrite(path, path.name, "执行进度", 8, 1, {2: text}, Fingerprint.of(path))
        assert write_flags(job, backups, keep=2, now=NOW + dt.timedelta(minutes=n)).written
    assert len([p for p in backups.rglob("*") if p.is_file()]) == 2
