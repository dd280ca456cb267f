"""Build the blank workbooks staff copy, from the schemas, with openpyxl.

What a good Chinese office template has: a title row, bold frozen headers,
column widths, wrapped long text, yyyy-mm-dd dates, drop-downs for every
choice and for people and departments (from a hidden list sheet), input
messages, A4 landscape printing, and conditional formatting that colours task
rows live in Excel: overdue red, due soon amber, done grey — and red whenever
the 预警 cell written by the daily job starts with 逾期.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import Any, Iterable

from openpyxl import Workbook
from openpyxl.formatting.rule import FormulaRule
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter, quote_sheetname
from openpyxl.workbook.defined_name import DefinedName
from openpyxl.worksheet.datavalidation import DataValidation

from .. import schema
from ..messages import text
from ..state.layout import ITEM_TEMPLATE, ROSTER_TEMPLATE
from ..xlsx.xlsxout import HEADER_FILL, HEADER_FONT, print_setup, put_text

LIST_SHEET = {"zh": "列表", "en": "Lists"}
PEOPLE_NAME = "coordxl_people"
DEPARTMENTS_NAME = "coordxl_departments"
OPEN_RANGE_ROWS = 500  # rows a trailing table's validation and colouring cover

DATE_FORMAT = "yyyy-mm-dd"
DATETIME_FORMAT = "yyyy-mm-dd hh:mm"
TIME_FORMAT = "hh:mm"

RED = "FFC7CE"
RED_TEXT = "9C0006"
AMBER = "FFEB9C"
AMBER_TEXT = "9C5700"
GREY = "E7E6E6"
GREY_TEXT = "808080"
BLUE = "DDEBF7"  # paused on purpose: neither done nor late
BLUE_TEXT = "1F4E79"

_thin = Side(style="thin", color="BFBFBF")
BORDER = Border(left=_thin, right=_thin, top=_thin, bottom=_thin)
LABEL_FILL = PatternFill("solid", start_color="F2F2F2")
TITLE_FONT = Font(size=14, bold=True)
REQUIRED_FONT = Font(bold=True, color="C00000")
WRAP = Alignment(wrap_text=True, vertical="top")
CENTER = Alignment(horizontal="center", vertical="center", wrap_text=True)


@dataclass
class TableLayout:
    header_row: int
    first_row: int
    last_row: int
    columns: dict[str, int]  # field key -> 1-based column


@dataclass
class SheetLayout:
    title: str
    form_rows: dict[str, int] = dc_field(default_factory=dict)  # field key -> row; value in column B
    tables: dict[str, TableLayout] = dc_field(default_factory=dict)


def _number_format(f: schema.Field) -> str | None:
    return {schema.DATE: DATE_FORMAT, schema.DATETIME: DATETIME_FORMAT, schema.TIME: TIME_FORMAT}.get(f.type)


def _choice_list(f: schema.Field, lang: str) -> str:
    return '"' + ",".join(c.label(lang) for c in f.choices) + '"'


def _validation_for(f: schema.Field, lang: str) -> DataValidation | None:
    """A drop-down for choices, people and departments; an input message where the field has one."""
    prompt = f.prompt(lang)
    if f.type == schema.ENUM:
        dv = DataValidation(type="list", formula1=_choice_list(f, lang), allow_blank=True)
        dv.error = text("template.dv_error_choice", lang)
    elif f.type in (schema.PERSON, schema.DEPARTMENT):
        name = PEOPLE_NAME if f.type == schema.PERSON else DEPARTMENTS_NAME
        # warning, not stop: a new colleague not yet in the roster can still be typed
        dv = DataValidation(type="list", formula1=f"={name}", allow_blank=True, errorStyle="warning")
        dv.error = text("template.dv_error_roster", lang)
    elif f.type in (schema.DATE, schema.DATETIME):
        dv = DataValidation(type="date", operator="greaterThan", formula1="36526", allow_blank=True,
                            errorStyle="warning")
        dv.error = text("template.dv_error_date", lang)
        prompt = prompt or text("template.date_prompt", lang)
    elif prompt:
        dv = DataValidation(allow_blank=True)
    else:
        return None
    dv.errorTitle = f.label(lang)
    dv.showErrorMessage = True
    if prompt:
        dv.promptTitle = f.label(lang)[:32]
        dv.prompt = prompt[:255]
        dv.showInputMessage = True
    return dv


def _write_title(ws, title: str, width_cols: int) -> None:
    _put(ws, 1, 1, title).font = TITLE_FONT
    ws.row_dimensions[1].height = 24
    if width_cols > 1:
        ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=width_cols)


def _write_form(ws, form: schema.Form, row: int, lang: str, layout: SheetLayout) -> int:
    for f in form.fields:
        label = ws.cell(row=row, column=1, value=f.label(lang))
        label.font = REQUIRED_FONT if f.required else HEADER_FONT
        label.fill = LABEL_FILL
        label.border = BORDER
        label.alignment = Alignment(vertical="top", wrap_text=True)
        value = ws.cell(row=row, column=2)
        value.border = BORDER
        value.alignment = WRAP
        if fmt := _number_format(f):
            value.number_format = fmt
        if f.type == schema.LONG_TEXT:
            ws.row_dimensions[row].height = 48
        if dv := _validation_for(f, lang):
            ws.add_data_validation(dv)
            dv.add(value.coordinate)
        layout.form_rows[f.key] = row
        row += 1
    return row


def _write_table(ws, table: schema.Table, row: int, lang: str, layout: SheetLayout,
                 section_title: bool, trailing: bool) -> int:
    if section_title:
        ws.cell(row=row, column=1, value=table.label(lang)).font = Font(size=12, bold=True)
        row += 1
    header_row, first = row, row + 1
    last = first + table.example_rows - 1
    open_last = first + max(table.example_rows, OPEN_RANGE_ROWS) - 1 if trailing else last
    columns: dict[str, int] = {}
    for col, f in enumerate(table.fields, start=1):
        cell = ws.cell(row=header_row, column=col, value=f.label(lang))
        cell.font = REQUIRED_FONT if f.required else HEADER_FONT
        cell.fill = HEADER_FILL
        cell.border = BORDER
        cell.alignment = CENTER
        columns[f.key] = col
        letter = get_column_letter(col)
        current = ws.column_dimensions[letter].width or 0
        ws.column_dimensions[letter].width = max(current, f.column_width)
        fmt = _number_format(f)
        for r in range(first, last + 1):
            c = ws.cell(row=r, column=col)
            c.border = BORDER
            if fmt:
                c.number_format = fmt
            if f.type in (schema.LONG_TEXT, schema.TEXT, schema.PEOPLE):
                c.alignment = WRAP
        if dv := _validation_for(f, lang):
            ws.add_data_validation(dv)
            dv.add(f"{letter}{first}:{letter}{open_last}")
    ws.row_dimensions[header_row].height = 30
    layout.tables[table.key] = TableLayout(header_row, first, last, columns)
    if table.key == "tasks":
        _task_colouring(ws, table, first, open_last, lang)
    return last + 1


def _task_colouring(ws, table: schema.Table, first: int, last: int, lang: str) -> None:
    """Colour task rows live: done grey, paused blue, flagged or past-due red, due within the window amber."""
    cols = {f.key: get_column_letter(i) for i, f in enumerate(table.fields, start=1)}
    area = f"A{first}:{get_column_letter(len(table.fields))}{last}"
    due, status, flag = f"${cols['due']}{first}", f"${cols['status']}{first}", f"${cols['flag']}{first}"
    status_field = table.fields[[f.key for f in table.fields].index("status")]
    done, cancelled, paused = (_status_is(status, status_field.choice(k)) for k in ("done", "cancelled", "paused"))
    done_test = f"OR({done},AND(ISNUMBER({status}),{status}>=1))"  # 100% typed as a number is done too
    open_test = f"NOT({done_test}),NOT({cancelled}),NOT({paused})"
    red = dict(fill=PatternFill("solid", start_color=RED, end_color=RED), font=Font(color=RED_TEXT))
    amber = dict(fill=PatternFill("solid", start_color=AMBER, end_color=AMBER), font=Font(color=AMBER_TEXT))
    grey = dict(fill=PatternFill("solid", start_color=GREY, end_color=GREY), font=Font(color=GREY_TEXT))
    blue = dict(fill=PatternFill("solid", start_color=BLUE, end_color=BLUE), font=Font(color=BLUE_TEXT))
    rules = [
        (done_test, grey),
        (paused, blue),
        # the job's own flag: red even when the live formula cannot tell (a date typed as text)
        (f'OR(LEFT({flag},2)="逾期",LEFT({flag},7)="Overdue")', red),
        (f"AND(ISNUMBER({due}),{due}<TODAY(),{open_test})", red),
        (f'OR(ISNUMBER(SEARCH("到期",{flag})),LEFT({flag},3)="Due")', amber),
        (f"AND(ISNUMBER({due}),{due}>=TODAY(),{due}-TODAY()<=2,{open_test})", amber),
    ]
    for formula, style in rules:
        ws.conditional_formatting.add(area, FormulaRule(formula=[formula], stopIfTrue=True, **style))


def _status_is(ref: str, choice: schema.Choice) -> str:
    """A formula true when the 状态 cell means ``choice`` the way the daily job reads it: any of its
    spellings, ticks (√ ✓) and spaces ignored, a remark in brackets after it ignored — 已完成√ and
    完成（待验收） are done, 完成90% is not (normalizer._status_variant). No array arithmetic: LibreOffice
    evaluates a conditional format's formula cell by cell."""
    bare = ref
    for old, new in (("✓", ""), ("✔", ""), ("√", ""), ("☑", ""), ("✅", ""), (" ", ""), ("　", ""),
                     ("（", "("), ("【", "("), ("[", "(")):
        bare = f'SUBSTITUTE({bare},"{old}","{new}")'
    cut = f'LEFT({bare},FIND("(",{bare}&"(")-1)'  # the text before its first bracket
    spellings = ",".join(f'"{s}"' for s in dict.fromkeys(choice.spellings()))
    return f"ISNUMBER(MATCH({cut},{{{spellings}}},0))"


def _print_setup(ws, header_row: int | None) -> None:
    print_setup(ws, title_row=header_row, centered=True)


def add_sheet(wb: Workbook, sheet: schema.Sheet, lang: str, title: str | None = None) -> SheetLayout:
    """Lay out one schema sheet (forms and tables, top to bottom) in a new worksheet."""
    ws = wb.create_sheet(sheet.label(lang))
    parts = sheet.parts
    width = max((len(p.fields) for p in parts if isinstance(p, schema.Table)), default=2)
    layout = SheetLayout(title or sheet.label(lang))
    _write_title(ws, layout.title, max(width, 2))
    row = 2
    only_table = len(parts) == 1 and isinstance(parts[0], schema.Table)
    has_form = any(isinstance(p, schema.Form) for p in parts)
    for i, part in enumerate(parts):
        if isinstance(part, schema.Form):
            row = _write_form(ws, part, row, lang, layout) + 1
        else:
            row = _write_table(ws, part, row, lang, layout, section_title=not only_table,
                               trailing=i == len(parts) - 1) + 1
    if has_form:
        ws.column_dimensions["A"].width = max(ws.column_dimensions["A"].width or 0, 18)
        ws.column_dimensions["B"].width = max(ws.column_dimensions["B"].width or 0, 48)
    if only_table:
        tl = layout.tables[parts[0].key]
        ws.freeze_panes = f"A{tl.first_row}"
        ws.auto_filter.ref = f"A{tl.header_row}:{get_column_letter(len(tl.columns))}{tl.last_row}"
    header = next(iter(layout.tables.values())).header_row if only_table else None
    _print_setup(ws, header)
    return layout


def _add_lists(wb: Workbook, lang: str, departments: Iterable[str], people: Iterable[str]) -> None:
    ws = wb.create_sheet(LIST_SHEET[lang])
    ws.sheet_state = "hidden"
    ws["A1"], ws["B1"] = schema.DEPARTMENTS_SHEET.label(lang), schema.PEOPLE_SHEET.label(lang)
    for i, name in enumerate(departments, start=2):
        _put(ws, i, 1, name)
    for i, name in enumerate(people, start=2):
        _put(ws, i, 2, name)
    sheet = quote_sheetname(ws.title)
    wb.defined_names[DEPARTMENTS_NAME] = DefinedName(DEPARTMENTS_NAME, attr_text=f"{sheet}!$A$2:$A$300")
    wb.defined_names[PEOPLE_NAME] = DefinedName(PEOPLE_NAME, attr_text=f"{sheet}!$B$2:$B$2000")


# --- the 填写说明 sheet -----------------------------------------------------------------------

GUIDE_WIDTHS = (12, 16, 9, 40, 46, 30)  # sheet, column, required, what, accepted, not accepted
OWNER_FIELDS = {("minutes", "owner"), ("tasks", "owner")}  # where two owners and a handover are read
SECTION_FONT = Font(size=12, bold=True)


def _accepted(sheet: schema.Sheet, f: schema.Field, lang: str) -> str:
    """What a column accepts, as staff may type it: an enum's labels and its aliases in the template's
    script (the normalizer's own spellings), else the type's examples."""
    if f.type == schema.ENUM:
        sep = "、" if lang == "zh" else ", "
        words = []
        for c in f.choices:
            same_script = [a for a in c.aliases if a.isascii() != (lang == "zh")][:2]
            words.append(c.label(lang) + (f"（{sep.join(same_script)}）" if lang == "zh" and same_script
                                          else f" ({', '.join(same_script)})" if same_script else ""))
        extra = text("guide.ok.status_extra", lang) if (sheet.key, f.key) == ("tasks", "status") else ""
        return sep.join(words) + extra
    if (sheet.key, f.key) in OWNER_FIELDS:
        return text("guide.ok.owner", lang)
    return text(f"guide.ok.{f.type}", lang)


def _what(f: schema.Field, lang: str) -> str:
    if f.written_by_jobs:
        import datetime as dt

        from ..process.assess import TaskState  # the flag's own words, as the daily job writes them
        from ..settings import Settings

        overdue = TaskState("overdue", 3, date=dt.date(2026, 8, 14)).mark(lang, Settings.defaults())
        return text("guide.flag", lang, overdue=overdue, today=TaskState("due_today").flag(lang),
                    invalid=TaskState("invalid", 0, ("due",)).flag(lang))
    what = text(f"guide.type.{f.type}", lang)
    return f"{what}。{f.prompt(lang)}" if f.prompt(lang) and lang == "zh" else (
        f"{what}. {f.prompt(lang)}" if f.prompt(lang) else what)


def add_guide(wb: Workbook, lang: str, sheets: tuple[schema.Sheet, ...]) -> None:
    """The 填写说明 sheet, last: every column with what it takes and examples accepted and refused (from
    the schema and the normalizer's spellings), the row colours, how to mark a task, the reminders; for
    the roster, leave and deputies. Readers never read it as data (schema.GUIDE_NAMES)."""
    ws = wb.create_sheet(schema.GUIDE_SHEET[lang])
    t = lambda key, **kw: text(key, lang, **kw)  # noqa: E731
    for col, width in enumerate(GUIDE_WIDTHS, start=1):
        ws.column_dimensions[get_column_letter(col)].width = width
    last = len(GUIDE_WIDTHS)
    _write_title(ws, t("guide.title"), last)
    row = 2
    for key in ("guide.not_data", "guide.how"):
        _put(ws, row, 1, t(key)).alignment = WRAP
        ws.merge_cells(start_row=row, start_column=1, end_row=row, end_column=last)
        ws.row_dimensions[row].height = _wrapped_height([t(key)], [sum(GUIDE_WIDTHS)])
        row += 1
    row += 1
    _put(ws, row, 1, t("guide.columns")).font = SECTION_FONT
    row += 1
    header_row = row
    for col, key in enumerate(("sheet", "column", "required", "what", "ok", "refused"), start=1):
        c = _put(ws, row, col, t(f"guide.col.{key}"))
        c.font, c.fill, c.border, c.alignment = HEADER_FONT, HEADER_FILL, BORDER, CENTER
    for sheet in sheets:
        for f in sheet.fields():
            row += 1
            values = (sheet.label(lang), f.label(lang), t("guide.required") if f.required else "", _what(f, lang),
                      "—" if f.written_by_jobs else _accepted(sheet, f, lang),
                      "—" if f.written_by_jobs else t(f"guide.no.{f.type}"))
            for col, value in enumerate(values, start=1):
                c = _put(ws, row, col, value)
                c.border, c.alignment = BORDER, WRAP
            ws.cell(row=row, column=2).font = REQUIRED_FONT if f.required else HEADER_FONT
            ws.row_dimensions[row].height = _wrapped_height(values, GUIDE_WIDTHS)
    row += 2
    if any(s.key == "tasks" for s in sheets):
        row = _guide_colours(ws, row, t, last)
        rows = [(t(f"guide.mark.{k}"), t(f"guide.mark.{k}_how"))
                for k in ("done", "paused", "blocked", "cancelled", "moved", "owner", "flag")]
        row = _guide_pairs(ws, row, t("guide.marking"), rows, last)
        row = _guide_pairs(ws, row, t("guide.mail"), [("", t("guide.mail.text"))], last)
        rows = [(t(f"guide.meeting.{k}"), t(f"guide.meeting.{k}_how")) for k in ("invite", "materials", "minutes")]
        row = _guide_pairs(ws, row, t("guide.meeting"), rows, last)
    else:
        rows = [(t(f"guide.leave.{k}"), t(f"guide.leave.{k}_how")) for k in ("active", "until", "deputy")]
        row = _guide_pairs(ws, row, t("guide.leave"), rows, last)
        row = _guide_pairs(ws, row, t("guide.roster"), [("", t("guide.roster.text"))], last)
    ws.freeze_panes = f"A{header_row + 1}"
    print_setup(ws, title_row=header_row)
    ws.print_area = f"A1:{get_column_letter(last)}{row}"


def _guide_colours(ws, row: int, t, last: int) -> int:
    """The legend of the tracker's conditional formats: a swatch in their colours and what it means."""
    _put(ws, row, 1, t("guide.colours")).font = SECTION_FONT
    for fill, font, key in ((GREY, GREY_TEXT, "grey"), (BLUE, BLUE_TEXT, "blue"), (RED, RED_TEXT, "red"),
                            (AMBER, AMBER_TEXT, "amber"), (None, None, "required")):
        row += 1
        swatch = ws.cell(row=row, column=1)
        swatch.border = BORDER
        if fill:
            swatch.fill = PatternFill("solid", start_color=fill, end_color=fill)
            swatch.font = Font(color=font)
            swatch.value = "■■■"
        else:
            _put(ws, row, 1, t("guide.col.column")).font = REQUIRED_FONT
        _put(ws, row, 2, t(f"guide.colour.{key}")).alignment = WRAP
        ws.merge_cells(start_row=row, start_column=2, end_row=row, end_column=last)
    return row + 2


def _guide_pairs(ws, row: int, title: str, rows: list[tuple[str, str]], last: int) -> int:
    """A section of (what, how) lines, the how across the sheet's width."""
    _put(ws, row, 1, title).font = SECTION_FONT
    for label, how in rows:
        row += 1
        cell = _put(ws, row, 1, label)
        cell.font, cell.alignment = HEADER_FONT, WRAP
        _put(ws, row, 2, how).alignment = WRAP
        ws.merge_cells(start_row=row, start_column=2, end_row=row, end_column=last)
        ws.row_dimensions[row].height = _wrapped_height([how], [sum(GUIDE_WIDTHS[1:])])
    return row + 2


def _wrapped_height(values, widths) -> float:
    """A row's height for its wrapped texts (spreadsheets do not grow a row written by a program): 15 pt a
    line, a Chinese character two columns wide."""
    lines = 1
    for value, width in zip(values, widths):
        used = sum(2 if ord(ch) > 0x2E80 else 1 for ch in str(value or ""))
        lines = max(lines, -(-used // max(1, width - 1)))
    return 15 * lines


def item_workbook(lang: str = "zh", departments: Iterable[str] = (), people: Iterable[str] = (),
                  topic: str | None = None, guide: bool = True) -> tuple[Workbook, dict[str, SheetLayout]]:
    """A coordination workbook: every item sheet, the hidden list behind the drop-downs, and the
    填写说明 sheet last (the data sheets keep their places: a workbook opens on 需求单, and people's
    formulas and macros that count sheets from the left still find them)."""
    wb = Workbook()
    wb.remove(wb.active)
    layouts = {}
    for sheet in schema.ITEM_SHEETS:
        title = f"{sheet.label(lang)} — {topic}" if topic else None
        layouts[sheet.key] = add_sheet(wb, sheet, lang, title)
    _add_lists(wb, lang, departments, people)
    if guide:
        add_guide(wb, lang, schema.ITEM_SHEETS)
    wb.active = 0
    _set_properties(wb, lang)
    return wb, layouts


def roster_workbook(lang: str = "zh", guide: bool = True) -> tuple[Workbook, dict[str, SheetLayout]]:
    """The roster: people (with manager and head) and departments, and the 填写说明 sheet last."""
    wb = Workbook()
    wb.remove(wb.active)
    layouts = {sheet.key: add_sheet(wb, sheet, lang) for sheet in schema.ROSTER_SHEETS}
    if guide:
        add_guide(wb, lang, schema.ROSTER_SHEETS)
    people = quote_sheetname(schema.PEOPLE_SHEET.label(lang))
    departments = quote_sheetname(schema.DEPARTMENTS_SHEET.label(lang))
    p_first = layouts["people"].tables["people"].first_row
    d_first = layouts["departments"].tables["departments"].first_row
    wb.defined_names[PEOPLE_NAME] = DefinedName(PEOPLE_NAME, attr_text=f"{people}!$A${p_first}:$A$2000")
    wb.defined_names[DEPARTMENTS_NAME] = DefinedName(
        DEPARTMENTS_NAME, attr_text=f"{departments}!$A${d_first}:$A$300")
    wb.active = 0
    _set_properties(wb, lang)
    return wb, layouts


def _set_properties(wb: Workbook, lang: str) -> None:
    wb.properties.creator = "coordxl"
    wb.properties.language = "zh-CN" if lang == "zh" else "en"


def fill(wb: Workbook, layouts: dict[str, SheetLayout], lang: str, sheet_key: str,
         form: dict[str, Any] | None = None, rows: dict[str, list[dict[str, Any]]] | None = None) -> None:
    """Write form values and table records into a workbook made by this module."""
    sheet = next(s for s in schema.ALL_SHEETS if s.key == sheet_key)
    ws = wb[sheet.label(lang)]
    layout = layouts[sheet_key]
    for key, value in (form or {}).items():
        _put(ws, layout.form_rows[key], 2, _cell_value(sheet.field(key), value, lang))
    for table_key, records in (rows or {}).items():
        table = sheet.table(table_key)
        tl = layout.tables[table_key]
        for offset, record in enumerate(records):
            r = tl.first_row + offset
            for key, value in record.items():
                f = next(f for f in table.fields if f.key == key)
                c = _put(ws, r, tl.columns[key], _cell_value(f, value, lang))
                if r > tl.last_row:
                    c.border = BORDER
                    if fmt := _number_format(f):
                        c.number_format = fmt


def _put(ws, row: int, col: int, value: Any):
    """Write a value; text is always text: a title or name starting with '=' never becomes a formula."""
    if isinstance(value, str):
        put_text(ws, row, col, value)
        return ws.cell(row=row, column=col)
    return ws.cell(row=row, column=col, value=value)


def _cell_value(f: schema.Field, value: Any, lang: str) -> Any:
    """Enum keys become the label staff see; anything else is written as given."""
    if f.type == schema.ENUM and isinstance(value, str):
        for c in f.choices:
            if c.key == value:
                return c.label(lang)
    return value


def write_templates(directory, langs=("zh", "en")) -> list:
    """Write the item and roster templates for each language (what workbooks/templates/ holds)."""
    from pathlib import Path

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for lang in langs:
        for name, build in ((ITEM_TEMPLATE[lang], item_workbook), (ROSTER_TEMPLATE[lang], roster_workbook)):
            wb = build(lang)[0]
            path = directory / name
            wb.save(path)
            written.append(path)
    return written


if __name__ == "__main__":
    import sys

    for p in write_templates(sys.argv[1] if len(sys.argv) > 1 else "workbooks/templates"):
        print(p)
