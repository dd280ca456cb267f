"""The shared folder staff see: its layout, `init` and `new`.

Nothing here deletes a file, and nothing overwrites staff data: `init --force`
moves what it replaces into .coordxl/backups/ first and never touches an
existing roster; `new` refuses an existing file.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from . import schema
from .errors import FolderError, RosterError
from .messages import text
from .roster import Roster, clean_name, load_roster
from .settings import CONFIG_NAME, Settings, render_config

STATE_DIR = ".coordxl"
ITEM_TEMPLATE = {"zh": "协调事项模板.xlsx", "en": "coordination-item-template.xlsx"}
ROSTER_TEMPLATE = {"zh": "名册模板.xlsx", "en": "roster-template.xlsx"}

# A small sample roster so a new folder works at once; the admin replaces it with the real one.
SAMPLE_PEOPLE = (
    ("王海", "运营中心", "wanghai@corp.example", "", "yes"),
    ("李娜", "市场部", "lina@corp.example", "王海", "yes"),
    ("张伟", "市场部", "zhangwei@corp.example", "李娜", "no"),
    ("陈静", "产品部", "chenjing@corp.example", "王海", "yes"),
    ("孙丽", "销售部", "sunli@corp.example", "王海", "yes"),
    ("郑爽", "设计部", "zhengshuang@corp.example", "王海", "yes"),
)


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
    def state(self) -> Path:
        return self.root / STATE_DIR

    @property
    def backups(self) -> Path:
        return self.state / "backups"

    @classmethod
    def of(cls, root: Path | str) -> "Layout":
        """The layout of a coordxl folder; a folder without coordxl.toml is refused (FolderError), so no
        command ever writes 报告/ or .coordxl/ into a folder someone pointed it at by mistake."""
        root = Path(root)
        if not (root / CONFIG_NAME).is_file():
            raise FolderError(not_a_folder(root))
        return cls(root, Settings.load(root))


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


def _save_new(wb, path: Path) -> None:
    """Save a workbook to a path that must not exist yet (exclusive create: no race, no overwrite)."""
    buf = io.BytesIO()
    wb.save(buf)
    with open(path, "xb") as fh:
        fh.write(buf.getvalue())


def _sample_roster(lang: str):
    from . import templates  # openpyxl (and numpy) load only when a workbook is made
    wb, layouts = templates.roster_workbook(lang)
    people = [dict(name=n, department=d, email=e, manager=m, is_head=h, active="yes")
              for n, d, e, m, h in SAMPLE_PEOPLE]
    departments = sorted({d for _, d, *_ in SAMPLE_PEOPLE}, key=[p[1] for p in SAMPLE_PEOPLE].index)
    heads = {d: n for n, d, _, _, h in SAMPLE_PEOPLE if h == "yes"}
    templates.fill(wb, layouts, lang, "people", rows={"people": people})
    templates.fill(wb, layouts, lang, "departments",
                   rows={"departments": [dict(department=d, head=heads.get(d, "")) for d in departments]})
    return wb


def init_folder(root: Path | str, lang: str = "zh", force: bool = False,
                now: dt.datetime | None = None) -> list[Path]:
    """Make a shared folder: settings, a sample roster, templates and the folders. Returns what it wrote."""
    from . import templates  # openpyxl (and numpy) load only when a workbook is made
    root = Path(root)
    values = {"general.language": lang, **(ENGLISH_FOLDERS if lang == "en" else {})}
    settings = Settings.defaults().replace(**{k.replace(".", "__"): v for k, v in values.items()})
    layout = Layout(root, settings)
    item_tpl = layout.templates / ITEM_TEMPLATE[lang]
    roster_tpl = layout.templates / ROSTER_TEMPLATE[lang]
    replaceable = [layout.config, item_tpl, roster_tpl]
    existing = [p for p in replaceable + [layout.roster] if p.exists()]
    if existing and not force:
        raise FolderError(text("init.exists", lang, path=", ".join(str(p) for p in existing)))
    for d in (root, layout.active, layout.archive, layout.reports, layout.templates, layout.state,
              layout.backups):
        d.mkdir(parents=True, exist_ok=True)
    stamp = (now or dt.datetime.now()).strftime("%Y%m%d-%H%M%S")
    for path in replaceable:
        if path.exists():
            keep = layout.backups / f"init-{stamp}" / path.relative_to(root)
            keep.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(path), keep)
    written = []
    layout.config.write_text(render_config(lang, values), encoding="utf-8")
    written.append(layout.config)
    if not layout.roster.exists():
        _save_new(_sample_roster(lang), layout.roster)
        written.append(layout.roster)
    _save_new(templates.item_workbook(lang)[0], item_tpl)
    _save_new(templates.roster_workbook(lang)[0], roster_tpl)
    written += [item_tpl, roster_tpl]
    return written


_ILLEGAL = re.compile(r'[\\/:*?"<>|\x00-\x1f\x7f]')
_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)), *(f"LPT{i}" for i in range(1, 10))}


def safe_filename(title: str, limit: int = 80) -> str:
    """A title as a file name that works on Windows, macOS and Linux: 'Q3/Q4: 推广?' -> 'Q3_Q4_ 推广_'.

    At most ``limit`` characters and 150 bytes (a CJK character is 3), so the names made from it
    (backups, drafts, archive folders) stay under the file systems' 255 bytes.
    """
    name = _ILLEGAL.sub("_", title).strip().strip(".").strip()
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


def new_item(title: str, root: Path | str, initiator: str, today: dt.date,
             roster: Roster | None = None) -> Path:
    """Create 进行中/<title>.xlsx from the template, prefilled from the roster."""
    from . import templates  # openpyxl (and numpy) load only when a workbook is made
    layout = Layout.of(root)
    lang = layout.settings.lang
    title = " ".join(str(title).split())
    name = safe_filename(title)
    if not name:
        raise FolderError(text("new.empty_title", lang))
    if roster is None:
        if not layout.roster.exists():
            raise FolderError(text("new.no_roster", lang, path=layout.roster))
        roster = load_roster(layout.roster, layout.settings["limits.max_unzipped_mb"] * 2**20)
    person, problem = roster.resolve(initiator)
    if problem == "ambiguous":
        raise RosterError(text("new.ambiguous_initiator", lang, name=clean_name(initiator),
                               choices=roster.choices(clean_name(initiator))))
    if person is None or not person.active:
        close = roster.suggest(initiator, roster.active_names())
        hint = text("hint.did_you_mean", lang, name=close) if close else text("hint.check_roster", lang)
        if person is not None:  # in the roster, but has left
            raise RosterError(text("new.inactive_initiator", lang, name=person.name, hint="").strip())
        raise RosterError(text("new.unknown_initiator", lang, name=clean_name(initiator), hint=hint))
    path = layout.active / f"{name}.xlsx"
    if path.exists():
        raise FolderError(text("new.exists", lang, path=path))
    wb, layouts = templates.item_workbook(lang, roster.departments, roster.active_names(), topic=title)
    templates.fill(wb, layouts, lang, "request", form=dict(
        topic=title, initiator=person.key, initiating_department=person.department,
        sent_on=today, item_status="preparing"))
    templates.fill(wb, layouts, lang, "minutes", form=dict(topic=title))
    layout.active.mkdir(parents=True, exist_ok=True)
    try:
        _save_new(wb, path)
    except FileExistsError:
        raise FolderError(text("new.exists", lang, path=path)) from None
    return path


def item_sheet_names(lang: str) -> list[str]:
    return [s.label(lang) for s in schema.ITEM_SHEETS]
