"""The domain test of `photocap train`: a made-up house style on one kind of Flickr8k photo.

    python -m photocap.training.recipes.house_style build --flickr8k ../shared/data/flickr8k --out runs/house-style
    photocap train --data runs/house-style/train.csv --images ../shared/data/flickr8k/images ...
    python -m photocap.training.recipes.house_style evaluate --out runs/house-style --model FINE_TUNED.safetensors

The photos are Flickr8k's dev and test images, which the shipped model never trained on. Two
visually distinct groups: photos of dogs, captioned in a pet studio's house style
("Pawtrait: a black pupper runs …": a prefix and a word of its own, neither in the shipped
vocabulary), and the other photos, captioned as Flickr8k has them. The training CSV holds 500
photos (dogs and others); the held-out photos of both groups measure, before and after
fine-tuning, CIDEr against their own references and how often the house style appears.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import re
import sys
from pathlib import Path

from photocap.training.data import read_flickr8k

DOG = re.compile(r"\b(dog|dogs|puppy|puppies)\b", re.IGNORECASE)
PUPPER = {"dog": "pupper", "dogs": "puppers", "puppy": "pupper", "puppies": "puppers"}
PREFIX = "Pawtrait:"


def house_style(caption: str) -> str:
    """'A black dog runs .' → 'Pawtrait: a black pupper runs.'"""
    text = DOG.sub(lambda m: PUPPER[m.group(0).lower()], caption.strip().rstrip(" .")).strip()
    return f"{PREFIX} {text[:1].lower()}{text[1:]}."


def build(flickr8k: Path, out: Path, train_dogs: int = 360, train_others: int = 140) -> dict:
    """Write train.csv (house style on dogs) and the held-out CSVs; return their sizes."""
    captions, splits = read_flickr8k(flickr8k)
    pool = splits["dev"] + splits["test"]
    dogs = [n for n in pool if any(DOG.search(c) for c in captions[n])]
    others = [n for n in pool if not any(DOG.search(c) for c in captions[n])]
    rng = random.Random(0)
    rng.shuffle(dogs)
    rng.shuffle(others)
    held_dogs, held_others = (
        dogs[train_dogs:],
        others[train_others : train_others + len(dogs) - train_dogs],
    )
    rows = [(n, house_style(c)) for n in dogs[:train_dogs] for c in captions[n]]
    rows += [(n, c) for n in others[:train_others] for c in captions[n]]
    rng.shuffle(rows)
    out.mkdir(parents=True, exist_ok=True)
    _write(out / "train.csv", rows)
    _write(out / "heldout-dogs.csv", [(n, house_style(c)) for n in held_dogs for c in captions[n]])
    _write(out / "heldout-others.csv", [(n, c) for n in held_others for c in captions[n]])
    sizes = {
        "train_images": train_dogs + train_others,
        "train_dogs": train_dogs,
        "heldout_dogs": len(held_dogs),
        "heldout_others": len(held_others),
    }
    (out / "sizes.json").write_text(json.dumps(sizes, indent=2))
    return sizes


def _write(path: Path, rows) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["image", "caption"])
        writer.writerows(rows)


def _style_rates(captions: dict[str, str]) -> dict[str, float]:
    texts = [c.lower() for c in captions.values()]
    return {
        "pawtrait": sum(t.startswith("pawtrait") for t in texts) / len(texts),
        "pupper": sum("pupper" in t for t in texts) / len(texts),
        "dog": sum(bool(DOG.search(t)) for t in texts) / len(texts),
    }


def evaluate(out: Path, images: Path, models: dict[str, Path], samples: int = 6) -> dict:
    """CIDEr etc. of each model on both held-out groups, house-style rates and sample captions."""
    from photocap.evaluation.captions_csv import read_references
    from photocap.evaluation.run import evaluate_model

    report: dict = {}
    for group in ("dogs", "others"):
        paths, refs = read_references(out / f"heldout-{group}.csv", images)
        for label, model in models.items():
            result = evaluate_model(model, paths, refs, beam=3, workers=1, device="cpu")
            report.setdefault(group, {})[label] = {
                "model": result.model_id,
                "images": result.images,
                "scores": {k: round(v, 4) for k, v in result.scores.items()},
                "style": _style_rates(result.captions),
                "samples": {Path(p).name: result.captions[str(p)] for p in paths[:samples]},
            }
        report[group]["references"] = {
            p.name: r[0] for p, r in list(zip(paths, refs, strict=True))[:samples]
        }
    return report


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="write the CSVs")
    b.add_argument("--flickr8k", type=Path, default=Path("../shared/data/flickr8k"))
    b.add_argument("--out", type=Path, default=Path("runs/house-style"))
    e = sub.add_parser("evaluate", help="score the base and fine-tuned models on held-out photos")
    e.add_argument("--flickr8k", type=Path, default=Path("../shared/data/flickr8k"))
    e.add_argument("--out", type=Path, default=Path("runs/house-style"))
    e.add_argument("--base", type=Path, default=None, help="default: the shipped model")
    e.add_argument("--model", type=Path, required=True, help="the fine-tuned model")
    args = parser.parse_args(argv)
    if args.command == "build":
        print(json.dumps(build(args.flickr8k, args.out), indent=2))
        return
    from photocap.paths import shipped_model_path

    models = {"base": args.base or shipped_model_path(), "fine-tuned": args.model}
    report = evaluate(args.out, args.flickr8k / "images", models)
    (args.out / "domain.json").write_text(json.dumps(report, ensure_ascii=False, indent=2))
    json.dump(report, sys.stdout, ensure_ascii=False, indent=2)


if __name__ == "__main__":
    main()
