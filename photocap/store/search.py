"""Full-text search over captions: `search` runs a query (the language: store/query.py) on the
index's own engine, FTS5 (store/search_sqlite.py) or PostgreSQL's (store/search_postgres.py)."""

from __future__ import annotations

import os
from types import ModuleType

from sqlalchemy import Connection

from photocap.store import search_sqlite
from photocap.store.index import Index
from photocap.store.query import RANK_WINDOW, Matching, ParsedQuery, SearchResults, parse_query
from photocap.store.records import Source


def search(
    index: Index,
    query: str | ParsedQuery,
    *,
    limit: int = 20,
    under: str | os.PathLike[str] | None = None,
    source: Source | None = None,
    rank_window: int | None = RANK_WINDOW,
    labels: bool = True,
    held_back: bool = False,
) -> SearchResults:
    """Ranked full-text search over an index's captions and label words (the query language is
    query.py's); a photo whose caption matches ranks above one whose labels alone do.

    `under` keeps photos inside a folder, `source` captions by "model" or "human", `held_back`
    captions held back from the photos as unsure;
    `rank_window` (None: rank every match) bounds how many of the newest matches are ranked;
    `labels=False` searches the captions alone. Raises EmptyQueryError when the query has no words.
    """
    parsed = parse_query(query) if isinstance(query, str) else query
    if limit < 1 or (rank_window is not None and rank_window < 1):
        raise ValueError("limit and rank_window must be at least 1")
    engine = _engine(index.postgres)
    with index.reading() as conn:
        return engine.run_search(
            conn,
            parsed,
            limit=limit,
            under=under,
            source=source,
            rank_window=rank_window,
            labels=labels,
            held_back=held_back,
        )


def matching_all(conn: Connection, query: ParsedQuery, *, postgres: bool) -> Matching:
    """SQL conditions on the photos table: the caption or label words hold every term of `query`,
    in the engine's own full-text search, each in the form that suits how many photos match. For
    filters such as the review page's."""
    return _engine(postgres).matching_all(conn, query)


def _engine(postgres: bool) -> ModuleType:
    """The search module of the index's database (both have run_search and matching_all)."""
    if postgres:
        from photocap.store import search_postgres  # only a PostgreSQL index needs it

        return search_postgres
    return search_sqlite
