"""`photocap watch` when storage comes and goes and events flood: the real daemon in a subprocess.

The watched folder is renamed away and back, deleted and made again, unmounted and mounted again
(inside a user and mount namespace), and flooded past the kernel's event queue while the daemon
is frozen; every photo must end up captioned exactly once, and rows of photos on a folder that is
away must stay. `photocap watch --status` reads the daemon's state file meanwhile.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner
from index_helpers import rows
from watch_helpers import Daemon, make_photos, wait_written

from photocap.cli import cli

slow = pytest.mark.slow
LOOK_INTERVAL = 2.0  # seconds between the daemon's looks at its roots (photocap.watch.roots)


@pytest.fixture(scope="module")
def photos(tmp_path_factory, real_photos) -> list[Path]:
    """40 distinct small JPEGs, outside any watched folder."""
    return make_photos(real_photos, tmp_path_factory.mktemp("faults-staged"), 40, "f")


def copy(sources: list[Path], folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    return [Path(shutil.copyfile(p, folder / p.name)) for p in sources]


def status(state: Path) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["watch", "--status", "--state-file", str(state)])
    return result.exit_code, result.output


def captioned_once(daemon: Daemon, expected: list[Path]) -> None:
    """Every photo of `expected` captioned exactly once, and nothing else captioned."""
    counts = Counter(e["path"] for e in daemon.of("captioned"))
    assert counts == Counter(str(p) for p in expected), counts


def wait_captioned(daemon: Daemon, paths: list[Path], what: str) -> None:
    wanted = {str(p) for p in paths}
    daemon.wait_until(lambda: wanted <= {e["path"] for e in daemon.of("captioned")}, what)


# ---------------------------------------------------------------- renamed away, deleted


@slow
def test_root_renamed_away_and_back_is_watched_again_and_caught_up(tmp_path, tiny_model, photos):
    root, db, state = tmp_path / "photos", tmp_path / "index.db", tmp_path / "state.json"
    before = copy(photos[:2], root)
    daemon = Daemon(root, db, tiny_model, "--state-file", str(state))
    assert daemon.wait_for("caught-up")["captioned"] == 2
    daemon.wait_until(lambda: state.exists(), "the state file")
    code, out = status(state)
    assert code == 0 and f"{root}: watching" in out and "(pid" in out, out
    data = json.loads(state.read_text())
    assert data["observer"] == "inotify" and data["roots"][0]["state"] == "watching"

    away = tmp_path / "away"
    root.rename(away)
    lost = daemon.wait_for("root-lost")
    assert (lost["path"], lost["reason"]) == (str(root), "gone")
    copy(photos[2:4], away)
    copy(photos[4:5], away / "sub")
    time.sleep(LOOK_INTERVAL + 1)  # several looks at a root that is still away
    assert len(daemon.of("root-lost")) == 1 and len(daemon.of("captioned")) == 2
    assert sorted(rows(db)) == sorted(map(str, before))  # not pruned while away
    code, out = status(state)
    assert code == 1 and f"{root}: LOST since" in out and "(gone)" in out, out

    away.rename(root)
    regained = daemon.wait_for("root-regained")
    assert regained["path"] == str(root)
    rescan = daemon.wait_for("rescan")
    assert (rescan["reason"], rescan["roots"]) == ("root-regained", [str(root)])
    meanwhile = [root / p.name for p in photos[2:4]] + [root / "sub" / photos[4].name]
    wait_captioned(daemon, meanwhile, "the photos added while it was away")
    after = copy(photos[5:6], root / "sub")  # watched again, subfolders too
    wait_written(daemon, after[0])

    everything = [*before, *meanwhile, *after]
    captioned_once(daemon, everything)
    assert sorted(rows(db)) == sorted(map(str, everything))
    warnings = [line for line in daemon.stderr().splitlines() if "WARNING" in line]
    assert len([w for w in warnings if str(root) in w and "is gone" in w]) == 1, warnings
    assert status(state)[0] == 0
    assert daemon.stop() == 0
    code, out = status(state)
    assert code == 3 and "stopped" in out, out
    assert json.loads(state.read_text())["counts"]["captioned"] == len(everything)


@slow
def test_root_deleted_and_made_again_is_watched_again(tmp_path, tiny_model, photos, monkeypatch):
    root, db = tmp_path / "photos", tmp_path / "index.db"
    before = copy(photos[6:8], root / "old")
    daemon = Daemon(root, db, tiny_model)  # its state file where --status looks for it
    monkeypatch.setenv("PHOTOCAP_HOME", str(tmp_path / "home"))  # the daemon's
    assert daemon.wait_for("caught-up")["captioned"] == 2

    shutil.rmtree(root)
    assert daemon.wait_for("root-lost")["reason"] == "gone"
    time.sleep(LOOK_INTERVAL + 1)
    assert sorted(rows(db)) == sorted(map(str, before))  # kept while the root is away

    root.mkdir()  # ext4 may give it the old inode number: the deletion event says it is new
    made = copy(photos[8:11], root / "new")
    daemon.wait_for("root-regained")
    wait_captioned(daemon, made, "the photos of the folder made again")
    daemon.wait_until(lambda: len(daemon.of("deleted")) == 2, "the rows of the deleted photos")
    assert {e["path"] for e in daemon.of("deleted")} == set(map(str, before))
    later = copy(photos[11:12], root)
    wait_written(daemon, later[0])
    captioned_once(daemon, [*before, *made, *later])
    assert sorted(rows(db)) == sorted(map(str, [*made, *later]))
    result = CliRunner().invoke(cli, ["watch", "--status", str(root), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["running"] and report["healthy"] and report["pid"] == daemon.proc.pid
    assert [(r["path"], r["state"]) for r in report["roots"]] == [(str(root), "watching")]
    assert report["rescans"] == 1 and report["counts"]["captioned"] == 6
    assert daemon.stop() == 0


# ---------------------------------------------------------------- unmounted and mounted again


def _can_mount() -> bool:
    try:
        done = subprocess.run(
            ["unshare", "-Urm", "sh", "-c", "mount -t tmpfs none /mnt"],
            capture_output=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0 and shutil.which("nsenter") is not None


def in_namespace_of(daemon: Daemon, *command: str) -> None:
    """Runs `command` in the daemon's user and mount namespace (as its root)."""
    prefix = ["nsenter", "-t", str(daemon.proc.pid), "-U", "-m", "--preserve-credentials"]
    subprocess.run([*prefix, *command], check=True, capture_output=True, timeout=30)


@slow
@pytest.mark.skipif(
    not _can_mount(), reason="needs user and mount namespaces (unshare -Urm) and nsenter"
)
def test_root_unmounted_keeps_its_rows_and_is_caught_up_when_mounted_again(
    tmp_path, tiny_model, photos
):
    """The drive is a bind mount of `drive/` on `photos/` in the daemon's own mount namespace
    (so its content outlives the unmount, as a USB drive's does); the test writes to the drive
    through `drive/`, which inotify cannot tell from writes through `photos/`."""
    drive, root, db = tmp_path / "drive", tmp_path / "photos", tmp_path / "index.db"
    root.mkdir()
    on_drive = copy(photos[12:14], drive)
    mount = f'mount --bind {drive} {root} && exec "$@"'
    daemon = Daemon(
        root,
        db,
        tiny_model,
        "--state-file",
        str(tmp_path / "state.json"),
        prefix=("unshare", "-Urm", "sh", "-c", mount, "sh"),
    )
    assert daemon.wait_for("caught-up")["captioned"] == 2
    first = [root / p.name for p in on_drive]
    captioned_once(daemon, first)

    in_namespace_of(daemon, "umount", str(root))
    assert daemon.wait_for("root-lost")["reason"] == "unmounted"
    added = copy(photos[14:17], drive)  # on the drive, while it is not mounted
    underneath = copy(photos[17:18], root)  # in the empty folder under the mount point
    time.sleep(LOOK_INTERVAL + 1)
    assert len(daemon.of("captioned")) == 2 and not daemon.of("deleted")
    assert sorted(rows(db)) == sorted(map(str, first))

    in_namespace_of(daemon, "mount", "--bind", str(drive), str(root))
    assert daemon.wait_for("root-regained")["reason"] == "mounted"
    back = [root / p.name for p in added]
    wait_captioned(daemon, back, "the photos added to the drive while it was away")
    daemon.wait_until(lambda: len(daemon.of("caught-up")) == 2, "the rescan's catch-up")
    later = copy(photos[18:19], drive)
    wait_written(daemon, root / later[0].name)

    everything = [*first, *back, root / later[0].name]
    captioned_once(daemon, everything)
    assert str(underneath[0]) not in rows(db)
    assert sorted(rows(db)) == sorted(map(str, everything))
    assert daemon.stop() == 0


# ---------------------------------------------------------------- event queue overflow


def _queue_size() -> int:
    try:
        return int(Path("/proc/sys/fs/inotify/max_queued_events").read_text())
    except (OSError, ValueError):
        return 16384


def freeze(pid: int) -> None:
    """SIGSTOP, and wait until every thread of `pid` is stopped (none reads events any more)."""
    os.kill(pid, signal.SIGSTOP)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        tasks = Path(f"/proc/{pid}/task").iterdir()
        states = {(t / "stat").read_text().rsplit(")", 1)[1].split()[0] for t in tasks}
        if states <= {"T", "t"}:
            return
        time.sleep(0.01)
    raise AssertionError(f"process {pid} did not stop")


@slow
def test_event_queue_overflow_rescans_and_captions_everything_once(tmp_path, tiny_model, photos):
    """The daemon is frozen (SIGSTOP: a busy or suspended reader) while more events arrive than
    the kernel queues for it (`fs.inotify.max_queued_events`, global, not lowered here): photos
    before the flood have their events, those after it lost theirs."""
    root, db, state = tmp_path / "photos", tmp_path / "index.db", tmp_path / "state.json"
    root.mkdir()
    daemon = Daemon(root, db, tiny_model, "--state-file", str(state))
    daemon.wait_for("caught-up")

    for folder in ("early", "noise", "late"):  # watched before the daemon is frozen
        (root / folder).mkdir()
    time.sleep(1.5)  # watchdog adds a watch for each new folder as it sees it
    freeze(daemon.proc.pid)
    try:
        early = copy(photos[20:30], root / "early")
        for i in range(_queue_size()):  # >= 2 events each (create, close): past the queue
            (root / "noise" / f"n{i:05d}.txt").touch()
        late = copy(photos[30:40], root / "late")
    finally:
        os.kill(daemon.proc.pid, signal.SIGCONT)

    rescan = daemon.wait_for("rescan")
    assert rescan["reason"] == "overflow" and rescan["roots"] == [str(root)]
    wait_captioned(daemon, [*early, *late], "every photo of the flood")
    daemon.wait_until(lambda: len(daemon.of("caught-up")) >= 2, "the rescan's end")
    time.sleep(1.0)  # events still queued behind the rescan find nothing left to do
    captioned_once(daemon, [*early, *late])
    assert sorted(rows(db)) == sorted(map(str, [*early, *late]))
    assert json.loads(state.read_text())["rescans"] >= 1
    assert "overflow" in daemon.stderr()

    daemon.proc.kill()  # dies without a word: --status must say so
    daemon.proc.wait(30)
    code, out = status(state)
    assert code == 3 and f"pid {daemon.proc.pid} is gone" in out, out
