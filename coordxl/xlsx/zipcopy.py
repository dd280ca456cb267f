"""A zip's members as stored: the other parts of a workbook copied without inflating them, and
compared without inflating them."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from dataclasses import dataclass

_EOCD = struct.Struct("<4s4H2LH")
_CENTRAL = struct.Struct("<4s6H3L5H2L")
_LOCAL = struct.Struct("<4s5H3L2H")


@dataclass(frozen=True)
class _Member:
    name: str
    central: bytes  # its central directory entry
    stored: bytes  # local header, compressed data and data descriptor, as in the file
    fields: tuple  # the central entry's fields (_CENTRAL)


def _members(data: bytes) -> tuple[list[_Member], bytes] | None:
    """The members of a zip as stored, and the archive's comment; None for one this reader does not take
    (zip64, spanned, members out of place, a name twice): the caller then goes the zipfile way."""
    at = data.rfind(b"PK\x05\x06", max(0, len(data) - 65557))
    if at < 0 or at + _EOCD.size > len(data):
        return None
    _, disk, cd_disk, here, total, cd_size, cd_at, comment_len = _EOCD.unpack_from(data, at)
    if disk or cd_disk or here != total or cd_at + cd_size != at or 0xFFFFFFFF in (cd_at, cd_size):
        return None
    members, pos, names = [], cd_at, set()
    for _ in range(total):
        if data[pos:pos + 4] != b"PK\x01\x02":
            return None
        fields = _CENTRAL.unpack_from(data, pos)
        flags, size, name_len, extra_len, note_len, offset = fields[3], fields[8], fields[10], fields[11], fields[12], fields[16]
        raw_name = data[pos + 46:pos + 46 + name_len]
        name = raw_name.decode("utf-8" if flags & 0x800 else "cp437")
        end = pos + 46 + name_len + extra_len + note_len
        if name in names or 0xFFFFFFFF in (size, fields[9], offset) or data[offset:offset + 4] != b"PK\x03\x04":
            return None
        local = _LOCAL.unpack_from(data, offset)
        if data[offset + 30:offset + 30 + local[9]] != raw_name:
            return None
        stop = offset + 30 + local[9] + local[10] + size
        if flags & 0x08:  # a data descriptor follows the data, with or without its signature
            stop += 16 if data[stop:stop + 4] == b"PK\x07\x08" else 12
        if stop > cd_at:
            return None
        names.add(name)
        members.append(_Member(name, data[pos:end], data[offset:stop], fields))
        pos = end
    return members, data[at + _EOCD.size:at + _EOCD.size + comment_len]


def _rezip(data: bytes, part: str, content: bytes) -> bytes | None:
    """``data`` with ``part``'s content replaced (deflated at level 1) and every other member copied as
    stored, byte for byte: nothing else is inflated or compressed again. None where :func:`_members`
    does not take the zip."""
    parsed = _members(data)
    if parsed is None or sum(m.name == part for m in parsed[0]) != 1:
        return None
    members, comment = parsed
    out, central = bytearray(), bytearray()
    for m in members:
        offset = len(out)
        if m.name != part:
            out += m.stored
            central += m.central[:42] + struct.pack("<L", offset) + m.central[46:]
            continue
        packer = zlib.compressobj(1, zlib.DEFLATED, -15)
        packed = packer.compress(content) + packer.flush()
        fields = list(m.fields)
        name_len, extra_len = fields[10], fields[11]
        raw_name = m.central[46:46 + name_len]
        flags, crc = fields[3] & 0x800, zlib.crc32(content)  # no data descriptor, no extra field
        out += _LOCAL.pack(b"PK\x03\x04", max(20, fields[2]), flags, 8, fields[5], fields[6], crc, len(packed),
                           len(content), name_len, 0) + raw_name + packed
        fields[3:5], fields[7:10], fields[11], fields[16] = (flags, 8), (crc, len(packed), len(content)), 0, offset
        central += _CENTRAL.pack(*fields) + raw_name + m.central[46 + name_len + extra_len:]
    if len(out) + len(central) >= 0xFFFFFFFF:
        return None
    cd_at = len(out)
    out += central + _EOCD.pack(b"PK\x05\x06", 0, 0, len(members), len(members), len(central), cd_at,
                                len(comment)) + comment
    return bytes(out)


def changed_parts(old: bytes, new: bytes, patched: str) -> list[str]:
    """Zip parts whose content differs (or that appeared or vanished), other than the patched one. A part
    stored byte for byte as before is the same without inflating it; any other is inflated (CRC checked)
    and compared."""
    stored_old, stored_new = _members(old), _members(new)
    same = set()
    if stored_old and stored_new:
        before = {m.name: m.stored for m in stored_old[0]}
        after = {m.name: m.stored for m in stored_new[0]}
        same = {name for name, stored in after.items() if before.get(name) == stored}
        if all(name in same or name == patched for name in before.keys() & after.keys()):
            return sorted(before.keys() ^ after.keys())  # nothing to inflate
    with zipfile.ZipFile(io.BytesIO(old)) as a, zipfile.ZipFile(io.BytesIO(new)) as b:
        names_a, names_b = a.namelist(), b.namelist()
        out = sorted(set(names_a) ^ set(names_b))
        for name in names_a:
            if name != patched and name not in same and name in names_b and a.read(name) != b.read(name):
                out.append(name)
    return out
