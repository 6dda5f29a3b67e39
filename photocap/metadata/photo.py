"""Load a photo's embedded metadata (XMP, Extended XMP, EXIF description) from any supported format."""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path

from photocap.errors import ImageError, MetadataError
from photocap.metadata import jpeg, png, webp
from photocap.metadata.exif import decode_text, read_description
from photocap.metadata.formats import BMP, GIF, HEIF, JPEG, PNG, RAW, TIFF, WEBP
from photocap.metadata.xmp import HAS_EXTENDED, XmpDocument

MAX_FILE_BYTES = 1 << 30
_JPEG_HEAD = 256 * 1024
_TIFF_TAG_XMP, _TIFF_TAG_DESCRIPTION = 700, 270

Container = jpeg.JpegFile | webp.WebPFile | png.PngFile


@dataclass
class Photo:
    """A photo as read: its stat, its parsed container (JPEG/PNG/WebP) and embedded metadata."""

    path: Path
    kind: str
    stat: os.stat_result
    container: Container | None = None
    xmp: XmpDocument | None = None
    extended: XmpDocument | None = None
    exif_tiff: bytes | None = None
    exif_description: str | None = None


def load_photo(path: Path, kind: str, *, whole: bool) -> Photo:
    """Read `path`'s embedded metadata; with `whole`, read and check the entire container.

    Raises ImageError for truncated or corrupt files, UnsafeXMPError for hostile XMP.
    """
    if kind in (JPEG, PNG, WEBP):
        return _load_container(path, kind, whole=whole)
    stat = _stat(path)
    photo = Photo(path, kind, stat)
    xmp_bytes, description = None, None
    if kind in (TIFF, RAW):
        xmp_bytes, description = _tiff_fields(path, required=kind == TIFF)
    elif kind == HEIF:
        xmp_bytes, exif = _heif_fields(path)
        description = (
            read_description(exif[6:] if exif.startswith(b"Exif") else exif) if exif else None
        )
    elif kind in (GIF, BMP):
        _check_with_pillow(path, kind)
    photo.exif_description = description
    if xmp_bytes:
        photo.xmp = XmpDocument.parse(xmp_bytes, path=path)
    return photo


def _load_container(path: Path, kind: str, *, whole: bool) -> Photo:
    data, stat = _read(path, None if whole or kind != JPEG else _JPEG_HEAD)
    photo = Photo(path, kind, stat)
    if kind == JPEG:
        try:
            jf = jpeg.parse(data, path=path, check_scan=whole)
        except ImageError:
            if whole or len(data) >= stat.st_size:
                raise
            data, stat = _read(path, None)
            jf = jpeg.parse(data, path=path, check_scan=False)
        photo.container = jf
        photo.exif_tiff = jf.exif_tiff()
        packet = jf.xmp_packet()
    elif kind == PNG:
        pf = png.parse(data, path=path)
        photo.container = pf
        packet = pf.xmp_packet()
    else:
        wf = webp.parse(data, path=path)
        photo.container = wf
        photo.exif_tiff = wf.exif_tiff()
        packet = wf.xmp_packet()
    if photo.exif_tiff is not None:
        photo.exif_description = read_description(photo.exif_tiff)
    if packet is not None:
        photo.xmp = XmpDocument.parse(packet, path=path)
        guid = photo.xmp.get_simple(*HAS_EXTENDED[:2])
        if kind == JPEG and guid:
            ext = photo.container.extended_xmp(guid.strip())
            photo.extended = XmpDocument.parse(ext, path=path) if ext else None
    return photo


def _read(path: Path, limit: int | None) -> tuple[bytes, os.stat_result]:
    try:
        with open(path, "rb") as f:
            stat = os.fstat(f.fileno())
            if stat.st_size > MAX_FILE_BYTES:
                raise ImageError(f"file larger than {MAX_FILE_BYTES >> 20} MiB; refused", path=path)
            return f.read(limit if limit is not None else -1), stat
    except FileNotFoundError:
        raise ImageError("file vanished", path=path) from None
    except PermissionError:
        raise ImageError("permission denied reading the file", path=path) from None
    except OSError as e:
        raise ImageError(f"cannot read the file: {e.strerror or e}", path=path) from None


def _stat(path: Path) -> os.stat_result:
    try:
        return path.stat()
    except FileNotFoundError:
        raise ImageError("file vanished", path=path) from None


def _tiff_fields(path: Path, *, required: bool) -> tuple[bytes | None, str | None]:
    """XMP (tag 700) and ImageDescription (tag 270) from IFD0 of a TIFF or TIFF-based RAW file."""
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            head = f.read(8)
            order = {b"II": "<", b"MM": ">"}.get(head[:2])
            if order is not None and struct.unpack(f"{order}H", head[2:4])[0] == 43:
                return None, None  # BigTIFF: embedded fields not read; its sidecar still is
            if order is None or struct.unpack(f"{order}H", head[2:4])[0] != 42:
                if required:
                    raise ImageError("corrupt TIFF: bad header", path=path)
                return None, None  # a RAW format that is not TIFF-based
            (ifd0,) = struct.unpack(f"{order}I", head[4:8])
            f.seek(ifd0)
            raw_count = f.read(2)
            if len(raw_count) < 2:
                raise _corrupt_tiff(path)
            (count,) = struct.unpack(f"{order}H", raw_count)
            table = f.read(12 * count)
            if len(table) < 12 * count:
                raise _corrupt_tiff(path)
            values: dict[int, bytes] = {}
            for i in range(count):
                tag, _typ, n, field = struct.unpack_from(f"{order}HHI4s", table, 12 * i)
                if tag not in (_TIFF_TAG_XMP, _TIFF_TAG_DESCRIPTION):
                    continue
                if n <= 4:
                    values[tag] = field[:n]
                    continue
                (offset,) = struct.unpack(f"{order}I", field)
                if offset + n > size or n > 16 * 1024 * 1024:
                    raise _corrupt_tiff(path)
                f.seek(offset)
                values[tag] = f.read(n)
    except FileNotFoundError:
        raise ImageError("file vanished", path=path) from None
    except OSError as e:
        raise ImageError(f"cannot read the file: {e.strerror or e}", path=path) from None
    desc = values.get(_TIFF_TAG_DESCRIPTION)
    return values.get(_TIFF_TAG_XMP), decode_text(desc.split(b"\x00", 1)[0]) if desc else None


def _corrupt_tiff(path: Path) -> ImageError:
    return ImageError("truncated or corrupt TIFF (IFD0 runs past the end of the file)", path=path)


def _heif_fields(path: Path) -> tuple[bytes | None, bytes | None]:
    import pillow_heif

    try:
        heif = pillow_heif.open_heif(path, convert_hdr_to_8bit=False)
        info = heif.info
    except (ValueError, RuntimeError, OSError, SyntaxError) as e:
        raise ImageError(f"corrupt or truncated HEIF ({e})", path=path) from None
    return info.get("xmp"), info.get("exif")


def _check_with_pillow(path: Path, kind: str) -> None:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im.size  # noqa: B018 - the header is parsed on open
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:
        raise ImageError(f"corrupt {kind} ({e})", path=path) from None


@dataclass
class Sidecar:
    """An XMP sidecar as read: where, its packet, and its stat (to notice changes before a write)."""

    path: Path
    doc: XmpDocument
    stat: os.stat_result


def read_sidecar(path: Path) -> Sidecar:
    """Parse an XMP sidecar file (hostile input refused)."""
    try:
        with open(path, "rb") as f:
            stat = os.fstat(f.fileno())
            data = f.read(16 * 1024 * 1024 + 1)
    except FileNotFoundError:
        raise
    except PermissionError:
        raise MetadataError("permission denied reading the sidecar", path=path) from None
    except OSError as e:
        raise MetadataError(f"cannot read the sidecar: {e.strerror or e}", path=path) from None
    return Sidecar(path, XmpDocument.parse(data, path=path), stat)
