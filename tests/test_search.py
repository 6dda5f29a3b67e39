"""Search over a real index of real photos with known captions (search_helpers), in an SQLite file
and a PostgreSQL database: the query language and photocap.store.search. The command is in
test_cli_search.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from search_helpers import HOSTILE, PHOTOS, p

from photocap.store.index import PhotoRecord, open_index
from photocap.store.query import MAX_TERMS, MAX_WORD, EmptyQueryError, parse_query
from photocap.store.search import search

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(params=["sqlite", "postgresql"])
def new_db(request, tmp_path) -> Path | str:
    """A new index's SQLite file, or a new PostgreSQL database's URL."""
    if request.param == "postgresql":
        return request.getfixturevalue("postgres_url")
    return tmp_path / "i.db"


@pytest.fixture
def index(search_library):
    """The search library's index, open for the test."""
    with open_index(search_library[1]) as opened:
        yield opened


def names(results) -> list[str]:
    return [Path(hit.path).name for hit in results.hits]


# ---- the query language ----------------------------------------------------------------------------


def test_parse_drops_stop_words_and_keeps_phrases():
    q = parse_query('The dog on the beach "cup of coffee" t-shirt dog\'s')
    assert [t.words for t in q.terms] == [
        ("dog",),
        ("beach",),
        ("cup", "of", "coffee"),
        ("t", "shirt"),
    ]
    assert q.stop_words == ("the", "on")
    assert q.match_all() == '"dog" AND "beach" AND "cup of coffee" AND "t shirt"'
    assert q.match_any() == '"dog" OR "beach" OR "cup of coffee" OR "t shirt"'


def test_parse_keeps_stop_words_when_there_is_nothing_else():
    assert [t.words for t in parse_query("on the").terms] == [("on",), ("the",)]


def test_parse_turns_operators_into_words():
    q = parse_query('NEAR(dog, 2) AND title:beach* -cat OR "red car')
    assert [str(t) for t in q.terms] == ["dog", "2", "title", "beach", "cat", "red", "car"]
    assert all(set(t.fts[1:-1]) <= set("abcdefghijklmnopqrstuvwxyz0123456789 ") for t in q.terms)


def test_parse_smart_quotes_are_quotes():
    assert [t.words for t in parse_query("\u201cred car\u201d").terms] == [("red", "car")]


def test_parse_caps_the_number_of_terms():
    q = parse_query(" ".join(f"word{i}" for i in range(100)))
    assert len(q.terms) == MAX_TERMS and q.truncated
    assert not parse_query("dog " * 2500).truncated  # repeated words count once
    phrase = parse_query('"' + "dog " * 2500 + '"')
    assert phrase.terms[0].words == ("dog",) * MAX_TERMS and phrase.truncated
    word = parse_query("x" * 10_000)
    assert word.terms[0].words == ("x" * MAX_WORD,) and word.truncated


@pytest.mark.parametrize(
    "query", ["", "   ", '"', '""', "*", ":", "((", "- -", "%", "_", "🐶", "\x00"]
)
def test_parse_rejects_queries_without_words(query):
    with pytest.raises(EmptyQueryError, match="no words"):
        parse_query(query)


# ---- ranked search on the real index ---------------------------------------------------------------


def test_stemming_matches_other_word_forms(index):
    assert sorted(names(search(index, "dogs running"))) == ["grass.png", "gravel.jpg"]
    assert names(search(index, "cats sitting")) == ["chelsea.jpg"]


def test_stop_words_need_not_match(index, search_library):
    results = search(index, "dog on beach")
    assert [h.path for h in results.hits] == [p(search_library, "2023/beach/gravel.jpg")]
    assert not results.partial and results.query.stop_words == ("on",)


def test_all_remaining_terms_must_match(index):
    assert names(search(index, "dog grass")) == ["grass.png"]


def test_bm25_ranks_the_shorter_caption_first(index):
    results = search(index, "dog")
    assert names(results) == ["grass.png", "gravel.jpg"]  # same term frequency, shorter caption
    assert results.hits[0].score > results.hits[1].score > 0
    assert [h.rank for h in results.hits] == [1, 2]


def test_quoted_phrases_match_as_phrases(index):
    assert names(search(index, '"red motorcycle"')) == ["motorcycle.jpg"]
    assert search(index, '"red motorcycle"').hits[0].path.endswith("city/motorcycle.jpg")
    assert len(search(index, "red motorcycle").hits) == 2
    assert names(search(index, '"cup of coffee"')) == ["coffee.jpg"]
    assert search(index, '"cup coffee"').hits == ()  # not adjacent: a phrase is a phrase


def test_partial_matches_when_nothing_matches_everything(index):
    results = search(index, "dog beach zebra")
    assert results.partial
    assert names(results) == ["gravel.jpg", "grass.png"]
    assert [h.matched for h in results.hits] == [2, 1]
    full = search(index, "dog beach")
    assert not full.partial and all(h.matched == 2 for h in full.hits)


def test_partial_matches_holding_more_terms_come_first_even_against_bm25(new_db):
    long = "a dog playing in the park with a long red ball near the river"
    others = ["dog", "dog sleeping", "park bench", "park at night", "cat", "tree", "car", "boat"]
    with open_index(new_db) as index:
        index.upsert(
            PhotoRecord(path=f"/p/{i}.jpg", size=1, mtime_ns=1, caption=caption)
            for i, caption in enumerate(["zebra", long, *others])
        )
        results = search(index, "dog park zebra")
    assert results.partial
    # BM25 alone prefers the short caption with the rare word; two matched words beat one
    assert [(h.caption, h.matched) for h in results.hits[:2]] == [(long, 2), ("zebra", 1)]
    assert results.hits[0].score < results.hits[1].score


def test_no_partial_fallback_for_a_single_term(index):
    results = search(index, "zebra")
    assert results.hits == () and not results.partial


def test_highlights_cover_the_matched_words(index):
    [hit] = search(index, "cats sitting wooden").hits
    assert [hit.caption[a:b] for a, b in hit.highlights] == ["cat", "sits", "wooden"]


def test_rows_without_captions_are_never_results(index):
    assert all(Path(h.path).name != "broken.jpg" for h in search(index, "image").hits)
    assert search(index, "image").hits == ()


def test_limit(index):
    assert len(search(index, "a", limit=3).hits) == 3
    with pytest.raises(ValueError):
        search(index, "dog", limit=0)


def test_under_a_folder_excludes_siblings_with_the_same_prefix(index, search_library):
    assert names(search(index, "motorcycle", under=search_library[0] / "2023")) == [
        "motorcycle.jpg"
    ]
    assert search(index, "motorcycle", under=search_library[0] / "2023").hits[0].path == p(
        search_library, "2023/city/motorcycle.jpg"
    )
    assert search(index, "motorcycle", under=search_library[0] / "2023b").hits[0].path == p(
        search_library, "2023b/motorcycle.jpg"
    )


def test_under_treats_percent_and_underscore_as_plain_characters(index, search_library):
    under = search_library[0] / "100%_done"
    assert sorted(names(search(index, "cup cat", under=under))) == ["chelsea.jpg", "coffee.jpg"]
    assert (
        search(index, "rocket", under=under).hits == ()
    )  # 1000_done would match LIKE '100%_done%'
    assert names(search(index, "astronaut", under=search_library[0] / "café ☕")) == [
        "astronaut.jpg"
    ]


def test_under_a_folder_that_holds_nothing(index, search_library):
    assert search(index, "dog", under=search_library[0] / "nowhere").hits == ()
    assert search(index, "dog", under=search_library[0] / "2023" / "beach" / "grass.png").hits == ()


def test_under_a_folder_whose_photos_were_added_at_different_times(new_db):
    captions = [("/a/1.jpg", "a red kite"), ("/b/2.jpg", "a red kite"), ("/a/z/3.jpg", "red kites")]
    with open_index(new_db) as index:
        for path, caption in captions:  # one run each: /a's rows are not contiguous
            index.upsert([PhotoRecord(path=path, size=1, mtime_ns=1, caption=caption)])
        assert sorted(h.path for h in search(index, "kite", under="/a").hits) == [
            "/a/1.jpg",
            "/a/z/3.jpg",
        ]
        assert [h.path for h in search(index, "kite", under="/b").hits] == ["/b/2.jpg"]


def test_under_and_partial_fallback_together(index, search_library):
    results = search(index, "cup zebra", under=search_library[0] / "100%_done")
    assert results.partial and names(results) == ["coffee.jpg"]


def test_source_filter(index):
    assert sorted(names(search(index, "a", source="human"))) == [
        "camera.png",
        "chelsea.jpg",
        "motorcycle.jpg",
    ]
    assert [h.source for h in search(index, "red", source="model").hits] == ["model"]


def test_rank_window_ranks_the_newest_matches_only_when_there_are_more(index):
    everything = search(index, "a", rank_window=None)
    assert len(everything.hits) == 8 and not everything.windowed  # all but "Two dogs ..."
    assert search(index, "a", rank_window=100) == everything  # fewer matches than the window: exact
    newest = search(index, "a", rank_window=3)
    assert newest.windowed
    assert sorted(names(newest)) == ["astronaut.jpg", "camera.png", "rocket.jpg"]  # added last


def test_rank_window_is_taken_inside_the_folder_and_source(index, search_library):
    results = search(index, "a", under=search_library[0] / "100%_done", rank_window=1)
    assert names(results) == ["chelsea.jpg"]
    assert names(search(index, "a", source="human", rank_window=1)) == ["camera.png"]


@pytest.mark.parametrize("query", HOSTILE, ids=lambda q: repr(q[:24]))
def test_hostile_queries_give_ranked_results_never_errors(index, query):
    results = search(index, query)
    assert isinstance(results.hits, tuple)
    assert index.count() == len(PHOTOS) + 1  # nothing was dropped or changed


def test_hostile_queries_still_find_their_words(index):
    for query in ["-dog", "dog*", "(dog", "dog AND", "dog\x00", '"dog', "dog " * 2_500]:
        assert sorted(names(search(index, query))) == ["grass.png", "gravel.jpg"], query
    assert names(search(index, "dog NOT beach")) == ["gravel.jpg"]  # NOT is a (stop) word
    assert names(search(index, "dog\x00beach")) == ["gravel.jpg"]


def test_a_10000_character_query_of_words_is_cut_and_answered(index):
    query = " ".join(["dog", *(f"w{i}" for i in range(2000))])[:10_000]
    results = search(index, query)
    assert len(query) == 10_000 and results.query.truncated
    assert results.partial and sorted(names(results)) == ["grass.png", "gravel.jpg"]
