"""Photos the captioner must not caption as they are: tiny, blank, see-through, noise, slivers.

The model was trained on ordinary photos; shown a black square, a 1×1 pixel or a 20000×2 strip
squashed to a square, it invents "a man in a black shirt". `assess_photo` looks at measurable
pixel statistics of the decoded photo (and its original size and transparency) and says what
to do instead:

  caption   an ordinary photo: caption it as it is
  crop      an extreme panorama or strip (beyond 4:1): caption the centre crop in `crop`
  describe  a near-uniform image: use `description` ("A plain black image."), no model
  skip      no honest caption is possible: `reason` says why (for the run's summary)

It is a pure function of a PIL image, cheap (statistics on a 64×64 thumbnail), and safe to
call in a DataLoader worker right after decoding. The thresholds were checked on the 1000
Flickr8k `dev` photos and the 1000 ImageNet samples: none of those is flagged (see
benchmarks/degenerate_photos.py for the margins).
"""

from __future__ import annotations

import colorsys
from dataclasses import dataclass
from typing import Literal

import numpy as np
from PIL import Image

Action = Literal["caption", "crop", "describe", "skip"]
Box = tuple[int, int, int, int]  # left, upper, right, lower in the decoded image's pixels

MIN_SIDE = 32  # below this many pixels on a side there is nothing to caption
MAX_ASPECT = 4.0  # beyond this ratio of the long to the short side, caption a centre crop
CROP_ASPECT = 4 / 3  # the crop's ratio: the shape of the photos the model learned from
THUMBNAIL = 64  # statistics are taken on a THUMBNAIL×THUMBNAIL box-filtered copy
UNIFORM_STD = 6.0  # per-channel standard deviation (0–255) at most, on the thumbnail …
UNIFORM_SHARE = 0.99  # … and this share of its pixels within UNIFORM_SPREAD of the median colour
UNIFORM_SPREAD = 20
UNIFORM_FINE_STD = 12.0  # … and pixel to pixel (sensor grain on a lens cap, paper on a scan)
NOISE_CORRELATION = 0.1  # neighbouring thumbnail pixels correlate less than this: random noise
TRANSPARENT_ALPHA = 16  # alpha at most this (of 255) counts as see-through
BLANK_TRANSPARENT = 0.99  # share of see-through pixels for "A blank, transparent image."
MOSTLY_TRANSPARENT = 0.90  # share of see-through pixels above which nothing is captioned


@dataclass(frozen=True)
class Verdict:
    """What to do with one photo instead of (or before) captioning it."""

    action: Action
    reason: str = ""  # why it is not captioned as it is (empty for "caption")
    description: str | None = None  # the alt text to use, for "describe"
    crop: Box | None = None  # the part to caption, for "crop"

    @property
    def captioned(self) -> bool:
        """Whether the model captions this photo (whole or cropped)."""
        return self.action in ("caption", "crop")


CAPTION = Verdict("caption")


@dataclass(frozen=True)
class PixelStats:
    """Measurements of a decoded photo's thumbnail (RGB values 0–255)."""

    mean: tuple[float, float, float]
    std: float  # largest per-channel standard deviation
    near_median: float  # share of pixels within UNIFORM_SPREAD of the median colour
    correlation: float  # correlation of horizontally and vertically neighbouring pixels' luma
    fine_std: float  # largest per-channel standard deviation of single pixels (not averaged)


def pixel_stats(image: Image.Image) -> PixelStats:
    """Statistics of `image` on a THUMBNAIL×THUMBNAIL box-filtered RGB copy."""
    rgb_image = image.convert("RGB")
    small = rgb_image.resize((THUMBNAIL, THUMBNAIL), Image.Resampling.BOX)
    sample = rgb_image.resize((4 * THUMBNAIL, 4 * THUMBNAIL), Image.Resampling.NEAREST)
    fine = np.asarray(sample, dtype=np.float64).reshape(-1, 3)  # (16·T·T, 3) single pixels
    rgb = np.asarray(small, dtype=np.float64)  # (T, T, 3)
    flat = rgb.reshape(-1, 3)  # (T*T, 3)
    median = np.median(flat, axis=0)  # (3,)
    near = (np.abs(flat - median).max(axis=1) <= UNIFORM_SPREAD).mean()
    luma = rgb @ np.array([0.299, 0.587, 0.114])  # (T, T)
    pairs = [
        (luma[:, :-1].ravel(), luma[:, 1:].ravel()),  # left, right neighbours
        (luma[:-1, :].ravel(), luma[1:, :].ravel()),  # upper, lower neighbours
    ]
    correlations = []
    for a, b in pairs:
        if a.std() < 1e-6 or b.std() < 1e-6:
            correlations.append(1.0)  # flat: as structured as it gets
        else:
            correlations.append(float(np.corrcoef(a, b)[0, 1]))
    mean = flat.mean(axis=0)  # (3,)
    return PixelStats(
        (float(mean[0]), float(mean[1]), float(mean[2])),
        float(flat.std(axis=0).max()),
        float(near),
        float(min(correlations)),
        float(fine.std(axis=0).max()),
    )


def transparent_share(image: Image.Image) -> float:
    """Share of `image`'s pixels that are see-through (alpha ≤ TRANSPARENT_ALPHA); 0 without
    an alpha channel or transparency key. Call it on the image as opened, before it is
    composited on white (`DecodedPhoto.transparent` is this)."""
    if image.mode not in ("RGBA", "LA", "PA", "RGBa", "La") and "transparency" not in image.info:
        return 0.0
    alpha = image.convert("RGBA").getchannel("A")
    return float((np.asarray(alpha) <= TRANSPARENT_ALPHA).mean())


def assess_photo(image: Image.Image, width: int, height: int, transparent: float = 0.0) -> Verdict:
    """What to do with a decoded photo (`image`, possibly reduced) whose original size is
    `width`×`height` and of whose pixels a share `transparent` was see-through."""
    if min(width, height) < MIN_SIDE:
        return Verdict(
            "skip", f"too small to caption: {width}×{height} pixels (under {MIN_SIDE} on a side)"
        )
    if transparent >= BLANK_TRANSPARENT:
        return Verdict(
            "describe", "fully transparent: nothing visible", "A blank, transparent image."
        )
    if transparent >= MOSTLY_TRANSPARENT:
        return Verdict(
            "skip", f"mostly transparent: {transparent:.0%} of the pixels are see-through"
        )
    stats = pixel_stats(image)
    flat = stats.std <= UNIFORM_STD and stats.near_median >= UNIFORM_SHARE
    if flat and stats.fine_std <= UNIFORM_FINE_STD:
        name = colour_name(stats.mean)
        return Verdict("describe", f"near-uniform: one colour ({name})", f"A plain {name} image.")
    if stats.correlation < NOISE_CORRELATION and stats.fine_std > UNIFORM_FINE_STD:
        return Verdict(
            "describe",
            f"no structure: neighbouring pixels uncorrelated ({stats.correlation:.2f})",
            "Random noise, with no recognisable subject.",
        )
    long, short = max(width, height), min(width, height)
    if long / short > MAX_ASPECT:
        return Verdict(
            "crop",
            f"extreme aspect ratio {long / short:.1f}:1: the centre is captioned",
            crop=centre_crop(image.size),
        )
    return CAPTION


def centre_crop(size: tuple[int, int], aspect: float = CROP_ASPECT) -> Box:
    """The largest centred box of at most `aspect`:1 inside an image of `size`."""
    w, h = size
    if w >= h:
        cw, ch = min(w, round(h * aspect)), h
    else:
        cw, ch = w, min(h, round(w * aspect))
    left, upper = (w - cw) // 2, (h - ch) // 2
    return (left, upper, left + cw, upper + ch)


# (name, hue in degrees where the name starts); a hue belongs to the last name it passes
_HUES = (
    ("red", 0),
    ("orange", 15),
    ("yellow", 45),
    ("green", 70),
    ("teal", 160),
    ("blue", 190),
    ("purple", 255),
    ("pink", 315),
    ("red", 345),
)


def colour_name(rgb: tuple[float, float, float]) -> str:
    """An everyday name for a mean colour: black, white, grey, dark blue, light green, brown …"""
    hue, lightness, saturation = colorsys.rgb_to_hls(*(c / 255.0 for c in rgb))
    if lightness < 0.1:
        return "black"
    if lightness > 0.92 and saturation < 0.5:
        return "white"
    if saturation < 0.15:
        if lightness < 0.3:
            return "dark grey"
        return "light grey" if lightness > 0.7 else "grey"
    degrees = hue * 360
    name = next(n for n, start in reversed(_HUES) if degrees >= start)
    if name in ("orange", "yellow") and lightness < 0.35:
        return "brown"
    if lightness < 0.3:
        return f"dark {name}"
    if lightness > 0.75:
        return {"red": "pink", "pink": "pink"}.get(name, f"light {name}")
    return name
