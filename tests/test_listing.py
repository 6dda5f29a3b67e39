"""The review page's listing and the held-back list (photocap.store.listing) on a real SQLite file
and a real PostgreSQL database: filters page in order through their own indexes, and a first
page counts at most COUNT_LIMIT photos, then says "more than"."""

from __future__ import annotations

from pathlib import Path

import pytest
from index_helpers import record, sql

from photocap.store import listing
from photocap.store.listing import Filters, held_back_photos, photo_page


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request, tmp_path: Path) -> Path | str:
    if request.param == "postgresql":
        return request.getfixturevalue("postgres_url")
    return tmp_path / "index.db"


def library(index) -> None:
    """30 photos: every third written by a person (no confidence), the model's confidences
    spread over 0-1, those below 0.25 held back."""
    records = []
    for k in range(30):
        human = k % 3 == 0
        confidence = None if human else (k * 7 % 30) / 30
        records.append(
            record(
                f"/lib/{k // 10}/p{k:02d}.jpg",
                f"photo {k} of a dog" if k % 2 else f"photo {k} of a cat",
                source="human" if human else "model",
                confidence=confidence,
                held_back=confidence is not None and confidence < 0.25,
            )
        )
    index.upsert(records)
    index.optimize()


def walk(index, filters: Filters, limit: int = 4) -> list:
    rows, cursor = [], None
    while True:
        page = photo_page(index, filters, limit=limit, after=cursor)
        rows += page.rows
        cursor = page.next
        if cursor is None:
            return rows


@pytest.mark.parametrize(
    "filters",
    [
        Filters(source="human"),
        Filters(source="model"),
        Filters(held_back=True),
        Filters(held_back=False),
        Filters(source="model", held_back=False, under="/lib/1"),
        Filters(q="dog", source="human"),
    ],
    ids=["human", "model", "held back", "not held back", "model in a folder", "words, human"],
)
def test_each_filter_pages_through_its_photos_lowest_confidence_first(index, filters):
    library(index)
    rows = walk(index, filters)
    everything = walk(index, Filters(), limit=7)
    expected = [
        r
        for r in everything
        if (filters.source is None or r.source == filters.source)
        and (filters.held_back is None or bool(r.held_back) == filters.held_back)
        and (filters.under is None or r.path.startswith(filters.under + "/"))
        and (filters.q is None or filters.q in r.caption)
    ]
    assert [r.path for r in rows] == [r.path for r in expected] and rows
    keys = [2.0 if r.confidence is None else r.confidence for r in everything]
    assert keys == sorted(keys) and len(everything) == 30
    assert photo_page(index, filters, limit=4).total == len(expected)


def test_a_first_page_counts_up_to_the_limit_then_says_more(index, monkeypatch):
    library(index)
    monkeypatch.setattr(listing, "COUNT_LIMIT", 12)
    page = photo_page(index, Filters(), limit=5)
    assert (page.total, page.total_exact, len(page.rows)) == (12, False, 5)
    page = photo_page(index, Filters(source="human"), limit=5)  # 10 photos: counted exactly
    assert (page.total, page.total_exact) == (10, True)
    assert photo_page(index, Filters(), limit=5, after=page.next).total is None
    assert len(walk(index, Filters())) == 30  # the pages still reach the end


@pytest.mark.parametrize("sort", ["confidence", "newest", "path"])
@pytest.mark.parametrize("count_limit", [10_000, 8], ids=["counted", "more than counted"])
def test_a_words_filter_pages_through_its_matches_in_each_order(
    index, monkeypatch, sort, count_limit
):
    # Up to COUNT_LIMIT matches, the first page comes from the scan that counts them; past it,
    # from a walk in the page's own order. Either way: the same photos, in the same order.
    library(index)
    monkeypatch.setattr(listing, "COUNT_LIMIT", count_limit)
    dogs = [r.path for r in walk(index, Filters(sort=sort), limit=7) if "dog" in r.caption]
    first = photo_page(index, Filters(q="dog", sort=sort), limit=4)
    assert [r.path for r in first.rows] == dogs[:4] and len(dogs) == 15
    assert (first.total, first.total_exact) == ((15, True) if count_limit > 15 else (8, False))
    assert [r.path for r in walk(index, Filters(q="dog", sort=sort))] == dogs
    for nothing in ("giraffe", "?!"):  # no photo; no word at all
        page = photo_page(index, Filters(q=nothing, sort=sort))
        assert (page.rows, page.total, page.total_exact) == ([], 0, True)


def test_the_held_back_list_is_least_sure_first(index):
    library(index)
    hits = held_back_photos(index, limit=3)
    confidences = [h.confidence for h in hits]
    assert len(hits) == 3 and confidences == sorted(confidences) and all(h.held_back for h in hits)
    everything = held_back_photos(index, limit=100, under="/lib/2")
    assert everything and all(h.path.startswith("/lib/2/") for h in everything)


def test_sqlite_walks_the_filters_indexes(tmp_path):
    """The plans themselves: a filter by source or held back walks its own index in order (no
    sort), and the held-back list walks the confidence order."""
    db = tmp_path / "index.db"
    from photocap.store.index import open_index

    with open_index(db) as index:
        library(index)
    order = "ORDER BY coalesce(confidence, 2.0), id LIMIT 5"
    for where, name in (
        ("source = 'human'", "ix_photos_source_confidence"),
        ("held_back = 0", "ix_photos_held_back_confidence"),
        ("held_back", "ix_photos_confidence"),
    ):
        plan = str(sql(db, f"EXPLAIN QUERY PLAN SELECT id FROM photos WHERE {where} {order}"))
        assert name in plan and "TEMP B-TREE" not in plan, (where, plan)


def test_sqlite_lists_a_word_in_many_photos_by_looking_up_each_row(tmp_path, monkeypatch):
    """Past DENSE_MATCHES matches the listing walks its order and looks each row up: the same
    photos in the same order; the count sees the newest DENSE_MATCHES and says "more than"."""
    from photocap.store import search_sqlite
    from photocap.store.index import open_index

    with open_index(tmp_path / "index.db") as index:
        library(index)
        listed = walk(index, Filters(q="dog"))
        first = photo_page(index, Filters(q="dog", source="model"), limit=4)
        assert len(listed) == 15 and (first.total, first.total_exact) == (10, True)
        monkeypatch.setattr(search_sqlite, "DENSE_MATCHES", 5)
        assert [r.path for r in walk(index, Filters(q="dog"))] == [r.path for r in listed]
        page = photo_page(index, Filters(q="dog", source="model"), limit=4)
        assert [r.path for r in page.rows] == [r.path for r in first.rows]
        assert page.total_exact is False and 0 < page.total <= 5
