"""Finding photos and decoding them: content sniffing, fast JPEG/HEIC decode, orientation, size limits.

The content of a file, not its name, decides what it is. Decoding is bounded: a photo's header is
checked against a pixel limit before any pixel is decoded, and JPEG/HEIC decode at reduced size.
"""

from __future__ import annotations

import os
import stat
import threading
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from photocap.errors import ImageError
from photocap.metadata.atomic import is_temp_name

SUPPORTED_FORMATS = ("jpeg", "png", "webp", "tiff", "bmp", "gif", "heif")
MAX_PIXELS = 89_478_485  # Pillow's own default limit (about 89 megapixels)
_HEAD_BYTES = 64

# Pillow format names tried for each sniffed format (Image.open(formats=...)).
_PIL_FORMATS = {
    "jpeg": ["JPEG"],  # Pillow's JPEG opener also returns MPO files (multi-picture camera JPEGs)
    "png": ["PNG"],
    "webp": ["WEBP"],
    "tiff": ["TIFF"],
    "bmp": ["BMP"],
    "gif": ["GIF"],
    "heif": ["HEIF"],
}
IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".apng", ".webp", ".tif", ".tiff", ".bmp", ".dib"}
    | {".gif", ".heic", ".heif", ".hif"}
)
# Camera RAW formats that are TIFF inside; their first picture is a thumbnail, not the photo.
_RAW_TIFF_SUFFIXES = frozenset(
    {".dng", ".nef", ".nrw", ".arw", ".srf", ".sr2", ".pef", ".erf", ".kdc", ".dcr", ".3fr", ".iiq"}
)
_HEIF_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs"})
_ORIENTATION_TAG = 0x0112
_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_BROKEN_HINT = "the copy or download may have failed; restore the file from a backup"


@dataclass(frozen=True)
class Photo:
    """A decoded photo: RGB pixels (possibly reduced) and the original size after orientation."""

    image: Image.Image
    format: str
    width: int
    height: int


# ---------------------------------------------------------------- sniffing


def sniff_bytes(head: bytes, name: str = "") -> str | None:
    """Supported format named by a file's first bytes, or None. `name` only tells RAW from TIFF."""
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        raw = head[8:10] == b"CR" or Path(name).suffix.lower() in _RAW_TIFF_SUFFIXES
        return None if raw else "tiff"
    if head[:2] == b"BM" and _is_bmp(head):
        return "bmp"
    if _is_heif(head):
        return "heif"
    return None


def _is_bmp(head: bytes) -> bool:
    """A "BM" file whose DIB header has one of the known sizes (text can start with "BM" too)."""
    return len(head) >= 18 and int.from_bytes(head[14:18], "little") in (
        12,
        40,
        52,
        56,
        64,
        108,
        124,
    )


def _is_heif(head: bytes) -> bool:
    """An ISO-BMFF `ftyp` box whose brands say HEIC/HEIF (AVIF and video are not)."""
    if head[4:8] != b"ftyp":
        return False
    box_end = min(int.from_bytes(head[0:4], "big"), len(head))
    brands = {head[8:12]} | {head[i : i + 4] for i in range(16, box_end - 3, 4)}
    if brands & _HEIF_BRANDS:
        return True
    return head[8:12] in (b"mif1", b"msf1") and not brands & {b"avif", b"avis"}


def sniff_format(path: str | Path) -> str | None:
    """Format of the image at `path` from its magic bytes ("jpeg", "png", …), None if not one we read.

    Raises ImageError when the file cannot be read at all (missing, permission, not a file).
    """
    path = Path(path)
    _check_regular_file(path)
    return sniff_bytes(_read_head(path), path.name)


def _check_regular_file(path: Path) -> os.stat_result:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise ImageError(
            "file not found", path=path, hint="it may have been moved or deleted"
        ) from None
    except PermissionError:
        raise _permission_error(path) from None
    except OSError as exc:
        raise ImageError(f"cannot read: {exc.strerror or exc}", path=path) from None
    if stat.S_ISDIR(st.st_mode):
        raise ImageError("is a folder, not a photo", path=path)
    if not stat.S_ISREG(st.st_mode):
        kind = "FIFO" if stat.S_ISFIFO(st.st_mode) else "socket or device file"
        raise ImageError(f"not a regular file (a {kind}), not a photo", path=path)
    return st


def _read_head(path: Path) -> bytes:
    try:
        with open(path, "rb") as file:
            return file.read(_HEAD_BYTES)
    except FileNotFoundError:
        raise ImageError(
            "file not found", path=path, hint="it may have been moved or deleted"
        ) from None
    except PermissionError:
        raise _permission_error(path) from None
    except IsADirectoryError:
        raise ImageError("is a folder, not a photo", path=path) from None
    except OSError as exc:
        raise ImageError(f"cannot read: {exc.strerror or exc}", path=path) from None


def _permission_error(path: Path) -> ImageError:
    return ImageError(
        "permission denied", path=path, hint="make it readable (chmod +r) or run as its owner"
    )


def describe_content(head: bytes, name: str = "") -> str:
    """A few words on what a file that is not a supported image seems to be."""
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in (b"avif", b"avis") or b"avif" in head[16:]:
            return "an AVIF image (unsupported)"
        return "a video or other ISO media file"
    if head[:4] in (b"II*\x00", b"MM\x00*") or head[:4] in (b"IIRO", b"IIRS", b"IIU\x00"):
        return "a camera RAW file (unsupported)"
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


def _not_an_image(path: Path, head: bytes) -> ImageError:
    what = describe_content(head, path.name)
    suffix = path.suffix.lower()
    if "unsupported" in what:
        return ImageError(
            f"unsupported format: {what.removesuffix(' (unsupported)')}",
            path=path,
            hint="convert it to JPEG, PNG, WebP, TIFF or HEIC to caption it",
        )
    says = f" although the name says {suffix}" if suffix in IMAGE_SUFFIXES else ""
    return ImageError(
        f"not an image: the content is {what}{says}",
        path=path,
        hint="the file may be misnamed or damaged" if says else None,
    )


# ---------------------------------------------------------------- discovery


def discover(
    paths: Iterable[str | Path] | str | Path,
    *,
    include_suspects: bool = True,
    on_error: Callable[[ImageError], None] | None = None,
    known: Callable[[str, os.stat_result], bool] | None = None,
    on_temp_file: Callable[[Path], None] | None = None,
) -> Iterator[Path]:
    """Absolute paths of the photos under `paths`, folders walked recursively, sorted per folder.

    Skips hidden files and folders, XMP sidecars and photocap's temp files; follows symlinks
    but walks each folder once (no loops, no duplicates). Files are kept by content; with
    `include_suspects`, a file named like a photo whose content is not (empty, text, unreadable)
    is kept too, so that decoding reports it. Files named directly are always kept (except
    sidecars), so decoding can say what is wrong with them. A missing path raises ImageError;
    a folder that cannot be listed is passed to `on_error` (skipped silently without one).
    A file for which `known(path, stat)` is true (e.g. indexed with this size and mtime) is kept
    without being opened: a rerun over an unchanged library reads no file contents.
    Each photocap temporary file met on the way (never yielded) is passed to `on_temp_file`.
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    seen_dirs: set[tuple[int, int]] = set()
    seen_files: set[Path] = set()
    for raw in paths:
        root = Path(os.path.abspath(os.fspath(raw)))
        st = _stat_root(root)
        if stat.S_ISDIR(st.st_mode):
            walk = _walk(root, st, seen_dirs, include_suspects, on_error, known, on_temp_file)
            yield from walk
        elif not _is_own_file(root.name) and root not in seen_files:
            seen_files.add(root)
            yield root


def _stat_root(root: Path) -> os.stat_result:
    try:
        return os.stat(root)
    except FileNotFoundError:
        hint = "the symlink points nowhere" if os.path.islink(root) else "check the path"
        raise ImageError("no such file or folder", path=root, hint=hint) from None
    except PermissionError:
        raise _permission_error(root) from None
    except OSError as exc:
        raise ImageError(f"cannot open: {exc.strerror or exc}", path=root) from None


def _walk(
    root: Path,
    root_stat: os.stat_result,
    seen_dirs: set[tuple[int, int]],
    include_suspects: bool,
    on_error: Callable[[ImageError], None] | None,
    known: Callable[[str, os.stat_result], bool] | None = None,
    on_temp_file: Callable[[Path], None] | None = None,
) -> Iterator[Path]:
    """Depth-first walk with an explicit stack; each folder (by device and inode) visited once."""
    if not _first_visit(root_stat, seen_dirs):
        return
    stack = [iter(_list_folder(str(root), on_error))]
    while stack:
        entry = next(stack[-1], None)
        if entry is None:
            stack.pop()
            continue
        if entry.name.startswith("."):
            if on_temp_file is not None and is_temp_name(entry.name):
                on_temp_file(Path(entry.path))
            continue
        try:
            is_dir = entry.is_dir()  # follows symlinks; a broken or looping link is neither
            if is_dir and _first_visit(entry.stat(), seen_dirs):
                stack.append(iter(_list_folder(entry.path, on_error)))
            elif not is_dir and _is_photo_entry(entry, include_suspects, known):
                yield Path(entry.path)
        except OSError:
            continue  # vanished or unreadable while walking


def _first_visit(st: os.stat_result, seen_dirs: set[tuple[int, int]]) -> bool:
    key = (st.st_dev, st.st_ino)
    if key in seen_dirs:
        return False
    seen_dirs.add(key)
    return True


def _list_folder(folder: str, on_error: Callable[[ImageError], None] | None) -> list[os.DirEntry]:
    try:
        with os.scandir(folder) as entries:
            return sorted(entries, key=lambda entry: entry.name)
    except OSError as exc:
        if on_error is not None:
            reason = "permission denied" if isinstance(exc, PermissionError) else exc.strerror
            on_error(ImageError(f"cannot list folder: {reason}", path=folder))
        return []


def _is_own_file(name: str) -> bool:
    """XMP sidecars and photocap's atomic-write temp files."""
    lower = name.lower()
    return lower.endswith(".xmp") or (".photocap-" in lower and lower.endswith(".tmp"))


def _is_photo_entry(
    entry: os.DirEntry,
    include_suspects: bool,
    known: Callable[[str, os.stat_result], bool] | None = None,
) -> bool:
    """A regular file (or a link to one), not photocap's own, that is or looks like a photo."""
    if not entry.is_file() or _is_own_file(entry.name):
        return False
    path = entry.path
    if known is not None and known(path, entry.stat()):
        return True
    try:
        if sniff_bytes(_read_head(Path(path)), path) is not None:
            return True
    except ImageError:
        pass  # unreadable: judged by its name below
    return include_suspects and os.path.splitext(path)[1].lower() in IMAGE_SUFFIXES


# ---------------------------------------------------------------- decoding

_heif_lock = threading.Lock()
_heif_registered = False


def _register_heif(path: Path) -> None:
    """Teach Pillow HEIC/HEIF through pillow-heif, once per process."""
    global _heif_registered
    with _heif_lock:
        if _heif_registered:
            return
        try:
            import pillow_heif
        except ImportError:
            raise ImageError(
                "unsupported format: HEIC/HEIF needs pillow-heif",
                path=path,
                hint="pip install pillow-heif",
            ) from None
        pillow_heif.register_heif_opener()
        _heif_registered = True


def open_photo(
    path: str | Path, min_side: int | None = 224, max_pixels: int = MAX_PIXELS
) -> Image.Image:
    """The photo at `path` as an RGB image, oriented as its EXIF says, first frame of animations.

    With `min_side`, the image comes back reduced by an integer factor while both sides stay
    ≥ `min_side` (JPEG and HEIC decode reduced: JPEG DCT scaling, HEIC embedded thumbnails).
    Photos over `max_pixels` are refused from their header, before decoding. Transparency is
    composited on white. Raises ImageError naming the reason.
    """
    return decode_photo(path, min_side, max_pixels).image


def decode_photo(
    path: str | Path, min_side: int | None = 224, max_pixels: int = MAX_PIXELS
) -> Photo:
    """Like open_photo, and also gives the format and the original size (after orientation)."""
    path = Path(path)
    st = _check_regular_file(path)
    if st.st_size == 0:
        raise ImageError("empty file (0 bytes)", path=path, hint=_BROKEN_HINT)
    head = _read_head(path)
    fmt = sniff_bytes(head, path.name)
    if fmt is None:
        raise _not_an_image(path, head)
    if fmt == "heif":
        _register_heif(path)
    with _open_image(path, fmt, max_pixels) as image:
        width, height = image.size
        if width * height > max_pixels:
            raise _too_large(path, width, height, max_pixels)
        if min_side and fmt in ("jpeg", "heif"):
            image.draft("RGB", (min_side, min_side))
        _load(image, path, fmt)
        orientation = _orientation(image)
        rgb = _convert(image, path, min_side)
    if orientation in _TRANSPOSE:
        rgb = rgb.transpose(_TRANSPOSE[orientation])
    if orientation in (5, 6, 7, 8):
        width, height = height, width
    return Photo(rgb, fmt, width, height)


def _open_image(path: Path, fmt: str, max_pixels: int) -> Image.Image:
    """Image.open reading only the header; Pillow's own bomb guard turned into a clear error."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return Image.open(path, formats=_PIL_FORMATS[fmt])
    except Image.DecompressionBombError as exc:
        try:
            width, height = _header_size(path, fmt)
        except Exception:  # the header read once already; if not again, Pillow's words will do
            raise ImageError(f"too large: {exc}", path=path) from None
        raise _too_large(path, width, height, max_pixels) from None
    except PermissionError:
        raise _permission_error(path) from None
    except (UnidentifiedImageError, SyntaxError, ValueError, OSError, EOFError) as exc:
        raise _corrupt(path, fmt, exc) from None


def _header_size(path: Path, fmt: str) -> tuple[int, int]:
    """Width and height from the header alone, past Pillow's own bomb check (no decoding)."""
    Image.init()
    factory, _accept = Image.OPEN[_PIL_FORMATS[fmt][0]]
    with open(path, "rb") as file:
        return factory(file, str(path)).size


def _too_large(path: Path, width: int, height: int, max_pixels: int) -> ImageError:
    megapixels = width * height / 1e6
    return ImageError(
        f"too large: {width}×{height} ({megapixels:,.0f} megapixels, "
        f"limit {max_pixels / 1e6:,.0f}); refused as a possible decompression bomb",
        path=path,
        hint="shrink the image, or raise the pixel limit if you trust it",
    )


def _corrupt(path: Path, fmt: str, exc: BaseException) -> ImageError:
    detail = str(exc) or type(exc).__name__
    if "truncated" in detail or isinstance(exc, EOFError):
        return ImageError(
            f"truncated {fmt.upper()}: the file ends before the image does ({detail})",
            path=path,
            hint=_BROKEN_HINT,
        )
    return ImageError(f"corrupt {fmt.upper()} data: {detail}", path=path, hint=_BROKEN_HINT)


def _load(image: Image.Image, path: Path, fmt: str) -> None:
    try:
        image.load()
    except MemoryError:
        raise ImageError("out of memory while decoding", path=path) from None
    except (SyntaxError, ValueError, OSError, EOFError, IndexError, TypeError) as exc:
        raise _corrupt(path, fmt, exc) from None


def _convert(image: Image.Image, path: Path, min_side: int | None) -> Image.Image:
    try:
        return _reduce(_to_rgb(image), min_side)
    except MemoryError:
        raise ImageError("out of memory while converting", path=path) from None
    except (ValueError, OSError, TypeError) as exc:
        raise ImageError(
            f"unsupported colour mode {image.mode}: {exc}",
            path=path,
            hint="convert it to 8-bit RGB to caption it",
        ) from None


def _orientation(image: Image.Image) -> int:
    """EXIF orientation 1–8 (1 when absent or unreadable); HEIF comes already oriented."""
    try:
        value = image.getexif().get(_ORIENTATION_TAG, 1)
    except Exception:  # a damaged EXIF block must not cost the photo
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _to_rgb(image: Image.Image) -> Image.Image:
    """8-bit RGB: high bit depths scaled (not clipped), transparency composited on white."""
    if image.mode == "RGB":
        return image
    if image.mode.startswith("I") or image.mode == "F":
        return _high_depth_to_rgb(image)
    if "transparency" in image.info or image.mode in ("PA", "La", "RGBa"):
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA"):
        white = Image.new("RGB", image.size, (255, 255, 255))
        white.paste(image.convert("RGBA"), mask=image.getchannel("A"))
        return white
    return image.convert("RGB")


def _high_depth_to_rgb(image: Image.Image) -> Image.Image:
    """Grayscale of 16/32 bits or floats to 8 bits, keeping the tones (Pillow would clip at 255)."""
    values = np.asarray(image).astype(np.float32)
    if image.mode == "F" and values.size and float(np.nanmax(values)) <= 1.0:
        values = values * 255.0
    elif image.mode.startswith("I;16") or (values.size and float(values.max()) > 255.0):
        values = values / 257.0
    gray = np.clip(np.nan_to_num(values), 0, 255).round().astype(np.uint8)
    return Image.fromarray(gray).convert("RGB")


def _reduce(image: Image.Image, min_side: int | None) -> Image.Image:
    """Shrink by the largest integer factor that keeps both sides ≥ min_side."""
    if not min_side:
        return image
    factor = min(image.width // min_side, image.height // min_side)
    return image.reduce(factor) if factor >= 2 else image
