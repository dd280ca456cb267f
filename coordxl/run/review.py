"""`coordxl review`: the retrospective draft for one item, and finding an item by name.

The draft (报告/复盘草稿-<item>.xlsx) gathers what the retrospective meeting
needs: acceptance against the minutes' delivery standards, on-time rates,
delays, slipped deadlines, reminders sent, resource requests, and process
compliance with each seed rule (✔/✘ with the evidence), then leaves 成功经验,
不足 and 改进措施 for people to fill in.
"""

from __future__ import annotations

import datetime as dt
import math
import statistics
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Side
from openpyxl.utils.cell import column_index_from_string, coordinate_from_string

from .. import schema
from ..findings import Finding
from ..messages import percent as as_percent
from ..messages import text
from ..process import assess
from ..process.calendar import estimate_note
from ..process.model import Item, task_key
from ..process.rules import RULE_OF, RULES, Context
from ..state.layout import Layout, draft_path
from ..state.store import workbook_id
from ..xlsx import xlsxout
from ..xlsx.reader import open_workbook, sheet_rows
from ..xlsx.xlsxout import put_text, put_value
from . import decisions
from .pipeline import find_item, load_item

# the process rules the draft judges, in the rules' order: those declaring their evidence when kept
COMPLIANCE = tuple(code for rule in RULES if rule.evidence for code in rule.codes)
EVIDENCE_CHARS = 40  # a cell's text quoted as evidence, at most


def late_workdays(ctx: Context, due, end) -> int | None:
    """Working days a task finished (or, open, is by ``end`` = today) after its deadline: 0 when on time,
    at least 1 when late (due on Friday, done on Saturday is one working day late, as the 预警 counts);
    None when a date is missing."""
    if not (isinstance(due, dt.date) and isinstance(end, dt.date)):
        return None
    return 0 if end <= due else max(1, ctx.calendar.count(due, end))


def compliance(item: Item, findings: list[Finding], ctx: Context, lang: str,
               cells: dict[tuple[str, str], str] | None = None) -> list[tuple[str, bool, str]]:
    """(rule, passed, evidence) for each seed rule of the process; a rule not kept names each cell
    with what it holds (``cells``: (sheet, A1) -> its text)."""
    t = lambda key, **kw: text(key, lang, **kw)  # noqa: E731
    by_code = defaultdict(list)
    for f in findings:
        by_code[f.code].append(f)
    out = []
    for code in COMPLIANCE:
        if by_code.get(code):
            out.append((code, False, "；".join(_cited(f, cells or {}, t, lang) for f in by_code[code])))
            continue
        out.append((code, True, _evidence(code, item, ctx, t)))
    return out


def _cited(f: Finding, cells: dict[tuple[str, str], str], t, lang: str) -> str:
    """A finding as evidence: the sheet, the cell and its text; the sheet alone for a finding about the
    whole sheet (a week without a follow-up meeting is no cell's fault)."""
    if not f.cell or f.cell == "A1":
        return t("review.ev.sheet", sheet=f.sheet, message=f.message(lang))
    value = cells.get((f.sheet, f.cell), "")
    if len(value) > EVIDENCE_CHARS:
        value = value[:EVIDENCE_CHARS - 1] + "…"
    key = "review.ev.cell" if value else "review.ev.cell_blank"
    return t(key, sheet=f.sheet, cell=f.cell, value=value, message=f.message(lang))


def cell_texts(path, wanted: set[tuple[str, str]], max_bytes: int) -> dict[tuple[str, str], str]:
    """(sheet, A1) -> the cell's text as staff see it, for the cells a draft cites; nothing when the
    workbook cannot be read again."""
    out: dict[tuple[str, str], str] = {}
    if not wanted or path is None:
        return out
    try:
        wb, _ = open_workbook(path, max_bytes)
    except Exception:  # the draft is still useful without the quotes
        return out
    if wb is None:
        return out
    try:
        for sheet in {s for s, _ in wanted}:
            try:
                rows = sheet_rows(wb, sheet)[0]
            except Exception:
                continue
            for s, ref in wanted:
                if s != sheet:
                    continue
                letters, number = coordinate_from_string(ref)
                r, c = number - 1, column_index_from_string(letters) - 1
                value = rows[r][c] if r < len(rows) and c < len(rows[r]) else ""
                out[(s, ref)] = _shown(value)
    finally:
        wb.close()
    return out


def _shown(value) -> str:
    """A cell's value as its text: 2026-07-10 18:00, 14:45, 3, or the text itself."""
    if value is None or value == "":
        return ""
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M") if (value.hour, value.minute) != (0, 0) else value.date().isoformat()
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()[:10] if isinstance(value, dt.date) else value.strftime("%H:%M")
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return " ".join(str(value).split())


def _evidence(code: str, item: Item, ctx: Context, t) -> str:
    """What a kept rule's own measure says (rules.Rule.evidence): the arithmetic is the rule's, done once."""
    rule = RULE_OF[code]
    found = rule.evidence(item, ctx) if rule.evidence else None
    if found is None:
        return t("review.ev.none")
    key, values = found
    return t(key, **values)


@dataclass(frozen=True)
class Figures:
    """What the retrospective draft reports of one item, before any layout: pure values of the item, its
    findings and the calendar (the ledger's part, slipped deadlines and mails, is :func:`_history`'s)."""

    assessed: list  # (row, TaskState) of each task, in the tracker's order
    judged: list  # (verdict, working days late) of each task: on_time | late | not_due | none
    checks: list  # (rule code, kept, evidence) of each process rule
    acceptance: str  # the retrospective's 验收结论, '' when none
    done: int  # tasks done
    counted: int  # tasks not cancelled
    standards: int  # done tasks with a delivery standard
    on_time: tuple[int, int]  # (done or due tasks on time, those judged)
    worst: list  # up to three (working days late, row, state), the latest first
    per_department: dict  # department -> [done, on time, open and overdue], of the tasks judged
    delays: list  # working days late of each done task judged (0 when on time)
    resources: list  # (row, working days from request to approval or None) of each resource request
    measures: int  # improvement measures written


def figures(item: Item, findings: list[Finding], ctx: Context, lang: str,
            cells: dict[tuple[str, str], str] | None = None) -> Figures:
    """The draft's figures (``cells``: the text of each cell a finding names, for the evidence)."""
    assessed = assess.assess_item(item, ctx.today, ctx.calendar, ctx.settings)
    judged = [_judge(ctx, r, state) for r, state in assessed]  # one verdict per task: the tables and the summary
    tasks = [r for r, _ in assessed]
    done_tasks = [r for r in tasks if r.get("status") == "done"]
    late = [(days, r, state) for (verdict, days), (r, state) in zip(judged, assessed) if verdict == "late" and days]
    per_department: dict = defaultdict(lambda: [0, 0, 0])
    for r, (verdict, _) in zip(tasks, judged):
        if verdict in ("on_time", "late"):
            counts = per_department[str(r.get("department") or "-")]
            counts[0 if r.get("status") == "done" else 2] += 1
            counts[1] += verdict == "on_time"
    count = ctx.calendar.count
    return Figures(
        assessed=assessed, judged=judged, checks=compliance(item, findings, ctx, lang, cells),
        acceptance=str(item.retro.get("acceptance")) if item.retro and item.retro.get("acceptance") else "",
        done=len(done_tasks), counted=sum(1 for r in tasks if r.get("status") != "cancelled"),
        standards=sum(1 for r in done_tasks if r.get("standard")),
        on_time=(sum(v == "on_time" for v, _ in judged), sum(v in ("on_time", "late") for v, _ in judged)),
        worst=sorted(late, key=lambda x: -x[0])[:3], per_department=dict(per_department),
        delays=[days for r, (verdict, days) in zip(tasks, judged)
                if verdict in ("on_time", "late") and r.get("status") == "done"],
        resources=[(r, count(r.get("requested_on"), r.get("approved_on"))
                    if isinstance(r.get("requested_on"), dt.date) and isinstance(r.get("approved_on"), dt.date) else None)
                   for r in item.resources],
        measures=sum(1 for m in item.measures if m.get("measure")))


class _Page:
    """The draft's one sheet, written top to bottom: titles, label rows and bordered tables."""

    THIN = Side(style="thin", color="BFBFBF")

    def __init__(self, ws):
        self.ws, self.row = ws, 1

    def line(self, value: str) -> None:
        """A line of text across the page."""
        put_text(self.ws, self.row, 1, value)
        self.ws.merge_cells(start_row=self.row, start_column=1, end_row=self.row, end_column=9)

    def title(self, label: str) -> None:
        self.row += 1
        self.ws.cell(row=self.row, column=1, value=label).font = xlsxout.title_font(12)
        self.row += 1

    def labelled(self, rows: list[tuple[str, str]]) -> None:
        """A label in bold, its text across the rest of the page."""
        ws = self.ws
        for label, value in rows:
            put_text(ws, self.row, 1, label)
            ws.cell(row=self.row, column=1).font = xlsxout.HEADER_FONT
            put_text(ws, self.row, 2, value)
            ws.merge_cells(start_row=self.row, start_column=2, end_row=self.row, end_column=9)
            ws.cell(row=self.row, column=2).alignment = Alignment(wrap_text=True, vertical="top")
            self.row += 1

    def table(self, headers: list[str], records: list[list], blank_rows: int = 0, percent: tuple[int, ...] = ()) -> None:
        ws, thin = self.ws, self.THIN
        xlsxout.header(ws.cell(row=self.row, column=c, value=h) for c, h in enumerate(headers, start=1))
        for record in records + [[""] * len(headers)] * blank_rows:
            self.row += 1
            for c, value in enumerate(record, start=1):
                put_value(ws, self.row, c, value, percent=c in percent)
                for col in range(1, len(headers) + 1):
                    cell = ws.cell(row=self.row, column=col)
                    cell.border = Border(left=thin, right=thin, top=thin, bottom=thin)
                    cell.alignment = Alignment(wrap_text=True, vertical="top")
        self.row += 1

    def lines_to_fill(self, n: int) -> None:
        for _ in range(n):
            self.ws.cell(row=self.row, column=1).border = Border(bottom=self.THIN)
            self.row += 1


def write_review(layout: Layout, item: Item, findings: list[Finding], ctx: Context) -> Path:
    """报告/复盘草稿-<item>.xlsx: the one-page summary first, then each table of :class:`Figures`, then
    what the meeting fills in."""
    lang = layout.settings.lang
    t = lambda key, **kw: text(key, lang, **kw)  # noqa: E731
    wanted = {(f.sheet, f.cell) for f in findings if f.code in COMPLIANCE and f.cell and f.cell != "A1"}
    fig = figures(item, findings, ctx, lang, cell_texts(item.path, wanted, ctx.settings["limits.max_unzipped_mb"] * 2**20))
    slipped, mails = _history(layout, item, ctx)
    wb = Workbook()
    wb.active.title = t("review.sheet")
    page = _Page(wb.active)
    page.ws.cell(row=1, column=1, value=xlsxout.xml_safe(t("review.title", topic=item.topic))).font = xlsxout.title_font(14)
    page.ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=9)
    page.row += 1
    page.line(t("review.generated", today=ctx.today.isoformat(), workbook=item.workbook))
    dates = [d for r, _ in fig.assessed for d in (r.get("due"), r.get("done_on"))]
    if note := estimate_note(ctx.calendar, lang, ctx.today, dates):
        page.row += 1
        page.line(f"※ {note}")
    page.title(t("review.summary"))  # one page first: the outcome, on time or not, the worst delays, the rules not kept
    page.labelled(_summary(fig, t, lang))
    page.title(t("review.acceptance"))
    page.table([t(f"review.col.{k}") for k in ("id", "task", "department", "standard", "due", "done_on", "status",
                                               "on_time", "delay")], _task_rows(fig, t))
    page.title(t("review.rates"))
    overall = [sum(c[i] for c in fig.per_department.values()) for i in range(3)]
    page.table([t("review.col.department"), t("review.col.done"), t("review.col.late_open"), t("review.col.rate")],
               [[name, n, late_open, "-" if decisions.share((ok, n + late_open)) is None else decisions.share((ok, n + late_open))]
                for name, (n, ok, late_open) in [(t("review.overall"), overall)] + sorted(fig.per_department.items())],
               percent=(4,))
    page.table([t("review.col.avg_delay"), t("review.col.worst_delay")],
               [[round(statistics.mean(fig.delays), 1) if fig.delays else "-", max(fig.delays) if fig.delays else "-"]])
    page.title(t("review.slipped"))
    page.table([t(f"review.col.{k}") for k in ("id", "task", "first_due", "due", "delay")], slipped)
    page.title(t("review.reminders"))
    page.table([t("review.col.reminders"), t("review.col.escalations")], [list(mails)])
    page.title(t("review.resources"))
    page.table([t(f"review.col.{k}") for k in ("request", "kind", "amount", "review", "approval", "approval_days")],
               [[str(r.get("id") or ""), _label(schema.RESOURCES, "kind", r.get("kind"), lang),
                 r.get("amount") if r.get("amount") is not None else "",
                 _label(schema.RESOURCES, "review", r.get("review"), lang),
                 _label(schema.RESOURCES, "approval", r.get("approval"), lang), "-" if days is None else days]
                for r, days in fig.resources])
    page.title(t("review.compliance"))
    first = page.row + 1
    page.table([t("review.col.rule"), t("review.col.result"), t("review.col.evidence")],
               [[t(f"review.rule.{code}"), "✔" if ok else "✘", evidence] for code, ok, evidence in fig.checks])
    for r, (_, _, evidence) in zip(range(first, page.row), fig.checks):  # evidence quotes cells: the page's width
        page.ws.merge_cells(start_row=r, start_column=3, end_row=r, end_column=9)
        page.ws.row_dimensions[r].height = 15 * max(1, math.ceil(_text_width(evidence) / EVIDENCE_WIDTH))
    for key in ("went_well", "went_wrong"):
        page.title(t(f"review.{key}"))
        page.lines_to_fill(4)
    page.title(t("review.measures"))
    page.table([t("review.col.measure"), t("review.col.owner"), t("review.col.measure_due")], [], blank_rows=6)
    xlsxout.widths(page.ws, (26, 30, 12, 30, 12, 12, 10, 8, 10))
    xlsxout.print_setup(page.ws, landscape=False)
    return xlsxout.save(wb, draft_path(layout, item))


def _summary(fig: Figures, t, lang: str) -> list[tuple[str, str]]:
    """The one-page summary: outcome, done, on time, worst delays, rules not kept, measures."""
    rate = decisions.share(fig.on_time)
    worst = "；".join(t("review.worst_open" if state.state != assess.DONE else "review.worst_done",
                       task=f"{r.get('id') or ''} {r.get('task') or ''}".strip(), days=d) for d, r, state in fig.worst)
    return [
        (t("review.sum.outcome"), fig.acceptance or t("review.sum.no_acceptance")),
        (t("review.sum.done"), t("review.sum.done_value", done=fig.done, total=fig.counted, standards=fig.standards)),
        (t("review.sum.on_time"), text("decide.rate_base", lang, rate=as_percent(rate), on_time=fig.on_time[0],
                                       judged=fig.on_time[1]) if rate is not None else "-"),
        (t("review.sum.worst"), worst or "-"),
        (t("review.sum.failed_rules"), "；".join(t(f"review.rule.{code}") for code, ok, _ in fig.checks if not ok) or "-"),
        (t("review.sum.measures"), str(fig.measures) + t("review.sum.measures_hint")),
    ]


def _task_rows(fig: Figures, t) -> list[list]:
    """The acceptance table: each task with its state as staff call it and its verdict."""
    marks = {"on_time": "✔", "late": "✘", "not_due": t("review.not_due"), "none": "-"}
    records = []
    for (r, state), (verdict, days) in zip(fig.assessed, fig.judged):
        status, due, done = r.get("status"), r.get("due"), r.get("done_on")
        shown = (state.state if state.state in ("done", "cancelled", "blocked", "paused", "invalid")
                 else "blocked" if status == "blocked" else None)
        records.append([str(r.get("id") or ""), str(r.get("task") or ""), str(r.get("department") or ""),
                        str(r.get("standard") or ""), due if isinstance(due, dt.date) else "",
                        done if isinstance(done, dt.date) else "",
                        t(f"weekly.state.{shown}") if shown else t("review.open"), marks[verdict],
                        days if days is not None else ""])
    return records


EVIDENCE_WIDTH = 90  # columns C–I, in Latin characters


def _text_width(value: str) -> int:
    """Latin characters a text takes: a Chinese character is two."""
    return sum(2 if ord(ch) > 0x2E80 else 1 for ch in value)


def _judge(ctx: Context, r, state: assess.TaskState) -> tuple[str, int | None]:
    """(verdict, working days late) of one task: on_time / late for a task done or past its deadline,
    not_due for an open task whose deadline has not passed (nor one paused or left to fix), none for a
    cancelled one, one left to fix (待修正) or a done one without dates."""
    due, done = r.get("due"), r.get("done_on")
    if state.state == assess.DONE:
        days = late_workdays(ctx, due, done)
        return ("none", None) if days is None else ("on_time" if days == 0 else "late", days)
    if state.state in (assess.CANCELLED, assess.INVALID):  # an unreadable date is judged once it is fixed
        return "none", None
    if state.state == assess.OVERDUE:
        return "late", state.days
    return "not_due", None


def _label(sheet: schema.Sheet, key: str, value, lang: str) -> str:
    """An enum key as the label staff use (passed → 通过)."""
    if not value:
        return ""
    try:
        return sheet.field(key).choice(value).label(lang)
    except KeyError:
        return str(value)


def _history(layout: Layout, item: Item, ctx: Context) -> tuple[list[list], tuple[int, int]]:
    """Slipped deadlines (first recorded due date vs now) and reminders/escalations sent, from state.db."""
    store = layout.open_store(existing=True)
    if store is None:
        return [], (0, 0)
    first_due = store.first_due_dates(item.workbook)
    slipped = []
    for r in item.own:
        key, due = task_key(r), r.get("due")
        old = first_due.get(key)
        if old and isinstance(due, dt.date) and due > old:
            slipped.append([str(r.get("id") or ""), str(r.get("task") or ""), old, due, ctx.calendar.count(old, due)])
    sent = [m for m in store.mails() if m["status"] == "sent" and m["kind"] in ("digest", "escalation")
            and workbook_id(item.workbook) in m["workbooks"].split("\n")]
    return slipped, (len(sent), sum(m["kind"] == "escalation" for m in sent))


def run_review(root: Path | str, name: str, today: dt.date) -> Path:
    layout = Layout.of(root)
    path = find_item(layout, name, today)
    item, findings, ctx = load_item(layout, path, today)
    return write_review(layout, item, findings, ctx)
