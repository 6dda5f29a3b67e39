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

from photocap.model.vocab import Vocabulary
from photocap.model.words import CATEGORY_WORDS, class_copy_words, copy_word

__all__ = [
    "CATEGORY_WORDS",
    "class_copy_words",
    "class_word_ids",
    "copy_word",
    "grounded_vocabulary",
]


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
