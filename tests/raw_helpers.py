"""Real camera RAW files for tests: DNGs written by pidng from Bayer data mosaicked from a photo.

The sensor data is the photo linearised (sRGB gamma 2.2 undone), sampled through an RGGB colour
filter array and stored as 12-bit values, so LibRaw's render shows the photo again. An embedded
preview (a JPEG in a second directory marked NewSubfileType 1, as cameras and Adobe's converter
store theirs) is optional and may show something else, so a test can tell which one was used.
"""

from __future__ import annotations

import io
import struct
from pathlib import Path

import numpy as np
from pidng.core import RAW2DNG
from pidng.defs import CalibrationIlluminant, CFAPattern, DNGVersion, PhotometricInterpretation
from pidng.dng import DNGTags, Tag
from PIL import Image

WHITE = 4095  # 12-bit sensor
# The camera's colour matrix (XYZ -> camera): a camera whose filters see linear sRGB.
XYZ_TO_SRGB = (
    (3.2404542, -1.5371385, -0.4985314),
    (-0.9692660, 1.8760108, 0.0415560),
    (0.0556434, -0.2040259, 1.0572252),
)
_TRANSPOSE_STORED = {  # EXIF orientation -> how the displayed photo is turned to be stored
    1: None,
    3: Image.Transpose.ROTATE_180,
    6: Image.Transpose.ROTATE_90,
    8: Image.Transpose.ROTATE_270,
}


def bayer(rgb: np.ndarray) -> np.ndarray:
    """(height, width) uint16 RGGB mosaic of an 8-bit sRGB photo (cropped to even sides)."""
    height, width = rgb.shape[0] // 2 * 2, rgb.shape[1] // 2 * 2
    linear = (rgb[:height, :width].astype(np.float32) / 255.0) ** 2.2
    mosaic = np.empty((height, width), np.float32)
    mosaic[0::2, 0::2] = linear[0::2, 0::2, 0]
    mosaic[0::2, 1::2] = linear[0::2, 1::2, 1]
    mosaic[1::2, 0::2] = linear[1::2, 0::2, 1]
    mosaic[1::2, 1::2] = linear[1::2, 1::2, 2]
    return (mosaic * WHITE).round().astype(np.uint16)


def dng_bytes(
    displayed: np.ndarray | Image.Image,
    *,
    preview: np.ndarray | Image.Image | None = None,
    orientation: int = 1,
) -> bytes:
    """A DNG whose photo, oriented as `orientation` says, looks like `displayed`; with `preview`
    (as displayed too), a JPEG preview of it is embedded."""
    stored = _stored(displayed, orientation)
    mosaic = bayer(np.asarray(stored))
    height, width = mosaic.shape
    tags = DNGTags()
    tags.set(Tag.ImageWidth, width)
    tags.set(Tag.ImageLength, height)
    tags.set(Tag.TileWidth, width)
    tags.set(Tag.TileLength, height)
    tags.set(Tag.Orientation, orientation)
    tags.set(Tag.PhotometricInterpretation, PhotometricInterpretation.Color_Filter_Array)
    tags.set(Tag.SamplesPerPixel, 1)
    tags.set(Tag.BitsPerSample, 16)
    tags.set(Tag.CFARepeatPatternDim, [2, 2])
    tags.set(Tag.CFAPattern, CFAPattern.RGGB)
    tags.set(Tag.BlackLevel, 0)
    tags.set(Tag.WhiteLevel, WHITE)
    tags.set(Tag.ColorMatrix1, [[round(v * 10000), 10000] for row in XYZ_TO_SRGB for v in row])
    tags.set(Tag.CalibrationIlluminant1, CalibrationIlluminant.D65)
    tags.set(Tag.AsShotNeutral, [[1, 1], [1, 1], [1, 1]])
    tags.set(Tag.Make, "photocap")
    tags.set(Tag.Model, "Synthetic Bayer")
    tags.set(Tag.UniqueCameraModel, "photocap Synthetic Bayer")
    tags.set(Tag.DNGVersion, DNGVersion.V1_4)
    tags.set(Tag.DNGBackwardVersion, DNGVersion.V1_0)
    converter = RAW2DNG()
    converter.options(tags, path="", compress=False)
    data = bytes(converter.convert(mosaic))
    if preview is not None:
        jpeg = io.BytesIO()
        stored_preview = _stored(preview, orientation)
        stored_preview.save(jpeg, "JPEG", quality=90)
        data = with_preview(data, jpeg.getvalue(), stored_preview.size)
    return data


def write_dng(path: Path, displayed, **options) -> Path:
    path.write_bytes(dng_bytes(displayed, **options))
    return path


def with_preview(dng: bytes, jpeg: bytes, size: tuple[int, int]) -> bytes:
    """`dng` with a JPEG preview appended, in a directory chained after the first one."""
    buf = bytearray(dng)
    (ifd0,) = struct.unpack_from("<I", buf, 4)
    (count,) = struct.unpack_from("<H", buf, ifd0)
    next_pointer = ifd0 + 2 + 12 * count
    buf += bytes(-len(buf) % 4)
    jpeg_at = len(buf)
    buf += jpeg + bytes(-len(jpeg) % 4)
    ifd1 = len(buf)
    entries = [  # (tag, type, count, value): NewSubfileType 1 = a reduced-resolution image
        (254, 4, 1, 1),
        (256, 4, 1, size[0]),
        (257, 4, 1, size[1]),
        (258, 3, 3, ifd1 + 2 + 12 * 10 + 4),  # BitsPerSample 8, 8, 8 right after the directory
        (259, 3, 1, 7),  # JPEG
        (262, 3, 1, 6),  # YCbCr
        (273, 4, 1, jpeg_at),
        (277, 3, 1, 3),
        (278, 4, 1, size[1]),
        (279, 4, 1, len(jpeg)),
    ]
    directory = struct.pack("<H", len(entries))
    for tag, typ, n, value in entries:
        packed = struct.pack("<HH", value, 0) if typ == 3 and n == 1 else struct.pack("<I", value)
        directory += struct.pack("<HHI", tag, typ, n) + packed
    buf += directory + struct.pack("<I", 0) + struct.pack("<3H", 8, 8, 8) + bytes(2)
    struct.pack_into("<I", buf, next_pointer, ifd1)
    return bytes(buf)


def _stored(image: np.ndarray | Image.Image, orientation: int) -> Image.Image:
    image = image if isinstance(image, Image.Image) else Image.fromarray(image)
    turn = _TRANSPOSE_STORED[orientation]
    return image.convert("RGB").transpose(turn) if turn else image.convert("RGB")
