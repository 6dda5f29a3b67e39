"""The objects a caption names, folded into synonym groups ("girl", "skier", "men" → person).

The groups come from the shipped table `object_words.tsv` (WordNet 3.0 plus a hand review, made by
`training/recipes/object_words.py`). A caption's words are matched longest name first, so "hot dog"
is food and "teddy bear" a toy, never a dog or a bear. CHAIR (`photocap.evaluation.hallucination`), the
evidence detectors and evidence-weighted decoding all read objects through this one module.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources

from photocap.errors import ModelError
from photocap.model.vocab import tokenize

SCENE = "scene"  # the kind of stuff and places (water, grass, snow): CHAIR reports them apart


@dataclass(frozen=True)
class ObjectGroup:
    """One synonym group: its name, kind (person, animal, vehicle, food, furniture, object, scene)
    and every word or name (plurals included) that names it."""

    name: str
    kind: str
    words: tuple[str, ...]


@dataclass(frozen=True)
class ObjectTable:
    """All groups and the lookup from a name (a tuple of words) to its group."""

    groups: tuple[ObjectGroup, ...]
    names: dict[tuple[str, ...], str]
    longest: int  # words in the longest name

    def group(self, name: str) -> ObjectGroup:
        return next(g for g in self.groups if g.name == name)

    def kind(self, name: str) -> str:
        return self.group(name).kind

    def mentions(self, text: str) -> list[tuple[str, str]]:
        """(group, the words that named it) for each object name in `text`, in order, longest
        name first at each position ("a hot dog" → hot dog, not dog)."""
        tokens = [t[:-2] if t.endswith("'s") else t for t in tokenize(text)]  # dog's → dog
        found, i = [], 0
        while i < len(tokens):
            for n in range(min(self.longest, len(tokens) - i), 0, -1):
                group = self.names.get(tuple(tokens[i : i + n]))
                if group is not None:
                    found.append((group, " ".join(tokens[i : i + n])))
                    i += n
                    break
            else:
                i += 1
        return found

    def groups_in(self, texts: Iterable[str]) -> set[str]:
        """Every group any of `texts` names."""
        return {group for text in texts for group, _ in self.mentions(text)}

    def named_by(self, name: str) -> str | None:
        """The group a whole name ("tabby cat", "baby bed") names exactly, if any: the word table's
        names are matched whole, so a baby bed is furniture, not a baby."""
        return self.names.get(tuple(tokenize(name)))

    def word_groups(self, words: Iterable[str]) -> dict[str, str]:
        """For single caption words (a vocabulary), the group each names, if any. A word that only
        names something as part of a longer name ("hot" of "hot dog") is left out."""
        return {w: g for w in words if (g := self.names.get((w,))) is not None}


@functools.cache
def object_table() -> ObjectTable:
    """The shipped synonym groups."""
    text = resources.files("photocap.model").joinpath("object_words.tsv").read_text("utf-8")
    groups, names = [], {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        try:
            name, kind, words = line.split("\t")
        except ValueError as exc:
            raise ModelError(
                "the shipped object word table is damaged; reinstall photocap"
            ) from exc
        group = ObjectGroup(name, kind, tuple(w for w in words.split(", ") if w))
        groups.append(group)
        for word in group.words:
            names.setdefault(tuple(word.split()), name)
    longest = max(len(n) for n in names)
    return ObjectTable(tuple(groups), names, longest)
