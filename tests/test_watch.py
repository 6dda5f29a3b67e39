"""`photocap watch`: the real daemon in a subprocess, driven by real filesystem events and signals.

The daemon runs with `--json -v`; its stdout (one JSON object per event) is read by a thread, and
the tests wait on those events with timeouts. Each test works in its own folder.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import pytest
from click.testing import CliRunner
from PIL import Image
from watch_helpers import (
    Daemon,
    event_time,
    first_word,
    make_photos,
    search_paths,
    sha256,
    wait_written,
)

from photocap.cli import cli
from photocap.metadata import read_caption, sidecar_path
from photocap.store.index import open_index

REPO = Path(__file__).resolve().parents[1]
TIMEOUT = float(os.environ.get("PHOTOCAP_TEST_TIMEOUT", "90"))

slow = pytest.mark.slow


@pytest.fixture(scope="module")
def staged(tmp_path_factory, real_photos) -> SimpleNamespace:
    """Photos made once, outside any watched folder, copied in by the tests."""
    base = tmp_path_factory.mktemp("staged")
    return SimpleNamespace(
        burst=make_photos(real_photos, base / "burst", 50, "burst"),
        few=make_photos(real_photos, base / "few", 6, "few"),
        png=_png(real_photos, base),
    )


def _png(real_photos, base: Path) -> Path:
    path = base / "screenshot.png"
    Image.open(real_photos["coffee"]).convert("RGB").resize((300, 200)).save(path)
    return path


@pytest.fixture(scope="module")
def watched(tmp_path_factory, tiny_model):
    """One daemon shared by the tests that do not restart it; stopped (exit 0) at the end."""
    base = tmp_path_factory.mktemp("watched")
    root = base / "photos"
    root.mkdir()
    daemon = Daemon(root, base / "index.db", tiny_model)
    daemon.wait_for("caught-up")
    yield SimpleNamespace(root=root, base=base, db=base / "index.db", daemon=daemon)
    assert daemon.stop() == 0, daemon.stderr()


# ---------------------------------------------------------------- one daemon, several stories


@slow
def test_slow_copy_is_captioned_once_after_close_and_found_by_search(watched, staged):
    daemon, folder = watched.daemon, watched.root / "slow"
    folder.mkdir()
    data = staged.few[0].read_bytes()
    target = folder / "arriving.jpg"
    pieces = 10
    with open(target, "wb") as f:  # written in chunks over a second, like a download
        for i in range(pieces):
            f.write(data[i * len(data) // pieces : (i + 1) * len(data) // pieces])
            f.flush()
            time.sleep(0.1)
        assert not daemon.of("captioned", path=target) and not daemon.of("failed", path=target)
    closed = time.time()

    event = wait_written(daemon, target)
    assert event_time(event) >= closed - 0.002  # not before the file was complete
    assert event["written"] == "embedded"
    assert len(daemon.of("captioned", path=target)) == 1
    assert not daemon.of("failed", path=target)
    assert read_caption(target).text == event["caption"]
    with open_index(str(watched.db)) as index:
        row = index.get(target)
    assert row.caption == event["caption"]
    assert (row.size, row.sha256) == (target.stat().st_size, sha256(target))
    assert str(target) in search_paths(watched.db, first_word(event["caption"]))


@slow
def test_burst_of_50_is_captioned_in_batches_each_once(watched, staged):
    daemon, folder = watched.daemon, watched.root / "burst"
    folder.mkdir()
    for photo in staged.burst:
        shutil.copyfile(photo, folder / photo.name)
    expected = {str(folder / p.name) for p in staged.burst}

    daemon.wait_until(
        lambda: {e["path"] for e in daemon.of("own-write", under=folder)} == expected,
        "50 captions written and their own events skipped",
    )
    captioned = daemon.of("captioned", under=folder)
    assert sorted(e["path"] for e in captioned) == sorted(expected)  # each exactly once
    batches = Counter(e["batch"] for e in captioned)
    assert len(batches) <= 10 and max(batches.values()) >= 10, batches
    with open_index(str(watched.db)) as index:
        rows = index.lookup(expected)
    assert len(rows) == 50
    for e in captioned:
        assert rows[e["path"]].caption == e["caption"] == read_caption(e["path"]).text


@slow
def test_rename_keeps_the_row_and_delete_removes_it(watched, staged):
    daemon, folder = watched.daemon, watched.root / "moves"
    folder.mkdir()
    first = folder / "first.jpg"
    shutil.copyfile(staged.few[1], first)
    event = wait_written(daemon, first)
    with open_index(str(watched.db)) as index:
        before = index.get(first)

    renamed = folder / "renamed.jpg"
    first.rename(renamed)
    moved = daemon.wait_for("moved", renamed)
    assert moved["moved_from"] == str(first)
    with open_index(str(watched.db)) as index:
        after = index.get(renamed)
        assert index.get(first) is None
    assert (after.caption, after.sha256, after.indexed_at) == (
        before.caption,
        before.sha256,
        before.indexed_at,  # the same row, re-pointed, not written again
    )
    assert not daemon.of("captioned", path=renamed)

    renamed.unlink()
    daemon.wait_for("deleted", renamed)
    with open_index(str(watched.db)) as index:
        assert index.get(renamed) is None
    assert str(renamed) not in search_paths(watched.db, first_word(event["caption"]))


@slow
def test_folder_moved_in_is_indexed_whole_and_folder_renames_move_rows(watched, staged):
    daemon = watched.daemon
    outside = watched.base / "elsewhere" / "trip"
    outside.mkdir(parents=True)
    for photo in staged.few[2:5]:
        shutil.copyfile(photo, outside / photo.name)
    trip = watched.root / "trip"
    outside.rename(trip)  # moved in whole: no per-file writes to wait for
    names = [p.name for p in staged.few[2:5]]
    for name in names:
        wait_written(daemon, trip / name)

    renamed = watched.root / "trip-2026"
    trip.rename(renamed)
    event = daemon.wait_for("folder-moved", renamed)
    assert event["photos"] == 3
    with open_index(str(watched.db)) as index:
        rows = index.lookup([renamed / n for n in names])
        assert not index.lookup([trip / n for n in names])
    assert {Path(p).name for p in rows} == set(names)
    assert not daemon.of("captioned", under=renamed)


@slow
def test_sidecars_and_bad_files_do_not_trigger_and_do_not_stop_it(watched, staged):
    daemon, folder = watched.daemon, watched.root / "mixed"
    folder.mkdir()
    png = folder / "screenshot.png"
    shutil.copyfile(staged.png, png)
    assert daemon.wait_for("captioned", png)["written"] == "sidecar"
    assert sidecar_path(png).exists()

    broken = folder / "broken.jpg"
    broken.write_bytes(staged.few[5].read_bytes()[:3000])  # a copy that failed half-way
    assert daemon.wait_for("failed", broken)["error"]

    after = folder / "after.jpg"  # the daemon goes on; events queued before this one are done
    shutil.copyfile(staged.few[5], after)
    wait_written(daemon, after)
    assert len(daemon.of("captioned", path=png)) == 1
    assert not daemon.of("captioned", path=sidecar_path(png))
    assert not [e for e in daemon.events if ".photocap-" in e.get("path", "")]
    assert daemon.proc.poll() is None


@slow
@pytest.mark.skipif(shutil.which("exiftool") is None, reason="needs ExifTool")
def test_a_caption_a_person_writes_into_a_sidecar_alone_is_indexed_as_theirs(watched, staged):
    """Lightroom's `door.xmp` beside a JPEG captioned a moment ago (its own write still
    remembered), and our `garden.png.xmp` edited: both indexed as the person's, no re-captioning."""
    daemon, folder = watched.daemon, watched.root / "edited"
    folder.mkdir()
    jpeg, png = folder / "door.jpg", folder / "garden.png"
    Image.open(staged.few[0]).transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(jpeg, quality=90)
    Image.open(staged.png).transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(png)
    wait_written(daemon, jpeg)
    assert daemon.wait_for("captioned", png)["written"] == "sidecar"
    jpeg_bytes, png_bytes = jpeg.read_bytes(), png.read_bytes()

    words = {jpeg: "Grandma's red front door", png: "Tomatoes ripening on the balcony"}
    for sidecar, text in ((folder / "door.xmp", words[jpeg]), (sidecar_path(png), words[png])):
        subprocess.run(
            ["exiftool", "-q", "-overwrite_original", f"-XMP-dc:Description={text}", str(sidecar)],
            check=True,
        )
    daemon.wait_until(lambda: len(daemon.of("human", under=folder)) == 2, "two human captions")

    assert {e["path"]: e["caption"] for e in daemon.of("human", under=folder)} == {
        str(p): t for p, t in words.items()
    }
    with open_index(str(watched.db)) as index:
        rows = index.lookup([jpeg, png])
    assert {p: (r.caption, r.source) for p, r in rows.items()} == {
        str(p): (t, "human") for p, t in words.items()
    }
    assert search_paths(watched.db, "grandma") == [str(jpeg)]
    assert len(daemon.of("captioned", under=folder)) == 2  # once each, before the edits
    assert (jpeg.read_bytes(), png.read_bytes()) == (jpeg_bytes, png_bytes)


LIGHTROOM_XMP = """<x:xmpmeta xmlns:x="adobe:ns:meta/">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/">
   <dc:description><rdf:Alt><rdf:li xml:lang="x-default">{}</rdf:li></rdf:Alt></dc:description>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
"""


@slow
def test_a_bulk_sidecar_save_is_read_for_every_photo(watched, staged):
    """A photo manager saving metadata for a whole folder at once (written beside, renamed in)."""
    daemon, folder = watched.daemon, watched.root / "bulk"
    folder.mkdir()
    photos = [folder / p.name for p in staged.burst[:20]]
    for source, photo in zip(staged.burst, photos, strict=False):
        Image.open(source).transpose(Image.Transpose.FLIP_TOP_BOTTOM).save(photo, quality=90)
    daemon.wait_until(
        lambda: len(daemon.of("own-write", under=folder)) == len(photos), "20 captions written"
    )

    for i, photo in enumerate(photos):
        part = folder / f".{photo.stem}.xmp.part"
        part.write_text(LIGHTROOM_XMP.format(f"Rolls of film number {i}"), encoding="utf-8")
        part.rename(photo.with_suffix(".xmp"))
    daemon.wait_until(lambda: len(daemon.of("human", under=folder)) == 20, "20 human captions")

    with open_index(str(watched.db)) as index:
        rows = index.lookup(photos)
    assert {p: (r.caption, r.source) for p, r in rows.items()} == {
        str(p): (f"Rolls of film number {i}", "human") for i, p in enumerate(photos)
    }
    assert len(daemon.of("captioned", under=folder)) == 20  # once each, before the save


# ---------------------------------------------------------------- stop, restart, catch up


@slow
def test_sigterm_finishes_the_batch_in_hand_and_changes_while_stopped_are_caught_up(
    tmp_path, tiny_model, staged
):
    root, db = tmp_path / "photos", tmp_path / "index.db"
    root.mkdir()
    kept, gone, moving = (Path(shutil.copyfile(p, root / p.name)) for p in staged.few[:3])
    daemon = Daemon(root, db, tiny_model, "--batch-size", "2")
    assert daemon.wait_for("caught-up")["captioned"] == 3  # there before it started

    burst = [Path(shutil.copyfile(p, root / p.name)) for p in staged.burst[:24]]
    daemon.wait_until(lambda: daemon.of("captioned")[3:], "the first burst caption")
    assert daemon.stop(signal.SIGTERM) == 0
    assert daemon.of("stopped")
    first = {e["path"] for e in daemon.of("captioned")}
    done = first & {str(p) for p in burst}
    assert 0 < len(done) < len(burst), "stopped before the end, so something was in hand"

    # nothing half-written: a photo has a caption exactly when it has a row, and they agree
    assert not [p for p in root.iterdir() if ".photocap-" in p.name]
    with open_index(str(db)) as index:
        assert index.count() == len(first)
        for photo in [kept, gone, moving, *burst]:
            caption, row = read_caption(photo), index.get(photo)
            if str(photo) in first:
                assert row is not None and caption is not None and row.caption == caption.text
                assert (row.size, row.mtime_ns) == (photo.stat().st_size, photo.stat().st_mtime_ns)
                assert row.sha256 == sha256(photo)
            else:
                assert row is None and caption is None

    # while it is stopped: photos added, one deleted, one renamed
    added = [Path(shutil.copyfile(p, root / p.name)) for p in staged.few[3:6]]
    gone.unlink()
    moved = root / "renamed-while-stopped.jpg"
    moving.rename(moved)

    again = Daemon(root, db, tiny_model)
    again.wait_for("caught-up")
    again.wait_for("deleted", gone)
    assert again.wait_for("moved", moved)["moved_from"] == str(moving)
    second = {e["path"] for e in again.of("captioned")}
    assert not first & second  # each photo captioned exactly once over both runs
    assert second == ({str(p) for p in burst} - done) | {str(p) for p in added}
    with open_index(str(db)) as index:
        assert sorted(index.paths()) == sorted(map(str, [kept, moved, *burst, *added]))
    assert again.stop(signal.SIGINT) == 0


# ---------------------------------------------------------------- inotify watch limit


def _can_unshare() -> bool:
    try:
        done = subprocess.run(
            ["unshare", "-Ur", "sh", "-c", "echo 5 > /proc/sys/user/max_inotify_watches"],
            capture_output=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def _limited(watches: int) -> tuple[str, ...]:
    """Runs the daemon in a user namespace whose inotify watch limit is `watches`."""
    script = f'echo {watches} > /proc/sys/user/max_inotify_watches && exec "$@"'
    return ("unshare", "-Ur", "sh", "-c", script, "sh")


@slow
@pytest.mark.skipif(not _can_unshare(), reason="needs unprivileged user namespaces (unshare -Ur)")
def test_watch_limit_at_start_falls_back_to_polling(tmp_path, tiny_model, staged):
    root, db = tmp_path / "photos", tmp_path / "index.db"
    for name in "abcdef":
        (root / name).mkdir(parents=True)
    daemon = Daemon(root, db, tiny_model, "--poll-interval", "0.3", prefix=_limited(3))
    event = daemon.wait_for("polling")
    assert "fs.inotify.max_user_watches" in event["reason"]
    # said clearly, as a warning: on stderr, written just after the event on stdout
    deadline = time.monotonic() + 10
    while "fs.inotify.max_user_watches" not in daemon.stderr() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "fs.inotify.max_user_watches" in daemon.stderr()
    daemon.wait_for("caught-up")
    photo = root / "e" / "late.jpg"
    shutil.copyfile(staged.few[0], photo)
    wait_written(daemon, photo)
    assert daemon.stop() == 0


@slow
@pytest.mark.skipif(not _can_unshare(), reason="needs unprivileged user namespaces (unshare -Ur)")
def test_watch_limit_reached_later_falls_back_to_polling(tmp_path, tiny_model, staged):
    root, db = tmp_path / "photos", tmp_path / "index.db"
    (root / "a").mkdir(parents=True)
    # root + a = 2 watches, and room for one more: inotify at start
    daemon = Daemon(root, db, tiny_model, "--poll-interval", "0.3", prefix=_limited(3))
    assert daemon.wait_for("started")["observer"] == "inotify"
    daemon.wait_for("caught-up")
    (root / "b").mkdir()  # takes the last watch
    (root / "c").mkdir()  # cannot be watched
    assert "fs.inotify.max_user_watches" in daemon.wait_for("polling")["reason"]
    photo = root / "c" / "late.jpg"
    shutil.copyfile(staged.few[1], photo)
    wait_written(daemon, photo)
    assert daemon.stop() == 0


# ---------------------------------------------------------------- command line


@slow
def test_a_caption_under_min_confidence_is_held_back_not_written(tmp_path, tiny_model, staged):
    """The gate in the daemon: the photo is captioned and indexed, its caption held back (the
    event says so), and the photo is left as it came."""
    root, db = tmp_path / "photos", tmp_path / "index.db"
    root.mkdir()
    daemon = Daemon(root, db, tiny_model, "--min-confidence", "1")
    try:
        daemon.wait_for("caught-up")
        photo = root / "unsure.jpg"
        shutil.copyfile(staged.few[0], photo)
        before = sha256(photo)
        event = daemon.wait_for("held_back", photo)
        assert event["caption"] and event.get("written") is None
        batch = daemon.wait_for("batch")  # a batch that captioned only held-back photos…
        assert batch["level"] == "info" and batch["held_back"] == 1  # …is news too
    finally:
        assert daemon.stop() == 0, daemon.stderr()
    assert sha256(photo) == before and read_caption(photo) is None
    with open_index(str(db)) as index:
        row = index.get(photo)
    assert row.held_back and row.caption == event["caption"] and row.confidence < 1


def test_nothing_to_watch_is_a_usage_error(tmp_path):
    result = CliRunner().invoke(cli, ["watch", "--db", str(tmp_path / "index.db")])
    assert result.exit_code == 2
    assert "no folders to watch" in result.output and "photocap index PATH" in result.output


def test_help_documents_the_daemon_options():
    result = CliRunner().invoke(cli, ["watch", "--help"])
    assert result.exit_code == 0
    for option in ("--settle", "--debounce", "--poll", "--poll-interval", "--json", "-v", "-q"):
        assert option in result.output
