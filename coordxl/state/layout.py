"""Where everything lives in one shared folder: its folders and files (names from settings), the
ledger's place, links to a workbook and safe file names. The bottom of the house: it imports only
settings, messages, the store and the platform's answers.

The folder's own ``.coordxl/`` (:attr:`Layout.shared`) holds what every machine must see: the job and
scheduler locks, the owner record and the backups. The ledger, the outbox and the logs
(:attr:`Layout.state`) stay there for a folder on a local disk; a folder on a network file system keeps
them on this machine's disk (SQLite's WAL does not work over a network file system), in this user's
state folder under the folder's id, or where ``folders.state`` says.
"""

from __future__ import annotations

import hashlib
import os
import re
import unicodedata
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from ..errors import FolderError, StateError
from ..messages import text
from ..platform_support import network_filesystem, private_dir
from ..settings import CONFIG_NAME, Settings
from ..xlsx.xlsxparts import shown
from .store import Store

STATE_DIR = ".coordxl"
OWNER_NAME = "owner.json"
ITEM_TEMPLATE = {lang: text("file.item_template", lang) for lang in ("zh", "en")}
ROSTER_TEMPLATE = {lang: text("file.roster_template", lang) for lang in ("zh", "en")}
ENGLISH_FOLDERS = {"folders.active": "active", "folders.archive": "archive", "folders.reports": "reports",
                   "folders.templates": "templates", "folders.roster": "roster.xlsx"}


@dataclass(frozen=True)
class Layout:
    """Where everything lives in one shared folder (names from settings)."""

    root: Path
    settings: Settings

    @property
    def config(self) -> Path:
        return self.root / CONFIG_NAME

    @property
    def roster(self) -> Path:
        return self.root / self.settings["folders.roster"]

    @property
    def active(self) -> Path:
        return self.root / self.settings["folders.active"]

    @property
    def archive(self) -> Path:
        return self.root / self.settings["folders.archive"]

    @property
    def reports(self) -> Path:
        return self.root / self.settings["folders.reports"]

    @property
    def templates(self) -> Path:
        return self.root / self.settings["folders.templates"]

    @property
    def shared(self) -> Path:
        """<root>/.coordxl: what every machine running on the folder must see (locks, owner record, backups)."""
        return self.root / STATE_DIR

    @cached_property
    def network(self) -> str | None:
        """The network file system the folder is on ("cifs", "UNC", "mapped drive" …), or None."""
        return network_filesystem(self.root)

    @cached_property
    def state(self) -> Path:
        """Where state.db, outbox/ and logs/ live: ``folders.state``; on a network file system this user's
        state folder / the folder's id (until the folder has an id, its .coordxl/, which the next job moves);
        else .coordxl/."""
        chosen = self.settings["folders.state"]
        if chosen:
            return Path(os.path.expanduser(chosen))
        if self.network and self.settings["general.folder_id"]:
            return local_state_home() / self.settings["general.folder_id"]
        return self.shared

    @property
    def state_is_local(self) -> bool:
        """Is the ledger on this machine's disk (not on the network file system the folder is on)?"""
        return self.state != self.shared or not self.network

    @property
    def owner(self) -> Path:
        return self.shared / OWNER_NAME

    @property
    def backups(self) -> Path:
        return self.shared / "backups"

    @property
    def db(self) -> Path:
        return self.state / "state.db"

    def open_store(self, existing: bool = False, new_ledger: bool = False) -> Store | None:
        """The folder's ledger (state.db); with ``existing``, None when no job has made one yet (a
        read-only look, such as `status` or the weekly summary, never creates it).

        A ledger that is missing or empty where jobs have run before (their outbox, backups or a damaged
        ledger set aside are there) is refused: a fresh one would send the day's mails and posts again.
        ``new_ledger`` is the administrator's word that a fresh one is wanted."""
        missing = not self.db.exists() or self.db.stat().st_size == 0
        if existing and missing:
            return None
        if missing and not new_ledger and (evidence := self.ran_before()):
            raise StateError(text("state.lost", self.settings.lang, db=self.db, evidence=evidence))
        if missing:
            try:
                private_dir(self.state)
            except OSError:
                pass  # the store says what is wrong with the folder
        return Store(self.db)

    def ran_before(self) -> str | None:
        """What shows that jobs have run on this folder before (for a ledger that went missing), or None."""
        places = [(self.state / "outbox", "*"), (self.backups, "*"), (self.state, "state.db.damaged-*")]
        for folder, pattern in places:
            if folder.is_dir():
                # init and the calendar import keep the files they replace there too, before any job ran
                found = next((p for p in folder.glob(pattern) if not p.name.startswith(("init-", "calendar-"))), None)
                if found is not None:
                    return found.relative_to(self.root).as_posix() if found.is_relative_to(self.root) else str(found)
        return None

    def reloaded(self) -> "Layout":
        """The layout with its settings read again (after coordxl changed coordxl.toml); what the file
        system was found to be is kept (it is looked up once per command)."""
        fresh = type(self)(self.root, Settings.load(self.root))
        if "network" in self.__dict__:
            fresh.__dict__["network"] = self.__dict__["network"]
        return fresh

    @classmethod
    def of(cls, root: Path | str) -> "Layout":
        """The layout of a coordxl folder; a folder without coordxl.toml is refused (FolderError), so no
        command ever writes 报告/ or .coordxl/ into a folder someone pointed it at by mistake."""
        root = Path(root)
        if not (root / CONFIG_NAME).is_file():
            raise FolderError(not_a_folder(root))
        return cls(root, Settings.load(root))


def local_state_home() -> Path:
    """This user's folder for coordxl's local state: %LOCALAPPDATA%\\coordxl on Windows, ~/.local/state/coordxl
    (XDG_STATE_HOME) on Linux, ~/Library/Application Support/coordxl on macOS."""
    import platformdirs

    return Path(platformdirs.user_state_dir("coordxl", appauthor=False))


def workbook_link(share_url: str, workbook: str, sheet: str = "", cell: str = "") -> tuple[str, str]:
    r"""(address to click or '', the full path to show) of a workbook named relative to the shared folder.

    ``general.share_url`` is where people open the folder: a UNC path (\\fileserver\share\协调), a
    mapped drive (S:\协调), or a file://, smb:// or https:// address (a SharePoint or NAS web folder).
    File links carry the sheet and cell (Excel and LibreOffice open ``file.xlsx#'Sheet'!A1`` there);
    web links open the workbook.

    >>> workbook_link(r"\\fs\share\协调", "进行中/Q3 推广.xlsx", "执行进度", "M5")[1]
    '\\\\fs\\share\\协调\\进行中\\Q3 推广.xlsx'
    >>> workbook_link(r"\\fs\share\协调", "进行中/a.xlsx", "执行进度", "M5")[0]
    "file://fs/share/%E5%8D%8F%E8%B0%83/%E8%BF%9B%E8%A1%8C%E4%B8%AD/a.xlsx#'执行进度'!M5"
    >>> workbook_link("https://corp.example/sites/ops/协调", "进行中/a.xlsx")
    ('https://corp.example/sites/ops/%E5%8D%8F%E8%B0%83/%E8%BF%9B%E8%A1%8C%E4%B8%AD/a.xlsx', 'https://corp.example/sites/ops/协调/进行中/a.xlsx')
    >>> workbook_link("", "进行中/a.xlsx")
    ('', '进行中/a.xlsx')
    """
    from urllib.parse import quote

    relative = workbook.replace("\\", "/").lstrip("/")
    if not share_url:
        return "", relative
    fragment = f"#'{sheet}'!{cell}" if sheet and cell else ""
    if share_url.startswith("\\\\"):
        full = share_url.rstrip("\\") + "\\" + relative.replace("/", "\\")
        return "file:" + quote(full.replace("\\", "/"), safe="/") + fragment, full
    if re.match(r"^[A-Za-z]:[\\/]", share_url):  # a mapped drive
        full = share_url.rstrip("\\/") + "\\" + relative.replace("/", "\\")
        return "file:///" + quote(full.replace("\\", "/"), safe="/:") + fragment, full
    full = share_url.rstrip("/") + "/" + relative
    scheme, rest = full.split("://", 1)
    href = f"{scheme}://" + quote(rest, safe="/:@%?=&")
    return href + (fragment if scheme == "file" else ""), full


def not_a_folder(root: Path) -> str:
    """'not a coordxl folder', with the nearest folder above that is one, or a folder below that is."""
    resolved = Path(root).resolve()
    nearby = next((p for p in resolved.parents if (p / CONFIG_NAME).is_file()), None)
    if nearby is None and resolved.is_dir():
        nearby = next((p.parent for p in sorted(resolved.glob(f"*/{CONFIG_NAME}"))), None)
    lang = Settings.load(nearby).lang if nearby else "zh"
    hint = text("folder.did_you_mean", lang, path=nearby) if nearby else text("folder.init_hint", lang, root=root)
    return text("folder.not_coordxl", lang, root=root, hint=hint)


_ILLEGAL = re.compile(r'[\\/:*?"<>|\x00-\x1f\x7f]')
_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)), *(f"LPT{i}" for i in range(1, 10))}


def safe_filename(title: str, limit: int = 80) -> str:
    """A title as a file name that works on Windows, macOS and Linux: 'Q3/Q4: 推广?' -> 'Q3_Q4_ 推广_'.

    At most ``limit`` characters and 150 bytes (a CJK character is 3), so the names made from it
    (backups, drafts, archive folders) stay under the file systems' 255 bytes. A name that is not UTF-8
    (a GBK file name's bytes) keeps its bytes as escapes: '\\udcb8\\udcb4' -> '_xb8_xb4'.
    """
    name = _ILLEGAL.sub("_", shown(title)).strip().strip(".").strip()
    name = fit_bytes(name[:limit].rstrip(". "), 150)
    if name.split(".")[0].upper() in _RESERVED:
        name = f"_{name}"
    return name


def fit_bytes(name: str, limit: int) -> str:
    """``name`` cut to at most ``limit`` UTF-8 bytes, keeping its extension and a hash of the whole.

    >>> len(fit_bytes("协" * 100 + ".xlsx", 120).encode()) <= 120
    True
    """
    if len(name.encode("utf-8")) <= limit:
        return name
    stem, dot, ext = name.rpartition(".") if "." in name[-8:] else (name, "", "")
    tail = f"-{hashlib.sha1(name.encode('utf-8')).hexdigest()[:8]}{dot}{ext}"
    room = limit - len(tail.encode("utf-8"))
    cut = stem.encode("utf-8")[:room].decode("utf-8", "ignore")
    return cut + tail


def fit_units(name: str, units: int) -> str:
    """``name`` cut to at most ``units`` UTF-16 units (Windows' measure), keeping its extension and a
    hash of the whole; with less room than that, the hash and the extension alone.

    >>> fit_units("协" * 100 + ".xlsx", 30)
    '协协协协协协协协协协协协协协协协-86fc833e.xlsx'
    """
    def length(value: str) -> int:
        return len(value.encode("utf-16-le")) // 2

    if length(name) <= units:
        return name
    stem, dot, ext = name.rpartition(".") if "." in name[-8:] else (name, "", "")
    digest = hashlib.sha1(name.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    tail = f"-{digest}{dot}{ext}"
    cut = stem
    while cut and length(cut) + length(tail) > units:
        cut = cut[:-1]
    return cut + tail if cut else f"{digest}{dot}{ext}"


def same_name(folder: Path, name: str) -> Path | None:
    """The entry of ``folder`` named ``name`` up to case and Unicode form: Windows and macOS (and a
    Samba share they use) see one name where Linux sees two."""
    if not folder.is_dir():
        return None
    wanted = unicodedata.normalize("NFC", name).casefold()
    for entry in folder.iterdir():
        if unicodedata.normalize("NFC", entry.name).casefold() == wanted:
            return entry
    return None


def name_key(stem: str) -> str:
    """A file name as compared with another: NFKC (full-width （1） is (1)), casefolded, no spaces."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", stem).casefold())


# The names people and sync clients give a copy of "X" (the base is group b), see copy_bases.
_COPY_NAMES = tuple(re.compile(p) for p in (
    r"^(?P<b>.+?)\s*-\s*(?:副本|copy)(?:\s*\(\d+\))?$",   # Explorer: X - 副本, X - 副本 (2), X - Copy; WPS 网盘: X-副本
    r"^(?:复件|copy\s+of|copy\s*\(\d+\)\s*of)\s*(?P<b>.+)$",  # Windows XP: 复件 X, Copy of X, Copy (2) of X
    r"^(?P<b>.+?)\s+copy(?:\s+\d+)?$",                      # macOS Finder: X copy, X copy 2
    r"^(?P<b>.+?)\s*的?副本(?:\s*\d+)?$",                    # X 的副本, X 副本 2 (macOS Finder in Chinese)
    r"^(?P<b>.+?)\s*\(\d{1,3}\)$",                          # X (1), X（2）: Explorer, browsers, Google Drive
    r"^(?P<b>.+?)-(?:desktop|laptop)-[0-9a-z]{4,12}(?:-\d+)?$",  # OneDrive: X-DESKTOP-AB12CD (the PC's name)
    r"^(?P<b>.+?)-[0-9a-z]+-pc(?:-\d+)?$",                   # OneDrive on a PC named ZHANGWEI-PC
))
# Words a sync client puts into a conflict copy's name, after the original name and a separator:
# Dropbox "X (张伟's conflicted copy 2026-12-21)", Nextcloud "X (conflicted copy 2018-04-10 093612)",
# 坚果云 "X-conflict" / "X-NSConflict" (with the nickname of who made it), "X-张伟的冲突副本", 360 "X(冲突)".
_CONFLICT = re.compile(r"conflicted\s*copy|nsconflict|conflict|冲突的?副本|冲突文件|\(冲突\)")
_SEPARATORS = "-_( —"


def copy_bases(stem: str) -> list[str]:
    """The names (as :func:`name_key` gives them) of the workbook a file name says it is a copy of;
    longest first, empty when the name is no copy's.

    >>> copy_bases("元旦年货节促销 (1)"), copy_bases("元旦年货节促销-张伟的冲突副本")[-1]
    (['元旦年货节促销'], '元旦年货节促销')
    >>> copy_bases("2026 Q1 (北区)"), copy_bases("方案(1)期")
    ([], [])
    """
    text = unicodedata.normalize("NFKC", stem).casefold().strip()
    found = [m["b"] for rx in _COPY_NAMES if (m := rx.match(text))]
    for m in _CONFLICT.finditer(text):
        before = text[:m.start()]
        # which separator ends the original's name is not known ("X-张伟-conflict"): each one is a candidate
        found += [before[:i] for i in range(len(before) - 1, 0, -1) if before[i] in _SEPARATORS]
        if m.group().startswith("("):
            found.append(before)
    keys = [name_key(b.rstrip(_SEPARATORS)) for b in found]
    return sorted(dict.fromkeys(k for k in keys if k), key=len, reverse=True)


def draft_path(layout: Layout, item_or_stem) -> Path:
    """报告/复盘草稿-<item>.xlsx: where the retrospective draft of an item (or a workbook stem) goes."""
    stem = item_or_stem if isinstance(item_or_stem, str) else Path(item_or_stem.workbook).stem
    return layout.reports / text("file.draft", layout.settings.lang, item=safe_filename(stem))
