"""Photos listed without ranking: filtered pages in a stable order (the review page's), one photo
inside a folder, the captions held back as unsure, and the captions people wrote (what
`photocap train --from-index` learns from).

Keyset paging (`WHERE (key, id) > (:key, :id) ORDER BY key, id LIMIT n`) costs the same on the
thousandth page as on the first, where OFFSET would read every row it skips; the confidence order
walks the index `ix_photos_confidence` and stops after a page.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import (
    ColumnElement,
    Connection,
    and_,
    false,
    func,
    literal_column,
    or_,
    select,
    text,
)

from photocap.errors import PhotocapError
from photocap.store.index import Index
from photocap.store.query import Matching, Scope, SearchHit, hit_of, parse_query
from photocap.store.records import folder_range
from photocap.store.schema import photos
from photocap.store.search import matching_all

Sort = Literal["confidence", "path", "newest"]
SORTS: tuple[str, ...] = ("confidence", "path", "newest")
MAX_LIMIT = 200
COUNT_LIMIT = 10_000  # a first page counts this many matches at most, then says "more than"
NO_CONFIDENCE = 2.0  # sorts after every confidence (0-1): human captions and older rows last


class BadFilter(PhotocapError):
    """A filter, sort, limit or cursor that a listing cannot use."""


@dataclass(frozen=True)
class Filters:
    """What a page shows. `scope` is the server's --under; `under` a folder the page asks for."""

    scope: str | None = None
    under: str | None = None
    source: str | None = None  # "model" | "human"
    held_back: bool | None = None
    q: str | None = None  # in `photocap search`'s query language
    sort: Sort = "confidence"


@dataclass(frozen=True)
class RowPage:
    rows: list[Any]  # photos rows
    next: str | None  # cursor of the next page; None on the last
    total: int | None  # on the first page only (without a cursor), at most COUNT_LIMIT
    total_exact: bool = True  # False: more than `total` photos match


def _sort_key(sort: str) -> ColumnElement:
    if sort == "confidence":  # the expression of the index ix_photos_confidence, to the letter
        return func.coalesce(photos.c.confidence, literal_column(repr(NO_CONFIDENCE)))
    return photos.c.path


def _conditions(filters: Filters) -> list[ColumnElement]:
    """The conditions of every filter but the words (`_matching`)."""
    where: list[ColumnElement] = []
    for folder in (filters.scope, filters.under):
        if folder:
            lo, hi = folder_range(folder)
            where += [photos.c.path >= lo, photos.c.path < hi]
    if filters.source is not None:
        if filters.source not in ("model", "human"):
            raise BadFilter("source must be 'model' or 'human'")
        where.append(photos.c.source == filters.source)
    if filters.held_back is not None:
        where.append(photos.c.held_back == filters.held_back)
    return where


def _matching(conn: Connection, filters: Filters, postgres: bool) -> Matching | None:
    """The words filter's conditions (None: no words)."""
    if not (filters.q and filters.q.strip()):
        return None
    try:
        query = parse_query(filters.q)
    except PhotocapError:  # only stop characters: nothing can match
        return Matching(page=false(), count=false(), matched=0)
    return matching_all(conn, query, postgres=postgres)


def page_conditions(conn: Connection, filters: Filters, postgres: bool) -> list[ColumnElement]:
    """SQL conditions on the photos table for the photos `filters` keeps."""
    matching = _matching(conn, filters, postgres)
    return _conditions(filters) + ([matching.page] if matching is not None else [])


def encode_cursor(key: Any, photo_id: int) -> str:
    raw = json.dumps([key, photo_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, sort: str) -> tuple[Any, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        key, photo_id = json.loads(raw)
    except (ValueError, TypeError, binascii.Error):
        raise BadFilter("the cursor is not one this API gave") from None
    wanted = str if sort == "path" else (int, float)
    if not isinstance(photo_id, int) or not isinstance(key, wanted) or isinstance(key, bool):
        raise BadFilter("the cursor is not one this API gave")
    return key, photo_id


def photo_page(
    index: Index, filters: Filters, *, limit: int = 60, after: str | None = None
) -> RowPage:
    """One page of photos rows matching `filters`, in `filters.sort` order, after cursor `after`."""
    if filters.sort not in SORTS:
        raise BadFilter(f"sort must be one of {', '.join(SORTS)}")
    if not 1 <= limit <= MAX_LIMIT:
        raise BadFilter(f"limit must be between 1 and {MAX_LIMIT}")
    if filters.sort == "newest":
        key = photos.c.id
        order = [photos.c.id.desc()]
        after_clause = lambda k, i: photos.c.id < i  # noqa: E731
    else:
        key = _sort_key(filters.sort)
        order = [key, photos.c.id]
        # (key, id) > (k, i), spelled so that SQLite seeks the index to k (a row value would scan)
        after_clause = lambda k, i: and_(key >= k, or_(key > k, photos.c.id > i))  # noqa: E731
    query = select(photos, key.label("sort_key"))
    if after:
        query = query.where(after_clause(*decode_cursor(after, filters.sort)))
    where = _conditions(filters)
    with index.reading() as conn:
        matching = _matching(conn, filters, index.postgres)
        page_where = where + ([matching.page] if matching is not None else [])
        count_where = where + ([matching.count] if matching is not None else [])
        rows, total = None, None
        if not after and not where and matching is not None and matching.matched is not None:
            total = min(matching.matched, COUNT_LIMIT + 1)  # the words alone: counted already
        elif not after and matching is not None and matching.complete:
            rows, total = _page_of_the_counted(conn, count_where, key, filters.sort, limit)
        if rows is None:
            rows = list(conn.execute(query.where(*page_where).order_by(*order).limit(limit + 1)))
        if not after and total is None:  # up to COUNT_LIMIT + 1 rows (a count reads them)
            counted = select(photos.c.id).where(*count_where).limit(COUNT_LIMIT + 1).subquery()
            total = conn.execute(select(func.count()).select_from(counted)).scalar_one()
    more = len(rows) > limit
    rows = rows[:limit]
    cursor = encode_cursor(rows[-1].sort_key, rows[-1].id) if more else None
    exact = matching is None or matching.complete
    if total is not None and (total > COUNT_LIMIT or not exact):
        return RowPage(rows, cursor, min(total, COUNT_LIMIT), total_exact=False)
    return RowPage(rows, cursor, total)


def _page_of_the_counted(
    conn: Connection, where: list[ColumnElement], key: ColumnElement, sort: str, limit: int
) -> tuple[list[Any] | None, int]:
    """A words filter's first page and count from one scan of its matches: (the page's rows,
    the count), or (None, the count) when more than COUNT_LIMIT photos match (the page must then
    walk the matches in its own order). A separate page query would scan the matches again:
    PostgreSQL at 2 million photos, "man red shirt" (5,000 matches), 45 ms → 24 ms a page."""
    counted = select(photos.c.id, key.label("sort_key")).where(*where).limit(COUNT_LIMIT + 1).cte()

    def ordered(table: Any) -> list[ColumnElement]:
        return [table.c.id.desc()] if sort == "newest" else [table.c.sort_key, table.c.id]

    top = select(counted).order_by(*ordered(counted)).limit(limit + 1).subquery()
    total = select(func.count()).select_from(counted).scalar_subquery().label("total")
    page = select(photos, top.c.sort_key, total).join(top, top.c.id == photos.c.id)
    rows = list(conn.execute(page.order_by(*ordered(top))))
    matched = rows[0].total if rows else 0  # no row: nothing was counted
    return (rows if matched <= COUNT_LIMIT else None), matched


def get_photo(conn: Connection, photo_id: int, scope: str | None) -> Any | None:
    """The photos row of `photo_id`, or None when there is none inside `scope`."""
    query = select(photos).where(photos.c.id == photo_id, *_conditions(Filters(scope=scope)))
    return conn.execute(query).first()


def held_back_photos(
    index: Index, *, limit: int = 20, under: str | os.PathLike[str] | None = None
) -> tuple[SearchHit, ...]:
    """The captions held back from their photos as unsure, least sure first (no query)."""
    if limit < 1:
        raise ValueError("limit must be at least 1")
    where, params = Scope.of(under, None).where("photos")
    # A held-back caption has a confidence, so this is the order of the index
    # ix_photos_confidence, whose first rows are the held-back ones: no sort of them all.
    sql = text(
        f"""
        SELECT path, caption, source, labels, confidence, held_back, alt_text FROM photos
        WHERE held_back{where} ORDER BY coalesce(confidence, {NO_CONFIDENCE}), id LIMIT :limit
        """
    )
    with index.reading() as conn:
        rows = list(conn.execute(sql, {"limit": limit, **params}))
    return tuple(hit_of(i, row) for i, row in enumerate(rows, 1))


def human_captions(
    index: Index, under: str | os.PathLike[str] | None = None
) -> list[tuple[str, str]]:
    """(path, caption) of every photo whose caption a person wrote or accepted (source "human",
    status ok), inside folder `under` when given, by path."""
    query = select(photos.c.path, photos.c.caption).where(
        photos.c.source == "human", photos.c.caption.is_not(None), photos.c.status == "ok"
    )
    if under is not None:
        lo, hi = folder_range(under)
        query = query.where(photos.c.path >= lo, photos.c.path < hi)
    with index.reading() as conn:
        return [(row.path, row.caption) for row in conn.execute(query.order_by(photos.c.path))]
