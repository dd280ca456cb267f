"""What differs between Windows, Linux and macOS, in one place: console encodings, process liveness,
how worker processes start.

Each function takes the platform's behaviour as arguments with the real one as default, so every
branch runs in the tests on any machine (the Windows liveness path with a fake kernel32).
"""

from __future__ import annotations

import codecs
import multiprocessing
import os
import re
import sys
import threading

# --- printing in any console or file encoding ----------------------------------------------------
# A Chinese Windows writes redirected output (Task Scheduler, `> daily.log`) in GBK, a C locale in
# ASCII. A character the encoding lacks must never stop a run after its work: a symbol becomes the
# first stand-in the encoding has, anything else a backslash escape (the text stays recoverable).

FALLBACKS = {
    "✘": ("×", "x"), "✔": ("√", "v"), "✓": ("√", "v"), "✗": ("×", "x"), "✉": ("*",), "•": ("·", "*"),
    "›": (">",), "“": ('"',), "”": ('"',), "‘": ("'",), "’": ("'",), "×": ("x",), "√": ("v",),
    "→": ("->",), "←": ("<-",), "—": ("--",), "–": ("-",), "…": ("...",), "·": ("*",), "　": (" ",),
}
ERRORS = "coordxl-fallback"


def _fallback(exc: UnicodeError) -> tuple[str, int]:
    if not isinstance(exc, UnicodeEncodeError):
        raise exc
    out = []
    for ch in exc.object[exc.start:exc.end]:
        for candidate in FALLBACKS.get(ch, ()):
            try:
                candidate.encode(exc.encoding)
            except (UnicodeEncodeError, LookupError):
                continue
            out.append(candidate)
            break
        else:
            out.append(ch.encode("ascii", "backslashreplace").decode("ascii"))
    return "".join(out), exc.end


codecs.register_error(ERRORS, _fallback)


def can_encode(text: str, stream) -> bool:
    """Can ``stream`` write ``text`` exactly (no stand-ins)?"""
    try:
        text.encode(getattr(stream, "encoding", None) or "utf-8")
    except (UnicodeEncodeError, LookupError):
        return False
    return True


# Characters a terminal acts on instead of showing: C0 but tab and newline (ESC starts the sequences that
# clear a screen or set a window title; CR and BS overwrite what was printed), DEL, C1 (0x9b is a
# one-byte ESC [), and the bidirectional controls and separators that make a line read otherwise.
CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def visible(text: str) -> str:
    r"""Text for a terminal or a log: each control character shown as its escape, never sent raw
    (cell text and file names are anyone's; Excel's ``_x001B_`` in a cell reads as ESC).

    >>> visible("T03\x1b[2J\u202eevil\r")
    'T03\\x1b[2J\\u202eevil\\r'
    """
    return CONTROLS.sub(_escape, text) if CONTROLS.search(text) else text


def _escape(match: re.Match) -> str:
    return match.group().encode("unicode_escape").decode("ascii")


def tolerant_streams(streams=None) -> None:
    """Make stdout and stderr write what their encoding lacks as stand-ins instead of raising."""
    for stream in streams if streams is not None else (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is None:
            continue
        try:
            reconfigure(errors=ERRORS)
        except (ValueError, OSError):  # closed, or a stream that cannot change now: left as it is
            continue


# --- is a process alive ----------------------------------------------------------------------------
# POSIX: signal 0 checks without signalling. Windows has no signal 0: os.kill(pid, 0) there sends
# CTRL_C_EVENT to a process group, so it must never be called; the Windows API answers instead.

PROCESS_QUERY_LIMITED_INFORMATION = 0x1000
STILL_ACTIVE = 259
ERROR_ACCESS_DENIED = 5


def pid_alive(pid: int, platform: str | None = None, kernel32=None, last_error=None, kill=None) -> bool:
    """Does a process with this PID run on this machine? (``platform`` and the system calls are for tests.)

    >>> pid_alive(os.getpid()), pid_alive(0)
    (True, False)
    """
    if pid <= 0:
        return False
    if (platform or sys.platform) == "win32":
        return _windows_alive(pid, kernel32, last_error)
    return _posix_alive(pid, kill or os.kill)


def _posix_alive(pid: int, kill) -> bool:
    try:
        kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    except (OverflowError, ValueError):  # not a PID this system can have
        return False
    return True


def _windows_alive(pid: int, kernel32=None, last_error=None) -> bool:
    import ctypes

    if kernel32 is None:
        kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
        last_error = ctypes.get_last_error
    handle = kernel32.OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, False, pid)
    if not handle:
        # no such process (ERROR_INVALID_PARAMETER), or one this user may not open: it exists
        return last_error() == ERROR_ACCESS_DENIED
    try:
        code = ctypes.c_ulong(0)
        if not kernel32.GetExitCodeProcess(handle, ctypes.byref(code)):
            return True  # it could be opened, so it exists; cannot say more
        # a process that ended with exit code 259 reads as running; no coordxl process exits so
        return code.value == STILL_ACTIVE
    finally:
        kernel32.CloseHandle(handle)


# --- starting worker processes ---------------------------------------------------------------------


def process_context(preload: tuple[str, ...] = (), platform: str | None = None, threads: int | None = None,
                    methods: list[str] | None = None):
    """The multiprocessing context for coordxl's workers.

    fork where it is safe (a worker starts at once with everything imported): never on macOS (CPython
    defaults to spawn there: system libraries break in a forked child), never while another thread runs
    (the lock's heartbeat, an executor's manager: a forked child can inherit a lock held by a thread
    that does not exist there; Python 3.12+ warns). Then forkserver where there is one (the workers
    fork from a clean single-threaded server that imported ``preload`` once), else spawn (Windows).
    """
    platform = platform or sys.platform
    threads = threading.active_count() if threads is None else threads
    methods = multiprocessing.get_all_start_methods() if methods is None else methods
    if platform != "darwin" and threads == 1 and "fork" in methods:
        return multiprocessing.get_context("fork")
    if platform != "darwin" and "forkserver" in methods:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(list(preload))
        return context
    return multiprocessing.get_context("spawn")
