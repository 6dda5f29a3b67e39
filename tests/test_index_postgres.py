"""The index on a real PostgreSQL server (started by the tests): schema, migrations, writes, moves,
pruning, errors, locking, `photocap index` and `photocap search`, and two indexers at once."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy.exc
from cli_helpers import photocap
from sqlalchemy import create_engine, inspect, text

from photocap.errors import IndexDatabaseError
from photocap.store import engine as engine_module
from photocap.store import index as index_module
from photocap.store import postgres
from photocap.store import schema as index_schema
from photocap.store.index import PhotoRecord, StoredLabel, open_index
from photocap.store.schema import metadata
from photocap.store.search import search

REPO = Path(__file__).resolve().parents[1]


def record(path: str | Path, caption: str | None = "a cat on a mat", **fields) -> PhotoRecord:
    return PhotoRecord(path=str(path), size=10, mtime_ns=1, caption=caption, **fields)


def sql(url: str, statement: str, **params):
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            result = conn.execute(text(statement), params)
            return result.all() if result.returns_rows else None
    finally:
        engine.dispose()


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


def test_search_on_a_database_without_an_index_says_how_to_build_one(postgres_url):
    from click.testing import CliRunner

    from photocap.cli import cli

    result = CliRunner().invoke(cli, ["search", "dog", "--db", postgres_url])
    assert result.exit_code == 1 and "no photocap index in" in result.stderr
    assert "photocap index PATH" in result.stderr
    assert sql(postgres_url, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") == [(0,)]


def test_newer_database_is_refused(postgres_url):
    open_index(postgres_url).close()
    sql(postgres_url, "UPDATE photocap_meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(IndexDatabaseError, match="schema version 99, newer"):
        open_index(postgres_url)


def test_someone_elses_database_is_refused(postgres_url):
    sql(postgres_url, "CREATE TABLE invoices (id INTEGER)")
    with pytest.raises(IndexDatabaseError, match="not a photocap index"):
        open_index(postgres_url)


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


# ---- writes and reads ---------------------------------------------------------------------------


def test_upsert_round_trips_every_field(index):
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
    index.upsert([written])
    stored = index.get("/p/a.jpg")
    assert replace(stored, indexed_at=None) == written
    assert datetime.now(timezone.utc) - stored.indexed_at < timedelta(minutes=1)


def test_upsert_replaces_by_path_and_the_tsvector_follows(index):
    index.upsert([record("/p/a.jpg", "a red kite"), record("/p/b.jpg", "a red kite")])
    index.upsert([record("/p/a.jpg", "a green boat")])
    assert index.count() == 2
    assert [h.path for h in search(index, "kite").hits] == ["/p/b.jpg"]
    assert [h.path for h in search(index, "boats").hits] == ["/p/a.jpg"]
    index.delete(["/p/b.jpg"])
    assert search(index, "kite").hits == ()


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


def test_moves_deletes_and_folders(index, tmp_path):
    index.upsert([record(p) for p in ["/a/b/1.jpg", "/a/b/c/2.jpg", "/a/bc/3.jpg", "/a/b_/4.jpg"]])
    assert index.paths("/a/b") == ["/a/b/1.jpg", "/a/b/c/2.jpg"]
    assert index.paths("/a/b_") == ["/a/b_/4.jpg"]
    assert index.move("/a/b/1.jpg", "/x/1.jpg") and not index.move("/nope.jpg", "/x/2.jpg")
    index.upsert([record("/y/c/2.jpg", "old row at the target")])
    assert index.move_folder("/a/b", "/y") == 1
    assert index.paths() == ["/a/b_/4.jpg", "/a/bc/3.jpg", "/x/1.jpg", "/y/c/2.jpg"]
    assert index.get("/y/c/2.jpg").caption == "a cat on a mat"
    assert index.delete(["/x/1.jpg", "/nope.jpg"]) == 1


def test_paths_sort_byte_wise_whatever_the_database_collation(index):
    paths = ["/p/B.jpg", "/p/a.jpg", "/p/_.jpg", "/p/é.jpg", "/p/Z/1.jpg", "/p/z.jpg"]
    index.upsert([record(p) for p in paths])
    assert index.paths() == sorted(paths)
    assert index.paths("/p/Z") == ["/p/Z/1.jpg"]


def test_prune_and_roots(index, tmp_path):
    kept = tmp_path / "kept.jpg"
    kept.write_bytes(b"x")
    index.upsert([record(kept), record(tmp_path / "gone.jpg")])
    assert index.add_root(tmp_path) == str(tmp_path)
    index.add_root(tmp_path)  # again: still one
    assert index.roots() == [str(tmp_path)]
    report = index.prune()
    assert report.removed == (str(tmp_path / "gone.jpg"),) and index.paths() == [str(kept)]
    assert index.stats().roots == 1 and index.stats().photos == 1
    index.rebuild_fts()
    index.optimize()
    assert [h.path for h in search(index, "cat").hits] == [str(kept)]


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


# ---- the CLI, and two indexers at once -----------------------------------------------------------


def photos(folder: Path, count: int, start: int = 0) -> list[Path]:
    import numpy as np
    from PIL import Image
    from skimage import data

    folder.mkdir(parents=True, exist_ok=True)
    source = data.astronaut()
    rng = np.random.default_rng(start)
    made = []
    for i in range(start, start + count):
        top, left = (int(v) for v in rng.integers(0, 300, size=2))
        path = folder / f"photo {i:03d}.jpg"
        Image.fromarray(source[top : top + 120, left : left + 160]).save(path, quality=85)
        made.append(path)
    return made


@pytest.mark.slow
def test_cli_index_and_search_on_postgres(tmp_path, tiny_model, postgres_url):
    made = photos(tmp_path / "Pictures", 4)
    done = photocap(
        "index", tmp_path / "Pictures", "--db", postgres_url, "--model", tiny_model,
        "--workers", "0", "--write", "none", "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["captioned"] == 4
    with open_index(postgres_url) as index:
        stored = index.lookup(made)
    assert len(stored) == 4 and all(r.caption and r.source == "model" for r in stored.values())
    words = {p: set(re.findall(r"\w+", r.caption.lower())) for p, r in stored.items()}
    word = max(next(iter(words.values())), key=len)  # a word of the first caption
    found = photocap("search", word, "--paths", "--db", postgres_url)
    assert found.returncode == 0, found.stderr
    expected = {p for p, held in words.items() if word in held}
    assert expected and set(found.stdout.splitlines()) == expected
    again = photocap(
        "index", tmp_path / "Pictures", "--model", "/nowhere.safetensors", "--json",
        "--write", "none", env={"PHOTOCAP_DB": postgres_url},
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["unchanged"] == 4


@pytest.mark.slow
def test_two_indexers_on_one_database_at_once(tmp_path, tiny_model, postgres_url):
    """Two `photocap index` processes over overlapping folders, started together on a new
    database (both migrate it): each photo ends up with exactly one row and its caption."""
    root = tmp_path / "Pictures"
    made = photos(root / "a", 10, 0) + photos(root / "b", 10, 10) + photos(root / "c", 10, 20)
    common = ["--db", postgres_url, "--model", tiny_model, "--workers", "0", "--write", "none"]
    common += ["--batch-size", "2", "--json"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "photocap", "index", *map(str, [*folders, *common])],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for folders in ([root / "a", root / "b"], [root / "c", root / "b", root / "a"])
    ]
    outputs = [proc.communicate(timeout=600) for proc in procs]
    for proc, (out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err
        assert json.loads(out)["failed"] == {}
    rows = sql(postgres_url, "SELECT path, caption FROM photos ORDER BY path")
    assert [path for path, _ in rows] == sorted(map(str, made))  # one row each, none lost
    assert all(caption for _, caption in rows)
    assert sql(postgres_url, "SELECT path FROM roots ORDER BY path") == [
        (str(root / f),) for f in "abc"
    ]


@pytest.mark.slow
def test_watch_keeps_a_postgres_index_in_step(tmp_path, tiny_model, postgres_url):
    """`photocap watch --db postgresql+psycopg://…`: a new photo is captioned into the database,
    a rename moves its row, a delete removes it."""
    from test_watch import Daemon

    root = tmp_path / "photos"
    root.mkdir()
    [staged] = photos(tmp_path / "staged", 1)
    unused = tmp_path / "unused.db"  # Daemon's own --db, overridden by the later one
    daemon = Daemon(root, unused, tiny_model, "--write", "none", "--db", postgres_url)
    try:
        daemon.wait_for("caught-up")
        first = root / "first.jpg"
        shutil.copyfile(staged, first)
        event = daemon.wait_for("captioned", first)
        with open_index(postgres_url) as index:
            before = index.get(first)
        assert before.caption == event["caption"]
        renamed = root / "renamed.jpg"
        first.rename(renamed)
        daemon.wait_for("moved", renamed)
        with open_index(postgres_url) as index:
            after = index.get(renamed)
            assert index.get(first) is None and after.indexed_at == before.indexed_at
        renamed.unlink()
        daemon.wait_for("deleted", renamed)
        with open_index(postgres_url) as index:
            assert index.count() == 0 and index.roots() == [str(root)]
    finally:
        assert daemon.stop() == 0, daemon.stderr()
    assert not unused.exists()


@pytest.mark.slow
def test_review_and_train_from_index_on_postgres(postgres_url, tiny_model, tmp_path):
    """The review page's API corrects a caption in a PostgreSQL index (the photo holds it as a
    person's, search finds it), and `train --from-index` reads the correction from there."""
    from PIL import Image
    from review_helpers import photo_id, start_review
    from skimage import data

    from photocap.metadata import read_caption

    library = tmp_path / "library"
    library.mkdir()
    for name in ("chelsea", "astronaut", "camera", "coffee"):
        Image.fromarray(getattr(data, name)()).convert("RGB").save(library / f"{name}.jpg")
    args = ("--db", postgres_url, "--model", tiny_model, "--workers", "0", "--min-confidence", "0")
    done = photocap("index", library, *args)
    assert done.returncode == 0, done.stderr

    server = start_review(postgres_url, tmp_path / "cache")
    try:
        pid = photo_id(server, "chelsea.jpg")
        status, after = server.json("PATCH", f"/api/photos/{pid}", body={"caption": "A cat."})
        assert status == 200 and after["source"] == "human", after
        status, listed = server.json("GET", "/api/photos?q=cat&source=human")
        assert status == 200 and [p["id"] for p in listed["photos"]] == [pid]
    finally:
        assert server.stop() == 0
    assert read_caption(library / "chelsea.jpg").source == "human"
    found = photocap("search", "cat", "--db", postgres_url, "--json")
    assert json.loads(found.stdout)[0]["path"] == str(library / "chelsea.jpg")

    trained = photocap(
        "train", "--from-index", "--db", postgres_url, "--out", tmp_path / "m.safetensors",
        "--epochs", "1", "--min-steps", "1", "--keep-worse", "--device", "cpu", "--workers", "0",
    )  # fmt: skip
    # one corrected photo is too few to train on: said plainly, after reading it from PostgreSQL
    assert trained.returncode == 1 and "holds 1 photo(s)" in trained.stderr, trained.stderr
