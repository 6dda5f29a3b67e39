"""What is in a photo: the encoder's ImageNet-1k head on its pooled features, as labels and words.

The encoder is an ImageNet classifier cut before pooling; its head (`classifier` in EfficientNet-Lite,
`fc` in a ResNet) applied to the mean of the feature grid the captioner already computed gives the
1000 class probabilities the backbone was trained for, at the cost of one small matrix product.
Each class maps to everyday search words through the reviewed table `imagenet_words.tsv` (made by
`training/recipes/imagenet_words.py`): "tabby" → tabby, tabby cat, cat, pet, mammal, animal.

Measured by `benchmarks/label_accuracy.py` on the 1000 ImageNet samples (shipped model, CPU, fp32):
top-1/top-5 82.1%/95.7% on photocap's squashed input, 86.5%/97.7% with the reference centre crop.
A centre-crop view would need a second encoder pass (74% of a caption's time, against 0.12% for the
head on the caption's own features) for +4.4 points top-1: it does not pay, so labels come from the
captioning pass alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from photocap.model.checkpoint import IMAGENET_1K, ModelInfo
from photocap.model.encoders import Encoder
from photocap.model.words import NUM_CLASSES, imagenet_classes

TOP_K = 5  # classes looked at per photo
# A class below this is not a label. Chosen on the ImageNet samples and Flickr8k dev: at 0.10 the
# words written are 80% right / 91% of the true class's words found (ImageNet; 0.05: 66% / 95%,
# 0.15: 87% / 88%), and 74% of Flickr8k dev photos get a label (0.15: 61%).
MIN_PROBABILITY = 0.1


@dataclass(frozen=True)
class Label:
    """A class the classifier sees in a photo."""

    index: int
    name: str
    probability: float
    words: tuple[str, ...]


@dataclass(frozen=True)
class LabelOptions:
    """Which classes become labels: the `top_k` most probable at or above `min_probability`."""

    top_k: int = TOP_K
    min_probability: float = MIN_PROBABILITY


def imagenet_head(encoder: Encoder, info: ModelInfo) -> nn.Linear | None:
    """The encoder's ImageNet-1k classifier head, or None when this model cannot label photos
    (a file without the head, or an encoder whose head was never ImageNet's)."""
    if info.classifier != IMAGENET_1K:
        return None
    backbone = encoder.backbone
    head = getattr(backbone, "classifier", None) or getattr(backbone, "fc", None)
    if not isinstance(head, nn.Linear) or head.out_features != NUM_CLASSES:
        return None
    return head


def class_logits(head: nn.Linear, features: torch.Tensor) -> torch.Tensor:
    """Encoder features (batch, num_pixels, encoder_dim) → ImageNet logits (batch, 1000), exactly as
    the backbone's own forward pools them (global average) before its head."""
    pooled = features.float().mean(dim=1)  # (batch, encoder_dim)
    return head(pooled)  # (batch, 1000)


def top_class_probabilities(head: nn.Linear, features: torch.Tensor) -> torch.Tensor:
    """Each photo's most probable ImageNet class's probability: (batch,) from features
    (batch, num_pixels, encoder_dim)."""
    return class_logits(head, features).float().softmax(dim=-1).max(dim=-1).values


def top_labels(
    logits: torch.Tensor, options: LabelOptions = LabelOptions()
) -> list[tuple[Label, ...]]:
    """Per photo, the `top_k` classes with probability ≥ `min_probability`, most probable first."""
    probs = logits.float().softmax(dim=-1)  # (batch, 1000)
    top_p, top_i = probs.topk(min(options.top_k, probs.shape[-1]), dim=-1)  # (batch, k)
    classes = imagenet_classes()
    out = []
    for ps, idx in zip(top_p.tolist(), top_i.tolist(), strict=True):
        out.append(
            tuple(
                Label(i, classes[i].name, p, classes[i].words)
                for p, i in zip(ps, idx, strict=True)
                if p >= options.min_probability
            )
        )
    return out


def label_words(labels: tuple[Label, ...] | list[Label]) -> list[str]:
    """The everyday words of `labels`, most probable label first, each word once."""
    seen: set[str] = set()
    words = []
    for label in labels:
        for word in label.words:
            if word.lower() not in seen:
                seen.add(word.lower())
                words.append(word)
    return words
