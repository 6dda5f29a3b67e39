"""The search query language, shared by both engines: terms, scopes, hits and highlights.

The query language is plain words and "quoted phrases"; nothing else is syntax. Any other
character a user types (`*`, `-`, `:`, parentheses, a lone quote, `AND`/`OR`/`NEAR`, SQL) is
treated as text, so a query can never be a syntax error of either engine:

- words are matched after Porter stemming ("dogs running" finds "A dog runs"), case-insensitive;
- stop words ("on", "the", "and", "or", ...) are dropped unless the query is nothing but stop words;
- words joined by `-`, `'` or `.` ("t-shirt", "U.S.") and "quoted phrases" must match in that order;
- every remaining term must match; when no photo matches all of them, the photos matching the most
  terms are returned instead (best first) and the results are marked `partial`;
- results are ranked (BM25 on SQLite, ts_rank_cd on PostgreSQL); when more than RANK_WINDOW
  photos match, the most recently added RANK_WINDOW of them are ranked (`windowed`), so a one-word
  query on a huge library stays fast.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any

from photocap.errors import PhotocapError
from photocap.store.records import StoredLabel, folder_range, labels_from_json

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

# What an engine wraps matched words of a caption in (FTS5's highlight(), ts_headline).
MARK_START, MARK_END = "\x02", "\x03"


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


@dataclass(frozen=True)
class SearchHit:
    """One result. `score` is the engine's rank (higher is better); `highlights` are [start, end)
    character spans of `caption` that matched; `matched` is how many of the query's terms it holds."""

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


@dataclass(frozen=True)
class Matching:
    """SQL conditions on the photos table for the photos that match a query, as a listing (the
    review page's) uses them: `page` to list a page in any order, `count` to count them;
    `complete` is False when `count` may see only some of them (a count then says "at least").
    `matched`: how many photos match, where finding the conditions counted them (at least that
    many when not `complete`); None where it did not."""

    page: Any  # ColumnElement[bool]
    count: Any
    complete: bool = True
    matched: int | None = None


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


@dataclass(frozen=True)
class Scope:
    """Which photos a search keeps: those inside a folder, of one caption source, held back."""

    folder: tuple[str, str] | None = None  # [lo, hi) of paths: records.folder_range
    source: str | None = None
    held_back: bool = False

    @classmethod
    def of(
        cls, under: str | os.PathLike[str] | None, source: str | None, held_back: bool = False
    ) -> Scope:
        return cls(folder_range(under) if under is not None else None, source, held_back)

    def where(self, table: str) -> tuple[str, dict[str, Any]]:
        """SQL conditions on the photos table named `table` (each led by AND), and their params."""
        where, params = "", {}
        if self.folder is not None:
            params["lo"], params["hi"] = self.folder
            where += f" AND {table}.path >= :lo AND {table}.path < :hi"
        if self.source is not None:
            params["source"] = self.source
            where += f" AND {table}.source = :source"
        if self.held_back:
            where += f" AND {table}.held_back"
        return where, params


def hit_of(
    rank: int,
    row: Any,
    *,
    score: float = 0.0,
    highlights: tuple[tuple[int, int], ...] = (),
    matched: int = 0,
) -> SearchHit:
    """A photos row (path, caption, source, labels, confidence, held_back, alt_text) as a hit."""
    return SearchHit(
        rank=rank,
        path=row.path,
        caption=row.caption,
        source=row.source,
        score=score,
        highlights=highlights,
        matched=matched,
        labels=labels_from_json(row.labels) or (),
        confidence=row.confidence,
        held_back=bool(row.held_back),
        alt_text=row.alt_text,
    )


def highlight_spans(
    marked: str, caption: str, *, same_text: bool = True
) -> tuple[tuple[int, int], ...]:
    """Character spans of `caption` that the engine wrapped in MARK_START and MARK_END in
    `marked`; none unless `marked` without its marks is `caption` (`same_text=False`: is as long
    as `caption`, for an engine that saw it with its punctuation as spaces, so offsets carry over)."""
    spans: list[tuple[int, int]] = []
    plain: list[str] = []
    start: int | None = None
    for char in marked:
        if char == MARK_START:
            start = len(plain)
        elif char == MARK_END and start is not None:
            spans.append((start, len(plain)))
            start = None
        else:
            plain.append(char)
    fits = "".join(plain) == caption if same_text else len(plain) == len(caption)
    return tuple(spans) if fits else ()
