"""Caption data: the Flickr8k layout in shared/, and sets of (image, references) ready to train on."""

from __future__ import annotations

import csv
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import torch

from photocap.errors import DataError
from photocap.model.vocab import Vocabulary


@dataclass
class CaptionSet:
    """Images (by cached-feature key) with their reference captions."""

    keys: list[str]  # feature-cache keys (image sha256), one per image
    names: list[str]  # image names, for reports
    references: list[list[str]]  # captions of each image

    def pairs(self) -> list[tuple[int, str]]:
        """(image index, caption) for every caption."""
        return [(i, c) for i, refs in enumerate(self.references) for c in refs]


def read_flickr8k(root: Path) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """Captions by image name, and the train/dev/test image lists, from `shared/data/flickr8k`."""
    captions_file = root / "captions.txt"
    if not captions_file.exists():
        raise DataError("Flickr8k captions.txt not found", path=captions_file)
    captions: dict[str, list[str]] = defaultdict(list)
    with open(captions_file, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            captions[row["image"]].append(row["caption"].strip())
    splits = {
        name: (root / "splits" / f"{name}.txt").read_text().split()
        for name in ("train", "dev", "test")
    }
    return dict(captions), splits


def encode_batch(
    captions: list[str], vocab: Vocabulary, max_words: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Captions as padded ids (batch, max_len) and lengths (batch,) counting `<start>`/`<end>`."""
    ids = [vocab.encode(c, max_words) for c in captions]
    lengths = torch.tensor([len(x) for x in ids])
    padded = torch.full((len(ids), int(lengths.max())), vocab.pad, dtype=torch.long)
    for row, x in enumerate(ids):
        padded[row, : len(x)] = torch.tensor(x)
    return padded, lengths
