"""The parts of a workbook file, below any reading or writing: cell references, where a sheet's XML
part is, the sheet names, owner and lock files, fingerprints and formulas without a stored result.
Imports nothing of coordxl.
"""

from __future__ import annotations

import functools
import hashlib
import html
import os
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"


class PatchError(Exception):
    """The sheet's XML is laid out in a way the patcher does not handle; nothing is written."""


def a1(row: int, col: int) -> str:
    """Excel A1 reference of a 1-based row and column: a1(3, 28) == 'AB3'."""
    return f"{col_letters(col)}{row}"


def col_number(letters: str) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + (ord(ch) - 64)
    return n


@functools.lru_cache(maxsize=1024)
def col_letters(n: int) -> str:
    """28 -> 'AB' (a few hundred columns, asked for hundreds of thousands of times a run)."""
    letters = ""
    while n:
        n, rem = divmod(n - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


_CELL_REF = re.compile(rb'\br="([A-Z]+)(\d+)"')


def shown(name: str) -> str:
    r"""A file name as text that can be stored, compared and printed: bytes that are not UTF-8 (a zip
    made on a Chinese Windows, a Samba share with the wrong charset) come as lone surrogates from the
    file system and are shown as \xNN escapes, one per byte, so two such files never look alike.

    >>> shown("进行中/\udcbb\udcaa.xlsx")
    '进行中/\\xbb\\xaa.xlsx'
    """
    if not any("\udc80" <= ch <= "\udcff" for ch in name):
        return name
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def legacy_reading(name: str) -> str | None:
    """What a name that is not UTF-8 says read as GB18030 (what Windows in Chinese writes), if it reads."""
    try:
        return name.encode("utf-8", "surrogateescape").decode("gb18030")
    except UnicodeError:
        return None


def owner_files(path: Path) -> list[Path]:
    """Excel's owner file (~$name.xlsx) and LibreOffice's lock (.~lock.name.xlsx#) beside a workbook."""
    folder, name = path.parent, path.name
    candidates = [folder / f"~${name}", folder / f"~${name[2:]}", folder / f".~lock.{name}#"]
    return [p for p in candidates if p.exists()]


def is_owner_or_temp(path: Path) -> bool:
    """Excel owner files (~$x.xlsx), LibreOffice locks (.~lock.x.xlsx#), hidden and temp files."""
    name = path.name
    return name.startswith(("~$", ".~lock", ".")) or name.endswith(("#", "~", ".tmp")) or name.startswith("~")


@dataclass(frozen=True)
class Fingerprint:
    size: int
    mtime_ns: int
    sha256: str

    @classmethod
    def of(cls, path: Path) -> "Fingerprint":
        data = Path(path).read_bytes()
        st = os.stat(path)
        return cls(st.st_size, st.st_mtime_ns, hashlib.sha256(data).hexdigest())


_SHEET_NAME = re.compile(rb'<sheet\b[^>]*?\bname="([^"]*)"')


def sheet_names(source: Path | zipfile.ZipFile) -> list[str]:
    """The sheet names in an .xlsx's workbook.xml (a path, or a zip already open), without reading any
    sheet; [] when it cannot be looked into."""
    try:
        if isinstance(source, zipfile.ZipFile):
            return [html.unescape(n.decode("utf-8")) for n in _SHEET_NAME.findall(source.read("xl/workbook.xml"))]
        with zipfile.ZipFile(source) as zf:
            return sheet_names(zf)
    except Exception:
        return []


def sheet_part(zf: zipfile.ZipFile, sheet_name: str) -> str:
    """The zip path of a worksheet's XML part, found through workbook.xml and its relationships."""
    workbook = zf.read("xl/workbook.xml").decode("utf-8")
    rels = zf.read("xl/_rels/workbook.xml.rels").decode("utf-8")
    rid = None
    for m in re.finditer(r"<(?:\w+:)?sheet\b([^>]*)/?>", workbook):
        attrs = m.group(1)
        name = re.search(r'\bname="([^"]*)"', attrs)
        if name and html.unescape(name.group(1)) == sheet_name:
            rid_m = re.search(r'\br:id="([^"]*)"|\b\w+:id="([^"]*)"', attrs)
            rid = rid_m and (rid_m.group(1) or rid_m.group(2))
            break
    if not rid:
        raise PatchError(f"sheet {sheet_name!r} not in workbook.xml")
    for m in re.finditer(r"<Relationship\b([^>]*)/?>", rels):
        attrs = m.group(1)
        if re.search(rf'\bId="{re.escape(rid)}"', attrs):
            target = html.unescape(re.search(r'\bTarget="([^"]*)"', attrs).group(1))
            if target.startswith("/"):
                name = target.lstrip("/")
            else:
                name = str(PurePosixPath("xl") / target).replace("xl/./", "xl/")
            return _part_name(zf, name)
    raise PatchError(f"relationship {rid} not found")


def _part_name(zf: zipfile.ZipFile, name: str) -> str:
    """The zip entry of a part: OPC part names are case-insensitive ('worksheets/Sheet1.xml' may be stored as
    'worksheets/sheet1.xml', and Excel, LibreOffice and calamine all read it)."""
    names = zf.namelist()
    if name in names:
        return name
    same = [n for n in names if n.lower() == name.lower()]
    if len(same) == 1:
        return same[0]
    raise PatchError(f"part {name} not in the file")


_CELL = re.compile(rb"<c\b[^>]*?(?:/>|>.*?</c>)", re.S)
_FORMULA = re.compile(rb"<f[\s>/]")
_EMPTY_VALUE = re.compile(rb"<v\s*/>|<v>\s*</v>")


def uncached_formulas(path: Path, cells: set[tuple[str, str]]) -> frozenset[tuple[str, str]]:
    """Those of ``cells`` ((sheet, A1) pairs) that hold a formula with no stored result (files written
    by a program and never opened in Excel); empty when the file cannot be looked into."""
    out = set()
    try:
        with zipfile.ZipFile(path) as zf:
            for sheet in {s for s, _ in cells}:
                xml = zf.read(sheet_part(zf, sheet))
                for f in _FORMULA.finditer(xml):  # only the formulas, not every cell, are looked at
                    start, end = xml.rfind(b"<c ", 0, f.start()), xml.find(b"</c>", f.start())
                    cell = xml[start:end]
                    ref = _CELL_REF.search(cell[:cell.find(b">") + 1])
                    if ref and (b"<v" not in cell or _EMPTY_VALUE.search(cell)):
                        out.add((sheet, (ref.group(1) + ref.group(2)).decode()))
    except (OSError, KeyError, zipfile.BadZipFile, PatchError):
        return frozenset()
    return frozenset(out & cells)
