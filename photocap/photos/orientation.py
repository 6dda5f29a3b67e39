"""EXIF orientation (1-8) and the transposition that shows a photo upright."""

from __future__ import annotations

from PIL import Image

TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
SIDEWAYS = (5, 6, 7, 8)  # orientations that swap width and height


def upright(image: Image.Image, orientation: int) -> Image.Image:
    """`image` as it is shown: transposed as EXIF `orientation` says (1 or unknown: as it is)."""
    return image.transpose(TRANSPOSE[orientation]) if orientation in TRANSPOSE else image
