"""Saving a person's correction: into the photo first (atomic, as a person's caption), then into
the index. A photo that cannot be written keeps its row as it was, and the reason is raised."""

from __future__ import annotations

import os
from dataclasses import replace
from typing import Any

from photocap.errors import PhotocapError
from photocap.metadata import WriteMode, sidecars_mtime_ns
from photocap.metadata.human import write_human_caption
from photocap.photos.digest import file_sha256
from photocap.store.index import Index
from photocap.store.listing import get_photo

MAX_CAPTION_CHARS = 2000


class PhotoNotFound(PhotocapError):
    """No photo with that id in the index (inside the server's folder)."""


class SaveFailed(PhotocapError):
    """The caption could not be written into the photo; nothing was changed in the index."""


def save_caption(
    index: Index,
    photo_id: int,
    caption: str | None,
    *,
    scope: str | None = None,
    mode: WriteMode = "auto",
) -> Any:
    """Write `caption` (None: clear it) into photo `photo_id` as a person's caption, then into its
    index row (source "human"); returns the row as it is now.

    Raises PhotoNotFound, or SaveFailed with the reason when the photo cannot be written.
    """
    if caption is not None:
        caption = " ".join(caption.split())  # one line, as alt text is read
        if not caption:
            caption = None
        elif len(caption) > MAX_CAPTION_CHARS:
            raise SaveFailed(f"the caption is longer than {MAX_CAPTION_CHARS} characters")
    with index.reading() as conn:
        row = get_photo(conn, photo_id, scope)
    if row is None:
        raise PhotoNotFound(f"no photo with id {photo_id} in the index")
    record = index.get(row.path)
    if record is None:  # removed by another command meanwhile
        raise PhotoNotFound(f"no photo with id {photo_id} in the index")
    try:
        result = write_human_caption(row.path, caption, mode=mode)
    except PhotocapError as exc:
        reason = f"{exc.message} ({exc.hint})" if exc.hint else exc.message
        raise SaveFailed(f"caption not written: {reason}", path=row.path) from exc
    record = replace(
        record,
        caption=caption,
        source="human",
        model_id=None,
        score=None,
        confidence=None,
        held_back=False,
        alt_text=None,
        status="ok",
        error=None,
    )
    try:  # the photo as it is now, so that `photocap index` sees it unchanged
        st = os.stat(row.path)
        record = replace(record, size=st.st_size, mtime_ns=st.st_mtime_ns)
        if result.where == "embedded" or record.sha256 is None:
            record = replace(record, sha256=file_sha256(row.path))
        record = replace(record, sidecar_mtime_ns=sidecars_mtime_ns(row.path))
    except OSError:
        pass  # the next index run hashes it again
    index.upsert([record])
    with index.reading() as conn:
        return get_photo(conn, photo_id, scope)
