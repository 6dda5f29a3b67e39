"""Decoding photos for the model: bounded (pixel limit from the header), reduced early (JPEG draft,
HEIC thumbnails, a camera RAW's embedded preview), oriented as EXIF (or the RAW's metadata) says,
8-bit RGB with transparency on white."""

from __future__ import annotations

import threading
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from photocap.errors import ImageError
from photocap.photos.degenerate import transparent_share
from photocap.photos.kinds import (
    AVIF,
    BMP,
    BROKEN_HINT,
    DECODABLE,
    GIF,
    HEIF,
    JPEG,
    JXL,
    PNG,
    RAW,
    TIFF,
    WEBP,
    check_regular_file,
    not_an_image,
    permission_error,
    read_head,
    sniff,
)
from photocap.photos.orientation import SIDEWAYS, upright

MAX_PIXELS = 89_478_485  # Pillow's own default limit (about 89 megapixels)

# Pillow format names tried for each sniffed format (Image.open(formats=...)).
_PIL_FORMATS = {
    JPEG: ["JPEG"],  # Pillow's JPEG opener also returns MPO files (multi-picture camera JPEGs)
    PNG: ["PNG"],
    WEBP: ["WEBP"],
    TIFF: ["TIFF"],
    BMP: ["BMP"],
    GIF: ["GIF"],
    HEIF: ["HEIF"],
    AVIF: ["AVIF"],  # Pillow's own (libavif), from Pillow 11.3
    JXL: ["JXL"],  # pillow-jxl-plugin
}
_ORIENTATION_TAG = 0x0112


@dataclass(frozen=True)
class DecodedPhoto:
    """A decoded photo: RGB pixels (possibly reduced) and the original size after orientation."""

    image: Image.Image
    format: str
    width: int
    height: int
    transparent: float = 0.0  # share of see-through pixels before compositing on white


_heif_lock = threading.Lock()
_heif_registered = False
_jxl_registered = False


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


def _register_jxl(path: Path) -> None:
    """Teach Pillow JPEG XL through pillow-jxl-plugin (it registers on import), once per process."""
    global _jxl_registered
    with _heif_lock:
        if _jxl_registered:
            return
        try:
            import pillow_jxl  # noqa: F401
        except ImportError:
            raise ImageError(
                "unsupported format: JPEG XL needs pillow-jxl-plugin",
                path=path,
                hint="pip install pillow-jxl-plugin",
            ) from None
        _jxl_registered = True


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
) -> DecodedPhoto:
    """Like open_photo, and also gives the format and the original size (after orientation)."""
    path = Path(path)
    st = check_regular_file(path)
    if st.st_size == 0:
        raise ImageError("empty file (0 bytes)", path=path, hint=BROKEN_HINT)
    head = read_head(path)
    fmt = sniff(head, path.name)
    if fmt not in DECODABLE:
        raise not_an_image(path, head)
    if fmt == RAW:
        return _decode_raw(path, min_side, max_pixels)
    if fmt == HEIF:
        _register_heif(path)
    elif fmt == JXL:
        _register_jxl(path)
    with _open_image(path, fmt, max_pixels) as image:
        width, height = image.size
        if width * height > max_pixels:
            raise _too_large(path, width, height, max_pixels)
        if min_side and fmt in (JPEG, HEIF):
            image.draft("RGB", (min_side, min_side))
        _load(image, path, fmt)
        orientation = _orientation(image)
        transparent = transparent_share(image)
        rgb = _convert(image, path, min_side)
    rgb = upright(rgb, orientation)
    if orientation in SIDEWAYS:
        width, height = height, width
    return DecodedPhoto(rgb, fmt, width, height, transparent)


def _decode_raw(path: Path, min_side: int | None, max_pixels: int) -> DecodedPhoto:
    """A camera RAW: its embedded preview or a half-size LibRaw render (`photos.raw`)."""
    from photocap.photos import raw

    with raw.open_raw(path) as camera_raw:
        width, height = raw.oriented_size(camera_raw)
        if width * height > max_pixels:
            raise _too_large(path, width, height, max_pixels)
        image, _source = raw.picture(camera_raw, path, min_side, max_pixels)
    return DecodedPhoto(_reduce(image, min_side), RAW, width, height)


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
        raise permission_error(path) from None
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
            hint=BROKEN_HINT,
        )
    return ImageError(f"corrupt {fmt.upper()} data: {detail}", path=path, hint=BROKEN_HINT)


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
