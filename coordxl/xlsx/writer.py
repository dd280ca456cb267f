"""Write cells (the 预警 flags, or any :class:`SheetPatch`) into a staff workbook losslessly, or not at all.

A full openpyxl load + save drops images, shapes, x14 validations, slicers and
every cached formula result. So only one worksheet XML part is patched
(:mod:`.splice`), and every other zip part is copied as stored (:mod:`.zipcopy`).
It never touches a formula cell.

The protocol around the patch (:func:`write_patch`): skip when an owner or
lock file is beside the workbook (W-LOCKED) or the file changed since it was
read (W-CHANGED); keep the previous version in .coordxl/backups/ (a hard link to
it, or a copy where there are none), write a temp file in the same folder, fsync,
atomically replace; then read the file
back from the disk and check that every other zip part is byte-identical, that
the patched sheet is byte-identical outside the patched cells, and that each of
them holds what was meant (:mod:`.verify`); else restore the backup (W-LOSSY).
The splice is proved by its own record before anything is written (a splice
that would change more than its cells is refused: W-LOSSY, nothing touched).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import io
import os
import re
import shutil
import sys
import zipfile
from dataclasses import dataclass
from dataclasses import field as dc_field
from pathlib import Path
from typing import Callable

from ..findings import Finding, finding
from ..platform_support import name_room, path_units, replace_file
from ..state.layout import fit_bytes, fit_units
from .splice import Edit, FormulaCell, Styled, patch_sheet_xml
from .verify import proof, read_back
from .xlsxparts import Fingerprint, PatchError, col_number, owner_files, sheet_part, shown
from .zipcopy import _rezip, changed_parts

__all__ = ["FlagWrite", "FormulaCell", "SheetPatch", "Styled", "WriteResult", "backup_names", "patch_sheet_xml",
           "patch_workbook_bytes", "write_flags", "write_patch"]


def patch_workbook_bytes(data: bytes, sheet_name: str, cells: dict[tuple[int, int], object],
                         styled: frozenset[tuple[int, int]] = frozenset()) -> bytes:
    """A new .xlsx with one sheet part patched and every other part's content unchanged: copied as
    stored, byte for byte (:func:`_rezip`), or, for a zip that reader does not take, re-written."""
    return _spliced(data, sheet_name, cells, styled).patched


@dataclass
class _Spliced:
    part: str  # the sheet's zip path
    before: bytes  # its XML as read
    content: bytes  # its XML patched
    edits: list[Edit]  # what the splice changed, for the proof
    patched: bytes  # the new file


def _spliced(data: bytes, sheet_name: str, cells: dict[tuple[int, int], object],
             styled: frozenset[tuple[int, int]] = frozenset()) -> _Spliced:
    with zipfile.ZipFile(io.BytesIO(data)) as zin:
        part = sheet_part(zin, sheet_name)
        before, edits = zin.read(part), []
        content = patch_sheet_xml(before, cells, styled, edits=edits)
        rezipped = _rezip(data, part, content)
        if rezipped is not None:
            return _Spliced(part, before, content, edits, rezipped)
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as zout:
            for info in zin.infolist():
                if info.filename == part:
                    zout.writestr(info, content, compress_type=zipfile.ZIP_DEFLATED, compresslevel=1)
                else:
                    zout.writestr(info, zin.read(info), compress_type=info.compress_type)
    return _Spliced(part, before, content, edits, out.getvalue())


@dataclass
class SheetPatch:
    """Cells to set in one sheet of one workbook: (row, column) → value (text, number, date,
    :class:`Styled`; '' clears), written by :func:`write_patch`'s protocol."""

    path: Path
    display: str
    sheet: str
    cells: dict[tuple[int, int], object]
    fingerprint: Fingerprint | None
    styled: frozenset[tuple[int, int]] = frozenset()  # new cells that take the style on their left


@dataclass
class FlagWrite:
    """The flags one workbook should show: row number → text, in one sheet's column (a SheetPatch)."""

    path: Path
    display: str
    sheet: str
    column: int
    header_row: int
    rows: dict[int, str]
    fingerprint: Fingerprint | None
    add_header: str = ""  # the 预警 header text when the column is new

    def cells(self) -> dict[int, str]:
        cells = dict(self.rows)
        if self.add_header:
            cells[self.header_row] = self.add_header
        return cells

    def patch(self) -> SheetPatch:
        styled = frozenset({(self.header_row, self.column)}) if self.add_header else frozenset()
        return SheetPatch(self.path, self.display, self.sheet, {(r, self.column): v for r, v in self.cells().items()},
                          self.fingerprint, styled)


@dataclass
class WriteResult:
    written: bool = False
    findings: list[Finding] = dc_field(default_factory=list)
    backup: Path | None = None
    reason: str = ""
    formula_cells: list[tuple[int, int]] = dc_field(default_factory=list)  # (row, col) left alone: formulas

    @property
    def formula_rows(self) -> list[int]:
        return [r for r, _ in self.formula_cells]


Hook = Callable[[str, Path], None]


def _fsync_write(path: Path, data: bytes, mode: int = 0o666) -> None:
    """Write a new file (never an existing one) to disk; ``mode`` as the umask allows (a backup: 0o600)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), mode)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def _keep(path: Path, backup: Path, original: bytes, st: os.stat_result) -> bool:
    """Keep the version about to be replaced as ``backup``: a hard link to the workbook's file where the file
    system has them (the atomic replace then leaves that file to the backup alone: nothing is copied), else
    a copy of ``original`` written and synced. True when linked."""
    try:
        os.link(path, backup)
    except (OSError, NotImplementedError):  # no hard links here (some shares, FAT): a copy
        _fsync_write(backup, original, 0o600)
        return False
    seen = os.stat(backup)
    if (seen.st_ino, seen.st_dev, seen.st_size, seen.st_mtime_ns) != (st.st_ino, st.st_dev, st.st_size, st.st_mtime_ns):
        backup.unlink()  # saved by someone since it was read: the backup is what was read
        _fsync_write(backup, original, 0o600)
        return False
    try:  # its data is the workbook's, most likely on the disk already; the new name must be too
        fd = os.open(backup, os.O_RDONLY | getattr(os, "O_BINARY", 0))
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        pass
    _fsync_dir(backup.parent)
    return True


def _private(backup: Path) -> None:
    try:
        os.chmod(backup, 0o600)
    except OSError:  # another user's file (coordxl is not root): the backups folder itself is private
        pass


def _rotate(folder: Path, stem: str, keep: int) -> None:
    """Keep the newest ``keep`` backups of a workbook (names end with ``-<stem>``; a name is not a pattern)."""
    backups = sorted(folder / name for name in os.listdir(folder) if name.endswith(f"-{stem}"))
    for old in backups[:-keep] if keep > 0 else backups:
        old.unlink()


STAMP_UNITS = len("20260820-090000-123456.99-coordxl-")  # what goes before the name in a backup's file name


def backup_names(backups: Path, path: Path, platform: str | None = None) -> tuple[Path, str]:
    """A workbook's backup folder and the name its copies end with (``<stamp>-<name>``).

    The folder is the workbook's stem and a hash of its path; both names are cut to 150/200 bytes (a
    name's limit is 255), and on Windows so that every backup's whole path, stamp included, stays under
    MAX_PATH on a deep share (the room goes a third to the folder, the rest to the file).
    """
    digest = hashlib.sha1(os.fsencode(path.resolve())).hexdigest()[:8]
    stem, name = fit_bytes(shown(path.stem), 150), fit_bytes(shown(path.name), 200)
    if (platform or sys.platform) == "win32":
        room = name_room(backups, platform) - 1 - STAMP_UNITS  # folder, separator, stamp, name
        stem_room = min(path_units(stem), max(4, room // 3 - 9))
        stem = fit_units(stem, stem_room) if room // 3 > 9 + 4 else ""
        name = fit_units(name, room - path_units(stem) - 9)
    return backups / (f"{stem}-{digest}" if stem else digest), name


def write_flags(job: FlagWrite, backups: Path, keep: int = 10, now: dt.datetime | None = None,
                hook: Hook | None = None) -> WriteResult:
    """Patch the flag cells into the workbook following the write protocol. Never raises on bad files."""
    return write_patch(job.patch(), backups, keep, now, hook)


class Refused(Exception):
    """The write protocol stops: its finding ``code`` (None: the findings are already told, or there is
    none to tell) with the finding's values, and the ``reason`` a caller reads in :attr:`WriteResult.reason`."""

    def __init__(self, code: str | None, reason: str, variant: str = "", **params):
        super().__init__(code, reason)
        self.code, self.reason, self.variant, self.params = code, reason, variant, params


@dataclass
class _Write:
    """One run of the protocol on one workbook: what each step found, for the steps after it."""

    job: SheetPatch
    result: WriteResult
    path: Path = Path()  # the file patched (a link in 进行中/ followed to it)
    original: bytes = b""
    st: os.stat_result | None = None
    current: Fingerprint | None = None
    spliced: _Spliced | None = None  # the sheet as read and patched, the new file's bytes
    folder: Path = Path()
    keep_name: str = ""
    stamp: str = ""
    backup: Path = Path()
    linked: bool = False
    ours: bytes = b""  # exactly what was put in place


def write_patch(job: SheetPatch, backups: Path, keep: int = 10, now: dt.datetime | None = None,
                hook: Hook | None = None) -> WriteResult:
    """Set the patch's cells following the write protocol: locks, fingerprint, backup, temp file and
    atomic replace, read back and compare, restore on any loss. Never raises on bad files.

    Each step either passes or stops the write with one :class:`Refused` (its finding and reason)."""
    w = _Write(job, WriteResult())
    try:
        _check_format(w)
        _check_locks(w)
        _recheck_fingerprint(w)
        _splice(w)
        _verify(w)
        _keep_backup(w, backups, now)
        _replace(w, hook)
        _read_back(w)
    except Refused as refused:
        if refused.code:
            w.result.findings.append(finding(refused.code, w.job.display, w.job.sheet, variant=refused.variant,
                                             **refused.params))
        w.result.reason = refused.reason
        return w.result
    _rotate(w.folder, w.keep_name, keep)
    w.result.written = True
    w.result.backup = w.backup
    return w.result


def _check_format(w: _Write) -> None:
    if w.job.path.suffix.lower() not in (".xlsx", ".xlsm"):
        raise Refused(None, "format")
    # a workbook in 进行中/ may be a link to a department's own file: that file is patched, in its own
    # folder, and the link stays a link (replacing the link would leave staff editing a stale original)
    w.path = Path(os.path.realpath(w.job.path))


def _check_locks(w: _Write) -> None:
    """Never a workbook that is open: Excel's owner file or LibreOffice's lock beside it or its link."""
    job, path = w.job, w.path
    if owners := owner_files(job.path) + (owner_files(path) if path != job.path else []):
        raise Refused("W-LOCKED", "locked", owner=owners[0].name)


def _recheck_fingerprint(w: _Write) -> None:
    """The file as it is now, writable by us and its owner, and still the one that was read."""
    try:
        w.original = w.path.read_bytes()
        w.st = os.stat(w.path)
    except OSError as exc:
        raise Refused("W-CHANGED", f"unreadable: {exc}") from None
    w.current = Fingerprint(w.st.st_size, w.st.st_mtime_ns, hashlib.sha256(w.original).hexdigest())
    if not w.st.st_mode & 0o222:  # marked read-only by its owner: never written
        raise Refused("W-READONLY", "readonly")
    if not os.access(w.path.parent, os.W_OK | os.X_OK):  # before a backup is made that could never be used
        raise Refused("W-PERMISSION", "permission", variant=".folder")
    if w.job.fingerprint is not None and w.current != w.job.fingerprint:
        raise Refused("W-CHANGED", "changed")


def _splice(w: _Write) -> None:
    """The new file's bytes; a formula blocks only its own cell (W-FORMULA each), a layout the patch does
    not handle blocks the write (W-LOSSY)."""
    try:
        while True:
            try:
                w.spliced = _spliced(w.original, w.job.sheet, w.job.cells, w.job.styled)
                return
            except FormulaCell as exc:
                w.result.findings.append(finding("W-FORMULA", w.job.display, w.job.sheet, exc.ref))
                letters = re.match(r"[A-Z]+", exc.ref).group(0)
                blocked = (int(exc.ref[len(letters):]), col_number(letters))
                w.result.formula_cells.append(blocked)
                w.job = dataclasses.replace(w.job, cells={k: v for k, v in w.job.cells.items() if k != blocked})
                if not w.job.cells:
                    raise Refused(None, "formula") from None
    except (PatchError, zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise Refused("W-LOSSY", f"unsupported: {exc}", variant=".unwritten", detail=str(exc)[:200]) from None


def _verify(w: _Write) -> None:
    """Before anything is written: the patched sheet is the original changed by exactly the splice's
    record, each change one the patch makes (:func:`.verify.proof`); else nothing is written (W-LOSSY)."""
    s = w.spliced
    try:
        problems = proof(s.before, s.content, s.edits, w.job.cells, w.job.sheet)
    except Exception as exc:  # a sheet the proof cannot follow is not written either
        problems = [f"{w.job.sheet}: {type(exc).__name__}"]
    if problems:
        raise Refused("W-LOSSY", "lossy", variant=".unwritten", detail=", ".join(problems[:5]))


def _keep_backup(w: _Write, backups: Path, now: dt.datetime | None) -> None:
    """The version about to be replaced, kept under the backups folder (see :func:`_keep`)."""
    w.stamp = (now or dt.datetime.now()).strftime("%Y%m%d-%H%M%S-%f")
    w.folder, w.keep_name = backup_names(backups, w.path)
    w.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    w.backup = w.folder / f"{w.stamp}-{w.keep_name}"
    n = 1
    while w.backup.exists():  # two runs in the same instant (or one fixed clock): keep both
        w.backup = w.folder / f"{w.stamp}.{n}-{w.keep_name}"
        n += 1
    w.linked = _keep(w.path, w.backup, w.original, w.st)


def _replace(w: _Write, hook: Hook | None) -> None:
    """A temp file in the same folder, synced, then one last look (fingerprint, locks, owner) and the
    atomic replace; a backup that is only a link to the workbook goes when the replace does not happen."""
    path = w.path
    tmp = path.with_name(f".~coordxl-{os.getpid()}-{w.folder.name[-8:]}.tmp")  # no longer than a short name
    replaced = False
    try:
        _fsync_write(tmp, w.spliced.patched)
        if hook:
            hook("before_replace", tmp)
        # last look: someone may have saved the file while we were patching
        if Fingerprint.of(path) != w.current:
            raise Refused("W-CHANGED", "changed")
        if owner_files(path):
            raise Refused("W-LOCKED", "locked", owner=owner_files(path)[0].name)
        shutil.copymode(path, tmp)  # permissions only: the new mtime must say the file changed
        if not _same_owner(path, tmp, w.st):  # the colleague must still own (and be able to save) their file
            raise Refused("W-PERMISSION", "permission")
        w.ours = tmp.read_bytes()  # exactly what goes in place, to tell our file from a later save
        if not replace_file(tmp, path):  # Windows: Excel, a virus scanner, the indexer or a sync client holds it
            raise Refused("W-LOCKED", "locked", variant="-HELD")
        replaced = True
    finally:
        if tmp.exists():
            tmp.unlink()
        if w.linked and not replaced:  # that link is the workbook itself, not a backup of it
            w.backup.unlink(missing_ok=True)
    _fsync_dir(path.parent)
    if w.linked:
        _private(w.backup)  # the version replaced, now the backup's alone: for the administrator only
    if hook:
        hook("after_replace", path)


def _read_back(w: _Write) -> None:
    """The file read back from the disk: ours, every other part byte-identical in content, the patched sheet
    byte-identical outside its cells, and each cell holding what was meant — never report a write that was
    not. The sheet must be byte for byte what the splice made and :func:`_verify` proved (where it is
    not, the original and the file read back are compared cell by cell to say where). A loss restores the
    backup (W-LOSSY); a later save by someone else stays (W-CHANGED)."""
    written = _read_or_none(w.path)
    if written != w.ours:
        # another program saved the workbook just after our replace (Excel's save-as-temp-and-rename,
        # a sync client): theirs is the newer file and stays; both versions are kept beside the backups
        _fsync_write(w.folder / f"{w.stamp}-coordxl-{w.keep_name}", w.ours)
        w.result.backup = w.backup
        raise Refused("W-CHANGED", "changed")
    s = w.spliced
    try:
        diff = changed_parts(w.original, written, s.part)
        with zipfile.ZipFile(io.BytesIO(written)) as zf:  # read back from the disk, CRC checked
            after = zf.read(s.part)
        diff += read_back(s.before, s.content, after, w.job.cells, w.job.sheet)
    except Exception as exc:  # the written file does not even open: that is a loss too
        diff = [f"unreadable: {exc}"]
    if diff:
        _restore(w, diff)


def _restore(w: _Write, diff: list[str]) -> None:
    """Put the backup back in place of a write that lost something (W-LOSSY), unless someone saved since."""
    if _read_or_none(w.path) != w.ours:  # saved by someone meanwhile: never put an old version over it
        raise Refused("W-CHANGED", "changed")
    restore = w.path.with_name(f".~coordxl-restore-{os.getpid()}-{w.folder.name[-8:]}.tmp")
    shutil.copyfile(w.backup, restore)
    os.replace(restore, w.path)
    raise Refused("W-LOSSY", "lossy", detail=", ".join(diff[:5]))


def _same_owner(path: Path, tmp: Path, st: os.stat_result) -> bool:
    """Give ``tmp`` the owner and group of the workbook it replaces; False when that is not allowed."""
    mine = os.stat(tmp)
    if (mine.st_uid, mine.st_gid) == (st.st_uid, st.st_gid) or not hasattr(os, "chown"):
        return True
    try:
        os.chown(tmp, st.st_uid, st.st_gid)
    except OSError:
        return False
    return True


def _read_or_none(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
