"""The watcher's bookkeeping over long runs, with a fake clock and real folders: roots lost and
regained, the bounds on what it remembers, and its state file."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from photocap.cli import cli
from photocap.watch.health import StateFile, read_status, state_file_for
from photocap.watch.own_writes import OwnWrites
from photocap.watch.roots import RootWatch, mount_points
from photocap.watch.tracker import ChangeTracker


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def changes(watch: RootWatch) -> list[tuple[str, str]]:
    return [(c.change, c.reason) for c in watch.check()]


# ---------------------------------------------------------------- roots


def test_a_root_renamed_away_is_lost_until_it_is_back(tmp_path):
    root = tmp_path / "photos"
    root.mkdir()
    clock = Clock()
    watch = RootWatch([str(root)], interval=2.0, clock=clock)
    assert not watch.due() and changes(watch) == []
    root.rename(tmp_path / "away")
    assert changes(watch) == [("lost", "gone")]
    assert watch.lost() == [str(root)] and not watch.watching(str(root))
    assert changes(watch) == []  # said once
    (tmp_path / "away").rename(root)
    assert changes(watch) == [("regained", "back")]
    assert watch.watching(str(root)) and changes(watch) == []
    clock.now += 2.0
    assert watch.due() and not watch.due()


def test_a_root_replaced_between_two_looks_is_lost_and_regained(tmp_path):
    root = tmp_path / "photos"
    root.mkdir()
    watch = RootWatch([str(root)])
    root.rename(tmp_path / "old")
    root.mkdir()  # another inode: the inotify watches followed the old one
    assert changes(watch) == [("lost", "replaced"), ("regained", "back")]
    assert changes(watch) == []


def test_a_root_seen_deleted_is_lost_even_when_made_again_with_the_same_inode(tmp_path):
    root = tmp_path / "photos"
    root.mkdir()
    watch = RootWatch([str(root)])
    shutil.rmtree(root)
    root.mkdir()  # ext4 hands the freed inode number straight back
    pairs = [(c.change, c.reason) for c in watch.deleted(str(root))]
    assert pairs == [("lost", "gone"), ("regained", "back")]
    shutil.rmtree(root)
    assert [(c.change, c.reason) for c in watch.deleted(str(root))] == [("lost", "gone")]
    assert [(c.change, c.reason) for c in watch.deleted(str(root))] == []


def test_a_file_where_the_root_was_is_not_the_root(tmp_path):
    root = tmp_path / "photos"
    root.mkdir()
    watch = RootWatch([str(root)])
    root.rmdir()
    root.write_text("not a folder")
    assert changes(watch) == [("lost", "gone")]
    root.unlink()
    root.mkdir()
    assert changes(watch) == [("regained", "back")]


def _can_mount() -> bool:
    try:
        done = subprocess.run(
            ["unshare", "-Urm", "sh", "-c", "mount -t tmpfs none /mnt"],
            capture_output=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


MOUNT_PROBE = """
import json, os, subprocess, sys
from photocap.watch.roots import RootWatch
backing, root = sys.argv[1:]
subprocess.run(["mount", "--bind", backing, root], check=True)
watch = RootWatch([root])
seen = []
def look():
    seen.append([(c.change, c.reason) for c in watch.check()])
subprocess.run(["umount", root], check=True)
look(); look()
subprocess.run(["mount", "--bind", backing, root], check=True)
look()
subprocess.run(["umount", root], check=True)
subprocess.run(["mount", "-t", "tmpfs", "none", root], check=True)  # another device
watch = RootWatch([root])
subprocess.run(["umount", root], check=True)
look(); look()
subprocess.run(["mount", "-t", "tmpfs", "none", root], check=True)
look()
print(json.dumps(seen))
"""


@pytest.mark.skipif(not _can_mount(), reason="needs user and mount namespaces (unshare -Urm)")
def test_an_unmounted_root_is_lost_even_though_its_empty_folder_is_there(tmp_path):
    """A bind mount of a folder of the same filesystem: `os.path.ismount` misses it, mountinfo
    does not; the empty folder left by the unmount must not count as the root."""
    backing, root = tmp_path / "drive", tmp_path / "photos"
    backing.mkdir()
    root.mkdir()
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    done = subprocess.run(
        ["unshare", "-Urm", sys.executable, "-c", MOUNT_PROBE, str(backing), str(root)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    bind = [[["lost", "unmounted"]], [], [["regained", "mounted"]]]
    assert json.loads(done.stdout) == bind + bind  # a bind mount, then a tmpfs


def test_mount_points_include_the_root_folder():
    assert "/" in mount_points()


# ---------------------------------------------------------------- bounds


def test_own_writes_are_forgotten_after_their_time_and_past_their_number(tmp_path):
    clock = Clock()
    photos = []
    for i in range(5):
        photo = tmp_path / f"p{i}.jpg"
        photo.write_bytes(b"\xff\xd8" + bytes([i]) * 100)
        photos.append(str(photo))
    own = OwnWrites(120.0, clock, max_size=3)
    for photo in photos:
        own.remember(photo)
        clock.now += 10
    assert len(own) == 3  # the two oldest went
    assert not own.unchanged_since(photos[0]) and own.unchanged_since(photos[4])
    clock.now += 95  # p2, p3, p4 remembered until 1140, 1150, 1160; now 1145
    own.forget_old()
    assert len(own) == 2 and not own.unchanged_since(photos[2])
    own.remember(photos[3])  # again: kept 120 s from now, at the end of the order
    clock.now += 20
    own.forget_old()
    assert len(own) == 1 and own.unchanged_since(photos[3])
    clock.now += 200
    own.forget_old()
    assert len(own) == 0


def test_the_tracker_keeps_at_most_max_pending_and_says_so(tmp_path):
    clock = Clock()
    tracker = ChangeTracker(debounce=0.1, max_pending=100, clock=clock)
    for i in range(150):
        tracker.closed(str(tmp_path / f"f{i}.jpg"))
    assert len(tracker) == 100 and tracker.overflowed
    tracker.closed(str(tmp_path / "f5.jpg"))  # one it keeps: still followed
    assert len(tracker) == 100
    tracker.clear()
    assert len(tracker) == 0 and not tracker.overflowed


def test_the_tracker_empties_as_batches_are_taken(tmp_path):
    """Tens of thousands of events over time leave nothing behind: every entry leaves in a batch."""
    clock = Clock()
    tracker = ChangeTracker(debounce=0.1, max_wait=1.0, max_batch=256, clock=clock)
    taken = 0
    for i in range(20_000):
        path = str(tmp_path / f"d{i % 50}" / f"f{i}.jpg")
        [tracker.created, tracker.closed, tracker.deleted][i % 3](path)
        if i % 7 == 0:
            tracker.folder_deleted(str(tmp_path / f"gone{i}"))
        clock.now += 0.01
        while (batch := tracker.take()) is not None:
            taken += len(batch)
    clock.now += 10
    while (batch := tracker.take()) is not None:
        taken += len(batch)
    assert len(tracker) == 0 and not tracker._files and not tracker._folders_deleted
    assert taken == 20_000 + len(range(0, 20_000, 7))


def test_folder_moves_are_remembered_30_seconds():
    from photocap.watch.events import FOLDER_MOVE_MEMORY, EventRouting

    class Routing(EventRouting):
        def __init__(self, clock: Clock):
            self.clock, self._folder_moves = clock, []

    clock = Clock()
    routing = Routing(clock)
    routing._folder_moves = [(f"/a{i}", f"/b{i}", clock.now + i) for i in range(1000)]
    assert routing._echo_of_folder_move("/a1/x.jpg", "/b1/x.jpg")
    clock.now += FOLDER_MOVE_MEMORY + 500
    assert not routing._echo_of_folder_move("/a1/x.jpg", "/b1/x.jpg")
    assert len(routing._folder_moves) == 499  # those of the last 30 s
    clock.now += 1000
    assert not routing._echo_of_folder_move("/a999/x.jpg", "/b999/x.jpg")
    assert routing._folder_moves == []


def test_tracker_forgets_what_is_under_a_lost_root(tmp_path):
    tracker = ChangeTracker(clock=Clock())
    tracker.closed(str(tmp_path / "a" / "x.jpg"))
    tracker.closed(str(tmp_path / "b" / "y.jpg"))
    tracker.folder_deleted(str(tmp_path / "a" / "sub"))
    tracker.forget_under(str(tmp_path / "a"))
    assert tracker.paths() == [str(tmp_path / "b" / "y.jpg")] and len(tracker) == 1


# ---------------------------------------------------------------- state file


def test_state_file_is_written_atomically_on_time_and_when_forced(tmp_path):
    clock = Clock()
    state = {"state": "running", "pid": os.getpid(), "roots": [{"path": "/x", "state": "watching"}]}
    path = tmp_path / "state" / "watch.json"
    writes = StateFile(path, lambda: dict(state), interval=5.0, clock=clock)
    writes.write()
    first = json.loads(path.read_text())
    assert first["pid"] == os.getpid() and first["updated"]
    state["pid"] = 1
    writes.write()  # not due: unchanged
    assert json.loads(path.read_text())["pid"] == os.getpid()
    writes.write(force=True)
    assert json.loads(path.read_text())["pid"] == 1
    assert sorted(p.name for p in path.parent.iterdir()) == ["watch.json"]  # no temporary left


def test_status_tells_running_lost_stopped_and_dead(tmp_path):
    path = tmp_path / "watch.json"

    def status(**data) -> tuple[int, str]:
        path.write_text(json.dumps(data))
        result = CliRunner().invoke(cli, ["watch", "--status", "--state-file", str(path)])
        return result.exit_code, result.output

    me = os.getpid()
    watching = {"path": "/photos", "state": "watching"}
    lost = {"path": "/usb", "state": "lost", "reason": "unmounted", "since": "then"}
    code, out = status(state="running", pid=me, roots=[watching])
    assert code == 0 and f"running (pid {me}, alive)" in out and "/photos: watching" in out
    code, out = status(state="running", pid=me, roots=[watching, lost])
    assert code == 1 and "/usb: LOST since then (unmounted)" in out
    dead = subprocess.Popen(["true"])
    dead.wait()
    code, out = status(state="running", pid=dead.pid, roots=[watching])
    assert code == 3 and f"pid {dead.pid} is gone" in out
    code, out = status(state="stopped", pid=dead.pid, roots=[watching])
    assert code == 3 and "stopped" in out
    path.unlink()
    result = CliRunner().invoke(cli, ["watch", "--status", "--state-file", str(path), "--json"])
    assert result.exit_code == 3 and json.loads(result.output)["running"] is False


def test_state_file_name_depends_on_the_folders_only(tmp_path, monkeypatch):
    monkeypatch.setenv("PHOTOCAP_HOME", str(tmp_path))
    a, b = tmp_path / "a", tmp_path / "b"
    assert state_file_for([a, b]) == state_file_for([str(b), str(a), a])
    assert state_file_for([a]) != state_file_for([a, b])
    assert state_file_for([a]).parent == tmp_path
    read = read_status(tmp_path / "none.json")
    assert read is None
