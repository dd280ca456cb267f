"""The daily job: validate → assess → write the 预警 flags (→ remind, in the next issue).

Each workbook is flagged as soon as it has been read and validated, so a run's
memory does not grow with the folder and one bad workbook never stops the rest.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from dataclasses import dataclass, field as dc_field
from pathlib import Path

from . import assess
from .check import Report, run_check
from .findings import Finding, sort_key
from .folder import Layout
from .messages import text
from .model import Item
from .rules import Context, task_sources
from .store import Store
from .writer import FlagWrite, write_flags

log = logging.getLogger(__name__)


@dataclass
class PlannedFlag:
    workbook: str
    sheet: str
    cell: str
    old: str
    new: str


@dataclass
class DailyResult:
    today: dt.date
    dry_run: bool
    report: Report | None = None
    states: Counter = dc_field(default_factory=Counter)
    untracked_actions: Counter = dc_field(default_factory=Counter)  # action items with no task, by state
    planned: list[PlannedFlag] = dc_field(default_factory=list)
    written: list[str] = dc_field(default_factory=list)  # workbooks written
    cells_written: int = 0
    skipped: list[tuple[str, str]] = dc_field(default_factory=list)  # (workbook, reason)
    findings: list[Finding] = dc_field(default_factory=list)  # check's and the writer's
    pending_resources: int = 0

    @property
    def errors(self) -> int:
        return sum(1 for f in self.findings if f.is_error)

    def counts(self) -> dict:
        return {
            "items": self.report.item_count if self.report else 0,
            "tasks": sum(self.states.values()),
            "states": dict(self.states),
            "untracked_actions": dict(self.untracked_actions),
            "flags_changed": len(self.planned),
            "workbooks_written": len(self.written),
            "cells_written": self.cells_written,
            "skipped": len(self.skipped),
            "pending_resources": self.pending_resources,
            "errors": self.errors,
            "warnings": len(self.findings) - self.errors,
        }


def desired_flags(item: Item, ctx: Context, lang: str) -> tuple[dict[int, str], dict[int, str], Counter]:
    """(row → wanted flag text, row → current text, states) for the item's own tracker rows."""
    wanted, current, states = {}, {}, Counter()
    for row, state in assess.assess_item(item, ctx.today, ctx.calendar, ctx.settings):
        states[state.state] += 1
        wanted[row.row] = state.flag(lang)
        raw = row.raw.get("flag")
        current[row.row] = "" if raw in (None, "") else str(raw).strip()
    return wanted, current, states


def untracked_actions(item: Item, ctx: Context) -> Counter:
    """Open action items of the minutes that no task names in 来源, by state."""
    covered = task_sources(item)
    out = Counter()
    for m in item.meetings:
        for row in m.actions:
            if isinstance(row.get("no"), int) and (m.index, row["no"]) not in covered:
                out[assess.assess_task(row, ctx.today, ctx.calendar, ctx.settings).state] += 1
    return out


def run_daily(root: Path | str, today: dt.date, now: dt.datetime, dry_run: bool = False,
              layout: Layout | None = None, hook=None) -> DailyResult:
    """One run of the daily job as of ``today``; ``now`` stamps the run log and backups."""
    layout = layout or Layout.of(root)
    settings = layout.settings
    lang = settings.lang
    result = DailyResult(today, dry_run)
    store = None if dry_run else Store(layout.state / "state.db")
    run_id = store.start_run("daily", today, now, dry_run) if store else None
    writeback = settings["writeback.enabled"]
    if not dry_run:
        remove_stale_temps(layout)

    def on_item(item: Item, ctx: Context) -> None:
        try:
            flag_item(item, ctx)
        finally:
            item.tasks_rows = None  # the raw cells were only needed for this write

    def flag_item(item: Item, ctx: Context) -> None:
        wanted, current, states = desired_flags(item, ctx, lang)
        result.states.update(states)
        result.untracked_actions.update(untracked_actions(item, ctx))
        result.pending_resources += len(assess.pending_resources(item, today, ctx.calendar, settings))
        changed = {r: v for r, v in wanted.items() if current.get(r, "") != v}
        add_header = ""
        column = item.flag_column
        if column is None and any(wanted.values()):
            column = item.tasks_width + 1
            add_header = text("flag.header", lang)
        if not changed or column is None or not item.tasks_header:
            return
        for r, new in sorted(changed.items()):
            result.planned.append(PlannedFlag(item.workbook, item.tasks_sheet, f"{_letters(column)}{r}",
                                              current.get(r, ""), new))
        if dry_run:
            return
        if not writeback:
            result.skipped.append((item.workbook, "writeback_off"))
            return
        job = FlagWrite(Path(item.path), item.workbook, item.tasks_sheet, column, item.tasks_header, changed,
                        item.fingerprint, add_header, item.tasks_rows)
        try:
            outcome = write_flags(job, layout.backups, settings["writeback.backups_keep"], now, hook)
        except Exception as exc:  # never let one workbook stop the run
            log.exception("writing flags into %s failed", item.path)
            result.skipped.append((item.workbook, f"error: {exc}"))
            return
        result.findings.extend(outcome.findings)
        if outcome.written:
            result.written.append(item.workbook)
            result.cells_written += len(changed)
        else:
            result.skipped.append((item.workbook, outcome.reason))

    outcome = "failed"
    try:
        result.report = run_check(root, today, layout=layout, on_item=on_item)
        result.findings = sorted(result.report.findings + result.findings, key=sort_key)
        outcome = "ok" if result.errors == 0 else "findings"
    finally:
        if store:
            store.finish_run(run_id, outcome, result.counts(), now)
    return result


def remove_stale_temps(layout: Layout) -> None:
    """Temp files a killed run left beside workbooks (.~coordxl-*.tmp): never staff files, safe to remove."""
    if layout.active.is_dir():
        for tmp in layout.active.rglob(".~coordxl-*.tmp"):
            try:
                tmp.unlink()
            except OSError:
                log.warning("could not remove %s", tmp)


def _letters(col: int) -> str:
    from .reader import a1
    return a1(1, col)[:-1]
