"""RAW + JPEG pairs: one shot, one caption.

A camera set to RAW + JPEG leaves two files of each shot side by side: the same folder and name,
extensions in any case (`IMG_0001.CR2`, `IMG_0001.JPG`). When both need a caption, the model sees
the JPEG (the camera's own rendering, and the faster to decode) and the RAW gets the same caption
and labels, counted as `paired`. When one of them already has a caption, the other gets it: a
caption a person wrote on either file is indexed as that of both (and nothing is written over
it), and a caption photocap wrote on one is written into the other.
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from photocap.indexing.outcomes import PhotoOutcome
from photocap.indexing.write import caption_in
from photocap.metadata import CaptionRecord
from photocap.photos.kinds import EXTENSIONS, JPEG, RAW
from photocap.store.index import PhotoRecord

if TYPE_CHECKING:
    from photocap.indexing.plan import PendingPhoto

_FOLDERS = 64  # folder listings kept (each checked against the folder's mtime before use)
_listings: OrderedDict[str, tuple[int, dict[str, list[str]]]] = OrderedDict()
_lock = threading.Lock()
_MTIME_STEP_NS = 50_000_000  # a timestamp step of the kernel's clock, with a margin


def twin_of(path: str) -> str | None:
    """The other file of `path`'s RAW + JPEG pair (a JPEG for a RAW, a RAW for a JPEG), None
    when there is none. Only names are compared; the first of several twins in name order."""
    folder, name = os.path.split(path)
    stem, ext = os.path.splitext(name)
    kind = EXTENSIONS.get(ext.lower())
    if kind not in (RAW, JPEG):
        return None
    wanted = JPEG if kind == RAW else RAW
    for other in _names_by_stem(folder).get(stem, ()):
        if EXTENSIONS.get(os.path.splitext(other)[1].lower()) == wanted:
            return os.path.join(folder, other)
    return None


def is_raw_name(path: str) -> bool:
    return EXTENSIONS.get(os.path.splitext(path)[1].lower()) == RAW


def twin_caption(path: str) -> CaptionRecord | None:
    """The caption of the other file of `path`'s pair; None without a twin or a caption."""
    twin = twin_of(path)
    return caption_in(twin) if twin is not None else None


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


def _names_by_stem(folder: str) -> dict[str, list[str]]:
    """The folder's RAW and JPEG file names by stem, from a listing kept while the folder's mtime
    stays the same (and is older than the listing by more than a step of the kernel's clock, so
    a file added within the same step is not missed)."""
    try:
        mtime = os.stat(folder or ".").st_mtime_ns
    except OSError:
        return {}
    with _lock:
        cached = _listings.get(folder)
        if cached is not None and cached[0] == mtime:
            _listings.move_to_end(folder)
            return cached[1]
    listed_at = time.time_ns()
    try:
        names = sorted(os.listdir(folder or "."))
    except OSError:
        return {}
    by_stem: dict[str, list[str]] = {}
    for name in names:
        stem, ext = os.path.splitext(name)
        if EXTENSIONS.get(ext.lower()) in (RAW, JPEG):
            by_stem.setdefault(stem, []).append(name)
    with _lock:
        if listed_at - mtime > _MTIME_STEP_NS:
            _listings[folder] = (mtime, by_stem)
        while len(_listings) > _FOLDERS:
            _listings.popitem(last=False)
    return by_stem
