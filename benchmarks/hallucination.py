"""Object hallucination of the alt text photocap writes (CHAIR), before and after evidence.

    PYTHONPATH=. .venv/bin/python benchmarks/hallucination.py \\
        [--references ../shared/data/flickr8k/captions.txt --images ../shared/data/flickr8k/images \\
         --split ../shared/data/flickr8k/splits/test.txt] [--cache /work/cache/test.pt] [--coco]
    PYTHONPATH=. .venv/bin/python benchmarks/hallucination.py --split .../dev.txt --choose
    PYTHONPATH=. .venv/bin/python benchmarks/hallucination.py --imagenet ../shared/data/imagenet-samples

Any folder with an `image,caption` references CSV works: a photo holds the object groups any of
its references names (`photocap.model.objects`, any synonym). CHAIR (Rohrbach et al. 2018):
CHAIR_s = captions naming an object the photo does not hold / captions, CHAIR_i = such mentions /
mentions; objects only (scenes such as water and grass reported apart). Two settings, the same
features and model: `today` (decoding without evidence, no label line: photocap before this
work) and `evidence` (the default now: evidence-weighted decoding, label lines for held-back
photos). For each: all sentences, the written sentences, the held-back ones, the label lines and
all written alt text, mentions per caption, the share of photos that get alt text, and with
`--coco` BLEU-4 / METEOR / CIDEr of the sentences (COCO code; else photocap's quick scorer).

`--choose` (on dev) prints the grid the shipped steering and label-line settings were chosen
from. `--imagenet` measures the ImageNet samples: how many captions of photos of animals,
vehicles, food and objects (classes chosen from WordNet) name a person, and the label line's
precision with detectors cross-fitted so each sample is scored by detectors that never saw it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from photocap.alt_text import LabelLineOptions, label_line, label_line_objects  # noqa: E402
from photocap.captioner import Captioner, load_captioner  # noqa: E402
from photocap.evaluation import chair, read_references, reference_objects  # noqa: E402
from photocap.model.beam import DecodeOptions  # noqa: E402
from photocap.model.confidence import DEFAULT_MIN_CONFIDENCE  # noqa: E402
from photocap.model.evidence import Steering  # noqa: E402
from photocap.model.objects import object_table  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
FLICKR8K = ROOT / "../shared/data/flickr8k"
BATCH = 50


def encode(captioner: Captioner, images: list[Path], cache: Path | None) -> torch.Tensor:
    """(photos, num_pixels, dim) features, read from `cache` (a .pt of `names` and `features`,
    as training/recipes/evidence.py writes) when it holds exactly these photos."""
    if cache is not None and cache.exists():
        stored = torch.load(cache, weights_only=True)
        if stored["names"] == [p.name for p in images]:
            return stored["features"]
    from photocap.indexing.loader import photo_loader

    grids = []
    for batch in photo_loader(images, captioner.prepare, batch_size=16, workers=1):
        if batch.failed:
            raise SystemExit(f"cannot read {batch.failed[0].path}: {batch.failed[0].error}")
        grids.append(captioner.encode(batch.tensors).half())
    features = torch.cat(grids)
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        torch.save({"names": [p.name for p in images], "features": features}, cache)
    return features


def describe(captioner: Captioner, features: torch.Tensor, options: DecodeOptions):
    """Captions and labels of every photo, in batches."""
    captions, labels = [], []
    for i in range(0, len(features), BATCH):
        part = features[i : i + BATCH].float()
        captions += captioner.caption_features(part, options)
        labels += captioner.label_features(part)
    return captions, labels


def alt_texts(captions, labels, min_confidence: float, lines: LabelLineOptions | None):
    """What each photo gets: ("sentence" | "label line" | "held back", text)."""
    out = []
    for caption, found in zip(captions, labels, strict=True):
        if caption.confidence is None or caption.confidence >= min_confidence:
            out.append(("sentence", caption.text))
            continue
        line = label_line(caption.objects, found, lines) if lines else None
        out.append(("label line", line) if line else ("held back", caption.text))
    return out


def report(name, captions, written, truths, references, coco: bool) -> dict:
    """Print one setting's table and return its headline figures."""
    from photocap.metrics import coco_scores, quick_scores

    sentences = [c.text for c in captions]
    rows = {
        "all sentences": range(len(captions)),
        "written sentences": [i for i, (k, _) in enumerate(written) if k == "sentence"],
        "held-back sentences": [i for i, (k, _) in enumerate(written) if k != "sentence"],
    }
    print(f"\n[{name}] {len(captions)} photos")
    print(f"{'captions':24} {'n':>5} {'CHAIR_s':>8} {'CHAIR_i':>8} {'obj/cap':>8} {'+scene s':>8}")

    def line(label, texts, photos):
        score, _ = chair(texts, [truths[i] for i in photos])
        scene, _ = chair(texts, [truths[i] for i in photos], scenes=True)
        print(
            f"{label:24} {score.captions:5} {score.chair_s:8.3f} {score.chair_i:8.3f} "
            f"{score.mentions_per_caption:8.2f} {scene.chair_s:8.3f}"
        )
        return score

    for label, photos in rows.items():
        line(label, [sentences[i] for i in photos], photos)
    labelled = [i for i, (k, _) in enumerate(written) if k == "label line"]
    line("label lines", [written[i][1] for i in labelled], labelled)
    alt = [i for i, (k, _) in enumerate(written) if k != "held back"]
    headline = line("written alt text", [written[i][1] for i in alt], alt)
    share = len(alt) / len(captions)
    print(
        f"photos with alt text: {share:.1%} ({len(rows['written sentences'])} sentences, "
        f"{len(labelled)} label lines)"
    )
    hyps = {str(i): s for i, s in enumerate(sentences)}
    refs = {str(i): list(r) for i, r in enumerate(references)}
    scores = coco_scores(hyps, refs) if coco else quick_scores(hyps, refs)
    print("sentences: " + ", ".join(f"{k} {v:.3f}" for k, v in scores.items()))
    return {"chair_s": headline.chair_s, "chair_i": headline.chair_i, "alt": share, **scores}


def choose(captioner: Captioner, features, truths, references, min_confidence: float) -> None:
    """The dev grid: steering (weight, floor) → CHAIR and quality; label-line precision."""
    from photocap.metrics import quick_scores

    assert captioner.evidence is not None
    shipped = captioner.evidence.steering
    print(
        f"{'weight':>6} {'floor':>5} {'scene':>5} {'CHAIR_s':>8} {'written':>8} {'alt%':>6} "
        f"{'CIDEr':>6} {'B4':>6}"
    )
    grid = [(0.0, 0.3, 0.0)] + [
        (w, f, sw) for w in (0.5, 1.0, 2.0) for f in (0.1, 0.2, 0.3, 0.5) for sw in (0.0, 0.5)
    ]
    for weight, floor, scene in grid:
        captioner.evidence.steering = Steering(weight, floor, scene)
        captions, labels = describe(captioner, features, DecodeOptions())
        written = alt_texts(captions, labels, min_confidence, None)
        all_s, _ = chair([c.text for c in captions], truths)
        kept = [i for i, (k, _) in enumerate(written) if k == "sentence"]
        w_s, _ = chair([captions[i].text for i in kept], [truths[i] for i in kept])
        q = quick_scores(
            {str(i): c.text for i, c in enumerate(captions)},
            {str(i): list(r) for i, r in enumerate(references)},
        )
        print(
            f"{weight:6} {floor:5} {scene:5} {all_s.chair_s:8.3f} {w_s.chair_s:8.3f} "
            f"{len(kept) / len(captions):6.1%} {q['CIDEr']:6.3f} {q['BLEU-4']:6.3f}",
            flush=True,
        )
    captioner.evidence.steering = shipped
    captions, labels = describe(captioner, features, DecodeOptions())
    print("\nlabel lines on every photo: min_evidence, min_label → objects named, precision")
    for min_evidence in (0.6, 0.7, 0.8, 0.85, 0.9, 0.95):
        for min_label in (0.3, 0.5, 0.7):
            opts = LabelLineOptions(min_evidence, min_label)
            named = right = photos = 0
            for caption, found, truth in zip(captions, labels, truths, strict=True):
                objects = label_line_objects(caption.objects or {}, found, opts)
                photos += bool(objects)
                named += len(objects)
                right += sum(g in truth for g, _ in objects)
            print(
                f"  {min_evidence:.2f} {min_label:.1f} → {named:5} named on {photos:4} photos, "
                f"precision {right / max(named, 1):.3f}"
            )


def imagenet(captioner: Captioner, samples: Path, cache: Path | None, lines: LabelLineOptions):
    """Person mentions on non-person ImageNet classes, and label-line precision (cross-fitted)."""
    from photocap.training.recipes.evidence import (
        cached_features,
        imagenet_truth,
        split_photos,
    )
    from photocap.training.recipes.imagenet_words import read_nouns
    from photocap.training.recipes.object_words import WORDNET, first_senses

    features = cached_features(
        captioner, cache or ROOT / "cache/evidence", "imagenet", samples.parent
    )
    _, class_words = split_photos(samples.parent, "imagenet")
    nouns, first = read_nouns(WORDNET), first_senses(WORDNET)
    import csv

    with open(samples / "labels.csv", newline="") as f:
        wnids = [r["wnid"][1:] for r in csv.DictReader(f)]

    def under(offset: str, heads: set[str]) -> bool:
        seen, todo = set(), [offset]
        while todo:
            current = todo.pop()
            if current in heads:
                return True
            if current in seen or current not in nouns:
                continue
            seen.add(current)
            todo.extend(nouns[current].hypernyms)
        return False

    things = {first[w] for w in ("animal", "vehicle", "food", "artifact")}
    exclude = {first[w] for w in ("person", "clothing")}
    chosen = [i for i, o in enumerate(wnids) if under(o, things) and not under(o, exclude)]
    print(f"ImageNet samples: {len(chosen)} of {len(wnids)} classes are animals, vehicles, food or "
          "objects (WordNet; clothing and persons left out)")  # fmt: skip
    table = object_table()
    for name, options in (("today", DecodeOptions(evidence=False)), ("evidence", DecodeOptions())):
        captions, labels = describe(captioner, features[chosen], options)
        person = [("person" in table.groups_in([c.text])) for c in captions]
        written = alt_texts(
            captions, labels, DEFAULT_MIN_CONFIDENCE, lines if name != "today" else None
        )
        alt_person = [k != "held back" and "person" in table.groups_in([t]) for k, t in written]
        print(
            f"  {name:9} captions naming a person: {sum(person) / len(person):.1%} "
            f"({sum(person)}); written alt text naming a person: "
            f"{sum(alt_person) / len(person):.1%}"
        )
    # label-line precision with cross-fitted detectors (each half scored by detectors without it)
    from photocap.training.recipes import evidence as recipe

    groups = captioner.evidence.groups
    truth = imagenet_truth(class_words, groups)
    pooled = features.float().mean(dim=1)
    _, train_refs = split_photos(
        samples.parent.parent / "data" if False else samples.parent, "train"
    )
    train_features = cached_features(
        captioner, (cache or ROOT / "cache/evidence"), "train", samples.parent
    )
    dev_features = cached_features(
        captioner, (cache or ROOT / "cache/evidence"), "dev", samples.parent
    )
    _, dev_refs = split_photos(samples.parent, "dev")
    train_pooled = train_features.float().mean(dim=1)
    train_truth = recipe.truth(train_refs, groups, 2)
    dev_pooled, dev_truth = dev_features.float().mean(dim=1), recipe.truth(dev_refs, groups, 2)
    fold = torch.arange(len(pooled)) % 2 == 0
    shipped = captioner.evidence.detectors
    named = right = photos = 0
    for half in (fold, ~fold):
        detectors = recipe.fit(
            torch.cat([train_pooled, pooled[half]]),
            torch.cat([train_truth, truth[half]]),
            torch.cat([torch.ones(len(train_pooled)), torch.full((int(half.sum()),), 2.0)]),
            groups,
        )
        detectors.trained.copy_(shipped.trained)
        recipe.platt(detectors, dev_pooled, dev_truth, 5)
        captioner.evidence.detectors = detectors
        rows = (~half).nonzero().flatten()
        captions, labels = describe(captioner, features[rows], DecodeOptions())
        for caption, found, r in zip(captions, labels, rows.tolist(), strict=True):
            objects = label_line_objects(caption.objects or {}, found, lines)
            photos += bool(objects)
            named += len(objects)
            right += sum(truth[r, groups.index(g)] > 0 for g, _ in objects)
    captioner.evidence.detectors = shipped
    print(
        f"  label line on all 1000 samples (cross-fitted detectors): {named} objects named on "
        f"{photos} photos, precision {right / max(named, 1):.3f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--references", type=Path, default=FLICKR8K / "captions.txt")
    parser.add_argument("--images", type=Path, default=FLICKR8K / "images")
    parser.add_argument("--split", type=Path, default=FLICKR8K / "splits/test.txt")
    parser.add_argument("--cache", type=Path, help="features .pt (read, or written once)")
    parser.add_argument("--model", default=None)
    parser.add_argument("--min-confidence", type=float, default=DEFAULT_MIN_CONFIDENCE)
    parser.add_argument("--coco", action="store_true", help="COCO BLEU/METEOR/CIDEr (Java)")
    parser.add_argument("--choose", action="store_true", help="the dev grid")
    parser.add_argument("--imagenet", type=Path, help="the ImageNet samples folder")
    parser.add_argument("--show", type=int, default=0, help="print N changed captions")
    args = parser.parse_args()
    torch.set_num_threads(2)
    captioner = load_captioner(args.model, "cpu", "fp32")
    if captioner.evidence is None:
        raise SystemExit("this model has no evidence detectors")
    lines = LabelLineOptions()
    if args.imagenet:
        imagenet(captioner, args.imagenet, args.cache, lines)
        return
    images, references = read_references(args.references, args.images, args.split)
    features = encode(captioner, images, args.cache)
    truths = reference_objects(references)
    if args.choose:
        choose(captioner, features, truths, references, args.min_confidence)
        return
    print(f"{len(images)} photos, model {captioner.model_id}, --min-confidence {args.min_confidence}, "
          f"steering {captioner.evidence.steering}, {lines}")  # fmt: skip
    results = {}
    for name, options, line_options in (
        ("today", DecodeOptions(evidence=False), None),
        ("evidence", DecodeOptions(), lines),
    ):
        captions, labels = describe(captioner, features, options)
        written = alt_texts(captions, labels, args.min_confidence, line_options)
        results[name] = (captions, report(name, captions, written, truths, references, args.coco))
    before, after = results["today"][1], results["evidence"][1]
    print(
        f"\nwritten alt text CHAIR_s {before['chair_s']:.3f} → {after['chair_s']:.3f} "
        f"({after['chair_s'] / max(before['chair_s'], 1e-9):.0%} of today's); photos with alt "
        f"text {before['alt']:.1%} → {after['alt']:.1%}"
    )
    if args.show:
        shown = 0
        for old, new, path in zip(results["today"][0], results["evidence"][0], images, strict=True):
            if old.text != new.text and shown < args.show:
                print(f"  {path.name}: {old.text!r} → {new.text!r}")
                shown += 1


if __name__ == "__main__":
    main()
