"""The ImageNet word table without torch: each class's everyday words, and the one word a caption
(or a label line) uses for it. `photocap.model.labels` applies the classifier; planning an index
run and the label line read words only, so they do not load torch.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources

from photocap.errors import ModelError
from photocap.model.vocab import tokenize

NUM_CLASSES = 1000


@dataclass(frozen=True)
class ImageNetClass:
    """One row of the word table: a class of the classifier and the words people search it by."""

    index: int
    wnid: str  # WordNet 3.0 noun synset ("n02123045")
    name: str
    words: tuple[str, ...]  # most preferred first: the class's own names, then broader ones


@functools.cache
def imagenet_classes() -> tuple[ImageNetClass, ...]:
    """The shipped word table, row i for class i (the sorted wnids, as every ImageNet-1k head)."""
    text = resources.files("photocap.model").joinpath("imagenet_words.tsv").read_text("utf-8")
    classes = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        index, wnid, name, words = line.split("\t")
        classes.append(ImageNetClass(int(index), wnid, name, tuple(words.split(", "))))
    if [c.index for c in classes] != list(range(NUM_CLASSES)):
        raise ModelError("the shipped ImageNet word table is damaged; reinstall photocap")
    return tuple(classes)


# A class's copy word is the most general single word of its row in the everyday-word table that
# is still a thing a caption names, not a category: "tabby, tabby cat, cat, pet, mammal, animal" →
# "cat", "sorrel, horse, mammal, animal" → "horse", "canoe, boat, vehicle" → "boat". The category
# words below are the table's broad groupings (its hypernym review), words a person searches by
# but a caption rarely uses for the thing itself ("a fruit" for a banana, "a computer" for a laptop).
CATEGORY_WORDS = frozenset(
    [
        "animal",
        "mammal",
        "pet",
        "wildlife",
        "reptile",
        "amphibian",
        "insect",
        "bug",
        "arachnid",
        "crustacean",
        "mollusk",
        "primate",
        "rodent",
        "marsupial",
        "waterbird",
        "seabird",
        "fungus",
        "plant",
        "nature",
        "landscape",
        "vehicle",
        "food",
        "drink",
        "seafood",
        "fruit",
        "vegetable",
        "dish",
        "dessert",
        "bread",
        "alcohol",
        "flowers",
        "snow",
        "toy",
        "computer",
        "clothing",
        "clothes",
        "footwear",
        "armor",
        "music",
        "electronics",
        "furniture",
        "kitchen",
        "cookware",
        "tableware",
        "appliance",
        "tool",
        "weapon",
        "sports",
        "building",
        "store",
        "shop",
        "monument",
    ]
)


def copy_word(words: tuple[str, ...]) -> str | None:
    """The copy word of a class from its table words (most preferred first), or None."""
    candidates = [
        w
        for w in words
        if tokenize(w) == [w.lower()] and w.lower() not in CATEGORY_WORDS and w.isalpha()
    ]
    return candidates[-1].lower() if candidates else None


@functools.cache
def class_copy_words() -> tuple[str | None, ...]:
    """The copy word of each of the 1000 classes, in class order."""
    return tuple(copy_word(c.words) for c in imagenet_classes())
