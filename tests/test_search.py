"""Search over a real index of real photos with known captions: the library and `photocap search`."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from photocap.cli import cli
from photocap.store.index import PhotoRecord, open_index
from photocap.store.query import MAX_TERMS, MAX_WORD, EmptyQueryError, parse_query
from photocap.store.search import search

REPO = Path(__file__).resolve().parents[1]

# (file inside the library, scikit-image picture, caption, source)
PHOTOS = [
    ("2023/beach/gravel.jpg", "gravel", "A dog runs along the sand at the beach", "model"),
    ("2023/beach/grass.png", "grass", "Two dogs running across the grass", "model"),
    ("2023/city/motorcycle.jpg", "motorcycle_left", "A red motorcycle parked in a garage", "human"),
    ("2023b/motorcycle.jpg", "motorcycle_right", "A motorcycle with a red fuel tank", "model"),
    ("100%_done/coffee.jpg", "coffee", "A cup of coffee on a saucer", "model"),
    ("100%_done/chelsea.jpg", "chelsea", "A ginger cat sits on a wooden floor", "human"),
    ("1000_done/rocket.jpg", "rocket", "A rocket on the launch pad under a blue sky", "model"),
    (
        "café ☕/astronaut.jpg",
        "astronaut",
        "An astronaut in a white spacesuit next to a flag",
        "model",
    ),
    ("camera.png", "camera", "A man in a dark coat looks through a camera", "human"),
]


def _picture(name: str):
    from skimage import data

    if name.startswith("motorcycle_"):
        left, right, _ = data.stereo_motorcycle()
        return left if name.endswith("left") else right
    return getattr(data, name)()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def library(request, tmp_path_factory) -> tuple[Path, Path | str]:
    """(photo folder, index database): real image files, indexed through the Index API, in an
    SQLite file or a PostgreSQL database (its URL)."""
    from PIL import Image

    root = tmp_path_factory.mktemp("library")
    records = []
    for relative, picture, caption, source in PHOTOS:
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(_picture(picture)).save(path)
        with Image.open(path) as image:
            width, height = image.size
        st = path.stat()
        records.append(
            PhotoRecord(
                path=str(path),
                size=st.st_size,
                mtime_ns=st.st_mtime_ns,
                sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
                width=width,
                height=height,
                caption=caption,
                source=source,
                model_id="photocap-test" if source == "model" else None,
            )
        )
    broken = root / "broken.jpg"
    broken.write_bytes(b"not an image")
    records.append(
        PhotoRecord(path=str(broken), size=12, mtime_ns=1, status="error", error="not an image")
    )
    db = tmp_path_factory.mktemp("db") / "index.db"
    if request.param == "postgresql":
        db = request.getfixturevalue("postgres_server").new_database()
    with open_index(db) as index:
        index.upsert(records)
        index.add_root(root)
    return root, db


@pytest.fixture(params=["sqlite", "postgresql"])
def new_db(request, tmp_path) -> Path | str:
    """A new index's SQLite file, or a new PostgreSQL database's URL."""
    if request.param == "postgresql":
        return request.getfixturevalue("postgres_url")
    return tmp_path / "i.db"


@pytest.fixture
def index(library):
    with open_index(library[1]) as opened:
        yield opened


def names(results) -> list[str]:
    return [Path(hit.path).name for hit in results.hits]


def p(library, relative: str) -> str:
    return str(library[0] / relative)


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


def test_stop_words_need_not_match(index, library):
    results = search(index, "dog on beach")
    assert [h.path for h in results.hits] == [p(library, "2023/beach/gravel.jpg")]
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


def test_under_a_folder_excludes_siblings_with_the_same_prefix(index, library):
    assert names(search(index, "motorcycle", under=library[0] / "2023")) == ["motorcycle.jpg"]
    assert search(index, "motorcycle", under=library[0] / "2023").hits[0].path == p(
        library, "2023/city/motorcycle.jpg"
    )
    assert search(index, "motorcycle", under=library[0] / "2023b").hits[0].path == p(
        library, "2023b/motorcycle.jpg"
    )


def test_under_treats_percent_and_underscore_as_plain_characters(index, library):
    under = library[0] / "100%_done"
    assert sorted(names(search(index, "cup cat", under=under))) == ["chelsea.jpg", "coffee.jpg"]
    assert (
        search(index, "rocket", under=under).hits == ()
    )  # 1000_done would match LIKE '100%_done%'
    assert names(search(index, "astronaut", under=library[0] / "café ☕")) == ["astronaut.jpg"]


def test_under_a_folder_that_holds_nothing(index, library):
    assert search(index, "dog", under=library[0] / "nowhere").hits == ()
    assert search(index, "dog", under=library[0] / "2023" / "beach" / "grass.png").hits == ()


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


def test_under_and_partial_fallback_together(index, library):
    results = search(index, "cup zebra", under=library[0] / "100%_done")
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


def test_rank_window_is_taken_inside_the_folder_and_source(index, library):
    results = search(index, "a", under=library[0] / "100%_done", rank_window=1)
    assert names(results) == ["chelsea.jpg"]
    assert names(search(index, "a", source="human", rank_window=1)) == ["camera.png"]


HOSTILE = [
    '"unbalanced dog',
    'dog"',
    "(dog",
    "dog)",
    "dog*",
    "*dog",
    "-dog",
    "dog -beach",
    "caption:dog",
    "photos_fts:dog",
    "{caption}: dog",
    "NEAR",
    "NEAR(dog beach)",
    "NEAR(dog beach, 2)",
    "dog NEAR beach",
    "AND",
    "OR",
    "NOT",
    "dog AND",
    "OR dog",
    "dog NOT beach",
    "AND OR NOT",
    "^dog",
    "dog + beach",
    "'; DROP TABLE photos; --",
    "' OR '1'='1",
    '" OR rowid > 0 --',
    "dog\x00beach",
    "dog\\beach",
    "dog%",
    "chien 🐕 plage",
    "x" * 10_000,
    "dog " * 2_500,
    '"' + "dog " * 2_500 + '"',
]


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


# ---- the CLI ----------------------------------------------------------------------------------------


def run(library, *args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(cli, ["search", *args, "--db", str(library[1])], env=env)


def test_cli_plain_output_is_tab_separated(library):
    result = run(library, "dogs", "running")
    assert result.exit_code == 0, result.output
    lines = [line.split("\t") for line in result.stdout.splitlines()]
    assert lines == [
        ["1", "Two dogs running across the grass", p(library, "2023/beach/grass.png")],
        ["2", "A dog runs along the sand at the beach", p(library, "2023/beach/gravel.jpg")],
    ]
    assert result.stderr == ""


def test_cli_json(library):
    result = run(library, "red motorcycle", "--json")
    assert result.exit_code == 0
    objects = json.loads(result.stdout)
    assert [o["path"] for o in objects] == [  # the shorter caption first
        p(library, "2023/city/motorcycle.jpg"),
        p(library, "2023b/motorcycle.jpg"),
    ]
    assert {o["source"] for o in objects} == {"human", "model"}
    assert {"path", "caption", "source", "score"} <= set(objects[0])
    assert objects[0]["score"] >= objects[1]["score"] and objects[0]["partial"] is False


def test_cli_paths_can_be_opened_directly(library):
    result = run(library, "a", "--paths", "--limit", "4")
    assert result.exit_code == 0
    paths = result.stdout.splitlines()
    assert len(paths) == 4 and all(os.path.isabs(x) and os.path.isfile(x) for x in paths)


def test_cli_under_and_source(library):
    result = run(
        library, "a", "--paths", "--under", str(library[0] / "100%_done"), "--source", "human"
    )
    assert result.stdout.splitlines() == [p(library, "100%_done/chelsea.jpg")]


def test_cli_partial_matches_are_marked(library):
    result = run(library, "dog beach zebra", "--json")
    assert result.exit_code == 0
    assert "partial matches" in result.stderr
    objects = json.loads(result.stdout)
    assert [o["partial"] for o in objects] == [True, True]
    assert [(o["matched_terms"], o["terms"]) for o in objects] == [(2, 3), (1, 3)]


def test_cli_table_on_a_terminal(library, monkeypatch):
    monkeypatch.setattr("photocap.cli.search._stdout_is_terminal", lambda: True)
    result = run(library, "cat", env={"COLUMNS": "200"})
    assert result.exit_code == 0
    header, *rows = [
        line for line in result.stdout.splitlines() if line.strip() and "─" not in line
    ]
    assert header.split() == ["#", "Caption", "Sees", "Path"]  # "Sees": the labels
    assert rows[0].split()[0] == "1" and "A ginger cat sits on a wooden floor" in rows[0]
    assert rows[0].rstrip().endswith(p(library, "100%_done/chelsea.jpg"))


def test_cli_table_marks_partial_matches(library, monkeypatch):
    monkeypatch.setattr("photocap.cli.search._stdout_is_terminal", lambda: True)
    result = run(library, "cat zebra", env={"COLUMNS": "200"})
    assert "Partial matches for: cat zebra" in result.stdout
    assert "1/2" in result.stdout


def test_caption_text_highlights_matched_words():
    from photocap.cli._search_table import HIGHLIGHT, caption_text

    text = caption_text("A ginger cat sits", ((9, 12), (13, 17)))
    assert [(text.plain[s.start : s.end], s.style) for s in text.spans] == [
        ("cat", HIGHLIGHT),
        ("sits", HIGHLIGHT),
    ]


def test_cli_no_results_is_not_an_error(library):
    result = run(library, "zebra")
    assert result.exit_code == 0 and result.stdout == ""
    assert "No photos match: zebra" in result.stderr


@pytest.mark.parametrize("query", ["", "   ", '"', "*", "((", "🐶"])
def test_cli_empty_query_is_a_usage_error(library, query):
    result = run(library, query)
    assert result.exit_code == 2
    assert "no words to search for" in result.stderr and "Traceback" not in result.output


@pytest.mark.parametrize("query", HOSTILE, ids=lambda q: repr(q[:24]))
def test_cli_hostile_queries(library, query):
    result = run(library, query)
    assert result.exit_code == 0, result.output
    assert result.exception is None and "Error" not in result.stderr


def test_cli_single_dash_words_are_words_and_long_option_typos_are_caught(library):
    result = run(library, "-dog", "-beach", "-n", "1")  # "-beach" holds "-h" and "-n" is an option
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        f"1\t{PHOTOS[0][2]}\t{p(library, '2023/beach/gravel.jpg')}"
    ]
    assert run(library, "-n2", "a").stdout.count("\n") == 2
    result = run(library, "dog", "--limt", "3")
    assert result.exit_code == 2 and "Did you mean '--limit'" in result.stderr


def test_cli_json_and_paths_together_is_a_usage_error(library):
    result = run(library, "dog", "--json", "--paths")
    assert result.exit_code == 2 and "cannot be used together" in result.stderr


def test_cli_missing_index_says_how_to_build_one(tmp_path):
    db = tmp_path / "none.db"
    result = CliRunner().invoke(cli, ["search", "dog", "--db", str(db)])
    assert result.exit_code == 1
    assert "no index database found" in result.stderr and "photocap index PATH" in result.stderr
    assert not db.exists()


def test_cli_empty_index_says_how_to_build_one(tmp_path):
    open_index(tmp_path / "empty.db").close()
    result = CliRunner().invoke(cli, ["search", "dog", "--db", str(tmp_path / "empty.db")])
    assert result.exit_code == 1
    assert "the index is empty" in result.stderr and "photocap index PATH" in result.stderr


def test_cli_uses_photocap_db_from_the_environment(library):
    result = CliRunner().invoke(
        cli, ["search", "rocket", "--paths"], env={"PHOTOCAP_DB": str(library[1])}
    )
    assert result.exit_code == 0
    assert result.stdout.splitlines() == [p(library, "1000_done/rocket.jpg")]


def test_cli_newer_database_is_a_clear_error(tmp_path):
    db = tmp_path / "new.db"
    open_index(db).close()
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE photocap_meta SET value = '7'")
    result = CliRunner().invoke(cli, ["search", "dog", "--db", str(db)])
    assert result.exit_code == 1 and result.stderr.startswith("Error: ")
    assert "newer than this photocap" in result.stderr


def test_cli_help_documents_the_options():
    result = CliRunner().invoke(cli, ["search", "--help"])
    for option in ("--limit", "--under", "--source", "--paths", "--json", "--db"):
        assert option in result.output


@pytest.mark.slow
def test_real_subprocess_run(library):
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "photocap",
            "search",
            "dog",
            "on",
            "beach",
            "--paths",
            "--db",
            str(library[1]),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.splitlines() == [p(library, "2023/beach/gravel.jpg")]
