"""The index on real SQLite files, what only SQLite does: the file and its folder, WAL and the busy
timeout, migrations, FTS5 and its triggers, a damaged file, readers beside a writer. The API on
both databases is in test_index.py."""

from __future__ import annotations

import sqlite3
import warnings
from dataclasses import replace
from pathlib import Path

import pytest
from index_helpers import record
from sqlalchemy import create_engine, inspect

from photocap.errors import IndexDatabaseError
from photocap.store import schema as index_schema
from photocap.store.index import open_index
from photocap.store.schema import metadata
from photocap.store.search import search


def fts_rowids(db: Path, word: str) -> list[int]:
    with sqlite3.connect(db) as conn:
        query = "SELECT rowid FROM photos_fts WHERE photos_fts MATCH ? ORDER BY rowid"
        return [r[0] for r in conn.execute(query, (word,))]


@pytest.fixture
def db(tmp_path) -> Path:
    return tmp_path / "nested" / "folder" / "index.db"


# ---- opening, schema, configuration ------------------------------------------------------------


def test_open_creates_folder_schema_wal_and_busy_timeout(db):
    with open_index(db, busy_timeout=3.5) as index:
        assert db.is_file() and index.path == db
        assert index.schema_version() == index_schema.SCHEMA_VERSION
        with index._engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 3500
    with sqlite3.connect(db) as conn:
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    assert {"photos", "roots", "photocap_meta", "photos_fts"} <= names
    assert {"photos_ai", "photos_ad", "photos_au"} <= names


def test_default_location_follows_xdg_and_photocap_db(tmp_path, monkeypatch):
    monkeypatch.delenv("PHOTOCAP_HOME")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    with open_index() as index:
        assert index.path == tmp_path / "xdg" / "photocap" / "index.db"
        assert index.path.is_file()
    monkeypatch.setenv("PHOTOCAP_DB", str(tmp_path / "env.db"))
    with open_index() as index:
        assert index.path == tmp_path / "env.db"


def test_bare_path_and_sqlite_url_open_the_same_database(db):
    with open_index(db) as index:
        index.upsert([record("/p/a.jpg")])
    with open_index(f"sqlite:///{db}") as index:
        assert index.count() == 1


def test_models_match_the_migrated_schema(db):
    """The SQLAlchemy models and the frozen migration SQL describe the same tables."""
    open_index(db).close()
    inspector = inspect(create_engine(f"sqlite:///{db}"))
    for table in metadata.sorted_tables:
        live = {c["name"]: c for c in inspector.get_columns(table.name)}
        assert set(live) == set(table.columns.keys()), table.name
        for column in table.columns:
            assert live[column.name]["nullable"] == column.nullable, (table.name, column.name)
    unique = inspector.get_unique_constraints("photos") or inspector.get_indexes("photos")
    assert any(c["column_names"] == ["path"] for c in unique)
    indexes = metadata.tables["photos"].indexes
    expressions = {
        "ix_photos_confidence",
        "ix_photos_source_confidence",
        "ix_photos_held_back_confidence",
    }
    assert expressions <= {i.name for i in indexes}
    modelled = sorted(list(i.columns.keys()) for i in indexes if i.name not in expressions)
    with warnings.catch_warnings():  # SQLAlchemy does not reflect expression indexes
        warnings.simplefilter("ignore")
        assert sorted(i["column_names"] for i in inspector.get_indexes("photos")) == modelled
    assert modelled == [["sha256"], ["size"]]
    with sqlite3.connect(db) as conn:  # the review page's order: expression indexes
        for name in sorted(expressions):
            sql = conn.execute("SELECT sql FROM sqlite_master WHERE name = ?", (name,))
            assert "coalesce(confidence, 2.0), id" in sql.fetchone()[0], name


def test_migrations_run_forward_in_order_and_keep_data(db, monkeypatch):
    with open_index(db) as index:
        index.upsert([record("/p/a.jpg", caption="a brown dog")])
    now = index_schema.SCHEMA_VERSION

    def add_rating(conn):
        conn.exec_driver_sql("ALTER TABLE photos ADD COLUMN rating INTEGER")

    def rate(conn):
        conn.exec_driver_sql("UPDATE photos SET rating = 5")

    monkeypatch.setattr(index_schema, "SCHEMA_VERSION", now + 2)
    monkeypatch.setattr("photocap.store.index.SCHEMA_VERSION", now + 2)
    monkeypatch.setitem(index_schema.MIGRATIONS, now + 1, add_rating)
    monkeypatch.setitem(index_schema.MIGRATIONS, now + 2, rate)
    with open_index(db) as index:
        assert index.schema_version() == now + 2
        assert search(index, "dog").hits[0].path == "/p/a.jpg"
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT rating FROM photos").fetchall() == [(5,)]


def test_a_version_1_index_migrates_to_the_newest_and_keeps_its_rows(db, monkeypatch):
    with monkeypatch.context() as m:
        m.setattr("photocap.store.index.SCHEMA_VERSION", 1)
        with open_index(db) as index:
            assert index.schema_version() == 1
    with sqlite3.connect(db) as conn:  # a row as version 1 wrote it
        conn.execute(
            "INSERT INTO photos (path, size, mtime_ns, caption, source, status, indexed_at)"
            " VALUES ('/p/a.jpg', 5, 1, 'a brown dog', 'model', 'ok', '2026-01-01 00:00:00')"
        )
    with open_index(db) as index:
        assert index.schema_version() == index_schema.SCHEMA_VERSION >= 3
        assert search(index, "dog").hits[0].path == "/p/a.jpg"
        row = index.get("/p/a.jpg")
        assert (row.size, row.caption, row.sidecar_mtime_ns) == (5, "a brown dog", None)
        assert (row.labels, row.label_words, row.confidence, row.held_back) == (None,) * 3 + (
            False,
        )
        assert (row.objects, row.alt_text) == (None, None)  # version 6: no evidence, no label line
        assert index.sizes_present([5, 6]) == {5}
    with sqlite3.connect(db) as conn:
        plan = conn.execute("EXPLAIN QUERY PLAN SELECT id FROM photos WHERE size = 5").fetchall()
    assert "ix_photos_size" in str(plan)


def test_failed_migration_leaves_the_database_as_it_was(db, monkeypatch):
    open_index(db).close()
    now = index_schema.SCHEMA_VERSION

    def broken(conn):
        conn.exec_driver_sql("ALTER TABLE photos ADD COLUMN rating INTEGER")
        raise RuntimeError("migration bug")

    monkeypatch.setattr("photocap.store.index.SCHEMA_VERSION", now + 1)
    monkeypatch.setitem(index_schema.MIGRATIONS, now + 1, broken)
    with pytest.raises(RuntimeError):
        open_index(db)
    with sqlite3.connect(db) as conn:
        columns = [r[1] for r in conn.execute("PRAGMA table_info(photos)")]
        version = conn.execute("SELECT value FROM photocap_meta").fetchone()[0]
    assert "rating" not in columns and version == str(now)


def test_corrupt_file_raises_a_clear_error(tmp_path):
    bad = tmp_path / "index.db"
    bad.write_bytes(b"this is not an SQLite database, just some bytes" * 200)
    with pytest.raises(IndexDatabaseError, match="damaged or not an SQLite file") as info:
        open_index(bad)
    assert info.value.path == bad


def test_missing_database_with_create_false(tmp_path):
    with pytest.raises(IndexDatabaseError, match="no index database found") as info:
        open_index(tmp_path / "absent.db", create=False)
    assert "photocap index PATH" in str(info.value)
    assert not (tmp_path / "absent.db").exists()


# ---- full-text table maintenance -----------------------------------------------------------------


def test_triggers_follow_inserts_updates_and_deletes(index, db):
    index.upsert([record("/p/a.jpg", caption="dogs running on sand")])
    [rowid] = fts_rowids(db, "dog")  # porter: dogs -> dog
    index.upsert([replace(index.get("/p/a.jpg"), status="error", error="x")])  # caption unchanged
    assert fts_rowids(db, "dog") == [rowid]
    index.delete(["/p/a.jpg"])
    assert fts_rowids(db, "dog") == []


def test_rebuild_repairs_a_drifted_fts_index(index, db):
    index.upsert([record("/p/a.jpg", caption="a lighthouse at dusk")])
    with sqlite3.connect(db) as conn:  # simulate drift: the full-text index loses everything
        conn.execute("INSERT INTO photos_fts(photos_fts) VALUES ('delete-all')")
    assert search(index, "lighthouse").hits == ()
    index.rebuild_fts()
    assert [h.path for h in search(index, "lighthouse").hits] == ["/p/a.jpg"]
    index.optimize()
    assert [h.path for h in search(index, "lighthouse").hits] == ["/p/a.jpg"]


# ---- concurrency ---------------------------------------------------------------------------------


def test_readers_are_not_blocked_by_a_writer_and_writers_wait_then_fail_clearly(db):
    with open_index(db) as index:
        index.upsert([record("/p/a.jpg", caption="a sailing boat")])
    writer = sqlite3.connect(db, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("UPDATE photos SET caption = 'a steam train'")
    try:
        with open_index(db, busy_timeout=0.2) as index:
            # WAL: the reader sees the last committed state while the write is open
            assert [h.path for h in search(index, "boat").hits] == ["/p/a.jpg"]
            with pytest.raises(IndexDatabaseError, match="busy") as info:
                index.upsert([record("/p/b.jpg")])
            assert "try again" in str(info.value)
    finally:
        writer.execute("COMMIT")
        writer.close()
    with open_index(db) as index:
        assert [h.path for h in search(index, "train").hits] == ["/p/a.jpg"]
        assert index.count() == 1
