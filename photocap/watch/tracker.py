"""What the watcher is waiting for: files written, closed, renamed into place or deleted, and when
each is complete enough to read.

A file is ready when its writer closed it (or it was renamed into place) and nothing touched it for
`debounce` seconds; without a close event (polling, network filesystems, a writer still holding it
open) when its size and mtime stayed the same for `settle` seconds. Ready files are handed out as
one batch once the burst of events is over (`debounce` without any event), or after `max_wait`
while events keep coming, so a folder of photos copied in is captioned in a few batches and a
single photo within a fraction of a second of its close.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Literal

State = Literal["writing", "closed", "complete", "deleted"]
Signature = tuple[int, int, int]  # (inode, size, mtime_ns)
MAX_PENDING = 50_000  # files waiting at most (a few hundred bytes each)


def signature(path: str) -> Signature | None:
    """(inode, size, mtime_ns) of a file, None when it is not there."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns


def inside(path: str, folder: str) -> bool:
    """True when `path` is `folder` or lies below it."""
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def outermost(roots: list[str]) -> list[str]:
    """Drops duplicates and folders inside other roots (one watch covers them)."""
    kept: list[str] = []
    for root in sorted(set(roots), key=len):
        if not any(inside(root, other) for other in kept):
            kept.append(root)
    return sorted(kept)


@dataclass
class _Entry:
    state: State
    last_event: float  # monotonic time of the last event on the file
    sig: Signature | None  # the file as it was at `sig_since`
    sig_since: float
    tries: int = 0


@dataclass(frozen=True)
class ReadyFile:
    """A file to look at now; `waited` is the time since its last event."""

    path: str
    state: State
    waited: float
    tries: int = 0


@dataclass
class Batch:
    """Files and deleted folders to handle together."""

    files: list[ReadyFile] = field(default_factory=list)
    folders_deleted: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.files) + len(self.folders_deleted)


class ChangeTracker:
    """Pending changes, fed by filesystem events (one thread), handed out in batches.

    At most `max_pending` files wait: past that, new ones are dropped and `overflowed` is set, so
    that the watcher rescans instead (memory stays bounded in an event flood; nothing is missed).
    """

    def __init__(
        self,
        *,
        settle: float = 2.0,
        debounce: float = 0.3,
        max_wait: float = 2.0,
        max_batch: int = 256,
        max_pending: int = MAX_PENDING,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.settle = settle
        self.max_pending = max_pending
        self.overflowed = False  # more than `max_pending` changes came: the caller rescans
        self.debounce = debounce
        self.max_wait = max_wait
        self.max_batch = max_batch
        self.clock = clock
        self._files: dict[str, _Entry] = {}
        self._folders_deleted: dict[str, float] = {}
        self._last_event = float("-inf")
        self._waiting_since: float | None = None  # when something first became ready, unsent

    def __len__(self) -> int:
        return len(self._files) + len(self._folders_deleted)

    def __contains__(self, path: str) -> bool:
        return path in self._files

    def paths(self) -> list[str]:
        return sorted(self._files)

    # -- events ---------------------------------------------------------------------------------

    def _touch(self, path: str, state: State | None, *, delay: float = 0.0) -> None:
        now = self.clock() + delay
        self._last_event = max(self._last_event, self.clock())
        entry = self._files.get(path)
        if entry is None:
            if len(self._files) >= self.max_pending:
                self.overflowed = True
                return
            entry = self._files[path] = _Entry(state or "writing", now, None, now)
        elif state is not None:
            entry.state = state
        entry.last_event = now
        entry.sig, entry.sig_since = signature(path), now

    def created(self, path: str) -> None:
        """A new name: its content may still be coming. A known file keeps its state."""
        entry = self._files.get(path)
        self._touch(path, "writing" if entry is None or entry.state == "deleted" else None)

    def modified(self, path: str) -> None:
        """Written to: wait for the close (or for it to settle)."""
        self._touch(path, "writing")

    def attrib(self, path: str) -> None:
        """Metadata changed (`cp -p` sets the mtime after the close): pending files wait a bit more."""
        if path in self._files:
            self._touch(path, None)

    def closed(self, path: str) -> None:
        """Its writer closed it."""
        self._touch(path, "closed")

    def sidecar_changed(self, path: str) -> None:
        """Its XMP sidecar was written: look at the photo again once the sidecar's events stop.
        A pending photo keeps its state (it may itself be being written)."""
        self._touch(path, None if path in self._files else "closed")

    def complete(self, path: str, *, delay: float = 0.0, tries: int = 0) -> None:
        """Known to be whole (renamed into place, found in a folder moved in), or to look at again."""
        self._touch(path, "complete", delay=delay)
        if (entry := self._files.get(path)) is not None:
            entry.tries = tries

    def deleted(self, path: str) -> None:
        """Gone (or moved out of sight); checked again when handled, as editors delete and recreate."""
        self._touch(path, "deleted")

    def rename(self, src: str, dst: str) -> bool:
        """Follows a pending file to its new name; False when `src` was not pending."""
        entry = self._files.pop(src, None)
        if entry is None:
            return False
        self._files[dst] = entry
        self._touch(dst, "complete" if entry.state == "closed" else None)
        return True

    def rename_folder(self, src: str, dst: str) -> None:
        """Follows the pending files of a folder that was moved."""
        for path in [p for p in self._files if inside(p, src)]:
            self._files[dst + path[len(src) :]] = self._files.pop(path)

    def forget_under(self, folder: str) -> None:
        """Forgets the pending files and deleted folders in `folder` (its root is lost)."""
        for path in [p for p in self._files if inside(p, folder)]:
            del self._files[path]
        for path in [p for p in self._folders_deleted if inside(p, folder)]:
            del self._folders_deleted[path]

    def clear(self) -> None:
        """Forgets everything pending (a rescan follows) and the overflow."""
        self._files.clear()
        self._folders_deleted.clear()
        self.overflowed = False

    def folder_deleted(self, folder: str) -> None:
        """A folder went away: forget its pending files; its rows go when handled."""
        for path in [p for p in self._files if inside(p, folder)]:
            del self._files[path]
        self._folders_deleted[folder] = self.clock()
        self._last_event = self.clock()

    # -- batches ----------------------------------------------------------------------------------

    def _ready(self, entry: _Entry, path: str, now: float) -> bool:
        if entry.state != "writing":
            return now - entry.last_event >= self.debounce
        # no close seen: wait until size and mtime stay the same for `settle`
        if now - entry.last_event < self.settle or now - entry.sig_since < self.settle:
            return False
        sig = signature(path)
        if sig != entry.sig:
            entry.sig, entry.sig_since = sig, now
            return False
        return True

    def _ready_files(self, now: float) -> Iterator[tuple[str, _Entry]]:
        for path, entry in self._files.items():
            if self._ready(entry, path, now):
                yield path, entry

    def take(self) -> Batch | None:
        """The batch to handle now, or None: wait for the burst to end, at most `max_wait`."""
        now = self.clock()
        ready = []
        for item in self._ready_files(now):
            ready.append(item)
            if len(ready) >= self.max_batch:
                break
        folders = [f for f, t in self._folders_deleted.items() if now - t >= self.debounce]
        if not ready and not folders:
            self._waiting_since = None
            return None
        if self._waiting_since is None:
            self._waiting_since = now
        quiet = now - self._last_event >= self.debounce
        if not (
            quiet or now - self._waiting_since >= self.max_wait or len(ready) >= self.max_batch
        ):
            return None
        self._waiting_since = None
        batch = Batch()
        for path, entry in ready:
            del self._files[path]
            batch.files.append(ReadyFile(path, entry.state, now - entry.last_event, entry.tries))
        for folder in folders:
            del self._folders_deleted[folder]
        batch.folders_deleted = folders
        return batch

    def next_check(self) -> float:
        """Seconds until `take` may have something (a short poll while anything is pending)."""
        if not self._files and not self._folders_deleted:
            return 1.0
        return 0.05 if len(self._files) < 1000 else 0.25
