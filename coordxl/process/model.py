"""Normalized coordination items: typed values with the cell each came from.

:func:`build_item` turns what :mod:`coordxl.xlsx.reader` read into an :class:`Item`
and the field-level findings (F-REQUIRED, F-DATE, F-ENUM, F-PERSON, F-DEPT,
F-EMAIL, F-YEAR-GUESSED, W-HEADER, W-MISSING-SHEET) along the way.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from dataclasses import dataclass
from dataclasses import field as dc_field

from .. import schema
from ..findings import WARNING, Finding, finding
from ..messages import both
from ..normalize import implausible, parse_date
from ..xlsx.reader import WorkbookData, a1
from .normalizer import DAYS_1900_TO_1904, Normalizer
from .roster import Roster, clean_name
from .rows import Row, Rows

__all__ = ["Item", "Meeting", "Row", "Rows", "at_merged_origin", "build_item", "key_of", "roster_findings", "task_key"]


@dataclass
class Meeting:
    sheet: str
    index: int  # 1 for 会议纪要, 2 for 会议纪要2, …
    form: Row
    actions: Rows
    actions_header: int | None = None


@dataclass
class Item:
    """One coordination item (a workbook in 进行中/, or one item of a central ledger)."""

    workbook: str
    request: Row | None = None
    request_sheet: str = ""
    meetings: list[Meeting] = dc_field(default_factory=list)
    tasks: Rows = dc_field(default_factory=Rows)
    tasks_sheet: str = ""
    tasks_header: int | None = None
    flag_column: int | None = None
    followups: Rows = dc_field(default_factory=Rows)
    followups_sheet: str = ""
    resources: Rows = dc_field(default_factory=Rows)
    retro: Row | None = None
    retro_sheet: str = ""
    metrics: Rows = dc_field(default_factory=Rows)
    measures: Rows = dc_field(default_factory=Rows)
    ledger: bool = False
    own_tasks: int = 0  # tasks from this workbook; a central ledger's rows for this item follow them
    tasks_width: int = 0  # columns in the tracker's header row (where a new 预警 column goes)
    path: object = None
    fingerprint: object = None
    tasks_rows: list | None = None  # the tracker sheet's cells as read, until the item is let go
    ambiguous: frozenset[str] = frozenset()  # documents with several candidate sheets: not acted on
    merged: dict[str, dict[str, str]] = dc_field(default_factory=dict)  # sheet -> covered cell -> top-left
    skipped_rows: int = 0  # section and total rows of the tracker

    @property
    def own(self) -> Rows:
        """The tasks of this workbook itself: a central ledger's rows for the item are validated in the ledger."""
        return self.tasks.head(self.own_tasks)

    @property
    def topic(self) -> str:
        topic = self.request.get("topic") if self.request else None
        return topic or self.workbook.rsplit(".", 1)[0]

    @property
    def status(self) -> str | None:
        return self.request.get("item_status") if self.request else None

    @property
    def initiator(self) -> str | None:
        return self.request.get("initiator") if self.request else None

    @property
    def group(self) -> str | None:
        """The 跟进群 (a channel name from the settings) the 需求单 names, if any."""
        value = self.request.get("group") if self.request else None
        return str(value).strip() or None if value else None

    @property
    def decision_maker(self) -> str | None:
        for m in self.meetings:
            if m.form.get("decision_maker"):
                return m.form["decision_maker"]
        return None


def at_merged_origin(findings: list[Finding], merged: dict[str, dict[str, str]]) -> list[Finding]:
    """Findings about a value inside a merged range name the range's top-left cell, once."""
    if not merged:
        return findings
    out, seen = [], set()
    for f in findings:
        origin = merged.get(f.sheet, {}).get(f.cell)
        if origin is not None:
            f = dataclasses.replace(f, cell=origin)
            key = (f.code, f.sheet, f.cell, f.message_zh)
            if key in seen:
                continue
            seen.add(key)
        elif f.sheet in merged:
            seen.add((f.code, f.sheet, f.cell, f.message_zh))
        out.append(f)
    return out

def _sheet_number(name: str) -> int:
    m = re.search(r"(\d+)\D*$", name)
    return int(m.group(1)) if m else 1


def _anchor(data: WorkbookData) -> dt.date | None:
    """The item's own date: its request form's date (a date written without its year is the one nearest
    it), None when the form gives none (then today is used)."""
    req = data.first("request")
    if req and req.form:
        for key in ("sent_on", "planned_meeting"):
            raw = req.form.get(key)
            if data.date1904 and isinstance(raw, (int, float)) and not isinstance(raw, bool):
                raw += DAYS_1900_TO_1904
            parsed = parse_date(raw)
            if parsed.value and not parsed.year_guessed and not implausible(raw, parsed.value):
                return parsed.value
    return None


ACTION_FIELDS_FOR_RULE = {"owner", "due", "standard"}  # reported as R-ACTION-INCOMPLETE, not F-REQUIRED


def build_item(data: WorkbookData, roster: Roster | None, today: dt.date, memo: dict | None = None,
               formulas: frozenset[tuple[str, str]] = frozenset(), max_years: int = 3
               ) -> tuple[Item, list[Finding]]:
    """Normalize a workbook into an Item, with field-level findings. Missing sheets are W-MISSING-SHEET.

    ``memo`` carries conversions from one workbook to the next; it must only be shared by calls
    with the same roster. A date more than ``max_years`` from the item's request date is F-DATE. ``formulas``: (sheet, cell) of formulas without a stored result, which
    an empty required cell then names as such.
    """
    reference = _anchor(data)
    n = Normalizer(data.name, roster, reference or today, memo, formulas, max_years, data.date1904, reference, today)
    item = Item(data.name, path=data.path, fingerprint=data.fingerprint, ambiguous=frozenset(data.ambiguous),
                merged={sd.name: sd.merged for sheets in data.sheets.values() for sd in sheets if sd.merged})
    tasks_only = "tasks" in data.sheets and "request" not in data.sheets
    first_tasks = data.first("tasks")
    item.ledger = bool(tasks_only and first_tasks and "tasks" in first_tasks.tables
                       and first_tasks.tables["tasks"].item_column)
    if not item.ledger:
        for sheet in (schema.REQUEST, schema.MINUTES, schema.TASKS, schema.FOLLOWUPS, schema.RESOURCES):
            if sheet.key not in data.sheets:
                n.add("W-MISSING-SHEET", "", "", sheet_label=(sheet.zh, sheet.en))
    if req := data.first("request"):
        item.request_sheet = req.name
        item.request = n.form(req.form, schema.REQUEST.form.fields, req.name)
    status = item.status
    for sd in sorted(data.sheets.get("minutes", []), key=lambda s: _sheet_number(s.name)):
        # an item still 筹备中 has an empty minutes sheet: nothing is required of it yet
        # (`coordxl new` prefills the topic, so the topic alone does not make a meeting)
        empty = not any(v not in ("", None) for k, v in sd.form.values.items() if k != "topic") and not (
            "actions" in sd.tables and sd.tables["actions"].rownums)
        optional = {f.key for f in schema.MINUTES.form.fields} if (empty and status in (None, "preparing")) else set()
        form = n.form(sd.form, schema.MINUTES.form.fields, sd.name, optional)
        actions, header = [], None
        if "actions" in sd.tables:
            actions = n.table(sd.tables["actions"], skip_required=ACTION_FIELDS_FOR_RULE)
            header = sd.tables["actions"].header_row
        elif not empty:
            n.add("W-HEADER", sd.name, "A1", field=(schema.MINUTES.table("actions").zh,
                                                     schema.MINUTES.table("actions").en))
        if not empty:
            item.meetings.append(Meeting(sd.name, _sheet_number(sd.name), form, actions, header))
    if first_tasks:
        item.tasks_sheet = first_tasks.name
        item.tasks_rows = first_tasks.rows
        if "tasks" in first_tasks.tables:
            t = first_tasks.tables["tasks"]
            item.tasks = n.table(t)
            item.own_tasks = len(item.tasks)
            item.tasks_header = t.header_row
            item.tasks_width = t.header_width
            item.flag_column = t.columns.get("flag")
            item.skipped_rows = t.skipped
        else:
            n.add("W-HEADER", first_tasks.name, "A1", field=(schema.TASKS.zh, schema.TASKS.en))
    for key in ("followups", "resources"):
        if sd := data.first(key):
            if key == "followups":
                item.followups_sheet = sd.name
            if key in sd.tables:
                setattr(item, key, n.table(sd.tables[key]))
            else:
                n.add("W-HEADER", sd.name, "A1", field=(sd.schema.zh, sd.schema.en))
    if retro := data.first("retro"):
        item.retro_sheet = retro.name
        item.retro = n.form(retro.form, schema.RETRO.form.fields, retro.name)
        for key in ("metrics", "measures"):
            if key in retro.tables:
                setattr(item, key, n.table(retro.tables[key]))
    return item, n.findings


def roster_findings(roster: Roster, workbook: str) -> list[Finding]:
    """Problems in the roster itself: bad addresses, unknown managers, missing columns."""
    out: list[Finding] = list(roster.findings)
    data = roster.source
    if data is None or not data.readable:
        return out
    people = data.first("people")
    if people is None or "people" not in people.tables:
        out.append(finding("W-MISSING-SHEET", workbook, sheet_label=both("part.people")))
        return out
    n = Normalizer(workbook, roster, dt.date(2000, 1, 1))
    table = people.tables["people"]
    for f in table.missing:
        if f.required:
            n.add("W-HEADER", table.sheet, a1(table.header_row, 1), field=(f.zh, f.en))
    seen: dict[str, str] = {}
    for rec in table.records:
        for key in ("name", "department", "email", "manager", "is_head", "active", "deputy", "leave_until"):
            f = schema.PEOPLE_SHEET.field(key)
            if key not in table.columns:
                continue
            if key in ("name", "department"):
                continue  # the roster defines people and departments; it does not assign them
            n.value(f, rec.values.get(key), table.sheet, rec.cell(key), anchored=False)
        n.findings += deputy_findings(roster, rec, workbook, table.sheet)
        name = clean_name(rec.get("name"))
        if name in seen:
            # a warning: both are still mailed about what names them unambiguously
            n.findings.append(finding("F-PERSON-AMBIGUOUS", workbook, table.sheet, rec.cell("name"), severity=WARNING,
                                      variant="-ROSTER", value=name, cells=f"{seen[name]}、{rec.cell('name')}",
                                      hint=both("hint.roster_twin", example=roster.choices(name).split("、")[0])))
        seen.setdefault(name, rec.cell("name"))
    return out + n.findings


def deputy_findings(roster: Roster, rec, workbook: str, sheet: str) -> list[Finding]:
    """A 代理人 who is on leave too, or is the person themselves: the reminders would go nowhere useful."""
    deputy = roster.resolve(rec.get("deputy"))[0] if rec.get("deputy") not in ("", None) else None
    if deputy is None:
        return []
    name = clean_name(rec.get("name"))
    if deputy.name == name and deputy.row == rec.row:
        variant = "-DEPUTY-SELF"
    elif deputy.on_leave:
        variant = "-DEPUTY-AWAY"
    else:
        return []
    return [finding("F-PERSON", workbook, sheet, rec.cell("deputy"), severity=WARNING, variant=variant,
                    value=deputy.label, name=name, hint=both("hint.deputy"))]


def task_key(row) -> str:
    """A task's identity across runs: its 编号 (survives sorting and inserted rows), else its name."""
    v = row.values
    return key_of(v.get("id"), v.get("task"), row.row)


def key_of(ident, name, row: int) -> str:
    """:func:`task_key` from a task's 编号, name and row number (a table read column by column)."""
    return f"id:{ident}" if ident else f"task:{name or row}"
