"""`coordxl review`: the retrospective draft for one item, and finding an item by name.

The draft (报告/复盘草稿-<item>.xlsx) gathers what the retrospective meeting
needs: acceptance against the minutes' delivery standards, on-time rates,
delays, slipped deadlines, reminders sent, resource requests, and process
compliance with each seed rule (✔/✘ with the evidence), then leaves 成功经验,
不足 and 改进措施 for people to fill in.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections import defaultdict
from pathlib import Path

from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Side

from . import schema, xlsxout
from .findings import Finding
from .layout import Layout, draft_path
from .messages import text
from .model import Item, task_key
from .pipeline import find_item, load_item
from .rules import Context
from .xlsxout import put_text, put_value

COMPLIANCE = ("R-NOTICE", "R-MATERIALS", "R-MEETING-LENGTH", "R-MINUTES-24H", "R-ACTION-INCOMPLETE", "R-BREAKDOWN",
              "R-FOLLOWUP", "R-RESOURCE-REVIEW")


def _delay(ctx: Context, due, done) -> int:
    return max(0, ctx.calendar.count(due, done)) if isinstance(due, dt.date) and isinstance(done, dt.date) else 0


def compliance(item: Item, findings: list[Finding], ctx: Context, lang: str) -> list[tuple[str, bool, str]]:
    """(rule, passed, evidence) for each seed rule of the process."""
    t = lambda key, **kw: text(key, lang, **kw)  # noqa: E731
    by_code = defaultdict(list)
    for f in findings:
        by_code[f.code].append(f)
    out = []
    for code in COMPLIANCE:
        if by_code.get(code):
            out.append((code, False, "；".join(f"{f.sheet} {f.cell}: {f.message(lang)}" for f in by_code[code])))
            continue
        out.append((code, True, _evidence(code, item, ctx, t)))
    return out


def _evidence(code: str, item: Item, ctx: Context, t) -> str:
    m = item.meetings[0].form if item.meetings else None
    if code == "R-NOTICE" and item.request and item.request.get("sent_on") and item.request.get("planned_meeting"):
        days = ctx.calendar.count(item.request["sent_on"], item.request["planned_meeting"].date())
        return t("review.ev.notice", days=days)
    if code == "R-MATERIALS" and m and m.get("materials_sent") and m.get("start"):
        return t("review.ev.materials", hours=int((m["start"] - m["materials_sent"]).total_seconds() // 3600))
    if code == "R-MEETING-LENGTH" and m and m.get("start") and m.get("end"):
        return t("review.ev.length", minutes=int((m["end"] - m["start"]).total_seconds() // 60))
    if code == "R-MINUTES-24H" and m and m.get("end") and m.get("minutes_sent"):
        return t("review.ev.minutes", hours=int((m["minutes_sent"] - m["end"]).total_seconds() // 3600))
    if code == "R-FOLLOWUP":
        return t("review.ev.followups", n=len(item.followups))
    if code == "R-RESOURCE-REVIEW":
        return t("review.ev.resources", n=len(item.resources))
    if code in ("R-ACTION-INCOMPLETE", "R-BREAKDOWN"):
        return t("review.ev.actions", n=sum(len(mt.actions) for mt in item.meetings))
    return t("review.ev.none")


def write_review(layout: Layout, item: Item, findings: list[Finding], ctx: Context) -> Path:
    lang = layout.settings.lang
    t = lambda key, **kw: text(key, lang, **kw)  # noqa: E731
    wb = Workbook()
    ws = wb.active
    ws.title = t("review.sheet")
    thin = Side(style="thin", color="BFBFBF")
    row = 1

    def title(label: str) -> None:
        nonlocal row
        row += 1
        ws.cell(row=row, column=1, value=label).font = xlsxout.title_font(12)
        row += 1

    def table(headers: list[str], records: list[list], blank_rows: int = 0, percent: tuple[int, ...] = ()) -> None:
        nonlocal row
        xlsxout.header(ws.cell(row=row, column=c, value=h) for c, h in enumerate(headers, start=1))
        for record in records + [[""] * len(headers)] * blank_rows:
            row += 1
            for c, value in enumerate(record, start=1):
                put_value(ws, row, c, value, percent=c in percent)
                for col in range(1, len(headers) + 1):
                    cell = ws.cell(row=row, column=col)
                    cell.border = Border(left=thin, right=thin, top=thin, bottom=thin)
                    cell.alignment = Alignment(wrap_text=True, vertical="top")
        row += 1

    ws.cell(row=row, column=1, value=xlsxout.xml_safe(t("review.title", topic=item.topic))).font = xlsxout.title_font(14)
    ws.merge_cells(start_row=row, start_column=1, end_row=row, end_column=9)
    row += 1
    put_text(ws, row, 1, t("review.generated", today=ctx.today.isoformat(), workbook=item.workbook))
    ws.merge_cells(start_row=row, start_column=1, end_row=row, end_column=9)
    tasks = list(item.own)
    # one page first: the outcome, on time or not, the worst delays, the rules not kept, what to improve
    done_tasks = [r for r in tasks if r.get("status") == "done"]
    done_delays = [(_delay(ctx, r.get("due"), r.get("done_on")), r) for r in done_tasks]
    checks = compliance(item, findings, ctx, lang)
    counted = [r for r in tasks if r.get("status") != "cancelled"]
    worst = sorted(((d, r) for d, r in done_delays if d > 0), key=lambda x: -x[0])[:3]
    summary = [
        [t("review.sum.outcome"), (str(item.retro.get("acceptance")) if item.retro and item.retro.get("acceptance")
                                   else t("review.sum.no_acceptance"))],
        [t("review.sum.done"), t("review.sum.done_value", done=len(done_tasks), total=len(counted),
                                 standards=sum(1 for r in done_tasks if r.get("standard")))],
        [t("review.sum.on_time"), (f"{sum(1 for d, _ in done_delays if d == 0) / len(done_tasks):.0%}"
                                   if done_tasks else "-")],
        [t("review.sum.worst"), "；".join(f"{r.get('id') or ''} {r.get('task') or ''}（{d}）" for d, r in worst) or "-"],
        [t("review.sum.failed_rules"), "；".join(t(f"review.rule.{code}") for code, ok, _ in checks if not ok) or "-"],
        [t("review.sum.measures"), str(sum(1 for m in item.measures if m.get("measure"))) + t("review.sum.measures_hint")],
    ]
    title(t("review.summary"))
    for label, value in summary:
        put_text(ws, row, 1, label)
        ws.cell(row=row, column=1).font = xlsxout.HEADER_FONT
        put_text(ws, row, 2, value)
        ws.merge_cells(start_row=row, start_column=2, end_row=row, end_column=9)
        ws.cell(row=row, column=2).alignment = Alignment(wrap_text=True, vertical="top")
        row += 1
    title(t("review.acceptance"))
    records = []
    for r in tasks:
        status, due, done = r.get("status"), r.get("due"), r.get("done_on")
        on_time = "✔" if status == "done" and isinstance(due, dt.date) and isinstance(done, dt.date) and done <= due \
            else ("-" if status == "cancelled" else "✘")
        late = _delay(ctx, due, done) if status == "done" else (
            max(0, ctx.calendar.count(due, ctx.today)) if isinstance(due, dt.date) and status != "cancelled" else 0)
        records.append([str(r.get("id") or ""), str(r.get("task") or ""), str(r.get("department") or ""),
                        str(r.get("standard") or ""), due if isinstance(due, dt.date) else "",
                        done if isinstance(done, dt.date) else "", t(f"weekly.state.{status}") if status in (
                            "done", "cancelled", "blocked") else t("review.open"), on_time, late])
    table([t(f"review.col.{k}") for k in ("id", "task", "department", "standard", "due", "done_on", "status",
                                          "on_time", "delay")], records)
    done = [r for r in tasks if r.get("status") == "done"]
    delays = [_delay(ctx, r.get("due"), r.get("done_on")) for r in done]
    on_time = sum(1 for d in delays if d == 0)
    title(t("review.rates"))
    per_dept = defaultdict(lambda: [0, 0])
    for r, d in zip(done, delays):
        per_dept[str(r.get("department") or "-")][0] += 1
        per_dept[str(r.get("department") or "-")][1] += d == 0
    table([t("review.col.department"), t("review.col.done"), t("review.col.rate")],
          [[t("review.overall"), len(done), on_time / len(done) if done else "-"]] +
          [[dept, n, ok / n] for dept, (n, ok) in sorted(per_dept.items())], percent=(3,))
    table([t("review.col.avg_delay"), t("review.col.worst_delay")],
          [[round(statistics.mean(delays), 1) if delays else "-", max(delays) if delays else "-"]])
    slipped, mails = _history(layout, item, ctx)
    title(t("review.slipped"))
    table([t(f"review.col.{k}") for k in ("id", "task", "first_due", "due", "delay")], slipped)
    title(t("review.reminders"))
    table([t("review.col.reminders"), t("review.col.escalations")], [list(mails)])
    title(t("review.resources"))
    resources = []
    for r in item.resources:
        requested, approved = r.get("requested_on"), r.get("approved_on")
        days = ctx.calendar.count(requested, approved) if isinstance(requested, dt.date) and isinstance(
            approved, dt.date) else "-"
        resources.append([str(r.get("id") or ""), _label(schema.RESOURCES, "kind", r.get("kind"), lang),
                          r.get("amount") if r.get("amount") is not None else "",
                          _label(schema.RESOURCES, "review", r.get("review"), lang),
                          _label(schema.RESOURCES, "approval", r.get("approval"), lang), days])
    table([t(f"review.col.{k}") for k in ("request", "kind", "amount", "review", "approval", "approval_days")],
          resources)
    title(t("review.compliance"))
    table([t("review.col.rule"), t("review.col.result"), t("review.col.evidence")],
          [[t(f"review.rule.{code}"), "✔" if ok else "✘", evidence] for code, ok, evidence in checks])
    for key in ("went_well", "went_wrong"):
        title(t(f"review.{key}"))
        for _ in range(4):
            ws.cell(row=row, column=1).border = Border(bottom=thin)
            row += 1
    title(t("review.measures"))
    table([t("review.col.measure"), t("review.col.owner"), t("review.col.measure_due")], [], blank_rows=6)
    xlsxout.widths(ws, (26, 30, 12, 30, 12, 12, 10, 8, 10))
    xlsxout.print_setup(ws, landscape=False)
    return xlsxout.save(wb, draft_path(layout, item))


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
            and item.workbook in m["workbooks"].split("\n")]
    return slipped, (len(sent), sum(m["kind"] == "escalation" for m in sent))


def run_review(root: Path | str, name: str, today: dt.date) -> Path:
    layout = Layout.of(root)
    path = find_item(layout, name, today)
    item, findings, ctx = load_item(layout, path, today)
    return write_review(layout, item, findings, ctx)
