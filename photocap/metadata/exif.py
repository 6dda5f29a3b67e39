"""EXIF `ImageDescription` (0x010E): read it, and set it by patching the TIFF structure in place.

Setting never re-serialises the EXIF block: every byte of every other IFD, value, thumbnail and maker
note stays at its offset (maker notes often hold absolute offsets, so moving them breaks them). The
new string is appended, and when IFD0 has no ImageDescription entry yet, IFD0 alone is copied to the
end with the entry added. A photo without EXIF gets a small fresh block with the tags the EXIF standard
requires beside it. (piexif is not used to write: its load/dump round trip drops tags it does not know
and moves maker notes, whose internal offsets then point at the wrong bytes.)
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

IMAGE_DESCRIPTION = 0x010E
ASCII = 2
_TYPE_SIZES = {
    1: 1,
    2: 1,
    3: 2,
    4: 4,
    5: 8,
    6: 1,
    7: 1,
    8: 2,
    9: 4,
    10: 8,
    11: 4,
    12: 8,
    13: 4,
    129: 1,
}
# Descriptions cameras write by default; they are no one's caption.
CAMERA_DEFAULTS = {
    "",
    "olympus digital camera",
    "sony dsc",
    "digital camera",
    "minolta digital camera",
    "kodak digital still camera",
    "samsung digital camera",
    "default",
    "image",
    "picasa",
}


class ExifError(ValueError):
    """The TIFF structure of an EXIF block is broken."""


@dataclass
class _Entry:
    pos: int  # offset of the 12-byte entry in the block
    tag: int
    type: int
    count: int
    field: bytes  # the 4-byte value/offset field

    def size(self) -> int:
        return self.count * _TYPE_SIZES.get(self.type, 1)


def is_camera_default(text: str) -> bool:
    """True for a placeholder cameras write (e.g. 'OLYMPUS DIGITAL CAMERA') or blank text."""
    return " ".join(text.split()).lower() in CAMERA_DEFAULTS


def read_description(tiff: bytes) -> str | None:
    """The ImageDescription in a TIFF/EXIF block, or None (also when the block is broken)."""
    try:
        order, ifd0 = _header(tiff)
        entries, _ = _read_ifd(tiff, ifd0, order)
    except ExifError:
        return None
    entry = next((e for e in entries if e.tag == IMAGE_DESCRIPTION), None)
    if entry is None:
        return None
    raw = _value(tiff, entry, order)
    if raw is None:
        return None
    return decode_text(raw.split(b"\x00", 1)[0])


def decode_text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def set_description(tiff: bytes, text: str) -> bytes:
    """A copy of the TIFF/EXIF block with ImageDescription set to `text` (UTF-8, ASCII type)."""
    order, ifd0 = _header(tiff)
    entries, next_ifd = _read_ifd(tiff, ifd0, order)
    value = text.encode("utf-8") + b"\x00"
    buf = bytearray(tiff)
    entry = next((e for e in entries if e.tag == IMAGE_DESCRIPTION), None)
    if entry is not None:
        field = _place_value(buf, value, order, reuse=entry)
        buf[entry.pos : entry.pos + 12] = (
            struct.pack(f"{order}HHI", IMAGE_DESCRIPTION, ASCII, len(value)) + field
        )
        return bytes(buf)
    field = _place_value(buf, value, order, reuse=None)
    new = _Entry(-1, IMAGE_DESCRIPTION, ASCII, len(value), field)
    table = sorted([*entries, new], key=lambda e: e.tag)
    _pad_even(buf)
    offset = len(buf)
    buf += struct.pack(f"{order}H", len(table))
    for e in table:
        buf += struct.pack(f"{order}HHI", e.tag, e.type, e.count) + e.field
    buf += struct.pack(f"{order}I", next_ifd)
    buf[4:8] = struct.pack(f"{order}I", offset)
    return bytes(buf)


def remove_description(tiff: bytes) -> bytes:
    """A copy of the TIFF/EXIF block without ImageDescription: its value zeroed, its entry taken
    out of IFD0 in place (the later entries move up; nothing else moves)."""
    order, ifd0 = _header(tiff)
    entries, next_ifd = _read_ifd(tiff, ifd0, order)
    entry = next((e for e in entries if e.tag == IMAGE_DESCRIPTION), None)
    if entry is None:
        return tiff
    buf = bytearray(tiff)
    _place_value(buf, b"", order, reuse=entry)  # zeroes the old text where it lay out of line
    kept = [e for e in entries if e is not entry]
    table = struct.pack(f"{order}H", len(kept))
    for e in kept:
        table += struct.pack(f"{order}HHI", e.tag, e.type, e.count) + e.field
    table += struct.pack(f"{order}I", next_ifd) + bytes(12)
    buf[ifd0 : ifd0 + len(table)] = table
    return bytes(buf)


def new_block(text: str, *, resolution: tuple[int, int, int] | None, jpeg: bool) -> bytes:
    """A fresh big-endian TIFF/EXIF block (no `Exif\\0\\0` prefix): ImageDescription plus the tags the
    EXIF standard requires beside it (resolution; YCbCrPositioning in JPEG).

    `resolution` is (x, y, EXIF unit), e.g. from the JPEG's JFIF header; 72 dpi when None.
    """
    x, y, unit = resolution or (72, 72, 2)
    value = text.encode("utf-8") + b"\x00"
    entries: list[tuple[int, int, int, bytes]] = [  # tag, type, count, inline value or data
        (IMAGE_DESCRIPTION, ASCII, len(value), value),
        (0x011A, 5, 1, struct.pack(">II", x, 1)),  # XResolution
        (0x011B, 5, 1, struct.pack(">II", y, 1)),  # YResolution
        (0x0128, 3, 1, struct.pack(">H", unit)),  # ResolutionUnit
    ]
    if jpeg:
        entries.append((0x0213, 3, 1, struct.pack(">H", 1)))  # YCbCrPositioning: centred
    table = struct.pack(">2sHIH", b"MM", 42, 8, len(entries))
    data = b""
    data_start = 8 + 2 + 12 * len(entries) + 4
    fields = {}
    # Values in the data area: the aligned rationals first, the (maybe odd-length) string last.
    for tag, _typ, _count, raw in sorted(entries, key=lambda e: (e[0] == IMAGE_DESCRIPTION, e[0])):
        if len(raw) <= 4:
            fields[tag] = raw.ljust(4, b"\x00")
        else:
            fields[tag] = struct.pack(">I", data_start + len(data))
            data += raw
    for tag, typ, count, _raw in entries:
        table += struct.pack(">HHI", tag, typ, count) + fields[tag]
    return table + struct.pack(">I", 0) + data


def _header(tiff: bytes) -> tuple[str, int]:
    if len(tiff) < 8:
        raise ExifError("EXIF block too short")
    order = {b"II": "<", b"MM": ">"}.get(tiff[:2])
    if order is None or struct.unpack(f"{order}H", tiff[2:4])[0] != 42:
        raise ExifError("EXIF block has no TIFF header")
    return order, struct.unpack(f"{order}I", tiff[4:8])[0]


def _read_ifd(tiff: bytes, offset: int, order: str) -> tuple[list[_Entry], int]:
    if offset < 8 or offset + 2 > len(tiff):
        raise ExifError("IFD0 offset out of range")
    (count,) = struct.unpack_from(f"{order}H", tiff, offset)
    end = offset + 2 + 12 * count
    if end + 4 > len(tiff):
        raise ExifError("IFD0 runs past the end of the EXIF block")
    entries = []
    for i in range(count):
        pos = offset + 2 + 12 * i
        tag, typ, n = struct.unpack_from(f"{order}HHI", tiff, pos)
        entries.append(_Entry(pos, tag, typ, n, tiff[pos + 8 : pos + 12]))
    (next_ifd,) = struct.unpack_from(f"{order}I", tiff, end)
    return entries, next_ifd


def _value(tiff: bytes | bytearray, entry: _Entry, order: str) -> bytes | None:
    size = entry.size()
    if size <= 4:
        return bytes(entry.field[:size])
    (offset,) = struct.unpack(f"{order}I", entry.field)
    if offset + size > len(tiff):
        return None
    return bytes(tiff[offset : offset + size])


def _place_value(buf: bytearray, value: bytes, order: str, *, reuse: _Entry | None) -> bytes:
    """Put `value` into `buf` (inline, over the old value, or appended); return the 4-byte field."""
    old_offset = None
    if reuse is not None and reuse.size() > 4:
        (old_offset,) = struct.unpack(f"{order}I", reuse.field)
        if old_offset + reuse.size() <= len(buf):
            buf[old_offset : old_offset + reuse.size()] = bytes(reuse.size())  # no stale text left
        else:
            old_offset = None
    if len(value) <= 4:
        return value.ljust(4, b"\x00")
    if old_offset is not None and reuse is not None and reuse.size() >= len(value):
        buf[old_offset : old_offset + len(value)] = value
        return struct.pack(f"{order}I", old_offset)
    _pad_even(buf)
    offset = len(buf)
    buf += value
    return struct.pack(f"{order}I", offset)


def _pad_even(buf: bytearray) -> None:
    if len(buf) % 2:
        buf += b"\x00"
