"""The index database on real SQLite files: schema, writes, moves, pruning, errors, concurrency."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import warnings
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect

from photocap.errors import IndexDatabaseError, PhotocapError
from photocap.store import schema as index_schema
from photocap.store.index import PhotoRecord, folder_range, open_index
from photocap.store.schema import metadata
from photocap.store.search import search


def record(path: str | Path, caption: str | None = "a cat on a mat", **fields) -> PhotoRecord:
    return PhotoRecord(path=str(path), size=10, mtime_ns=1, caption=caption, **fields)


def photo_file(path: Path, content: bytes = b"\xff\xd8 not really a jpeg") -> PhotoRecord:
    """Writes a file and returns a record describing it as the index pipeline would."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    st = path.stat()
    sha = hashlib.sha256(content).hexdigest()
    return PhotoRecord(path=str(path), size=st.st_size, mtime_ns=st.st_mtime_ns, sha256=sha)


def fts_rowids(db: Path, word: str) -> list[int]:
    with sqlite3.connect(db) as conn:
        query = "SELECT rowid FROM photos_fts WHERE photos_fts MATCH ? ORDER BY rowid"
        return [r[0] for r in conn.execute(query, (word,))]


@pytest.fixture
def db(tmp_path) -> Path:
    return tmp_path / "nested" / "folder" / "index.db"


@pytest.fixture
def index(db):
    with open_index(db) as opened:
        yield opened


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
    modelled = sorted(list(i.columns.keys()) for i in indexes if i.name != "ix_photos_confidence")
    with warnings.catch_warnings():  # SQLAlchemy does not reflect expression indexes
        warnings.simplefilter("ignore")
        assert sorted(i["column_names"] for i in inspector.get_indexes("photos")) == modelled
    assert modelled == [["sha256"], ["size"]]
    with sqlite3.connect(db) as conn:  # the review page's order: an expression index
        sql = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'ix_photos_confidence'")
        assert "coalesce(confidence, 2.0), id" in sql.fetchone()[0]


def test_newer_database_is_refused(db):
    open_index(db).close()
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE photocap_meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(IndexDatabaseError, match="schema version 99, newer") as info:
        open_index(db)
    assert "upgrade photocap" in str(info.value)


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


def test_someone_elses_database_is_refused(tmp_path):
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE invoices (id INTEGER)")
    with pytest.raises(IndexDatabaseError, match="not a photocap index"):
        open_index(other)


def test_missing_database_with_create_false(tmp_path):
    with pytest.raises(IndexDatabaseError, match="no index database found") as info:
        open_index(tmp_path / "absent.db", create=False)
    assert "photocap index PATH" in str(info.value)
    assert not (tmp_path / "absent.db").exists()


def test_other_database_kinds_are_refused():
    with pytest.raises(IndexDatabaseError, match="needs SQLite FTS5 or PostgreSQL"):
        open_index("mysql://localhost/photos")


# ---- records --------------------------------------------------------------------------------------


def test_upsert_round_trips_every_field(index):
    before = datetime.now(timezone.utc)
    full = PhotoRecord(
        path="/photos/a.jpg",
        size=123_456,
        mtime_ns=1_700_000_000_123_456_789,
        sha256="ab" * 32,
        width=4000,
        height=3000,
        caption="a dog on a beach",
        source="model",
        model_id="photocap-lite2",
        score=-3.25,
        status="ok",
        error=None,
    )
    assert index.upsert([full]) == 1
    got = index.get("/photos/a.jpg")
    assert replace(got, indexed_at=None) == full
    assert before - timedelta(seconds=1) <= got.indexed_at <= datetime.now(timezone.utc)
    assert got.indexed_at.tzinfo is timezone.utc


def test_upsert_replaces_by_path_and_keeps_fts_in_step(index, db):
    index.upsert([record("/p/a.jpg", caption="a black cat")])
    index.upsert([record("/p/a.jpg", caption="a white horse", source="human")])
    assert index.count() == 1
    assert index.get("/p/a.jpg").caption == "a white horse"
    assert index.get("/p/a.jpg").source == "human"
    assert fts_rowids(db, "cat") == []
    assert len(fts_rowids(db, "horse")) == 1


def test_error_records_have_no_caption_and_are_counted(index):
    index.upsert(
        [
            record("/p/ok.jpg", source="model"),
            record("/p/bad.jpg", None, status="error", error="truncated"),
        ]
    )
    stats = index.stats()
    assert (stats.photos, stats.captioned, stats.errors) == (2, 1, 1)
    assert stats.by_source == {"model": 1, "human": 0}
    assert index.get("/p/bad.jpg").error == "truncated"


def test_record_validation_and_absolute_paths(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert record("rel/a.jpg").path == str(tmp_path / "rel" / "a.jpg")
    with pytest.raises(ValueError, match="source"):
        record("/a.jpg", source="robot")
    with pytest.raises(ValueError, match="status"):
        record("/a.jpg", status="maybe")


def test_undecodable_file_names_are_refused_clearly(index):
    name = os.fsdecode(b"/p/caf\xe9.jpg")  # Latin-1 bytes on a UTF-8 system: a lone surrogate
    with pytest.raises(PhotocapError, match="not valid UTF-8") as info:
        record(name)
    assert info.value.hint == "rename the file"
    index.upsert([record("/p/ok.jpg")])
    assert index.lookup([name, "/p/ok.jpg"]).keys() == {"/p/ok.jpg"}
    assert index.delete([name]) == 0


def test_unchanged_compares_size_mtime_and_the_sidecars_mtime():
    row = PhotoRecord(path="/a.jpg", size=5, mtime_ns=7)
    assert row.unchanged(5, 7, None)
    assert not row.unchanged(5, 8, None) and not row.unchanged(6, 7, None)
    assert not row.unchanged(5, 7, 9)  # a sidecar appeared
    with_sidecar = PhotoRecord(path="/a.jpg", size=5, mtime_ns=7, sidecar_mtime_ns=9)
    assert with_sidecar.unchanged(5, 7, 9)
    assert not with_sidecar.unchanged(5, 7, 10) and not with_sidecar.unchanged(5, 7, None)


def test_lookup_many_paths_across_chunks(index):
    index.upsert(record(f"/p/{i:04d}.jpg", caption=f"photo {i}") for i in range(1200))
    wanted = [f"/p/{i:04d}.jpg" for i in range(0, 1200, 3)] + ["/p/missing.jpg"]
    found = index.lookup(wanted)
    assert len(found) == 400 and "/p/missing.jpg" not in found
    assert found["/p/0300.jpg"].caption == "photo 300"


def test_upsert_commits_each_batch(index):
    def records():
        for i in range(5):
            yield record(f"/p/{i}.jpg")
        raise RuntimeError("the run died")

    with pytest.raises(RuntimeError):
        index.upsert(records(), batch_size=2)
    assert index.count() == 4  # two full batches were committed before the failure


def test_a_moved_photo_keeps_its_row(index, tmp_path):
    old = photo_file(tmp_path / "in" / "a.jpg", b"pixels")
    index.upsert([replace(old, caption="a red kite in the sky", source="model", model_id="m1")])
    (tmp_path / "in" / "a.jpg").rename(tmp_path / "b.jpg")

    [match] = index.find_by_hash(old.sha256)
    assert match.path == old.path
    assert index.move(match.path, tmp_path / "b.jpg")
    moved = index.get(tmp_path / "b.jpg")
    assert (moved.caption, moved.model_id, moved.sha256) == (
        "a red kite in the sky",
        "m1",
        old.sha256,
    )
    assert index.get(old.path) is None
    assert [h.path for h in search(index, "kite").hits] == [str(tmp_path / "b.jpg")]
    assert not index.move(old.path, tmp_path / "c.jpg")


def test_move_onto_an_indexed_path_replaces_it(index, db):
    index.upsert([record("/p/a.jpg", caption="a tabby cat"), record("/p/b.jpg", caption="a dog")])
    assert index.move("/p/a.jpg", "/p/b.jpg")
    assert index.count() == 1
    assert index.get("/p/b.jpg").caption == "a tabby cat"
    assert fts_rowids(db, "dog") == []


def test_move_folder_renames_inside_only(index):
    index.upsert(
        [
            record("/a/b/1.jpg", caption="one"),
            record("/a/b/sub/2.jpg", caption="two"),
            record("/a/bc/3.jpg", caption="three"),
            record("/x/y/1.jpg", caption="stale"),
        ]
    )
    assert index.move_folder("/a/b", "/x/y") == 2
    assert index.paths() == ["/a/bc/3.jpg", "/x/y/1.jpg", "/x/y/sub/2.jpg"]
    assert index.get("/x/y/1.jpg").caption == "one"


def test_delete(index):
    index.upsert([record("/p/a.jpg"), record("/p/b.jpg")])
    assert index.delete(["/p/a.jpg", "/p/zzz.jpg"]) == 1
    assert index.paths() == ["/p/b.jpg"]


def test_folder_range_excludes_siblings_and_treats_wildcards_literally():
    lo, hi = folder_range("/a/b")
    assert lo <= "/a/b/x.jpg" < hi and lo <= "/a/b/deep/x.jpg" < hi
    assert not lo <= "/a/bc/x.jpg" < hi and not lo <= "/a/b" < hi
    lo, hi = folder_range("/a/100%_x/")
    assert lo <= "/a/100%_x/p.jpg" < hi and not lo <= "/a/100%zx/p.jpg" < hi


def test_paths_under_a_folder(index):
    index.upsert([record(p) for p in ("/a/b/1.jpg", "/a/b/c/2.jpg", "/a/bc/3.jpg", "/a/b_/4.jpg")])
    assert index.paths("/a/b") == ["/a/b/1.jpg", "/a/b/c/2.jpg"]
    assert index.paths("/a/b_") == ["/a/b_/4.jpg"]


def test_paths_are_read_page_by_page(index):
    index.upsert(record(f"/a/{i:02d}.jpg") for i in range(23))
    index.upsert([record("/b/x.jpg")])
    assert (
        list(index._iter_paths(None, page=5))
        == index.paths()
        == [
            *(f"/a/{i:02d}.jpg" for i in range(23)),
            "/b/x.jpg",
        ]
    )
    assert list(index._iter_paths("/a", page=5)) == [f"/a/{i:02d}.jpg" for i in range(23)]


# ---- roots and pruning ---------------------------------------------------------------------------


def test_roots_are_absolute_and_unique(index, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert index.add_root("pics") == str(tmp_path / "pics")
    index.add_root(tmp_path / "pics")
    index.add_root("/elsewhere")
    assert index.roots() == sorted([str(tmp_path / "pics"), "/elsewhere"])
    assert index.remove_root("pics") and not index.remove_root("pics")
    assert index.roots() == ["/elsewhere"]
    assert index.stats().roots == 1


def test_prune_removes_rows_of_deleted_files_only(index, tmp_path):
    keep = photo_file(tmp_path / "lib" / "keep.jpg")
    gone = photo_file(tmp_path / "lib" / "gone.jpg")
    other = photo_file(tmp_path / "other" / "gone-too.jpg")
    index.upsert([keep, gone, other])
    index.add_root(tmp_path / "lib")
    os.remove(gone.path)
    os.remove(other.path)

    report = index.prune(under=tmp_path / "lib")
    assert report.removed == (gone.path,)
    assert index.paths() == sorted([keep.path, other.path])
    assert index.prune().removed == (other.path,)


def test_prune_keeps_rows_of_a_root_that_is_not_mounted(index, tmp_path):
    drive = tmp_path / "usb-drive"
    photo = photo_file(drive / "a.jpg")
    index.upsert([photo])
    index.add_root(drive)
    (drive / "a.jpg").unlink()
    drive.rmdir()  # the whole drive is gone: unmounted, not emptied
    report = index.prune()
    assert report.removed == () and report.unavailable_roots == (str(drive),)
    assert index.count() == 1


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
