"""Camera RAW files for the model, read with LibRaw (rawpy) and never written to.

The camera's own embedded JPEG preview is used when it is at least as large as asked (it is
already rendered, and reading it costs little more than the file's header); otherwise LibRaw
renders the sensor data at half size (no demosaicing: each 2×2 Bayer block becomes one pixel).
Either way the picture is oriented as the RAW's metadata says. A TIFF-based RAW (DNG, NEF, CR2,
ARW, PEF, ...) whose image data runs past the end of the file is refused as truncated before
LibRaw reads it, whichever picture would have been used.
"""

from __future__ import annotations

import io
import os
import struct
import sys
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, UnidentifiedImageError

from photocap.errors import ImageError
from photocap.photos.kinds import BROKEN_HINT
from photocap.photos.orientation import SIDEWAYS, upright

if TYPE_CHECKING:
    import rawpy

# LibRaw's `flip` (dcraw's numbering) as the EXIF orientation it stands for.
_FLIP_TO_EXIF = {0: 1, 1: 2, 2: 4, 3: 3, 4: 5, 5: 8, 6: 6, 7: 7}
# TIFF tags whose values point at image data: (offsets, byte counts).
_DATA_TAGS = ((273, 279), (324, 325), (513, 514))
_SUB_IFDS, _EXIF_IFD = 330, 34665
_TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4}
_MAX_IFDS = 64
_import_lock = threading.Lock()


def _rawpy():
    """rawpy, with LibRaw's OpenMP held to one thread.

    rawpy's wheels bundle GNU OpenMP, whose thread pool does not survive fork(): a DataLoader
    worker forked from a process that had rendered a RAW hangs in its first render. With one
    thread (OMP_NUM_THREADS, read once when rawpy's own libgomp loads) there is no pool to break;
    photocap decodes in parallel across worker processes instead. The variable is put back at
    once, so torch's own OpenMP never sees it."""
    if "rawpy" in sys.modules:
        return sys.modules["rawpy"]
    with _import_lock:
        saved = os.environ.get("OMP_NUM_THREADS")
        os.environ["OMP_NUM_THREADS"] = "1"
        try:
            import rawpy
        finally:
            if saved is None:
                del os.environ["OMP_NUM_THREADS"]
            else:
                os.environ["OMP_NUM_THREADS"] = saved
    return rawpy


@contextmanager
def open_raw(path: Path) -> Iterator[rawpy.RawPy]:
    """The RAW file at `path` opened by LibRaw (its metadata parsed, no pixels read).

    Raises ImageError for a truncated, damaged or unsupported file."""
    rawpy = _rawpy()
    check_complete(path)
    try:
        with warnings.catch_warnings():  # its fork warning: one OpenMP thread (`_rawpy`) is safe
            warnings.filterwarnings("ignore", "rawpy is being used in a process created by")
            raw = rawpy.imread(os.fspath(path))
    except rawpy.LibRawError as exc:
        raise _libraw_error(path, exc) from None
    except MemoryError:
        raise ImageError("out of memory while opening", path=path) from None
    with raw:
        yield raw


def oriented_size(raw: rawpy.RawPy) -> tuple[int, int]:
    """The photo's full width and height as shown (after the RAW's orientation)."""
    sizes = raw.sizes
    if _orientation(raw) in SIDEWAYS:
        return sizes.height, sizes.width
    return sizes.width, sizes.height


def picture(
    raw: rawpy.RawPy, path: Path, min_side: int | None, max_pixels: int
) -> tuple[Image.Image, str]:
    """(RGB picture oriented as shown, "preview" or "render"): the embedded preview when its
    shorter side is at least `min_side` (None: at least the half-size render's), else LibRaw's
    half-size render. Raises ImageError when the sensor data cannot be rendered."""
    width, height = raw.sizes.width, raw.sizes.height
    wanted = min_side if min_side else min(width, height) // 2
    preview = _preview(raw, wanted, max_pixels)
    if preview is not None:
        return upright(preview, _orientation(raw)), "preview"
    return _render(raw, path), "render"


def _orientation(raw: rawpy.RawPy) -> int:
    return _FLIP_TO_EXIF.get(raw.sizes.flip, 1)


def _preview(raw: rawpy.RawPy, min_side: int, max_pixels: int) -> Image.Image | None:
    """The embedded preview as stored (not oriented), reduced by JPEG draft to about `min_side`;
    None when there is none, it is smaller than `min_side` or over `max_pixels`, or damaged."""
    rawpy = _rawpy()

    try:
        thumb = raw.extract_thumb()
    except (rawpy.LibRawError, MemoryError):  # none, or a kind LibRaw cannot hand out
        return None
    if thumb.format == rawpy.ThumbFormat.BITMAP:
        array = np.asarray(thumb.data)
        if array.ndim != 3 or array.shape[2] != 3 or min(array.shape[:2]) < min_side:
            return None
        return Image.fromarray(array.astype(np.uint8, copy=False), "RGB")
    try:
        with Image.open(io.BytesIO(thumb.data), formats=["JPEG"]) as jpeg:
            width, height = jpeg.size
            if min(width, height) < min_side or width * height > max_pixels:
                return None
            jpeg.draft("RGB", (min_side, min_side))
            return jpeg.convert("RGB")
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError):
        return None  # a damaged preview: the sensor data may still be fine


def _render(raw: rawpy.RawPy, path: Path) -> Image.Image:
    """LibRaw's half-size render (camera white balance, sRGB, 8 bits), oriented by LibRaw."""
    rawpy = _rawpy()

    try:
        rgb = raw.postprocess(half_size=True, use_camera_wb=True, output_bps=8)
    except rawpy.LibRawError as exc:
        raise _libraw_error(path, exc) from None
    except MemoryError:
        raise ImageError("out of memory while decoding", path=path) from None
    return Image.fromarray(rgb, "RGB")  # (height, width, 3) uint8


def _libraw_error(path: Path, exc: Exception) -> ImageError:
    rawpy = _rawpy()

    detail = _message(exc)
    if isinstance(exc, rawpy.LibRawIOError):
        return ImageError(
            f"truncated RAW: LibRaw could not read the file to the end ({detail})",
            path=path,
            hint=BROKEN_HINT,
        )
    if isinstance(exc, rawpy.LibRawFileUnsupportedError):
        return ImageError(
            f"unsupported or damaged camera RAW file (LibRaw: {detail})",
            path=path,
            hint="a camera newer than this LibRaw, or a damaged file; its JPEG can be captioned",
        )
    if isinstance(exc, (rawpy.LibRawTooBigError, rawpy.LibRawUnsufficientMemoryError)):
        return ImageError(f"too large to decode (LibRaw: {detail})", path=path)
    return ImageError(f"corrupt RAW data (LibRaw: {detail})", path=path, hint=BROKEN_HINT)


def _message(exc: Exception) -> str:
    arg = exc.args[0] if exc.args else ""
    text = arg.decode("utf-8", "replace") if isinstance(arg, bytes) else str(arg)
    return text or type(exc).__name__


# -- truncation of TIFF-based RAW files ---------------------------------------------------------


def check_complete(path: Path) -> None:
    """ImageError when a TIFF-based RAW's directories or image data run past the end of the file.

    Other RAW containers (CR3, RAF, ORF, RW2, ...) are left to LibRaw, which reports a read past
    the end as an input/output error."""
    try:
        with open(path, "rb") as file:
            size = os.fstat(file.fileno()).st_size
            end = _tiff_end(file, size)
    except OSError as exc:
        raise ImageError(f"cannot read: {exc.strerror or exc}", path=path) from None
    if end is not None and end > size:
        raise ImageError(
            f"truncated RAW: the file ends at byte {size:,} but its image data runs to {end:,}",
            path=path,
            hint=BROKEN_HINT,
        )


def _tiff_end(file: io.BufferedReader, size: int) -> int | None:
    """The end of the furthest directory, value or image data block a TIFF file points at; None
    when the file is not a classic TIFF (BigTIFF and other containers are not walked)."""
    head = file.read(8)
    order = {b"II": "<", b"MM": ">"}.get(head[:2])
    if order is None or len(head) < 8 or struct.unpack(f"{order}H", head[2:4])[0] != 42:
        return None
    end = 8
    todo = [struct.unpack(f"{order}I", head[4:8])[0]]
    seen: set[int] = set()
    while todo and len(seen) < _MAX_IFDS:
        offset = todo.pop()
        if offset == 0 or offset in seen:
            continue
        seen.add(offset)
        file.seek(offset)
        counted = file.read(2)
        count = struct.unpack(f"{order}H", counted)[0] if len(counted) == 2 else 0
        end = max(end, offset + 2 + 12 * count + 4)
        if end > size:
            return end
        table = file.read(12 * count + 4)
        values, values_end = _entries(file, table, count, order, size)
        end = max(end, values_end)
        for offsets_tag, counts_tag in _DATA_TAGS:
            starts, lengths = values.get(offsets_tag, ()), values.get(counts_tag, ())
            for start, length in zip(starts, lengths, strict=False):  # a short list: its pairs
                end = max(end, start + length)
        todo += [*values.get(_SUB_IFDS, ()), *values.get(_EXIF_IFD, ())]
        todo.append(struct.unpack_from(f"{order}I", table, 12 * count)[0])
    return end


def _entries(
    file: io.BufferedReader, table: bytes, count: int, order: str, size: int
) -> tuple[dict[int, tuple[int, ...]], int]:
    """The integer values of the tags that locate data and directories in one IFD, and the end
    of the furthest value array stored outside it."""
    wanted = {tag for pair in _DATA_TAGS for tag in pair} | {_SUB_IFDS, _EXIF_IFD}
    values, end = {}, 0
    for i in range(count):
        tag, typ, n, field = struct.unpack_from(f"{order}HHI4s", table, 12 * i)
        if tag not in wanted or typ not in (3, 4, 13) or n == 0:
            continue
        width = _TYPE_SIZES[typ]
        if width * n <= 4:
            data = field[: width * n]
        else:
            (at,) = struct.unpack(f"{order}I", field)
            end = max(end, at + width * n)
            if end > size:
                continue
            file.seek(at)
            data = file.read(width * n)
        letter = "H" if typ == 3 else "I"
        values[tag] = struct.unpack(f"{order}{n}{letter}", data)
    return values, end
