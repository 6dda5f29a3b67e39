"""Keywords (XMP `dc:subject`, an rdf:Bag): photocap's words merged with the ones a person wrote.

A person's keywords are never removed, renamed or reordered. photocap records the keywords it added
in its own namespace (`photocap:Keywords`), so a later write replaces exactly those: a keyword that
is in `dc:subject` and in that record is photocap's, every other one a person's. (A keyword a person
typed that equals one photocap had added counts as photocap's.) A word photocap would add that a
person already has, in any letter case, is not added twice, nor one a person put in another of the
photo's places (its embedded XMP or a sidecar).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from photocap.errors import MetadataError
from photocap.metadata.xmp import NS_DC, OWN_KEYWORDS, SUBJECT, XmpDocument

MAX_KEYWORD_BYTES = 256
_INVALID = re.compile("[\x00-\x1f\x7f\ud800-\udfff\ufffe\uffff]")


@dataclass(frozen=True)
class KeywordsRecord:
    """The keywords found in a photo and its sidecars."""

    keywords: tuple[str, ...]  # every dc:subject item, in reading order, each once
    photocap: tuple[str, ...]  # those photocap wrote (its provenance says so)

    @property
    def human(self) -> tuple[str, ...]:
        ours = set(self.photocap)
        return tuple(k for k in self.keywords if k not in ours)


@dataclass(frozen=True)
class KeywordEdit:
    remove: set[str]  # photocap's old keywords that go
    add: list[str]  # photocap's keywords not there yet
    ours: list[str]  # photocap's keywords after the edit


def plan_keywords(
    current: list[str],
    ours_before: list[str],
    new: Sequence[str],
    human_elsewhere: Sequence[str] = (),
) -> KeywordEdit:
    """What changes in a `dc:subject` holding `current`, photocap having written `ours_before`."""
    before = set(ours_before)
    human = {k.casefold() for k in current if k not in before}
    human |= {k.casefold() for k in human_elsewhere}
    ours: list[str] = []
    for word in new:
        if word.casefold() not in human and word.casefold() not in {o.casefold() for o in ours}:
            ours.append(word)
    present = set(current)
    keep = set(ours)
    return KeywordEdit(
        remove={k for k in current if k in before and k not in keep},
        add=[k for k in ours if k not in present],
        ours=ours,
    )


def apply_keywords(
    doc: XmpDocument,
    extended: XmpDocument | None,
    new: Sequence[str],
    human_elsewhere: Sequence[str] = (),
) -> bool:
    """Merge photocap's `new` keywords into `doc`; True when `extended` (a JPEG's Extended XMP) gave
    up its `dc:subject` to `doc` and so must be written again."""
    moved = extended is not None and extended.move_named(*SUBJECT[:2], doc)
    current = doc.get_bag(NS_DC, "subject") or []
    edit = plan_keywords(current, doc.get_bag(*OWN_KEYWORDS[:2]) or [], new, human_elsewhere)
    doc.edit_bag(SUBJECT, edit.remove, edit.add)
    doc.remove(*OWN_KEYWORDS[:2])
    doc.edit_bag(OWN_KEYWORDS, set(), edit.ours)
    return moved


def check_keywords(keywords: Sequence[str], path: Path) -> list[str]:
    """The keywords stripped, each once; MetadataError for one that cannot be written."""
    if isinstance(keywords, str):
        raise MetadataError("keywords must be a list of words, not one string", path=path)
    out: list[str] = []
    for word in keywords:
        word = word.strip() if isinstance(word, str) else word
        if not isinstance(word, str) or not word:
            raise MetadataError("a keyword is empty", path=path)
        if _INVALID.search(word):
            raise MetadataError(f"the keyword {word!r} holds a control character", path=path)
        if len(word.encode("utf-8")) > MAX_KEYWORD_BYTES:
            raise MetadataError(f"a keyword is longer than {MAX_KEYWORD_BYTES} bytes", path=path)
        if word not in out:
            out.append(word)
    return out


def record_of(docs: list[XmpDocument]) -> KeywordsRecord:
    """The keywords in `docs` (a photo's packets, then its sidecars), each once."""
    keywords: list[str] = []
    ours: list[str] = []
    for doc in docs:
        keywords += [k for k in doc.get_bag(NS_DC, "subject") or [] if k not in keywords]
        ours += [k for k in doc.get_bag(*OWN_KEYWORDS[:2]) or [] if k not in ours]
    present = set(keywords)
    return KeywordsRecord(tuple(keywords), tuple(k for k in ours if k in present))
