"""Fit the confidence curve (photocap/model/confidence.py) on Flickr8k `dev`.

Captions every `dev` photo with beam search, scores each caption with CIDEr against its five
references (COCO code, as `photocap evaluate`), and fits a logistic regression of
"CIDEr beats the dev median" on the caption's score (mean log-probability per token) and, for a
model with an ImageNet head, the log-probability of the photo's top class (`--score-only`: the
score alone). Prints the constants to paste into `SHIPPED`, with the fit's figures.

The encoder's features of each split are cached under runs/ (git-ignored; derived from the
research-only images, never commit them), so a refit or a benchmark rerun only decodes.

Run (from the repository root; a few minutes on two CPU cores the first time):
  nice -n 5 env PYTHONPATH=. .venv/bin/python -m photocap.training.recipes.calibrate_confidence

Measured for the shipped model (beam 3, repetition rules on): dev median CIDEr 0.388, ROC AUC
of the score for "above the median" 0.713, log loss 0.616 (a constant 0.5: 0.693); fitted
intercept 4.3915, slope 5.0253.
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from photocap.training.calibration import fit_logistic

from photocap.captioner import Caption, Captioner, load_captioner
from photocap.evaluation.captions_csv import read_references
from photocap.model.beam import DecodeOptions
from photocap.model.confidence import Calibration
from photocap.model.labels import top_class_probabilities
from photocap.paths import evidence_file

REPO = Path(__file__).resolve().parents[2]  # training/recipes/ is two folders down
FLICKR8K = REPO.parent / "shared" / "data" / "flickr8k"
CACHE = REPO / "runs" / "features"


@dataclass
class SplitCaptions:
    """One split captioned: per photo its caption, score and CIDEr against its references."""

    names: list[str]
    captions: list[Caption]
    cider: np.ndarray  # (photos,)
    references: list[list[str]]
    top_labels: np.ndarray | None = None  # (photos,) top ImageNet class probability, if any

    @property
    def scores(self) -> np.ndarray:
        return np.array([c.score for c in self.captions])  # (photos,)


def split_features(
    captioner: Captioner, images: Sequence[Path], cache: Path, batch_size: int = 32
) -> torch.Tensor:
    """Encoder features of `images` (photos, num_pixels, encoder_dim), cached in `cache`.

    Photos are read exactly as `photocap evaluate` reads them (the same loader and `prepare`).
    """
    if cache.exists():
        saved = torch.load(cache, weights_only=True)
        if saved["names"] == [p.name for p in images]:
            return saved["features"]
    from photocap.indexing.loader import photo_loader

    parts = []
    for batch in photo_loader(list(images), captioner.prepare, batch_size=batch_size, workers=1):
        if batch.failed:
            raise RuntimeError(f"unreadable: {[str(item.path) for item in batch.failed]}")
        parts.append(captioner.encode(batch.tensors).cpu())  # (batch, num_pixels, dim)
    features = torch.cat(parts)  # (photos, num_pixels, encoder_dim)
    cache.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"names": [p.name for p in images], "features": features}, cache)
    return features


def decode(
    captioner: Captioner, features: torch.Tensor, options: DecodeOptions, batch_size: int = 100
) -> list[Caption]:
    """Captions of cached features, decoded in batches."""
    out: list[Caption] = []
    for i in range(0, len(features), batch_size):
        out += captioner.caption_features(features[i : i + batch_size].float(), options)
    return out


def per_caption_cider(captions: Sequence[str], references: Sequence[Sequence[str]]) -> np.ndarray:
    """Each caption's CIDEr against its own references (PTB tokenizer, as the COCO evaluation)."""
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    keys = [str(i) for i in range(len(captions))]
    tokenizer = PTBTokenizer()
    gts = tokenizer.tokenize(
        {k: [{"caption": r} for r in refs] for k, refs in zip(keys, references, strict=True)}
    )
    res = tokenizer.tokenize({k: [{"caption": c}] for k, c in zip(keys, captions, strict=True)})
    _, scores = Cider().compute_score({k: gts[k] for k in keys}, {k: res[k] for k in keys})
    return np.asarray(scores, dtype=float)  # (photos,) in the order of `keys`


def caption_split(
    captioner: Captioner, split: str, options: DecodeOptions, data: Path = FLICKR8K
) -> SplitCaptions:
    """Caption one Flickr8k split (train/dev/test) and score each caption."""
    images, references = read_references(
        data / "captions.txt", data / "images", data / "splits" / f"{split}.txt"
    )
    tag = captioner.model_id.replace("/", "_")
    features = split_features(captioner, images, CACHE / f"{split}-{tag}.pt")
    captions = decode(captioner, features, options)
    cider = per_caption_cider([c.text for c in captions], references)
    tops = None
    if captioner.head is not None:
        with torch.inference_mode():
            tops = top_class_probabilities(captioner.head, features.float()).numpy()  # (photos,)
    names, refs = [p.name for p in images], [list(r) for r in references]
    return SplitCaptions(names, captions, cider, refs, tops)


def auc(score: np.ndarray, positive: np.ndarray) -> float:
    """Area under the ROC curve: P(a positive scores above a negative), ties count half."""
    order = np.argsort(score, kind="stable")
    ranks = np.empty(len(score))
    ranks[order] = np.arange(1, len(score) + 1)
    for value in np.unique(score):  # average ranks of ties
        tied = score == value
        ranks[tied] = ranks[tied].mean()
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def calibrate(result: SplitCaptions, with_labels: bool = True) -> tuple[Calibration, dict]:
    """The curve for P(CIDEr > median | score[, log p_top]), with its figures on the same split.
    The labels' term is fitted when the model has an ImageNet head and `with_labels`."""
    median = float(np.median(result.cider))
    positive = result.cider > median
    columns = [result.scores]
    if with_labels and result.top_labels is not None:
        columns.append(np.log(np.clip(result.top_labels, 1e-6, None)))
    x = np.stack(columns, axis=1)  # (photos, 1 or 2)
    w = fit_logistic(x, positive.astype(float))
    z = w[0] + x @ w[1:]  # (photos,)
    p = 1.0 / (1.0 + np.exp(-z))
    eps = 1e-12
    log_loss = float(-np.mean(positive * np.log(p + eps) + (~positive) * np.log(1 - p + eps)))
    figures = {
        "photos": len(result.cider),
        "median_cider": median,
        "auc": auc(z, positive),
        "auc_score_alone": auc(result.scores, positive),
        "log_loss": log_loss,
        "log_loss_constant": math.log(2),
        "mean_confidence": float(p.mean()),
        "share_positive": float(positive.mean()),
    }
    calibration = Calibration(
        round(float(w[0]), 4),
        round(float(w[1]), 4),
        f"flickr8k dev: P(CIDEr > {median:.3f}), beam 3",
        round(float(w[2]), 4) if len(w) > 2 else 0.0,
    )
    return calibration, figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--split", default="dev")
    parser.add_argument("--model", default=None)
    parser.add_argument("--beam", type=int, default=3)
    parser.add_argument(
        "--score-only", action="store_true", help="fit on the score alone, not the top label too"
    )
    parser.add_argument(
        "--write", action="store_true", help="store the curve in the --model file's metadata"
    )
    args = parser.parse_args()
    captioner = load_captioner(args.model, "cpu")
    result = caption_split(captioner, args.split, DecodeOptions(beam_size=args.beam))
    calibration, figures = calibrate(result, with_labels=not args.score_only)
    print(json.dumps({"model": captioner.model_id, **figures}, indent=2))
    print(f"SHIPPED = {calibration!r}")
    if args.write and captioner.evidence is not None:
        store_steered_calibration(captioner.model_id, calibration)
        print(f"stored in {evidence_file()} (confidence of {captioner.model_id}, steered)")
    elif args.write and args.model:
        store_calibration(Path(args.model), calibration)
        print(f"stored in {args.model} (metrics.confidence)")


def store_steered_calibration(model_id: str, calibration: Calibration) -> None:
    """Keep `calibration` in the shipped evidence file as the curve of `model_id`'s steered
    captions (detectors and steering unchanged)."""
    from photocap.model.evidence import load_evidence, save_evidence

    evidence = load_evidence(evidence_file())
    evidence.confidence[model_id] = calibration.to_dict()
    save_evidence(evidence_file(), evidence)


def store_calibration(path: Path, calibration: Calibration) -> None:
    """Rewrite a model file with `calibration` as its own curve (weights unchanged)."""
    from photocap.model.checkpoint import load_model, save_model

    model = load_model(path)
    model.info.metrics["confidence"] = calibration.to_dict()
    save_model(path, model.info, model.encoder, model.decoder)


if __name__ == "__main__":
    main()
