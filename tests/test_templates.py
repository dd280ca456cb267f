"""The templates staff copy: every field, drop-downs, live colouring, print setup — and no drift."""


import datetime as dt
import os
import shutil

import openpyxl
import pytest
import python_calamine
from conftest import TEMPLATES, structure

from coordxl import schema, templates
from coordxl.layout import ITEM_TEMPLATE, ROSTER_TEMPLATE
from coordxl.reader import read_workbook


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    out = tmp_path_factory.mktemp("tpl")
    templates.write_templates(out)
    return out


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize("kind,sheets", [(ITEM_TEMPLATE, schema.ITEM_SHEETS), (ROSTER_TEMPLATE, schema.ROSTER_SHEETS)])
def test_every_schema_field_is_in_the_template_with_its_label(generated, lang, kind, sheets):
    path = generated / kind[lang]
    data = read_workbook(path, sheets, 2**30)
    assert not data.findings
    for sheet in sheets:
        [found] = data.sheets[sheet.key]
        assert found.name == sheet.label(lang)
        for table in sheet.tables:
            t = found.tables[table.key]
            assert t.missing == []
            assert set(t.columns) == {f.key for f in table.fields}
        if sheet.form:
            assert set(found.form.labels) == {f.key for f in sheet.form.fields}
    # the labels themselves, in the template's language
    wb = openpyxl.load_workbook(path)
    for sheet in sheets:
        text = {c.value for row in wb[sheet.label(lang)].iter_rows() for c in row if c.value}
        for f in sheet.fields():
            assert f.label(lang) in text


def _dv_for(ws, cell_range_start):
    for dv in ws.data_validations.dataValidation:
        for rng in dv.sqref.ranges:
            if cell_range_start in rng:
                return dv
    return None


def test_task_sheet_has_dropdowns_prompts_and_date_formats(generated):
    wb = openpyxl.load_workbook(generated / ITEM_TEMPLATE["zh"])
    ws = wb["执行进度"]
    header = {ws.cell(row=2, column=c).value: c for c in range(1, ws.max_column + 1)}
    status = _dv_for(ws, ws.cell(row=3, column=header["状态"]).coordinate)
    assert status.type == "list" and status.formula1 == '"未开始,进行中,已完成,受阻,暂停,已取消"'
    assert status.prompt == "每日更新"
    owner = _dv_for(ws, ws.cell(row=40, column=header["负责人"]).coordinate)
    assert owner.formula1 == "=coordxl_people" and owner.errorStyle == "warning"
    dept = _dv_for(ws, ws.cell(row=3, column=header["负责部门"]).coordinate)
    assert dept.formula1 == "=coordxl_departments"
    assert ws.cell(row=3, column=header["截止日期"]).number_format == "yyyy-mm-dd"
    assert ws.freeze_panes == "A3"
    assert ws.page_setup.orientation == "landscape" and int(ws.page_setup.paperSize) == 9  # A4
    assert wb.defined_names["coordxl_people"].attr_text == "'列表'!$B$2:$B$2000"
    assert wb["列表"].sheet_state == "hidden"


@pytest.mark.parametrize("sheet,field,choices", [
    ("资源申请", "资源类型", "人力,资金,设备,其他"),
    ("资源申请", "审核结果", "待审核,通过,退回"),
    ("资源申请", "审批结果", "待审批,批准,驳回"),
    ("需求单", "状态", "筹备中,进行中,验收中,已关闭"),
])
def test_every_enum_has_a_dropdown(generated, sheet, field, choices):
    wb = openpyxl.load_workbook(generated / ITEM_TEMPLATE["zh"])
    ws = wb[sheet]
    cells = [c for row in ws.iter_rows(max_row=20) for c in row if c.value == field]
    assert cells, field
    label = cells[0]
    target = ws.cell(row=label.row, column=2) if sheet == "需求单" else ws.cell(row=label.row + 1, column=label.column)
    dv = _dv_for(ws, target.coordinate)
    assert dv is not None and dv.formula1 == f'"{choices}"'


def test_roster_yes_no_dropdowns(generated):
    wb = openpyxl.load_workbook(generated / ROSTER_TEMPLATE["zh"])
    ws = wb["人员"]
    assert _dv_for(ws, "E3").formula1 == '"是,否"'
    assert _dv_for(ws, "F3").formula1 == '"是,否,休假"'  # 在职: here, gone, or on leave
    assert _dv_for(ws, "B3").formula1 == "=coordxl_departments"
    # 休假至 and 代理人 follow, with what to write in their prompts
    assert (ws["K2"].value, ws["L2"].value) == ("休假至", "代理人")
    assert "次日起恢复" in _dv_for(ws, "K3").prompt and _dv_for(ws, "L3").formula1 == "=coordxl_people"


def _cf_rules(ws):
    return [(str(rng.sqref), r.formula[0], r.dxf.fill.fgColor.rgb if r.dxf and r.dxf.fill else None)
            for rng in ws.conditional_formatting for r in rng.rules]


def test_task_rows_are_coloured_live(generated):
    ws = openpyxl.load_workbook(generated / ITEM_TEMPLATE["zh"])["执行进度"]
    rules = _cf_rules(ws)
    formulas = [f for _, f, _ in rules]
    assert all(rng == "A3:M502" for rng, _, _ in rules)
    red = [f for _, f, fill in rules if fill and fill.endswith(templates.RED)]
    amber = [f for _, f, fill in rules if fill and fill.endswith(templates.AMBER)]
    grey = [f for _, f, fill in rules if fill and fill.endswith(templates.GREY)]
    assert any('LEFT($M3,2)="逾期"' in f for f in red), "flag-keyed red rule"
    assert any("$G3<TODAY()" in f and 'NOT(ISNUMBER(MATCH(' in f and '"已完成"' in f and '"已取消"' in f for f in red)
    assert any("$G3-TODAY()<=2" in f for f in amber)
    assert any('MATCH(' in f and '"已完成","Done","done","完成"' in f for f in grey)
    # done wins over overdue: it comes first and stops
    assert formulas.index(grey[0]) == 0


def test_committed_templates_match_the_generator(generated):
    for lang in ("zh", "en"):
        for kind in (ITEM_TEMPLATE, ROSTER_TEMPLATE):
            assert structure(TEMPLATES / kind[lang]) == structure(generated / kind[lang]), (
                f"workbooks/templates/{kind[lang]} drifted; run: python -m coordxl.templates workbooks/templates")


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_templates_open_in_calamine(generated, lang):
    wb = python_calamine.CalamineWorkbook.from_path(str(generated / ITEM_TEMPLATE[lang]))
    assert [s.label(lang) for s in schema.ITEM_SHEETS] == wb.sheet_names[:len(schema.ITEM_SHEETS)]


def _row_colours(pdf, words: list[str]) -> dict[str, tuple[int, int, int]]:
    """The fill colour LibreOffice painted right of each word on the PDF's first page (at 100 dpi)."""
    import re
    import subprocess

    ppm = subprocess.run(["pdftoppm", "-r", "100", "-f", "1", "-l", "1", str(pdf)], capture_output=True,
                         check=True).stdout
    head = re.match(rb"P6\s+(\d+)\s+(\d+)\s+255\s", ppm)
    width, height, pixels = int(head.group(1)), int(head.group(2)), ppm[head.end():]
    boxes = subprocess.run(["pdftotext", "-bbox", "-f", "1", "-l", "1", str(pdf), "-"], capture_output=True,
                           text=True, check=True).stdout
    page = re.search(r'<page width="([\d.]+)" height="([\d.]+)"', boxes)
    sx, sy = width / float(page.group(1)), height / float(page.group(2))
    out = {}
    for word in words:
        box = re.search(r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">' + word, boxes)
        x0, y0, x1, y1 = map(float, box.groups())
        at = 3 * (int((y0 + y1) / 2 * sy) * width + int((x1 + 4) * sx))
        out[word] = tuple(pixels[at:at + 3])
    return out


@pytest.mark.libreoffice
def test_a_task_marked_done_the_way_staff_write_it_is_grey_not_red(generated, soffice, tmp_path):
    """已完成√, 完成（待验收）, Done ✓ and 100% typed as a number are done, as the daily job reads them:
    grey in the tracker although their deadline has passed; 完成90%, 未完成 and 受阻 are still open: red;
    暂停 and 搁置 (paused on purpose) are blue.
    Painted by LibreOffice (PDF at 100 dpi), the colours sampled beside each task's name."""
    if shutil.which("pdftoppm") is None:
        if os.environ.get("CI"):
            pytest.fail("poppler-utils is required on CI (.ci/run installs it)")
        pytest.skip("poppler-utils not installed")
    wb = openpyxl.load_workbook(generated / ITEM_TEMPLATE["zh"])
    for name in wb.sheetnames:
        if name != "执行进度":
            del wb[name]
    ws = wb["执行进度"]
    cases = {"甲甲甲": ("已完成√", "grey"), "乙乙乙": ("完成（待验收）", "grey"), "丙丙丙": ("完成90%", "red"),
             "丁丁丁": ("进行中", "red"), "戊戊戊": ("已完成", "grey"), "己己己": ("已取消", "white"),
             "庚庚庚": ("Done ✓", "grey"), "辛辛辛": ("未完成", "red"), "壬壬壬": (1, "grey"),
             "癸癸癸": ("暂停", "blue"), "子子子": ("搁置", "blue"), "丑丑丑": ("受阻", "red")}
    for row, (task, (status, _)) in enumerate(cases.items(), start=3):
        ws.cell(row, 1, f"T{row}")
        ws.cell(row, 2, task)
        ws.cell(row, 7, dt.date(2026, 1, 5))  # long past, whenever the test runs
        ws.cell(row, 9, status)
    wb.save(tmp_path / "tracker.xlsx")
    painted = _row_colours(soffice(tmp_path / "tracker.xlsx"), list(cases))
    colour = {"grey": templates.GREY, "red": templates.RED, "white": "FFFFFF", "blue": templates.BLUE}
    want = {task: tuple(bytes.fromhex(colour[c])) for task, (_, c) in cases.items()}
    assert painted == want


@pytest.mark.libreoffice
@pytest.mark.parametrize("name", sorted(set(ITEM_TEMPLATE.values()) | set(ROSTER_TEMPLATE.values())))
def test_libreoffice_opens_every_template(generated, soffice, name):
    pdf = soffice(generated / name)
    assert pdf.stat().st_size > 5000


def test_every_flag_the_daily_job_writes_is_coloured_by_the_template_s_rules(generated):
    """The templates colour a row from the 预警 text's first words; a reworded flag in the message
    table must still start with them, in both languages, or staff lose the red and amber rows."""
    import re

    from coordxl.messages import text

    ws = openpyxl.load_workbook(generated / ITEM_TEMPLATE["zh"])["执行进度"]
    rules = _cf_rules(ws)
    red = " ".join(f for _, f, fill in rules if fill and fill.endswith(templates.RED))
    amber = " ".join(f for _, f, fill in rules if fill and fill.endswith(templates.AMBER))
    lefts = lambda formulas: [w for _, w in re.findall(r'LEFT\(\$M3,(\d+)\)="([^"]+)"', formulas)]  # noqa: E731
    searched = lambda formulas: re.findall(r'SEARCH\("([^"]+)",\$M3\)', formulas)  # noqa: E731

    def coloured(flag: str, formulas: str) -> bool:
        return any(flag.startswith(w) for w in lefts(formulas)) or any(w in flag for w in searched(formulas))

    params = dict(days=3, date="10-01")
    for lang in ("zh", "en"):
        assert coloured(text("flag.overdue", lang, **params), red), lang
        for key in ("flag.due_today", "flag.due_soon", "flag.due_today_holiday", "flag.due_soon_holiday"):
            flag = text(key, lang, **params)
            assert coloured(flag, amber) and not coloured(flag, red), (key, lang, flag)
        for key in ("flag.stale", "flag.blocked", "flag.invalid", "flag.paused"):
            flag = text(key, lang, fields="负责人", **params)
            assert not coloured(flag, red) and not coloured(flag, amber), (key, lang, flag)
