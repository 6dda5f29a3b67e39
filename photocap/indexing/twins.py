"""A photo's RAW + JPEG twin: the other file of the same shot, found by name (see indexing.pairs)."""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict

from photocap.indexing.write import caption_in
from photocap.metadata import CaptionRecord
from photocap.photos.kinds import EXTENSIONS, JPEG, RAW

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
