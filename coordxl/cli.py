"""The coordxl command line: each command parses, calls one library function, renders the result.

Only this module, the scheduler and jobs/ decide what day it is (every job is handed ``today`` and
``now``) and read the environment and secrets; elsewhere the wall clock only dates lock files,
claims and backup names.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import json
import logging
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

import click
from rich.console import Console, RenderHook
from rich.markup import escape
from rich.segment import Segment

from . import __version__
from .errors import ConfigError, CoordxlError, administrators_error
from .messages import text
from .platform_support import CONTROLS, can_encode, tolerant_streams, visible
from .run import folder
from .settings import Settings

log = logging.getLogger("coordxl.cli")


class _Visible:
    """A renderable whose text shows each control character as its escape (\\x1b); rich's own colour
    and cursor codes come after, or as control segments, and pass as they are."""

    def __init__(self, renderable):
        self.renderable = renderable

    def __rich_console__(self, console, options):
        search = CONTROLS.search
        for segment in console.render(self.renderable, options):
            yield segment if segment.control or not search(segment.text) else Segment(visible(segment.text),
                                                                                     segment.style)


class _ShowControls(RenderHook):
    def process_renderables(self, renderables):
        return [_Visible(r) for r in renderables]


class SafeConsole(Console):
    """A console that never passes a control character from a cell or a file name to the terminal: ESC
    (a cleared screen, a window title, colours), CR and BS (an overwritten line), C1 and bidi overrides
    are printed as escapes. Text is escaped before rich reads it (rich would drop BEL and CR without a
    trace), and whatever a table or a Text built elsewhere still carries, as it is rendered."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.push_render_hook(_ShowControls())

    def print(self, *objects, **kwargs) -> None:
        super().print(*(visible(o) if isinstance(o, str) else o for o in objects), **kwargs)


console = SafeConsole(soft_wrap=True)  # a line is never broken in the middle (logs, cron mail, a pipe)
err_console = SafeConsole(stderr=True, soft_wrap=True)

_ARGS: list[str] = []  # the arguments of the running invocation (for the language of --help and usage errors)


def cli_lang(args: list[str] | None = None) -> str:
    """The language to speak before a command has loaded its folder: ``--lang``, then COORDXL_LANG, then
    the language of a coordxl folder named on the command line (or the current one), else Chinese."""
    import os
    args = _ARGS if args is None else args
    if "--lang" in args[:-1]:
        value = args[args.index("--lang") + 1]
        if value in ("zh", "en"):
            return value
    if os.environ.get("COORDXL_LANG") in ("zh", "en"):
        return os.environ["COORDXL_LANG"]
    for arg in [a for a in args if not a.startswith("-")] + ["."]:
        try:
            if (Path(arg) / "coordxl.toml").is_file():
                return Settings.load(Path(arg)).lang
        except (OSError, CoordxlError):
            continue
    return "zh"


class _Localized:
    """help text from the message table, in the invocation's language (click reads ``help`` when it formats)."""

    help_key = ""

    @property
    def help(self):
        return text(self.help_key, cli_lang()) if self.help_key else self.__dict__.get("_help")

    @help.setter
    def help(self, value):
        self.__dict__["_help"] = value


class Command(_Localized, click.Command):
    def __init__(self, *args, help_key: str = "", **kwargs):
        self.help_key = help_key
        super().__init__(*args, **kwargs)

    def get_short_help_str(self, limit: int = 45) -> str:
        return (self.help or "").split("\n")[0].rstrip("。.")


class Option(_Localized, click.Option):
    def __init__(self, *args, help_key: str = "", **kwargs):
        self.help_key = help_key
        super().__init__(*args, **kwargs)


def option(*decls, key: str, **kwargs):
    return click.option(*decls, cls=Option, help_key=key, **kwargs)


class Group(_Localized, click.Group):
    """The coordxl group: knows its invocation's arguments, and speaks Chinese in click's own texts too."""

    command_class = Command
    help_key = "help.main"

    def main(self, args=None, *more, **kwargs):
        _ARGS[:] = list(sys.argv[1:] if args is None else args)
        tolerant_streams()
        _translate_click()
        return super().main(args, *more, **kwargs)


def _click_writes_to_sys_streams() -> None:
    """click's own output (help, usage errors, echo) goes to sys.stdout/sys.stderr as they are: by
    default click writes UTF-8 where the stream says ASCII, which a reader of that stream cannot decode;
    the streams themselves never fail on a character (:func:`tolerant_streams`)."""
    click.utils._default_text_stdout = lambda: sys.stdout
    click.utils._default_text_stderr = lambda: sys.stderr
    click.exceptions.get_text_stderr = lambda *args, **kwargs: sys.stderr


def echo_json(document) -> None:
    """A JSON document on stdout, exact in any encoding: non-ASCII text as itself where the stream can
    write it, else as JSON's own \\u escapes (never a stand-in)."""
    out = json.dumps(document, ensure_ascii=False, indent=1)
    if not can_encode(out, sys.stdout):
        out = json.dumps(document, ensure_ascii=True, indent=1)
    # JSON escapes C0 itself; C1 and bidi controls (only ever inside strings) as its \u escapes too
    out = CONTROLS.sub(lambda m: f"\\u{ord(m.group()):04x}", out)
    click.echo(out)


def _translate_click() -> None:  # noqa: D401 (also run once at import, below)
    """click's own words (Usage:, Options, Missing argument …) from the message table in Chinese."""
    from .messages import CLICK_ZH

    def gettext(message: str) -> str:
        return CLICK_ZH.get(message, message) if cli_lang() == "zh" else message

    def ngettext(singular: str, plural: str, n: int) -> str:
        return gettext(singular if n == 1 else plural)

    for module in (click.core, click.decorators, click.exceptions, click.formatting, click.parser, click.types,
                   click.utils, click.termui):
        if hasattr(module, "_"):
            module._ = gettext
        if hasattr(module, "ngettext"):
            module.ngettext = ngettext


def _today(value: str | None, settings: Settings) -> dt.date:
    if value:
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            raise ConfigError(text("cli.bad_today", settings.lang, value=value)) from None
    return dt.datetime.now(ZoneInfo(settings["general.timezone"])).date()


# --- exit codes for schedulers ----------------------------------------------------------------------
# daily/weekly/review/archive: 0 when the job did its work, findings or not (staff mistakes are reports,
# not failures); 1 only when the administrator must act; 2 usage or settings; 3 coordxl's own fault.
# Task Scheduler and systemd then show a failure only on a day that needs someone.

WRITE_FAULTS = {"W-LOSSY", "W-PERMISSION"}  # a workbook left unwritten by a fault, not by someone's open file
CALENDAR_OUT = {"W-CALENDAR"}  # a year in use without holiday data (an estimate joins here when it is one)
FAULT_SKIPS = ("error", "unsupported")  # a writer that failed, a part it cannot patch


def admin_reasons(findings, skipped, *deliveries) -> list[str]:
    """Why the administrator must act after a job's run; [] when nothing (exit 0).

    >>> admin_reasons([], [("a.xlsx", "locked")], None)
    []
    """
    reasons = []
    for what, delivery in zip(("mail", "mail", "post"), deliveries):
        if delivery is not None and delivery.failed:
            reasons.append(f"{what}_failed")
        if delivery is not None and delivery.unknown:
            reasons.append(f"{what}_unknown")
    codes = {f.code for f in findings}
    if codes & WRITE_FAULTS or any(reason.startswith(FAULT_SKIPS) for _, reason in skipped):
        reasons.append("write_fault")
    if codes & CALENDAR_OUT:
        reasons.append("calendar")
    return list(dict.fromkeys(reasons))


def _delivery_counts(delivery) -> dict:
    keys = ("sent", "skipped", "failed", "unknown", "held")
    return {k: len(getattr(delivery, k)) if delivery is not None else 0 for k in keys}


def _findings_counts(findings) -> dict:
    errors = sum(1 for f in findings if f.is_error)
    return {"errors": errors, "warnings": len(findings) - errors}


def daily_summary(result, reasons: list[str]) -> dict:
    """`daily --json`: one document for monitoring."""
    return {"job": "daily", "today": result.today.isoformat(), "dry_run": result.dry_run,
            "exit_code": 1 if reasons else 0, "exit_reasons": reasons,
            "findings": _findings_counts(result.findings), "tasks": dict(result.states),
            "flags": {"changed": len(result.planned), "cells_written": result.cells_written,
                      "workbooks_written": len(result.written)},
            "skipped_workbooks": [{"workbook": w, "reason": r} for w, r in result.skipped],
            "mails": _delivery_counts(result.delivery) | {"rendered": len(result.mails)},
            "posts": _delivery_counts(result.post_delivery) | {"rendered": len(result.posts)},
            "mail_note": result.mail_note or None}


def weekly_summary(result, reasons: list[str]) -> dict:
    """`weekly --json`: one document for monitoring."""
    return {"job": "weekly", "week_file": str(result.weekly.path), "exit_code": 1 if reasons else 0,
            "exit_reasons": reasons, "findings": _findings_counts(result.weekly.findings),
            "mails": _delivery_counts(result.delivery) | {"rendered": len(result.mails)},
            "posts": _delivery_counts(result.post_delivery)}


def handle_errors(fn):
    """Log the run, turn library errors into a one-line message and the error's exit code, never a traceback.

    What the machine refused (a permission, a read-only or full disk, in a file or in state.db) is the
    administrator's to fix: one line saying what, exit 2. Anything else is a fault of coordxl's own: one
    line naming the file its traceback went to, exit 3 (a scheduler or systemd unit gets a clear status,
    not a screen of Python). COORDXL_DEBUG=1 re-raises.
    """
    from .state import runlog

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        root = kwargs.get("root")
        run = None
        code = 0
        try:
            run = _RunLog(root, dry_run=bool(kwargs.get("dry_run")))
            return fn(*args, **kwargs)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            raise
        except Exception as exc:
            import os
            if os.environ.get("COORDXL_DEBUG") and not isinstance(exc, CoordxlError):
                raise
            error = administrators_error(exc, _db_of(root))
            if error is not None:
                code = error.exit_code
                log.warning("%s", error, exc_info=error is not exc, extra=runlog.FILE_ONLY)
                err_console.print(f"[bold red]coordxl:[/] {escape(error.say(cli_lang()))}", highlight=False)
                sys.exit(code)
            code = 3
            where = _record_crash(run, root)
            err_console.print(f"[bold red]coordxl:[/] {escape(text('cli.crash', _lang_of(root), error=f'{type(exc).__name__}: {exc}', log=where))}",
                              highlight=False)
            sys.exit(3)
        finally:
            if run is not None:
                run.end(code)
    return wrapper


def _db_of(root) -> Path:
    """The folder's state.db (what a SQLite error names), as far as the folder can be read."""
    from .state.layout import Layout

    try:
        return Layout.of(Path(root)).db
    except Exception:
        return _state_of(Path(root or ".")) / "state.db"


def _record_crash(run, root) -> Path:
    """The current exception's traceback in the folder's log; else in a new file of its own (created
    exclusively, readable by this user only, never a name someone could have planted): in the state
    folder's logs/, else in the temp folder. Where it went."""
    import os
    import tempfile
    import traceback

    from .state import runlog

    if run is not None and run.file is not None:
        log.error("%s: coordxl's own fault", run.command, exc_info=True, extra=runlog.FILE_ONLY)
        run.file.flush()
        return Path(run.file.baseFilename)
    report = visible(f"{dt.datetime.now().isoformat(timespec='seconds')} ERROR coordxl: {' '.join(_ARGS)}\n"
                     + traceback.format_exc())
    places = [None]
    if root is not None and (Path(root) / "coordxl.toml").is_file():
        places.insert(0, runlog.log_path(_state_of(Path(root))).parent)
    for place in places:
        try:
            fd, name = tempfile.mkstemp(prefix="coordxl-crash-", suffix=".log", dir=place)
        except OSError:
            continue
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(report)
        except OSError:
            continue
        return Path(name)
    return Path("-")


def _lang_of(root) -> str:
    try:
        return Settings.load(Path(root)).lang if root else "zh"
    except Exception:
        return "zh"


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
_LOGGING = {"verbose": 0, "level": None}  # the global options of the running invocation


class _RunLog:
    """One run's lines in its folder's log (start, end, exit code, what the library logs, a crash's
    traceback), and on stderr what -v asks for (by default warnings, as Python's last resort prints them)."""

    def __init__(self, root, dry_run: bool = False):
        import logging
        import os
        import time

        from .state import runlog

        self.started = time.monotonic()
        self.command = _command_name()
        self.file = self.console = None
        level = getattr(logging, _LOGGING["level"] or "INFO")
        # init makes a folder (and refuses one that exists, changing nothing), a dry run writes nothing:
        # neither has a run to log in the folder
        if root is not None and not dry_run and self.command != "init" and (Path(root) / "coordxl.toml").is_file():
            try:
                self.file = runlog.attach(_state_of(Path(root)), level)
            except CoordxlError:  # the command itself says what is wrong with the state folder
                self.file = None
        verbose = _LOGGING["verbose"] + (1 if self.command == "schedule" and not {"--install", "--uninstall"} & set(_ARGS)
                                         else 0)  # the loop shows its runs; installing shows what it writes
        if not logging.getLogger().handlers:  # an application (or pytest) that set up logging keeps it
            self.console = runlog.attach_console(
                {0: logging.WARNING, 1: logging.INFO}.get(verbose, logging.DEBUG),
                fmt="%(message)s" if verbose == 0 else "%(asctime)s %(levelname)s %(name)s: %(message)s",
                lang=cli_lang())
        log.info("%s: started (coordxl %s, pid %d): coordxl %s", self.command, __version__, os.getpid(),
                 " ".join(_ARGS))

    def end(self, code: int) -> None:
        import time

        from .state import runlog

        log.info("%s: ended, exit %s, %.1f s", self.command, code, time.monotonic() - self.started)
        runlog.detach(self.file, self.console)


def _state_of(root: Path) -> Path:
    """The folder's state folder; where the settings cannot be read, the default one (the run that says
    so is logged too)."""
    from .state.layout import STATE_DIR, Layout

    try:
        return Layout.of(root).state
    except CoordxlError:
        return root / STATE_DIR


def _command_name() -> str:
    ctx = click.get_current_context(silent=True)
    return ctx.info_name if ctx is not None else "coordxl"


_translate_click()
_click_writes_to_sys_streams()


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="coordxl", cls=Option, help_key="opt.version")
@option("-v", "--verbose", key="opt.verbose", count=True)
@option("--log-level", key="opt.log_level", type=click.Choice(LOG_LEVELS, case_sensitive=False))
def main(verbose: int, log_level: str | None) -> None:
    """coordxl: run cross-department coordination on the Excel workbooks staff already use.

    Example: coordxl init ./协调 && coordxl new "Q3新品上市推广" --root ./协调 --initiator 张伟
    """
    _LOGGING.update(verbose=verbose, level=log_level.upper() if log_level else None)


@main.command(help_key="help.init")
@click.argument("root", type=click.Path(file_okay=False, path_type=Path))
@option("--lang", key="opt.init.lang", type=click.Choice(["zh", "en"]), default="zh", show_default=True)
@option("--force", key="opt.init.force", is_flag=True)
@handle_errors
def init(root: Path, lang: str, force: bool) -> None:
    """Make a shared folder: settings, sample roster, templates, folders.

    Example: coordxl init /srv/share/协调
    """
    written = folder.init_folder(root, lang=lang, force=force)
    console.print(text("init.created", lang, root=root), markup=False)
    for path in written:
        console.print(f"  {path}", highlight=False, markup=False)
    _print_next_steps(root, Settings.load(root))


def _print_next_steps(root: Path, settings: Settings) -> None:
    """What an administrator does after init: fill in the roster and the mail settings, the doctor, the
    scheduled task."""
    from .state.layout import Layout

    layout, lang, shown = Layout(root, settings), settings.lang, _quoted(root)
    console.print(text("init.next", lang), highlight=False, markup=False)
    console.print("  " + text("init.next.settings", lang, roster=layout.roster, config=layout.config),
                  highlight=False, markup=False)
    for key in ("init.next.doctor", "init.next.schedule"):
        console.print("  " + text(key, lang, root=shown), highlight=False, markup=False)


def _quoted(path: Path) -> str:
    """A path as it is typed on a command line: quoted when it has a space."""
    value = str(path)
    return f'"{value}"' if any(c.isspace() for c in value) else value


@main.command(help_key="help.new")
@click.argument("title")
@option("--root", key="opt.new.root", required=True, type=click.Path(file_okay=False, path_type=Path))
@option("--initiator", key="opt.new.initiator", required=True)
@option("--today", key="opt.new.today")
@handle_errors
def new(title: str, root: Path, initiator: str, today: str | None) -> None:
    """Create a coordination workbook in 进行中/ from the template, prefilled.

    Example: coordxl new "Q3新品上市推广" --root ./协调 --initiator 张伟
    """
    settings = Settings.load(root)
    path = folder.new_item(title, root, initiator, _today(today, settings))
    console.print(text("new.created", settings.lang, path=path), highlight=False, markup=False)
    from .state.layout import Layout

    layout = Layout.of(root)
    if earlier := folder.archived_like(layout, path.stem):
        where = "、".join(p.relative_to(layout.root).as_posix() for p in earlier)
        console.print(text("new.archived_before", settings.lang, where=where), highlight=False, markup=False)


def _show(show_all: bool, summary_only: bool) -> str:
    return "all" if show_all else "summary" if summary_only else "capped"


def _progress():
    """A progress bar on stderr for long scans; off when stderr is not a terminal."""
    if not err_console.is_terminal:
        return None, None
    from rich.progress import Progress

    bar = Progress(console=err_console, transient=True)
    task = bar.add_task(text("out.scanning", cli_lang()), total=None)
    return bar, lambda path, total: bar.update(task, advance=1, total=total, description=path.name[:40])


@main.command(help_key="help.check")
@click.argument("root", type=click.Path(file_okay=False, path_type=Path))
@option("--json", "as_json", key="opt.check.json", is_flag=True)
@option("--today", key="opt.check.today")
@option("--only", key="opt.check.only")
@option("--skip", key="opt.check.skip")
@option("--no-report", key="opt.check.no_report", is_flag=True)
@option("--all", "show_all", key="opt.all", is_flag=True)
@option("--summary", "summary_only", key="opt.summary", is_flag=True)
@handle_errors
def check(root: Path, as_json: bool, today: str | None, only: str | None, skip: str | None,
          no_report: bool, show_all: bool, summary_only: bool) -> None:
    """Validate the shared folder; exit 0 when clean, 1 when there are errors, 2 for usage errors.

    Example: coordxl check ./协调 --today 2026-08-20 --json
    """
    from .process.rules import Selection
    from .run.check import run_check, write_report_workbook
    from .run.render import print_report
    from .state.layout import Layout

    layout = Layout.of(root)
    selection = Selection.parse(only, skip, layout.settings.lang)
    day = _today(today, layout.settings)
    bar, progress = _progress() if not as_json else (None, None)
    if bar:
        with bar:
            report = run_check(root, day, selection, progress, layout=layout)
    else:
        report = run_check(root, day, selection, layout=layout)
    written = None if no_report else write_report_workbook(report, layout)
    if as_json:
        echo_json(report.to_json(layout.settings.lang))
    else:
        print_report(report, layout.settings.lang, console, written, layout.settings["output.max_rows"],
                     _show(show_all, summary_only))
    sys.exit(0 if report.ok else 1)


def _settle(layout, take_over: bool, new_ledger: bool = False):
    """Before a job that sends: refuse where another machine runs the folder's jobs (unless --take-over), give
    a folder on a network share its id and move its ledger to this machine, once; say so on stderr."""
    from .state.statefolder import settle

    layout, notes = settle(layout, take_over, new_ledger=new_ledger)
    for note in notes:
        err_console.print(note, highlight=False, markup=False)
    return layout


def _start_ledger(layout, new_ledger: bool) -> None:
    """--new-ledger: the administrator confirms that state.db is gone for good and a fresh one is wanted."""
    if new_ledger:
        layout.open_store(new_ledger=True).close()
        err_console.print(text("state.new_ledger", layout.settings.lang, db=layout.db), highlight=False, markup=False)


def _announce_resend(layout, resend: str | None, job: str) -> str | list[str] | None:
    """Say what --resend will send again, before anything is sent (on stderr: stdout may be --json): the
    job's mails whose delivery is unknown (plain --resend), everything (--resend all), or the keys and
    addresses named (comma-separated)."""
    from .send.delivery import resend_command

    if not resend:
        return None
    lang = layout.settings.lang
    if resend == "unknown":
        unknown = [m for m in layout.open_store().unknown_mails()
                   if resend_command(m["kind"]) == f"coordxl {job} --resend"]  # the other job's are its own
        if not unknown:
            err_console.print(text("resend.none_unknown", lang), highlight=False, markup=False)
            return None
        for m in unknown:
            err_console.print(text("resend.unknown", lang, day=m["day"], recipient=m["recipient"], subject=m["subject"],
                               code=m["key"][:12]), highlight=False, markup=False)
        return "unknown"
    if resend == "all":
        err_console.print(text("resend.all", lang), highlight=False, markup=False)
        return "all"
    names = [n.strip() for n in resend.split(",") if n.strip()]
    err_console.print(text("resend.named", lang, names="、".join(names)), highlight=False, markup=False)
    return names


@main.command(help_key="help.daily")
@click.argument("root", type=click.Path(file_okay=False, path_type=Path))
@option("--today", key="opt.daily.today")
@option("--dry-run", key="opt.daily.dry_run", is_flag=True)
@option("--resend", key="opt.daily.resend", is_flag=False, flag_value="unknown", default=None, metavar="[all|KEY|ADDRESS]")
@option("--new-ledger", key="opt.new_ledger", is_flag=True)
@option("--all", "show_all", key="opt.all", is_flag=True)
@option("--summary", "summary_only", key="opt.summary", is_flag=True)
@option("--json", "as_json", key="opt.daily.json", is_flag=True)
@option("--take-over", key="opt.take_over", is_flag=True)
@handle_errors
def daily(root: Path, today: str | None, dry_run: bool, resend: str | None, new_ledger: bool, show_all: bool,
          summary_only: bool, as_json: bool, take_over: bool) -> None:
    """One run of the daily job: validate, assess every task, write the 预警 column, send reminders.

    Example: coordxl daily ./协调 --today 2026-08-20 --dry-run
    """
    import os

    from .run import daily as job
    from .run.context import RunContext
    from .run.render import print_daily
    from .send.wiring import Senders, wire
    from .state.layout import Layout

    layout = Layout.of(root) if dry_run else _settle(Layout.of(root), take_over, new_ledger)
    _start_ledger(layout, new_ledger)
    day = _today(today, layout.settings)
    now = dt.datetime.now(ZoneInfo(layout.settings["general.timezone"])).replace(tzinfo=None)
    senders = Senders() if dry_run else wire(layout.settings, layout.state, day, dict(os.environ))
    resend = _announce_resend(layout, resend, "daily")
    result = job.daily(RunContext.of(layout, day, now, dry_run=dry_run, resend=resend, senders=senders))
    reasons = admin_reasons(result.findings, result.skipped, result.delivery, result.admin_delivery,
                            result.post_delivery)
    summary = daily_summary(result, reasons)
    log.info("daily: %s", json.dumps(summary, ensure_ascii=False))
    if as_json:
        echo_json(summary)
    else:
        print_daily(result, layout.settings.lang, console, layout.settings["output.max_rows"],
                    _show(show_all, summary_only))
    sys.exit(1 if reasons else 0)


@main.command(help_key="help.weekly")
@click.argument("root", type=click.Path(file_okay=False, path_type=Path))
@option("--today", key="opt.weekly.today")
@option("--resend", key="opt.weekly.resend", is_flag=False, flag_value="unknown", default=None, metavar="[all|KEY|ADDRESS]")
@option("--new-ledger", key="opt.new_ledger", is_flag=True)
@option("--json", "as_json", key="opt.weekly.json", is_flag=True)
@option("--take-over", key="opt.take_over", is_flag=True)
@handle_errors
def weekly(root: Path, today: str | None, resend: str | None, new_ledger: bool, as_json: bool, take_over: bool) -> None:
    """Write 报告/周报-<ISO week>.xlsx (figures, lists, charts) and mail it to initiators, heads and managers.

    Example: coordxl weekly ./协调 --today 2026-08-24
    """
    import os

    from .run.context import RunContext
    from .run.weekly import week_job
    from .send.wiring import wire
    from .state.layout import Layout

    layout = _settle(Layout.of(root), take_over, new_ledger)
    _start_ledger(layout, new_ledger)
    day = _today(today, layout.settings)
    now = dt.datetime.now(ZoneInfo(layout.settings["general.timezone"])).replace(tzinfo=None)
    senders = wire(layout.settings, layout.state, day, dict(os.environ))
    resend = _announce_resend(layout, resend, "weekly")
    result = week_job(RunContext.of(layout, day, now, resend=resend, senders=senders))
    reasons = admin_reasons(result.weekly.findings, [], result.delivery, None, result.post_delivery)
    summary = weekly_summary(result, reasons)
    log.info("weekly: %s", json.dumps(summary, ensure_ascii=False))
    if as_json:
        echo_json(summary)
        sys.exit(1 if reasons else 0)
    lang = layout.settings.lang
    d = result.delivery
    console.print(text("out.weekly", lang, path=result.weekly.path), highlight=False, markup=False)
    console.print(text("out.weekly_mails", lang, sent=len(d.sent), skipped=len(d.skipped), failed=len(d.failed)))
    if result.post_delivery is not None:
        pd = result.post_delivery
        console.print(text("out.weekly_posts", lang, sent=len(pd.sent), skipped=len(pd.skipped), failed=len(pd.failed)))
    sys.exit(1 if reasons else 0)


@main.command(help_key="help.review")
@click.argument("root", type=click.Path(file_okay=False, path_type=Path))
@click.argument("item")
@option("--today", key="opt.as_of")
@handle_errors
def review(root: Path, item: str, today: str | None) -> None:
    """Write the retrospective draft 报告/复盘草稿-<item>.xlsx for one item (by file name or topic).

    Example: coordxl review ./协调 618大促数据复盘对接
    """
    from .run.review import run_review
    from .state.layout import Layout

    layout = Layout.of(root)
    path = run_review(root, item, _today(today, layout.settings))
    console.print(text("out.review", layout.settings.lang, path=path), highlight=False, markup=False)


@main.command(help_key="help.replies")
@click.argument("root", type=click.Path(file_okay=False, path_type=Path))
@option("--today", key="opt.as_of")
@option("--watch", key="opt.replies.watch", is_flag=True)
@handle_errors
def replies(root: Path, today: str | None, watch: bool) -> None:
    """Read the replies mailbox once: apply what staff asked in their replies, answer each in its thread.

    Example: coordxl replies ./协调
    """
    import os

    from .errors import ConfigError
    from .run.replies import run_replies
    from .send.imap import Mailbox, imap_password
    from .send.wiring import wire
    from .state.layout import Layout

    layout = Layout.of(root)
    settings = layout.settings
    if not settings["replies.enabled"]:
        raise ConfigError(key="config.replies_off")
    day = _today(today, settings)
    now = dt.datetime.now(ZoneInfo(settings["general.timezone"])).replace(tzinfo=None)
    mailbox = Mailbox(settings, imap_password(settings, dict(os.environ)))
    transport = wire(settings, layout.state, day, dict(os.environ), chat=False).transport
    if watch:  # IMAP IDLE until stopped (update by reply)
        _watch_replies(root, layout, mailbox, day if today else None)
        return
    with _mailbox_errors(settings):
        result = run_replies(root, day, now, mailbox, transport)
    _say_replies(settings, result)
    sys.exit(1 if result.delivery and result.delivery.failed else 0)


@contextlib.contextmanager
def _mailbox_errors(settings):
    """The replies mailbox unreachable (network, IMAP refusing): one line naming the host, exit 2."""
    from .errors import ConfigError

    try:
        yield
    except (OSError, ConnectionError) as exc:
        raise ConfigError(key="replies.cannot_connect", host=settings["replies.host"], error=exc) from None
    except Exception as exc:
        if type(exc).__module__.startswith("imaplib") or "imapclient" in type(exc).__module__:
            raise ConfigError(key="replies.cannot_connect", host=settings["replies.host"], error=exc) from None
        raise


def _say_replies(settings, result) -> None:
    console.print(text("out.replies", settings.lang, read=result.read, written=result.written,
                       answered=len(result.delivery.sent) if result.delivery else 0), highlight=False, markup=False)


def _watch_replies(root: Path, layout, mailbox, day: dt.date | None) -> None:
    """--watch: read the mailbox as soon as mail arrives (IMAP IDLE), until SIGTERM or Ctrl-C; exit 0. With
    --today every poll counts as that day."""
    import os
    import signal
    import threading

    from .run.replies import watch_replies
    from .send.wiring import wire

    settings = layout.settings
    zone = ZoneInfo(settings["general.timezone"])
    stop = threading.Event()
    previous = {s: signal.signal(s, lambda *_: stop.set()) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        with _mailbox_errors(settings):
            watch_replies(root, mailbox, lambda day: wire(settings, layout.state, day, dict(os.environ), chat=False).transport,
                          stop, lambda: dt.datetime.combine(day or dt.datetime.now(zone).date(),
                                                            dt.datetime.now(zone).time()),
                          lambda r: _say_replies(settings, r))
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


@main.command(help_key="help.archive")
@click.argument("root", type=click.Path(file_okay=False, path_type=Path))
@click.argument("item")
@option("--force", key="opt.archive.force", is_flag=True)
@option("--reason", key="opt.archive.reason", default="")
@option("--today", key="opt.as_of")
@handle_errors
def archive(root: Path, item: str, force: bool, reason: str, today: str | None) -> None:
    """Move a closed item (and its retrospective draft) to 归档/<year>/<item>/ with a manifest and index row.

    Example: coordxl archive ./协调 618大促数据复盘对接
    """
    import getpass

    from .run.archive import archive_item
    from .state.layout import Layout

    layout = Layout.of(root)
    zone = ZoneInfo(layout.settings["general.timezone"])
    result = archive_item(root, item, _today(today, layout.settings), dt.datetime.now(zone).replace(tzinfo=None),
                          by=getpass.getuser(), force=force, reason=reason)
    console.print(text("archive.done", layout.settings.lang, dest=result.dest), highlight=False, markup=False)
    if not result.index_written:
        err_console.print(text("archive.index_locked", layout.settings.lang))
        sys.exit(1)


@main.command("schedule", help_key="help.schedule")
@click.argument("root", type=click.Path(file_okay=False, path_type=Path))
@option("--poll", key="opt.schedule.poll", default=30.0, show_default=True)
@option("--install", "do_install", key="opt.schedule.install", is_flag=True)
@option("--uninstall", "do_uninstall", key="opt.schedule.uninstall", is_flag=True)
@option("--kind", key="opt.schedule.kind", type=click.Choice(["windows", "systemd", "cron", "launchd"]))
@option("--yes", "-y", key="opt.schedule.yes", is_flag=True)
@option("--take-over", key="opt.take_over", is_flag=True)
@handle_errors
def schedule_cmd(root: Path, poll: float, do_install: bool, do_uninstall: bool, kind: str | None, yes: bool,
                 take_over: bool) -> None:
    """Run the daily job (working days) and the weekly job at their configured times until stopped;
    --install puts them in the system's own scheduler instead.

    Example: coordxl schedule /srv/share/协调   (stop with Ctrl-C or SIGTERM)
    """
    if do_install and do_uninstall:
        raise ConfigError(key="install.both")
    if do_install or do_uninstall:
        _install(root, kind, yes, remove=do_uninstall)
        return
    from .scheduler import serve

    sys.exit(serve(root, poll, take_over))


def _install(root: Path, kind: str | None, yes: bool, remove: bool) -> None:
    """--install / --uninstall: show what is written or removed, confirm (a terminal) or --yes, do it."""
    import getpass

    from . import install
    from .state.layout import Layout

    if remove:  # the folder may be gone already: its entries are named by its path alone
        try:
            settings = Layout.of(root).settings
        except CoordxlError:
            settings = Settings.defaults()
    else:
        settings = Layout.of(root).settings
    lang = settings.lang
    say = lambda key, **kw: console.print(text(key, lang, **kw), highlight=False, markup=False)  # noqa: E731
    kind = kind or install.default_kind()
    plan = install.plan(root, settings, kind)
    setup = install.installer(kind)
    shown_kind = text(f"install.kind.{kind}", lang)
    if remove:
        present = setup.present(plan)
        if not present:
            say("install.nothing_to_remove", root=plan.root, kind=shown_kind)
            return
        say("install.will_remove", root=plan.root, kind=shown_kind, entries=", ".join(present))
    else:
        weekly = next(j for j in plan.jobs if j.name == "weekly")
        daily = next(j for j in plan.jobs if j.name == "daily")
        say("install.title", root=plan.root, kind=shown_kind, daily=daily.at.strftime("%H:%M"),
            weekly=weekly.at.strftime("%H:%M"), weekday=text("calendar.weekday", lang).split()[weekly.weekday])
        for job in (j for j in plan.jobs if j.name == "replies"):  # update by reply: the mailbox, polled
            say("install.replies", start=job.at.strftime("%H:%M"), until=job.until.strftime("%H:%M"), minutes=job.every)
        if kind != "systemd" and plan.differs():
            say("install.local_time", zone=plan.zone, daily=plan.local(daily)[0].strftime("%H:%M"),
                weekly=plan.local(weekly)[0].strftime("%H:%M"))
        change = setup.change(plan)
        for path, content in change.files.items():
            say("install.file", path=path)
            console.print(install.shown(content).rstrip("\n"), highlight=False, markup=False)
        for argv in change.commands:
            say("install.command", command=" ".join(argv))
    if not yes:
        if not sys.stdin or not sys.stdin.isatty():
            say("install.not_tty_remove" if remove else "install.not_tty")
            return
        if not click.confirm(text("install.confirm_remove" if remove else "install.confirm", lang), default=True):
            say("install.cancelled")
            return
    if remove:
        say("install.removed", entries=", ".join(setup.uninstall(plan)))
        return
    done = setup.install(plan)
    say("install.done", entries=", ".join(done.entries))
    say(f"install.hint.{kind}", user=getpass.getuser(), name=done.entries[0], env=settings["email.password_env"])


@main.command("doctor", help_key="help.doctor")
@click.argument("root", type=click.Path(file_okay=False, path_type=Path))
@option("--send-test", "send_to", key="opt.doctor.send_test", metavar="ADDRESS")
@option("--kind", key="opt.doctor.kind", type=click.Choice(["windows", "systemd", "cron", "launchd"]))
@option("--today", key="opt.doctor.today")
@handle_errors
def doctor_cmd(root: Path, send_to: str | None, kind: str | None, today: str | None) -> None:
    """Check that everything is ready, one line each: mail, robots, folder, calendar, roster, scheduled task.

    Example: coordxl doctor /srv/share/协调 --send-test admin@corp.example
    """
    import os

    from . import doctor
    from .process.roster import EMAIL_RE
    from .state.layout import Layout

    layout = Layout.of(root)
    lang = layout.settings.lang
    if send_to is not None and not EMAIL_RE.match(send_to):
        raise ConfigError(key="doctor.bad_address", value=send_to)
    ctx = doctor.Context(layout, _today(today, layout.settings), dict(os.environ), send_to, kind or "")
    console.print(text("doctor.title", lang, root=layout.root), highlight=False, markup=False)
    lines = []
    for line in doctor.run(ctx):
        lines.append(line)
        console.print(line.shown(lang), style={"ok": "green", "warn": "yellow", "fail": "red"}[line.status],
                      highlight=False, markup=False)
    failed = sum(1 for line in lines if line.status == doctor.FAIL)
    if failed:
        console.print(text("doctor.needs_admin", lang, n=failed), style="bold red", highlight=False, markup=False)
    elif any(line.status == doctor.WARN for line in lines):
        console.print(text("doctor.warnings_only", lang), style="bold yellow", highlight=False, markup=False)
    else:
        console.print(text("doctor.all_fine", lang), style="bold green", highlight=False, markup=False)
    sys.exit(doctor.exit_code(lines))


@main.command(help_key="help.status")
@click.argument("root", type=click.Path(file_okay=False, path_type=Path))
@option("--json", "as_json", key="opt.status.json", is_flag=True)
@handle_errors
def status(root: Path, as_json: bool) -> None:
    """Last and next run of each job, its outcome, mails sent today, and who holds the scheduler lock.

    Example: coordxl status /srv/share/协调
    """
    from rich.table import Table

    from .scheduler import status as get_status

    info = get_status(root)
    if as_json:
        echo_json(info)
        return
    lang = Settings.load(root).lang
    t = lambda key, **kw: escape(text(key, lang, **kw))  # noqa: E731
    table = Table(title=t("status.title", root=info["root"]), title_justify="left")
    for key in ("status.col.job", "status.col.last", "status.col.outcome", "status.col.next"):
        table.add_column(t(key))
    for job, j in info["jobs"].items():
        style = {"failed": "red", "interrupted": "red", "ok": "green"}.get(j["last_outcome"] or "", "yellow")
        outcome = t(f"status.outcome.{j['last_outcome']}") if j["last_outcome"] else "-"
        table.add_row(t(f"health.job.{job}"), j["last_run"] or "-", f"[{style}]{outcome}[/]", j["next_run"])
    console.print(table)
    console.print(t("status.mails", sent=info["mails_sent_today"], failed=info["mails_failed_today"],
                    unknown=len(info["mails_unknown"])))
    if info["posts_sent_today"] or info["posts_failed_today"] or Settings.load(root).channels:
        console.print(t("status.posts", sent=info["posts_sent_today"], failed=info["posts_failed_today"]))
    if info["calendar_estimated"]:
        from .process.calendar import year_span
        console.print(f"[yellow]{t('status.estimate', years=year_span(info['calendar_estimated']), root=root)}[/]")
    lock = info["lock"]
    if lock:
        key = "status.scheduler.running" if lock["alive"] else "status.scheduler.stale"
        console.print(t(key, pid=lock["pid"], host=lock["host"], since=lock.get("since")),
                      style=None if lock["alive"] else "red")
    else:
        console.print(t("status.scheduler.none"))
    if info["health"]:
        console.print(f"[bold yellow]{t('status.health')}[/]")
        for issue in info["health"]:
            console.print(f"  • {escape(issue['text'])}", highlight=False)
    else:
        console.print(f"[green]{t('status.healthy')}[/]")
    console.print(t("status.state", path=info["state"]), highlight=False)
    if info["network"]:
        console.print(t("status.network_pending" if info["state_on_network"] else "status.network",
                        network=info["network"]), style="yellow" if info["state_on_network"] else None, highlight=False)
    else:
        console.print(t("status.local"), highlight=False)
    if owner := info["owner"]:
        console.print(t("status.owner" if owner["this_machine"] else "status.owner_other", host=owner.get("host"),
                        user=owner.get("user"), since=owner.get("since")), highlight=False)
    console.print(t("status.log", log=info["log"]), highlight=False)
    console.print(t("status.state_size", mb=f"{info['state_bytes'] / 2**20:.1f}"), highlight=False)


@main.command("calendar", help_key="help.calendar")
@click.argument("root", type=click.Path(file_okay=False, path_type=Path))
@option("--year", key="opt.calendar.year", type=int)
@option("--import", "notice_file", key="opt.calendar.import", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@option("--dry-run", key="opt.calendar.dry_run", is_flag=True)
@option("--yes", "-y", key="opt.calendar.yes", is_flag=True)
@option("--today", key="opt.calendar.today")
@handle_errors
def calendar_cmd(root: Path, year: int | None, notice_file: Path | None, dry_run: bool, yes: bool,
                 today: str | None) -> None:
    """Show a year's weekdays off and weekend working days and where each comes from; --import reads
    the State Council's holiday notice into coordxl.toml.

    Example: coordxl calendar /srv/share/协调 --import notice-2027.txt
    """
    from .process.calendar import WorkCalendar, has_library_data
    from .process.holiday_notice import apply_import, plan_import, read_notice
    from .state.layout import Layout

    layout = Layout.of(root)
    lang = layout.settings.lang
    t = lambda key, **kw: text(key, lang, **kw)  # noqa: E731
    if notice_file is None:
        _print_year(WorkCalendar.from_settings(layout.settings), year or _today(today, layout.settings).year, root, t)
        return
    notice = read_notice(notice_file, year, lang)
    plan = plan_import(layout, notice)
    console.print(t("calendar.import.title", year=notice.year), highlight=False, markup=False)
    if has_library_data(notice.year):
        console.print(t("calendar.import.library_has", year=notice.year), highlight=False, markup=False)
    for key, days in (("holiday_line", notice.holidays), ("workday_line", notice.workdays)):
        for name in dict.fromkeys(days.values()):
            console.print("  " + t(f"calendar.import.{key}", holiday=t(f"calendar.holiday.{name}"),
                                   days=_day_runs(sorted(d for d, n in days.items() if n == name), lang)),
                          highlight=False, markup=False)
    if plan.nothing:
        console.print(t("calendar.import.nothing", path=layout.config), highlight=False, markup=False)
        return
    console.print(t("calendar.import.adds", path=layout.config, holidays=len(plan.holidays),
                    workdays=len(plan.workdays), year=notice.year), highlight=False, markup=False, soft_wrap=True)
    if dry_run:
        console.print(t("calendar.import.dry_run"), highlight=False, markup=False)
        return
    if not yes:
        if not sys.stdin.isatty():
            err_console.print(t("calendar.import.not_tty"), highlight=False, markup=False)
            sys.exit(2)
        if not click.confirm(t("calendar.import.confirm"), default=True):
            console.print(t("calendar.import.cancelled"), highlight=False, markup=False)
            return
    now = dt.datetime.now(ZoneInfo(layout.settings["general.timezone"])).replace(tzinfo=None)
    backup = apply_import(layout, plan, now)
    console.print(t("calendar.import.written", path=layout.config, backup=backup), highlight=False, markup=False)
    _print_year(WorkCalendar.from_settings(Settings.load(root)), notice.year, root, t)


def _print_year(calendar, year: int, root: Path, t) -> None:
    """The year's days that differ from a Monday–Friday week, each with its source."""
    from rich.table import Table

    weekdays = t("calendar.weekday").split()
    console.print(t("calendar.title", year=year), highlight=False, markup=False, soft_wrap=True)
    table = Table()
    for key in ("day", "weekday", "kind", "holiday", "source"):
        table.add_column(escape(t(f"calendar.col.{key}")))
    for a in calendar.year(year):
        table.add_row(a.day.isoformat(), weekdays[a.day.weekday()],
                      t("calendar.kind.work" if a.workday else "calendar.kind.off"),
                      t(f"calendar.holiday.{a.name}") if a.name else "", escape(t(f"calendar.source.{a.source}")))
    console.print(table)
    if not calendar.has_data(year):
        console.print(f"[yellow]{escape(t('calendar.estimated', year=year, root=root))}[/]", highlight=False,
                      soft_wrap=True)
    elif year in calendar.official_years:
        console.print(t("calendar.official", year=year), highlight=False, markup=False)


def _day_runs(days: list, lang: str) -> str:
    """Days as runs: 01-01–01-04, 01-09."""
    runs: list[list] = []
    for day in days:
        if runs and (day - runs[-1][-1]).days == 1:
            runs[-1].append(day)
        else:
            runs.append([day])
    shown = [r[0].strftime("%m-%d") + (f"–{r[-1].strftime('%m-%d')}" if len(r) > 1 else "") for r in runs]
    return ("、" if lang == "zh" else ", ").join(shown)


def example_source() -> Path | None:
    """The bundled example folder when running from a checkout (pip install -e .)."""
    here = Path(__file__).resolve().parent.parent / "workbooks" / "example"
    return here if here.is_dir() else None


@main.command(help_key="help.demo")
@option("--dir", "target", key="opt.demo.dir", type=click.Path(file_okay=False, path_type=Path))
@handle_errors
def demo(target: Path | None) -> None:
    """Copy the example folder somewhere temporary and run the jobs on it with the demo's date.

    Example: coordxl demo
    """
    from . import demo as demo_mod

    demo_mod.run(target, example_source(), console)


if __name__ == "__main__":
    main()
