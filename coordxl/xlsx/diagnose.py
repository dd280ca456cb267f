"""What kind of file a workbook is, before a cell of it is read: file diagnosis.

Excel 2007+ (a zip), Excel 97–2003 or WPS (an OLE container), encrypted, legacy (.xls, .et, .ods,
.xlsb), too big, corrupt, or no workbook at all (a web page or CSV named .xls); its fingerprint, its date
system and its Excel tables. What stops a read is a W-UNREADABLE finding, a legacy format W-LEGACY.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import re
import struct
import zipfile
from pathlib import Path

import python_calamine as calamine

from ..findings import finding
from .recognize import WorkbookData
from .xlsxparts import Fingerprint

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ZIP_MAGIC = b"PK\x03\x04"
WPS_SUFFIXES = (".et", ".ett")  # WPS 表格's own workbook and template


def _zip_facts(data: bytes) -> tuple[int, bool, dict[str, tuple]]:
    """(unpacked size, uses the 1904 date system, Excel tables) of a zipped workbook, from one look at the zip.

    Tables: display name -> (ref such as 'A2:M17', header rows, total rows), from xl/tables/*.xml.
    """
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        infos = zf.infolist()
        size = sum(info.file_size for info in infos)
        try:
            with zf.open("xl/workbook.xml") as fh:  # only its start: workbookPr comes first
                head = fh.read(4096)
        except Exception:  # .ods, not a workbook, or damaged (calamine will say so): no Excel date setting
            head = b""
        tables = {}
        for info in infos:
            if info.filename.lower().startswith("xl/tables/") and info.filename.lower().endswith(".xml"):
                with contextlib.suppress(Exception):  # a damaged table part only loses this refinement
                    found = _TABLE.search(zf.read(info)[:4096])
                    attrs = dict(re.findall(rb'\b(\w+)="([^"]*)"', found.group(1)))
                    tables[attrs[b"displayName"].decode("utf-8")] = (
                        attrs[b"ref"].decode("ascii"), int(attrs.get(b"headerRowCount", b"1")),
                        int(attrs.get(b"totalsRowCount", b"0")))
    return size, bool(_DATE1904.search(head)), tables


def open_workbook(path: Path, max_unzipped_bytes: int, display: str | None = None):
    """Open a workbook for reading; returns (calamine workbook or None, WorkbookData with any findings)."""
    path = Path(path)
    display = display or path.name
    data_out = WorkbookData(path, display, None)
    try:
        size = os.stat(path).st_size
        if size > max_unzipped_bytes:  # refused before a byte is read: its parts unpack to at least this
            data_out.findings.append(finding("W-UNREADABLE", display, reason="too_big", detail=f"{size // 2**20} MB"))
            return None, data_out
        raw = path.read_bytes()
        st = os.stat(path)
    except OSError as exc:
        if path.is_symlink() and not path.exists():  # a link whose file was moved or deleted
            data_out.findings.append(finding("W-UNREADABLE", display, reason="broken_link", detail=""))
        else:
            data_out.findings.append(finding("W-UNREADABLE", display, reason="os_error", detail=exc.strerror or ""))
        return None, data_out
    data_out.fingerprint = Fingerprint(st.st_size, st.st_mtime_ns, hashlib.sha256(raw).hexdigest())
    suffix = path.suffix.lower()
    if suffix in WPS_SUFFIXES and not raw.startswith(OLE_MAGIC):
        # WPS writes .et/.ett as Excel 97 inside; anything else under that name is not read
        data_out.findings.append(finding("W-UNREADABLE", display, reason="wps", ext=suffix))
        return None, data_out
    if raw.startswith(OLE_MAGIC):
        kind, data_out.date1904 = _ole_facts(raw)
        if kind in ("encrypted", "not_workbook"):
            # an .xlsx inside an OLE container is how Excel stores a password-protected workbook
            data_out.findings.append(finding("W-UNREADABLE", display, reason=kind))
            return None, data_out
        data_out.legacy = True
        data_out.findings.append(finding("W-LEGACY", display, reason="et" if suffix in WPS_SUFFIXES else "xls"))
    elif raw.startswith(ZIP_MAGIC):
        try:
            size, data_out.date1904, data_out.tables = _zip_facts(raw)
        except (zipfile.BadZipFile, EOFError, ValueError) as exc:
            data_out.findings.append(finding("W-UNREADABLE", display, reason="corrupt", detail=str(exc)))
            return None, data_out
        if size > max_unzipped_bytes:
            data_out.findings.append(finding("W-UNREADABLE", display, reason="too_big",
                                             detail=f"{size // 2**20} MB"))
            return None, data_out
        if suffix in (".ods", ".xlsb"):
            data_out.findings.append(finding("W-LEGACY", display, reason=suffix[1:]))
            data_out.legacy = True
    else:
        reason = "text" if _looks_like_text(raw) else "not_workbook"
        # a system's "Excel export" is often a web page or CSV named .xls
        data_out.findings.append(finding("W-UNREADABLE", display, reason=reason, ext=suffix or path.name))
        return None, data_out
    try:
        wb = calamine.CalamineWorkbook.from_filelike(io.BytesIO(raw), load_tables=bool(data_out.tables))
    except Exception as exc:  # calamine raises several unrelated types for bad files
        # a legacy file that cannot be read at all is not "read, never written": only the real reason stays
        data_out.findings = [f for f in data_out.findings if f.code != "W-LEGACY"]
        reason = _why_unreadable(raw, exc)
        data_out.findings.append(finding("W-UNREADABLE", display, reason=reason,
                                         detail="" if reason != "corrupt" else short_error(exc)))
        return None, data_out
    return wb, data_out


def _ole_facts(raw: bytes) -> tuple[str, bool]:
    """('xls' | 'encrypted' | 'not_workbook', uses the 1904 date system) of an OLE compound file.

    An Excel 97–2003 workbook keeps its records in the 'Workbook' stream ('Book' for Excel 5/95):
    a FILEPASS record (0x2F) among the globals means it is encrypted, DATEMODE (0x22) = 1 the 1904
    date system. An Office 2007+ workbook with a password is an OLE file with an 'EncryptedPackage'.
    """
    import olefile  # only for .xls and encrypted files

    try:
        with olefile.OleFileIO(raw) as ole:
            if ole.exists("EncryptedPackage") or ole.exists("EncryptionInfo"):
                return "encrypted", False
            name = next((n for n in ("Workbook", "Book", "WORKBOOK", "BOOK") if ole.exists(n)), None)
            if name is None:
                return "not_workbook", False
            data = ole.openstream(name).read()
    except Exception:  # a damaged container: calamine will say what it can
        return "xls", False
    date1904 = False
    pos = 0
    while pos + 4 <= len(data):  # the globals substream, up to its EOF record
        kind, size = struct.unpack_from("<HH", data, pos)
        if kind == 0x002F:
            return "encrypted", False
        if kind == 0x0022 and size >= 2:
            date1904 = struct.unpack_from("<H", data, pos + 4)[0] == 1
        if kind == 0x000A:
            break
        pos += 4 + size
    return "xls", date1904


def _why_unreadable(raw: bytes, exc: Exception) -> str:
    """The true reason calamine could not open a workbook (its own message is often only 'Cannot detect
    file format' when reading from memory)."""
    if re.search(r"password|encrypt", str(exc), re.I):
        return "encrypted"
    if raw.startswith(OLE_MAGIC):
        kind, _ = _ole_facts(raw)
        return "encrypted" if kind == "encrypted" else "corrupt"
    if raw.startswith(ZIP_MAGIC):
        try:
            with zipfile.ZipFile(io.BytesIO(raw)) as zf:
                names = [n.lower() for n in zf.namelist()]
                if "meta-inf/manifest.xml" in names and b"encryption-data" in zf.read(
                        zf.namelist()[names.index("meta-inf/manifest.xml")]):
                    return "encrypted"  # an OpenDocument file saved with a password
                if any(n.startswith(("xl/macrosheets/", "xl/dialogsheets/")) for n in names):
                    return "macrosheet"
        except Exception:
            pass
    return "corrupt"


_TABLE = re.compile(rb"<(?:\w+:)?table\b([^>]*)>")
_DATE1904 = re.compile(rb'<(?:\w+:)?workbookPr\b[^>]*\bdate1904="(?:1|true)"')


def _looks_like_text(raw: bytes) -> bool:
    head = raw[:2048]
    if not head or b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
        return True
    except UnicodeDecodeError:
        try:
            head.decode("gb18030")
            return True
        except UnicodeDecodeError:
            return False


def short_error(exc: Exception) -> str:
    """An exception as a W-UNREADABLE finding's detail: its type and the start of its message."""
    return f"{type(exc).__name__}: {str(exc)[:200]}"
