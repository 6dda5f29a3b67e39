"""Camera RAW decode throughput for the model: the embedded preview vs LibRaw's half-size render,
against the same photos as JPEGs, in the same run.

Builds real DNGs (pidng: 12-bit Bayer data mosaicked from scikit-image's photos, upscaled to
`--size`), half of them with an embedded full-size JPEG preview (as most cameras and Adobe's DNG
converter store one) and half without, and the same photos as JPEGs (quality 90). Then times
`photocap.photos.decode.decode_photo(path, min_side=SIDE)` (what a DataLoader worker runs for
each photo), round by round, interleaved:

  preview   a DNG with a preview: LibRaw reads the header and hands out the JPEG, decoded in draft mode
  render    a DNG without one: LibRaw unpacks the sensor data and renders it at half size
  jpeg      the baseline: the same photo as a JPEG, decoded in draft mode

Figures are photos per wall-clock second of one process (one DataLoader worker's view) and per
CPU second (fair on a shared machine; LibRaw may use more than one thread), medians of the rounds.

Run:  nice -n 5 env PYTHONPATH=. .venv/bin/python benchmarks/raw_throughput.py [--count 4] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image
from skimage import data

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))  # the DNG writer the tests use

from raw_helpers import dng_bytes  # noqa: E402

from photocap.photos import raw  # noqa: E402
from photocap.photos.decode import decode_photo  # noqa: E402


def build(folder: Path, count: int, size: tuple[int, int]) -> dict[str, list[Path]]:
    sources = [data.chelsea(), data.astronaut(), data.coffee(), data.rocket()]
    paths: dict[str, list[Path]] = {"preview": [], "render": [], "jpeg": []}
    for i in range(count):
        photo = Image.fromarray(sources[i % len(sources)]).resize(size, Image.Resampling.BICUBIC)
        array = np.asarray(photo)
        for kind, preview in (("preview", photo), ("render", None)):
            path = folder / f"{kind}_{i:02d}.dng"
            path.write_bytes(dng_bytes(array, preview=preview))
            paths[kind].append(path)
        jpeg = folder / f"photo_{i:02d}.jpg"
        photo.save(jpeg, quality=90)
        paths["jpeg"].append(jpeg)
    return paths


def rates(paths: list[Path], side: int) -> tuple[float, float]:
    """(photos per wall second, photos per CPU second) over `paths`."""
    wall, cpu = time.perf_counter(), time.process_time()
    for path in paths:
        decode_photo(path, min_side=side)
    return len(paths) / (time.perf_counter() - wall), len(paths) / (time.process_time() - cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=4, help="photos of each kind")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds (median reported)")
    parser.add_argument("--width", type=int, default=4000, help="sensor width (pixels)")
    parser.add_argument("--height", type=int, default=3000, help="sensor height (pixels)")
    parser.add_argument("--side", type=int, default=260, help="model input side (Lite2: 260)")
    args = parser.parse_args()
    size = (args.width, args.height)

    with tempfile.TemporaryDirectory() as tmp:
        paths = build(Path(tmp), args.count, size)
        for kind, found in paths.items():
            print(f"{kind:8s} {len(found)} files, {found[0].stat().st_size / 1e6:.1f} MB each")
        for found in paths.values():  # warm-up: page cache, imports
            decode_photo(found[0], min_side=args.side)
        for kind in ("preview", "render"):
            with raw.open_raw(paths[kind][0]) as camera_raw:
                used = raw.picture(camera_raw, paths[kind][0], args.side, 10**9)[1]
            assert used == kind, (kind, used)
        measured: dict[str, list[tuple[float, float]]] = {kind: [] for kind in paths}
        for _ in range(args.rounds):
            for kind, found in paths.items():
                measured[kind].append(rates(found, args.side))

    print(f"{size[0]}×{size[1]} photos to a model input of {args.side}, {args.rounds} rounds")
    print(f"{'':8s} {'photos/s':>9s} {'per CPU-s':>10s} {'vs render':>10s}")
    render = statistics.median(r[0] for r in measured["render"])
    for kind, runs in measured.items():
        wall = statistics.median(r[0] for r in runs)
        cpu = statistics.median(r[1] for r in runs)
        print(f"{kind:8s} {wall:9.1f} {cpu:10.1f} {wall / render:9.1f}×")


if __name__ == "__main__":
    main()
