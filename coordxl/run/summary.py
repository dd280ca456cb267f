"""The weekly summary: figures per item and department, lists, week-over-week changes, charts, mail.

The report week is the ISO week that just ended when the job runs Monday to
Wednesday, and the current ISO week from Thursday on (so a Monday-morning and
a Friday-afternoon job both report the week people expect, and a rerun a day
later reports the same week). Figures come from the workbooks as they are
now; week-over-week changes (newly done, newly overdue, slipped deadlines)
compare with the daily job's snapshot from a week earlier.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from collections import Counter
from dataclasses import dataclass
from dataclasses import field as dc_field
from pathlib import Path

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.chart import BarChart, LineChart, Reference
from openpyxl.chart.marker import Marker
from openpyxl.drawing.spreadsheet_drawing import AnchorMarker, TwoCellAnchor
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter

from ..findings import Finding
from ..messages import percent as as_percent
from ..messages import text
from ..process import assess
from ..process.calendar import WorkCalendar, estimate_note
from ..process.model import Item, key_of
from ..process.rules import Context
from ..send import channels, mail_render, notify
from ..send.audience import Audience, Refusal, Scope
from ..send.delivery import Delivery
from ..state.layout import Layout, workbook_link
from ..state.lock import job_lock
from ..state.store import Store, workbook_id
from ..xlsx import xlsxout
from . import decisions
from .pipeline import FolderCheck, Report, heap_frozen

STATE_COLOURS = {"overdue": "C00000", "due_today": "ED7D31", "due_soon": "FFC000", "blocked": "7030A0",
                 "stale": "A5A5A5", "invalid": "9E480E", "paused": "5B9BD5", "ok": "70AD47", "done": "BFBFBF",
                 "cancelled": "E7E6E6"}
STATE_ORDER = tuple(sorted(assess.URGENCY, key=assess.URGENCY.get))  # the chart's series, most urgent first


def report_week(today: dt.date) -> tuple[dt.date, dt.date]:
    """Monday and Sunday of the week reported: last week when run Monday–Wednesday, else this week."""
    monday = today - dt.timedelta(days=today.weekday())
    if today.weekday() < 3:
        monday -= dt.timedelta(days=7)
    return monday, monday + dt.timedelta(days=6)


def week_label(monday: dt.date) -> str:
    year, week, _ = monday.isocalendar()
    return f"{year}-W{week:02d}"


@dataclass(slots=True)  # one per task the week lists: hundreds of thousands on a big folder
class TaskLine:
    workbook: str
    topic: str
    key: str
    task_id: str
    task: str
    department: str
    owner: str
    due: dt.date | None
    done_on: dt.date | None
    status: str | None
    state: str
    days: int
    percent: float | None = None  # percent complete, when the tracker says
    note: str = ""  # 进展说明
    updated_on: dt.date | None = None  # 更新日期


@dataclass
class ItemLine:
    workbook: str
    topic: str
    initiator: str
    status: str
    total: int = 0
    cancelled: int = 0
    done: int = 0
    overdue: int = 0
    due_next_week: int = 0
    pending_resources: int = 0
    last_followup: dt.date | None = None
    open_percents: list = dc_field(default_factory=list)  # each open task's percent complete (None: not given)
    group: str | None = None  # the 跟进群 the 需求单 names

    @property
    def progress(self) -> float | None:
        """Done / (all − cancelled); when every open task gives its percent complete, the average of
        those and 100 % for each done task."""
        base = self.total - self.cancelled
        if not base:
            return None
        if self.open_percents and None not in self.open_percents:
            return (self.done * 100 + sum(self.open_percents)) / base / 100
        return self.done / base


@dataclass
class DeptLine:
    department: str
    states: Counter = dc_field(default_factory=Counter)
    done_week: int = 0
    on_time_week: int = 0
    done_total: int = 0
    on_time_total: int = 0
    late_open_week: int = 0  # open and overdue, fell due this week: late in this week's rate

    @property
    def open(self) -> int:
        return sum(n for s, n in self.states.items() if s not in ("done", "cancelled"))

    @property
    def week_base(self) -> tuple[int, int]:
        """(on time, judged) this week, as decisions.on_time_base counts: an open overdue task is late."""
        return self.on_time_week, self.done_week + self.late_open_week

    @property
    def total_base(self) -> tuple[int, int]:
        return self.on_time_total, self.done_total + self.states["overdue"]


@dataclass
class Weekly:
    today: dt.date
    monday: dt.date
    sunday: dt.date
    items: list[ItemLine] = dc_field(default_factory=list)
    departments: dict[str, DeptLine] = dc_field(default_factory=dict)
    overdue: list[TaskLine] = dc_field(default_factory=list)
    due_next_week: list[TaskLine] = dc_field(default_factory=list)
    done_this_week: list[TaskLine] = dc_field(default_factory=list)
    done_ever: list[TaskLine] = dc_field(default_factory=list)  # for the 8-week on-time trend
    newly_done: list[TaskLine] = dc_field(default_factory=list)
    newly_overdue: list[TaskLine] = dc_field(default_factory=list)
    slipped: list[tuple[TaskLine, dt.date, int]] = dc_field(default_factory=list)  # (task, old due, workdays)
    pending: list[notify.PendingNote] = dc_field(default_factory=list)
    missing_followups: list[tuple[str, str, str]] = dc_field(default_factory=list)  # (workbook, topic, message)
    findings: list[Finding] = dc_field(default_factory=list)
    trend: list[tuple[str, float | None, int | None]] = dc_field(default_factory=list)  # (week, on-time, overdue)
    report: Report | None = None
    path: Path | None = None
    tasks: list[TaskLine] = dc_field(default_factory=list)  # the tasks last week's plan had due this week
    blocked: list[TaskLine] = dc_field(default_factory=list)
    invalid: list[TaskLine] = dc_field(default_factory=list)  # 待修正: a date or owner the job cannot read
    paused: list[TaskLine] = dc_field(default_factory=list)  # 暂停 on purpose
    paused_since: dict = dc_field(default_factory=dict)  # (workbook, key) -> the day a paused task was paused
    snapshots: decisions.Compared = dc_field(default_factory=decisions.Compared)  # what the page compares
    page: object = None  # decisions.Page for every item (the workbook's decision sheet)
    burnup: dict = dc_field(default_factory=dict)  # workbook -> [(week, done, total)] over 8 weeks
    # what the decision pages work out once a week (the task index, the snapshots' facts, scopes)
    cache: dict = dc_field(default_factory=dict, repr=False, compare=False)

    @property
    def label(self) -> str:
        return week_label(self.monday)

    def merge(self, part: "Weekly") -> None:
        """Add what a worker collected (its items, in order) to the week."""
        self.items += part.items
        for name, dept in part.departments.items():
            mine = self.departments.get(name)
            if mine is None:
                self.departments[name] = dept
                continue
            mine.states.update(dept.states)
            mine.done_week += dept.done_week
            mine.on_time_week += dept.on_time_week
            mine.done_total += dept.done_total
            mine.on_time_total += dept.on_time_total
            mine.late_open_week += dept.late_open_week
        for name in ("tasks", "overdue", "due_next_week", "done_this_week", "done_ever", "newly_done", "newly_overdue",
                     "slipped", "pending", "missing_followups", "blocked", "invalid", "paused"):
            getattr(self, name).extend(getattr(part, name))

    def task_index(self) -> dict:
        """(workbook, task key) -> TaskLine of the tasks last week's plan had due this week, made once:
        every reader's decision page looks them up (plan vs actual)."""
        if "index" not in self.cache:
            self.cache["index"] = {(x.workbook, x.key): x for x in self.tasks}
        return self.cache["index"]


def _on_time(line: TaskLine) -> bool:
    return decisions.on_time(line.due, line.done_on)


def collect(item: Item, ctx: Context, weekly: Weekly, previous: dict) -> None:
    """Add one item's figures and lists to the week. ``previous``: its tasks in last week's snapshot,
    task key -> (state, due) (Store.task_states)."""
    next_monday = weekly.sunday + dt.timedelta(days=1)
    next_sunday = next_monday + dt.timedelta(days=6)
    line = ItemLine(item.workbook, item.topic, item.initiator or "", item.status or "", group=item.group)
    dates = [r.get("date") for r in item.followups if isinstance(r.get("date"), dt.date)]
    line.last_followup = max(dates) if dates else None
    seen = set()
    assessed = assess.assess_item(item, ctx.today, ctx.calendar, ctx.settings)
    rows = assessed.rows  # column by column: a 50,000-row ledger makes no Row objects
    for r, ident, name, department, owner, due, done, status, percent, note, updated, state in zip(
            rows.rownums, *(rows.column(k) for k in ("id", "task", "department", "owner", "due", "done_on", "status")),
            rows.extra_column("percent"), rows.column("note"), rows.column("updated_on"), assessed.states):
        key = key_of(ident, name, r)
        t = TaskLine(item.workbook, item.topic, key, str(ident or ""), str(name or ""), str(department or ""),
                     str(owner or ""), due if isinstance(due, dt.date) else None,
                     done if isinstance(done, dt.date) else None, status, state.state, state.days, percent,
                     str(note or ""), updated if isinstance(updated, dt.date) else None)
        if state.state == "blocked" or (status == "blocked" and state.state == "overdue"):
            weekly.blocked.append(t)  # blocked, overdue or not: the reason is what a director acts on
        elif state.state == "invalid":
            weekly.invalid.append(t)
        elif state.state == "paused":
            weekly.paused.append(t)
        line.total += 1
        if state.state not in ("done", "cancelled"):
            line.open_percents.append(t.percent)
        line.cancelled += state.state == "cancelled"
        line.done += state.state == "done"
        line.overdue += state.state == "overdue"
        dept = weekly.departments.get(t.department or "-")
        if dept is None:
            dept = weekly.departments[t.department or "-"] = DeptLine(t.department or "-")
        dept.states[state.state] += 1
        if state.state == "overdue":
            weekly.overdue.append(t)
            dept.late_open_week += bool(t.due and weekly.monday <= t.due <= weekly.sunday)
        if t.state not in ("done", "cancelled") and t.due and next_monday <= t.due <= next_sunday:
            weekly.due_next_week.append(t)
            line.due_next_week += 1
        if t.state == "done" and t.done_on:
            weekly.done_ever.append(t)
            dept.done_total += 1
            dept.on_time_total += _on_time(t)
            if weekly.monday <= t.done_on <= weekly.sunday:
                weekly.done_this_week.append(t)
                dept.done_week += 1
                dept.on_time_week += _on_time(t)
        before = previous.get(key)
        if before is not None and before[1] and before[0] not in ("done", "cancelled") and (
                weekly.monday <= dt.date.fromisoformat(before[1]) <= weekly.sunday):
            weekly.tasks.append(t)  # in last week's plan for this week (Store.planned): plan vs actual
        if before is not None and key not in seen:
            was, due_was = before
            if t.state == "done" and was != "done":
                weekly.newly_done.append(t)
            if t.state == "overdue" and was != "overdue":
                weekly.newly_overdue.append(t)
            old_due = dt.date.fromisoformat(due_was) if due_was else None
            if old_due and t.due and t.due > old_due:
                weekly.slipped.append((t, old_due, ctx.calendar.count(old_due, t.due)))
        seen.add(key)
    for p in assess.pending_resources(item, ctx.today, ctx.calendar, ctx.settings):
        line.pending_resources += 1
        weekly.pending.append(notify.PendingNote(item.workbook, str(item.path), item.topic, str(p.row.get("id") or ""),
                                                 p.step, p.waiting, p.days, str(p.row.get("purpose") or "")))
    if item.meetings and item.status != "closed" and not any(weekly.monday <= d <= weekly.sunday for d in dates):
        weekly.missing_followups.append((item.workbook, item.topic, text("weekly.no_followup", ctx.settings.lang,
                                                                         start=weekly.monday.isoformat(),
                                                                         end=weekly.sunday.isoformat())))
    weekly.items.append(line)


@dataclass
class WeekWork:
    """The weekly's work on one item in a check worker (pipeline.FolderCheck's ``work``): its figures
    and lists, collected into a Weekly of its own for this process to merge."""

    monday: dt.date
    sunday: dt.date
    previous: str | None  # the day of last week's snapshot (Store.snapshot_day), None without one
    store: Store | None = None  # the worker's own connection, opened with its first item

    def __getstate__(self) -> dict:  # spawned workers get no connection; they open their own
        return {**self.__dict__, "store": None}

    def __call__(self, item: Item, layout: Layout, ctx: Context) -> Weekly:
        if self.store is None and self.previous is not None:
            self.store = layout.open_store(existing=True)
        part = Weekly(ctx.today, self.monday, self.sunday)
        collect(item, ctx, part, last_week(self.store, self.previous, item))
        return part


def last_week(store: Store | None, day: str | None, item: Item) -> dict:
    """An item's tasks in last week's snapshot (task key -> (state, due)): read from state.db item by
    item, so no process holds the whole snapshot."""
    return store.task_states(day, item.workbook) if store is not None and day is not None else {}


def trend(store: Store | None, weekly: Weekly) -> None:
    """On-time completion rate per week (decisions.on_time_base: 完成日期 vs 截止日期, an open overdue task
    late in the week it fell due) and overdue count (from snapshots), 8 weeks."""
    for back in range(7, -1, -1):
        monday = weekly.monday - dt.timedelta(weeks=back)
        sunday = monday + dt.timedelta(days=6)
        rate = decisions.share(decisions.on_time_base(weekly.done_ever, weekly.overdue, monday, sunday))
        if back == 0:
            overdue = len(weekly.overdue)
        else:
            overdue = store.overdue_in_week(monday, sunday) if store is not None else None
        weekly.trend.append((week_label(monday), rate, overdue))


def burnup(store: Store | None, weekly: Weekly) -> None:
    """Per item, 8 weeks of (week, done, total − cancelled) from the snapshot at each week's end; a week
    without a run (a holiday week) repeats the week before, so the line stays flat."""
    weeks = [weekly.monday - dt.timedelta(weeks=back) for back in range(7, -1, -1)]
    per_week = []
    for monday in weeks[:-1]:
        per_week.append(store.done_and_total(monday + dt.timedelta(days=6)) if store is not None else {})
    current = {workbook_id(i.workbook): [i.done, i.total - i.cancelled] for i in weekly.items}
    per_week.append(current)
    for item in weekly.items:
        series = []
        ident = workbook_id(item.workbook)
        for monday, counts in zip(weeks, per_week):
            done, total = counts.get(ident, series[-1][1:] if series else [0, 0])
            series.append((week_label(monday), done, total))
        weekly.burnup[item.workbook] = series


def build(root: Path | str, today: dt.date, layout: Layout | None = None) -> Weekly:
    """Read the folder and compute the week's figures (writes nothing)."""
    layout = layout or Layout.of(root)
    monday, sunday = report_week(today)
    weekly = Weekly(today, monday, sunday)
    store = layout.open_store(existing=True)
    previous = store.snapshot_day(sunday - dt.timedelta(days=7)) if store else None

    # on a folder big enough for check's workers, each worker collects the items it read
    checking = FolderCheck(layout, today, work=WeekWork(monday, sunday, previous))
    for item, part in checking:
        if part is None:  # read in this process
            collect(item, checking.ctx, weekly, last_week(store, previous, item))
        else:
            weekly.merge(part)
    weekly.report = checking.report
    weekly.findings = [f for f in weekly.report.findings if f.is_error]
    with heap_frozen():
        _figures(weekly, store, previous, layout, today)
    return weekly


def compare_snapshots(store: Store, weekly: Weekly, previous: str | None, today: dt.date) -> decisions.Compared:
    """What the decision pages read of this week's, last week's and the week before's snapshots, compared
    in state.db; each workbook of this week's items named as they show it (state.db keeps identities),
    so the pages compare the rows with the week's tasks and scopes."""
    out = decisions.Compared()
    if previous is None:
        return out
    names = {workbook_id(i.workbook): i.workbook for i in weekly.items}

    def task(workbook: str, key: str, department: str) -> decisions.SnapTask:
        return decisions.SnapTask(names.get(workbook, workbook), key, department)

    def changes(new: str, old: str) -> list:
        return [(task(w, k, d), newly, moved) for w, k, d, newly, moved in store.compared(new, old)]

    now = store.snapshot_day(min(weekly.sunday, today))
    before = store.snapshot_day(weekly.sunday - dt.timedelta(days=14))
    out.has_prev = True
    out.changes_now = changes(now, previous)
    out.changes_last = changes(previous, before) if before is not None else None
    out.overdue_prev = [task(*row) for row in store.in_state(previous, "overdue")]
    out.invalid_prev = {(names.get(w, w), k) for w, k, _ in store.in_state(previous, "invalid")}
    out.planned = [(task(w, k, d), dt.date.fromisoformat(due))
                   for w, k, d, due in store.planned(previous, weekly.monday, weekly.sunday)]
    return out


def _figures(weekly: Weekly, store: Store | None, previous: str | None, layout: Layout, today: dt.date) -> None:
    """The week's trend, snapshots, burn-up and decision page, once every item is collected."""
    trend(store, weekly)
    if store is not None:
        weekly.snapshots = compare_snapshots(store, weekly, previous, today)
    burnup(store, weekly)
    weekly.paused_since = paused_since(store, weekly.paused)
    weekly.overdue.sort(key=lambda t: (-t.days, t.workbook, t.task_id))
    weekly.due_next_week.sort(key=lambda t: (t.due, t.workbook, t.task_id))
    weekly.done_this_week.sort(key=lambda t: (t.done_on, t.workbook, t.task_id))
    # after the sorts: the page lists the longest overdue first, as every reader's mail does
    weekly.page = decisions.page(weekly, layout.settings, Scope(everything=True), weekly.snapshots)


def paused_since(store: Store | None, paused: list[TaskLine]) -> dict:
    """(workbook, key) -> the day each paused task was paused: the first daily snapshot of its pause when
    state.db saw it before (and the 更新日期 when that is earlier and no snapshot shows it unpaused),
    else its 更新日期; a task with neither is left out (shown without a duration)."""
    out = {}
    for t in paused:
        seen, exact = store.paused_since(t.workbook, t.key) if store is not None else (None, False)
        candidates = [seen] if exact else [d for d in (seen, t.updated_on) if d]
        if candidates:
            out[(t.workbook, t.key)] = min(candidates)
    return out


# --- the workbook ---------------------------------------------------------------------------

class _Sheet:
    """A write-only worksheet filled top to bottom (openpyxl streams it: fast for long lists)."""

    def __init__(self, wb, title: str):
        self.ws = wb.create_sheet(title)
        self.row = 0
        self.bold = xlsxout.HEADER_FONT

    def cell(self, value, **style):
        c = WriteOnlyCell(self.ws, value=xlsxout.xml_safe(value) if isinstance(value, str) else value)
        if isinstance(value, str) and value.startswith("="):
            c.data_type = "s"  # cell text stays text, never a formula
        for key, v in style.items():
            setattr(c, key, v)
        return c

    def append(self, values, **style) -> int:
        self.ws.append([self.cell(v, **style) if (style or isinstance(v, str) and v.startswith("="))
                        else xlsxout.xml_safe(v) if isinstance(v, str) else v for v in values])
        self.row += 1
        return self.row

    def title(self, text_: str, size: int = 11) -> int:
        return self.append([text_], font=Font(size=size, bold=True))

    def blank(self) -> None:
        self.append([])

    def table(self, headers: list[str], rows: list[list], percent: tuple[int, ...] = ()) -> tuple[int, int]:
        """Header and records; returns (header row, last row). Dates as dates, rates as percentages."""
        header = self.append(headers, font=self.bold, fill=xlsxout.HEADER_FILL,
                             alignment=Alignment(horizontal="center", vertical="center", wrap_text=True))
        for values in rows:
            out = []
            for c, v in enumerate(values, start=1):
                if isinstance(v, dt.date):
                    out.append(self.cell(v, number_format="yyyy-mm-dd"))
                elif c in percent and isinstance(v, float):
                    out.append(self.cell(v, number_format="0%"))
                elif isinstance(v, str) and v.startswith("="):
                    out.append(self.cell(v))
                else:
                    out.append(v)
            self.ws.append(out)
            self.row += 1
        return header, self.row


def _setup(ws, widths: list[int], freeze: str | None) -> None:
    xlsxout.widths(ws, widths)
    if freeze:
        ws.freeze_panes = freeze
    xlsxout.print_setup(ws)


def _list_sheet(wb, title: str, headers: list[str], rows: list[list], widths: list[int],
                percent: tuple[int, ...] = ()) -> xlsxout.Body:
    """A sheet with every row of one list: the header here, the rows written when the workbook is
    saved (xlsxout.Body: thousands of rows at a fraction of openpyxl's cost per cell)."""
    sheet = _Sheet(wb, title)
    _setup(sheet.ws, widths, "A2")  # write-only sheets take their settings before any row
    sheet.ws.auto_filter.ref = f"A1:{get_column_letter(len(headers))}{max(len(rows) + 1, 1)}"
    sheet.table(headers, [])
    percent_style = xlsxout.style(sheet.ws, number_format="0%")
    return xlsxout.Body(sheet.ws, 2, rows, styles=dict.fromkeys(percent, percent_style),
                        date_style=xlsxout.style(sheet.ws, number_format="yyyy-mm-dd"))


def kpi_text(value, percent: bool, base: tuple[int, int] | None = None, lang: str = "zh") -> str:
    """A KPI value as the page shows it: a share as a percentage with its base ('11%（1/9 按时）'), a
    count as is, '-' when unknown."""
    if value is None:
        return "-"
    if not percent:
        return str(value)
    if base is None:
        return as_percent(value)
    return text("decide.rate_base", lang, rate=as_percent(value), on_time=base[0], judged=base[1])


PAGE_LIST_MAX = 30  # rows per list on the decision page (one page); the sheets after it have every row
MAIL_LIST_MAX = 15  # lines per list in the weekly mail (read on a phone); the workbook has them all
BURNUP_CHARTS = 12  # items drawn (most open tasks first); every item is in the table


def _burnup_sheet(wb, weekly: Weekly, t) -> None:
    """Per item, done against all tasks over 8 weeks: a table, and below it a line chart for each busy
    item, two side by side, all inside the printed page."""
    items = sorted((i for i in weekly.items if i.workbook in weekly.burnup),
                   key=lambda i: (-(i.total - i.cancelled - i.done), i.topic))
    if not items:
        return
    sheet = _Sheet(wb, t("weekly.sheet.burnup"))
    columns = max(1 + 2 * len(items), 2 * BURNUP_CHART_COLUMNS + 1)  # the charts' room even for one item
    xlsxout.widths(sheet.ws, [12] + [10] * (columns - 1))
    sheet.ws.freeze_panes = "B3"
    xlsxout.print_setup(sheet.ws, landscape=False)  # portrait: the charts stack two by two down the page
    sheet.append([t("weekly.sheet.burnup")] + [x for i in items for x in (i.topic, "")], font=sheet.bold)
    top, last = sheet.table([t("weekly.col.week")] + [x for _ in items for x in (t("weekly.col.done"), t("weekly.col.total"))],
                            [[week] + [v for i in items for v in weekly.burnup[i.workbook][n][1:]]
                             for n, (week, *_) in enumerate(weekly.burnup[items[0].workbook])])
    bottom = last
    for k, item in enumerate(items[:BURNUP_CHARTS]):
        chart = LineChart()
        chart.title = item.topic
        chart.add_data(Reference(sheet.ws, min_col=2 + 2 * k, max_col=3 + 2 * k, min_row=top, max_row=last),
                       titles_from_data=True)
        chart.set_categories(Reference(sheet.ws, min_col=1, min_row=top + 1, max_row=last))
        _count_axis(chart.y_axis, max((total for _, _, total in weekly.burnup[item.workbook]), default=0))
        _markers(chart)
        chart.legend.position = "b"
        first_col = 1 + (k % 2) * BURNUP_CHART_COLUMNS  # A–F and G–M
        first_row = last + 2 + (k // 2) * (CHART_ROWS + 1)
        bottom = _place(sheet.ws, chart, first_col, first_row, first_col + BURNUP_CHART_COLUMNS - 1 + k % 2,
                        first_row + CHART_ROWS - 1)
    sheet.ws.print_area = f"A1:{get_column_letter(columns)}{bottom}"


CHART_ROWS = 14  # a chart's height in rows (15 pt each: about 7.4 cm)
BURNUP_CHART_COLUMNS = 6  # a burn-up chart's width in 10-character columns


def _place(ws, chart, first_col: int, first_row: int, last_col: int, last_row: int) -> int:
    """Anchor ``chart`` over the cells first..last (1-based, inclusive): it moves and prints with them, so
    a print area that holds those cells holds the whole chart. Returns the last row."""
    anchor = TwoCellAnchor(editAs="oneCell")
    anchor._from = AnchorMarker(col=first_col - 1, row=first_row - 1)
    anchor.to = AnchorMarker(col=last_col, row=last_row)  # the corner: the next cell's top left
    chart.anchor = anchor
    ws.add_chart(chart)
    return last_row


def _step(top: float) -> int:
    """A whole step for a count axis: 1 up to 10, then 2, 5, 10, 20, 50 … (at most 10 gridlines)."""
    step = 1
    while top / step > 10:
        for factor in (2, 5, 10):
            if top / (step * factor) <= 10:
                return step * factor
        step *= 10
    return step


def _count_axis(axis, top: float) -> None:
    """A value axis for whole counts: from 0, whole steps, numbers without decimals."""
    step = _step(top or 0)
    axis.scaling.min = 0
    axis.scaling.max = max(step, math.ceil((top or 0) / step) * step)
    axis.majorUnit = step
    axis.number_format = "0"
    axis.delete = False


def _rate_axis(axis) -> None:
    """A value axis for a rate: 0 % to 100 % in steps of 25 %."""
    axis.scaling.min, axis.scaling.max = 0, 1
    axis.majorUnit = 0.25
    axis.number_format = "0%"
    axis.delete = False


def _markers(chart) -> None:
    """A dot on each week's value: a one-week series, or one between two gaps, is still seen."""
    chart.marker = True
    chart.x_axis.delete = False
    for series in chart.series:
        series.smooth = False  # a weekly figure is a step, not a curve
        series.marker = Marker(symbol="circle", size=6)


def _decision_sheet(wb, weekly: Weekly, page, t, lang: str, estimate: str) -> None:
    """The first sheet: what a director reads in 30 seconds (decisions.Page for every item)."""
    sheet = _Sheet(wb, t("decide.sheet"))
    xlsxout.widths(sheet.ws, [22, 20, 18, 56, 12])  # 本周/上周 hold a rate with its base: 58%（7/12 按时）
    xlsxout.print_setup(sheet.ws, landscape=False)  # one page, portrait: read top to bottom
    sheet.title(t("weekly.title", week=weekly.label, start=weekly.monday.isoformat(), end=weekly.sunday.isoformat()),
                size=14)
    if estimate:  # the working-day counts below (overdue days, tiers) are estimates
        sheet.title(f"※ {estimate}")
    sheet.title(t("decide.title"))
    if page.asks:
        sheet.table([t("decide.col.item"), t("decide.col.kind"), t("decide.col.who"), t("decide.col.ask")],
                    [[a.topic, t(f"decide.kind.{a.kind}"), a.owner, a.detail] for a in page.asks[:PAGE_LIST_MAX]])
        _more(sheet, len(page.asks), t)
    else:
        sheet.append([t("decide.none")])
    sheet.blank()
    sheet.title(t("decide.kpis"))
    colors = {"green": "00B050", "amber": "C65911", "red": "C00000", "none": "808080"}
    sheet.append([t(k) for k in ("decide.col.kpi", "decide.col.value", "decide.col.last", "decide.col.mark")],
                 font=sheet.bold, fill=xlsxout.HEADER_FILL)
    for k in page.kpis:  # the value with its arrow; the mark in the wide column, where it is seen first
        value = f"{kpi_text(k.value, k.percent, k.base, lang)} {k.arrow}".rstrip()
        sheet.ws.append([t(f"decide.kpi.{k.key}"), value, kpi_text(k.last, k.percent, k.last_base, lang),
                         sheet.cell(t(f"decide.mark.{k.mark}"), font=Font(bold=True, color=colors[k.mark]))])
        sheet.row += 1
    sheet.append([t("decide.rate_note")], font=Font(italic=True, color="808080"))
    sheet.blank()
    sheet.title(t("decide.aging"))
    aging_top, aging_last = sheet.table([t("decide.col.department"), *page.tiers],
                                        [[d, *counts] for d, counts in sorted(page.aging.items())] or [["-", 0, 0, 0]])
    bar = BarChart()
    bar.type, bar.grouping, bar.overlap = "bar", "stacked", 100  # no title: the section's is right above
    bar.legend.position = "r"
    bar.add_data(Reference(sheet.ws, min_col=2, max_col=4, min_row=aging_top, max_row=aging_last), titles_from_data=True)
    bar.set_categories(Reference(sheet.ws, min_col=1, min_row=aging_top + 1, max_row=aging_last))
    _count_axis(bar.y_axis, max((sum(c) for c in page.aging.values()), default=0))
    bar.x_axis.delete = False
    for series, color in zip(bar.series, ("F4B183", "ED7D31", "C00000")):
        series.graphicalProperties.solidFill = color
    # under its table, in the page's first three columns; the rows it covers are left empty
    _place(sheet.ws, bar, 1, sheet.row + 2, 3, sheet.row + AGING_CHART_ROWS + 1)
    for _ in range(AGING_CHART_ROWS + 1):
        sheet.blank()
    sheet.blank()
    sheet.title(t("decide.plan"))
    if weekly.snapshots.has_prev:
        sheet.append([t("decide.plan_line", planned=page.planned, on_time=page.on_time, late=page.late,
                        open=page.still_open)])
        if page.slipped:
            sheet.table([t("decide.col.item"), t("decide.col.due"), t("decide.col.who"), t("decide.col.task")],
                        [[x.topic, due, x.owner, f"{x.task_id} {x.task}"] for x, due in page.slipped[:PAGE_LIST_MAX]])
            _more(sheet, len(page.slipped), t)
    else:
        sheet.append([t("decide.plan_none")])
    sheet.blank()
    sheet.title(t("decide.next_week"))
    rows = [[d, x.due, x.owner, f"{x.topic} · {x.task_id} {x.task}"]
            for d, tasks in sorted(page.next_week.items()) for x in tasks]
    if rows:
        sheet.table([t("decide.col.department"), t("decide.col.due"), t("decide.col.who"), t("decide.col.task")],
                    rows[:PAGE_LIST_MAX])
        _more(sheet, len(rows), t)
    else:
        sheet.append(["-"])
    sheet.ws.print_area = f"A1:E{sheet.row}"


AGING_CHART_ROWS = 9


def _more(sheet: "_Sheet", total: int, t) -> None:
    """The count of what a list on the decision page leaves out (the sheets after it have every row)."""
    if total > PAGE_LIST_MAX:
        sheet.append([t("weekly.more_sheets", n=total - PAGE_LIST_MAX)], font=Font(italic=True, color="808080"))


def _or_dash(value):
    return "-" if value is None else value


def week_estimate(weekly: Weekly, settings, overdue: list[TaskLine]) -> str:
    """The estimate phrase when the week's overdue or slipped working days touched a year without official data."""
    dates = [x.due for x in overdue] + [d for x, old, _ in weekly.slipped for d in (old, x.due)]
    dates += [weekly.today] if weekly.pending else []  # a request's waiting days run up to today
    return estimate_note(WorkCalendar.from_settings(settings), settings.lang, weekly.today, dates)


def write_workbook(weekly: Weekly, layout: Layout) -> Path:
    """报告/周报-<ISO week>.xlsx: 总览 with charts, then one sheet per list."""
    lang = layout.settings.lang
    t = lambda key, **kw: text(key, lang, **kw)  # noqa: E731
    wb = Workbook(write_only=True)
    note = week_estimate(weekly, layout.settings, weekly.overdue)
    if weekly.page is not None:
        _decision_sheet(wb, weekly, weekly.page, t, lang, note)
    ov = _Sheet(wb, t("weekly.sheet.overview"))
    _setup(ov.ws, [30, 10, 10, 10, 10, 12, 14, 16], "A4")
    ov.title(t("weekly.title", week=weekly.label, start=weekly.monday.isoformat(), end=weekly.sunday.isoformat()),
             size=14)
    if note:
        ov.title(f"※ {note}")
    ov.title(t("weekly.by_item"))
    item_rows = [[i.topic, i.initiator, t(f"weekly.item_status.{i.status}") if i.status else "",
                  i.progress if i.progress is not None else "-", i.overdue, i.due_next_week, i.pending_resources,
                  i.last_followup or "-"] for i in sorted(weekly.items, key=lambda i: i.topic)]
    ov.table([t(f"weekly.col.{k}") for k in ("topic", "initiator", "status", "progress", "overdue",
                                             "due_next_week", "pending", "last_followup")], item_rows, percent=(4,))
    ov.blank()
    ov.title(t("weekly.by_department"))
    depts = sorted(weekly.departments.values(), key=lambda d: d.department)
    ov.table([t(f"weekly.col.{k}") for k in ("department", "open", "overdue", "done_week", "on_time_week",
                                             "on_time_total")],
             [[d.department, d.open, d.states["overdue"], d.done_week,
               _or_dash(decisions.share(d.week_base)), _or_dash(decisions.share(d.total_base))] for d in depts],
             percent=(5, 6))
    ov.blank()
    ov.title(t("weekly.chart.states"))
    shown = [s for s in STATE_ORDER if any(d.states[s] for d in depts)] or ["ok"]
    labels = [t(f"mail.state.{s}") if s in ("overdue", "due_today", "due_soon", "stale") else t(f"weekly.state.{s}")
              for s in shown]
    states_top, last_states = ov.table([t("weekly.col.department")] + labels,
                                       [[d.department] + [d.states[s] for s in shown] for d in depts])
    ov.blank()
    ov.title(t("weekly.chart.trend"))
    trend_top, last_trend = ov.table([t("weekly.col.week"), t("weekly.col.on_time_rate"), t("weekly.col.overdue")],
                                     [[week, rate, overdue] for week, rate, overdue in weekly.trend], percent=(2,))
    ws = ov.ws
    # the charts under the tables, within their eight columns: the printed page holds them whole
    row = last_trend + 2
    if depts:
        bar = BarChart()
        bar.type = "bar"
        bar.grouping = "stacked"
        bar.overlap = 100
        bar.title = t("weekly.chart.states")
        bar.add_data(Reference(ws, min_col=2, max_col=1 + len(shown), min_row=states_top, max_row=last_states),
                     titles_from_data=True)
        bar.set_categories(Reference(ws, min_col=1, min_row=states_top + 1, max_row=last_states))
        _count_axis(bar.y_axis, max(sum(d.states[s] for s in shown) for d in depts))
        bar.x_axis.delete = False
        for series, state in zip(bar.series, shown):  # the template's colours: overdue red, done grey …
            series.graphicalProperties.solidFill = STATE_COLOURS[state]
            series.graphicalProperties.line.noFill = True
        bar.legend.position = "b"
        row = _place(ws, bar, 1, row, 8, row + CHART_ROWS + 1) + 2
    for col, key, first, last in ((2, "weekly.chart.on_time", 1, 4), (3, "weekly.chart.overdue", 5, 8)):
        line = LineChart()
        line.title = t(key)
        line.add_data(Reference(ws, min_col=col, min_row=trend_top, max_row=last_trend), titles_from_data=True)
        line.set_categories(Reference(ws, min_col=1, min_row=trend_top + 1, max_row=last_trend))
        if col == 2:
            _rate_axis(line.y_axis)
        else:
            _count_axis(line.y_axis, max((n for _, _, n in weekly.trend if n is not None), default=0))
        _markers(line)
        line.legend = None  # one series: the title says what it is
        bottom = _place(ws, line, first, row, last, row + CHART_ROWS - 1)
    ws.print_area = f"A1:H{bottom}"
    _burnup_sheet(wb, weekly, t)
    task_head = [t(f"weekly.col.{k}") for k in ("topic", "id", "task", "department", "owner", "due")]
    widths = [28, 8, 30, 10, 10, 12]
    percent = lambda x: x.percent / 100 if x.percent is not None else ""  # noqa: E731
    lists = [  # (sheet, headers, rows, widths, percentage columns)
        (t("weekly.sheet.overdue"), task_head + [t("weekly.col.days"), t("weekly.col.progress")],
         [[x.topic, x.task_id, x.task, x.department, x.owner, x.due or "", x.days, percent(x)]
          for x in weekly.overdue], widths + [10, 8], (8,)),
        (t("weekly.sheet.due_next_week"), task_head + [t("weekly.col.progress")],
         [[x.topic, x.task_id, x.task, x.department, x.owner, x.due or "", percent(x)] for x in weekly.due_next_week],
         widths + [8], (7,)),
        (t("weekly.sheet.done"), task_head + [t("weekly.col.done_on"), t("weekly.col.on_time")],
         [[x.topic, x.task_id, x.task, x.department, x.owner, x.due or "", x.done_on, "✔" if _on_time(x) else "✘"]
          for x in weekly.done_this_week], widths + [12, 8], ()),
        (t("weekly.sheet.slipped"), task_head[:5] + [t("weekly.col.old_due"), t("weekly.col.new_due"),
                                                     t("weekly.col.slip_days")],
         [[x.topic, x.task_id, x.task, x.department, x.owner, old, x.due, n] for x, old, n in weekly.slipped],
         widths[:5] + [12, 12, 10], ()),
        (t("weekly.sheet.resources"), [t(f"weekly.col.{k}") for k in ("topic", "request", "step", "waiting", "days",
                                                                      "purpose")],
         [[p.topic, p.request_id, t(f"mail.step.{p.step}"), p.waiting, p.days, p.purpose] for p in weekly.pending],
         [28, 10, 8, 10, 10, 30], ()),
        (t("weekly.sheet.findings"), [t(f"weekly.col.{k}") for k in ("code", "workbook", "sheet", "cell", "problem",
                                                                     "fix")],
         [[f.code, f.workbook, f.sheet, f.cell, f.message(lang), f.hint(lang)] for f in weekly.findings],
         [18, 30, 10, 8, 50, 40], ()),
        (t("weekly.sheet.followups"), [t("weekly.col.topic"), t("weekly.col.workbook"), t("weekly.col.problem")],
         [[topic, workbook, message] for workbook, topic, message in weekly.missing_followups], [28, 32, 50], ()),
    ]
    bodies = [_list_sheet(wb, *spec) for spec in lists]
    weekly.path = xlsxout.save(wb, layout.reports / text("file.weekly", lang, week=weekly.label), bodies)
    return weekly.path


# --- the mails -----------------------------------------------------------------------------

def weekly_mails(weekly: Weekly, layout: Layout, roster) -> tuple[list[notify.Mail], list[Refusal]]:
    """Each initiator (their items), each department head (their department), the management list (all),
    each by roster key (audience.weekly_readers)."""
    settings = layout.settings
    lang = settings.lang
    audience = Audience(roster, settings)
    readers = audience.weekly_readers([(i.workbook, i.initiator) for i in weekly.items if i.initiator],
                                      list(weekly.departments), settings["reminders.management"])
    mails = []
    for reader in readers:
        scope = reader.scope
        # the items most behind first: a long list is cut in the mail, never in the workbook
        items = sorted((i for i in weekly.items if scope.item(i)), key=lambda i: -i.overdue)
        depts = [d for d in weekly.departments.values() if scope.everything or d.department in scope.departments]
        t = lambda key, **kw: text(key, lang, **kw)  # noqa: E731

        # the tasks this reader answers for: in an item they started, or in the department they head
        overdue = decisions.in_scope(weekly, "overdue", scope)
        figures = dict(done=len(decisions.in_scope(weekly, "done_this_week", scope)), overdue=len(overdue),
                       next=len(decisions.in_scope(weekly, "due_next_week", scope)))

        def bodies(reader=reader, t=t, items=items, depts=depts, overdue=overdue, figures=figures, scope=scope
                   ) -> tuple[str, str]:
            """The mail's text and HTML, made when it is sent (a rerun in the week sends nothing again)."""
            # everyone's figures: the workbook's decision sheet has that page already
            page = (weekly.page if scope.everything and weekly.page is not None else
                    decisions.page(weekly, settings, scope, weekly.snapshots))
            share = settings["general.share_url"]

            def topic_link(workbook: str, topic: str):
                return mail_render.linked(workbook_link(share, workbook)[0], topic)

            context = dict(trend=weekly.trend if scope.everything else [],  # the whole-folder trend, for management only
                           page=page, kpi_value=lambda k: kpi_text(k.value, k.percent, k.base, lang),
                           kpi_last=lambda k: kpi_text(k.last, k.percent, k.last_base, lang),
                           has_prev=weekly.snapshots.has_prev,
                           pct=as_percent, topic_link=topic_link, where=lambda wb: workbook_link(share, wb)[1],
                           t=t, lang=lang, person=reader.person, weekly=weekly, items=items, depts=depts,
                           share=decisions.share, figures=figures, overdue=overdue, shown=MAIL_LIST_MAX,
                           next_week=[(dept, x) for dept, tasks in sorted(page.next_week.items()) for x in tasks],
                           why=("；" if lang == "zh" else "; ").join(t(f"weekly.why.{r}") for r in sorted(reader.reasons)),
                           estimate=week_estimate(weekly, settings, overdue))
            return mail_render.render("weekly", context, lang)

        # one summary per person per ISO week, even if the figures moved since it was sent
        key = hashlib.sha256(f"{reader.person.email.lower()}|weekly|{weekly.label}".encode()).hexdigest()
        subject = t("weekly.subject", week=weekly.label, overdue=figures["overdue"])
        mails.append(notify.Mail(key, "weekly", reader.person, [], subject, "", "", sorted(reader.reasons),
                                 tuple(i.workbook for i in items), (weekly.path,) if weekly.path else (),
                                 renderer=bodies))
    return mails, audience.refused


@dataclass
class WeeklyResult:
    weekly: Weekly
    mails: list[notify.Mail]
    delivery: Delivery | None
    post_delivery: Delivery | None = None  # the group posts, when groups are set up


def run_weekly(root: Path | str, today: dt.date, now: dt.datetime, layout: Layout | None = None,
               transport: notify.Transport | None = None, resend: bool = False,
               posters: dict | None = None) -> WeeklyResult:
    """Write the weekly summary workbook and mail it; the mails (and group posts) go once per ISO week."""
    layout = layout or Layout.of(root)
    with job_lock(layout, "weekly"):
        return _run_weekly(root, today, now, layout, transport, resend, posters)


def week_posts(weekly: Weekly, settings) -> list:
    """The weekly post of each group with weekly = true: its items' figures (a management group: all)."""

    posts = []
    for channel in settings.channels.values():
        if not channel.weekly or channel.admin:
            continue
        items = [i for i in weekly.items if channel.management
                 or channels.serves(channel, i.workbook, i.topic, i.group)]
        post = channels.weekly_post(channel, items, weekly.label, settings, weekly.today)
        if post is not None:
            post.day = weekly.monday  # once per ISO week
            posts.append(post.seal())
    return posts


def _run_weekly(root, today: dt.date, now: dt.datetime, layout: Layout, transport, resend: bool,
                posters: dict | None = None) -> WeeklyResult:
    store = layout.open_store()
    run_id = store.start_run("weekly", today, now)
    outcome = "failed"
    delivery = None
    post_delivery = None
    mails: list[notify.Mail] = []
    weekly = None
    try:
        weekly = build(root, today, layout)
        with heap_frozen():  # the week's tasks stay put while the workbook, pages and mails are made
            write_workbook(weekly, layout)
            mails, refused = weekly_mails(weekly, layout, weekly.report.roster)
            transport = notify.transport_or_outbox(transport, layout.settings, layout.state, today)
            delivery = notify.deliver(mails, transport, store, layout.settings, today, now, resend=resend)
            delivery.refused = refused
            posts = week_posts(weekly, layout.settings)
            if posts:
                posters = (posters if posters is not None else
                           channels.outbox_posters(layout.settings, layout.state, today))
                post_delivery = channels.deliver_posts(posts, posters, store, today, now, resend,
                                                       cap=layout.settings["reminders.max_mails_per_run"])
        outcome = "ok" if not delivery.failed else "failed_sends"
    finally:
        store.finish_run(run_id, outcome, {
            "week": weekly.label if weekly else "", "items": len(weekly.items) if weekly else 0,
            "mails_sent": len(delivery.sent) if delivery else 0,
            "mails_failed": len(delivery.failed) if delivery else 0}, now)
        store.close()
    return WeeklyResult(weekly, mails, delivery, post_delivery)
