"""The errors coordxl raises; the CLI turns each into a clean message and an exit code."""

import errno
import getpass
import os
import shutil
import sqlite3
from pathlib import Path

from .messages import text


class CoordxlError(Exception):
    """Something the user can fix; the message says how.

    Raised with ``key`` (and the values its text needs), the message comes from the message table:
    in English as ``str()`` (logs), in the folder's language through :meth:`say` (what the CLI prints).
    """

    exit_code = 1

    def __init__(self, message: str = "", *, key: str = "", **values: object):
        self.key, self.values = key, values
        super().__init__(message or (text(key, "en", **values) if key else ""))

    def say(self, lang: str) -> str:
        """The message in ``lang`` (zh or en)."""
        return text(self.key, lang, **self.values) if self.key else str(self)


class ConfigError(CoordxlError):
    """The settings or the command line are wrong."""

    exit_code = 2


class FolderError(CoordxlError):
    """The shared folder is missing, incomplete, or would be overwritten."""

    exit_code = 2


class RosterError(CoordxlError):
    """A name is not in the roster, or the roster cannot be read."""

    exit_code = 2


class StateError(CoordxlError):
    """The folder's state (.coordxl/: state.db, lock files) cannot be used as it is; the message says what to do."""

    exit_code = 2


class EnvironmentFault(CoordxlError):
    """The machine stopped the run: a permission, a read-only or a full disk; the message says what to fix."""

    exit_code = 2


_OS_FAULTS = {errno.EACCES: "env.permission", errno.EPERM: "env.permission", errno.EROFS: "env.readonly_fs",
              errno.ENOSPC: "env.disk_full", getattr(errno, "EDQUOT", errno.ENOSPC): "env.disk_full"}
_WINDOWS_IN_USE = {32, 33}  # ERROR_SHARING_VIOLATION, ERROR_LOCK_VIOLATION: open in Excel or a sync client
# SQLite's primary result codes (the low byte of an extended one): what its file and its disk refused
_SQLITE_FAULTS = {3: "env.state_readonly", 8: "env.state_readonly", 10: "env.state_io", 13: "env.state_full",
                  14: "env.state_io"}  # PERM, READONLY, IOERR, FULL, CANTOPEN


def environment_fault(exc: BaseException, db: Path) -> EnvironmentFault | None:
    """The environment fault behind ``exc`` (or one it was raised from), None when there is none:
    then it is coordxl's own. ``db``: the folder's state.db (what a SQLite error is about).

    >>> environment_fault(OSError(errno.ENOSPC, "No space left on device", "/srv/x.xlsx"), Path("state.db")).key
    'env.disk_full'
    >>> environment_fault(ValueError("a bug"), Path("state.db")) is None
    True
    >>> in_use = PermissionError(errno.EACCES, "The process cannot access the file", "weekly.xlsx")
    >>> in_use.winerror = 32  # what Windows says of a file Excel has open
    >>> environment_fault(in_use, Path("state.db")).key
    'env.in_use'
    """
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in _OS_FAULTS:
            path = Path(os.fsdecode(exc.filename)) if exc.filename is not None else Path(db).parent
            if getattr(exc, "winerror", None) in _WINDOWS_IN_USE:  # Windows: "access denied" to a file in use
                return EnvironmentFault(key="env.in_use", path=path, error=exc.strerror)
            if not os.path.lexists(path):  # a file it was making (a temp file): its folder is what refused
                path = path.parent
            return EnvironmentFault(key=_OS_FAULTS[exc.errno], path=path, error=exc.strerror,
                                    user=user_name())
        code = getattr(exc, "sqlite_errorcode", None) if isinstance(exc, sqlite3.Error) else None
        if code is not None and code & 0xFF in _SQLITE_FAULTS:
            key = _SQLITE_FAULTS[code & 0xFF]
            if key == "env.state_io" and _nearly_full(Path(db).parent):  # SQLite says I/O where the disk is full
                key = "env.state_full"
            return EnvironmentFault(key=key, path=db, folder=Path(db).parent,
                                    error=str(exc), user=user_name())
        exc = exc.__cause__  # not __context__: a bug in an except block stays coordxl's own fault
    return None


def administrators_error(exc: BaseException, db: Path) -> CoordxlError | None:
    """What the administrator is told for ``exc``: the environment fault behind it (also behind one of
    coordxl's own errors that carries the OS error as its ``error``: a full disk says so, not "must be a
    folder this user may write"), else coordxl's error itself; None for coordxl's own fault."""
    if isinstance(exc, CoordxlError):
        cause = exc.values.get("error")
        return (environment_fault(cause, db) if isinstance(cause, BaseException) else None) or exc
    return environment_fault(exc, db)


def _nearly_full(folder: Path) -> bool:
    try:
        return shutil.disk_usage(folder).free < 2**20
    except OSError:
        return False


def user_name() -> str:
    """Who runs coordxl, as the messages about permissions name them."""
    try:
        return getpass.getuser()
    except Exception:  # no name for this uid (a container): its number
        return str(os.getuid()) if hasattr(os, "getuid") else "?"
