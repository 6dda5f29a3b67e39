"""What is this file? The one answer: format from content, our own files, files still arriving.

A photo's format comes from its first bytes (`sniff`); its name only tells a TIFF-based camera RAW
from a TIFF. photocap's own files (XMP sidecars, hidden temporary files of an atomic write) are
never photos, and neither are files a browser or copy tool is still writing.
"""

from __future__ import annotations

import errno
import os
import re
import stat
from pathlib import Path

from photocap.errors import ImageError

BROKEN_HINT = "the copy or download may have failed; restore the file from a backup"

JPEG, PNG, WEBP, TIFF, BMP, GIF, HEIF, AVIF, JXL, RAW = (
    "jpeg", "png", "webp", "tiff", "bmp", "gif", "heif", "avif", "jxl", "raw",
)  # fmt: skip
# formats photocap captions
DECODABLE = frozenset({JPEG, PNG, WEBP, TIFF, BMP, GIF, HEIF, AVIF, JXL, RAW})
DISPLAY_NAMES = {
    JPEG: "JPEG", PNG: "PNG", WEBP: "WebP", TIFF: "TIFF", BMP: "BMP", GIF: "GIF",
    HEIF: "HEIF", AVIF: "AVIF", JXL: "JPEG XL", RAW: "RAW",
}  # fmt: skip

# What a photo's name says it is.
EXTENSIONS: dict[str, str] = {
    **dict.fromkeys((".jpg", ".jpeg", ".jpe", ".jfif", ".jif"), JPEG),
    **dict.fromkeys((".png", ".apng"), PNG),
    ".webp": WEBP,
    **dict.fromkeys((".tif", ".tiff"), TIFF),
    **dict.fromkeys((".heic", ".heif", ".hif"), HEIF),
    ".avif": AVIF,
    ".jxl": JXL,
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
IMAGE_SUFFIXES = frozenset(s for s, kind in EXTENSIONS.items() if kind in DECODABLE)
# Camera RAW formats that are TIFF inside; their first picture is a thumbnail, not the photo.
_RAW_TIFF_SUFFIXES = frozenset(s for s, kind in EXTENSIONS.items() if kind == RAW)
_RAW_MAGIC = (
    b"IIRO", b"IIRS", b"MMOR", b"IIU\x00", b"FUJIFILM", b"\x00MRM", b"FOVb", b"II\x1a\x00\x00\x00HEAP",
)  # fmt: skip
_HEIF_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs"})
_AVIF_BRANDS = frozenset({b"avif", b"avis"})
_JXL_MAGIC = (b"\xff\x0a", b"\x00\x00\x00\x0cJXL \r\n\x87\n")  # bare codestream, container
HEAD_BYTES = 64

# Names browsers and copy tools give a file while it is still coming; it is read once renamed.
IN_PROGRESS_SUFFIXES = (
    ".part", ".partial", ".crdownload", ".download", ".opdownload", ".filepart", ".tmp", ".temp",
    ".!qb",
)  # fmt: skip
TEMP_MARK = ".photocap-"
TEMP_SUFFIX = ".tmp"
_TEMP_RE = re.compile(r"^\..*\.photocap-[0-9a-f]{8}\.tmp$", re.DOTALL)


def sniff(head: bytes, name: str = "") -> str | None:
    """The format a file's first bytes belong to (a `kinds` constant), or None when we know none.

    `name` only tells a TIFF-based camera RAW (DNG, NEF, ...) from a TIFF."""
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return GIF
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return WEBP
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):  # TIFF, BigTIFF
        raw = head[8:10] == b"CR" or Path(name).suffix.lower() in _RAW_TIFF_SUFFIXES
        return RAW if raw else TIFF
    if head[:2] == b"BM" and _is_bmp(head):
        return BMP
    if head[4:8] == b"ftyp":
        return _iso_media_kind(head)
    if head.startswith(_RAW_MAGIC):
        return RAW
    if head.startswith(_JXL_MAGIC):
        return JXL
    return None


def _is_bmp(head: bytes) -> bool:
    """A "BM" file whose DIB header has one of the known sizes (text can start with "BM" too)."""
    sizes = (12, 40, 52, 56, 64, 108, 124)
    return len(head) >= 18 and int.from_bytes(head[14:18], "little") in sizes


def _iso_media_kind(head: bytes) -> str | None:
    """HEIF, AVIF or a Canon CR3 from an ISO-BMFF `ftyp` box's brands; None for video."""
    box_end = min(int.from_bytes(head[0:4], "big"), len(head))
    brands = {head[8:12]} | {head[i : i + 4] for i in range(16, box_end - 3, 4)}
    if head[8:12] == b"crx ":
        return RAW
    if brands & _HEIF_BRANDS:
        return HEIF
    if brands & _AVIF_BRANDS:
        return AVIF
    return HEIF if head[8:12] in (b"mif1", b"msf1") else None


def is_temp_name(name: str) -> bool:
    """True for the names of photocap's atomic-write temporary files (`.<name>.photocap-XXXXXXXX.tmp`)."""
    return bool(_TEMP_RE.match(name))


def is_sidecar(path: str | os.PathLike[str]) -> bool:
    """True for an XMP sidecar's name (a photo is never one)."""
    return os.fspath(path).lower().endswith(".xmp")


def is_photocap_file(path: str | os.PathLike[str]) -> bool:
    """True for photocap's temporary files and for XMP sidecars (never photos)."""
    return is_temp_name(os.path.basename(os.fspath(path))) or is_sidecar(path)


def is_in_progress(path: str | os.PathLike[str]) -> bool:
    """True for a name a download or copy gives a file that is still arriving."""
    return os.fspath(path).lower().endswith(IN_PROGRESS_SUFFIXES)


def is_never_a_photo(path: str | os.PathLike[str]) -> bool:
    """photocap's own files and files still arriving: neither is ever captioned as it is."""
    return is_photocap_file(path) or is_in_progress(path)


def sniff_format(path: str | Path) -> str | None:
    """The format of the file at `path` from its first bytes, None when photocap does not caption it.

    Raises ImageError when the file cannot be read at all (missing, permission, not a file).
    """
    path = Path(path)
    check_regular_file(path)
    kind = sniff(read_head(path), path.name)
    return kind if kind in DECODABLE else None


def looks_like_photo(path: str | Path, *, include_suspects: bool = True) -> bool:
    """As `photocap index` decides: the content is a format we caption, or (with `include_suspects`)
    the name says so although the content does not (empty, damaged: decoding will say why)."""
    try:
        if sniff_format(path) is not None:
            return True
    except ImageError:
        pass  # unreadable: judged by its name below
    return include_suspects and os.path.splitext(path)[1].lower() in IMAGE_SUFFIXES


def check_regular_file(path: Path) -> os.stat_result:
    """`os.stat(path)`, or ImageError when it is missing, unreadable, a folder or a special file."""
    try:
        st = os.stat(path)
    except OSError as exc:
        raise unreadable_error(path, exc) from None
    if stat.S_ISDIR(st.st_mode):
        raise ImageError("is a folder, not a photo", path=path)
    if not stat.S_ISREG(st.st_mode):
        kind = "FIFO" if stat.S_ISFIFO(st.st_mode) else "socket or device file"
        raise ImageError(f"not a regular file (a {kind}), not a photo", path=path)
    return st


def read_head(path: Path, size: int = HEAD_BYTES) -> bytes:
    """The first `size` bytes of the file at `path`; ImageError saying why it cannot be read."""
    try:
        with open(path, "rb") as file:
            return file.read(size)
    except OSError as exc:
        raise unreadable_error(path, exc) from None


def unreadable_error(path: Path, exc: OSError) -> ImageError:
    """The one wording of each reason a photo cannot be opened."""
    if isinstance(exc, FileNotFoundError):
        return ImageError("file not found", path=path, hint="it may have been moved or deleted")
    if isinstance(exc, PermissionError):
        return permission_error(path)
    if isinstance(exc, IsADirectoryError):
        return ImageError("is a folder, not a photo", path=path)
    if exc.errno == errno.ENAMETOOLONG:
        return ImageError("file name too long", path=path)
    return ImageError(f"cannot read: {exc.strerror or exc}", path=path)


def permission_error(path: Path) -> ImageError:
    return ImageError(
        "permission denied", path=path, hint="make it readable (chmod +r) or run as its owner"
    )


def describe_content(head: bytes, name: str = "") -> str:
    """A few words on what a file that is not a format photocap captions seems to be."""
    if head[4:8] == b"ftyp":
        return "a video or other ISO media file"
    known = {
        b"%PDF": "a PDF document",
        b"PK\x03\x04": "a ZIP archive",
        b"8BPS": "a Photoshop document (unsupported)",
        b"\x00\x00\x01\x00": "an icon file (unsupported)",
        b"\x00\x00\x00\x0cjP": "a JPEG 2000 image (unsupported)",
    }
    for magic, what in known.items():
        if head.startswith(magic):
            return what
    text = head.lstrip(b"\xef\xbb\xbf").lstrip()
    if text[:5].lower() in (b"<?xml", b"<svg ", b"<x:xm", b"<html", b"<!doc"):
        return "XML, SVG or HTML text"
    if _looks_like_text(head):
        return "text"
    return f"unrecognised data (starts {head[:8].hex(' ')})"


def _looks_like_text(head: bytes) -> bool:
    try:
        decoded = head.decode("utf-8", errors="strict")
    except UnicodeDecodeError as exc:  # a multi-byte character cut at the end of `head` is fine
        if exc.start < len(head) - 3:
            return False
        decoded = head[: exc.start].decode("utf-8")
    return all(ch.isprintable() or ch in "\t\r\n\f" for ch in decoded)


def not_an_image(path: Path, head: bytes) -> ImageError:
    """The error for a file whose content is not a format photocap captions."""
    what = describe_content(head, path.name)
    suffix = path.suffix.lower()
    if "unsupported" in what:
        return ImageError(
            f"unsupported format: {what.removesuffix(' (unsupported)')}",
            path=path,
            hint="convert it to JPEG, PNG, WebP, TIFF, HEIC or AVIF to caption it",
        )
    says = f" although the name says {suffix}" if suffix in IMAGE_SUFFIXES else ""
    return ImageError(
        f"not an image: the content is {what}{says}",
        path=path,
        hint="the file may be misnamed or damaged" if says else None,
    )
