"""Caption tokenisation and the word vocabulary saved inside every checkpoint."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

PAD, START, END, UNK = "<pad>", "<start>", "<end>", "<unk>"
SPECIALS = (PAD, START, END, UNK)
PUNCTUATION = frozenset(",:;")  # the marks a caption may carry inside it ("Product shot: …")
_TOKEN = re.compile(r"[^\W_]+(?:'[^\W_]+)?|[,:;]")


def tokenize(text: str, punctuation: bool = False) -> list[str]:
    """Lower-case words of a caption, apostrophes inside words kept; with `punctuation`, also its
    commas, colons and semicolons as tokens of their own. Other marks are dropped."""
    tokens = _TOKEN.findall(text.lower())
    return tokens if punctuation else [t for t in tokens if t not in PUNCTUATION]


@dataclass(frozen=True)
class Vocabulary:
    """A fixed word list; index 0..3 are `<pad>`, `<start>`, `<end>`, `<unk>`."""

    words: tuple[str, ...]

    def __post_init__(self) -> None:
        if tuple(self.words[:4]) != SPECIALS:
            raise ValueError("a vocabulary starts with <pad>, <start>, <end>, <unk>")
        object.__setattr__(self, "_index", {w: i for i, w in enumerate(self.words)})

    @classmethod
    def build(
        cls, captions: Iterable[str], min_count: int = 5, punctuation: bool = False
    ) -> Vocabulary:
        """Every word (and with `punctuation`, every mark of `PUNCTUATION`) seen at least
        `min_count` times, most frequent first (ties alphabetical)."""
        counts = Counter(w for c in captions for w in tokenize(c, punctuation))
        return cls(SPECIALS + _frequent(counts, min_count))

    def extended(
        self, captions: Iterable[str], min_count: int = 2, punctuation: bool = False
    ) -> Vocabulary:
        """This vocabulary plus new words (and marks, with `punctuation`) seen `min_count` times;
        existing ids are unchanged."""
        tokens = (w for c in captions for w in tokenize(c, punctuation))
        counts = Counter(w for w in tokens if w not in self._index)  # type: ignore[attr-defined]
        return Vocabulary(self.words + _frequent(counts, min_count))

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
        """`<start> w1 .. wn <end>` as ids, tokens cut to `max_len`; marks this vocabulary
        lacks are dropped (an unknown word is `<unk>`)."""
        index = self._index  # type: ignore[attr-defined]
        tokens = [
            t for t in tokenize(caption, punctuation=True) if t in index or t not in PUNCTUATION
        ]
        tokens = tokens[:max_len] if max_len else tokens
        return [self.start, *(index.get(t, self.unk) for t in tokens), self.end]

    def decode(self, ids: Sequence[int]) -> list[str]:
        """Words up to the first `<end>`, special tokens left out."""
        out = []
        for i in ids:
            if i == self.end:
                break
            if i >= len(SPECIALS):
                out.append(self.words[i])
        return out


def _frequent(counts: Counter[str], min_count: int) -> tuple[str, ...]:
    kept = (w for w, n in counts.items() if n >= min_count)
    return tuple(sorted(kept, key=lambda w: (-counts[w], w)))


ALT_TEXT_CHARS = 125  # screen readers and the usual alt-text guidance: about 125 characters
# "An image of a dog ..." tells a screen-reader user nothing they do not know: leading phrases dropped
_REDUNDANT_LEAD = re.compile(
    r"^(?:(?:a|an|the)\s+)?(?:close\s*up\s+)?(?:image|photo|photograph|picture|pic|snapshot|shot)"
    r"\s+(?:of|showing|shows)\s+",
    re.IGNORECASE,
)
# words a caption cut short must not end on ("A man in a blue shirt and a.")
_DANGLING_WORDS = "a an the and or but of in on at to from by for with while as is are was were"
_DANGLING = frozenset(_DANGLING_WORDS.split() + ["its", "his", "her", "their"])
# words that start a phrase: a long caption is best cut right before one ("..., with a dog.")
_PHRASE_START_WORDS = "and with while who which as near next wearing holding"
_PHRASE_STARTS = frozenset(_PHRASE_START_WORDS.split())


def to_alt_text(words: Sequence[str], max_chars: int = ALT_TEXT_CHARS) -> str:
    """Tokens as one alt-text sentence: marks joined to the word before them, no leading
    "image of"/"photo of", first letter capitalised, one final full stop, ≤ `max_chars`
    (cut at a word boundary, never ending on "a", "and", "with" …)."""
    text = ""
    for word in words:
        if word not in PUNCTUATION:
            text += f" {word}" if text else word
        elif text and text[-1] not in PUNCTUATION:  # none leading, none doubled
            text += word
    text = _REDUNDANT_LEAD.sub("", text.lstrip(",:; "))
    if len(text) > max_chars - 1:
        text = _shorten(text, max_chars - 1)
    text = text.rstrip(",:; ")
    return text[0].upper() + text[1:] + "." if text else ""


def _shorten(text: str, limit: int) -> str:
    """`text` cut to ≤ `limit` characters: before the last phrase that starts in the second half
    of the limit, else at the last word boundary without a dangling "a"/"and"/"with"."""
    words = text.split(" ")
    ends = []  # word counts of the prefixes that fit
    length = -1
    for i, word in enumerate(words):
        length += 1 + len(word)
        if length > limit:
            break
        ends.append(i + 1)
    if not ends:
        return text[:limit]
    for n in reversed(ends):
        if n < len(words) and words[n] in _PHRASE_STARTS and len(" ".join(words[:n])) >= limit // 2:
            return " ".join(words[:n]).rstrip(",:;")
    kept = words[: ends[-1]]
    while len(kept) > 1 and kept[-1].rstrip(",:;").lower() in _DANGLING:
        kept.pop()
    return " ".join(kept)
