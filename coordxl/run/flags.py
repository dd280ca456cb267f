"""The 预警 flags of a daily run: each item's wanted flag texts worked out, the changed cells planned, and
written (by the flag writer process, run.parallel, or here), never over a colleague's own note.

A flag says a task's state, tier and date ("逾期（截止12-24）"), so it changes only when its meaning does and
a workbook is rewritten only when a flag changes (xlsx.writer.write_flags, the lossless patch).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path

from ..errors import environment_fault
from ..findings import finding
from ..messages import both, text
from ..process import assess
from ..process.model import Item, key_of
from ..process.rules import Context
from ..settings import Settings
from ..state.layout import Layout
from ..state.runlog import FILE_ONLY
from ..state.store import Store
from ..xlsx.writer import FlagWrite, write_flags
from ..xlsx.xlsxparts import col_letters
from . import parallel

log = logging.getLogger(__name__)


@dataclass(slots=True)  # one per flag cell changed: every task row of a folder on a first run
class PlannedFlag:
    workbook: str
    sheet: str
    cell: str
    old: str
    new: str


def desired_flags(assessed: assess.Assessed, lang: str, settings: Settings) -> tuple[dict[int, str], dict[int, str], Counter]:
    """(row → wanted flag text, row → current text, states) for the item's own tracker rows: the state,
    tier and date (:meth:`assess.TaskState.mark`), or with ``flags.count_days`` the state and its count."""
    counting = settings["flags.count_days"]
    texts: dict[assess.TaskState, str] = {}  # a few distinct states among thousands of rows
    wanted, current = {}, {}
    for r, state, raw in zip(assessed.rows.rownums, assessed.states, assessed.rows.raw_column("flag")):
        flag = texts.get(state)
        if flag is None:
            flag = texts[state] = state.flag(lang) if counting else state.mark(lang, settings)
        wanted[r] = flag
        current[r] = "" if raw in (None, "") else str(raw).strip()
    return wanted, current, Counter(state.state for state in assessed.states)


def free_column(rows: list[list] | None, width: int) -> int | None:
    """The first column right of the header whose every cell, header and each row, is empty (1-based).

    Where a colleague deleted the 预警 column, the next columns may hold their notes without a
    header above them: a new 预警 column only ever goes where nothing at all is written.
    """
    if rows is None:
        return None
    c = width
    while any(c < len(row) and row[c] not in ("", None) for row in rows):
        c += 1
    return c + 1


def people_text(item: Item, changed: dict[int, str], current: dict[int, str], column: int,
                store: Store | None) -> dict[int, str]:
    """Rows whose 预警 cell holds text coordxl did not write (row → that text).

    A cell is coordxl's when it is empty, holds one of its own flag texts (either language), or
    holds exactly what state.db says the job wrote there.
    """
    found = {r: current[r] for r in changed if current.get(r) and not assess.is_own_flag(current[r])}
    if found and store is not None:
        letter = col_letters(column)
        written = store.written_flags(item.workbook, item.tasks_sheet)
        found = {r: v for r, v in found.items() if written.get(f"{letter}{r}") != v}
    return found


def _should_show(flag: str) -> tuple[str, str] | str:
    return both("flag.should_show", flag=flag) if flag else ""


def snapshot_rows(assessed: assess.Assessed) -> list[tuple]:
    rows = assessed.rows
    out, seen = [], set()
    for r, ident, name, department, owner, due, done, status, state in zip(
            rows.rownums, rows.column("id"), rows.column("task"), rows.column("department"), rows.column("owner"),
            rows.column("due"), rows.column("done_on"), rows.column("status"), assessed.states):
        key = key_of(ident, name, r)
        if key in seen:
            continue  # a repeated 编号 is a finding already; keep the first
        seen.add(key)
        out.append((key, str(ident or ""), str(name or ""), str(department or ""), str(owner or ""),
                    due.isoformat() if isinstance(due, dt.date) else None,
                    done.isoformat() if isinstance(done, dt.date) else None, status, state.state, state.days))
    return out


class Flagger:
    """The 预警 half of a daily run: each item's flags worked out, planned, and written (or not), into the
    run's ``result`` (daily.DailyResult). ``ctx``: the run's folder, ledger (None: a dry run) and clock;
    ``hook``: a test's, watching each write (then written in this process); ``writer=False``: no writer
    process (a check worker writes its own)."""

    def __init__(self, ctx, result, hook=None, writer: bool = True):
        layout: Layout = ctx.layout
        self.layout, self.result, self.store, self.now, self.hook = layout, result, ctx.store, ctx.now, hook
        self.settings = layout.settings
        self.lang = self.settings.lang
        # the writer process, started with the first write (False: none, writes are done here)
        self.pool = None if writer else False
        self.pending: list = []

    def flag(self, item: Item, ctx: Context, assessed) -> None:
        result, store, lang, settings = self.result, self.store, self.lang, self.settings
        if store is not None:
            store.save_snapshot(ctx.today, item.workbook, snapshot_rows(assessed))
        wanted, current, states = desired_flags(assessed, lang, settings)
        result.states.update(states)
        result.pending_resources += len(assess.pending_resources(item, ctx.today, ctx.calendar, settings))
        if "tasks" in item.ambiguous:
            result.skipped.append((item.workbook, "ambiguous_sheet"))
            return
        changed = {r: v for r, v in wanted.items() if current.get(r, "") != v}
        add_header = ""
        column = item.flag_column
        if column is None and any(wanted.values()):
            column = free_column(item.tasks_rows, item.tasks_width)
            add_header = text("flag.header", lang)
        if not changed or column is None or not item.tasks_header:
            return
        for r, found in people_text(item, changed, current, column, store).items():
            # a colleague's note in the 预警 column is theirs: never overwritten, never cleared
            ref = f"{col_letters(column)}{r}"
            result.findings.append(finding("W-FLAG-EDITED", item.workbook, item.tasks_sheet, ref, at=ref, value=found,
                                           wanted=_should_show(wanted[r])))
            del changed[r]
        if not changed:
            return
        for r, new in sorted(changed.items()):
            result.planned.append(PlannedFlag(item.workbook, item.tasks_sheet, f"{col_letters(column)}{r}",
                                              current.get(r, ""), new))
        if result.dry_run:
            return
        if not settings["writeback.enabled"]:
            result.skipped.append((item.workbook, "writeback_off"))
            return
        self.write(item, column, changed, add_header)

    def write(self, item: Item, column: int, changed: dict[int, str], add_header: str) -> None:
        """Hand the workbook's flags to the writer process: it writes while this process reads the next
        workbooks; :meth:`finish` collects the outcomes in order. In this process when the machine
        cannot start one, or a test hook watches the write."""
        job = FlagWrite(Path(item.path), item.workbook, item.tasks_sheet, column, item.tasks_header, changed,
                        item.fingerprint, add_header)
        args = (job, self.layout.backups, self.settings["writeback.backups_keep"], self.now)
        future = None
        if self.hook is None and self._writer():
            try:
                future = self.pool.submit(write_flags, *args)
            except BrokenProcessPool:  # the writer died (killed, out of memory): the rest is written here
                log.warning("the flag writer process stopped; writing in this process")
                self.pool = False
        if future is None:
            future = Future()
            try:
                future.set_result(write_flags(*args, self.hook))
            except Exception as exc:
                future.set_exception(exc)
        self.pending.append((item.workbook, item.tasks_sheet, item.path, column, changed, future))

    def _writer(self) -> ProcessPoolExecutor | None:
        """The writer process, started with the first write (run.parallel.start_pool); False from then on
        when this machine cannot start one."""
        if self.pool is None and self.settings["limits.workers"] != 1:
            started = parallel.start_pool(1, ("coordxl.xlsx.writer",), lambda pool: pool.submit(int),
                                          "writing flags in this process: %s")
            self.pool = started[0] if started else False
        return self.pool or None

    def finish(self) -> None:
        """Every write handed over, in the order handed over: its outcome recorded, the cells written
        into state.db in one transaction (made durable by the run's last commit)."""
        batch: list = []
        try:
            try:
                for workbook, sheet, path, column, changed, future in self.pending:
                    self._done(workbook, sheet, path, column, changed, future, batch)
            finally:
                self.pending.clear()
                if batch:
                    self.store.record_flag_batch(batch, self.now)
        finally:  # also when state.db fails to record them (a full disk): the writer ends with the run
            if self.pool:
                self.pool.shutdown()
            self.pool = None

    def _done(self, workbook: str, sheet: str, path, column: int, changed: dict[int, str], future,
              batch: list) -> None:
        result = self.result
        try:
            outcome = future.result()
        except Exception as exc:  # never let one workbook stop the run (a writer that died: written next run)
            fault = environment_fault(exc, self.layout.db)  # a full or read-only disk: what to fix, in words
            if fault is None:
                log.error("writing flags into %s failed", path, exc_info=exc)
            else:  # the run's summary says it, in the folder's language
                log.error("writing flags into %s failed: %s", path, fault, extra=FILE_ONLY)
            result.skipped.append((workbook, f"error: {fault.say(self.lang) if fault else exc}"))
            return
        result.findings.extend(outcome.findings)
        if outcome.written:
            written = {r: v for r, v in changed.items() if r not in outcome.formula_rows}
            result.written.append(workbook)
            result.cells_written += len(written)
            batch.append((workbook, sheet, {f"{col_letters(column)}{r}": v for r, v in written.items()}))
        else:
            result.skipped.append((workbook, outcome.reason))
