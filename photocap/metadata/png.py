"""PNG chunks: read the XMP iTXt chunk, and rebuild the file with a new one (other chunks verbatim)."""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

from photocap.errors import ImageError, MetadataError

SIGNATURE = b"\x89PNG\r\n\x1a\n"
XMP_KEYWORD = b"XML:com.adobe.xmp"
MAX_XMP = 16 * 1024 * 1024


@dataclass(frozen=True)
class Chunk:
    type: bytes
    start: int
    body: int
    end: int  # one past the CRC


class PngFile:
    def __init__(self, data: bytes, chunks: list[Chunk], path: Path):
        self.data = data
        self.chunks = chunks
        self.path = path

    def _xmp_chunk(self) -> Chunk | None:
        for c in self.chunks:
            if c.type == b"iTXt" and self.data.startswith(XMP_KEYWORD + b"\x00", c.body):
                return c
        return None

    def xmp_packet(self) -> bytes | None:
        c = self._xmp_chunk()
        if c is None:
            return None
        rest = self.data[c.body + len(XMP_KEYWORD) + 1 : c.end - 4]
        if len(rest) < 2:
            return None
        compressed, _method = rest[0], rest[1]
        _lang, _, rest = rest[2:].partition(b"\x00")
        _translated, _, text = rest.partition(b"\x00")
        if not compressed:
            return text
        d = zlib.decompressobj()
        try:
            out = d.decompress(text, MAX_XMP)
        except zlib.error:
            raise MetadataError("PNG XMP chunk does not decompress", path=self.path) from None
        if d.unconsumed_tail:
            raise MetadataError(
                "PNG XMP chunk decompresses to more than 16 MiB; refused", path=self.path
            )
        return out

    def rebuild(self, *, xmp: bytes) -> list[bytes | memoryview]:
        """The file's bytes with the XMP iTXt chunk replaced (or added before the first IDAT)."""
        view = memoryview(self.data)
        new = _chunk(b"iTXt", XMP_KEYWORD + b"\x00\x00\x00\x00\x00" + xmp)
        old = self._xmp_chunk()
        out: list[bytes | memoryview] = [view[:8]]
        placed = False
        for c in self.chunks:
            if c == old:
                out.append(new)
                placed = True
                continue
            if c.type == b"IDAT" and not placed and old is None:
                out.append(new)
                placed = True
            out.append(view[c.start : c.end])
        out.append(view[self.chunks[-1].end :])
        return out


def _chunk(kind: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def parse(data: bytes, *, path: Path) -> PngFile:
    """Walk every chunk, checking lengths and CRCs, up to IEND."""
    if not data.startswith(SIGNATURE):
        raise ImageError("not a PNG file", path=path)
    pos, chunks, n = 8, [], len(data)
    while True:
        if pos + 12 > n:
            raise _truncated(path)
        length, kind = struct.unpack_from(">I4s", data, pos)
        end = pos + 12 + length
        if end > n:
            raise _truncated(path)
        (crc,) = struct.unpack_from(">I", data, end - 4)
        if zlib.crc32(memoryview(data)[pos + 4 : end - 4]) & 0xFFFFFFFF != crc:
            raise ImageError(f"corrupt PNG: bad CRC in {kind!r} chunk", path=path)
        chunks.append(Chunk(kind, pos, pos + 8, end))
        pos = end
        if kind == b"IEND":
            break
    if chunks[0].type != b"IHDR" or not any(c.type == b"IDAT" for c in chunks):
        raise ImageError("corrupt PNG: missing IHDR or IDAT", path=path)
    return PngFile(data, chunks, path)


def _truncated(path: Path) -> ImageError:
    return ImageError(
        "truncated PNG (the file ends before its IEND chunk)",
        path=path,
        hint="the file was left untouched; it may still be copying, or be damaged",
    )
