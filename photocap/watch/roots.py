"""The watched folders themselves: each one's identity, so that a folder that goes away (renamed
away, deleted, its drive unplugged or unmounted) and comes back at the same path is noticed.

inotify watches belong to a folder's inode, not its path: they die with a deleted folder, follow a
renamed one elsewhere, and see nothing of what is mounted over it. watchdog says nothing at all
when a root is renamed away or unmounted, so the watcher looks at each root's (st_dev, st_ino)
every few seconds (a stat and `os.path.ismount`, cheap) and whenever events suggest it.

A root that was a mount point when it was watched and is a plain folder now is *lost* (unmounted:
the empty folder underneath is not the photos) until something is mounted there again.
"""

from __future__ import annotations

import os
import re
import stat
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

from photocap.watch.tracker import inside

Identity = tuple[int, int]  # (st_dev, st_ino)
RootState = Literal["watching", "lost"]
CHECK_INTERVAL = 2.0  # seconds between looks at every root


def identity_of(path: str) -> Identity | None:
    """(st_dev, st_ino) of the folder at `path`; None when there is no folder there."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino) if stat.S_ISDIR(st.st_mode) else None


def mount_points() -> set[str]:
    """The mount points of this process's mount namespace (Linux), else an empty set."""
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as f:
            lines = f.read().splitlines()
    except OSError:
        return set()
    points = set()
    for line in lines:
        fields = line.split(" ")
        if len(fields) > 4:  # octal escapes for space, tab, newline and backslash
            points.add(re.sub(r"\\([0-7]{3})", lambda m: chr(int(m[1], 8)), fields[4]))
    return points


def is_mount(path: str, points: set[str] | None = None) -> bool:
    """True when a filesystem is mounted at `path`; a bind mount of a folder of the same
    filesystem too (which `os.path.ismount` misses), from `points` (`mount_points()`)."""
    try:
        if os.path.ismount(path):
            return True
    except OSError:
        return False
    return path in (mount_points() if points is None else points)


@dataclass
class Root:
    """One watched folder: the identity it is watched with, and whether it is there now."""

    path: str
    identity: Identity | None
    mount: bool  # a mount point when it was (last) watched
    state: RootState = "watching"
    since: float = 0.0  # wall-clock time of the last change of state
    reason: str | None = None  # why it is lost: gone, unmounted

    def to_dict(self) -> dict[str, object]:
        return {
            "path": self.path,
            "state": self.state,
            "since": self.since,
            "reason": self.reason,
            "mount": self.mount,
        }


@dataclass(frozen=True)
class RootChange:
    """A root lost (`reason`: gone, unmounted, replaced) or regained."""

    path: str
    change: Literal["lost", "regained"]
    reason: str


class RootWatch:
    """Each root's state, brought up to date by `check()` (the watcher's thread only)."""

    def __init__(
        self,
        paths: Iterable[str],
        *,
        interval: float = CHECK_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.interval = interval
        self.clock = clock
        now, points = time.time(), mount_points()
        self.roots = {p: Root(p, identity_of(p), is_mount(p, points), since=now) for p in paths}
        self._next = clock() + interval

    def __iter__(self):
        return iter(self.roots.values())

    def watching(self, path: str) -> bool:
        root = self.roots.get(path)
        return root is not None and root.state == "watching"

    def root_of(self, path: str) -> str | None:
        """The watched root `path` is in; None when outside, or when that root is lost now."""
        root = next((r for r in self.roots if inside(path, r)), None)
        return root if root is not None and self.watching(root) else None

    def lost(self) -> list[str]:
        return [r.path for r in self.roots.values() if r.state == "lost"]

    def due(self) -> bool:
        """True every `interval` seconds (then `check()` everything)."""
        if self.clock() < self._next:
            return False
        self._next = self.clock() + self.interval
        return True

    def check(self, paths: Iterable[str] | None = None) -> list[RootChange]:
        """Looks at the roots (all, or `paths`) now; what changed since the last look."""
        changes: list[RootChange] = []
        points: set[str] | None = None  # read once, only when a root was a mount point
        for path in self.roots if paths is None else paths:
            if (root := self.roots.get(path)) is None:
                continue
            if root.mount and points is None:
                points = mount_points()
            changes.extend(self._check(root, points or set()))
        return changes

    def deleted(self, path: str) -> list[RootChange]:
        """The observer saw the root itself deleted: it is lost, whatever its identity says now
        (a folder made again at once may get the same inode number), and regained if there."""
        root = self.roots.get(path)
        if root is None or root.state != "watching":
            return self.check([path])
        return [self._lose(root, "gone"), *self.check([path])]

    def _check(self, root: Root, points: set[str]) -> list[RootChange]:
        identity = identity_of(root.path)
        unmounted = identity is not None and root.mount and not is_mount(root.path, points)
        if root.state == "watching":
            if identity is None:
                return [self._lose(root, "gone")]
            if unmounted:
                return [self._lose(root, "unmounted")]
            if identity != root.identity:  # gone and back (or another drive) between two looks
                return [self._lose(root, "replaced"), self._regain(root, identity)]
            return []
        if identity is None or unmounted:
            return []
        return [self._regain(root, identity)]

    def _lose(self, root: Root, reason: str) -> RootChange:
        root.state, root.reason, root.since = "lost", reason, time.time()
        return RootChange(root.path, "lost", reason)

    def _regain(self, root: Root, identity: Identity) -> RootChange:
        root.state, root.reason, root.since = "watching", None, time.time()
        root.identity, root.mount = identity, is_mount(root.path)
        return RootChange(root.path, "regained", "mounted" if root.mount else "back")
