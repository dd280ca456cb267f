"""`coordxl archive`: move a closed item into 归档/<year>/<item>/ with a manifest and an index row.

Never half-done: the files are copied into a hidden staging folder, their
SHA-256 checked against the originals, the folder renamed into place in one
step, the index row appended, and only then are the originals removed. A run
interrupted at any point is finished (or its partial copy discarded) by
running the same command again.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from openpyxl import Workbook, load_workbook

from ..errors import ConfigError, CoordxlError
from ..messages import text
from ..platform_support import name_room, path_units
from ..state.layout import Layout, draft_path, fit_units, safe_filename, same_name
from ..xlsx import xlsxout
from ..xlsx.xlsxparts import Fingerprint, owner_files
from .context import RunContext
from .job import job
from .pipeline import find_item, load_item

MANIFEST = "manifest.json"


class ArchiveRefused(CoordxlError):
    """The item is not ready to be archived; the message lists what is missing."""


def _untouched(files: list[Path], read_at: dict[Path, str], lang: str) -> None:
    """Refuse while a file is open (an owner or lock file beside it) or differs from what was read.

    The same rule as the flag write-back: removing a workbook someone has open makes their next
    save fail, and their last edit is lost.
    """
    for path in files:
        if owners := owner_files(path):
            raise ArchiveRefused(text("archive.open", lang, name=path.name, owner=owners[0].name))
        if path in read_at and sha256(path) != read_at[path]:
            raise ArchiveRefused(text("archive.changed", lang, name=path.name))


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass
class Archived:
    dest: Path
    manifest: dict
    index_written: bool


def _manifest(files: list[Path], item, by: str, now: dt.datetime, force_reason: str) -> dict:
    return {
        "item": item.topic,
        "workbook": item.workbook,
        "initiator": item.initiator or "",
        "archived_at": now.isoformat(timespec="seconds"),
        "archived_by": by,
        "forced": bool(force_reason),
        "reason": force_reason,
        "files": [{"name": p.name, "size": p.stat().st_size, "sha256": sha256(p)} for p in files],
    }


def verify(dest: Path) -> bool:
    """Do the archived files match their manifest?"""
    try:
        manifest = json.loads((dest / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return all((dest / f["name"]).is_file() and sha256(dest / f["name"]) == f["sha256"] for f in manifest["files"])


def archive_item(root: Path | str, name: str, today: dt.date, now: dt.datetime, by: str, force: bool = False,
                 reason: str = "", hook: Callable[[str], None] | None = None) -> Archived:
    layout = Layout.of(root)
    with job("archive", RunContext.of(layout, today, now), record=False):  # the lock: no run record
        return _archive(layout, name, today, now, by, force, reason, hook)


def _archive(layout: Layout, name: str, today: dt.date, now: dt.datetime, by: str, force: bool, reason: str,
             hook: Callable[[str], None] | None) -> Archived:
    lang = layout.settings.lang
    if force and not reason.strip():
        raise ConfigError(text("archive.reason_needed", lang))
    path = find_item(layout, name, today)
    item, findings, ctx = load_item(layout, path, today)
    missing = []
    if item.status != "closed":
        missing.append(text("archive.not_closed", lang))
    missing += [f.message(lang) for f in findings if f.code in ("R-CLOSE", "R-RETRO")]
    if missing and not force:
        raise ArchiveRefused(text("archive.refused", lang, item=item.topic, missing="；".join(missing)))
    accepted = item.retro.get("accepted_on") if item.retro else None
    year = (accepted if isinstance(accepted, dt.date) else today).year
    draft = draft_path(layout, path.stem)
    files = [path] + ([draft] if draft.exists() else [])
    # what was read and judged is what gets archived: the workbook as fingerprinted at reading
    read_at = {path: item.fingerprint.sha256} if isinstance(item.fingerprint, Fingerprint) else {}
    read_at.update({p: sha256(p) for p in files if p not in read_at})
    _untouched(files, read_at, lang)
    folder = layout.archive / str(year)
    dest, manifest = _destination(folder, archive_stem(folder, safe_filename(path.stem), files), item, files,
                                  read_at, lang)
    staging = dest.with_name(f".{dest.name}.partial")
    if manifest is None:
        if staging.exists():
            shutil.rmtree(staging)  # an interrupted copy: start it again
        staging.mkdir(parents=True)
        manifest = _manifest(files, item, by, now, reason if force else "")
        for src in files:
            shutil.copy2(src, staging / src.name)
            with open(staging / src.name, "rb") as fh:
                os.fsync(fh.fileno())
        if hook:
            hook("after_copy")
        for f in manifest["files"]:
            if sha256(staging / f["name"]) != f["sha256"]:
                shutil.rmtree(staging)
                raise CoordxlError(key="archive.copy_mismatch", name=f["name"])
        # a file name that is not UTF-8 (GBK bytes as lone surrogates) is kept as JSON's own \\udcNN escape:
        # the manifest stays UTF-8 and reads back as the very name on disk
        (staging / MANIFEST).write_bytes(json.dumps(manifest, ensure_ascii=False, indent=1)
                                         .encode("utf-8", "backslashreplace"))
        try:
            _untouched(files, read_at, lang)  # opened or saved while being copied: archive nothing
        except ArchiveRefused:
            shutil.rmtree(staging)
            raise
        os.replace(staging, dest)
    if hook:
        hook("after_rename")
    written = append_index(layout, manifest, dest, accepted if isinstance(accepted, dt.date) else None)
    if written:
        _untouched([p for p in files if p.exists()], read_at, lang)  # the last look before removing
        for src in files:
            if src.exists():
                src.unlink()
    return Archived(dest, manifest, written)


SUFFIX_UNITS = len("-2026-08-20")  # the longest suffix _destination may add to a recurring topic's folder


def archive_stem(folder: Path, stem: str, files: list[Path], platform: str | None = None) -> str:
    """The item's folder name under 归档/<year>/: its stem, on Windows cut (with a hash) so that every
    archived file's whole path, a recurring topic's date suffix included, stays under MAX_PATH."""
    if (platform or sys.platform) != "win32":
        return stem
    longest = max(path_units(name) for name in [MANIFEST] + [p.name for p in files])
    return fit_units(stem, name_room(folder, platform) - 1 - longest - SUFFIX_UNITS)


def _destination(folder: Path, stem: str, item, files: list[Path], read_at: dict[Path, str], lang: str
                 ) -> tuple[Path, dict | None]:
    """Where the item goes, and the manifest of a previous run that already put it there.

    A topic that recurs (a monthly review, a yearly campaign) archives beside last time's, never onto
    it: 归档/<year>/<stem>, else <stem>-<request date>, else <stem>-2, -3, …. A folder that holds
    exactly these files is this item's, left by a run interrupted after the rename: it is finished.
    Nothing already archived is ever changed.
    """
    sent = item.request.get("sent_on") if item.request else None
    names = [stem] + ([f"{stem}-{sent:%Y-%m-%d}"] if isinstance(sent, dt.date) else [])
    names += [f"{stem}-{n}" for n in range(2, 100)]
    for name in names:
        # a folder whose name differs only in case is the same folder on Windows and macOS
        dest = same_name(folder, name) or folder / name
        if not dest.exists():
            return dest, None
        if verify(dest):
            manifest = json.loads((dest / MANIFEST).read_text(encoding="utf-8"))
            recorded = {f["name"]: f["sha256"] for f in manifest["files"]}
            if recorded.get(files[0].name) == read_at[files[0]] and all(
                    recorded.get(p.name, read_at[p]) == read_at[p] for p in files):
                return dest, manifest
    raise CoordxlError(text("archive.conflict", lang, dest=folder / stem))


def append_index(layout: Layout, manifest: dict, dest: Path, accepted: dt.date | None) -> bool:
    """Add the item's row to 归档/归档索引.xlsx (once); False when the index is open in Excel."""
    lang = layout.settings.lang
    path = layout.archive / text("file.archive_index", lang)
    if path.exists() and owner_files(path):
        return False
    location = dest.relative_to(layout.archive).as_posix()
    if path.exists():
        wb = load_workbook(path)
        ws = wb.active
        if any(row[6] == location for row in ws.iter_rows(min_row=2, values_only=True)):
            return True
    else:
        wb = Workbook()
        ws = wb.active
        ws.title = text("archive.sheet", lang)
        ws.append(text("archive.headers", lang).split("|"))
        xlsxout.header(ws[1])
        ws.freeze_panes = "A2"
        xlsxout.widths(ws, (30, 30, 10, 12, 20, 10, 30, 30, 8))
    r = ws.max_row + 1
    values = [manifest["item"], manifest["workbook"], manifest["initiator"], accepted, manifest["archived_at"],
              manifest["archived_by"], location, manifest["reason"], len(manifest["files"])]
    for c, value in enumerate(values, start=1):
        xlsxout.put_value(ws, r, c, value)
    ws.auto_filter.ref = f"A1:I{r}"
    xlsxout.save(wb, path)
    return True
