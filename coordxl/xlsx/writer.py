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
from .splice import FormulaCell, Styled, patch_sheet_xml
from .verify import sheet_differences
from .xlsxparts import Fingerprint, PatchError, col_number, owner_files, sheet_part, shown
from .zipcopy import _rezip, changed_parts

__all__ = ["FlagWrite", "FormulaCell", "SheetPatch", "Styled", "WriteResult", "backup_names", "patch_sheet_xml",
           "patch_workbook_bytes", "write_flags", "write_patch"]


def patch_workbook_bytes(data: bytes, sheet_name: str, cells: dict[tuple[int, int], object],
                         styled: frozenset[tuple[int, int]] = frozenset()) -> bytes:
    """A new .xlsx with one sheet part patched and every other part's content unchanged: copied as
    stored, byte for byte (:func:`_rezip`), or, for a zip that reader does not take, re-written."""
    with zipfile.ZipFile(io.BytesIO(data)) as zin:
        part = sheet_part(zin, sheet_name)
        content = patch_sheet_xml(zin.read(part), cells, styled)
        rezipped = _rezip(data, part, content)
        if rezipped is not None:
            return rezipped
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as zout:
            for info in zin.infolist():
                if info.filename == part:
                    zout.writestr(info, content, compress_type=zipfile.ZIP_DEFLATED, compresslevel=1)
                else:
                    zout.writestr(info, zin.read(info), compress_type=info.compress_type)
    return out.getvalue()


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
    backups = sorted(folder.glob(f"*-{stem}"))
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


def write_patch(job: SheetPatch, backups: Path, keep: int = 10, now: dt.datetime | None = None,
                hook: Hook | None = None) -> WriteResult:
    """Set the patch's cells following the write protocol: locks, fingerprint, backup, temp file and
    atomic replace, read back and compare, restore on any loss. Never raises on bad files."""
    result = WriteResult()
    if job.path.suffix.lower() not in (".xlsx", ".xlsm"):
        result.reason = "format"
        return result
    # a workbook in 进行中/ may be a link to a department's own file: that file is patched, in its own
    # folder, and the link stays a link (replacing the link would leave staff editing a stale original)
    path = Path(os.path.realpath(job.path))
    if owners := owner_files(job.path) + (owner_files(path) if path != job.path else []):
        result.findings.append(finding("W-LOCKED", job.display, job.sheet, owner=owners[0].name))
        result.reason = "locked"
        return result
    try:
        original = path.read_bytes()
        st = os.stat(path)
    except OSError as exc:
        result.findings.append(finding("W-CHANGED", job.display, job.sheet))
        result.reason = f"unreadable: {exc}"
        return result
    current = Fingerprint(st.st_size, st.st_mtime_ns, hashlib.sha256(original).hexdigest())
    if not st.st_mode & 0o222:  # marked read-only by its owner: never written
        result.findings.append(finding("W-READONLY", job.display, job.sheet))
        result.reason = "readonly"
        return result
    if not os.access(path.parent, os.W_OK | os.X_OK):  # before a backup is made that could never be used
        result.findings.append(finding("W-PERMISSION", job.display, job.sheet, variant=".folder"))
        result.reason = "permission"
        return result
    if job.fingerprint is not None and current != job.fingerprint:
        result.findings.append(finding("W-CHANGED", job.display, job.sheet))
        result.reason = "changed"
        return result
    try:
        with zipfile.ZipFile(io.BytesIO(original)) as zf:
            part = sheet_part(zf, job.sheet)
        while True:
            try:
                patched = patch_workbook_bytes(original, job.sheet, job.cells, job.styled)
                break
            except FormulaCell as exc:  # a formula blocks only its own cell
                result.findings.append(finding("W-FORMULA", job.display, job.sheet, exc.ref))
                letters = re.match(r"[A-Z]+", exc.ref).group(0)
                blocked = (int(exc.ref[len(letters):]), col_number(letters))
                result.formula_cells.append(blocked)
                job = dataclasses.replace(job, cells={k: v for k, v in job.cells.items() if k != blocked})
                if not job.cells:
                    result.reason = "formula"
                    return result
        with zipfile.ZipFile(io.BytesIO(original)) as zf:
            before = zf.read(part)
    except (PatchError, zipfile.BadZipFile, KeyError, ValueError) as exc:
        result.findings.append(finding("W-LOSSY", job.display, job.sheet, detail=str(exc)[:200]))
        result.reason = f"unsupported: {exc}"
        return result
    stamp = (now or dt.datetime.now()).strftime("%Y%m%d-%H%M%S-%f")
    folder, keep_name = backup_names(backups, path)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    backup = folder / f"{stamp}-{keep_name}"
    n = 1
    while backup.exists():  # two runs in the same instant (or one fixed clock): keep both
        backup = folder / f"{stamp}.{n}-{keep_name}"
        n += 1
    linked = _keep(path, backup, original, st)
    tmp = path.with_name(f".~coordxl-{os.getpid()}-{folder.name[-8:]}.tmp")  # no longer than a short name
    replaced = False
    try:
        _fsync_write(tmp, patched)
        if hook:
            hook("before_replace", tmp)
        # last look: someone may have saved the file while we were patching
        if Fingerprint.of(path) != current:
            result.findings.append(finding("W-CHANGED", job.display, job.sheet))
            result.reason = "changed"
            return result
        if owner_files(path):
            result.findings.append(finding("W-LOCKED", job.display, job.sheet, owner=owner_files(path)[0].name))
            result.reason = "locked"
            return result
        shutil.copymode(path, tmp)  # permissions only: the new mtime must say the file changed
        if not _same_owner(path, tmp, st):  # the colleague must still own (and be able to save) their file
            result.findings.append(finding("W-PERMISSION", job.display, job.sheet))
            result.reason = "permission"
            return result
        ours = tmp.read_bytes()  # exactly what goes in place, to tell our file from a later save
        if not replace_file(tmp, path):  # Windows: Excel, a virus scanner, the indexer or a sync client holds it
            result.findings.append(finding("W-LOCKED", job.display, job.sheet, variant="-HELD"))
            result.reason = "locked"
            return result
        replaced = True
    finally:
        if tmp.exists():
            tmp.unlink()
        if linked and not replaced:  # that link is the workbook itself, not a backup of it
            backup.unlink(missing_ok=True)
    _fsync_dir(path.parent)
    if linked:
        _private(backup)  # the version replaced, now the backup's alone: for the administrator only
    if hook:
        hook("after_replace", path)
    written = _read_or_none(path)
    if written != ours:
        # another program saved the workbook just after our replace (Excel's save-as-temp-and-rename,
        # a sync client): theirs is the newer file and stays; both versions are kept beside the backups
        _fsync_write(folder / f"{stamp}-coordxl-{keep_name}", ours)
        result.findings.append(finding("W-CHANGED", job.display, job.sheet))
        result.reason = "changed"
        result.backup = backup
        return result
    # every other part byte-identical in content, the patched sheet byte-identical outside its cells,
    # and each cell holding what was meant: never report a write that was not
    try:
        diff = changed_parts(original, written, part)
        with zipfile.ZipFile(io.BytesIO(written)) as zf:  # read back from the disk, CRC checked
            after = zf.read(part)
        diff += sheet_differences(before, after, job.cells, job.sheet)
    except Exception as exc:  # the written file does not even open: that is a loss too
        diff = [f"unreadable: {exc}"]
    if diff:
        if _read_or_none(path) != ours:  # saved by someone meanwhile: never put an old version over it
            result.findings.append(finding("W-CHANGED", job.display, job.sheet))
            result.reason = "changed"
            return result
        restore = path.with_name(f".~coordxl-restore-{os.getpid()}-{folder.name[-8:]}.tmp")
        shutil.copyfile(backup, restore)
        os.replace(restore, path)
        result.findings.append(finding("W-LOSSY", job.display, job.sheet, detail=", ".join(diff[:5])))
        result.reason = "lossy"
        return result
    _rotate(folder, keep_name, keep)
    result.written = True
    result.backup = backup
    return result


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
