"""ChangeTracker: when a file is complete enough to read, and how events become batches."""

from __future__ import annotations

from pathlib import Path

import pytest

from photocap.watch.tracker import ChangeTracker


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


def tracker(clock: Clock, **kw) -> ChangeTracker:
    return ChangeTracker(
        settle=kw.pop("settle", 2.0), debounce=kw.pop("debounce", 0.3), clock=clock, **kw
    )


def photo(tmp_path: Path, name: str = "a.jpg", data: bytes = b"\xff\xd8\xff" + b"x" * 100) -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def paths(batch) -> list[str]:
    return sorted(item.path for item in batch.files)


def test_closed_file_is_ready_after_the_debounce(tmp_path, clock):
    t, p = tracker(clock), photo(tmp_path)
    t.created(p)
    t.modified(p)
    t.closed(p)
    clock.advance(0.29)
    assert t.take() is None
    clock.advance(0.02)
    batch = t.take()
    assert paths(batch) == [p]
    assert batch.files[0].state == "closed"
    assert batch.files[0].waited == pytest.approx(0.31)
    assert t.take() is None and len(t) == 0


def test_written_again_after_close_waits_for_the_next_close(tmp_path, clock):
    t, p = tracker(clock), photo(tmp_path)
    t.closed(p)
    clock.advance(0.1)
    t.modified(p)  # reopened and written: the close did not mean complete
    clock.advance(1.0)
    assert t.take() is None
    t.closed(p)
    clock.advance(0.31)
    assert paths(t.take()) == [p]


def test_without_close_waits_until_size_and_mtime_settle(tmp_path, clock):
    t, p = tracker(clock), photo(tmp_path)
    t.created(p)
    t.modified(p)
    clock.advance(1.9)
    assert t.take() is None
    with open(p, "ab") as f:  # still growing, but no event seen (polling, network share)
        f.write(b"more")
    clock.advance(0.2)
    assert t.take() is None  # the stat differs from the one at the last event: wait again
    clock.advance(1.9)
    assert t.take() is None
    clock.advance(0.2)
    assert paths(t.take()) == [p]


def test_metadata_change_on_a_pending_file_delays_it(tmp_path, clock):
    t, p = tracker(clock), photo(tmp_path)
    other = photo(tmp_path, "b.jpg")
    t.closed(p)
    clock.advance(0.2)
    t.attrib(p)  # e.g. `cp -p` setting the mtime right after the close
    t.attrib(other)  # not pending: ignored
    clock.advance(0.2)
    assert t.take() is None
    clock.advance(0.1)
    assert paths(t.take()) == [p]


def test_a_burst_is_one_batch_once_quiet(tmp_path, clock):
    t = tracker(clock)
    files = [photo(tmp_path, f"{i}.jpg") for i in range(20)]
    for p in files:
        t.created(p)
        t.closed(p)
        clock.advance(0.01)
    clock.advance(0.1)
    assert t.take() is None  # the first ones are ready, but the burst is not over
    clock.advance(0.2)
    assert paths(t.take()) == sorted(files)


def test_max_wait_bounds_the_delay_while_events_keep_coming(tmp_path, clock):
    t = tracker(clock, max_wait=2.0)
    first = None
    for i in range(40):
        t.closed(photo(tmp_path, f"{i:02d}.jpg"))
        clock.advance(0.1)
        first = first or t.take()
        if first:
            break
    # the first photo became ready at 0.3 s; the batch went at most max_wait later, with the others
    assert first is not None
    assert 2.0 <= clock.now - 1000.0 <= 2.5
    assert 15 <= len(first.files) <= 22


def test_max_batch(tmp_path, clock):
    t = tracker(clock, max_batch=5)
    for i in range(12):
        t.closed(photo(tmp_path, f"{i:02d}.jpg"))
    clock.advance(0.31)
    assert [len(t.take().files) for _ in range(3)] == [5, 5, 2]


def test_created_event_does_not_demote_a_complete_file(tmp_path, clock):
    t, p = tracker(clock), photo(tmp_path)
    t.complete(p)  # found in a folder moved in
    t.created(p)  # watchdog's per-file echo of the same move
    clock.advance(0.31)
    assert t.take().files[0].state == "complete"


def test_deleted_then_recreated_is_a_new_file(tmp_path, clock):
    t, p = tracker(clock), photo(tmp_path)
    t.deleted(p)
    t.created(p)
    clock.advance(0.5)
    assert t.take() is None  # recreated: wait for its close (or to settle)
    t.closed(p)
    clock.advance(0.31)
    assert t.take().files[0].state == "closed"


def test_rename_follows_a_pending_file(tmp_path, clock):
    t, p = tracker(clock), photo(tmp_path)
    dst = str(tmp_path / "renamed.jpg")
    t.closed(p)
    assert t.rename(p, dst)
    assert not t.rename(p, dst)  # no longer pending under the old name
    clock.advance(0.31)
    batch = t.take()
    assert paths(batch) == [dst]
    assert batch.files[0].state == "complete"


def test_folders_renamed_and_deleted(tmp_path, clock):
    t = tracker(clock)
    (tmp_path / "a").mkdir()
    inner = photo(tmp_path / "a", "x.jpg")
    sibling = photo(tmp_path, "ab.jpg")  # shares the prefix "a", not the folder
    t.closed(inner)
    t.closed(sibling)
    t.rename_folder(str(tmp_path / "a"), str(tmp_path / "b"))
    assert t.paths() == sorted([str(tmp_path / "b" / "x.jpg"), sibling])
    t.folder_deleted(str(tmp_path / "b"))
    assert t.paths() == [sibling]
    clock.advance(0.31)
    batch = t.take()
    assert paths(batch) == [sibling]
    assert batch.folders_deleted == [str(tmp_path / "b")]


def test_retry_waits_its_delay(tmp_path, clock):
    t, p = tracker(clock), photo(tmp_path)
    t.complete(p, delay=5.0, tries=1)
    clock.advance(5.0)
    assert t.take() is None
    clock.advance(0.31)
    assert t.take().files[0].tries == 1


def test_a_sidecar_change_queues_its_photo_and_leaves_a_pending_one_as_it_is(tmp_path, clock):
    t, p, q = tracker(clock), photo(tmp_path), photo(tmp_path, "b.jpg")
    t.sidecar_changed(p)  # a photo at rest: looked at once the sidecar's events stop
    t.modified(q)  # a photo being written: still waits for its close
    clock.advance(0.2)
    t.sidecar_changed(p)
    t.sidecar_changed(q)
    clock.advance(0.29)
    assert t.take() is None
    clock.advance(0.02)
    batch = t.take()
    assert paths(batch) == [p] and batch.files[0].state == "closed"
    assert q in t
