"""Do captions name what the labels recognise? Old vs new model on the ImageNet samples.

    PYTHONPATH=. python benchmarks/everyday_objects.py --model OLD.safetensors --model NEW.safetensors \
        [--samples ../shared/data/imagenet-samples] [--min-probability 0.5]

One photo per ImageNet class (everyday objects Flickr8k rarely or never names: food, cats,
desks, vehicles). Both models must share the encoder (photocap's do: frozen EfficientNet-Lite2),
so the photos are encoded once and each decoder captions the same features (beam 3, the default
decoding). A photo counts when the encoder's top label is its true class with at least
`--min-probability` and the class offers a copy word (photocap.model.grounding); the caption
names it when it has the copy word, its plural, or a single word of the class's row of the
everyday-word table ("tabby"). Prints the share per model, split by whether Flickr8k's training
captions use the word at least 5 times, and sample captions.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import torch
from PIL import Image, ImageOps

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from photocap.training.recipes.heldout_objects import mentions_any, plural  # noqa: E402

from photocap.captioner import load_captioner  # noqa: E402
from photocap.model.beam import DecodeOptions  # noqa: E402
from photocap.model.grounding import CATEGORY_WORDS, class_copy_words  # noqa: E402
from photocap.model.labels import class_logits, imagenet_classes  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
BATCH = 32


def class_terms(index: int, copy: str) -> set[str]:
    """The single words that name class `index`: its copy word, row words, and plurals."""
    row = {w.lower() for w in imagenet_classes()[index].words if w.isalpha()} - CATEGORY_WORDS
    terms = row | {copy}
    return terms | {plural(t) for t in terms}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", required=True, help="model file (repeat)")
    parser.add_argument("--samples", type=Path, default=ROOT / "../shared/data/imagenet-samples")
    parser.add_argument("--min-probability", type=float, default=0.5)
    parser.add_argument("--show", type=int, default=16, help="sample captions to print")
    args = parser.parse_args()

    with open(args.samples / "labels.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    wnid_index = {c.wnid: c.index for c in imagenet_classes()}
    truth = [wnid_index[r["wnid"]] for r in rows]
    captioners = [load_captioner(m, "cpu", "fp32") for m in args.model]
    first = captioners[0]
    features = []
    for start in range(0, len(rows), BATCH):
        images = []
        for r in rows[start : start + BATCH]:
            with Image.open(args.samples / "images" / r["image"]) as im:
                images.append(ImageOps.exif_transpose(im).convert("RGB"))
        batch = torch.stack([first.prepare(im) for im in images])  # (n, 3, S, S)
        features.append(first.encode(batch))  # (n, pixels, dim)
    feats = torch.cat(features)  # (1000, pixels, dim)
    with torch.no_grad():
        probs = class_logits(first.head, feats).softmax(dim=1)  # (1000, 1000)
    top_p, top_i = probs.max(dim=1)
    copies = class_copy_words()
    chosen = [
        i
        for i in range(len(rows))
        if int(top_i[i]) == truth[i]
        and float(top_p[i]) >= args.min_probability
        and copies[truth[i]]
    ]
    base_words = set(captioners[0].info.vocabulary.words)
    print(f"{len(chosen)} of {len(rows)} photos: top label right, p ≥ {args.min_probability}")
    texts = []
    for captioner in captioners:
        said = []
        for start in range(0, len(chosen), BATCH):
            part = feats[chosen[start : start + BATCH]]
            said += [c.text for c in captioner.caption_features(part, DecodeOptions())]
        texts.append(said)
    print("| model | names the object | word in the old vocabulary | word not in it |")
    print("|---|---|---|---|")
    for path, said in zip(args.model, texts, strict=True):
        hits = [
            mentions_any(t, class_terms(truth[i], copies[truth[i]]))
            for t, i in zip(said, chosen, strict=True)
        ]
        known = [h for h, i in zip(hits, chosen, strict=True) if copies[truth[i]] in base_words]
        novel = [h for h, i in zip(hits, chosen, strict=True) if copies[truth[i]] not in base_words]

        def share(xs):
            return f"{sum(xs)}/{len(xs)} ({100 * sum(xs) / max(len(xs), 1):.0f}%)"

        print(f"| {Path(path).name} | {share(hits)} | {share(known)} | {share(novel)} |")
    print("\nSamples:")
    step = max(1, len(chosen) // max(args.show, 1))
    for k in range(0, len(chosen), step)[: args.show]:
        i = chosen[k]
        print(
            f"- {rows[i]['image']} (label: {imagenet_classes()[truth[i]].name} {float(top_p[i]):.2f})"
        )
        for path, said in zip(args.model, texts, strict=True):
            print(f"    {Path(path).stem}: {said[k]}")


if __name__ == "__main__":
    main()
