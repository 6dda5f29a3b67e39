"""Full-text search on a PostgreSQL index: the same search as SQLite's FTS5 one, in tsquery terms.

store/query.py parses the user's text into terms (words and phrases of letters and digits) and
store/search.py calls `run_search` here for a PostgreSQL index. Each term becomes a tsquery through
`phraseto_tsquery`, which reads its argument as plain words (no operators), so nothing a user
types is ever tsquery syntax; the lexemes it returns are then joined with `&`, `|` and, to match
the caption alone, given weight A. The semantics are SQLite's:

- every term must match; a photo whose caption matches ranks above one whose labels alone do;
- when nothing matches every term, the photos matching the most terms come first (`partial`);
- results are ranked by `ts_rank_cd` (cover density, length-normalised; caption words weigh more
  than label words); past `rank_window` matches only the newest that many are ranked (`windowed`);
- highlights are `ts_headline` spans of the caption.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, func, literal_column, text

from photocap.store.postgres import SEARCH_COLUMN, TS_CONFIG, searchable
from photocap.store.query import (
    MARK_END,
    MARK_START,
    PARTIAL_POOL,
    Matching,
    ParsedQuery,
    Scope,
    SearchHit,
    SearchResults,
    highlight_spans,
    hit_of,
)

RANK_NORMALIZATION = 1  # ts_rank_cd: divide by 1 + log(the document's length)
_LEXEME = re.compile(r"'((?:[^']|'')*)'")
_HEADLINE_OPTIONS = f"HighlightAll=true, StartSel={MARK_START}, StopSel={MARK_END}"


def term_queries(conn: Connection, terms: Sequence[Sequence[str]]) -> list[str]:
    """Each term as tsquery text (its words stemmed, in order: 'red' <-> 'car'); '' for none."""
    sql = text(
        f"""
        SELECT phraseto_tsquery('{TS_CONFIG}'::regconfig, t)::text
        FROM unnest(CAST(:terms AS text[])) WITH ORDINALITY AS u(t, n) ORDER BY n
        """
    )
    return list(conn.execute(sql, {"terms": [" ".join(words) for words in terms]}).scalars())


def matching_all(conn: Connection, query: ParsedQuery) -> Matching:
    """SQL conditions on the photos table: the caption or label words hold every term of `query`
    (each a phraseto_tsquery of bound words). For filters such as the review page's: PostgreSQL
    tests a row's tsvector cheaply, so one condition serves a page in any order and the count."""
    config = literal_column(f"'{TS_CONFIG}'::regconfig")
    condition: Any = None
    for term in query.terms:
        tsquery = func.phraseto_tsquery(config, " ".join(term.words))
        condition = tsquery if condition is None else condition.op("&&")(tsquery)
    matches = literal_column(f"photos.{SEARCH_COLUMN}").op("@@")(condition)
    return Matching(page=matches, count=matches)


def in_caption(query: str) -> str:
    """tsquery text matching only the caption's words (weight A)."""
    return _LEXEME.sub(lambda m: m.group(0) + ":A", query)


def _all(queries: Sequence[str]) -> str:
    return " & ".join(f"({q})" for q in queries)


def _any(queries: Sequence[str]) -> str:
    return " | ".join(f"({q})" for q in queries)


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
    """Ranked matches of `query` (see the module docstring); the caller checks `limit`."""
    queries = [q for q in term_queries(conn, [term.words for term in query.terms]) if q]
    if not queries:
        return SearchResults(query=query, hits=(), partial=False)
    scope = Scope.of(under, source, held_back)
    within = (lambda q: q) if labels else in_caption
    # Caption matches first (then those whose labels alone match), each by ts_rank_cd.
    first = in_caption(_all(queries)) if labels else None
    ranked, windowed = _ranked(
        conn, within(_all(queries)), _all(queries), first, scope, limit, rank_window
    )
    matched = dict.fromkeys((row.id for row in ranked), len(query.terms))
    partial = False
    highlight = _all(queries)
    if not ranked and len(query.terms) > 1:
        match = within(_any(queries))
        pool_size = max(PARTIAL_POOL, 5 * limit)
        pool, windowed = _ranked(conn, match, _any(queries), None, scope, pool_size, rank_window)
        matched = _terms_matched(conn, [within(q) for q in queries], [row.id for row in pool])
        ranked = sorted(pool, key=lambda row: (-matched[row.id], -row.score, row.id))[:limit]
        partial = bool(ranked)
        highlight = _any(queries)
    hits = _hits(conn, highlight, ranked, matched)
    return SearchResults(query=query, hits=hits, partial=partial, windowed=windowed)


def _ranked(
    conn: Connection,
    match: str,
    rank: str,
    first: str | None,
    scope: Scope,
    limit: int,
    window: int | None,
) -> tuple[list[Any], bool]:
    """The best `limit` photos matching `match` among its newest `window` matches (all: None),
    scored against `rank`, those matching `first` before the others; and whether more photos
    matched than the window. One scan of the matches: the newest are kept, then ranked."""
    where, scoped = scope.where("photos")
    first_sql = "search_vector @@ CAST(:first AS tsquery)" if first is not None else "true"
    # Each match is scored as the scan meets it, newest first, and only (id, n, score, first) is
    # kept: the tsvectors are never sorted or spilled to disk. The (window + 1)-th newest match
    # only says that there are more.
    sql = text(
        f"""
        WITH scored AS MATERIALIZED (
            SELECT id, row_number() OVER (ORDER BY id DESC) AS n,
                   ts_rank_cd(search_vector, CAST(:rank AS tsquery), {RANK_NORMALIZATION}) AS score,
                   {first_sql} AS first
            FROM (
                SELECT id, search_vector FROM photos
                WHERE search_vector @@ CAST(:match AS tsquery){where}
                ORDER BY id DESC LIMIT :take
            ) AS newest
        )
        SELECT id, score, first, (SELECT max(n) FROM scored) AS matched
        FROM scored WHERE n <= :window
        ORDER BY first DESC, score DESC, id LIMIT :limit
        """
    )
    params = {
        "match": match,
        "rank": rank,
        "first": first,
        "take": window + 1 if window is not None else None,
        "window": window if window is not None else 2**62,  # None: every match is ranked
        "limit": limit,
        **scoped,
    }
    rows = list(conn.execute(sql, params))
    return rows, bool(rows) and window is not None and rows[0].matched > window


def _terms_matched(conn: Connection, queries: list[str], ids: list[int]) -> dict[int, int]:
    """How many of `queries` (one per term) each of `ids` matches."""
    matched = dict.fromkeys(ids, 0)
    if not ids:
        return matched
    sql = text(
        """
        SELECT p.id, count(*) FILTER (WHERE p.search_vector @@ q) AS n
        FROM photos AS p, unnest(CAST(:queries AS tsquery[])) AS q
        WHERE p.id = ANY(:ids) GROUP BY p.id
        """
    )
    for row in conn.execute(sql, {"queries": queries, "ids": ids}):
        matched[row.id] = row.n
    return matched


def _hits(
    conn: Connection, query: str, ranked: list[Any], matched: dict[int, int]
) -> tuple[SearchHit, ...]:
    """The photos rows of `ranked`, with ts_headline() computed for these few rows only. The
    headline saw the caption with its punctuation as spaces, the same length: offsets carry over."""
    if not ranked:
        return ()
    sql = text(
        f"""
        SELECT id, path, coalesce(caption, '') AS caption, source, labels, confidence, held_back,
               alt_text, ts_headline('{TS_CONFIG}'::regconfig, {searchable("caption")},
                                     CAST(:query AS tsquery), :options) AS marked
        FROM photos WHERE id = ANY(:ids)
        """
    )
    params = {"query": query, "options": _HEADLINE_OPTIONS, "ids": [r.id for r in ranked]}
    rows = {row.id: row for row in conn.execute(sql, params)}
    return tuple(
        hit_of(
            i,
            rows[r.id],
            score=float(r.score),
            highlights=highlight_spans(
                rows[r.id].marked or "", rows[r.id].caption, same_text=False
            ),
            matched=matched[r.id],
        )
        for i, r in enumerate(ranked, 1)
    )
