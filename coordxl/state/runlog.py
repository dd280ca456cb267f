"""Every run on a folder logs to one rotating UTF-8 file in its state folder (``logs/coordxl.log``),
whoever starts it: a person, cron, Task Scheduler, systemd or ``coordxl schedule``."""

from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path

from ..errors import StateError
from ..messages import text
from ..platform_support import private_dir, visible

LOG_NAME = "coordxl.log"
MAX_BYTES = 1_000_000
BACKUPS = 5
FORMAT = "%(asctime)s %(levelname)s %(name)s [%(process)d]: %(message)s"

root_logger = logging.getLogger("coordxl")


class Formatter(logging.Formatter):
    """Log lines with every control character of a cell or a file name as its escape (\\x1b): a log read
    with `tail` or mailed by cron never clears a screen, retitles a window or hides a line.

    With ``lang``, a record that carries ``say`` (a message key and its values) is said from the message
    table in that language (what the administrator reads on the console); the log file keeps English."""

    def __init__(self, fmt: str | None = None, lang: str | None = None):
        super().__init__(fmt)
        self.lang = lang

    def format(self, record: logging.LogRecord) -> str:
        said = getattr(record, "say", None)
        if self.lang and said:
            key, values = said
            record = logging.makeLogRecord({**record.__dict__, "msg": text(key, self.lang, **values), "args": ()})
        return visible(super().format(record))


def log_path(state: Path) -> Path:
    """Where a folder's runs log, its state folder given."""
    return Path(state) / "logs" / LOG_NAME


def attach(state: Path, level: int = logging.INFO) -> logging.Handler:
    """Log ``coordxl.*`` at ``level`` and above to the folder's log file (5 × 1 MB, rotated); the
    handler already attached for that file when there is one. :func:`detach` ends it."""
    path = log_path(state)
    for handler in root_logger.handlers:
        if isinstance(handler, logging.handlers.RotatingFileHandler) and Path(handler.baseFilename) == path.absolute():
            return handler
    try:
        private_dir(state)
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = _FileHandler(path, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8")
    except OSError as exc:
        raise StateError(key="state.unusable", path=state, error=exc) from None
    handler.setFormatter(Formatter(FORMAT))
    handler.setLevel(level)
    root_logger.addHandler(handler)
    _lower_to(min(level, *(h.level for h in root_logger.handlers)))
    return handler


def retarget(old_state: Path, new_state: Path) -> None:
    """This process's handler for ``old_state``'s log writes to ``new_state``'s from its next line on (the
    log folder is being moved: the file is closed first, which Windows needs to move it)."""
    old, new = log_path(old_state).absolute(), log_path(new_state).absolute()
    for handler in root_logger.handlers:
        if isinstance(handler, logging.handlers.RotatingFileHandler) and Path(handler.baseFilename) == old:
            handler.acquire()
            try:
                handler.close()
                handler.baseFilename = str(new)  # reopened there by the next record
            finally:
                handler.release()


class _FileHandler(logging.handlers.RotatingFileHandler):
    """The log file; a line it cannot write (the disk filled up, the folder was made read-only) is lost
    without Python's '--- Logging error ---' traceback on stderr: the run's own one line says what is wrong."""

    def handleError(self, record: logging.LogRecord) -> None:
        pass

    def close(self) -> None:
        try:
            super().close()
        except OSError:  # the last lines could not be flushed: lost like those above
            pass


def attach_console(level: int, stream=None, fmt: str = "%(message)s", lang: str | None = None) -> logging.Handler:
    """Log ``coordxl.*`` at ``level`` and above to stderr (as Python's last-resort handler would, by default
    from WARNING), but for records marked ``file_only`` (what the command prints in its own words anyway)."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(Formatter(fmt, lang))
    handler.addFilter(lambda record: not getattr(record, "file_only", False))
    handler.setLevel(level)
    root_logger.addHandler(handler)
    _lower_to(min(h.level for h in root_logger.handlers))
    return handler


FILE_ONLY = {"file_only": True}


def detach(*handlers: logging.Handler | None) -> None:
    for handler in handlers:
        if handler is not None and handler in root_logger.handlers:
            root_logger.removeHandler(handler)
            handler.close()
    if not root_logger.handlers:
        root_logger.setLevel(logging.NOTSET)


def _lower_to(level: int) -> None:
    root_logger.setLevel(level or logging.NOTSET)
