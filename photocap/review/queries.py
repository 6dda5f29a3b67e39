"""The review page's reads as the API gives them: pages of photos (store/listing.py) as JSON."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from photocap.store.index import Index
from photocap.store.listing import Filters, photo_page
from photocap.store.records import labels_from_json


@dataclass(frozen=True)
class Page:
    photos: list[dict[str, Any]]
    next: str | None  # cursor of the next page; None on the last
    total: int | None  # on the first page only (without a cursor)
    total_exact: bool  # False: more than `total` photos match


def list_photos(
    index: Index, filters: Filters, *, limit: int = 60, after: str | None = None
) -> Page:
    """One page of photos matching `filters`, in `filters.sort` order, after cursor `after`.
    Raises BadFilter for a filter, sort, limit or cursor it cannot use."""
    page = photo_page(index, filters, limit=limit, after=after)
    return Page([photo_json(row) for row in page.rows], page.next, page.total, page.total_exact)


def photo_json(row: Any) -> dict[str, Any]:
    """A photos row as the API gives it."""
    folder, name = os.path.split(row.path)
    labels = labels_from_json(row.labels) or ()
    return {
        "id": row.id,
        "path": row.path,
        "name": name,
        "folder": folder,
        "caption": row.caption,
        "source": row.source,
        "model_id": row.model_id,
        "confidence": None if row.confidence is None else round(row.confidence, 4),
        "held_back": bool(row.held_back),
        "alt_text": row.alt_text,  # a label line written instead of the held-back caption
        "labels": [{"name": x.name, "probability": round(x.probability, 4)} for x in labels],
        "status": row.status,
        "error": row.error,
        "width": row.width,
        "height": row.height,
        "thumbnail": f"/thumbnails/{row.id}",
    }
