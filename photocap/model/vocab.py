"""Caption tokenisation and the word vocabulary saved inside every checkpoint."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

PAD, START, END, UNK = "<pad>", "<start>", "<end>", "<unk>"
SPECIALS = (PAD, START, END, UNK)
_TOKEN = re.compile(r"[^\W_]+(?:'[^\W_]+)?")


def tokenize(text: str) -> list[str]:
    """Lower-case words of a caption; punctuation dropped, apostrophes inside words kept."""
    return _TOKEN.findall(text.lower())


@dataclass(frozen=True)
class Vocabulary:
    """A fixed word list; index 0..3 are `<pad>`, `<start>`, `<end>`, `<unk>`."""

    words: tuple[str, ...]

    def __post_init__(self) -> None:
        if tuple(self.words[:4]) != SPECIALS:
            raise ValueError("a vocabulary starts with <pad>, <start>, <end>, <unk>")
        object.__setattr__(self, "_index", {w: i for i, w in enumerate(self.words)})

    @classmethod
    def build(cls, captions: Iterable[str], min_count: int = 5) -> Vocabulary:
        """Every word seen at least `min_count` times, most frequent first (ties alphabetical)."""
        counts = Counter(w for c in captions for w in tokenize(c))
        kept = sorted(
            (w for w, n in counts.items() if n >= min_count), key=lambda w: (-counts[w], w)
        )
        return cls(SPECIALS + tuple(kept))

    def extended(self, captions: Iterable[str], min_count: int = 2) -> Vocabulary:
        """This vocabulary plus new words seen `min_count` times; existing ids are unchanged."""
        counts = Counter(w for c in captions for w in tokenize(c) if w not in self._index)
        new = sorted(
            (w for w, n in counts.items() if n >= min_count), key=lambda w: (-counts[w], w)
        )
        return Vocabulary(self.words + tuple(new))

    def __len__(self) -> int:
        return len(self.words)

    @property
    def pad(self) -> int:
        return 0

    @property
    def start(self) -> int:
        return 1

    @property
    def end(self) -> int:
        return 2

    @property
    def unk(self) -> int:
        return 3

    def encode(self, caption: str, max_len: int | None = None) -> list[int]:
        """`<start> w1 .. wn <end>` as ids, words cut to `max_len`."""
        words = tokenize(caption)[:max_len] if max_len else tokenize(caption)
        return [self.start, *(self._index.get(w, self.unk) for w in words), self.end]  # type: ignore[attr-defined]

    def decode(self, ids: Sequence[int]) -> list[str]:
        """Words up to the first `<end>`, special tokens left out."""
        out = []
        for i in ids:
            if i == self.end:
                break
            if i >= len(SPECIALS):
                out.append(self.words[i])
        return out


def to_alt_text(words: Sequence[str], max_chars: int = 250) -> str:
    """Words as an alt-text sentence: first letter capitalised, one final period, ≤ `max_chars`."""
    text = " ".join(words).strip()
    if not text:
        return ""
    if len(text) > max_chars - 1:
        text = text[: max_chars - 1].rsplit(" ", 1)[0]
    return text[0].upper() + text[1:] + "."
