"""Where a folder's state lives and who runs its jobs: the folder's id, the one-time move of the ledger off
a network share, the owner record on the share, and folders only their owner can open.

A folder on a network file system keeps state.db, outbox/ and logs/ on the disk of the machine that runs
its jobs (:attr:`Layout.state`); its ``.coordxl/`` on the share keeps the job lock, the backups and
``owner.json``, naming that machine. A second machine would keep a second ledger and send every reminder
again, so its daily and weekly runs are refused until it is told ``--take-over``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import getpass
import json
import logging
import os
import secrets
import shutil
import sqlite3
import uuid
from pathlib import Path

from ..errors import CoordxlError, StateError
from ..messages import text
from ..platform_support import host_name, private_dir
from ..settings import Settings, add_setting_line
from . import runlog
from .layout import Layout, local_state_home
from .lock import FolderLock

log = logging.getLogger(__name__)

LEDGER_FILES = ("state.db", "state.db-wal", "state.db-shm", "state.db-journal")
MOVED_DIRS = ("outbox", "logs")
MARKER = "migrated-from.json"  # in the local state folder: the ledger there is the verified copy of this one


class NotOwner(CoordxlError):
    """Another machine (or another user on this one) runs this folder's jobs."""

    exit_code = 2


def settle(layout: Layout, take_over: bool = False, environ=None, now: dt.datetime | None = None,
           new_ledger: bool = False) -> tuple[Layout, list[str]]:
    """Make the folder ready for a job run from this machine; returns the layout to use and the lines to
    show the administrator (a folder id made, the ledger moved, the jobs taken over).

    Refused (:class:`NotOwner`) when the owner record names another machine, or another user whose ledger
    is elsewhere, unless ``take_over``. Nothing is changed before that check. Taking over from a machine
    whose ledger is on its own disk needs that ledger copied here first, or ``new_ledger``.
    """
    me = {"host": host_name(environ), "user": _user()}
    record = read_owner(layout)
    if record is not None and not take_over and not _may_run(record, me, layout):
        raise NotOwner(key="state.not_owner", host=record.get("host") or "?", user=record.get("user") or "?",
                       since=record.get("since") or "?", root=layout.root)
    notes = []
    if layout.network and not layout.settings["general.folder_id"] and not layout.settings["folders.state"]:
        folder_id = write_folder_id(layout)
        notes.append(text("state.folder_id_made", layout.settings.lang, id=folder_id, config=layout.config,
                          network=layout.network))
        layout = layout.reloaded()
    ensure_folders(layout)
    if layout.state != layout.shared:
        notes += migrate(layout)
    notes += claim(layout, record, me, take_over, now, new_ledger)
    return layout, notes


def check_owner(layout: Layout, environ=None) -> None:
    """Refuse (:class:`NotOwner`) when the owner record names someone else (the scheduler asks before each job:
    another machine may have taken the jobs over while it ran)."""
    record = read_owner(layout)
    me = {"host": host_name(environ), "user": _user()}
    if record is not None and not _may_run(record, me, layout):
        raise NotOwner(key="state.not_owner", host=record.get("host") or "?", user=record.get("user") or "?",
                       since=record.get("since") or "?", root=layout.root)


def _user() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError, ImportError):  # no user name in the environment or the password database
        return str(os.getuid()) if hasattr(os, "getuid") else "?"


def _same_host(a: str, b: str) -> bool:
    return (a or "").casefold() == (b or "").casefold()  # Windows' computer names know no case


def _may_run(record: dict, me: dict, layout: Layout) -> bool:
    """Another machine never; another user on the owner's machine only where the ledger is the same one
    (a local folder's .coordxl/, or a folders.state both use)."""
    if not _same_host(record.get("host", ""), me["host"]):
        return False
    return record.get("user") == me["user"] or record.get("state") == _where(layout)


def _where(layout: Layout) -> str:
    return str(layout.state.absolute())


def read_owner(layout: Layout) -> dict | None:
    """The owner record (.coordxl/owner.json), or None when there is none (or it cannot be read as one)."""
    try:
        record = json.loads(layout.owner.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and record.get("host") else None


def claim(layout: Layout, record: dict | None, me: dict, take_over: bool = False,
          now: dt.datetime | None = None, new_ledger: bool = False) -> list[str]:
    """Write this machine into the owner record where it is missing, outdated (our ledger moved) or taken
    over; the line saying a take-over happened."""
    mine = {**me, "state": _where(layout), "since": (now or dt.datetime.now()).isoformat(timespec="seconds")}
    if record is None:
        try:
            fd = os.open(layout.owner, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:  # another machine claimed it this very moment
            check_owner(layout)
            return []
        except OSError as exc:
            raise StateError(key="state.unusable", path=layout.shared, error=exc) from None
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(mine, fh, ensure_ascii=False, indent=1)
        log.info("owner record written: %s", mine)
        return []
    if _same_host(record.get("host", ""), me["host"]) and record.get("user") == me["user"]:
        if record.get("state") != mine["state"]:
            _write_owner(layout, {**mine, "since": record.get("since") or mine["since"]})
        return []
    if not take_over:
        return []  # another user on this machine, using the same ledger
    shared = str(layout.shared.absolute())
    elsewhere = record.get("state") not in (None, mine["state"], shared)
    values = dict(host=record.get("host"), user=record.get("user"), since=record.get("since"),
                  old=record.get("state"), db=layout.db)
    has_ledger = layout.db.exists() and layout.db.stat().st_size > 0
    if elsewhere and not has_ledger and not new_ledger:
        # a fresh ledger here would send today's reminders again: the old machine's comes first
        raise StateError(key="state.take_over_copy", **values)
    _write_owner(layout, mine)
    log.warning("jobs taken over from %s@%s (state %s)", record.get("user"), record.get("host"), record.get("state"))
    return [text("state.taken_over_ledger" if elsewhere and not has_ledger else "state.taken_over",
                 layout.settings.lang, **values)]


def _write_owner(layout: Layout, record: dict) -> None:
    """Replace the owner record in one rename: a reader sees the old record or the new, never half of one."""
    fresh = layout.owner.with_name(f"{layout.owner.name}.{os.getpid()}.{secrets.token_hex(4)}")
    try:
        fresh.write_text(json.dumps(record, ensure_ascii=False, indent=1), encoding="utf-8")
        os.replace(fresh, layout.owner)
    except OSError as exc:
        with contextlib.suppress(OSError):
            fresh.unlink()
        raise StateError(key="state.unusable", path=layout.shared, error=exc) from None


def write_folder_id(layout: Layout) -> str:
    """Give the folder an id: ``folder_id = "<uuid4>"`` added to [general] in coordxl.toml (with its comment),
    the rest of the file as it was. Written in one rename; the file keeps its encoding."""
    config = layout.config
    raw = config.read_bytes()
    bom = raw.startswith(b"\xef\xbb\xbf")
    try:
        encoding, body = "utf-8", raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        encoding, body = "gb18030", raw.decode("gb18030")
    folder_id = str(uuid.uuid4())
    from ..settings import SETTINGS
    setting = next(s for s in SETTINGS if s.name == "general.folder_id")
    note = setting.help_zh if layout.settings.lang == "zh" else setting.help_en
    updated = add_setting_line(body, "general.folder_id", folder_id, note)
    Settings.from_toml(updated, config)  # still a valid file, or nothing is written
    fresh = config.with_name(f".{config.name}.{os.getpid()}.tmp")
    try:
        fresh.write_bytes((b"\xef\xbb\xbf" if bom else b"") + updated.encode(encoding))
        with contextlib.suppress(OSError):
            shutil.copymode(config, fresh)
        os.replace(fresh, config)
    except OSError as exc:
        with contextlib.suppress(OSError):
            fresh.unlink()
        raise StateError(key="state.folder_id_unwritable", path=config, error=exc, id=folder_id) from None
    log.info("folder id %s written to %s", folder_id, config)
    return folder_id


def ensure_folders(layout: Layout) -> None:
    """.coordxl/ (hidden on Windows), its backups/ and the state folder, each only its owner can open."""
    try:
        private_dir(layout.shared, hidden=True)
        private_dir(layout.backups)
        if layout.state.parent == local_state_home():
            private_dir(layout.state.parent)
        private_dir(layout.state)
    except OSError as exc:
        raise StateError(key="state.unusable", path=layout.state, error=exc) from None


# --- moving the ledger off the share, once --------------------------------------------------------------


def pending(layout: Layout) -> list[Path]:
    """What of the state is still in .coordxl/ where it should be in the local state folder."""
    old = layout.shared
    names = [*LEDGER_FILES, *MOVED_DIRS]
    found = [old / n for n in names if (old / n).exists()]
    return found + sorted(old.glob("state.db.damaged-*"))


def migrate(layout: Layout) -> list[str]:
    """Move state.db (with its WAL), outbox/ and logs/ from .coordxl/ to the local state folder, holding
    the job lock; one line saying so. The ledger is copied with SQLite's backup, checked (integrity and
    each table's rows), put in place by one rename, and only then is the old one removed: a crash at any
    point leaves one complete ledger that the next run uses or moves."""
    if layout.state == layout.shared or not pending(layout):
        return []
    lang = layout.settings.lang
    lock = FolderLock(layout.shared, "job.lock")
    lock.acquire("migrate", wait=layout.settings["limits.lock_wait_seconds"])
    try:
        moved_ledger = _move_ledger(layout.shared / "state.db", layout.state)
        for name in MOVED_DIRS:
            source = layout.shared / name
            if source.is_dir():
                if name == "logs":  # this run's own log line goes on in the new place (opened there when next used)
                    (layout.state / name).mkdir(parents=True, exist_ok=True)
                    runlog.retarget(layout.shared, layout.state)
                _merge_tree(source, layout.state / name, keep_both=name == "logs")
                shutil.rmtree(source)
        for damaged in sorted(layout.shared.glob("state.db.damaged-*")):
            shutil.copy2(damaged, layout.state / damaged.name)
            damaged.unlink()
    except OSError as exc:
        raise StateError(key="state.move_failed", old=layout.shared, new=layout.state, error=exc) from None
    finally:
        lock.release()
    log.info("state moved from %s to %s (ledger: %s)", layout.shared, layout.state, moved_ledger)
    return [text("state.moved_network" if layout.network else "state.moved", lang, old=layout.shared, new=layout.state)]


def _merge_tree(source: Path, dest: Path, keep_both: bool) -> None:
    """Copy ``source`` into ``dest``. A file ``dest`` has already (a log this run writes) is kept, and with
    ``keep_both`` the old one goes beside it as <name>.from-share; otherwise it is the same file (an
    outbox file is named by its mail's key) copied before an interruption, and is copied again."""
    for path in sorted(source.rglob("*")):
        target = dest / path.relative_to(source)
        if path.is_dir():
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        if keep_both and target.exists():
            target = target.with_name(f"{target.name}.from-share")
        shutil.copy2(path, target)


def _move_ledger(old: Path, new_dir: Path) -> bool:
    """state.db (and its -wal, -shm) from ``old`` to ``new_dir``; False when there was none to move."""
    target = new_dir / "state.db"
    marker = new_dir / MARKER
    if not old.exists() or old.stat().st_size == 0:
        _remove_ledger(old)
        return False
    if target.exists() and target.stat().st_size > 0:
        if _marked(marker, old) and _check(target) is None:
            _remove_ledger(old)  # a move that was interrupted after its copy was in place
            return True
        raise StateError(key="state.two_ledgers", old=old, new=target)
    copy = new_dir / "state.db.migrating"
    with contextlib.suppress(FileNotFoundError):
        copy.unlink()
    source = sqlite3.connect(old)
    try:
        counts = _counts(source)
        dest = sqlite3.connect(copy)
        try:
            source.backup(dest)
            dest.execute("PRAGMA journal_mode = DELETE")  # the copy is one file until the store opens it again
        finally:
            dest.close()
    finally:
        source.close()
    problem = _check(copy, counts)
    if problem is not None:
        copy.unlink()
        raise StateError(key="state.move_unverified", old=old, new=target, problem=problem)
    with open(copy, "rb+") as fh:
        os.fsync(fh.fileno())
    marker.write_text(json.dumps({"from": str(old), "at": dt.datetime.now().isoformat(timespec="seconds")}),
                      encoding="utf-8")
    os.replace(copy, target)
    _remove_ledger(old)
    return True


def _marked(marker: Path, old: Path) -> bool:
    try:
        return json.loads(marker.read_text(encoding="utf-8")).get("from") == str(old)
    except (OSError, ValueError, AttributeError):
        return False


def _counts(db: sqlite3.Connection) -> dict[str, int]:
    tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    return {t: db.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}


def _check(path: Path, counts: dict[str, int] | None = None) -> str | None:
    """What is wrong with the ledger at ``path`` (integrity, or rows that differ from ``counts``), or None."""
    db = sqlite3.connect(path)
    try:
        result = db.execute("PRAGMA integrity_check").fetchone()[0]
        if result != "ok":
            return result
        if counts is not None and (found := _counts(db)) != counts:
            return f"rows {found} != {counts}"
    except sqlite3.DatabaseError as exc:
        return str(exc)
    finally:
        db.close()
    return None


def _remove_ledger(old: Path) -> None:
    for name in LEDGER_FILES:
        with contextlib.suppress(FileNotFoundError):
            (old.parent / name).unlink()
