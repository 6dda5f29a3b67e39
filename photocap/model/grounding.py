"""Which caption word each ImageNet class offers a grounded decoder to copy, and the vocabulary
that holds them all.

A class's copy word is the most general single word of its row in the everyday-word table that
is still a thing a caption names, not a category: "tabby, tabby cat, cat, pet, mammal, animal" →
"cat", "sorrel, horse, mammal, animal" → "horse", "canoe, boat, vehicle" → "boat", "magpie, bird,
animal" → "bird". The category words below are the table's broad groupings (its hypernym review),
words a person searches by but a caption rarely uses for the thing itself ("a fruit" for a
banana, "a computer" for a laptop).
"""

from __future__ import annotations

import torch

from photocap.model.labels import imagenet_classes
from photocap.model.vocab import Vocabulary, tokenize

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


def class_copy_words() -> list[str | None]:
    """The copy word of each of the 1000 classes, in class order."""
    return [copy_word(c.words) for c in imagenet_classes()]


def grounded_vocabulary(vocab: Vocabulary) -> Vocabulary:
    """`vocab` plus every copy word it lacks, appended (existing ids unchanged)."""
    known = set(vocab.words)
    extra: list[str] = []
    for word in class_copy_words():
        if word and word not in known:
            known.add(word)
            extra.append(word)
    return Vocabulary(vocab.words + tuple(extra))


def class_word_ids(vocab: Vocabulary) -> torch.Tensor:
    """(1000,) the vocabulary id of each class's copy word; 0 where a class has none (or the
    vocabulary lacks it)."""
    index = {w: i for i, w in enumerate(vocab.words)}
    return torch.tensor([index.get(w, 0) if w else 0 for w in class_copy_words()])
