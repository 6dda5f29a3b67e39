"""RAW + JPEG pairs: one shot, one caption.

A camera set to RAW + JPEG leaves two files of each shot side by side: the same folder and name,
extensions in any case (`IMG_0001.CR2`, `IMG_0001.JPG`). When both need a caption, the model sees
the JPEG (the camera's own rendering, and the faster to decode) and the RAW gets the same caption
and labels, counted as `paired`. When one of them already has a caption, the other gets it: a
caption a person wrote on either file is indexed as that of both (and nothing is written over
it), and a caption photocap wrote on one is written into the other.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from photocap.indexing.outcomes import PhotoOutcome
from photocap.indexing.twins import is_raw_name, twin_of
from photocap.store.index import PhotoRecord

if TYPE_CHECKING:
    from photocap.indexing.plan import PendingPhoto


def split_pairs(
    pending: Sequence[PendingPhoto],
) -> tuple[list[PendingPhoto], dict[str, PendingPhoto]]:
    """(photos for the model, {JPEG's path: its RAW}): a RAW whose JPEG is also to be captioned
    waits for the JPEG's caption instead of being decoded."""
    to_caption = {p.path: p for p in pending if p.keep is None}
    followers: dict[str, PendingPhoto] = {}
    for photo in pending:
        if photo.keep is not None or not is_raw_name(photo.path):
            continue
        twin = twin_of(photo.path)
        if twin is not None and twin in to_caption and twin not in followers:
            followers[twin] = photo
    waiting = {id(p) for p in followers.values()}
    return [p for p in pending if id(p) not in waiting], followers


def twin_result(
    follower: PendingPhoto, leader: tuple[PhotoRecord, PhotoOutcome]
) -> tuple[PhotoRecord, PhotoOutcome] | None:
    """The RAW's row and outcome once its JPEG (`leader`) is captioned, before anything is written:
    the same caption, labels, confidence and held-back mark. None when the JPEG ended without a
    caption (the RAW is then captioned on its own)."""
    record, outcome = leader
    if record.caption is None or record.source is None:
        return None
    twin = replace(
        record,
        path=follower.path,
        size=follower.size,
        mtime_ns=follower.mtime_ns,
        sha256=follower.sha256,
        sidecar_mtime_ns=follower.sidecar_mtime_ns,
        width=None,
        height=None,
        status="ok",
        error=None,
    )
    if record.source == "human":  # a person captioned the JPEG meanwhile: theirs for both
        return twin, PhotoOutcome(follower.path, "human", record.caption, "human")
    return twin, PhotoOutcome(
        follower.path, "paired", record.caption, "model", labels=outcome.labels
    )
