"""JPEG segments: find EXIF / XMP / Extended XMP in APP1, and rebuild the header around new ones.

Everything from the first SOS marker to the end of the file (entropy-coded data, later scans, EOI and
any trailer) is copied byte for byte; so is every header segment photocap does not replace.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from pathlib import Path

from photocap.errors import ImageError, MetadataError

XMP_HEADER = b"http://ns.adobe.com/xap/1.0/\x00"
EXT_HEADER = b"http://ns.adobe.com/xmp/extension/\x00"
EXIF_HEADER = b"Exif\x00"
APP0, APP1, SOS, EOI = 0xE0, 0xE1, 0xDA, 0xD9
MAX_PAYLOAD = 65533  # a segment's length field counts itself: 65535 - 2
MAX_XMP_PACKET = 65502  # the standard packet's limit, with room to spare
EXT_CHUNK = 65400
MAX_EXTENDED = 64 * 1024 * 1024
# After the scan header, 0xFF followed by anything but 0x00, RSTn or fill starts a marker.
_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")


@dataclass(frozen=True)
class Segment:
    marker: int
    start: int  # first byte (fill bytes included)
    end: int  # one past the last byte
    body: int  # first payload byte (after the length field)


class JpegFile:
    """A parsed JPEG: its header segments and where the image data begins."""

    def __init__(self, data: bytes, segments: list[Segment], scan_start: int, path: Path):
        self.path = path
        self.data = data
        self.segments = segments
        self.scan_start = scan_start

    def payload(self, seg: Segment) -> bytes:
        return self.data[seg.body : seg.end]

    def _app1(self, header: bytes) -> list[Segment]:
        return [
            s for s in self.segments if s.marker == APP1 and self.data.startswith(header, s.body)
        ]

    def exif_tiff(self) -> bytes | None:
        """The TIFF structure of the first EXIF APP1 segment (after `Exif\\0\\0`)."""
        segs = self._app1(EXIF_HEADER)
        return self.payload(segs[0])[6:] if segs else None

    def xmp_packet(self) -> bytes | None:
        segs = self._app1(XMP_HEADER)
        return self.payload(segs[0])[len(XMP_HEADER) :] if segs else None

    def has_extended(self) -> bool:
        return bool(self._app1(EXT_HEADER))

    def extended_xmp(self, guid: str) -> bytes | None:
        """The Extended XMP whose GUID is `guid`, reassembled; None when absent or incomplete."""
        parts: dict[int, bytes] = {}
        total = None
        for seg in self._app1(EXT_HEADER):
            p = self.payload(seg)
            n = len(EXT_HEADER)
            if len(p) < n + 40 or p[n : n + 32] != guid.encode("ascii", "replace"):
                continue
            total, offset = struct.unpack(">II", p[n + 32 : n + 40])
            parts[offset] = p[n + 40 :]
        if total is None or total > MAX_EXTENDED:
            return None
        out = bytearray()
        for offset in sorted(parts):
            if offset != len(out):
                return None
            out += parts[offset]
        return bytes(out) if len(out) == total else None

    def jfif_resolution(self) -> tuple[int, int, int] | None:
        """(x, y, EXIF resolution unit) from a JFIF APP0 segment, if any."""
        for seg in self.segments:
            p = self.payload(seg)
            if seg.marker == APP0 and p.startswith(b"JFIF\x00") and len(p) >= 12:
                unit, x, y = struct.unpack(">BHH", p[7:12])
                if x and y and unit <= 2:
                    return x, y, unit + 1
        return None

    def rebuild(
        self, *, exif: bytes | None, xmp: bytes | None, extended: list[bytes] | None
    ) -> list[bytes | memoryview]:
        """The file's bytes with the EXIF TIFF block and/or XMP packet replaced or added.

        `extended` (Extended XMP segment payloads) replaces all old Extended XMP segments when given;
        when None they are kept as they are.
        """
        view = memoryview(self.data)
        make = self._segment
        new_exif = [make(EXIF_HEADER + b"\x00" + exif)] if exif is not None else []
        new_xmp = [make(XMP_HEADER + xmp)] if xmp is not None else []
        new_xmp += [make(p) for p in extended or []]
        exif_seg = next(iter(self._app1(EXIF_HEADER)), None)
        xmp_seg = next(iter(self._app1(XMP_HEADER)), None)
        old_ext = set(self._app1(EXT_HEADER)) if extended is not None else set()
        segments = list(self.segments)
        jfif = (
            bool(segments)
            and segments[0].marker == APP0
            and self.payload(segments[0]).startswith(b"JFIF")
        )
        head = segments[:1] if jfif else []
        out: list[bytes | memoryview] = [view[:2], *(view[s.start : s.end] for s in head)]
        # EXIF belongs right after SOI (and JFIF); new XMP goes right after the EXIF segment.
        if exif_seg is None:
            out += new_exif
            if xmp_seg is None:
                out += new_xmp
        for seg in segments[len(head) :]:
            if seg in old_ext:
                continue
            if seg == exif_seg:
                out += new_exif or [view[seg.start : seg.end]]
                if xmp_seg is None:
                    out += new_xmp
            elif seg == xmp_seg and new_xmp:
                out += new_xmp
            else:
                out.append(view[seg.start : seg.end])
        out.append(view[self.scan_start :])
        return out

    def _segment(self, payload: bytes) -> bytes:
        """An APP1 segment holding `payload`."""
        if len(payload) > MAX_PAYLOAD:
            raise MetadataError(
                f"an APP1 segment of {len(payload)} bytes would exceed the JPEG limit of 65,533",
                path=self.path,
                hint="the file was left untouched; use a sidecar",
            )
        return b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload


def extended_payloads(guid: str, data: bytes) -> list[bytes]:
    """Extended XMP segment payloads for `data` (a serialised x:xmpmeta) under `guid`."""
    head = EXT_HEADER + guid.encode("ascii")
    return [
        head + struct.pack(">II", len(data), off) + data[off : off + EXT_CHUNK]
        for off in range(0, len(data), EXT_CHUNK)
    ]


def parse(data: bytes, *, path: Path, check_scan: bool = True) -> JpegFile:
    """Parse the header; with `check_scan`, also walk the scans to EOI so truncation is caught."""
    n = len(data)
    if not data.startswith(b"\xff\xd8"):
        raise ImageError("not a JPEG file (no SOI marker)", path=path)
    pos, segments = 2, []
    while True:
        start = pos
        if pos >= n:
            raise _truncated(path)
        if data[pos] != 0xFF:
            raise ImageError(f"corrupt JPEG: no marker at byte {pos}", path=path)
        while pos < n and data[pos] == 0xFF:
            pos += 1
        if pos + 2 >= n:
            raise _truncated(path)
        marker = data[pos]
        pos += 1
        if marker in (0x00, 0xD8, EOI):
            raise ImageError(
                f"corrupt JPEG: unexpected marker 0x{marker:02X} before image data", path=path
            )
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:
            segments.append(Segment(marker, start, pos, pos))
            continue
        (length,) = struct.unpack_from(">H", data, pos)
        end = pos + length
        if length < 2:
            raise ImageError(f"corrupt JPEG: bad segment length at byte {pos}", path=path)
        if end > n:
            raise _truncated(path)
        if marker == SOS:
            if check_scan:
                _check_scans(data, end, path)
            return JpegFile(data, segments, start, path)
        segments.append(Segment(marker, start, end, pos + 2))
        pos = end


def _check_scans(data: bytes, pos: int, path: Path) -> None:
    n = len(data)
    while True:
        m = _MARKER.search(data, pos)
        if m is None:
            raise _truncated(path)
        i = m.start()
        if data[i + 1] == EOI:
            return
        if i + 4 > n:
            raise _truncated(path)
        (length,) = struct.unpack_from(">H", data, i + 2)
        if length < 2:
            raise ImageError(f"corrupt JPEG: bad segment length at byte {i + 2}", path=path)
        pos = i + 2 + length
        if pos > n:
            raise _truncated(path)


def _truncated(path: Path) -> ImageError:
    return ImageError(
        "truncated JPEG (the file ends before its end-of-image marker)",
        path=path,
        hint="the file was left untouched; it may still be copying, or be damaged",
    )
