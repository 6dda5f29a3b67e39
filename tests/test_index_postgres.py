"""The index on a real PostgreSQL server (started by the tests), what only PostgreSQL does: its
schema (a generated tsvector, a GIN index) and migrations, connection errors, writes its SQL could
refuse, its full-text search, advisory locks and concurrent writers. The API on both databases is
in test_index.py; the CLI on PostgreSQL in test_cli_postgres.py."""

from __future__ import annotations

import threading
import time
from dataclasses import replace

import pytest
import sqlalchemy.exc
from index_helpers import record, sql
from sqlalchemy import create_engine, inspect

from photocap.errors import IndexDatabaseError
from photocap.store import engine as engine_module
from photocap.store import index as index_module
from photocap.store import postgres
from photocap.store import schema as index_schema
from photocap.store.index import open_index
from photocap.store.schema import metadata
from photocap.store.search import search


@pytest.fixture
def index(postgres_url):
    with open_index(postgres_url) as opened:
        yield opened


# ---- opening, schema, migrations ----------------------------------------------------------------


def test_open_creates_the_schema_with_a_generated_tsvector_and_a_gin_index(index, postgres_url):
    assert index.postgres and index.path is None
    assert index.schema_version() == index_schema.SCHEMA_VERSION
    names = {r[0] for r in sql(postgres_url, "SELECT indexname FROM pg_indexes")}
    assert {"ix_photos_search", "ix_photos_size", "ix_photos_sha256"} <= names
    [(method,)] = sql(
        postgres_url,
        "SELECT am.amname FROM pg_class c JOIN pg_am am ON am.oid = c.relam "
        "WHERE c.relname = 'ix_photos_search'",
    )
    assert method == "gin"
    [(generated,)] = sql(
        postgres_url,
        "SELECT is_generated FROM information_schema.columns "
        "WHERE table_name = 'photos' AND column_name = 'search_vector'",
    )
    assert generated == "ALWAYS"


def test_models_match_the_postgres_schema(index, postgres_url):
    """The SQLAlchemy models and the PostgreSQL DDL describe the same tables (plus the tsvector)."""
    engine = create_engine(postgres_url)
    inspector = inspect(engine)
    for table in metadata.sorted_tables:
        live = {c["name"]: c for c in inspector.get_columns(table.name)}
        extra = {postgres.SEARCH_COLUMN} if table.name == "photos" else set()
        assert set(live) == set(table.columns.keys()) | extra, table.name
        for column in table.columns:
            assert live[column.name]["nullable"] == column.nullable, (table.name, column.name)
    unique = inspector.get_unique_constraints("photos")
    assert any(c["column_names"] == ["path"] for c in unique)
    engine.dispose()


def test_every_schema_version_has_a_postgres_migration():
    """A new SQLite migration needs its PostgreSQL twin (postgres.MIGRATIONS) in the same change."""
    assert set(postgres.MIGRATIONS) == set(
        range(postgres.BASELINE, index_schema.SCHEMA_VERSION + 1)
    )


def _at_version(monkeypatch, version: int) -> None:
    for module in (index_schema, postgres, index_module, engine_module):
        monkeypatch.setattr(module, "SCHEMA_VERSION", version)


def test_an_index_made_at_the_baseline_migrates_forward_and_keeps_its_rows(
    postgres_url, monkeypatch
):
    with monkeypatch.context() as patched:
        _at_version(patched, postgres.BASELINE)
        with open_index(postgres_url) as index:
            assert index.schema_version() == postgres.BASELINE
    sql(  # a row as the baseline's photocap wrote it (today's code writes today's columns)
        postgres_url,
        "INSERT INTO photos (path, size, mtime_ns, caption, source, held_back, status, indexed_at)"
        " VALUES ('/p/a.jpg', 10, 1, 'a cat on a mat', 'model', true, 'ok', '2026-01-01')",
    )
    with open_index(postgres_url) as index:
        assert index.schema_version() == index_schema.SCHEMA_VERSION and index.count() == 1
        assert [h.path for h in search(index, "cat").hits] == ["/p/a.jpg"]
        row = index.get("/p/a.jpg")
        assert (row.caption, row.held_back, row.objects, row.alt_text) == (
            "a cat on a mat",
            True,
            None,
            None,
        )  # version 6's columns: no evidence, no label line yet
        index.upsert([replace(row, objects={"cat": 0.99}, alt_text="May show: a cat.")])
        assert index.get("/p/a.jpg").alt_text == "May show: a cat."
    names = {r[0] for r in sql(postgres_url, "SELECT indexname FROM pg_indexes")}
    assert "ix_photos_confidence" in names  # version 5's
    assert {"ix_photos_source_confidence", "ix_photos_held_back_confidence"} <= names  # 7's


def test_a_later_migration_runs_forward_and_keeps_the_rows(postgres_url, monkeypatch):
    """How a future version will go: today's index reopened by a photocap one version newer."""
    with open_index(postgres_url) as index:
        index.upsert([record("/p/a.jpg")])

    def add_rating(conn):
        conn.exec_driver_sql("ALTER TABLE photos ADD COLUMN rating INTEGER")

    newer = index_schema.SCHEMA_VERSION + 1
    _at_version(monkeypatch, newer)
    monkeypatch.setitem(postgres.MIGRATIONS, newer, add_rating)
    with open_index(postgres_url) as index:
        assert index.schema_version() == newer and index.count() == 1
    assert sql(postgres_url, "SELECT path, rating FROM photos") == [("/p/a.jpg", None)]


def test_a_failed_migration_leaves_the_database_as_it_was(postgres_url, monkeypatch):
    def broken(conn):
        conn.exec_driver_sql("CREATE TABLE half_done (x INTEGER)")
        conn.exec_driver_sql("SELECT no_such_function()")

    monkeypatch.setitem(postgres.MIGRATIONS, postgres.BASELINE, broken)
    with pytest.raises(sqlalchemy.exc.ProgrammingError, match="no_such_function"):
        open_index(postgres_url)
    assert sql(postgres_url, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") == [(0,)]


def test_unreachable_server_and_missing_database_are_clear_errors(postgres_server, tmp_path):
    with pytest.raises(IndexDatabaseError, match="cannot connect") as info:
        open_index(f"postgresql+psycopg://postgres@/photocap?host={tmp_path}")
    assert "server is running" in str(info.value)
    with pytest.raises(IndexDatabaseError) as info:
        open_index(postgres_server.url("no_such_database"))
    assert "no_such_database" in str(info.value)


def test_photocap_db_and_the_postgres_scheme_open_the_same_database(postgres_url, monkeypatch):
    with open_index(postgres_url) as index:
        index.upsert([record("/p/a.jpg")])
    monkeypatch.setenv("PHOTOCAP_DB", postgres_url)
    with open_index() as index:
        assert index.count() == 1
    plain = postgres_url.replace("postgresql+psycopg://", "postgres://")
    with open_index(plain) as index:
        assert index.count() == 1


# ---- writes and search ---------------------------------------------------------------------------


def test_a_path_twice_in_one_batch_keeps_the_last(index):
    index.upsert([record("/p/a.jpg", "first"), record("/p/b.jpg"), record("/p/a.jpg", "second")])
    assert index.get("/p/a.jpg").caption == "second" and index.count() == 2


def test_nul_characters_are_dropped_not_an_error(index):
    index.upsert([record("/p/a.jpg", "a dog\x00 on a beach")])
    assert index.get("/p/a.jpg").caption == "a dog on a beach"


def test_caption_words_rank_above_label_words(index):
    index.upsert(
        [
            record("/p/label.jpg", "a park bench", label_words="dog retriever"),
            record("/p/caption.jpg", "a dog in a very long caption about a sunny park"),
        ]
    )
    assert [h.path for h in search(index, "dog").hits] == ["/p/caption.jpg", "/p/label.jpg"]
    assert [h.path for h in search(index, "dog", labels=False).hits] == ["/p/caption.jpg"]


def test_a_search_run_again_and_again_is_planned_for_its_own_words(index):
    """psycopg prepares a statement run five times, and PostgreSQL may then plan it once for any
    parameters: at millions of photos a rare word's search then read every row backwards. Every
    search keeps a plan made for its own words, however often it runs on one connection."""
    words = ["dog", "cat", "bicycle", "harbour"]
    index.upsert([record(f"/p/{i}.jpg", f"a {words[i % 4]} by the sea") for i in range(40)])
    for word in words * 8:
        assert len(search(index, word).hits) == 10
    with index.reading() as conn:
        generic, custom = conn.exec_driver_sql(
            "SELECT coalesce(sum(generic_plans), 0), coalesce(sum(custom_plans), 0) "
            "FROM pg_prepared_statements WHERE cardinality(parameter_types) > 0"
        ).one()
    assert custom > 0  # psycopg did prepare the searches ...
    assert generic == 0  # ... and PostgreSQL never reused one plan for other words


def test_punctuated_words_match_as_the_query_parser_reads_them(index):
    index.upsert([record("/p/a.jpg", "A man in a t-shirt waves a U.S. flag (cafe_2)")])
    for query in ["t-shirt", "tshirt shirt", "U.S.", '"u s flag"', "cafe 2"]:
        hits = search(index, query).hits
        assert [h.path for h in hits] == ["/p/a.jpg"] or query == "tshirt shirt", query
    [hit] = search(index, "shirts flag").hits
    assert [hit.caption[a:b] for a, b in hit.highlights] == ["shirt", "flag"]


def test_accents_are_folded_where_the_server_has_unaccent(index, postgres_url):
    [(available,)] = sql(
        postgres_url, "SELECT count(*) FROM pg_available_extensions WHERE name = 'unaccent'"
    )
    if not available:
        pytest.skip("this PostgreSQL server has no unaccent extension (contrib)")
    index.upsert([record("/p/a.jpg", "Crème brûlée at a café"), record("/p/b.jpg", "a cafe")])
    assert sorted(h.path for h in search(index, "cafe").hits) == ["/p/a.jpg", "/p/b.jpg"]
    assert sorted(h.path for h in search(index, "café").hits) == ["/p/a.jpg", "/p/b.jpg"]
    [hit] = search(index, "creme brulee").hits
    assert [hit.caption[a:b] for a, b in hit.highlights] == ["Crème", "brûlée"]


def test_the_review_pages_query_filter_uses_postgres_search(index):
    from photocap.review.queries import list_photos
    from photocap.store.listing import Filters

    index.upsert(
        [
            record("/p/a.jpg", "Two dogs running on the beach"),
            record("/p/b.jpg", "a dog asleep"),
            record("/p/c.jpg", "a bench", label_words="dog"),
        ]
    )
    page = list_photos(index, Filters(q="dog running", sort="path"))
    assert [p["path"] for p in page.photos] == ["/p/a.jpg"] and page.total == 1
    page = list_photos(index, Filters(q="dogs", sort="path"))
    assert [p["path"] for p in page.photos] == ["/p/a.jpg", "/p/b.jpg", "/p/c.jpg"]
    assert list_photos(index, Filters(q="'; DROP TABLE photos; --")).photos == []
    assert index.count() == 3


# ---- locking and concurrent writers --------------------------------------------------------------


def test_a_writer_waits_for_another_then_fails_clearly(postgres_url):
    with open_index(postgres_url, busy_timeout=0.5) as index:
        index.upsert([record("/p/a.jpg")])
        holder = create_engine(postgres_url)
        with holder.connect() as conn:  # another process's move, holding the write lock
            conn.exec_driver_sql("BEGIN")
            a, b = postgres._LOCK_KEYS
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({a}, {b})")
            assert index.count() == 1  # readers are not blocked
            started = time.monotonic()
            with pytest.raises(IndexDatabaseError, match="busy") as info:
                index.move("/p/a.jpg", "/p/b.jpg")
            assert 0.4 < time.monotonic() - started < 5
            assert "try again" in str(info.value)
            conn.exec_driver_sql("ROLLBACK")
        holder.dispose()
        assert index.move("/p/a.jpg", "/p/b.jpg")


def test_threads_upserting_the_same_paths_in_opposite_orders_lose_nothing(index):
    paths = [f"/p/{i:03d}.jpg" for i in range(300)]
    errors = []

    def write(order, caption):
        try:
            for _ in range(3):
                index.upsert((record(p, caption) for p in order), batch_size=50)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [
        threading.Thread(target=write, args=(paths, "forward")),
        threading.Thread(target=write, args=(paths[::-1], "backward")),
        threading.Thread(target=write, args=(paths[100:] + paths[:100], "rotated")),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert index.paths() == paths and index.count() == 300
