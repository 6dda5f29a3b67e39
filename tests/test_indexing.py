"""photocap.indexing.run on real files and a real index: every format and broken file, incremental
reruns, moves, human captions, stops and interrupts.

Most tests caption with `ColourCaptioner` (tests/indexing_helpers.py), a stand-in whose caption
names the colour of the photo's top-left corner as the model saw it: that makes orientation, first
frames, CMYK, 16-bit and transparency visible in the caption. The tiny real model runs in
tests/test_cli_index.py.
"""

from __future__ import annotations

import builtins
import io
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pillow_heif
import pytest
import torch
from cli_helpers import REPO
from index_helpers import rows
from indexing_helpers import (
    COLOURS,
    SIZE,
    ColourCaptioner,
    Factory,
    build_broken,
    build_photos,
    colour_prepare,
    displayed,
    run,
    sha256,
    tree,
)
from photo_helpers import without_file_permission_override
from PIL import Image

from photocap.indexing import (
    CHUNK,
    IndexOptions,
    IndexRun,
    PhotoOutcome,
    Preparation,
    model_preparation,
)
from photocap.metadata import read_caption, sidecar_path
from photocap.store.index import PhotoRecord, open_index

pillow_heif.register_heif_opener()  # to write HEIC test files


@pytest.fixture
def library(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    root = tmp_path / "Pictures"
    return root, build_photos(root)


# ---------------------------------------------------------------- one run over everything


def test_every_format_and_broken_file_end_to_end(tmp_path: Path, library, index, db) -> None:
    root, expected = library
    broken = build_broken(root)
    outcomes: list[PhotoOutcome] = []
    factory = Factory()
    summary = without_file_permission_override(
        lambda: run(index, [root], factory, outcomes, workers=2, batch_size=3)
    )

    assert factory.calls == 1
    assert summary.found == len(expected) + len(broken) == len(outcomes)
    assert summary.captioned == len(expected) and summary.unchanged == 0
    assert {Path(p).relative_to(root).as_posix() for p in summary.failed} == set(broken)
    for name, reason in broken.items():
        assert reason in summary.failed[str(root / name)], (name, summary.failed[str(root / name)])
    captions = {Path(o.path).relative_to(root).as_posix(): o.caption for o in outcomes}
    assert {n: captions[n] for n in expected} == {n: f"A {c} corner." for n, c in expected.items()}

    stored = rows(db)
    assert set(stored) == {str(root / n) for n in [*expected, *broken]}  # no hidden, no loop copies
    for name, colour in expected.items():
        path, row = root / name, stored[str(root / name)]
        assert (row["status"], row["source"], row["model_id"]) == ("ok", "model", "colour-test")
        assert row["caption"] == f"A {colour} corner."
        assert (row["width"], row["height"]) == SIZE, name  # after EXIF orientation
        assert row["sha256"] == sha256(path) and row["size"] == path.stat().st_size
        found = read_caption(path)
        assert found is not None and (found.text, found.source) == (row["caption"], "model")
        jpeg = path.read_bytes()[:3] == b"\xff\xd8\xff"
        assert found.location == (path if jpeg else sidecar_path(path)), name
        assert sidecar_path(path).exists() != jpeg
    assert summary.embedded == 6 and summary.sidecar == len(expected) - 6
    for name, reason in broken.items():
        row = stored[str(root / name)]
        assert row["status"] == "error" and reason in row["error"] and row["caption"] is None
        assert not sidecar_path(root / name).exists()

    with sqlite3.connect(db) as conn:  # the FTS5 table (porter) finds every caption
        hits = conn.execute("SELECT count(*) FROM photos_fts WHERE photos_fts MATCH 'corners'")
        assert hits.fetchone()[0] == len(expected)
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


# ---------------------------------------------------------------- incremental


def test_second_run_opens_no_file_and_loads_no_model(library, index, monkeypatch) -> None:
    root, expected = library
    assert run(index, [root]).captioned == len(expected)

    opened: list[str] = []
    real_open, real_os_open = builtins.open, os.open

    def spy_open(file, *args, **kwargs):
        opened.append(os.fspath(file) if isinstance(file, (str, os.PathLike)) else repr(file))
        return real_open(file, *args, **kwargs)

    def spy_os_open(file, *args, **kwargs):
        opened.append(os.fspath(file))
        return real_os_open(file, *args, **kwargs)

    outcomes: list[PhotoOutcome] = []
    with monkeypatch.context() as patch:
        patch.setattr(builtins, "open", spy_open)
        patch.setattr(io, "open", spy_open)
        patch.setattr(os, "open", spy_os_open)
        summary = run(index, [root], Factory(fail=True), outcomes)

    assert summary.unchanged == len(expected) and summary.captioned == 0 and not summary.failed
    assert {o.outcome for o in outcomes} == {"unchanged"}
    assert [p for p in opened if p.startswith(str(root))] == [str(root / "notes.txt")]  # sniffed


def test_touched_photo_is_hashed_not_captioned(library, index, db) -> None:
    root, _ = library
    run(index, [root])
    photo = root / "photo.png"
    os.utime(photo, ns=(photo.stat().st_atime_ns, photo.stat().st_mtime_ns + 5_000_000_000))
    factory = Factory()
    summary = run(index, [root], factory)
    assert summary.captioned == 0 and factory.captioner.photos == 0
    assert rows(db)[str(photo)]["mtime_ns"] == photo.stat().st_mtime_ns  # remembered: no rehash


def test_changed_photo_is_captioned_again(library, index, db) -> None:
    root, expected = library
    run(index, [root])
    photo = root / "plain.jpg"
    displayed("green").save(photo, quality=92)  # edited: now green in the corner
    outcomes: list[PhotoOutcome] = []
    summary = run(index, [root], outcomes=outcomes)
    assert summary.captioned == 1 and summary.unchanged == len(expected) - 1
    assert [o.path for o in outcomes if o.outcome == "captioned"] == [str(photo)]
    assert rows(db)[str(photo)]["caption"] == "A green corner." == read_caption(photo).text
    assert rows(db)[str(photo)]["sha256"] == sha256(photo)


def test_moved_photo_keeps_its_row_and_its_sidecar_is_written_again(library, index, db) -> None:
    root, expected = library
    run(index, [root])
    before = rows(db)
    (root / "moved").mkdir()
    jpeg, png = root / "moved" / "renamed.jpg", root / "moved" / "photo.png"
    os.rename(root / "plain.jpg", jpeg)
    os.rename(root / "photo.png", png)  # its sidecar stays behind
    factory = Factory()
    outcomes: list[PhotoOutcome] = []
    summary = run(index, [root], factory, outcomes)

    assert summary.moved == 2 and summary.captioned == 0 and factory.captioner.photos == 0
    moves = {o.moved_from: o for o in outcomes if o.outcome == "moved"}
    assert moves[str(root / "plain.jpg")].path == str(jpeg)
    assert moves[str(root / "photo.png")].written == "sidecar"
    after = rows(db)
    assert str(root / "plain.jpg") not in after and str(root / "photo.png") not in after
    for old, new in ((root / "plain.jpg", jpeg), (root / "photo.png", png)):
        assert after[str(new)]["id"] == before[str(old)]["id"]  # the same row
        assert after[str(new)]["caption"] == before[str(old)]["caption"]
    assert read_caption(png).text == "A green corner." and sidecar_path(png).exists()
    assert read_caption(jpeg).location == jpeg
    assert len(after) == len(expected)


def test_prune_removes_rows_of_deleted_photos_only_when_asked(library, index, db) -> None:
    root, expected = library
    run(index, [root])
    (root / "photo.bmp").unlink()
    run(index, [root])
    assert str(root / "photo.bmp") in rows(db)
    indexed_run = IndexRun(index, Factory(), IndexOptions(workers=0))
    indexed_run.run([root])
    assert indexed_run.prune([root]) == 1
    assert str(root / "photo.bmp") not in rows(db) and len(rows(db)) == len(expected) - 1


def test_human_caption_is_indexed_and_kept_unless_overwrite(tmp_path: Path, index, db) -> None:
    root = tmp_path / "family"
    root.mkdir()
    photo = root / "sled.jpg"
    exif = Image.Exif()
    exif[0x010E] = "Two kids on a red sled"  # ImageDescription, written by a person
    displayed("blue").save(photo, exif=exif, quality=90)
    original = photo.read_bytes()

    summary = run(index, [root])
    assert summary.human == 1 and summary.captioned == 0
    row = rows(db)[str(photo)]
    assert (row["caption"], row["source"]) == ("Two kids on a red sled", "human")
    assert photo.read_bytes() == original
    assert run(index, [root]).unchanged == 1

    summary = run(index, [root], overwrite=True)  # also replaces a human caption already indexed
    assert summary.captioned == 1
    row = rows(db)[str(photo)]
    assert (row["caption"], row["source"]) == ("A blue corner.", "model")
    found = read_caption(photo)
    assert (found.text, found.source) == ("A blue corner.", "model")


def test_photocap_caption_from_another_index_is_reused(library, tmp_path: Path) -> None:
    root, expected = library
    with open_index(tmp_path / "first.db") as first:
        run(first, [root])
    factory = Factory()
    with open_index(tmp_path / "second.db") as second:
        summary = run(second, [root], factory)
    assert summary.reused == len(expected) and summary.captioned == 0 and factory.calls == 0
    assert rows(tmp_path / "second.db")[str(root / "plain.jpg")]["caption"] == "A red corner."


def test_broken_files_fail_again_without_loading_the_model(tmp_path: Path, index) -> None:
    root = tmp_path / "Pictures"
    root.mkdir()
    broken = build_broken(root)
    (root / "unreadable.jpg").unlink()  # root reads it anyway; tested above
    del broken["unreadable.jpg"]
    first = run(index, [root])
    assert set(first.failed) == {str(root / n) for n in broken}
    factory = Factory(fail=True)
    again = run(index, [root], factory)
    assert again.failed == first.failed and factory.calls == 0


def test_content_decides_a_png_named_jpg_is_captioned(tmp_path: Path, index, db) -> None:
    root = tmp_path / "Pictures"
    root.mkdir()
    displayed("green").save(root / "screenshot.jpg", format="PNG")
    summary = run(index, [root], write="none")
    assert summary.captioned == 1 and rows(db)[str(root / "screenshot.jpg")]["status"] == "ok"
    # writing into a file whose name lies is refused by the metadata writer, with a hint
    (root / "other.jpg").write_bytes((root / "screenshot.jpg").read_bytes() + b"\0")
    summary = run(index, [root])
    reason = summary.failed[str(root / "other.jpg")]
    assert "caption not written" in reason and "png" in reason.lower()
    assert rows(db)[str(root / "other.jpg")]["caption"] == "A green corner."


# ---------------------------------------------------------------- stopping and resuming


def test_stopped_run_resumes_with_exactly_the_rest(tmp_path: Path, index, db) -> None:
    root = tmp_path / "many"
    root.mkdir()
    for i in range(30):
        displayed(list(COLOURS)[i % 3]).save(root / f"{i:02d}.png")
    done: list[str] = []

    def on_photo(outcome: PhotoOutcome) -> None:
        done.append(outcome.path)

    first = IndexRun(
        index,
        Factory(),
        IndexOptions(workers=0, batch_size=4),
        on_photo=on_photo,
        should_stop=lambda: len(done) >= 10,
    ).run([root])
    # whole batches only; the batch being written when the stop came is finished too
    assert first.captioned in (12, 16) and not first.interrupted
    assert set(rows(db)) == set(done)
    outcomes: list[PhotoOutcome] = []
    second = run(index, [root], outcomes=outcomes)
    assert second.unchanged == first.captioned and second.captioned == 30 - first.captioned
    captioned = {o.path for o in outcomes if o.outcome == "captioned"}
    assert captioned == {str(p) for p in root.iterdir() if p.suffix == ".png"} - set(done)


def test_keyboard_interrupt_keeps_committed_batches(tmp_path: Path, index, db) -> None:
    root = tmp_path / "many"
    root.mkdir()
    for i in range(20):
        displayed("red").save(root / f"{i:02d}.jpg")
    seen = 0

    def on_photo(outcome: PhotoOutcome) -> None:
        nonlocal seen
        seen += 1
        if seen == 10:  # while the third batch of 4 is reported
            raise KeyboardInterrupt

    interrupted = IndexRun(index, Factory(), IndexOptions(workers=0, batch_size=4), on_photo)
    with pytest.raises(KeyboardInterrupt):
        interrupted.run([root])
    assert interrupted.summary.interrupted
    assert len(rows(db)) == 12  # three batches: each is committed before it is reported
    summary = run(index, [root])
    assert (summary.unchanged, summary.reused, summary.captioned) == (12, 0, 8)
    assert all(r["status"] == "ok" for r in rows(db).values()) and len(rows(db)) == 20


def test_dry_run_writes_nothing(library, index, db) -> None:
    root, expected = library
    before = tree(root)
    outcomes: list[PhotoOutcome] = []
    summary = run(index, [root], outcomes=outcomes, dry_run=True)
    assert summary.captioned == len(expected)
    assert {o.written for o in outcomes} == {"none"}
    assert rows(db) == {} and index.roots() == []
    assert tree(root) == before  # no photo touched, no sidecar made


def test_memory_stays_bounded_discovery_is_consumed_in_chunks(tmp_path: Path, index) -> None:
    """Planning holds at most one chunk of vouched-for paths, whatever the library size."""
    root = tmp_path / "many"
    root.mkdir()
    records = []
    for i in range(CHUNK * 3 + 7):
        path = root / f"{i:04d}.png"
        path.write_bytes(b"")
        st = path.stat()
        records.append(
            PhotoRecord(str(path), st.st_size, st.st_mtime_ns, caption="A photo.", labels=())
        )
    index.upsert(records)
    sizes: list[int] = []
    indexed_run = IndexRun(index, Factory(fail=True), IndexOptions(workers=0))
    # after each discovered chunk, before it is planned: the most it ever holds
    indexed_run.on_found = lambda _found: sizes.append(len(indexed_run.planner._vouched))
    summary = indexed_run.run([root])
    assert summary.unchanged == CHUNK * 3 + 7
    assert 0 < max(sizes) <= CHUNK


def test_rerun_path_never_imports_torch(library, db) -> None:
    root, expected = library
    with open_index(db) as index:
        run(index, [root])
    code = f"""
import sys
from photocap.store.index import open_index
from photocap.indexing import IndexOptions, IndexRun
def no_model():
    raise SystemExit("the model was loaded")
with open_index({str(db)!r}) as index:
    summary = IndexRun(index, no_model, IndexOptions()).run([{str(root)!r}])
assert summary.unchanged == {len(expected)}, summary
assert "torch" not in sys.modules, "torch imported"
print("ok")
"""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


def test_run_files_plans_exactly_the_given_files(library, index, db) -> None:
    root, _ = library
    files = [root / "plain.jpg", root / "photo.png", root / "gone.jpg"]
    summary = IndexRun(index, Factory(), IndexOptions(workers=0)).run_files(files)
    assert summary.captioned == 2 and set(rows(db)) == {str(files[0]), str(files[1])}
    assert "gone.jpg" in next(iter(summary.failed))


def test_copying_the_library_keeps_working(tmp_path: Path, library, index) -> None:
    """A copy (same bytes, both paths exist) is not a move: the copy is indexed on its own."""
    root, expected = library
    run(index, [root])
    copy = tmp_path / "copy"
    shutil.copytree(root, copy, ignore=shutil.ignore_patterns("loop", "self"))
    summary = run(index, [copy])
    assert summary.moved == 0 and summary.reused + summary.captioned == len(expected)


# ---------------------------------------------------------------- decoding while the model loads


def other_prepare(image: Image.Image) -> torch.Tensor:
    return colour_prepare(image) * 0  # a different transform: every corner would be black


@pytest.mark.parametrize("workers", [0, 2])
def test_photos_decode_while_the_model_loads(library, index, db, workers: int) -> None:
    root, expected = library
    order: list[str] = []

    def preparation() -> Preparation:
        order.append("preparation")
        return Preparation(colour_prepare, 224)

    def factory() -> ColourCaptioner:
        order.append("model")
        return ColourCaptioner()

    summary = IndexRun(
        index, factory, IndexOptions(workers=workers, batch_size=4), preparation=preparation
    ).run([root])
    assert order == ["preparation", "model"]
    assert summary.captioned == len(expected)
    assert {r["caption"] for r in rows(db).values()} == {
        f"A {c} corner." for c in expected.values()
    }


def test_a_wrong_early_preparation_is_redone_with_the_model_own(library, index, db) -> None:
    root, expected = library
    summary = IndexRun(
        index,
        Factory(),
        IndexOptions(workers=0, batch_size=4),
        preparation=lambda: Preparation(other_prepare, 224),
    ).run([root])
    assert summary.captioned == len(expected)
    assert rows(db)[str(root / "plain.jpg")]["caption"] == "A red corner."  # not "black"


def test_model_preparation_reads_what_the_loaded_model_will_do(tiny_model: Path) -> None:
    from photocap.captioner import load_captioner
    from photocap.indexing.model_input import same_preparation

    early = model_preparation(tiny_model, "cpu")
    captioner = load_captioner(tiny_model, "cpu")
    assert same_preparation(early, captioner) and not early.pin_memory
    assert not same_preparation(Preparation(other_prepare, early.min_side), captioner)


@pytest.mark.parametrize("write", ["none", "sidecar", "embed"])
def test_every_row_gets_the_hash_of_the_photo_as_left(library, index, db, write) -> None:
    """A first run hashes a photo once, after writing (no indexed photo shares its size), and
    each captioned row holds the hash of the bytes on disk whatever was written."""
    root, expected = library
    run(index, [root], write=write)
    stored = [rows(db)[str(root / name)] for name in expected]
    captioned = [row for row in stored if row["status"] == "ok"]
    assert len(captioned) >= 6  # embed: the formats that cannot hold XMP fail, the rest not
    for row in captioned:
        assert row["sha256"] == sha256(Path(row["path"])), (write, row["path"])
