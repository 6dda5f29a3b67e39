"""How long `photocap train` takes to fine-tune the shipped model on 500 photos for 5 epochs.

    python benchmarks/finetune_speed.py --flickr8k ../shared/data/flickr8k --out runs/house-style

Builds the house-style CSV (training/recipes/house_style.py: 500 Flickr8k dev/test photos, 5 captions
each), then runs the real command twice in a subprocess: first with an empty feature cache
(the encoder runs over every photo), then again with the features cached (`--runs cold|warm` for one of them). Writes speed.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from photocap.training.recipes.house_style import build  # noqa: E402


def run_train(args: list[str]) -> tuple[float, dict, tuple[float, ...]]:
    """Seconds the real command took, its --json summary, and the load average after it."""
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "photocap", "train", *args, "--json", "--quiet"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    seconds = time.monotonic() - started
    if done.returncode not in (0, 3):  # 3: trained and judged, but not written: timed all the same
        sys.exit(f"photocap train failed ({done.returncode}):\n{done.stderr}")
    return seconds, json.loads(done.stdout), os.getloadavg()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flickr8k", type=Path, default=Path("../shared/data/flickr8k"))
    parser.add_argument("--out", type=Path, default=Path("runs/house-style"))
    parser.add_argument("--base", type=Path, help="default: the shipped model")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--photos", type=int, default=500, help="training photos, 72%% dogs")
    parser.add_argument("--train-args", default="", help="extra `photocap train` options")
    parser.add_argument(
        "--runs",
        choices=["both", "cold", "warm"],
        default="both",
        help="cold: empty feature cache; warm: features cached (results merge into speed.json)",
    )
    args = parser.parse_args()

    dogs = round(args.photos * 0.72)
    sizes = build(args.flickr8k, args.out, train_dogs=dogs, train_others=args.photos - dogs)
    cache = args.out / "cache"
    model = args.out / "house-style.safetensors"
    common = [
        "--data", str(args.out / "train.csv"),
        "--images", str(args.flickr8k / "images"),
        "--out", str(model),
        "--cache", str(cache),
        "--epochs", str(args.epochs),
        "--patience", str(args.epochs),  # all epochs run: the time is for exactly this many
        "--device", "cpu", *args.train_args.split(),
    ]  # fmt: skip
    if args.base:
        common += ["--base", str(args.base)]
    runs = {}
    if args.runs in ("both", "cold"):
        shutil.rmtree(cache, ignore_errors=True)
        runs["cold_cache"] = run_train(common)
    if args.runs in ("both", "warm"):
        runs["features_cached"] = run_train(common)
    saved = args.out / "speed.json"
    report = json.loads(saved.read_text()) if saved.exists() else {}
    report |= {
        "images": sizes["train_images"],
        "epochs": args.epochs,
        "cpu_cores": os.cpu_count(),
        "command": "photocap train " + " ".join(common),
        **{
            name: {
                "seconds": round(seconds, 1),
                "load_average_1_5_15_min_after": [round(x, 2) for x in load],
                "epochs_run": summary["epochs"],
                "val": summary["val"],
                "base_val": summary["base_val"],
                "train_images": summary["train_images"],
                "val_images": summary["val_images"],
                "words_added": summary["words_added"],
            }
            for name, (seconds, summary, load) in runs.items()
        },
    }
    saved.write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
