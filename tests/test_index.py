"""The index (photocap.store.index) through its API, each test on a real SQLite file and on a real
PostgreSQL database (started by the tests): records, moves, folders, roots and pruning, errors.
What only one database does is in test_index_sqlite.py and test_index_postgres.py."""

from __future__ import annotations

import hashlib
import os
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from index_helpers import record, sql

from photocap.errors import IndexDatabaseError, PhotocapError
from photocap.store.index import PhotoRecord, StoredLabel, folder_range, open_index
from photocap.store.search import search


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request, tmp_path: Path) -> Path | str:
    """A new index's SQLite file (in folders that do not exist yet), or a new PostgreSQL
    database's URL; conftest's `index` opens it."""
    if request.param == "postgresql":
        return request.getfixturevalue("postgres_url")
    return tmp_path / "nested" / "folder" / "index.db"


def photo_file(path: Path, content: bytes = b"\xff\xd8 not really a jpeg") -> PhotoRecord:
    """Writes a file and returns a record describing it as the index pipeline would."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    st = path.stat()
    sha = hashlib.sha256(content).hexdigest()
    return PhotoRecord(path=str(path), size=st.st_size, mtime_ns=st.st_mtime_ns, sha256=sha)


# ---- opening -----------------------------------------------------------------------------------


def test_newer_database_is_refused(db):
    open_index(db).close()
    sql(db, "UPDATE photocap_meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(IndexDatabaseError, match="schema version 99, newer") as info:
        open_index(db)
    assert "upgrade photocap" in str(info.value)


def test_someone_elses_database_is_refused(db):
    sql(db, "CREATE TABLE invoices (id INTEGER)")
    with pytest.raises(IndexDatabaseError, match="not a photocap index"):
        open_index(db)


def test_other_database_kinds_are_refused():
    with pytest.raises(IndexDatabaseError, match="needs SQLite FTS5 or PostgreSQL"):
        open_index("mysql://localhost/photos")


# ---- records --------------------------------------------------------------------------------------


def test_upsert_round_trips_every_field(index):
    before = datetime.now(timezone.utc)
    written = PhotoRecord(
        path="/p/a.jpg",
        size=2**40,
        mtime_ns=2**62,
        sha256="ab" * 32,
        sidecar_mtime_ns=123,
        width=4000,
        height=3000,
        caption="A dog runs",
        source="model",
        model_id="m1",
        score=-0.5,
        confidence=0.25,
        held_back=True,
        labels=(StoredLabel(207, "golden retriever", 0.9),),
        label_words="dog retriever",
        status="ok",
    )
    assert index.upsert([written]) == 1
    stored = index.get("/p/a.jpg")
    assert replace(stored, indexed_at=None) == written
    assert before - timedelta(seconds=1) <= stored.indexed_at <= datetime.now(timezone.utc)
    assert stored.indexed_at.tzinfo is timezone.utc


def test_is_empty_until_a_photo_is_indexed_and_again_once_it_is_gone(index):
    assert index.is_empty() and index.count() == 0
    index.upsert([record("/p/a.jpg", "a black cat")])
    assert not index.is_empty() and index.count() == 1
    index.delete(["/p/a.jpg"])
    assert index.is_empty()


def test_upsert_replaces_by_path_and_search_follows(index):
    index.upsert([record("/p/a.jpg", "a black cat"), record("/p/b.jpg", "a red kite")])
    index.upsert([record("/p/a.jpg", "a white horse", source="human")])
    assert index.count() == 2
    assert (index.get("/p/a.jpg").caption, index.get("/p/a.jpg").source) == (
        "a white horse",
        "human",
    )
    assert search(index, "cat").hits == ()
    assert [h.path for h in search(index, "horses").hits] == ["/p/a.jpg"]
    index.delete(["/p/b.jpg"])
    assert search(index, "kite").hits == ()


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


def test_move_onto_an_indexed_path_replaces_it(index):
    index.upsert([record("/p/a.jpg", caption="a tabby cat"), record("/p/b.jpg", caption="a dog")])
    assert index.move("/p/a.jpg", "/p/b.jpg")
    assert index.count() == 1
    assert index.get("/p/b.jpg").caption == "a tabby cat"
    assert search(index, "dog").hits == ()


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


def test_paths_sort_byte_wise_whatever_the_database_collation(index):
    paths = ["/p/B.jpg", "/p/a.jpg", "/p/_.jpg", "/p/é.jpg", "/p/Z/1.jpg", "/p/z.jpg"]
    index.upsert([record(p) for p in paths])
    assert index.paths() == sorted(paths)
    assert index.paths("/p/Z") == ["/p/Z/1.jpg"]


# ---- roots, pruning, the full-text index ----------------------------------------------------------


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


def test_rebuild_fts_and_optimize_keep_search_working(index):
    index.upsert([record("/p/a.jpg", "a lighthouse at dusk"), record("/p/b.jpg", "a cat")])
    index.rebuild_fts()
    index.optimize()
    assert [h.path for h in search(index, "lighthouse").hits] == ["/p/a.jpg"]
