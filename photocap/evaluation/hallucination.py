"""Object hallucination: CHAIR (Rohrbach et al. 2018) of captions against the object groups each
photo holds, by the word table of `photocap.model.objects`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from photocap.model.objects import SCENE, object_table


@dataclass(frozen=True)
class Chair:
    """Object hallucination (CHAIR, Rohrbach et al. 2018) of a set of captions."""

    captions: int
    mentions: int  # object mentions (groups named, once per caption)
    hallucinated: int  # mentions of a group the photo does not hold
    hallucinating_captions: int  # captions with at least one

    @property
    def chair_s(self) -> float:
        """Share of captions that name an object the photo does not hold."""
        return self.hallucinating_captions / self.captions if self.captions else 0.0

    @property
    def chair_i(self) -> float:
        """Share of object mentions that are hallucinated."""
        return self.hallucinated / self.mentions if self.mentions else 0.0

    @property
    def mentions_per_caption(self) -> float:
        return self.mentions / self.captions if self.captions else 0.0


def chair(
    captions: Sequence[str], truths: Sequence[set[str]], scenes: bool = False
) -> tuple[Chair, list[list[str]]]:
    """CHAIR of `captions` against the object groups each photo holds (`truths`, e.g. every group
    its references name); scene groups (water, grass) count only with `scenes`, as the standard
    measure counts objects. Also returns each caption's hallucinated groups."""
    table = object_table()
    mentions = hallucinated = bad = 0
    wrong_per_caption = []
    for text, truth in zip(captions, truths, strict=True):
        named = {g for g, _ in table.mentions(text) if scenes or table.kind(g) != SCENE}
        wrong = sorted(named - truth)
        mentions += len(named)
        hallucinated += len(wrong)
        bad += bool(wrong)
        wrong_per_caption.append(wrong)
    return Chair(len(captions), mentions, hallucinated, bad), wrong_per_caption


def reference_objects(references: Sequence[Sequence[str]]) -> list[set[str]]:
    """The object groups each photo holds by its references: any reference naming one."""
    table = object_table()
    return [table.groups_in(refs) for refs in references]
