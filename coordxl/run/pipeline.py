"""The pass over a shared folder every job makes: scan → read → normalize → validate, with central
ledgers joined to the items they name, spread over worker processes when nothing needs the items,
and a re-check when a ledger is recognised late. One entry point, :class:`FolderCheck`, yields the
checked items and ends with a :class:`Report` of findings and counts.

Nothing here writes into a staff workbook. A workbook that cannot be read becomes a finding and
the rest of the folder is still checked.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import difflib
import gc
import itertools
import logging
import operator
import os
from collections import Counter, defaultdict
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from dataclasses import field as dc_field
from pathlib import Path
from typing import Callable, Iterator

from .. import schema
from ..errors import CoordxlError
from ..findings import WARNING, Finding, finding, sort_key
from ..messages import both, text
from ..process.calendar import year_span
from ..process.model import Item, Rows, at_merged_origin, build_item, roster_findings
from ..process.roster import Roster, load_roster
from ..process.rules import Selection, ledger_columns, ledger_rules, run_rules, settled
from ..state.layout import ROSTER_TEMPLATE, Layout, copy_bases, name_key
from ..state.meetings import minutes_mailed
from ..xlsx.reader import Identity, identity, name_matches, read_workbook
from ..xlsx.xlsxparts import is_owner_or_temp, sheet_names, shown, uncached_formulas
from . import parallel
from .context import RunContext

log = logging.getLogger(__name__)

WORKBOOK_SUFFIXES = {".xlsx", ".xlsm", ".xls", ".ods", ".xlsb", ".et", ".ett"}  # read (all but .xlsx/.xlsm read-only)
# spreadsheets coordxl does not read: each one left under 进行中/ is named by a finding
OTHER_SPREADSHEETS = {".csv", ".tsv", ".numbers", ".xltx", ".xltm", ".xlt", ".xlw", ".fods", ".dbf"}
SYSTEM_FILES = {"thumbs.db", "desktop.ini", "icon\r"}  # what Explorer and Finder leave in any folder


@dataclass
class Scan:
    """What is under 进行中/: workbooks to read, spreadsheets in formats coordxl does not read, other files."""

    workbooks: list[Path] = dc_field(default_factory=list)
    unsupported: list[Path] = dc_field(default_factory=list)
    others: list[Path] = dc_field(default_factory=list)
    denied: list[Path] = dc_field(default_factory=list)  # sub-folders the account may not list


def scan(layout: Layout) -> list[Path]:
    """Active item workbooks under 进行中/ (sub-folders too), in a stable order."""
    return scan_folder(layout).workbooks


def scan_folder(layout: Layout) -> Scan:
    """Every file under 进行中/ (sub-folders too) but coordxl's own and hidden ones, sorted into a Scan."""
    found = Scan()
    if not layout.active.is_dir():
        return found
    with os.scandir(layout.active):  # one the account may not list fails here (rglob would yield nothing)
        pass
    # coordxl's own output is never an item, even where the folders sit under 进行中/ (or 进行中 is the root)
    own = {layout.reports.resolve(), layout.archive.resolve(), layout.templates.resolve(), layout.state.resolve(),
           layout.shared.resolve()}
    own_names = {Path(layout.settings[k]).name for k in ("folders.reports", "folders.archive", "folders.templates")}
    own_files = {layout.config.resolve(), layout.roster.resolve()}
    for path in layout.active.rglob("*"):
        folders = path.relative_to(layout.active).parts[:-1]
        if any(part.startswith(".") or part in own_names for part in folders):
            continue
        if any(parent in own for parent in path.resolve().parents):
            continue
        is_file = path.is_file()
        if not is_file and path.is_dir() and not path.is_symlink():
            # rglob passes over a folder it may not list: its workbooks would vanish from every job unsaid
            if not (path.name.startswith(".") or path.name in own_names or path.resolve() in own) \
                    and not _listable(path):
                found.denied.append(path)
            continue
        # a broken link named *.xlsx is read too, so the run names it (W-UNREADABLE) instead of skipping it
        if not (is_file or path.is_symlink()) or is_owner_or_temp(path) or path.name.lower() in SYSTEM_FILES:
            continue
        if path.resolve() in own_files:
            continue
        suffix = path.suffix.lower()
        kind = (found.workbooks if suffix in WORKBOOK_SUFFIXES else
                found.unsupported if suffix in OTHER_SPREADSHEETS else found.others)
        kind.append(path)
    for paths in (found.workbooks, found.unsupported, found.others, found.denied):
        paths.sort()
    return found


def _listable(folder: Path) -> bool:
    try:
        with os.scandir(folder):
            return True
    except OSError:
        return False


# --- copies of an item's workbook ------------------------------------------------------------
# Explorer, browsers and sync clients leave copies beside a workbook ("X (1).xlsx", "X - 副本.xlsx",
# "X (张伟's conflicted copy).xlsx", "X-DESKTOP-AB12CD.xlsx"), and people save "X-最终版.xlsx". Read as
# items, each would be flagged and reminded again, from stale cells. One workbook of each group is the
# item; the others are W-DUPLICATE-ITEM and never read further.

def find_copies(paths: list[Path], layout: Layout) -> dict[Path, tuple[Path, str]]:
    """Copies among the workbooks: copy -> (the item's workbook, why: 'copy_name' or 'copy_content').

    Two workbooks are one item when a file's name says it is a copy of the other, in the same folder,
    and their request forms agree (same topic and initiator; for workbooks without one, the same
    sheets); or when their request forms have the same topic, initiator and sent date wherever they
    are. Of a group, the item is the one whose name is no copy's, then the one named as its topic,
    then an .xlsx, then the most recently modified (see :func:`_item_first`).
    """
    limit = layout.settings["limits.max_unzipped_mb"] * 2**20
    ids = {p: identity(p, limit) for p in paths}
    groups, named = _one_item_groups(paths, ids)
    out: dict[Path, tuple[Path, str]] = {}
    for together in groups:
        keys = {name_key(p.stem) for p in together}
        # a name is a copy's when it names another workbook of the group: "方案 (2)" is no copy's name
        # beside a look-alike "方案二期", only beside "方案"
        item = min(together, key=lambda p: _item_first(p, ids[p], bool(keys & set(copy_bases(p.stem)))))
        for p in together:
            if p != item:
                out[p] = (item, "copy_name" if _names_a_copy(p, item, named) else "copy_content")
    return out


def _one_item_groups(paths: list[Path], ids: dict[Path, Identity | None]
                     ) -> tuple[list[list[Path]], set[tuple[Path, Path]]]:
    """The groups of two or more workbooks that are one item, and the (copy, original) pairs found by name."""
    by_name = {(p.parent, name_key(p.stem)): p for p in paths}
    group = {p: p for p in paths}

    def root(p: Path) -> Path:
        while group[p] != p:
            group[p] = p = group[group[p]]
        return p

    named: set[tuple[Path, Path]] = set()
    for p in paths:
        for base in copy_bases(p.stem):
            original = by_name.get((p.parent, base))
            if original is not None and original != p and _same_request(ids[p], ids[original]):
                named.add((p, original))
                group[root(p)] = root(original)
                break
    alike: dict[tuple, Path] = {}
    for p in paths:
        i = ids[p]
        if i is not None and i.topic:
            group[root(p)] = root(alike.setdefault((i.topic, i.initiator, i.sent_on), p))
    members: dict[Path, list[Path]] = defaultdict(list)
    for p in paths:
        members[root(p)].append(p)
    return [m for m in members.values() if len(m) > 1], named


def _same_request(a: Identity | None, b: Identity | None) -> bool:
    """A copy's name is confirmed by its content: the same request form (topic, initiator), or, for
    workbooks without one (a central ledger), the same sheets."""
    if a is None or b is None:
        return False
    if a.topic or b.topic:
        return (a.topic, a.initiator) == (b.topic, b.initiator)
    return bool(a.sheets) and a.sheets == b.sheets


def _names_a_copy(p: Path, item: Path, named: set[tuple[Path, Path]]) -> bool:
    return (p, item) in named or (p.parent == item.parent and name_key(item.stem) in copy_bases(p.stem))


def _item_first(path: Path, ident: Identity | None, copy_name: bool) -> tuple:
    """Sort key: the item of a group comes first. A name that is no copy's wins even over a newer
    copy: a sync client's conflict copy is the later save (Dropbox: "the last version saved will
    always appear as the conflicted copy"), yet staff keep working in the file of the item's name."""
    try:
        mtime = path.stat().st_mtime_ns
    except OSError:
        mtime = 0
    topic_named = ident is not None and bool(ident.topic) and name_key(path.stem) == ident.topic
    return (copy_name, not topic_named, path.suffix.lower() not in (".xlsx", ".xlsm"), -mtime,
            len(path.name), str(path))


@dataclass
class Report:
    """What a check found, with its own counts; renders itself to JSON and a workbook."""

    today: dt.date
    findings: list[Finding]
    items: list[Item] = dc_field(default_factory=list)  # only when asked to keep them
    workbooks: int = 0
    unreadable: int = 0
    item_count: int = 0
    task_count: int = 0
    skipped_rows: int = 0  # section rows (一、市场部) and total rows (合计) in trackers
    roster: Roster | None = None
    workers: int = 1  # processes that validated the workbooks
    copies: int = 0  # copies of an item's workbook, not read (W-DUPLICATE-ITEM)
    unsupported: int = 0  # spreadsheets in formats coordxl does not read (W-UNREADABLE)
    other_files: int = 0  # files under 进行中/ that are no spreadsheets (attachments, notes)

    @property
    def errors(self) -> int:
        return list(map(operator.attrgetter("severity"), self.findings)).count("error")  # one C-level pass

    @property
    def warnings(self) -> int:
        return len(self.findings) - self.errors

    @property
    def ok(self) -> bool:
        return not any(f.severity == "error" for f in self.findings)

    def summary(self) -> dict:
        return {
            "today": self.today.isoformat(),
            "workbooks": self.workbooks,
            "items": self.item_count,
            "unreadable": self.unreadable,
            "tasks": self.task_count,
            "skipped_rows": self.skipped_rows,
            "copies": self.copies,
            "unsupported": self.unsupported,
            "other_files": self.other_files,
            "errors": self.errors,
            "warnings": self.warnings,
            "by_code": dict(sorted(Counter(f.code for f in self.findings).items())),
            "ok": self.ok,
        }

    def to_json(self, lang: str = "zh") -> dict:
        return {"findings": [f.to_json(lang) for f in self.findings], "summary": self.summary()}


def _rel(path: Path, root: Path) -> str:
    try:
        return shown(path.relative_to(root).as_posix())
    except ValueError:
        return shown(path.name)


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while one workbook is read and normalized.

    Reading makes a million short-lived lists and tuples; the collector would walk them again and
    again (measured: a fifth of a whole check) though reference counting frees them anyway. It is
    switched back on after each workbook, so cycles made meanwhile are collected then.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def read_item(path: Path, layout: Layout, roster: Roster, today: dt.date, memo: dict | None = None
              ) -> tuple[Item | None, list[Finding]]:
    """Read and normalize one workbook: (item or None when unreadable, its findings so far).

    ``memo``: conversions to reuse across the workbooks of one run (same roster), see build_item.
    """
    with _gc_paused():
        return _read_item(path, layout, roster, today, memo)


def _read_item(path: Path, layout: Layout, roster: Roster, today: dt.date, memo: dict | None
               ) -> tuple[Item | None, list[Finding]]:
    display = _rel(path, layout.root)
    try:
        data = read_workbook(path, schema.ITEM_SHEETS, layout.settings["limits.max_unzipped_mb"] * 2**20,
                             display=display)
    except Exception as exc:  # a reader bug must not stop the other workbooks
        log.exception("reading %s failed", path)
        return None, [finding("W-UNREADABLE", display, reason="corrupt", detail=str(exc)[:200])]
    findings = list(data.findings)
    if not data.readable:
        return None, findings
    if not data.sheets:
        findings.append(finding("W-MISSING-SHEET", display, sheet_label=both("part.request_or_tracker")))
        return None, findings
    max_years = layout.settings["rules.max_date_distance_years"]
    item, field_findings = build_item(data, roster, today, memo, max_years=max_years)
    empty = {(f.sheet, f.cell) for f in field_findings if f.code == "F-REQUIRED"}
    if empty and path.suffix.lower() in (".xlsx", ".xlsm"):
        # are some of those empty cells formulas the file holds no result for? (rare: then say so)
        if formulas := uncached_formulas(path, empty):
            item, field_findings = build_item(data, roster, today, memo, formulas, max_years)
    return item, findings + field_findings


def may_be_ledger(path: Path) -> bool:
    """A cheap look at the sheet names: an 执行进度-like sheet and no 需求单 suggests a central ledger."""
    names = sheet_names(path)
    return (any(name_matches(n, schema.TASKS) for n in names)
            and not any(name_matches(n, schema.REQUEST) for n in names))


def load_folder_roster(layout: Layout) -> tuple[Roster, list[Finding]]:
    display = _rel(layout.roster, layout.root)
    if not layout.roster.exists():
        template = _rel(layout.templates / ROSTER_TEMPLATE[layout.settings.lang], layout.root)
        return Roster([], []), [finding("W-MISSING-SHEET", display, variant="-FILE", name=display,
                                        hint=both("hint.no_roster", name=display, template=template))]
    roster = load_roster(layout.roster, layout.settings["limits.max_unzipped_mb"] * 2**20)
    if roster.source is not None:
        roster.source.name = display
        roster.findings = [f.__class__(**{**f.__dict__, "workbook": display}) for f in roster.findings]
    return roster, roster_findings(roster, display)


class _Ledgers:
    """Tasks that central ledgers hold for other items, by the item name in their 事项 column."""

    def __init__(self) -> None:
        self.parts: dict[str, list[tuple[Rows, list[int]]]] = {}

    @property
    def names(self) -> set[str]:
        return set(self.parts)

    def add(self, tasks: Rows) -> None:
        by_value: dict = defaultdict(list)
        for i, value in enumerate(tasks.extra_column("item")):
            by_value[value].append(i)
        by_name: dict[str, list[int]] = defaultdict(list)
        for value, indices in by_value.items():  # '事项A' and '事项A ' are one item
            by_name[str("" if value is None else value).strip()].extend(indices)
        for name, indices in by_name.items():
            self.parts.setdefault(name, []).append((tasks, sorted(indices)))

    def for_item(self, item: Item) -> Rows:
        """The ledger rows naming this item (their raw cell values stay with the ledger's own item)."""
        out = Rows()
        for name in dict.fromkeys((item.topic, Path(item.workbook).stem)):
            for rows, indices in self.parts.get(name, []):
                out.extend(rows.take(indices, raw=False))
        return out


class FolderCheck:
    """One pass over a shared folder (``ctx.layout``) as of ``ctx.today``: every workbook read, normalized
    and validated. :attr:`ctx` is the run's context with the folder's roster.

    Iterate it for ``(item, done)`` pairs (each item after its rules ran, with the ledgers' rows joined: the
    daily job flags and the weekly job counts them there), then read :attr:`report` for the findings and counts.
    Each workbook is let go after its turn, so memory does not grow with the folder; central ledgers
    are read first so their tasks count for the items they name.

    A pass whose items nobody iterates (``items=False``, as for `coordxl check`) spreads the item
    workbooks over ``workers`` processes (default: the ``limits.workers`` setting) while this process
    reads the ledgers; the findings are the same either way. ``progress`` is called with each
    workbook's path and the number of workbooks.

    ``work(item, layout, ctx)``, a picklable callable, spreads a job's own per-workbook work over the
    same processes: each worker runs it on the items it validated, right after their rules, and sends
    back what it returns. Then ``done`` is what ``work`` returned in a worker, and ``item`` what the ledger rules read of the item there (request,
    meetings, retrospective form; the tasks' id, status and source, the ledgers' rows joined); or,
    where the item was validated in this process (too few workbooks, one worker, or a worker that
    died), the whole item and ``done`` None: the caller does the work itself. Without ``work``, ``done``
    is always None.
    """

    def __init__(self, ctx: RunContext, selection: Selection = Selection(), items: bool = True,
                 workers: int | None = None, progress: Callable[[Path, int], None] | None = None,
                 work: Callable | None = None):
        self.layout, self.today, self.selection, self.items = ctx.layout, ctx.today, selection, items
        self.workers, self.progress, self.work = workers, progress, work
        self.roster, self._found = load_folder_roster(self.layout)
        self.ctx = dataclasses.replace(ctx, roster=self.roster, minutes_mailed=minutes_mailed(self.layout.db))
        self.report = Report(ctx.today, [], roster=self.roster)

    def __iter__(self) -> Iterator:
        layout, ctx, report, found = self.layout, self.ctx, self.report, self._found
        settings = layout.settings
        paths = self._items_and_copies(scan_folder(layout))
        first = [p for p in paths if p.suffix.lower() in (".xlsx", ".xlsm") and may_be_ledger(p)]
        rest = [p for p in paths if p not in set(first)]
        run = _Run(layout, self.roster, ctx, self.selection, self.work)
        whole = self.items  # else only findings and counts are kept of each item
        count = parallel.worker_count(settings["limits.workers"] if self.workers is None else self.workers, len(rest))
        # workers start on the items at once; the ledgers are read here meanwhile (the ledger rules of
        # the items the workers send back are run here, once every ledger is known)
        spread = count > 1 and (not whole or self.work is not None)
        in_workers = _in_processes(run, rest, count) if spread else None
        report.workers = count if in_workers else 1
        # in one process, ledgers come first: the items they name need their rows
        ledgers = [(p, _Outcome.of(*run.validate(p), whole=whole)) for p in first]
        outcomes = itertools.chain(ledgers, in_workers or ((p, _Outcome.of(*run.validate(p), whole=whole))
                                                         for p in rest))
        late: list[Rows] = []  # ledgers recognised only by their labels, after the items they name
        done: dict[str, Path] = {}  # item names already validated
        for path, outcome in outcomes:
            if self.progress:
                self.progress(path, len(paths))
            report.workbooks += 1
            found.extend(outcome.findings)
            if not outcome.readable:  # unreadable, or readable but not a coordination item
                report.unreadable += any(f.code == "W-UNREADABLE" for f in outcome.findings)
                continue
            if outcome.ledger and path not in first:
                late.append(outcome.ledger_tasks)
            elif not outcome.ledger:
                done.update(dict.fromkeys(outcome.names, path))
            report.item_count += 1
            report.task_count += outcome.own_tasks
            report.skipped_rows += outcome.skipped_rows
            if outcome.item is not None:
                yield outcome.item, None
            elif self.work is not None and outcome.for_ledgers is not None:
                yield outcome.for_ledgers, outcome.done
        found = _recheck_for_late_ledgers(late, done, found, layout, self.roster, ctx, self.selection)
        ctx.calendar.is_workday(self.today)
        if ctx.calendar.guessed_years:
            found.append(finding("W-CALENDAR", "coordxl.toml", year=year_span(ctx.calendar.guessed_years)))
        report.findings = sorted((f for f in found if self.selection.wants(f.code)), key=sort_key)


    def _items_and_copies(self, found: Scan) -> list[Path]:
        """The workbooks to read as items: copies and files in other formats are findings, and counted."""
        layout, report = self.layout, self.report
        copies = find_copies(found.workbooks, layout)
        for copy, (item, why) in sorted(copies.items()):
            # the item's finding: its initiator hears of the copy with the item's other findings
            self._found.append(finding("W-DUPLICATE-ITEM", _rel(item, layout.root), reason=why,
                                       copy=_rel(copy, layout.root), item=_rel(item, layout.root)))
        folder = layout.active.name
        for path in found.denied:
            self._found.append(finding("W-UNREADABLE", _rel(path, layout.root) + "/", reason="folder_denied",
                                       detail=""))
        for path in found.unsupported:
            self._found.append(finding("W-UNREADABLE", _rel(path, layout.root), severity=WARNING, reason="format",
                                       ext=path.suffix.lower(), folder=folder))
        report.copies, report.unsupported, report.other_files = len(copies), len(found.unsupported), len(found.others)
        return [p for p in found.workbooks if p not in copies]


class _Run:
    """What validating one workbook needs from its run: the folder, roster, rules, ledgers, memo."""

    def __init__(self, layout: Layout, roster: Roster, ctx: RunContext, selection: Selection,
                 work: Callable | None = None):
        self.layout, self.roster, self.ctx, self.selection, self.work = layout, roster, ctx, selection, work
        self.ledgers = _Ledgers()
        self.memo: dict = {}  # conversions shared by the run's workbooks

    def validate(self, path: Path) -> tuple[Item | None, list[Finding]]:
        """Read, normalize and run the rules on one workbook (a ledger's rows join the items they name)."""
        item, findings = read_item(path, self.layout, self.roster, self.ctx.today, self.memo)
        if item is None:
            return None, findings
        if item.ledger:
            self.ledgers.add(item.tasks)
        else:
            item.tasks.extend(self.ledgers.for_item(item))
        findings = settled(item, self.ctx, findings)  # a blank 纪要发出时间 of minutes coordxl sent
        return item, at_merged_origin(findings + run_rules(item, self.ctx, self.selection), item.merged)

    def ledger_rules(self, item: Item) -> list[Finding]:
        """The rules that need a central ledger's rows, for an item validated without them (in a worker)."""
        item.tasks.extend(self.ledgers.for_item(item))
        return run_rules(item, self.ctx, _only(ledger_rules(), self.selection))


def _only(codes: tuple[str, ...], selection: Selection) -> Selection:
    """The part of ``selection`` among ``codes``."""
    return Selection(tuple(c for c in codes if selection.wants(c)) or ("-none-",))


def _without(codes: tuple[str, ...], selection: Selection) -> Selection:
    return Selection(selection.only, selection.skip + codes)




@dataclass
class _Outcome:
    """One workbook's findings and what the run needs of its item (the item itself when in this process)."""

    findings: list[Finding]
    item: Item | None = None
    readable: bool = True
    ledger: bool = False
    names: tuple[str, ...] = ()  # the item's topic and file name
    own_tasks: int = 0
    ledger_tasks: Rows | None = None
    guessed_years: set[int] = dc_field(default_factory=set)
    for_ledgers: Item | None = None  # from a worker: what the ledger rules read of the item, run here
    skipped_rows: int = 0
    done: object = None  # from a worker: what the job's own work on the item returned

    @classmethod
    def of(cls, item: Item | None, findings: list[Finding], whole: bool = True,
           guessed_years: set[int] = frozenset()) -> "_Outcome":
        if item is None:
            return cls(findings, readable=False, guessed_years=set(guessed_years))
        tasks = None
        if item.ledger:
            tasks = item.tasks if whole else item.tasks.slim(ledger_columns(), extra=("item",))
        return cls(findings, item if whole else None, True, item.ledger,
                   tuple(dict.fromkeys((item.topic, Path(item.workbook).stem))), item.own_tasks, tasks,
                   set(guessed_years), skipped_rows=item.skipped_rows)


# --- several processes (run.parallel starts them) -------------------------------------------
# Each worker validates whole workbooks and sends back their findings and the little the run needs of
# each item. Findings are sorted at the end, so the result is the same.

def _in_processes(run: _Run, paths: list[Path], count: int) -> Iterator[tuple[Path, _Outcome]] | None:
    """Start validating ``paths`` in ``count`` processes; None when this machine cannot start them."""
    started = parallel.start_pool(
        count, ("coordxl.run.pipeline",),
        lambda pool: pool.map(_worker_validate, paths, chunksize=max(1, len(paths) // (count * 8))),
        "checking in one process: %s", initializer=_worker_start,
        initargs=(str(run.layout.root), run.ctx.today, run.selection, run.work))
    return None if started is None else _collect(*started, run, paths)


def _collect(pool, results: Iterator[_Outcome], run: _Run, paths: list[Path]
             ) -> Iterator[tuple[Path, _Outcome]]:
    """The workers' outcomes in order, each completed with its ledger rules (the ledgers are known by now)."""
    done = 0
    try:
        for path, outcome in zip(paths, results):
            run.ctx.calendar.guessed_years |= outcome.guessed_years
            if outcome.ledger:
                run.ledgers.add(outcome.ledger_tasks)  # a ledger found by its labels, in a worker
            elif outcome.for_ledgers is not None:
                outcome.findings += run.ledger_rules(outcome.for_ledgers)
                if run.work is None:
                    outcome.for_ledgers = None
            done += 1
            yield path, outcome
    except BrokenProcessPool as exc:  # a worker died (killed, out of memory): finish here
        log.warning("a check worker stopped (%s); checking the rest in this process", exc)
        for path in paths[done:]:  # with a job's work: the whole items, for the job to work on here
            yield path, _Outcome.of(*run.validate(path), whole=run.work is not None)
    finally:
        pool.shutdown(cancel_futures=True)


_WORKER: _Run | None = None


def _worker_start(root: str, today: dt.date, selection: Selection, work: Callable | None = None) -> None:
    """A worker validates items without the ledgers (the parent reads them meanwhile): every rule
    but the ledger rules, which the parent runs on what ``_for_ledgers`` keeps of each item; then
    the job's ``work`` on each item, if any."""
    global _WORKER
    layout = Layout.of(root)
    roster, _ = load_folder_roster(layout)
    _WORKER = _Run(layout, roster, dataclasses.replace(RunContext.of(layout, today), roster=roster,
                                                      minutes_mailed=minutes_mailed(layout.db)),
                   _without(ledger_rules(), selection), work)


def _worker_validate(path: Path) -> _Outcome:
    run = _WORKER
    assert run is not None, "worker not started"
    before = set(run.ctx.calendar.guessed_years)
    try:
        item, findings = run.validate(path)
    except Exception as exc:  # one odd workbook must not stop the others
        log.exception("checking %s failed", path)
        item, findings = None, [finding("W-UNREADABLE", _rel(path, run.layout.root), reason="corrupt",
                                        detail=str(exc)[:200])]
    outcome = _Outcome.of(item, findings, whole=False, guessed_years=run.ctx.calendar.guessed_years - before)
    if item is not None and not item.ledger:
        outcome.for_ledgers = _for_ledgers(item)
    if item is not None and run.work is not None:
        outcome.done = run.work(item, run.layout, run.ctx)
        if outcome.for_ledgers is None:  # a ledger's own tasks: the job hears of it like any item
            outcome.for_ledgers = _for_ledgers(item)
    return outcome


def _for_ledgers(item: Item) -> Item:
    """What R-BREAKDOWN and R-CLOSE read of an item: its request, meetings, retrospective form and the
    tasks' id, status and source (small enough to send back from a worker)."""
    return Item(item.workbook, request=item.request, request_sheet=item.request_sheet, meetings=item.meetings,
                tasks=item.tasks.slim(ledger_columns(), extra=()), own_tasks=item.own_tasks, retro=item.retro,
                retro_sheet=item.retro_sheet, ledger=item.ledger)


def _recheck_for_late_ledgers(late, done, found, layout, roster, ctx, selection) -> list[Finding]:
    """A ledger recognised only by its labels was read after items it names: redo their ledger rules."""
    if not late:
        return found
    ledgers = _Ledgers()
    for ledger in late:
        ledgers.add(ledger)
    for path in sorted({done[name] for name in ledgers.names if name in done}):
        item, _ = read_item(path, layout, roster, ctx.today)
        if item is None:
            continue
        item.tasks.extend(ledgers.for_item(item))
        codes = ledger_rules()
        found = [f for f in found if not (f.workbook == item.workbook and f.code in codes)]
        found.extend(run_rules(item, ctx, _only(codes, selection)))
    return found


# --- one item, by name ------------------------------------------------------------------------

class ItemNotFound(CoordxlError):
    """No active item has that name."""

    exit_code = 2


def find_item(layout: Layout, name: str, today: dt.date) -> Path:
    """The workbook of an active item, by file name (with or without .xlsx) or by its topic."""
    wanted = name.strip()
    paths = scan(layout)
    for path in paths:
        if wanted in (path.name, path.stem):
            return path
    roster, _ = load_folder_roster(layout)
    for path in paths:
        item, _ = read_item(path, layout, roster, today)
        if item is not None and item.topic == wanted:
            return path
    close = difflib.get_close_matches(wanted, [p.stem for p in paths], n=1, cutoff=0.3)
    hint = text("hint.did_you_mean", layout.settings.lang, name=close[0]) if close else ""
    raise ItemNotFound(text("review.not_found", layout.settings.lang, name=wanted, folder=layout.active, hint=hint))


def load_item(layout: Layout, path: Path, today: dt.date) -> tuple[Item, list[Finding], RunContext]:
    roster, _ = load_folder_roster(layout)
    item, findings = read_item(path, layout, roster, today)
    if item is None:
        raise CoordxlError("; ".join(f.message(layout.settings.lang) for f in findings))
    ctx = dataclasses.replace(RunContext.of(layout, today), minutes_mailed=minutes_mailed(layout.db))
    return item, settled(item, ctx, findings + run_rules(item, ctx)), ctx
