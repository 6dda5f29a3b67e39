"""Full-text search on a PostgreSQL index: the same search as SQLite's FTS5 one, in tsquery terms.

store/search.py parses the user's text into terms (words and phrases of letters and digits) and
calls `run_search` here for a PostgreSQL index. Each term becomes a tsquery through
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
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Connection, func, literal_column, text

from photocap.store.postgres import SEARCH_COLUMN, TS_CONFIG, searchable
from photocap.store.records import folder_range

RANK_NORMALIZATION = 1  # ts_rank_cd: divide by 1 + log(the document's length)
_LEXEME = re.compile(r"'((?:[^']|'')*)'")
_MARK_START, _MARK_END = "\x02", "\x03"
_HEADLINE_OPTIONS = f"HighlightAll=true, StartSel={_MARK_START}, StopSel={_MARK_END}"


@dataclass(frozen=True)
class Hit:
    """One ranked photo; `labels` is the stored JSON."""

    path: str
    caption: str | None
    source: str | None
    labels: str | None
    confidence: float | None
    held_back: bool
    alt_text: str | None
    score: float
    highlights: tuple[tuple[int, int], ...]
    matched: int


@dataclass(frozen=True)
class Found:
    hits: list[Hit] = field(default_factory=list)
    partial: bool = False
    windowed: bool = False


@dataclass(frozen=True)
class _Scope:
    where: str = ""
    params: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, under: str | os.PathLike[str] | None, source: str | None, held_back: bool):
        where, params = "", {}
        if under is not None:
            params["lo"], params["hi"] = folder_range(under)
            where += " AND path >= :lo AND path < :hi"
        if source is not None:
            params["source"] = source
            where += " AND source = :source"
        if held_back:
            where += " AND held_back"
        return cls(where, params)


def term_queries(conn: Connection, terms: Sequence[Sequence[str]]) -> list[str]:
    """Each term as tsquery text (its words stemmed, in order: 'red' <-> 'car'); '' for none."""
    sql = text(
        f"""
        SELECT phraseto_tsquery('{TS_CONFIG}'::regconfig, t)::text
        FROM unnest(CAST(:terms AS text[])) WITH ORDINALITY AS u(t, n) ORDER BY n
        """
    )
    return list(conn.execute(sql, {"terms": [" ".join(words) for words in terms]}).scalars())


def matching_all(terms: Sequence[Sequence[str]]) -> ColumnElement[bool]:
    """SQL condition on the photos table: the caption or label words hold every term (each a
    phraseto_tsquery of bound words). For filters such as the review page's."""
    config = literal_column(f"'{TS_CONFIG}'::regconfig")
    query: Any = None
    for words in terms:
        term = func.phraseto_tsquery(config, " ".join(words))
        query = term if query is None else query.op("&&")(term)
    return literal_column(f"photos.{SEARCH_COLUMN}").op("@@")(query)


def in_caption(query: str) -> str:
    """tsquery text matching only the caption's words (weight A)."""
    return _LEXEME.sub(lambda m: m.group(0) + ":A", query)


def _all(queries: Sequence[str]) -> str:
    return " & ".join(f"({q})" for q in queries)


def _any(queries: Sequence[str]) -> str:
    return " | ".join(f"({q})" for q in queries)


def run_search(
    conn: Connection,
    terms: Sequence[Sequence[str]],
    *,
    limit: int,
    under: str | os.PathLike[str] | None,
    source: str | None,
    rank_window: int | None,
    labels: bool,
    held_back: bool,
    partial_pool: int,
) -> Found:
    """Ranked matches of `terms` (see the module docstring); the caller checks `limit`."""
    queries = [q for q in term_queries(conn, terms) if q]
    if not queries:
        return Found()
    scope = _Scope.of(under, source, held_back)
    within = (lambda q: q) if labels else in_caption
    # Caption matches first (then those whose labels alone match), each by ts_rank_cd.
    first = in_caption(_all(queries)) if labels else None
    ranked, windowed = _ranked(
        conn, within(_all(queries)), _all(queries), first, scope, limit, rank_window
    )
    matched = dict.fromkeys((row.id for row in ranked), len(terms))
    partial = False
    highlight = _all(queries)
    if not ranked and len(terms) > 1:
        match = within(_any(queries))
        pool, windowed = _ranked(conn, match, _any(queries), None, scope, partial_pool, rank_window)
        matched = _terms_matched(conn, [within(q) for q in queries], [row.id for row in pool])
        ranked = sorted(pool, key=lambda row: (-matched[row.id], -row.score, row.id))[:limit]
        partial = bool(ranked)
        highlight = _any(queries)
    return Found(_hits(conn, highlight, ranked, matched), partial, windowed)


def _ranked(
    conn: Connection,
    match: str,
    rank: str,
    first: str | None,
    scope: _Scope,
    limit: int,
    window: int | None,
) -> tuple[list[Any], bool]:
    """The best `limit` photos matching `match` among its newest `window` matches (all: None),
    scored against `rank`, those matching `first` before the others; and whether more photos
    matched than the window. One scan of the matches: the newest are kept, then ranked."""
    first_sql = "search_vector @@ CAST(:first AS tsquery)" if first is not None else "true"
    sql = text(
        f"""
        WITH matches AS MATERIALIZED (
            SELECT id, search_vector FROM photos
            WHERE search_vector @@ CAST(:match AS tsquery){scope.where}
            ORDER BY id DESC LIMIT :take
        ), newest AS (
            SELECT id, search_vector FROM matches ORDER BY id DESC LIMIT :window
        )
        SELECT id, ts_rank_cd(search_vector, CAST(:rank AS tsquery), {RANK_NORMALIZATION}) AS score,
               {first_sql} AS first, (SELECT count(*) FROM matches) AS matched
        FROM newest ORDER BY first DESC, score DESC, id LIMIT :limit
        """
    )
    params = {
        "match": match,
        "rank": rank,
        "first": first,
        "take": window + 1 if window is not None else None,
        "window": window,
        "limit": limit,
        **scope.params,
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


def _hits(conn: Connection, query: str, ranked: list[Any], matched: dict[int, int]) -> list[Hit]:
    """The photos rows of `ranked`, with ts_headline() computed for these few rows only."""
    if not ranked:
        return []
    sql = text(
        f"""
        SELECT id, path, caption, source, labels, confidence, held_back, alt_text,
               ts_headline('{TS_CONFIG}'::regconfig, {searchable("caption")},
                           CAST(:query AS tsquery), :options) AS marked
        FROM photos WHERE id = ANY(:ids)
        """
    )
    params = {"query": query, "options": _HEADLINE_OPTIONS, "ids": [r.id for r in ranked]}
    rows = {row.id: row for row in conn.execute(sql, params)}
    return [
        Hit(
            path=rows[r.id].path,
            caption=rows[r.id].caption,
            source=rows[r.id].source,
            labels=rows[r.id].labels,
            confidence=rows[r.id].confidence,
            held_back=bool(rows[r.id].held_back),
            alt_text=rows[r.id].alt_text,
            score=float(r.score),
            highlights=_spans(rows[r.id].marked or "", rows[r.id].caption or ""),
            matched=matched[r.id],
        )
        for r in ranked
    ]


def _spans(marked: str, caption: str) -> tuple[tuple[int, int], ...]:
    """Spans of `caption` that ts_headline wrapped in the markers (it saw the caption with its
    punctuation as spaces, the same length, so offsets carry over)."""
    spans: list[tuple[int, int]] = []
    length = 0
    start: int | None = None
    for char in marked:
        if char == _MARK_START:
            start = length
        elif char == _MARK_END and start is not None:
            spans.append((start, length))
            start = None
        else:
            length += 1
    return tuple(spans) if length == len(caption) else ()
