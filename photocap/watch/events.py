"""The watcher's event routing: watchdog events become tracker entries and index moves.

Renames and folder moves re-point index rows at once; files that may be photos wait in the tracker
until complete; sidecar edits queue the photos that read them.
"""

from __future__ import annotations

import logging
import os
import queue
import time
from typing import TYPE_CHECKING

from watchdog.events import (
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
    FileAttribEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
)

from photocap.errors import PhotocapError
from photocap.metadata import photos_of_sidecars
from photocap.photos.discover import discover
from photocap.photos.kinds import is_never_a_photo, is_sidecar
from photocap.watch.options import emit
from photocap.watch.tracker import inside

if TYPE_CHECKING:
    from collections.abc import Callable

    from photocap.store.index import Index
    from photocap.watch.options import WatchSummary
    from photocap.watch.roots import RootWatch
    from photocap.watch.tracker import ChangeTracker

log = logging.getLogger("photocap.watch")

FOLDER_MOVE_MEMORY = 30.0  # seconds a folder move is remembered, to skip the per-file echoes
FOLDER_MOVES_KEPT = 1000  # at most; an echo not recognised costs a look at an unchanged photo
SIDECAR_GATHER = 0.3  # seconds sidecar events gather before their photos are looked up


class EventRouting:
    """Routes the events queued on `events` into `tracker` and, for moves, `index`.

    `on_root_event(root, deleted=...)` hears of a root itself deleted or moved; `probe_soon()` of
    new folders (that may take the last inotify watches).
    """

    def __init__(
        self,
        events: queue.SimpleQueue[FileSystemEvent],
        index: Index,
        *,
        roots: list[str],
        root_watch: RootWatch,
        tracker: ChangeTracker,
        summary: WatchSummary,
        clock: Callable[[], float],
        on_root_event: Callable[..., None],
        probe_soon: Callable[[], None],
    ):
        self.events = events
        self.index = index
        self.roots = roots
        self.root_watch = root_watch
        self.tracker = tracker
        self.summary = summary
        self.clock = clock
        self.on_root_event = on_root_event
        self.probe_soon = probe_soon
        self.last_event: float | None = None  # wall-clock time of the last filesystem event
        self._sidecars_changed: set[str] = set()  # sidecars written since the last lookup
        self._sidecars_since = 0.0  # when the first of them was
        self._folder_moves: list[tuple[str, str, float]] = []

    @property
    def sidecars_waiting(self) -> bool:
        """Sidecar changes wait for `queue_sidecar_photos` (within `SIDECAR_GATHER` s)."""
        return bool(self._sidecars_changed)

    def drain(self, timeout: float) -> None:
        """Handle the queued events, waiting up to `timeout` for the first one."""
        try:
            event = self.events.get(timeout=timeout) if timeout > 0 else self.events.get_nowait()
        except queue.Empty:
            return
        for _ in range(10_000):
            try:
                self._on_event(event)
            except Exception:  # one odd event must not stop the daemon
                log.exception("could not handle %r", event)
            try:
                event = self.events.get_nowait()
            except queue.Empty:
                return

    def _on_event(self, event: FileSystemEvent) -> None:
        src = os.fsdecode(event.src_path)
        dst = os.fsdecode(event.dest_path) if event.dest_path else ""
        log.debug("event %s %s%s", event.event_type, src, f" -> {dst}" if dst else "")
        self.last_event = time.time()
        if src in self.roots and isinstance(event, (DirMovedEvent, DirDeletedEvent)):
            # the root itself went: its rows stay (see `Observing`)
            self.on_root_event(src, deleted=isinstance(event, DirDeletedEvent))
        elif isinstance(event, DirMovedEvent):
            self._folder_moved(src, dst)
        elif isinstance(event, DirDeletedEvent):
            if self._visible(src):
                self.tracker.folder_deleted(src)
        elif isinstance(event, DirCreatedEvent):
            self.probe_soon()
        elif isinstance(event, FileMovedEvent):
            self._file_moved(src, dst)
            self._sidecar_changed(src, dst)  # an editor's write renamed into place, or a delete
        elif is_sidecar(src):
            self._sidecar_changed(src)
        elif not self._candidate(src):
            return
        elif isinstance(event, FileClosedEvent):
            self.tracker.closed(src)
        elif isinstance(event, FileModifiedEvent):
            self.tracker.modified(src)
        elif isinstance(event, FileCreatedEvent):
            self.tracker.created(src)
        elif isinstance(event, FileAttribEvent):
            self.tracker.attrib(src)
        elif isinstance(event, FileDeletedEvent):
            self.tracker.deleted(src)

    def _visible(self, path: str) -> bool:
        """Inside a watched folder and not hidden there (as `photocap index` sees it)."""
        root = self.root_watch.root_of(path)
        if root is None:
            return False
        relative = os.path.relpath(path, root)
        return relative == "." or not any(p.startswith(".") for p in relative.split(os.sep))

    def _candidate(self, path: str) -> bool:
        """A file that may be a photo to caption: visible, not photocap's, not still downloading."""
        return self._visible(path) and not is_never_a_photo(path)

    def _sidecar_changed(self, *sidecars: str) -> None:
        """A person's photo manager may have written a caption into a sidecar alone: the sidecar
        waits with the others for `queue_sidecar_photos` to look its photos up."""
        for sidecar in sidecars:
            if sidecar and is_sidecar(sidecar) and self._visible(sidecar):
                if not self._sidecars_changed:
                    self._sidecars_since = self.clock()
                self._sidecars_changed.add(sidecar)

    def queue_sidecar_photos(self) -> None:
        """The photos that read the sidecars changed in the last `SIDECAR_GATHER` seconds wait in
        the tracker (one folder listing per folder, however many sidecars a bulk save wrote).
        The pipeline sees their sidecars' mtime differ from the row's and reads the caption; our
        own sidecar writes are recorded with their mtime, so their echo costs a stat."""
        if not self._sidecars_changed or self.clock() - self._sidecars_since < SIDECAR_GATHER:
            return
        photos = photos_of_sidecars(self._sidecars_changed)
        self._sidecars_changed.clear()
        for photo in map(str, photos):
            if self._candidate(photo):
                self.tracker.sidecar_changed(photo)

    def _file_moved(self, src: str, dst: str) -> None:
        if src and dst and self._echo_of_folder_move(src, dst):
            return
        src_ok = bool(src) and self._candidate(src)
        dst_ok = bool(dst) and self._candidate(dst)
        if src_ok and dst_ok:
            followed = self.tracker.rename(src, dst)  # not captioned yet: follow it
            try:
                moved = self.index.move(src, dst)
            except PhotocapError as exc:  # leave it to the pipeline's move detection by hash
                log.warning("could not move the row of %s: %s", src, exc)
                self.tracker.deleted(src)
                moved = False
            if moved:
                self.summary.moved += 1
                emit(logging.INFO, "moved", f"moved {src} -> {dst}", path=dst, moved_from=src)
                if (row := self.index.get(dst)) is not None and row.status != "ok":
                    # its read failed, as it was moved away meanwhile, say: read it again
                    self.tracker.complete(dst)
            elif not followed:
                self.tracker.complete(dst)
        elif dst_ok:  # renamed into place: a finished download or copy, or our own atomic write
            self.tracker.complete(dst)
        elif src_ok:  # moved out of sight
            self.tracker.deleted(src)

    def _folder_moved(self, src: str, dst: str) -> None:
        src_ok = bool(src) and self._visible(src)
        dst_ok = bool(dst) and self._visible(dst)
        if src_ok and dst_ok:
            self.tracker.rename_folder(src, dst)
            try:
                count = self.index.move_folder(src, dst)
            except PhotocapError as exc:  # rows of the old folder go; the photos are found by hash
                log.warning("could not move the rows of %s: %s", src, exc)
                self.tracker.folder_deleted(src)
                self._scan(dst)
                return
            self._folder_moves = self._folder_moves[-FOLDER_MOVES_KEPT + 1 :]
            self._folder_moves.append((src, dst, self.clock()))
            self.summary.moved += count
            emit(
                logging.INFO,
                "folder-moved",
                f"moved folder {src} -> {dst} ({count} photos)",
                path=dst,
                moved_from=src,
                photos=count,
            )
            self.probe_soon()
        elif dst_ok:  # moved in from elsewhere: every photo in it is complete
            self._scan(dst)
            self.probe_soon()
        elif src_ok:
            self.tracker.folder_deleted(src)

    def _echo_of_folder_move(self, src: str, dst: str) -> bool:
        """watchdog reports each file of a moved folder too; its row moved with the folder."""
        self._forget_old_folder_moves()
        return any(
            inside(src, old) and dst == new + src[len(old) :] for old, new, _ in self._folder_moves
        )

    def _forget_old_folder_moves(self) -> None:
        now = self.clock()
        if self._folder_moves and now - self._folder_moves[0][2] >= FOLDER_MOVE_MEMORY:
            self._folder_moves = [m for m in self._folder_moves if now - m[2] < FOLDER_MOVE_MEMORY]

    def _scan(self, folder: str) -> None:
        try:
            for path in discover(folder, on_error=self._folder_error):
                self.tracker.complete(str(path))
        except PhotocapError as exc:
            log.warning("cannot scan %s: %s", folder, exc)

    def _folder_error(self, error: PhotocapError) -> None:
        emit(logging.WARNING, "failed", str(error), path=str(error.path), error=error.message)
