"""Full-text search on a SQLite index: the query language (query.py) on FTS5, ranked by BM25.

Each term is an FTS5 string literal of letters and digits, so nothing a user types is ever FTS5
syntax. A photo whose caption matches ranks above one whose label words alone do; highlights are
FTS5 highlight() spans of the caption.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy.exc
from sqlalchemy import Connection, text

from photocap.errors import PhotocapError
from photocap.store.query import (
    PARTIAL_POOL,
    Matching,
    ParsedQuery,
    Scope,
    SearchHit,
    SearchResults,
    highlight_spans,
    hit_of,
)
from photocap.store.schema import FTS_TABLE, photos

DENSE_MATCHES = 50_000  # more matches than this: a listing looks up each row it walks


def in_caption(match: str) -> str:
    """An FTS5 expression restricted to the caption column (not the label words)."""
    return f"caption : ({match})"


def matching_all(conn: Connection, query: ParsedQuery) -> Matching:
    """SQL conditions on the photos table: the caption or label words hold every term of `query`.
    For filters such as the review page's, in the form that suits how many photos match.

    Up to DENSE_MATCHES matches, their ids are listed first, once (then a page sorts them). Past
    that, each row a page walks in its own order is looked up in the full-text index instead: a
    word in a fifth of the photos needs a few hundred lookups a page, where listing its matches
    would read and sort hundreds of thousands. The count then sees the newest DENSE_MATCHES
    matches."""
    match = query.match_all()
    listed = f"SELECT rowid FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH :match"
    # The full-text index is asked once: the page and the count read the ids it listed.
    found = text(f"SELECT count(*), json_group_array(rowid) FROM ({listed} LIMIT :dense)")
    count, ids = conn.execute(found, {"match": match, "dense": DENSE_MATCHES + 1}).one()
    if count <= DENSE_MATCHES:
        every = photos.c.id.in_(text("SELECT value FROM json_each(:ids)").bindparams(ids=ids))
        return Matching(page=every, count=every, matched=count)
    newest = f"{listed} ORDER BY rowid DESC LIMIT {DENSE_MATCHES}"
    looked_up = text(
        f"EXISTS (SELECT 1 FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH :match"
        f" AND {FTS_TABLE}.rowid = photos.id)"
    ).bindparams(match=match)
    return Matching(
        page=looked_up,
        count=photos.c.id.in_(text(newest).bindparams(match=match)),
        complete=False,
        matched=count,
    )


def run_search(
    conn: Connection,
    query: ParsedQuery,
    *,
    limit: int,
    under: str | os.PathLike[str] | None,
    source: str | None,
    rank_window: int | None,
    labels: bool,
    held_back: bool,
) -> SearchResults:
    """Ranked matches of `query` (see store/search.py's `search`); the caller checks `limit`."""
    scope = _Scope.of(conn, under, source, held_back)
    if scope is None:  # nothing indexed in that folder
        return SearchResults(query=query, hits=(), partial=False)
    within = (lambda match: match) if labels else in_caption
    try:
        match = within(query.match_all())
        floor = _window_floor(conn, match, scope, rank_window)
        ranked = _ranked(conn, in_caption(query.match_all()), scope, limit, floor)
        if labels and len(ranked) < limit:  # then the photos whose labels alone match
            shown = {row.id for row in ranked}
            more = _ranked(conn, match, scope, limit + len(ranked), floor)
            ranked += [row for row in more if row.id not in shown][: limit - len(ranked)]
        matched = dict.fromkeys((row.id for row in ranked), len(query.terms))
        partial = False
        if not ranked and len(query.terms) > 1:
            match = within(query.match_any())
            floor = _window_floor(conn, match, scope, rank_window)
            pool = _ranked(conn, match, scope, max(PARTIAL_POOL, 5 * limit), floor)
            matched = _terms_matched(conn, query, [row.id for row in pool], within)
            ranked = sorted(pool, key=lambda row: (-matched[row.id], row.rank, row.id))[:limit]
            partial = bool(ranked)
        hits = _hits(conn, match, ranked, matched)
    except sqlalchemy.exc.OperationalError as exc:
        if "fts5" not in str(exc.orig).lower():
            raise
        # Unreachable by construction (terms are letters and digits in quotes); never a traceback.
        raise PhotocapError(
            f"the search engine rejected the query: {exc.orig}", hint="search for plain words"
        ) from exc
    return SearchResults(query=query, hits=hits, partial=partial, windowed=floor is not None)


@dataclass(frozen=True)
class _Scope:
    """SQL restricting matches to a query.Scope (`p` is the photos table)."""

    join: str = ""
    where: str = ""
    params: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(
        cls,
        conn: Connection,
        under: str | os.PathLike[str] | None,
        source: str | None,
        held_back: bool = False,
    ) -> _Scope | None:
        """None when `under` holds no indexed photo."""
        scope = Scope.of(under, source, held_back)
        where, params = "", {}
        if scope.folder is not None:
            lo, hi = scope.folder
            first, last = conn.execute(
                text("SELECT min(id), max(id) FROM photos WHERE path >= :lo AND path < :hi"),
                {"lo": lo, "hi": hi},
            ).one()
            if first is None:
                return None
            # The rowid bounds are redundant but let FTS5 skip straight to the folder's photos,
            # which are mostly added together (one `photocap index` run walks folder by folder).
            params.update(first=first, last=last)
            where += f" AND {FTS_TABLE}.rowid BETWEEN :first AND :last"
        conditions, scoped = scope.where("p")
        where += conditions
        params.update(scoped)
        join = f" JOIN photos AS p ON p.id = {FTS_TABLE}.rowid" if where else ""
        return cls(join, where, params)


def _window_floor(conn: Connection, match: str, scope: _Scope, window: int | None) -> int | None:
    """The rowid of the `window`-th newest match, or None when there are no more than that."""
    if window is None:
        return None
    sql = text(
        f"""
        SELECT {FTS_TABLE}.rowid FROM {FTS_TABLE}{scope.join}
        WHERE {FTS_TABLE} MATCH :match{scope.where}
        ORDER BY {FTS_TABLE}.rowid DESC LIMIT 1 OFFSET :skip
        """
    )
    return conn.execute(sql, {"match": match, "skip": window - 1, **scope.params}).scalar()


def _ranked(
    conn: Connection, match: str, scope: _Scope, limit: int, floor: int | None
) -> list[Any]:
    """(id, rank) of the best `limit` matches; rank is bm25(), lower is better."""
    window = f" AND {FTS_TABLE}.rowid >= :floor" if floor is not None else ""
    sql = text(
        f"""
        SELECT {FTS_TABLE}.rowid AS id, bm25({FTS_TABLE}) AS rank FROM {FTS_TABLE}{scope.join}
        WHERE {FTS_TABLE} MATCH :match{scope.where}{window}
        ORDER BY rank, id LIMIT :limit
        """
    )
    return list(conn.execute(sql, {"match": match, "limit": limit, "floor": floor, **scope.params}))


def _terms_matched(
    conn: Connection, query: ParsedQuery, ids: list[int], within: Callable[[str], str]
) -> dict[int, int]:
    """How many of the query's terms each of `ids` holds (in the columns `within` keeps)."""
    matched = dict.fromkeys(ids, 0)
    listed = ", ".join(str(int(i)) for i in ids)
    for term in query.terms:
        sql = f"SELECT rowid FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH :t AND rowid IN ({listed})"
        for (rowid,) in conn.execute(text(sql), {"t": within(term.fts)}):
            matched[rowid] += 1
    return matched


def _hits(
    conn: Connection, match: str, ranked: list[Any], matched: dict[int, int]
) -> tuple[SearchHit, ...]:
    """The photos rows of `ranked`, with highlight(): computed for these few rows only."""
    if not ranked:
        return ()
    listed = ", ".join(str(int(row.id)) for row in ranked)
    sql = f"""
        SELECT p.id, p.path, p.caption, p.source, p.labels, p.confidence, p.held_back, p.alt_text,
               highlight({FTS_TABLE}, 0, char(2), char(3)) AS marked
        FROM {FTS_TABLE} JOIN photos AS p ON p.id = {FTS_TABLE}.rowid
        WHERE {FTS_TABLE} MATCH :match AND {FTS_TABLE}.rowid IN ({listed})
    """
    rows = {row.id: row for row in conn.execute(text(sql), {"match": match})}
    return tuple(
        hit_of(
            i,
            rows[r.id],
            score=-float(r.rank),
            highlights=highlight_spans(rows[r.id].marked or "", rows[r.id].caption or ""),
            matched=matched[r.id],
        )
        for i, r in enumerate(ranked, 1)
    )
