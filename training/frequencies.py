"""The n-gram document frequencies shipped in `weights/flickr8k-ngrams.safetensors`.

Counts, not text: each 1- to 4-gram of photocap's `tokenize` is stored under a 63-bit hash of its
words (`ngram_key`), with the number of images whose references hold it; n-grams of one image are
left out (one image weighs exactly as none does). `training/recipes/ngram_frequencies.py` makes it.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from photocap.evaluation.scores import DocumentFrequencies, ngram_counts, ngram_key
from photocap.model.vocab import tokenize
from photocap.paths import ngram_frequencies_file


def count_documents(references: Sequence[Sequence[str]]) -> Counter:
    """n-gram → number of images whose references hold it."""
    df: Counter = Counter()
    for refs in references:
        df.update({g for r in refs for counts in ngram_counts(tokenize(r)) for g in counts})
    return df


def save_frequencies(path: Path, documents: int, df: Counter, source: str) -> None:
    kept = sorted((ngram_key(g), n) for g, n in df.items() if n >= 2)
    tensors = {
        "keys": torch.tensor([k for k, _ in kept], dtype=torch.int64),  # (ngrams,)
        "counts": torch.tensor([n for _, n in kept], dtype=torch.int32),  # (ngrams,)
    }
    save_file(tensors, str(path), metadata={"documents": str(documents), "source": source})


@functools.cache
def load_frequencies(path: Path | None = None) -> DocumentFrequencies:
    """The shipped table (or the one at `path`)."""
    from safetensors import safe_open

    path = path or ngram_frequencies_file()
    tensors = load_file(str(path))
    with safe_open(str(path), "pt") as f:
        documents = int(f.metadata()["documents"])
    counts = dict(zip(tensors["keys"].tolist(), tensors["counts"].tolist(), strict=True))
    return DocumentFrequencies(documents, counts)
