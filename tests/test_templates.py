"""The templates staff copy: every field, drop-downs, live colouring, print setup — and no drift."""


import datetime as dt
import os
import shutil

import openpyxl
import pytest
import python_calamine
from conftest import EXAMPLE as REPO_EXAMPLE
from conftest import TEMPLATES, structure

from coordxl import schema
from coordxl.messages import text
from coordxl.run import templates
from coordxl.state.layout import ITEM_TEMPLATE, ROSTER_TEMPLATE
from coordxl.xlsx.reader import read_workbook


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
                f"workbooks/templates/{kind[lang]} drifted; run: python -m coordxl.run.templates workbooks/templates")


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


# --- the 填写说明 sheet -------------------------------------------------------------------------

def _guide_rows(path, lang):
    ws = openpyxl.load_workbook(path)[schema.GUIDE_SHEET[lang]]
    return [[c.value for c in row] for row in ws.iter_rows()]


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize("kind,sheets", [(ITEM_TEMPLATE, schema.ITEM_SHEETS), (ROSTER_TEMPLATE, schema.ROSTER_SHEETS)])
def test_every_template_ends_with_a_guide_naming_every_column(generated, lang, kind, sheets):
    """填写说明 is the last sheet (the data sheets keep their places, the workbook opens on the first)
    and has a row for every column of every sheet, required ones marked, in the template's language."""
    wb = openpyxl.load_workbook(generated / kind[lang])
    assert wb.sheetnames[-1] == schema.GUIDE_SHEET[lang] and wb.active.title == sheets[0].label(lang)
    assert wb.sheetnames[:len(sheets)] == [s.label(lang) for s in sheets]
    rows = _guide_rows(generated / kind[lang], lang)
    listed = {(r[0], r[1]): r[2] for r in rows if r[0] and r[1] and len(r) > 2}
    required = text("guide.required", lang)
    for sheet in sheets:
        for f in sheet.fields():
            assert listed[(sheet.label(lang), f.label(lang))] == (required if f.required else None), f.key
    assert rows[0][0] == text("guide.title", lang) and rows[1][0] == text("guide.not_data", lang)


def test_the_guide_s_colour_legend_is_the_tracker_s_conditional_formats(generated):
    wb = openpyxl.load_workbook(generated / ITEM_TEMPLATE["zh"])
    rules = _cf_rules(wb["执行进度"])
    fills = {fill[-6:] for _, _, fill in rules if fill}
    guide = wb["填写说明"]
    legend = {}
    for row in guide.iter_rows():
        if row[0].fill and row[0].fill.fill_type == "solid":
            legend[row[0].fill.fgColor.rgb[-6:]] = row[1].value
    assert set(legend) == fills == {templates.GREY, templates.BLUE, templates.RED, templates.AMBER}
    assert "已完成" in legend[templates.GREY] and "暂停" in legend[templates.BLUE]
    assert "逾期" in legend[templates.RED] and "到期" in legend[templates.AMBER]
    words = " ".join(str(v) for r in _guide_rows(generated / ITEM_TEMPLATE["zh"], "zh") for v in r if v)
    for must in ("预警", "请勿", "已完成", "暂停", "搁置", "已取消", "受阻", "延期至", "胡斌→朱琳"):
        assert must in words, must


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_roster_guide_explains_leave_and_deputies(generated, lang):
    words = " ".join(str(v) for r in _guide_rows(generated / ROSTER_TEMPLATE[lang], lang) for v in r if v)
    for key in ("guide.leave.active_how", "guide.leave.until_how", "guide.leave.deputy_how"):
        assert text(key, lang) in words
    people = schema.PEOPLE_SHEET
    for field in ("active", "leave_until", "deputy"):
        assert people.field(field).label(lang) in words


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize("kind", ["date", "datetime", "time", "number", "email"])
def test_the_guide_s_examples_are_what_the_normalizer_accepts_and_refuses(lang, kind):
    """Each example the guide gives as accepted is read, each one given as refused is not (dates near
    2026-08-01, as an item's own dates make them)."""
    from coordxl.normalize import parse_date, parse_datetime, parse_number, parse_time
    from coordxl.process.roster import EMAIL_RE

    near = dt.date(2026, 8, 1)
    read = {"date": lambda s: parse_date(s, near=near).value, "datetime": lambda s: parse_datetime(s, near=near)[0],
            "time": parse_time, "number": parse_number, "email": lambda s: s if EMAIL_RE.match(s) else None}[kind]
    sep = "、" if lang == "zh" else ", "
    accepted = text(f"guide.ok.{kind}", lang).split(sep)
    refused = text(f"guide.no.{kind}", lang).split(sep)
    assert accepted and refused
    assert [s for s in accepted if read(s) is None] == []
    assert [s for s in refused if read(s) is not None] == []


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_guide_s_status_spellings_are_the_tracker_s(generated, lang):
    """Every status the guide lists for 状态 is read as that status (the schema's own spellings)."""
    import re

    rows = _guide_rows(generated / ITEM_TEMPLATE[lang], lang)
    status = schema.TASKS.field("status")
    [accepted] = [r[4] for r in rows if r[0] == schema.TASKS.label(lang) and r[1] == status.label(lang)]
    listed = accepted.split("；" if lang == "zh" else "; ")[0]
    words = [w for w in re.split(r"[、,()（）]\s*", listed) if w.strip()]
    assert {status.choice_for(w.strip()).key for w in words} == {c.key for c in status.choices}


@pytest.mark.libreoffice
@pytest.mark.parametrize("name", sorted(set(ITEM_TEMPLATE.values()) | set(ROSTER_TEMPLATE.values())))
def test_libreoffice_opens_the_guide_sheet(generated, soffice, name, tmp_path):
    """LibreOffice opens each template with its 填写说明 sheet and prints it (the guide's title and its
    leave/marking sections are in the PDF's text)."""
    import subprocess

    lang = "zh" if name in (ITEM_TEMPLATE["zh"], ROSTER_TEMPLATE["zh"]) else "en"
    pdf = soffice(generated / name)
    words = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    section = "guide.marking" if name in ITEM_TEMPLATE.values() else "guide.leave"
    assert text("guide.not_data", lang)[:12] in words and text(section, lang) in words


def _example_folder(root, guide: bool):
    """The example's settings, roster and three items, every workbook with or without its 填写说明 sheet."""
    from coordxl.run import example as ex
    from coordxl.settings import CONFIG_NAME

    root.mkdir(parents=True)
    shutil.copy(REPO_EXAMPLE / CONFIG_NAME, root / CONFIG_NAME)
    ex._roster(guide=guide).save(root / "名册.xlsx")
    items = {ex.LAUNCH: (ex.LAUNCH_REQUEST, ex.LAUNCH_MINUTES, ex.LAUNCH_ACTIONS, ex.LAUNCH_TASKS,
                         ex.LAUNCH_FOLLOWUPS, ex.LAUNCH_RESOURCES),
             ex.STORES: (ex.STORES_REQUEST, ex.STORES_MINUTES, ex.STORES_ACTIONS, ex.STORES_TASKS,
                         ex.STORES_FOLLOWUPS, ())}
    (root / "进行中").mkdir()
    for topic, parts in items.items():
        wb = ex._item(topic, *parts, guide=guide)
        if topic == ex.STORES:
            ex._real_life(wb)
        wb.save(root / "进行中" / f"{topic}.xlsx")
    return root


def test_check_and_daily_never_read_the_guide_as_data(tmp_path):
    """The same folder with and without 填写说明 in every item and the roster: the same findings from
    `check`, the same flags, summary and mails from `daily` (the guide lists every column label, so a
    reader that classified sheets by their labels would take it for a second tracker)."""
    import json

    from click.testing import CliRunner

    from coordxl.cli import main

    out = {}
    for guide in (False, True):
        root = _example_folder(tmp_path / f"guide-{guide}" / "share", guide)
        assert (schema.GUIDE_SHEET["zh"] in openpyxl.load_workbook(root / "进行中" / "华东门店焕新.xlsx").sheetnames) is guide
        check = CliRunner().invoke(main, ["check", str(root), "--today", "2026-08-20", "--json"])
        daily = CliRunner().invoke(main, ["daily", str(root), "--today", "2026-08-20", "--json"])
        assert check.exit_code in (0, 1) and daily.exit_code == 0, (check.output, daily.output)
        findings = sorted((f["code"], f["workbook"], f["sheet"], f["cell"], f["message"])
                          for f in json.loads(check.stdout)["findings"])
        summary = json.loads(daily.stdout)
        flags = {}
        for path in sorted((root / "进行中").glob("*.xlsx")):
            ws = openpyxl.load_workbook(path)["执行进度"]
            flags[path.name] = [c.value for c in ws["M"]]
        mails = sorted(p.name.split("-")[0] for p in (root / ".coordxl" / "outbox").rglob("*.eml"))
        out[guide] = (findings, {k: v for k, v in summary.items() if k not in ("elapsed_seconds",)}, flags, mails)
    assert out[True] == out[False]
    assert not any(code == "W-DUPLICATE-SHEET" for code, *_ in out[True][0])
