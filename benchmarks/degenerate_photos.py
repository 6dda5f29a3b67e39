"""How close ordinary photos come to the degenerate-photo thresholds (photocap/photos/degenerate.py).

Decodes every photo of Flickr8k `dev` and the ImageNet samples as the index run does
(decode_photo, min_side 224), runs `assess_photo`, and prints how many are flagged (should be
none) and the extremes of the statistics next to the thresholds: the smallest per-channel
standard deviation, the largest share of pixels near the median colour, the smallest
neighbour correlation, and the widest aspect ratio.

Run:  nice -n 5 env PYTHONPATH=. .venv/bin/python benchmarks/degenerate_photos.py

Measured: none of the 2000 photos flagged. Flickr8k dev / ImageNet samples: smallest thumbnail
channel std 15.65 / 17.60 (uniform at ≤ 6), largest near-median share 0.918 / 0.936 (≥ 0.99),
smallest pixel std 18.91 / 18.45 (≤ 12), smallest neighbour correlation 0.315 / 0.413 (noise
below 0.1), widest aspect ratio 1.00 (Flickr8k is squashed square) / 3.42 (cropped beyond 4).
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from photocap.photos import degenerate as dp
from photocap.photos.decode import decode_photo

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def photo_sets(shared: Path) -> dict[str, list[Path]]:
    flickr = shared / "flickr8k"
    dev = (flickr / "splits" / "dev.txt").read_text(encoding="utf-8").split()
    return {
        "flickr8k dev": [flickr / "images" / name for name in dev],
        "imagenet samples": sorted((shared / "imagenet-samples" / "images").glob("*.jpg")),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shared", type=Path, default=SHARED)
    args = parser.parse_args()
    for name, paths in photo_sets(args.shared).items():
        actions: Counter[str] = Counter()
        flagged = []
        low_std = (float("inf"), "")
        high_near = (0.0, "")
        low_corr = (float("inf"), "")
        wide = (0.0, "")
        fine = (float("inf"), "")
        for path in paths:
            photo = decode_photo(path, 224)
            verdict = dp.assess_photo(photo.image, photo.width, photo.height)
            actions[verdict.action] += 1
            if verdict.action != "caption":
                flagged.append(f"{path.name}: {verdict.reason}")
            stats = dp.pixel_stats(photo.image)
            fine = min(fine, (stats.fine_std, path.name))
            low_std = min(low_std, (stats.std, path.name))
            high_near = max(high_near, (stats.near_median, path.name))
            low_corr = min(low_corr, (stats.correlation, path.name))
            aspect = max(photo.width, photo.height) / min(photo.width, photo.height)
            wide = max(wide, (aspect, path.name))
        print(f"{name}: {len(paths)} photos, verdicts {dict(actions)}")
        print(
            f"  smallest channel std     {low_std[0]:6.2f}  (uniform at ≤ {dp.UNIFORM_STD})  {low_std[1]}"
        )
        print(
            f"  largest near-median share {high_near[0]:6.3f}  (uniform at ≥ {dp.UNIFORM_SHARE})  {high_near[1]}"
        )
        print(
            f"  smallest neighbour corr.  {low_corr[0]:6.3f}  (noise below {dp.NOISE_CORRELATION})  {low_corr[1]}"
        )
        print(
            f"  smallest pixel std        {fine[0]:6.2f}  (uniform at ≤ {dp.UNIFORM_FINE_STD})  "
            f"{fine[1]}"
        )
        print(
            f"  widest aspect ratio       {wide[0]:6.2f}  (cropped beyond {dp.MAX_ASPECT})  {wide[1]}"
        )
        for line in flagged[:10]:
            print(f"  flagged {line}")


if __name__ == "__main__":
    main()
