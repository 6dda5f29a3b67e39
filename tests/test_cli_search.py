"""`photocap search` over a real index of real photos with known captions (search_helpers), in an
SQLite file and a PostgreSQL database: output formats, options, errors, one real subprocess."""

from __future__ import annotations

import json
import os
import sqlite3

import pytest
from cli_helpers import REPO, photocap
from click.testing import CliRunner
from search_helpers import HOSTILE, PHOTOS, p

from photocap.cli import cli
from photocap.store.index import open_index
from photocap.store.schema import SCHEMA_VERSION

# ---- the CLI ----------------------------------------------------------------------------------------


def run(search_library, *args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(cli, ["search", *args, "--db", str(search_library[1])], env=env)


def test_cli_plain_output_is_tab_separated(search_library):
    result = run(search_library, "dogs", "running")
    assert result.exit_code == 0, result.output
    lines = [line.split("\t") for line in result.stdout.splitlines()]
    assert lines == [
        ["1", "Two dogs running across the grass", p(search_library, "2023/beach/grass.png")],
        ["2", "A dog runs along the sand at the beach", p(search_library, "2023/beach/gravel.jpg")],
    ]
    assert result.stderr == ""


def test_cli_json(search_library):
    result = run(search_library, "red motorcycle", "--json")
    assert result.exit_code == 0
    objects = json.loads(result.stdout)
    assert [o["path"] for o in objects] == [  # the shorter caption first
        p(search_library, "2023/city/motorcycle.jpg"),
        p(search_library, "2023b/motorcycle.jpg"),
    ]
    assert {o["source"] for o in objects} == {"human", "model"}
    assert {"path", "caption", "source", "score"} <= set(objects[0])
    assert objects[0]["score"] >= objects[1]["score"] and objects[0]["partial"] is False


def test_cli_paths_can_be_opened_directly(search_library):
    result = run(search_library, "a", "--paths", "--limit", "4")
    assert result.exit_code == 0
    paths = result.stdout.splitlines()
    assert len(paths) == 4 and all(os.path.isabs(x) and os.path.isfile(x) for x in paths)


def test_cli_under_and_source(search_library):
    result = run(
        search_library,
        "a",
        "--paths",
        "--under",
        str(search_library[0] / "100%_done"),
        "--source",
        "human",
    )
    assert result.stdout.splitlines() == [p(search_library, "100%_done/chelsea.jpg")]


def test_cli_partial_matches_are_marked(search_library):
    result = run(search_library, "dog beach zebra", "--json")
    assert result.exit_code == 0
    assert "partial matches" in result.stderr
    objects = json.loads(result.stdout)
    assert [o["partial"] for o in objects] == [True, True]
    assert [(o["matched_terms"], o["terms"]) for o in objects] == [(2, 3), (1, 3)]


def test_cli_table_on_a_terminal(search_library, monkeypatch):
    monkeypatch.setattr("photocap.cli.search._stdout_is_terminal", lambda: True)
    result = run(search_library, "cat", env={"COLUMNS": "200"})
    assert result.exit_code == 0
    header, *rows = [
        line for line in result.stdout.splitlines() if line.strip() and "─" not in line
    ]
    assert header.split() == ["#", "Caption", "Sees", "Path"]  # "Sees": the labels
    assert rows[0].split()[0] == "1" and "A ginger cat sits on a wooden floor" in rows[0]
    assert rows[0].rstrip().endswith(p(search_library, "100%_done/chelsea.jpg"))


def test_cli_table_marks_partial_matches(search_library, monkeypatch):
    monkeypatch.setattr("photocap.cli.search._stdout_is_terminal", lambda: True)
    result = run(search_library, "cat zebra", env={"COLUMNS": "200"})
    assert "Partial matches for: cat zebra" in result.stdout
    assert "1/2" in result.stdout


def test_caption_text_highlights_matched_words():
    from photocap.cli._search_table import HIGHLIGHT, caption_text

    text = caption_text("A ginger cat sits", ((9, 12), (13, 17)))
    assert [(text.plain[s.start : s.end], s.style) for s in text.spans] == [
        ("cat", HIGHLIGHT),
        ("sits", HIGHLIGHT),
    ]


def test_cli_no_results_is_not_an_error(search_library):
    result = run(search_library, "zebra")
    assert result.exit_code == 0 and result.stdout == ""
    assert "No photos match: zebra" in result.stderr


@pytest.mark.parametrize("query", ["", "   ", '"', "*", "((", "🐶"])
def test_cli_empty_query_is_a_usage_error(search_library, query):
    result = run(search_library, query)
    assert result.exit_code == 2
    assert "no words to search for" in result.stderr and "Traceback" not in result.output


@pytest.mark.parametrize("query", HOSTILE, ids=lambda q: repr(q[:24]))
def test_cli_hostile_queries(search_library, query):
    result = run(search_library, query)
    assert result.exit_code == 0, result.output
    assert result.exception is None and "Error" not in result.stderr


def test_cli_single_dash_words_are_words_and_long_option_typos_are_caught(search_library):
    result = run(
        search_library, "-dog", "-beach", "-n", "1"
    )  # "-beach" holds "-h" and "-n" is an option
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        f"1\t{PHOTOS[0][2]}\t{p(search_library, '2023/beach/gravel.jpg')}"
    ]
    assert run(search_library, "-n2", "a").stdout.count("\n") == 2
    result = run(search_library, "dog", "--limt", "3")
    assert result.exit_code == 2 and "Did you mean '--limit'" in result.stderr


def test_cli_json_and_paths_together_is_a_usage_error(search_library):
    result = run(search_library, "dog", "--json", "--paths")
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


def test_cli_uses_photocap_db_from_the_environment(search_library):
    result = CliRunner().invoke(
        cli, ["search", "rocket", "--paths"], env={"PHOTOCAP_DB": str(search_library[1])}
    )
    assert result.exit_code == 0
    assert result.stdout.splitlines() == [p(search_library, "1000_done/rocket.jpg")]


def test_cli_newer_database_is_a_clear_error(tmp_path):
    db = tmp_path / "new.db"
    open_index(db).close()
    with sqlite3.connect(db) as conn:
        conn.execute(
            "UPDATE photocap_meta SET value = ? WHERE key = 'schema_version'",
            (str(SCHEMA_VERSION + 1),),
        )
    result = CliRunner().invoke(cli, ["search", "dog", "--db", str(db)])
    assert result.exit_code == 1 and result.stderr.startswith("Error: ")
    assert "newer than this photocap" in result.stderr


def test_cli_help_documents_the_options():
    result = CliRunner().invoke(cli, ["search", "--help"])
    for option in ("--limit", "--under", "--source", "--paths", "--json", "--db"):
        assert option in result.output


@pytest.mark.slow
def test_real_subprocess_run(search_library):
    completed = photocap(
        "search", "dog", "on", "beach", "--paths", "--db", search_library[1], cwd=REPO, timeout=120
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.splitlines() == [p(search_library, "2023/beach/gravel.jpg")]
