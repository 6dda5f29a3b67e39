"""Thumbnails made on the fly from the photos (EXIF orientation applied), cached as JPEG files
under `$XDG_CACHE_HOME/photocap/thumbnails`, keyed by the photo's path, size and mtime: a changed
photo gets a new thumbnail, and nothing needs invalidating."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from photocap.paths import new_file
from photocap.photos.decode import open_photo

SIZE = 320  # the longest side, in pixels: sharp in a grid of ~160-px cells on a 2x screen
QUALITY = 82


def cache_dir() -> Path:
    """`$XDG_CACHE_HOME/photocap/thumbnails` (default `~/.cache/photocap/thumbnails`)."""
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "photocap" / "thumbnails"


def cached_path(path: str, st: os.stat_result, size: int = SIZE) -> Path:
    key = f"{path}\0{st.st_size}\0{st.st_mtime_ns}\0{size}".encode("utf-8", "surrogateescape")
    digest = hashlib.sha256(key).hexdigest()
    return cache_dir() / digest[:2] / f"{digest}.jpg"


def thumbnail(path: str, size: int = SIZE) -> Path:
    """The cached thumbnail of the photo at `path`, made first when there is none.

    Raises ImageError (photos/decode.py) when the photo cannot be read, OSError when it is gone.
    """
    st = os.stat(path)
    target = cached_path(path, st, size)
    if target.exists():
        return target
    image = open_photo(path, min_side=size)  # RGB, oriented, JPEG decoded reduced
    image.thumbnail((size, size))
    with new_file(target) as tmp:
        image.save(tmp, "JPEG", quality=QUALITY, optimize=True)
    return target
