"""Full-text search over captions: a forgiving query language on top of FTS5 and BM25.

The query language is plain words and "quoted phrases"; nothing else is syntax. Any other
character a user types (`*`, `-`, `:`, parentheses, a lone quote, `AND`/`OR`/`NEAR`, SQL) is
treated as text, so a query can never be an FTS5 syntax error:

- words are matched after Porter stemming ("dogs running" finds "A dog runs"), case-insensitive;
- stop words ("on", "the", "and", "or", ...) are dropped unless the query is nothing but stop words;
- words joined by `-`, `'` or `.` ("t-shirt", "U.S.") and "quoted phrases" must match in that order;
- every remaining term must match; when no photo matches all of them, the photos matching the most
  terms are returned instead (best BM25 first) and the results are marked `partial`;
- results are ranked by BM25; when more than RANK_WINDOW photos match, the most recently added
  RANK_WINDOW of them are ranked (`windowed`), so a one-word query on a huge library stays fast.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy.exc
from sqlalchemy import Connection, text

from photocap.errors import PhotocapError
from photocap.store.index import Index
from photocap.store.records import Source, StoredLabel, folder_range, labels_from_json
from photocap.store.schema import FTS_TABLE

# BM25 costs about a microsecond per matching photo: a query matching more photos than this ranks
# the most recently added RANK_WINDOW of them, which bounds latency on very large libraries.
RANK_WINDOW = 10_000

# A 10,000-character paste is cut to its first terms (and a phrase to its first words, a word to
# its first characters), not run as one huge query.
MAX_TERMS = 32
MAX_WORD = 64
PARTIAL_POOL = 100  # best OR-matches re-ranked by how many terms they match

_STOP_WORDS = """
    a an the and or but nor not no so than then also too very just
    on in at of to from by with without into onto upon for as about over under near through
    across along around behind beside besides between against toward towards up down off out
    is are was were be been being am has have had do does did
    it its this that these those there here some any each
    he she they them his her hers their theirs him we us you your yours i me my mine our ours
    who whom whose which what where when while how
"""
STOP_WORDS = frozenset(_STOP_WORDS.split())

_QUOTES = str.maketrans({"\u201c": '"', "\u201d": '"', "\u201e": '"', "\u00ab": '"', "\u00bb": '"'})
_PHRASE = re.compile(r'"([^"]*)"')
_WORD = re.compile(r"[^\W_]+")
_COMPOUND = re.compile(r"[^\W_]+(?:[-'\u2019.][^\W_]+)*")
_POSSESSIVE = re.compile(r"(?<=[^\W_])['\u2019]s\b", re.IGNORECASE)
_MARK_START, _MARK_END = "\x02", "\x03"


class EmptyQueryError(PhotocapError):
    """The query has no words to search for."""


@dataclass(frozen=True)
class Term:
    """One thing that must match: a word, or a phrase whose words must appear in order."""

    words: tuple[str, ...]

    @property
    def fts(self) -> str:
        """The term as an FTS5 string literal. Words hold only letters and digits: nothing to escape."""
        return '"' + " ".join(self.words) + '"'

    def __str__(self) -> str:
        return self.words[0] if len(self.words) == 1 else f'"{" ".join(self.words)}"'


@dataclass(frozen=True)
class ParsedQuery:
    """A user's query reduced to terms; `stop_words` were left out, `truncated` past MAX_TERMS."""

    terms: tuple[Term, ...]
    stop_words: tuple[str, ...] = ()
    truncated: bool = False

    def match_all(self) -> str:
        """FTS5 expression matching captions that hold every term."""
        return " AND ".join(t.fts for t in self.terms)

    def match_any(self) -> str:
        """FTS5 expression matching captions that hold at least one term."""
        return " OR ".join(t.fts for t in self.terms)

    def __str__(self) -> str:
        return " ".join(str(t) for t in self.terms)


def in_caption(match: str) -> str:
    """An FTS5 expression restricted to the caption column (not the label words)."""
    return f"caption : ({match})"


@dataclass(frozen=True)
class SearchHit:
    """One result. `score` is BM25 (higher is better); `highlights` are [start, end) character
    spans of `caption` that matched; `matched` is how many of the query's terms it holds."""

    rank: int
    path: str
    caption: str
    source: str | None
    score: float
    highlights: tuple[tuple[int, int], ...]
    matched: int
    labels: tuple[StoredLabel, ...] = ()  # what the encoder sees, most probable first
    confidence: float | None = None  # the caption's, 0-1; None for human captions
    held_back: bool = False  # indexed but not written into the photo (unsure)
    alt_text: str | None = None  # the label line written instead of a held-back caption


@dataclass(frozen=True)
class SearchResults:
    """Hits best first; `partial` when no photo matched every term and these match only some;
    `windowed` when more photos matched than the rank window and only the newest were ranked."""

    query: ParsedQuery
    hits: tuple[SearchHit, ...]
    partial: bool
    windowed: bool = False


def parse_query(query: str, *, max_terms: int = MAX_TERMS) -> ParsedQuery:
    """Turns any text into terms (see the module docstring). Raises EmptyQueryError if none."""
    query = query.translate(_QUOTES)
    candidates: list[tuple[tuple[str, ...], bool]] = []  # (words, droppable as a stop word)
    position = 0
    for match in [*_PHRASE.finditer(query), None]:
        end = match.start() if match else len(query)
        bare = _POSSESSIVE.sub("", query[position:end].replace('"', " "))
        for compound in _COMPOUND.findall(bare):
            words = tuple(_WORD.findall(compound.lower()))
            candidates.append((words, len(words) == 1))
        if match:
            words = tuple(_WORD.findall(match.group(1).lower()))
            if words:
                candidates.append((words, False))
            position = match.end()
    kept = [words for words, droppable in candidates if not (droppable and words[0] in STOP_WORDS)]
    dropped = [words[0] for words, droppable in candidates if droppable and words[0] in STOP_WORDS]
    if not kept:  # nothing but stop words: search for them after all
        kept, dropped = [words for words, _ in candidates], []
    unique = list(dict.fromkeys(kept))
    if not unique:
        raise EmptyQueryError(
            "the query has no words to search for", hint='try: photocap search "dog on beach"'
        )
    terms = [tuple(w[:MAX_WORD] for w in words[:MAX_TERMS]) for words in unique[:max_terms]]
    return ParsedQuery(
        terms=tuple(Term(words) for words in dict.fromkeys(terms)),
        stop_words=tuple(dict.fromkeys(dropped)),
        truncated=len(unique) > max_terms or terms != unique[:max_terms],
    )


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
    above); a photo whose caption matches ranks above one whose labels alone do.

    `under` keeps photos inside a folder, `source` captions by "model" or "human", `held_back`
    captions held back from the photos as unsure;
    `rank_window` (None: rank every match) bounds how many of the newest matches are ranked;
    `labels=False` searches the captions alone. Raises EmptyQueryError when the query has no words.
    """
    parsed = parse_query(query) if isinstance(query, str) else query
    with index.reading() as conn:
        return run_search(
            conn,
            parsed,
            limit=limit,
            under=under,
            source=source,
            rank_window=rank_window,
            labels=labels,
            held_back=held_back,
        )


def held_back_photos(
    index: Index, *, limit: int = 20, under: str | os.PathLike[str] | None = None
) -> tuple[SearchHit, ...]:
    """The captions held back from their photos as unsure, least sure first (no query)."""
    if limit < 1:
        raise ValueError("limit must be at least 1")
    where, params = "", {"limit": limit}
    if under is not None:
        params["lo"], params["hi"] = folder_range(under)
        where = " AND path >= :lo AND path < :hi"
    sql = text(
        f"""
        SELECT path, caption, source, labels, confidence, alt_text FROM photos
        WHERE held_back{where} ORDER BY confidence, id LIMIT :limit
        """
    )
    with index.reading() as conn:
        rows = list(conn.execute(sql, params))
    return tuple(
        SearchHit(
            rank=i,
            path=row.path,
            caption=row.caption,
            source=row.source,
            score=0.0,
            highlights=(),
            matched=0,
            labels=labels_from_json(row.labels) or (),
            confidence=row.confidence,
            held_back=True,
            alt_text=row.alt_text,
        )
        for i, row in enumerate(rows, 1)
    )


def run_search(
    conn: Connection,
    query: ParsedQuery,
    *,
    limit: int = 20,
    under: str | os.PathLike[str] | None = None,
    source: str | None = None,
    rank_window: int | None = RANK_WINDOW,
    labels: bool = True,
    held_back: bool = False,
) -> SearchResults:
    """Runs `query` on an open index connection; see `search`."""
    if limit < 1 or (rank_window is not None and rank_window < 1):
        raise ValueError("limit and rank_window must be at least 1")
    if conn.dialect.name == "postgresql":
        return _run_search_postgres(
            conn, query, limit, under, source, rank_window, labels, held_back
        )
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
    """SQL restricting matches to a folder and a caption source (`p` is the photos table)."""

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
        where, params = "", {}
        if under is not None:
            lo, hi = folder_range(under)
            first, last = conn.execute(
                text("SELECT min(id), max(id) FROM photos WHERE path >= :lo AND path < :hi"),
                {"lo": lo, "hi": hi},
            ).one()
            if first is None:
                return None
            # The rowid bounds are redundant but let FTS5 skip straight to the folder's photos,
            # which are mostly added together (one `photocap index` run walks folder by folder).
            params.update(lo=lo, hi=hi, first=first, last=last)
            where += f" AND {FTS_TABLE}.rowid BETWEEN :first AND :last"
            where += " AND p.path >= :lo AND p.path < :hi"
        if source is not None:
            params["source"] = source
            where += " AND p.source = :source"
        if held_back:
            where += " AND p.held_back"
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
        SearchHit(
            rank=i,
            path=rows[r.id].path,
            caption=rows[r.id].caption,
            source=rows[r.id].source,
            score=-float(r.rank),
            highlights=_spans(rows[r.id].marked or "", rows[r.id].caption or ""),
            matched=matched[r.id],
            labels=labels_from_json(rows[r.id].labels) or (),
            confidence=rows[r.id].confidence,
            held_back=bool(rows[r.id].held_back),
            alt_text=rows[r.id].alt_text,
        )
        for i, r in enumerate(ranked, 1)
    )


def _spans(marked: str, caption: str) -> tuple[tuple[int, int], ...]:
    """Character spans of `caption` that highlight() wrapped in the two marker characters."""
    spans: list[tuple[int, int]] = []
    plain: list[str] = []
    start: int | None = None
    for char in marked:
        if char == _MARK_START:
            start = len(plain)
        elif char == _MARK_END and start is not None:
            spans.append((start, len(plain)))
            start = None
        else:
            plain.append(char)
    return tuple(spans) if "".join(plain) == caption else ()


def _run_search_postgres(
    conn: Connection,
    query: ParsedQuery,
    limit: int,
    under: str | os.PathLike[str] | None,
    source: str | None,
    rank_window: int | None,
    labels: bool,
    held_back: bool,
) -> SearchResults:
    """The same search on a PostgreSQL index, with its own full-text search (search_postgres.py)."""
    from photocap.store import search_postgres

    found = search_postgres.run_search(
        conn,
        [term.words for term in query.terms],
        limit=limit,
        under=under,
        source=source,
        rank_window=rank_window,
        labels=labels,
        held_back=held_back,
        partial_pool=max(PARTIAL_POOL, 5 * limit),
    )
    hits = tuple(
        SearchHit(
            rank=i,
            path=hit.path,
            caption=hit.caption or "",
            source=hit.source,
            score=hit.score,
            highlights=hit.highlights,
            matched=hit.matched,
            labels=labels_from_json(hit.labels) or (),
            confidence=hit.confidence,
            held_back=hit.held_back,
            alt_text=hit.alt_text,
        )
        for i, hit in enumerate(found.hits, 1)
    )
    return SearchResults(query=query, hits=hits, partial=found.partial, windowed=found.windowed)
