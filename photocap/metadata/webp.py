"""WebP (RIFF) chunks: read EXIF and XMP, and rebuild the container with new ones.

Every other chunk (image data, ICC profile, animation frames, unknown chunks) is copied byte for byte.
A simple (VP8 / VP8L) file gains the VP8X header the extended format needs for metadata.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

from photocap.errors import ImageError

EXIF, XMP, VP8X = b"EXIF", b"XMP ", b"VP8X"
_FLAG_ICC, _FLAG_ALPHA, _FLAG_EXIF, _FLAG_XMP = 0x20, 0x10, 0x08, 0x04
_IMAGE = {b"VP8 ", b"VP8L", b"VP8X", b"ALPH", b"ANIM", b"ANMF", b"ICCP"}
_EXIF_PREFIX = b"Exif\x00\x00"


@dataclass(frozen=True)
class Chunk:
    fourcc: bytes
    start: int
    body: int
    size: int  # payload size, without padding
    end: int  # one past the padding byte, if any


class WebPFile:
    def __init__(self, data: bytes, chunks: list[Chunk], riff_end: int, path: Path):
        self.data = data
        self.chunks = chunks
        self.riff_end = riff_end
        self.path = path

    def payload(self, chunk: Chunk) -> bytes:
        return self.data[chunk.body : chunk.body + chunk.size]

    def find(self, fourcc: bytes) -> Chunk | None:
        return next((c for c in self.chunks if c.fourcc == fourcc), None)

    def exif_tiff(self) -> bytes | None:
        chunk = self.find(EXIF)
        if chunk is None:
            return None
        p = self.payload(chunk)
        return p[6:] if p.startswith(_EXIF_PREFIX) else p

    def exif_prefixed(self) -> bool:
        chunk = self.find(EXIF)
        return chunk is not None and self.payload(chunk).startswith(_EXIF_PREFIX)

    def xmp_packet(self) -> bytes | None:
        chunk = self.find(XMP)
        return self.payload(chunk) if chunk else None

    def rebuild(self, *, exif: bytes | None, xmp: bytes | None) -> list[bytes | memoryview]:
        """The file's bytes with the EXIF chunk payload and/or XMP chunk payload replaced or added."""
        view = memoryview(self.data)
        new = {EXIF: exif, XMP: xmp}
        fourccs: list[bytes] = []
        body: list[bytes | memoryview] = []
        for c in self.chunks:
            fourccs.append(c.fourcc)
            if c.fourcc == VP8X:
                body.append(_chunk(VP8X, self._vp8x_flags(c, exif is not None, xmp is not None)))
            elif new.get(c.fourcc) is not None:
                body.append(_chunk(c.fourcc, new.pop(c.fourcc)))  # replaced in place
            elif c.end - c.body == c.size + (c.size & 1):
                body.append(view[c.start : c.end])
            else:  # a last chunk missing its padding byte
                body.append(_chunk(c.fourcc, self.payload(c)))
        after_image = 1 + max(i for i, f in enumerate(fourccs) if f in _IMAGE)
        for fourcc in (EXIF, XMP):  # spec order: image data, EXIF, XMP, unknown chunks
            if new.get(fourcc) is None:
                continue
            if fourcc == EXIF and XMP in fourccs:
                at = fourccs.index(XMP)
            elif fourcc == XMP and EXIF in fourccs:
                at = fourccs.index(EXIF) + 1
            else:
                at = after_image
            fourccs.insert(at, fourcc)
            body.insert(at, _chunk(fourcc, new[fourcc]))
        if self.chunks[0].fourcc != VP8X:
            body.insert(0, _chunk(VP8X, self._vp8x_for_simple(exif is not None, xmp is not None)))
        size = 4 + sum(len(b) for b in body)
        return [b"RIFF", struct.pack("<I", size), b"WEBP", *body, view[self.riff_end :]]

    def _vp8x_flags(self, chunk: Chunk, exif: bool, xmp: bool) -> bytes:
        p = bytearray(self.payload(chunk))
        p[0] |= (_FLAG_EXIF if exif else 0) | (_FLAG_XMP if xmp else 0)
        return bytes(p)

    def _vp8x_for_simple(self, exif: bool, xmp: bool) -> bytes:
        c = self.chunks[0]
        p = self.payload(c)
        alpha = False
        if c.fourcc == b"VP8 " and len(p) >= 10 and p[3:6] == b"\x9d\x01\x2a":
            w, h = (v & 0x3FFF for v in struct.unpack("<HH", p[6:10]))
        elif c.fourcc == b"VP8L" and len(p) >= 5 and p[0] == 0x2F:
            (bits,) = struct.unpack("<I", p[1:5])
            w, h, alpha = (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1, bool(bits >> 28 & 1)
        else:
            raise ImageError("corrupt WebP: unreadable image header", path=self.path)
        flags = (
            (_FLAG_ALPHA if alpha else 0) | (_FLAG_EXIF if exif else 0) | (_FLAG_XMP if xmp else 0)
        )
        return (
            bytes((flags, 0, 0, 0)) + (w - 1).to_bytes(3, "little") + (h - 1).to_bytes(3, "little")
        )


def _chunk(fourcc: bytes, payload: bytes) -> bytes:
    return (
        fourcc + struct.pack("<I", len(payload)) + payload + (b"\x00" if len(payload) & 1 else b"")
    )


def parse(data: bytes, *, path: Path) -> WebPFile:
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        raise ImageError("not a WebP file", path=path)
    (riff_size,) = struct.unpack_from("<I", data, 4)
    end = 8 + riff_size
    if end > len(data):
        raise _truncated(path)
    pos, chunks = 12, []
    while pos < end:
        if pos + 8 > end:
            raise ImageError(f"corrupt WebP: broken chunk header at byte {pos}", path=path)
        fourcc = data[pos : pos + 4]
        (size,) = struct.unpack_from("<I", data, pos + 4)
        body = pos + 8
        if body + size > end:
            raise _truncated(path)
        chunk_end = min(body + size + (size & 1), end)
        chunks.append(Chunk(fourcc, pos, body, size, chunk_end))
        pos = chunk_end
    if not chunks or chunks[0].fourcc not in (b"VP8 ", b"VP8L", VP8X):
        raise ImageError("corrupt WebP: no image data chunk", path=path)
    if not any(c.fourcc in (b"VP8 ", b"VP8L", b"ANMF") for c in chunks):
        raise _truncated(path)
    return WebPFile(data, chunks, end, path)


def _truncated(path: Path) -> ImageError:
    return ImageError(
        "truncated WebP (the file is shorter than its RIFF header says)",
        path=path,
        hint="the file was left untouched; it may still be copying, or be damaged",
    )
