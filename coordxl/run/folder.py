"""The shared folder staff see: its layout, `init` and `new`.

Nothing here deletes a file, and nothing overwrites staff data: `init --force`
moves what it replaces into .coordxl/backups/ first and never touches an
existing roster; `new` refuses an existing file.
"""

from __future__ import annotations

import datetime as dt
import io
import shutil
import unicodedata
import uuid
from pathlib import Path

from ..errors import CoordxlError, FolderError, RosterError
from ..messages import text
from ..process.roster import Roster, clean_name, load_roster
from ..settings import Settings, render_config
from ..state.layout import ENGLISH_FOLDERS, ITEM_TEMPLATE, ROSTER_TEMPLATE, Layout, safe_filename, same_name
from ..state.statefolder import ensure_folders

# A small sample roster so a new folder works at once; the admin replaces it with the real one.
SAMPLE_PEOPLE = (
    ("王海", "运营中心", "wanghai@corp.example", "", "yes"),
    ("李娜", "市场部", "lina@corp.example", "王海", "yes"),
    ("张伟", "市场部", "zhangwei@corp.example", "李娜", "no"),
    ("陈静", "产品部", "chenjing@corp.example", "王海", "yes"),
    ("孙丽", "销售部", "sunli@corp.example", "王海", "yes"),
    ("郑爽", "设计部", "zhengshuang@corp.example", "王海", "yes"),
)

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
    """Make a shared folder: settings, a sample roster, templates and the folders. Returns what it wrote.

    ``force`` re-creates the templates and whatever is missing, and keeps the folder's settings and roster:
    a folder that has items keeps its language and folder names (changing them would hide every live item
    from the jobs), so asking for others is refused with how to migrate.
    """
    from . import templates  # openpyxl (and numpy) load only when a workbook is made
    root = Path(root)
    values = {"general.language": lang, "general.folder_id": str(uuid.uuid4()), **(ENGLISH_FOLDERS if lang == "en" else {})}
    settings = Settings.defaults().replace(**{k.replace(".", "__"): v for k, v in values.items()})
    layout = Layout(root, settings)
    current = _current_settings(layout) if force else None
    if current is not None:
        if _names(current) != _names(settings) and (items := _items(Layout(root, current))):
            raise FolderError(text("init.live_folder", current.lang, n=len(items),
                                   active=Layout(root, current).active.name))
        if _names(current) == _names(settings):
            layout = Layout(root, current)  # same language and names: keep the admin's settings as they are
    item_tpl = layout.templates / ITEM_TEMPLATE[lang]
    roster_tpl = layout.templates / ROSTER_TEMPLATE[lang]
    replaceable = ([] if layout.settings is current else [layout.config]) + [item_tpl, roster_tpl]
    existing = [p for p in [layout.config, item_tpl, roster_tpl, layout.roster] if p.exists()]
    if existing and not force:
        raise FolderError(text("init.exists", lang, path=", ".join(str(p) for p in existing)))
    for d in (root, layout.active, layout.archive, layout.reports, layout.templates):
        d.mkdir(parents=True, exist_ok=True)
    ensure_folders(layout)
    stamp = (now or dt.datetime.now()).strftime("%Y%m%d-%H%M%S")
    for path in replaceable:
        if path.exists():
            keep = layout.backups / f"init-{stamp}" / path.relative_to(root)
            keep.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(path), keep)
    written = []
    if layout.config in replaceable:
        layout.config.write_text(render_config(lang, values), encoding="utf-8")
        written.append(layout.config)
    if not layout.roster.exists():
        _save_new(_sample_roster(lang), layout.roster)
        written.append(layout.roster)
    _save_new(templates.item_workbook(lang)[0], item_tpl)
    _save_new(templates.roster_workbook(lang)[0], roster_tpl)
    written += [item_tpl, roster_tpl]
    return written


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
    if name.startswith(("~", ".~lock")):  # the names of Excel's and LibreOffice's own files, which every job skips
        raise FolderError(text("new.skipped_title", lang, name=name))
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
    if existing := same_name(layout.active, path.name):  # Q3推广.xlsx and q3推广.xlsx: one file on Windows
        raise FolderError(text("new.exists", lang, path=existing))
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


def _current_settings(layout: Layout) -> Settings | None:
    """The folder's own settings, when it has a readable coordxl.toml (an unreadable one may be replaced)."""
    if not layout.config.exists():
        return None
    try:
        return Settings.load(layout.root)
    except CoordxlError:
        return None


def _names(settings: Settings) -> tuple:
    return (settings.lang,) + tuple(settings[key] for key in ENGLISH_FOLDERS)


def _items(layout: Layout) -> list[Path]:
    """The workbooks in a folder's 进行中/ (any kind: the jobs would stop seeing all of them)."""
    if not layout.active.is_dir():
        return []
    return [p for p in layout.active.rglob("*") if p.is_file() and not p.name.startswith((".", "~$"))]


def archived_like(layout: Layout, stem: str) -> list[Path]:
    """Archived items filed under this name (归档/<year>/<stem> and its recurring <stem>-… neighbours)."""
    if not layout.archive.is_dir():
        return []
    def folded(name: str) -> str:  # one name on Windows and macOS, whatever its case
        return unicodedata.normalize("NFC", name).casefold()

    key = folded(stem)
    return sorted(p for p in layout.archive.glob("*/*")
                  if p.is_dir() and (folded(p.name) == key or folded(p.name).startswith(f"{key}-")))
