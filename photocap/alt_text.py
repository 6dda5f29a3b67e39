"""The label line: short, honest alt text for a photo whose sentence is held back.

A held-back sentence (below --min-confidence) is not written into the photo. When the evidence is
sure of some objects, the photo gets a line naming only them instead of nothing:
"May show: an espresso, a cup." No relations, no counts, no scene: only things at least
`LabelLineOptions.min_evidence` likely, which on Flickr8k `dev` and the ImageNet samples were
present ≥ 90% of the time (benchmarks/hallucination.py --choose). An object the ImageNet head is
sure of is named by its class's everyday word ("espresso"), one the detectors found by its group's
noun ("a person", "a dog").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from photocap.model.confidence import DEFAULT_LABEL_EVIDENCE
from photocap.model.objects import SCENE, object_table
from photocap.model.words import class_copy_words, imagenet_classes

LABEL_LINE_PREFIX = "May show: "
MAX_OBJECTS = 3

# The noun a label line says for a group found by the detectors (the group's own name otherwise).
GROUP_NOUNS = {
    "person": "a person",
    "big cat": "a big cat",
    "cattle": "cattle",
    "insect": "an insect",
    "reptile": "a reptile",
    "rodent": "a rodent",
    "fruit": "fruit",
    "vegetable": "vegetables",
    "drink": "a drink",
    "bread": "bread",
    "ice cream": "ice cream",
    "toy": "a toy",
    "computer": "a computer",
}


class SeenClass(Protocol):
    """An ImageNet class seen in a photo: a `Label`, or a `StoredLabel` read back from the index."""

    index: int
    probability: float


@dataclass(frozen=True)
class LabelLineOptions:
    """When a held-back photo gets a label line: objects at least `min_evidence` likely, and an
    ImageNet class named by its own word when at least `min_label` probable."""

    min_evidence: float = DEFAULT_LABEL_EVIDENCE
    min_label: float = 0.5


def article(noun: str) -> str:
    """ "a" or "an" before a noun by its first letter (good enough for everyday nouns)."""
    return f"an {noun}" if noun[:1] in "aeiou" else f"a {noun}"


def label_line_objects(
    objects: dict[str, float], labels: Sequence[SeenClass], options: LabelLineOptions
) -> list[tuple[str, str]]:
    """(group, how the line names it) for the sure objects of a photo, surest first: `objects` is
    its evidence per group, `labels` its ImageNet labels. Scenes (water, grass) are left out."""
    table = object_table()
    copy_words = class_copy_words()
    sure = sorted(
        (
            (p, g)
            for g, p in objects.items()
            if p >= options.min_evidence and table.kind(g) != SCENE
        ),
        reverse=True,
    )
    named: dict[str, str] = {}
    classes = imagenet_classes()
    for label in labels:  # a sure class names its group more precisely ("an espresso")
        if label.probability < options.min_label:
            continue
        words = (copy_words[label.index], *classes[label.index].words)  # everyday word first
        for word in words:
            group = table.named_by(word) if word else None
            if group is not None:
                named.setdefault(group, article(word.lower()))
                break
    out = []
    for _, group in sure[:MAX_OBJECTS]:
        out.append((group, named.get(group) or GROUP_NOUNS.get(group) or article(group)))
    return out


def label_line(
    objects: dict[str, float] | None, labels: Sequence[SeenClass], options: LabelLineOptions
) -> str | None:
    """ "May show: a laptop, a cup." for the sure objects, or None when none is sure enough."""
    if not objects:
        return None
    found = label_line_objects(objects, labels, options)
    if not found:
        return None
    return LABEL_LINE_PREFIX + ", ".join(name for _, name in found) + "."


def is_label_line(text: str | None) -> bool:
    """Whether alt text is a label line (not a sentence)."""
    return bool(text) and text.startswith(LABEL_LINE_PREFIX)
