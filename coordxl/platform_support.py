"""What differs between Windows, Linux and macOS, in one place: console encodings, process liveness,
how worker processes start, whether a folder is on a network file system, private and hidden folders.

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


# --- replacing a file another program holds ---------------------------------------------------------
# Windows refuses to replace a file that another program has open without FILE_SHARE_DELETE: Excel with
# the workbook open, Defender or the search indexer reading it just after a save, a sync client uploading
# it. os.replace then raises PermissionError with winerror 5 (access denied) or 32/33 (sharing or lock
# violation). A scanner lets go within a second, so the replace is tried again briefly; a workbook still
# held is the same as one open in Excel: not written this run (W-LOCKED), tried again next run.

ERROR_SHARING_VIOLATION = 32
ERROR_LOCK_VIOLATION = 33
REPLACE_WAITS = (0.2, 0.5, 1.0)  # seconds between the tries
_os_replace = os.replace  # the system call (tests inject Windows' refusal here)


def replace_refused(exc: OSError) -> bool:
    """Is this Windows refusing a replace because another program holds the file?"""
    return isinstance(exc, PermissionError) and getattr(exc, "winerror", None) in (
        ERROR_ACCESS_DENIED, ERROR_SHARING_VIOLATION, ERROR_LOCK_VIOLATION)


def replace_file(src, dst, sleep=None, waits: tuple[float, ...] | None = None) -> bool:
    """os.replace(src, dst); False when another program still holds ``dst`` after a few short waits
    (``src`` is left for the caller to remove). Any other error is raised as it is."""
    import time

    sleep = sleep or time.sleep
    for wait in (*(REPLACE_WAITS if waits is None else waits), None):
        try:
            _os_replace(src, dst)
            return True
        except OSError as exc:
            if not replace_refused(exc):
                raise
            if wait is None:
                return False
            sleep(wait)
    return False


# --- path lengths ---------------------------------------------------------------------------------------
# Windows' classic MAX_PATH is 260 UTF-16 units, the terminating NUL included; longer paths need a
# registry switch most company PCs do not have. A share such as \\fileserver\共享\部门\协调 plus
# .coordxl\backups\<workbook>\<stamp>-<workbook> passes it quickly. Elsewhere a name may have 255 bytes.

MAX_PATH = 260
NAME_MAX = 255


def path_units(path) -> int:
    """The length of a path as Windows counts it (UTF-16 code units)."""
    return len(str(path).encode("utf-16-le")) // 2


def name_room(folder, platform: str | None = None) -> int:
    """How long (in UTF-16 units) everything after ``folder``'s separator may be so that the whole path
    stays under MAX_PATH on Windows; elsewhere NAME_MAX."""
    if (platform or sys.platform) != "win32":
        return NAME_MAX
    return MAX_PATH - 1 - path_units(folder) - 1


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


# --- is a folder on a network file system ------------------------------------------------------------
# SQLite's WAL does not work over a network file system and its locking there is unreliable, so a folder
# on one keeps its ledger on a local disk. Each platform answers differently: Windows by the path (UNC)
# or the drive's type, Linux by the mount table, macOS by `mount`'s list (a network mount lacks "local").

DRIVE_REMOTE = 4  # GetDriveTypeW: a mapped network drive
NETWORK_TYPES = {
    "cifs", "smb3", "smbfs", "smb2", "nfs", "nfs4", "afs", "ceph", "9p", "davfs", "fuse.davfs", "fuse.sshfs",
    "sshfs", "fuse.smbnetfs", "fuse.glusterfs", "glusterfs", "lustre", "ncpfs", "coda", "fuse.rclone",
    "fuse.gvfsd-fuse", "afpfs", "webdav", "fuse.s3fs", "vboxsf", "fuse.cifs",
}


def network_filesystem(path, platform: str | None = None, mountinfo: str | None = None, kernel32=None,
                       mount_output: str | None = None) -> str | None:
    r"""What kind of network file system ``path`` is on ("cifs", "nfs4", "UNC", "mapped drive", …), or None
    when it is on a local disk (or cannot be told). The platform's answers are arguments for tests.

    >>> network_filesystem(r"\\fileserver\共享\协调"), network_filesystem(r"\\?\UNC\fs\share")
    ('UNC', 'UNC')
    >>> network_filesystem("/srv/x", "linux", "22 1 0:21 / /srv rw - nfs4 fs:/export rw")
    'nfs4'
    """
    platform = platform or sys.platform
    text = str(path)
    if text.startswith("\\\\?\\UNC\\") or (text.startswith("\\\\") and not text.startswith(("\\\\?\\", "\\\\.\\"))):
        return "UNC"
    if platform == "win32":
        return _windows_network(text, kernel32)
    if platform == "darwin":
        return _mac_network(text, mount_output)
    return _linux_network(text, mountinfo)


def _windows_network(text: str, kernel32=None) -> str | None:
    import ntpath

    if text.startswith("//") and not text.startswith(("//?/", "//./")):
        return "UNC"
    if text.startswith(("\\\\?\\", "//?/")):
        text = text[4:]
    drive = ntpath.splitdrive(text if ntpath.splitdrive(text)[0] else os.path.abspath(text))[0]
    if len(drive) != 2 or drive[1] != ":":
        return None
    if kernel32 is None:
        import ctypes
        kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
    return "mapped drive" if kernel32.GetDriveTypeW(f"{drive.upper()}\\") == DRIVE_REMOTE else None


def _unescape_mount(field: str) -> str:
    """A mount point as /proc/self/mountinfo writes it (space as \\040, tab \\011, newline \\012, \\ \\134)."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def _inside(path: str, mount_point: str) -> bool:
    return path == mount_point or mount_point == "/" or path.startswith(mount_point.rstrip("/") + "/")


def _linux_network(text: str, mountinfo: str | None = None) -> str | None:
    if mountinfo is None:
        try:
            with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as fh:
                mountinfo = fh.read()
        except OSError:
            return None
        text = os.path.realpath(text)
    best, kind = "", None
    for line in mountinfo.splitlines():
        fields = line.split()
        if "-" not in fields or len(fields) < 5:
            continue
        mount_point = _unescape_mount(fields[4])
        fstype = fields[fields.index("-") + 1] if fields.index("-") + 1 < len(fields) else ""
        # the longest mount point holding the path; a later line for the same point mounts over an earlier one
        if _inside(text, mount_point) and len(mount_point) >= len(best):
            best, kind = mount_point, fstype
    return _network_kind(kind)


def _network_kind(fstype: str | None) -> str | None:
    if not fstype:
        return None
    if fstype in NETWORK_TYPES or fstype.split(".")[0] in NETWORK_TYPES:
        return fstype
    return None


_MAC_MOUNT = re.compile(r"^(?P<source>.+?) on (?P<point>/.*?) \((?P<options>[^()]*)\)$")


def _mac_network(text: str, mount_output: str | None = None) -> str | None:
    if mount_output is None:
        import subprocess
        try:
            mount_output = subprocess.run(["/sbin/mount"], capture_output=True, text=True, timeout=10).stdout
        except (OSError, subprocess.SubprocessError):
            return None
        text = os.path.realpath(text)
    best, options = "", []
    for line in mount_output.splitlines():
        found = _MAC_MOUNT.match(line.strip())
        if found and _inside(text, found["point"]) and len(found["point"]) >= len(best):
            best, options = found["point"], [o.strip() for o in found["options"].split(",")]
    if not options or "local" in options or options[0] in ("autofs", "devfs", "nullfs"):
        return None
    return options[0] or "network"


# --- who runs the jobs, and keeping coordxl's folders private ------------------------------------------

FILE_ATTRIBUTE_HIDDEN = 0x2
INVALID_FILE_ATTRIBUTES = 0xFFFFFFFF


def host_name(environ=None) -> str:
    """This machine's name as the owner record and the refusal name it: COORDXL_HOSTNAME where set (a
    container or cluster node whose name changes; the tests' second host), else the system's."""
    import socket

    environ = os.environ if environ is None else environ
    return environ.get("COORDXL_HOSTNAME") or socket.gethostname()


def private_dir(path, hidden: bool = False, platform: str | None = None, kernel32=None) -> None:
    """Make (or keep) ``path`` a folder only its owner can open: mode 0o700 on POSIX whatever the umask
    (its parents as the umask makes them); on Windows, with ``hidden``, the hidden attribute (Explorer does
    not show it; the share's ACL decides who may open it). A folder this user may not change stays as it is."""
    from pathlib import Path

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    if (platform or sys.platform) == "win32":
        if hidden:
            hide(path, kernel32)
        return
    try:
        if (path.stat().st_mode & 0o777) != 0o700:
            os.chmod(path, 0o700)
    except OSError:  # another user's folder (or a share that keeps its own modes): left as it is
        pass


def hide(path, kernel32=None) -> bool:
    """Set the Windows hidden attribute on ``path``; False when Windows refused."""
    if kernel32 is None:
        import ctypes
        kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
    attributes = kernel32.GetFileAttributesW(str(path))
    if attributes == INVALID_FILE_ATTRIBUTES:
        return False
    if attributes & FILE_ATTRIBUTE_HIDDEN:
        return True
    return bool(kernel32.SetFileAttributesW(str(path), attributes | FILE_ATTRIBUTE_HIDDEN))
