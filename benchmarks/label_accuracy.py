"""Labels on the ImageNet samples: accuracy as photocap computes them vs the reference centre crop,
what a centre-crop view would cost, and the everyday words written at each probability threshold.

    python benchmarks/label_accuracy.py [--samples ../shared/data/imagenet-samples] [--model PATH]
        [--device cpu] [--precision auto] [--caption-photos 32]

Views, on the same photos in the same run:
- `squash`: photocap's input (whole photo squashed to the training square, then the encoder's side);
  labels come from the captioning pass's own features, so they cost only the head.
- `crop`: the reference evaluation (short side to S/0.89, centre S×S crop, as timm's
  tf_efficientnet_lite configs); a second view would need a second encoder pass.
- `squash+crop`: the two views' probabilities averaged.
Cost is per photo on `--caption-photos` photos, every stage timed in each of three back-to-back
rounds (median): a caption (prepare, encoder, beam-3 decoding), the label head on the caption's
features, and a centre-crop view (its preparation and a second encoder pass).
Words: a photo's written words are the everyday words of its labels (top-5 ≥ threshold); a word is
right when the true class's row of the word table has it. On Flickr8k `dev` (everyday photos, no
class ids), a label counts as confirmed when one of its words is in the photo's five human captions
(a lower bound on precision: captions leave much unsaid). Probabilities are cached under runs/.
"""

from __future__ import annotations

import argparse
import csv
import re
import sys
import time
from pathlib import Path

import torch
from PIL import Image, ImageOps

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from photocap.captioner import load_captioner
from photocap.model.beam import DecodeOptions
from photocap.model.labels import (
    LabelOptions,
    class_logits,
    imagenet_classes,
    label_words,
    top_labels,
)
from photocap.model.transforms import to_tensor

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "../shared/data/imagenet-samples"
FLICKR8K = ROOT / "../shared/data/flickr8k"
CROP_PCT = 0.89  # timm's tf_efficientnet_lite0..2 evaluation crop
THRESHOLDS = (0.01, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5)
BATCH = 16
VIEWS = ("squash", "crop")
STAGES = ("prep_squash", "prep_crop", "encode_squash", "encode_crop", "head")


def centre_crop_tensor(image: Image.Image, spec) -> torch.Tensor:
    """The reference view: short side to S/CROP_PCT (bicubic), centre S×S crop, normalised."""
    side = spec.input_size
    scale = int(side / CROP_PCT) / min(image.size)
    w, h = round(image.width * scale), round(image.height * scale)
    image = image.convert("RGB").resize((w, h), Image.Resampling.BICUBIC)
    left, top = (w - side) // 2, (h - side) // 2
    square = image.crop((left, top, left + side, top + side))
    return to_tensor(square, spec, via=None)  # (3, S, S), already S×S: no squash


def read_samples(folder: Path) -> tuple[list[Path], torch.Tensor]:
    with open(folder / "labels.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    index = {c.wnid: c.index for c in imagenet_classes()}
    unknown = sorted({r["wnid"] for r in rows} - index.keys())
    assert not unknown, f"word table and samples disagree: {unknown[:5]}"
    return [folder / "images" / r["image"] for r in rows], torch.tensor(
        [index[r["wnid"]] for r in rows]
    )


def timed(fn):
    started = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - started


def run_views(captioner, paths: list[Path], cache: Path) -> dict:
    """Probabilities of both views for every photo, and the seconds each stage took in total.

    Progress is saved to `cache` every few batches, so a stopped run resumes where it was."""
    state = torch.load(cache) if cache.exists() else {}
    probs = {view: list(state.get(view, torch.empty(0, 1000)).split(BATCH)) for view in VIEWS}
    seconds = {k: state.get(k, 0.0) for k in STAGES}
    done = sum(len(p) for p in probs["squash"])
    for start in range(done, len(paths), BATCH):
        images = [ImageOps.exif_transpose(Image.open(p)) for p in paths[start : start + BATCH]]
        for im in images:
            im.load()
        squash, t = timed(lambda ims=images: torch.stack([captioner.prepare(im) for im in ims]))
        seconds["prep_squash"] += t
        crop, t = timed(
            lambda ims=images: torch.stack([centre_crop_tensor(im, captioner.spec) for im in ims])
        )
        seconds["prep_crop"] += t
        for view, batch in (("squash", squash), ("crop", crop)):
            features, t = timed(lambda b=batch: captioner.encode(b))  # (batch, P, D)
            seconds[f"encode_{view}"] += t
            with torch.inference_mode():
                logits, t = timed(lambda f=features: class_logits(captioner.head, f))
            if view == "squash":
                seconds["head"] += t
            probs[view].append(logits.softmax(-1))  # (batch, 1000)
        done = min(start + BATCH, len(paths))
        if done % (4 * BATCH) == 0 or done == len(paths):
            cache.parent.mkdir(parents=True, exist_ok=True)
            torch.save({v: torch.cat(p) for v, p in probs.items()} | seconds, cache)
            print(f"  {done}/{len(paths)} photos", file=sys.stderr, flush=True)
    return {v: torch.cat(p) for v, p in probs.items()} | seconds


def topk_accuracy(probs: torch.Tensor, truth: torch.Tensor, k: int) -> float:
    return (probs.topk(k, dim=-1).indices == truth[:, None]).any(-1).float().mean().item()


def word_scores(probs: torch.Tensor, truth: torch.Tensor, threshold: float) -> dict[str, float]:
    """Labels and words written per photo at `threshold`, and how many of those words are right."""
    classes = imagenet_classes()
    found = top_labels(probs.log(), LabelOptions(min_probability=threshold))
    written = right = true_words = recalled = labelled = hits = n_labels = 0
    for labels, t in zip(found, truth.tolist(), strict=True):
        truth_words = {w.lower() for w in classes[t].words}
        words = {w.lower() for w in label_words(labels)}
        written += len(words)
        right += len(words & truth_words)
        true_words += len(truth_words)
        recalled += len(words & truth_words)
        labelled += bool(labels)
        hits += any(label.index == t for label in labels)
        n_labels += len(labels)
    n = len(found)
    return {
        "labels/photo": n_labels / n,
        "labelled": labelled / n,
        "class found": hits / n,
        "words/photo": written / n,
        "word precision": right / max(written, 1),
        "word recall": recalled / true_words,
    }


def stage_ms(captioner, paths: list[Path], rounds: int = 3) -> dict[str, float]:
    """Milliseconds per photo of each stage on the same photos, stages interleaved, each round's
    stages back to back; the median round per stage (the machine's load changes over minutes)."""
    images = [ImageOps.exif_transpose(Image.open(p)) for p in paths]
    for im in images:
        im.load()
    times: dict[str, list[float]] = {}
    captioner.encode(torch.stack([captioner.prepare(im) for im in images[:2]]))  # warm-up
    for _ in range(rounds):
        squash, t_prep = timed(lambda: torch.stack([captioner.prepare(im) for im in images]))
        features, t_enc = timed(lambda b=squash: captioner.encode(b))  # (n, P, D)
        with torch.inference_mode():
            _, t_head = timed(lambda f=features: top_labels(class_logits(captioner.head, f)))
        _, t_dec = timed(
            lambda f=features: captioner.caption_features(f, DecodeOptions(beam_size=3))
        )
        crop, t_crop_prep = timed(
            lambda: torch.stack([centre_crop_tensor(im, captioner.spec) for im in images])
        )
        _, t_crop_enc = timed(lambda b=crop: captioner.encode(b))
        for name, t in (
            ("prepare", t_prep),
            ("encoder", t_enc),
            ("labels", t_head),
            ("decode", t_dec),
            ("crop view", t_crop_prep + t_crop_enc),
        ):
            times.setdefault(name, []).append(1000 * t / len(paths))
    return {name: sorted(ts)[len(ts) // 2] for name, ts in times.items()}


def squash_probs(captioner, paths: list[Path], cache: Path) -> torch.Tensor:
    """Class probabilities (n, 1000) from photocap's own input, cached."""
    if cache.exists():
        return torch.load(cache)
    out = []
    for start in range(0, len(paths), BATCH):
        images = [ImageOps.exif_transpose(Image.open(p)) for p in paths[start : start + BATCH]]
        features = captioner.encode(torch.stack([captioner.prepare(im) for im in images]))
        with torch.inference_mode():
            out.append(class_logits(captioner.head, features).softmax(-1))  # (batch, 1000)
    probs = torch.cat(out)
    torch.save(probs, cache)
    return probs


def mentions(text: str, word: str) -> bool:
    """`word` (or its plural) in `text`, as whole words, ignoring case."""
    return re.search(rf"\b{re.escape(word.lower())}(s|es)?\b", text) is not None


def flickr8k_dev(captioner, folder: Path, cache: Path) -> None:
    names = (folder / "splits" / "dev.txt").read_text().split()
    captions: dict[str, list[str]] = {}
    with open(folder / "captions.txt", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            captions.setdefault(row["image"], []).append(row["caption"].lower())
    probs = squash_probs(captioner, [folder / "images" / n for n in names], cache)
    print(f"\nFlickr8k dev ({len(names)} photos): labels confirmed by the five human captions")
    cols = ("labels/photo", "labelled", "confirmed", "words/photo")
    print("  threshold " + " ".join(f"{c:>14s}" for c in cols))
    for t in THRESHOLDS:
        found = top_labels(probs.log(), LabelOptions(min_probability=t))
        n_labels = sum(len(ls) for ls in found)
        confirmed = sum(
            any(mentions(" ".join(captions[name]), w) for w in label.words)
            for name, ls in zip(names, found, strict=True)
            for label in ls
        )
        words = sum(len(label_words(ls)) for ls in found)
        s = {
            "labels/photo": n_labels / len(names),
            "labelled": sum(bool(ls) for ls in found) / len(names),
            "confirmed": confirmed / max(n_labels, 1),
            "words/photo": words / len(names),
        }
        print(
            f"  {t:9.2f} "
            + " ".join(f"{s[c]:14.2f}" if c.endswith("photo") else f"{s[c]:14.1%}" for c in cols)
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=Path, default=SAMPLES)
    parser.add_argument("--model")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", default="auto", choices=("auto", "fp32", "bf16"))
    parser.add_argument("--caption-photos", type=int, default=32)
    parser.add_argument("--cache", type=Path, help="probabilities cache [runs/label_accuracy-*.pt]")
    parser.add_argument("--threads", type=int, help="torch CPU threads [torch's default]")
    parser.add_argument(
        "--flickr8k", type=Path, default=FLICKR8K, help="also measure on its dev split"
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if not (args.samples / "labels.csv").exists():
        raise SystemExit(f"ImageNet samples not found at {args.samples}")
    captioner = load_captioner(args.model, args.device, args.precision)
    if captioner.head is None:
        raise SystemExit("this model has no ImageNet classifier head: it gives no labels")
    paths, truth = read_samples(args.samples)
    tag = f"{captioner.model_id}-{args.device}-{'bf16' if captioner.bf16 else 'fp32'}"
    cache = args.cache or ROOT / "runs" / f"label_accuracy-{tag}.pt"
    print(
        f"model {captioner.model_id}, device {args.device}, encoder in "
        f"{'bf16' if captioner.bf16 else 'fp32'}, {len(paths)} photos, {torch.get_num_threads()} threads"
    )
    out = run_views(captioner, paths, cache)
    views = {
        "squash (photocap)": out["squash"],
        "crop (reference)": out["crop"],
        "squash+crop average": (out["squash"] + out["crop"]) / 2,
    }
    print("\naccuracy                 top-1    top-5")
    for name, probs in views.items():
        print(
            f"  {name:22s} {topk_accuracy(probs, truth, 1):6.1%}   {topk_accuracy(probs, truth, 5):6.1%}"
        )

    ms = stage_ms(captioner, paths[: args.caption_photos])
    caption_ms = ms["prepare"] + ms["encoder"] + ms["decode"]
    print(
        f"\ncost per photo, ms ({args.caption_photos} photos, batches of them, beam 3, median of 3)"
    )
    print(
        f"  caption: prepare {ms['prepare']:.1f} + encoder {ms['encoder']:.1f} "
        f"+ decode {ms['decode']:.1f} = {caption_ms:.1f}"
    )
    print(
        f"  labels from the caption's features (head, top-5): {ms['labels']:.2f} "
        f"({ms['labels'] / caption_ms:.2%} of a caption)"
    )
    print(
        f"  a centre-crop view (prepare + second encoder pass): {ms['crop view']:.1f} "
        f"({ms['crop view'] / caption_ms:.0%} of a caption)"
    )

    for name in ("squash (photocap)", "squash+crop average"):
        print(f"\nwords written at each threshold, {name} (top-5 classes ≥ threshold)")
        cols = (
            "labels/photo",
            "labelled",
            "class found",
            "words/photo",
            "word precision",
            "word recall",
        )
        print("  threshold " + " ".join(f"{c:>14s}" for c in cols))
        for t in THRESHOLDS:
            s = word_scores(views[name], truth, t)
            print(
                f"  {t:9.2f} "
                + " ".join(
                    f"{s[c]:14.2f}" if c.endswith("photo") else f"{s[c]:14.1%}" for c in cols
                )
            )

    if (args.flickr8k / "splits" / "dev.txt").exists():
        flickr8k_dev(captioner, args.flickr8k, cache.with_name(cache.stem + "-flickr8k-dev.pt"))


if __name__ == "__main__":
    main()
