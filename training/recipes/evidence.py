"""Train the object-evidence detectors shipped in `weights/photocap-lite2-evidence.safetensors`.

    python -m photocap.training.recipes.evidence [--cache /work/cache] [--out PATH]

One logistic regression per object group (`photocap.model.objects`) on the mean of the shipped
encoder's feature grid (computed as inference computes it, cached per split under `--cache`):
- Flickr8k `train`: a photo holds a group when ≥ 2 of its 5 references name it;
- the 1000 ImageNet sample photos (`--imagenet-weight` each): the groups their class's words name,
  nothing else. Flickr8k alone teaches "photo ⇒ person"; these are the person-free photos.
Then per-group Platt scaling on Flickr8k `dev` and the ImageNet samples scored out of fold
(groups with ≥ `--min-dev` positives): calibrated on Flickr8k alone, a cat photo was 47% "person".
Groups with fewer than `--min-train` positive training photos get no detector (the ImageNet head
may still give evidence for them).

Measured and printed: per group ROC AUC on dev, and on the ImageNet samples by 2-fold cross-fitting
(each half scored by detectors trained without it), so the ImageNet figures are out of sample.
The steering settings stored in the file are chosen by `benchmarks/hallucination.py --choose`
on dev; this recipe keeps those of an existing file (`--weight`/`--floor` set them).
"""

from __future__ import annotations

import argparse
import csv
import json
from dataclasses import dataclass
from pathlib import Path

import torch
from photocap.training.recipes.object_words import classes_under
from PIL import Image, ImageOps
from torch.utils.data import DataLoader, Dataset

from photocap.captioner import Captioner, load_captioner
from photocap.model.evidence import (
    Evidence,
    EvidenceDetectors,
    Steering,
    head_fingerprint,
    load_evidence,
    save_evidence,
)
from photocap.model.labels import imagenet_classes
from photocap.model.objects import object_table
from photocap.paths import evidence_file

ROOT = Path(__file__).resolve().parents[2]
WORN = ("clothing", "headdress", "footwear", "mask", "jewelry")  # worn: someone may be in it
SHARED = ROOT / "../shared/data"


class _Photos(Dataset):
    def __init__(self, paths: list[Path], captioner: Captioner):
        self.paths, self.prepare = paths, captioner.prepare

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> torch.Tensor:
        with Image.open(self.paths[i]) as image:
            return self.prepare(ImageOps.exif_transpose(image).convert("RGB"))  # (3, S, S)


def split_photos(data: Path, split: str) -> tuple[list[Path], list[list[str]]]:
    """The photos of a Flickr8k split (`train`, `dev`, `test`) and their references, or of the
    ImageNet samples (`imagenet`, the references being the class's words)."""
    if split == "imagenet":
        root = data / "imagenet-samples"
        with open(root / "labels.csv", newline="") as f:
            rows = list(csv.DictReader(f))
        words = {c.wnid: c.words for c in imagenet_classes()}
        return [root / "images" / r["image"] for r in rows], [list(words[r["wnid"]]) for r in rows]
    root = data / "flickr8k"
    refs: dict[str, list[str]] = {}
    with open(root / "captions.txt", newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            refs.setdefault(row["image"], []).append(row["caption"])
    names = (root / "splits" / f"{split}.txt").read_text().split()
    return [root / "images" / n for n in names], [refs[n] for n in names]


def cached_features(captioner: Captioner, cache: Path, split: str, data: Path) -> torch.Tensor:
    """(photos, num_pixels, dim) float16 encoder features of a split, computed once."""
    target = cache / f"{split}.pt"
    if target.exists():
        return torch.load(target, weights_only=True)["features"]
    paths, _ = split_photos(data, split)
    grids = [
        captioner.encode(batch).half()  # (batch, num_pixels, dim)
        for batch in DataLoader(_Photos(paths, captioner), batch_size=16, num_workers=1)
    ]
    features = torch.cat(grids)
    cache.mkdir(parents=True, exist_ok=True)
    torch.save({"names": [p.name for p in paths], "features": features}, target)
    return features


def truth(references: list[list[str]], groups: tuple[str, ...], at_least: int) -> torch.Tensor:
    """(photos, groups) 1.0 where ≥ `at_least` of a photo's references name the group."""
    table = object_table()
    position = {g: i for i, g in enumerate(groups)}
    out = torch.zeros(len(references), len(groups))
    for row, refs in enumerate(references):
        counts: dict[str, int] = {}
        for ref in refs:
            for group in table.groups_in([ref]):
                counts[group] = counts.get(group, 0) + 1
        for group, n in counts.items():
            if n >= at_least:
                out[row, position[group]] = 1.0
    return out


def imagenet_truth(references: list[list[str]], groups: tuple[str, ...]) -> torch.Tensor:
    """(photos, groups) 1.0 for the group a sample's class names: the first of its table words
    (most specific first) that names one whole ("crib, baby, furniture" → bed, not person)."""
    table = object_table()
    position = {g: i for i, g in enumerate(groups)}
    out = torch.zeros(len(references), len(groups))
    for row, words in enumerate(references):
        group = next((g for g in map(table.named_by, words) if g is not None), None)
        if group is not None:
            out[row, position[group]] = 1.0
    return out


def fit(
    pooled: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor, groups: tuple[str, ...],
    steps: int = 400, decay: float = 1e-3,
) -> EvidenceDetectors:  # fmt: skip
    """Logistic regressions (one per group) on standardised pooled features (n, dim); `weights`
    per photo (n,) or per photo and group (n, groups), 0 where a photo's truth is unknown."""
    detectors = EvidenceDetectors(groups, pooled.shape[1])
    detectors.mean.copy_(pooled.mean(dim=0))
    detectors.scale.copy_(pooled.std(dim=0).clamp(min=1e-3))
    optimiser = torch.optim.Adam(detectors.linear.parameters(), lr=0.01, weight_decay=0.0)
    with torch.enable_grad():
        _descend(detectors, optimiser, pooled, targets, weights, steps, decay, len(groups))
    return detectors.eval()


def _descend(detectors, optimiser, pooled, targets, weights, steps, decay, groups) -> None:
    for _ in range(steps):
        optimiser.zero_grad()
        logits = detectors.logits(pooled)  # (n, groups)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(
            logits, targets, weight=weights if weights.dim() == 2 else weights.unsqueeze(1)
        )
        loss = loss + decay * detectors.linear.weight.pow(2).sum() / groups
        loss.backward()
        optimiser.step()


def platt(detectors: EvidenceDetectors, logits: torch.Tensor, targets: torch.Tensor, min_pos: int):
    """Fit each group's calibration (a, b) on held-out `logits` (n, groups) of photos whose
    truth is `targets`, for groups with ≥ `min_pos` positives (the others keep a = 1, b = 0)."""
    a = torch.ones(len(detectors.groups), requires_grad=True)
    b = torch.zeros(len(detectors.groups), requires_grad=True)
    usable = targets.sum(dim=0) >= min_pos  # (groups,)
    optimiser = torch.optim.LBFGS([a, b], max_iter=200)

    def closure():
        optimiser.zero_grad()
        losses = torch.nn.functional.binary_cross_entropy_with_logits(
            a * logits + b, targets, reduction="none"
        ).mean(dim=0)  # (groups,)
        loss = (losses * usable).sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        optimiser.step(closure)
    with torch.no_grad():
        detectors.platt_a.copy_(torch.where(usable, a, torch.ones_like(a)))
        detectors.platt_b.copy_(torch.where(usable, b, torch.zeros_like(b)))


@dataclass
class EvidenceData:
    """Pooled features (n, dim) and truth (n, groups) of Flickr8k train and dev and the
    ImageNet samples."""

    train: tuple[torch.Tensor, torch.Tensor]
    dev: tuple[torch.Tensor, torch.Tensor]
    imagenet: tuple[torch.Tensor, torch.Tensor]
    imagenet_known: torch.Tensor  # (1000, groups) 0 where a sample's truth is unknown


def load_data(
    captioner: Captioner, cache: Path, data: Path, groups: tuple[str, ...]
) -> EvidenceData:
    """The three sets, features computed once and cached."""
    sets = {}
    for split in ("train", "dev", "imagenet"):
        features = cached_features(captioner, cache, split, data)
        _, refs = split_photos(data, split)
        target = imagenet_truth(refs, groups) if split == "imagenet" else truth(refs, groups, 2)
        sets[split] = (features.float().mean(dim=1), target)  # (n, dim), (n, groups)
    # a photo of clothing (a jersey, a suit, a wig) usually has someone wearing it: whether it
    # shows a person is unknown, not "no" (WordNet says which classes are clothing)
    worn = torch.tensor(classes_under(WORN))  # (1000,)
    known = torch.ones_like(sets["imagenet"][1])
    known[worn & (sets["imagenet"][1][:, groups.index("person")] == 0), groups.index("person")] = 0
    return EvidenceData(**sets, imagenet_known=known)


def fit_on(
    data: EvidenceData, rows: torch.Tensor, groups: tuple[str, ...], imagenet_weight: float,
    min_train: int,
) -> EvidenceDetectors:  # fmt: skip
    """Detectors trained on Flickr8k train and the ImageNet samples of `rows` (bool, (1000,))."""
    pooled = torch.cat([data.train[0], data.imagenet[0][rows]])
    targets = torch.cat([data.train[1], data.imagenet[1][rows]])
    weights = torch.cat(
        [torch.ones_like(data.train[1]), imagenet_weight * data.imagenet_known[rows]]
    )  # (n, groups)
    detectors = fit(pooled, targets, weights, groups)
    detectors.trained.copy_(targets.sum(dim=0) >= min_train)
    return detectors


def build_detectors(
    data: EvidenceData, rows: torch.Tensor, groups: tuple[str, ...], imagenet_weight: float = 2.0,
    min_train: int = 15, min_dev: int = 5,
) -> tuple[EvidenceDetectors, torch.Tensor]:  # fmt: skip
    """Detectors trained with the ImageNet samples of `rows`, calibrated on Flickr8k dev and on
    those samples scored out of fold (2-fold inside `rows`), so the calibration sees person-free
    photos too, not Flickr8k's prior alone. Also returns the out-of-fold logits of `rows`."""
    index = rows.nonzero().flatten()
    out_of_fold = torch.zeros(len(index), len(groups))
    for part in (index[0::2], index[1::2]):
        inner = rows.clone()
        inner[part] = False
        with torch.no_grad():
            held = fit_on(data, inner, groups, imagenet_weight, min_train)
            out_of_fold[torch.isin(index, part)] = held.logits(data.imagenet[0][part])
    detectors = fit_on(data, rows, groups, imagenet_weight, min_train)
    with torch.no_grad():
        dev_logits = detectors.logits(data.dev[0])
    platt(
        detectors,
        torch.cat([dev_logits, out_of_fold]),
        torch.cat([data.dev[1], data.imagenet[1][rows]]),
        min_dev,
    )
    return detectors, out_of_fold


def roc_auc(scores: torch.Tensor, labels: torch.Tensor) -> float | None:
    """Area under the ROC curve (ties counted half); None without both classes."""
    pos, neg = scores[labels > 0], scores[labels <= 0]
    if len(pos) == 0 or len(neg) == 0:
        return None
    greater = (pos.unsqueeze(1) > neg.unsqueeze(0)).float().mean()
    ties = (pos.unsqueeze(1) == neg.unsqueeze(0)).float().mean()
    return float(greater + 0.5 * ties)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=SHARED)
    parser.add_argument("--cache", type=Path, default=ROOT / "cache/evidence")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--imagenet-weight", type=float, default=2.0)
    parser.add_argument("--min-train", type=int, default=15)
    parser.add_argument("--min-dev", type=int, default=5)
    parser.add_argument("--weight", type=float, help="steering weight (default: the file's)")
    parser.add_argument("--floor", type=float, help="steering floor (default: the file's)")
    args = parser.parse_args(argv)
    out = args.out or evidence_file()
    torch.manual_seed(0)  # the detectors' starting weights: the same file from the same data

    captioner = load_captioner(None, "cpu", "fp32")
    head = captioner.head
    if head is None:
        raise SystemExit("the shipped model has no ImageNet head")
    groups = tuple(g.name for g in object_table().groups)
    data = load_data(captioner, args.cache, args.data, groups)
    every = torch.ones(len(data.imagenet[0]), dtype=torch.bool)
    detectors, crossfit = build_detectors(
        data, every, groups, args.imagenet_weight, args.min_train, args.min_dev
    )
    with torch.no_grad():
        dev_scores = detectors(data.dev[0])

    measured = {}
    print(f"{'group':12} {'train+':>6} {'dev+':>5} {'dev AUC':>7} {'in+':>4} {'ImageNet AUC':>12}")
    for i, group in enumerate(groups):
        if not bool(detectors.trained[i]):
            continue
        dev_auc = roc_auc(dev_scores[:, i], data.dev[1][:, i])
        in_auc = roc_auc(crossfit[:, i], data.imagenet[1][:, i])
        measured[group] = {"dev_auc": dev_auc, "imagenet_auc": in_auc}
        print(
            f"{group:12} {int(data.train[1][:, i].sum()):6} {int(data.dev[1][:, i].sum()):5} "
            f"{dev_auc or float('nan'):7.3f} {int(data.imagenet[1][:, i].sum()):4} "
            f"{in_auc or float('nan'):12.3f}"
        )
    old = load_evidence(out) if out.exists() else None
    steering = old.steering if old else Steering()  # chosen on dev
    if args.weight is not None or args.floor is not None:
        steering = Steering(
            steering.weight if args.weight is None else args.weight,
            steering.floor if args.floor is None else args.floor,
        )
    record = {
        "trained_on": "flickr8k train (>= 2 of 5 references) + 1000 imagenet samples "
        f"(weight {args.imagenet_weight}); platt on flickr8k dev",
        "auc": measured,
    }
    # confidence curves were fitted on the old detectors' steering: refit them (calibrate_confidence)
    save_evidence(out, Evidence(detectors, steering, record, head=head_fingerprint(head)))
    print(f"{int(detectors.trained.sum())} detectors → {out}")
    print(json.dumps({"person": measured.get("person"), "dog": measured.get("dog")}))


if __name__ == "__main__":
    main()
