"""Tell what a photo really is from its first bytes, and refuse files whose name lies about it."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from photocap.errors import ImageError

JPEG, PNG, WEBP, TIFF, HEIF, GIF, BMP, RAW = (
    "JPEG",
    "PNG",
    "WebP",
    "TIFF",
    "HEIF",
    "GIF",
    "BMP",
    "RAW",
)

EXTENSIONS: dict[str, str] = {
    **dict.fromkeys((".jpg", ".jpeg", ".jpe", ".jfif", ".jif"), JPEG),
    ".png": PNG,
    ".webp": WEBP,
    **dict.fromkeys((".tif", ".tiff"), TIFF),
    **dict.fromkeys((".heic", ".heif", ".hif", ".avif"), HEIF),
    ".gif": GIF,
    **dict.fromkeys((".bmp", ".dib"), BMP),
    **dict.fromkeys(
        (
            ".dng", ".cr2", ".cr3", ".crw", ".nef", ".nrw", ".arw", ".srf", ".sr2", ".orf",
            ".rw2", ".raf", ".pef", ".srw", ".x3f", ".3fr", ".erf", ".kdc", ".dcr", ".mrw",
            ".rwl", ".iiq", ".mos", ".mef", ".raw",
        ),
        RAW,
    ),
}  # fmt: skip

_HEIF_BRANDS = {
    b"heic",
    b"heix",
    b"hevc",
    b"hevx",
    b"heim",
    b"heis",
    b"mif1",
    b"msf1",
    b"avif",
    b"avis",
}
_RAW_MAGIC = (
    b"IIRO",
    b"IIRS",
    b"MMOR",
    b"IIU\x00",
    b"FUJIFILM",
    b"\x00MRM",
    b"FOVb",
    b"II\x1a\x00\x00\x00HEAP",
)
SNIFF_BYTES = 32


def sniff(head: bytes) -> str | None:
    """The format the leading bytes of a file belong to, or None when they match none we know."""
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return WEBP
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):  # TIFF, BigTIFF
        return TIFF
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in _HEIF_BRANDS:
            return HEIF
        return RAW if brand == b"crx " else None
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return GIF
    if head[:2] == b"BM" and len(head) >= 14:
        return BMP
    if head.startswith(_RAW_MAGIC):
        return RAW
    return None


def photo_kind(path: Path) -> str:
    """The format of the photo at `path`, checked against its name.

    Raises ImageError when the file is missing, not a regular file, unreadable, not a photo we know,
    or when its extension names a different format than its content.
    """
    head = _read_head(path)
    content = sniff(head)
    named = EXTENSIONS.get(path.suffix.lower())
    if named is None:
        if content is None or content == RAW:
            raise ImageError("not a photo format photocap knows", path=path)
        return content
    if content == named or (named == RAW and content in (None, TIFF)):
        return named
    if named == RAW and content == HEIF:  # a RAW name on a HEIF file is a lie; CR3 sniffs as RAW
        content = HEIF
    what = f"{content} data" if content else "data that is not a photo format photocap knows"
    raise ImageError(
        f"the name says {named} but the file holds {what}",
        path=path,
        hint="rename it to its real format or check that it was copied completely",
    )


def _read_head(path: Path) -> bytes:
    try:
        with open(path, "rb") as f:
            st = os.fstat(f.fileno())
            if not stat.S_ISREG(st.st_mode):
                raise ImageError("not a regular file", path=path)
            return f.read(SNIFF_BYTES)
    except FileNotFoundError:
        raise ImageError("file not found (moved or deleted?)", path=path) from None
    except IsADirectoryError:
        raise ImageError("not a regular file", path=path) from None
    except PermissionError:
        raise ImageError("permission denied reading the file", path=path) from None
    except OSError as e:
        if e.errno == errno.ENAMETOOLONG:
            raise ImageError("file name too long", path=path) from None
        raise ImageError(f"cannot read the file: {e.strerror or e}", path=path) from None
