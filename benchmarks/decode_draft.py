"""JPEG decode throughput: full decode vs Pillow draft mode (libjpeg DCT scaling), 12-megapixel photos.

Builds 4000×3000 JPEGs from scikit-image's real photos (upscaled) in a temp folder, then times, in
the same run, interleaved round by round, in images per CPU-second of this process (so a busy
machine slows the run but not the figures; decoding and resizing are single-threaded):

  decode   full: Image.open + load              draft: Image.open + draft(224) + load
  to 224   full: open, squash to 224×224        photocap: open_photo(min_side=224), squash to 224×224
           (squash: the model's own resize, photocap.model.transforms.squash, reducing_gap=3)

Run:  nice -n 15 env PYTHONPATH=. .venv/bin/python benchmarks/decode_draft.py [--count 6] [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image
from skimage import data

from photocap.model.transforms import squash
from photocap.photos.decode import open_photo

SIZE = (4000, 3000)  # 12 megapixels


def build_photos(folder: Path, count: int) -> list[Path]:
    sources = [data.chelsea(), data.astronaut(), data.coffee(), data.rocket()]
    paths = []
    for i in range(count):
        photo = Image.fromarray(sources[i % len(sources)]).resize(SIZE, Image.Resampling.BICUBIC)
        path = folder / f"photo_{i:02d}.jpg"
        photo.save(path, quality=90)
        paths.append(path)
    return paths


def decode_full(path: Path, side: int) -> Image.Image:
    with Image.open(path) as image:
        image.load()
        return image


def decode_draft(path: Path, side: int) -> Image.Image:
    with Image.open(path) as image:
        image.draft("RGB", (side, side))
        image.load()
        return image


def square_full(path: Path, side: int) -> Image.Image:
    with Image.open(path) as image:
        return squash(image, side, via=None)


def square_photocap(path: Path, side: int) -> Image.Image:
    return squash(open_photo(path, min_side=side), side, via=None)


def images_per_second(
    fn: Callable[[Path, int], Image.Image], paths: list[Path], side: int
) -> float:
    """Per CPU second of this process: fair on a shared machine (the work is single-threaded)."""
    started = time.process_time()
    for path in paths:
        fn(path, side)
    return len(paths) / (time.process_time() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=6, help="12-MP JPEGs to build")
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds (median reported)")
    parser.add_argument("--side", type=int, default=224, help="model input side")
    args = parser.parse_args()

    pairs = {"decode": (decode_full, decode_draft), "to 224": (square_full, square_photocap)}
    with tempfile.TemporaryDirectory() as tmp:
        paths = build_photos(Path(tmp), args.count)
        first = paths[0]
        print(f"{args.count} JPEGs {SIZE[0]}×{SIZE[1]}, {first.stat().st_size / 1e6:.1f} MB each")
        print(f"draft decodes {first.name} at {decode_draft(first, args.side).size}")
        for fns in pairs.values():  # warm-up: page cache, imports
            for fn in fns:
                fn(first, args.side)
        rates: dict[str, list[list[float]]] = {name: [[], []] for name in pairs}
        for _ in range(args.rounds):
            for name, fns in pairs.items():
                for slot, fn in enumerate(fns):
                    rates[name][slot].append(images_per_second(fn, paths, args.side))
        a = np.asarray(square_full(first, args.side), np.float32)
        b = np.asarray(square_photocap(first, args.side), np.float32)
        difference = float(np.abs(a - b).mean())

    print(f"{'':8s} {'full img/s':>11s} {'draft img/s':>12s} {'speedup':>8s}")
    for name, (full, draft) in rates.items():
        full_rate, draft_rate = statistics.median(full), statistics.median(draft)
        print(f"{name:8s} {full_rate:11.1f} {draft_rate:12.1f} {draft_rate / full_rate:7.1f}×")
    print(f"mean |difference| of the {args.side}×{args.side} squares: {difference:.2f} / 255")


if __name__ == "__main__":
    main()
