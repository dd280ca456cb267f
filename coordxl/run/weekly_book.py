"""The weekly summary's workbook, 报告/周报-<ISO week>.xlsx: the decision sheet a director reads first, the
overview with its charts, the burn-up per item, then one sheet per list with every row.

It draws what run.weekly worked out (a ``Weekly``: the items', departments' and tasks' figures of the
week) and computes nothing of its own.
"""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.chart import BarChart, LineChart, Reference
from openpyxl.chart.marker import Marker
from openpyxl.drawing.spreadsheet_drawing import AnchorMarker, TwoCellAnchor
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter

from ..messages import percent as as_percent
from ..messages import text
from ..process import assess
from ..process.calendar import WorkCalendar, estimate_note
from ..state.layout import Layout
from ..xlsx import xlsxout
from . import decisions

STATE_COLOURS = {"overdue": "C00000", "due_today": "ED7D31", "due_soon": "FFC000", "blocked": "7030A0",
                 "stale": "A5A5A5", "invalid": "9E480E", "paused": "5B9BD5", "ok": "70AD47", "done": "BFBFBF",
                 "cancelled": "E7E6E6"}
STATE_ORDER = tuple(sorted(assess.URGENCY, key=assess.URGENCY.get))  # the chart's series, most urgent first



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
BURNUP_CHARTS = 12  # items drawn (most open tasks first); every item is in the table


def _burnup_sheet(wb, weekly, t) -> None:
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


def _decision_sheet(wb, weekly, page, t, lang: str, estimate: str) -> None:
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


def _more(sheet: _Sheet, total: int, t) -> None:
    """The count of what a list on the decision page leaves out (the sheets after it have every row)."""
    if total > PAGE_LIST_MAX:
        sheet.append([t("weekly.more_sheets", n=total - PAGE_LIST_MAX)], font=Font(italic=True, color="808080"))


def _or_dash(value):
    return "-" if value is None else value


def week_estimate(weekly, settings, overdue: list) -> str:
    """The estimate phrase when the week's overdue or slipped working days touched a year without official data."""
    dates = [x.due for x in overdue] + [d for x, old, _ in weekly.slipped for d in (old, x.due)]
    dates += [weekly.today] if weekly.pending else []  # a request's waiting days run up to today
    return estimate_note(WorkCalendar.from_settings(settings), settings.lang, weekly.today, dates)


def write_workbook(weekly, layout: Layout) -> Path:
    """报告/周报-<ISO week>.xlsx: the decision sheet, 总览 with charts, the burn-up, then one sheet per list."""
    lang = layout.settings.lang
    t = lambda key, **kw: text(key, lang, **kw)  # noqa: E731
    wb = Workbook(write_only=True)
    note = week_estimate(weekly, layout.settings, weekly.overdue)
    if weekly.page is not None:
        _decision_sheet(wb, weekly, weekly.page, t, lang, note)
    _overview_sheet(wb, weekly, t, note)
    _burnup_sheet(wb, weekly, t)
    bodies = [_list_sheet(wb, *spec) for spec in _lists(weekly, t, lang)]
    weekly.path = xlsxout.save(wb, layout.reports / text("file.weekly", lang, week=weekly.label), bodies)
    return weekly.path


def _overview_sheet(wb, weekly, t, note: str) -> None:
    """总览: the week's figures by item and by department, the states and the 8-week trend, with their charts."""
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
    states = ov.table([t("weekly.col.department")] + labels, [[d.department] + [d.states[s] for s in shown] for d in depts])
    ov.blank()
    ov.title(t("weekly.chart.trend"))
    trend = ov.table([t("weekly.col.week"), t("weekly.col.on_time_rate"), t("weekly.col.overdue")],
                     [[week, rate, overdue] for week, rate, overdue in weekly.trend], percent=(2,))
    _overview_charts(ov.ws, weekly, t, depts, shown, states, trend)


def _overview_charts(ws, weekly, t, depts: list, shown: list[str], states: tuple[int, int], trend: tuple[int, int]
                     ) -> None:
    """The overview's charts under its tables (``states`` and ``trend``: their header and last rows), within
    their eight columns: the printed page holds them whole."""
    states_top, last_states = states
    trend_top, last_trend = trend
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


def _lists(weekly, t, lang: str) -> list[tuple]:
    """The sheets after the overview, one per list with every row: (sheet, headers, rows, widths, percentage
    columns) for :func:`_list_sheet`."""
    task_head = [t(f"weekly.col.{k}") for k in ("topic", "id", "task", "department", "owner", "due")]
    widths = [28, 8, 30, 10, 10, 12]
    percent = lambda x: x.percent / 100 if x.percent is not None else ""  # noqa: E731
    return [
        (t("weekly.sheet.overdue"), task_head + [t("weekly.col.days"), t("weekly.col.progress")],
         [[x.topic, x.task_id, x.task, x.department, x.owner, x.due or "", x.days, percent(x)]
          for x in weekly.overdue], widths + [10, 8], (8,)),
        (t("weekly.sheet.due_next_week"), task_head + [t("weekly.col.progress")],
         [[x.topic, x.task_id, x.task, x.department, x.owner, x.due or "", percent(x)] for x in weekly.due_next_week],
         widths + [8], (7,)),
        (t("weekly.sheet.done"), task_head + [t("weekly.col.done_on"), t("weekly.col.on_time")],
         [[x.topic, x.task_id, x.task, x.department, x.owner, x.due or "", x.done_on,
           "✔" if decisions.on_time(x.due, x.done_on) else "✘"] for x in weekly.done_this_week], widths + [12, 8], ()),
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
