"""The confidence gate on Flickr8k: how many captions it holds back and how bad those are.

Captions a split (default `test`, 1000 photos, beam 3) with the shipped model, gives each
caption its confidence (photocap/model/confidence.py) and its own CIDEr against the photo's
five references (COCO code), and prints, at the default --min-confidence and at a few other
thresholds: the share of captions held back, and the mean CIDEr of held-back vs written
captions. With --choose (on `dev` only) it prints the same table over a finer grid, which is
how the default was chosen.

Encoder features are cached under runs/features (see training/recipes/calibrate_confidence.py), so a
rerun only decodes.

Run:  nice -n 5 env PYTHONPATH=. .venv/bin/python benchmarks/confidence_gate.py [--split test]

`--smoke` (CI) caches the features in a temporary folder instead, so a small `--data` folder
(Flickr8k's layout) never replaces the cache of the real split.

Measured (shipped model, beam 3, repetition rules on), at the default --min-confidence 0.25:
  dev   10.5% held back; mean CIDEr held back 0.270, written 0.583 (all 0.550)
  test  11.1% held back; mean CIDEr held back 0.314, written 0.610 (all 0.577)
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from photocap.training.recipes import calibrate_confidence
from photocap.training.recipes.calibrate_confidence import FLICKR8K, caption_split

from photocap.captioner import load_captioner
from photocap.model.beam import DecodeOptions
from photocap.model.confidence import DEFAULT_MIN_CONFIDENCE


def gate_table(confidence: np.ndarray, cider: np.ndarray, thresholds: list[float]) -> list[dict]:
    """For each threshold: share held back, mean CIDEr of held-back and written captions."""
    rows = []
    for t in thresholds:
        held = confidence < t
        rows.append(
            {
                "threshold": t,
                "held_back": float(held.mean()),
                "cider_held": float(cider[held].mean()) if held.any() else float("nan"),
                "cider_written": float(cider[~held].mean()) if (~held).any() else float("nan"),
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--split", default="test", choices=["dev", "test"])
    parser.add_argument("--data", type=Path, default=FLICKR8K)
    parser.add_argument("--model", default=None)
    parser.add_argument("--beam", type=int, default=3)
    parser.add_argument("--choose", action="store_true", help="a fine grid (use on dev)")
    parser.add_argument(
        "--smoke", action="store_true", help="CI's smoke run: features cached in a temporary folder"
    )
    args = parser.parse_args()
    if args.choose and args.split != "dev":
        parser.error("choose a threshold on dev, not on test")
    captioner = load_captioner(args.model, "cpu")
    with tempfile.TemporaryDirectory(prefix="photocap-smoke-") as tmp:
        if args.smoke:
            calibrate_confidence.CACHE = Path(tmp)
        result = caption_split(captioner, args.split, DecodeOptions(beam_size=args.beam), args.data)
    confidence = np.array([c.confidence for c in result.captions])  # (photos,)
    cider = result.cider  # (photos,)
    grid = (
        [round(x, 2) for x in np.arange(0.05, 0.81, 0.05)]
        if args.choose
        else sorted({0.1, 0.2, DEFAULT_MIN_CONFIDENCE, 0.3, 0.4, 0.5})
    )
    print(
        f"Flickr8k {args.split}: {len(cider)} photos, beam {args.beam}, model {captioner.model_id}"
    )
    print(
        f"mean CIDEr (per caption, vs its 5 references) {cider.mean():.3f}, "
        f"mean confidence {confidence.mean():.3f}, default --min-confidence {DEFAULT_MIN_CONFIDENCE}"
    )
    print(f"{'min-conf':>8} {'held back':>9} {'CIDEr held':>10} {'CIDEr written':>13}")
    for row in gate_table(confidence, cider, grid):
        mark = "  <- default" if row["threshold"] == DEFAULT_MIN_CONFIDENCE else ""
        print(
            f"{row['threshold']:8.2f} {row['held_back']:9.1%} {row['cider_held']:10.3f} "
            f"{row['cider_written']:13.3f}{mark}"
        )


if __name__ == "__main__":
    main()
