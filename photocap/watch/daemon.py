"""The watcher: filesystem events in, the index pipeline out, for as long as it runs.

One thread does all the work (events, captioning, index writes); watchdog's threads only queue
events. On start the watcher catches up (photos added, changed or removed while it was not
running), then handles events in batches (see `tracker`). Renames and moves re-point index rows;
deletions remove them; photocap's own writes are recognised and skipped. Every event handled is
logged on the `photocap.watch` logger with a dict under `record.photocap_event` (see
`photocap.watch.options.event_of`).
"""

from __future__ import annotations

import logging
import os
import queue
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

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

from photocap.errors import ImageError, PhotocapError
from photocap.images import IMAGE_SUFFIXES, discover, sniff_format
from photocap.index import Index
from photocap.metadata import (
    is_photocap_file,
    is_sidecar,
    photos_of_sidecars,
    sidecars_mtime_ns,
)
from photocap.pipeline import CHUNK, IndexRun, PhotoOutcome
from photocap.watch.observer import (
    LostEvents,
    QueueHandler,
    WatchLimitReached,
    inotify_room_error,
    limit_message,
    start_native,
    start_polling,
    stop_observer,
    uses_inotify,
)
from photocap.watch.options import (
    EVENT_ATTR,
    IN_PROGRESS_SUFFIXES,
    WatchOptions,
    WatchSummary,
)
from photocap.watch.tracker import Batch, ChangeTracker, Signature, inside, outermost, signature

if TYPE_CHECKING:
    from watchdog.observers.api import BaseObserver

    from photocap.captioner import Captioner

log = logging.getLogger("photocap.watch")

OWN_WRITE_MEMORY = 120.0  # seconds an embedded write is remembered, to skip its own events
FOLDER_MOVE_MEMORY = 30.0  # seconds a folder move is remembered, to skip the per-file echoes
RETRIES = 3
SIDECAR_GATHER = 0.3  # seconds sidecar events gather before their photos are looked up

_WrittenState = tuple[Signature | None, int | None]  # the photo's signature, its sidecars' mtime


def _written_state(path: str) -> _WrittenState:
    """What tells our own write from a later one: the photo's signature and, as a person may
    caption it in a sidecar alone right after, its sidecars' newest mtime."""
    return signature(path), sidecars_mtime_ns(path)


@dataclass
class _BatchState:
    number: int
    waited: dict[str, float] = field(default_factory=dict)
    handled: set[str] = field(default_factory=set)


class Watcher:
    """Keeps the index and the photos' alt text up to date with `roots` until `request_stop()`.

    `captioner` loads the model (called once, at start). `run()` blocks; call `request_stop()`
    from a signal handler or another thread: the batch in hand is finished and committed first.
    """

    def __init__(
        self,
        index: Index,
        captioner: Callable[[], Captioner],
        roots: Sequence[str | os.PathLike[str]],
        options: WatchOptions | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.index = index
        self._load_captioner = captioner
        self._captioner: Captioner | None = None
        self.roots = outermost([os.path.abspath(os.fspath(r)) for r in roots])
        self.options = options = options or WatchOptions()
        self.clock = clock
        self.tracker = ChangeTracker(
            settle=options.settle,
            debounce=options.debounce,
            max_wait=options.max_wait,
            max_batch=options.max_batch,
            clock=clock,
        )
        self.summary = WatchSummary()
        self._events: queue.SimpleQueue[FileSystemEvent] = queue.SimpleQueue()
        self._handler = QueueHandler(self._events)
        self._observer: BaseObserver | None = None
        self._stopping = False
        # photo -> (its state right after we embedded a caption, until when it is remembered)
        self._own_writes: dict[str, tuple[_WrittenState, float]] = {}
        self._sidecars_changed: set[str] = set()  # sidecars written since the last lookup
        self._sidecars_since = 0.0  # when the first of them was
        self._folder_moves: list[tuple[str, str, float]] = []
        self._probe_at: float | None = None
        self._batch = _BatchState(0)
        self._left = 0  # photos of the batch in hand not reached when stopping

    # -- life cycle -------------------------------------------------------------------------------

    def request_stop(self) -> None:
        """Finish the batch in hand, commit, and return from `run()`. Safe in a signal handler."""
        self._stopping = True

    @property
    def stopping(self) -> bool:
        return self._stopping

    @property
    def captioner(self) -> Captioner:
        if self._captioner is None:
            self._captioner = self._load_captioner()
        return self._captioner

    def run(self) -> WatchSummary:
        """Watch until `request_stop()`; returns what was done."""
        for root in self.roots:
            if not os.path.isdir(root):
                raise ImageError("no such folder", path=root, hint="check the path")
        lost = LostEvents()
        logging.getLogger("watchdog.observers").addHandler(lost)
        try:
            self._start_observer()
        except OSError as exc:
            logging.getLogger("watchdog.observers").removeHandler(lost)
            raise PhotocapError(
                f"cannot watch {', '.join(self.roots)}: {exc.strerror or exc}",
                hint="check the folders exist and are readable",
            ) from exc
        try:
            model_id = self._warm_up()
            self._emit(
                logging.INFO,
                "started",
                f"watching {', '.join(self.roots)} ({self.summary.observer}), model {model_id}",
                roots=self.roots,
                observer=self.summary.observer,
                model=model_id,
            )
            if self.options.catch_up and not self._stopping:
                try:
                    self._catch_up(initial=True)
                except Exception:  # e.g. the database busy for too long: new events still count
                    log.exception("catching up failed; watching for new changes anyway")
            while not self._stopping:
                try:
                    self._step(lost)
                except Exception:  # never die on one odd file, folder or database hiccup
                    log.exception("unexpected error; going on")
                    time.sleep(1.0)
        finally:
            logging.getLogger("watchdog.observers").removeHandler(lost)
            if self._observer is not None:
                stop_observer(self._observer)
            left = len(self.tracker) + self._left
            self._emit(
                logging.INFO,
                "stopped",
                "stopped"
                + (f"; {left} changes left for the next start to catch up" if left else ""),
                pending=left,
                **{k: v for k, v in self.summary.to_dict().items() if k != "observer"},
            )
        return self.summary

    def _warm_up(self) -> str:
        """Loads the model once and runs it on a blank image, so the first photo does not pay for
        the first pass (memory allocation, kernel selection); returns the model id."""
        from PIL import Image

        from photocap.model.search import DecodeOptions

        captioner = self.captioner
        try:
            blank = Image.new("RGB", (256, 256), (127, 127, 127))
            captioner.caption_images([blank], DecodeOptions(beam_size=self.options.index.beam))
        except Exception:  # only a speed-up: photos will say what is wrong, if anything
            log.debug("warm-up failed", exc_info=True)
        return captioner.model_id

    def _step(self, lost: LostEvents) -> None:
        wait = self.tracker.next_check()
        self._drain(min(wait, SIDECAR_GATHER) if self._sidecars_changed else wait)
        self._queue_sidecar_photos()
        self._check_watch_limit()
        if lost.lost:  # the kernel dropped events: look at everything again
            lost.lost = False
            log.warning("filesystem events were lost (inotify queue overflow); rescanning")
            self._catch_up(initial=False)
        batch = self.tracker.take()
        if batch is not None:
            self._handle_batch(batch)

    # -- observers --------------------------------------------------------------------------------

    def _start_observer(self) -> None:
        if self.options.polling:
            self._start_polling(None)
            return
        try:
            self._observer = start_native(self.roots, self._handler)
        except WatchLimitReached as exc:
            self._start_polling(exc.message)
            return
        self.summary.observer = "inotify" if uses_inotify(self._observer) else "native"

    def _start_polling(self, reason: str | None) -> None:
        if self._observer is not None:
            stop_observer(self._observer)
        interval = self.options.poll_interval
        self._observer = start_polling(self.roots, self._handler, interval)
        self.summary.observer = "polling"
        if reason is not None:
            self._emit(
                logging.WARNING,
                "polling",
                f"{reason}; watching by polling every {interval:g} s instead",
                reason=reason,
                interval=interval,
            )

    def _probe_soon(self) -> None:
        if self._observer is not None and uses_inotify(self._observer) and self._probe_at is None:
            self._probe_at = self.clock() + 0.5  # after watchdog has added its watches

    def _check_watch_limit(self) -> None:
        """New folders may have taken the last inotify watches: then poll, and look again."""
        if self._probe_at is None or self.clock() < self._probe_at:
            return
        self._probe_at = None
        error = inotify_room_error(self.roots[0]) if self.roots else None
        if error is not None:
            self._start_polling(limit_message(error))
            self._catch_up(initial=False)  # folders added meanwhile may not have been watched

    # -- events -----------------------------------------------------------------------------------

    def _drain(self, timeout: float) -> None:
        """Handle the queued events, waiting up to `timeout` for the first one."""
        try:
            event = self._events.get(timeout=timeout) if timeout > 0 else self._events.get_nowait()
        except queue.Empty:
            return
        for _ in range(10_000):
            try:
                self._on_event(event)
            except Exception:  # one odd event must not stop the daemon
                log.exception("could not handle %r", event)
            try:
                event = self._events.get_nowait()
            except queue.Empty:
                return

    def _on_event(self, event: FileSystemEvent) -> None:
        src = os.fsdecode(event.src_path)
        dst = os.fsdecode(event.dest_path) if event.dest_path else ""
        log.debug("event %s %s%s", event.event_type, src, f" -> {dst}" if dst else "")
        if isinstance(event, DirMovedEvent):
            self._folder_moved(src, dst)
        elif isinstance(event, DirDeletedEvent):
            if self._visible(src):
                self.tracker.folder_deleted(src)
        elif isinstance(event, DirCreatedEvent):
            self._probe_soon()
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

    def _root_of(self, path: str) -> str | None:
        return next((r for r in self.roots if inside(path, r)), None)

    def _visible(self, path: str) -> bool:
        """Inside a watched folder and not hidden there (as `photocap index` sees it)."""
        root = self._root_of(path)
        if root is None:
            return False
        relative = os.path.relpath(path, root)
        return relative == "." or not any(p.startswith(".") for p in relative.split(os.sep))

    def _candidate(self, path: str) -> bool:
        """A file that may be a photo to caption: visible, not photocap's, not still downloading."""
        return (
            self._visible(path)
            and not is_photocap_file(path)
            and not path.lower().endswith(IN_PROGRESS_SUFFIXES)
        )

    def _sidecar_changed(self, *sidecars: str) -> None:
        """A person's photo manager may have written a caption into a sidecar alone: the sidecar
        waits with the others for `_queue_sidecar_photos` to look its photos up."""
        for sidecar in sidecars:
            if sidecar and is_sidecar(sidecar) and self._visible(sidecar):
                if not self._sidecars_changed:
                    self._sidecars_since = self.clock()
                self._sidecars_changed.add(sidecar)

    def _queue_sidecar_photos(self) -> None:
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
                self._emit(logging.INFO, "moved", f"moved {src} -> {dst}", path=dst, moved_from=src)
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
            self._folder_moves.append((src, dst, self.clock()))
            self.summary.moved += count
            self._emit(
                logging.INFO,
                "folder-moved",
                f"moved folder {src} -> {dst} ({count} photos)",
                path=dst,
                moved_from=src,
                photos=count,
            )
            self._probe_soon()
        elif dst_ok:  # moved in from elsewhere: every photo in it is complete
            self._scan(dst)
            self._probe_soon()
        elif src_ok:
            self.tracker.folder_deleted(src)

    def _echo_of_folder_move(self, src: str, dst: str) -> bool:
        """watchdog reports each file of a moved folder too; its row moved with the folder."""
        now = self.clock()
        self._folder_moves = [m for m in self._folder_moves if now - m[2] < FOLDER_MOVE_MEMORY]
        return any(
            inside(src, old) and dst == new + src[len(old) :] for old, new, _ in self._folder_moves
        )

    def _scan(self, folder: str) -> None:
        try:
            for path in discover(folder, on_error=self._folder_error):
                self.tracker.complete(str(path))
        except PhotocapError as exc:
            log.warning("cannot scan %s: %s", folder, exc)

    def _folder_error(self, error: PhotocapError) -> None:
        self._emit(logging.WARNING, "failed", str(error), path=str(error.path), error=error.message)

    # -- batches ----------------------------------------------------------------------------------

    def _handle_batch(self, batch: Batch) -> None:
        started = self.clock()
        self._forget_old_writes()
        self._batch = state = _BatchState(self.summary.batches + 1)
        photos, gone = [], []
        for item in batch.files:
            if not os.path.lexists(item.path):
                gone.append(item.path)
            elif self._own_write(item.path):
                self._emit(
                    logging.DEBUG,
                    "own-write",
                    f"skipped {item.path}: photocap's own write",
                    path=item.path,
                )
            elif self._looks_like_photo(item.path):
                photos.append(item)
        state.waited = {item.path: item.waited for item in photos}
        run: IndexRun | None = None
        try:
            if photos:
                run = self._run_files([item.path for item in photos])
            if gone:
                self._delete(gone)
            for folder in batch.folders_deleted:
                self._prune(folder)
        except Exception as exc:  # e.g. the database busy for longer than its timeout
            log.error(
                "batch %d failed: %s",
                state.number,
                exc,
                exc_info=not isinstance(exc, PhotocapError),
            )
            for item in photos:
                if item.path not in state.handled and item.tries < RETRIES:
                    self.tracker.complete(
                        item.path, delay=5.0 * 2**item.tries, tries=item.tries + 1
                    )
        if self._stopping:
            self._left += sum(item.path not in state.handled for item in photos)
        if not photos and not gone and not batch.folders_deleted:
            return
        self.summary.batches += 1
        seconds = self.clock() - started
        counts = run.summary if run is not None else None
        self._emit(
            logging.INFO if counts and counts.captioned else logging.DEBUG,
            "batch",
            f"batch {state.number}: {len(photos)} photos looked at"
            + (f", {counts.captioned} captioned" if counts else "")
            + (f", {len(gone)} gone" if gone else "")
            + f" in {seconds:.2f} s",
            batch=state.number,
            photos=len(photos),
            captioned=counts.captioned if counts else 0,
            failed=len(counts.failed) if counts else 0,
            gone=len(gone),
            seconds=round(seconds, 3),
        )

    def _new_run(self, photos: int) -> IndexRun:
        # decoding workers cost more to start than they save on a few photos
        many = photos >= 4 * self.options.index.batch_size
        return IndexRun(
            self.index,
            lambda: self.captioner,
            replace(self.options.index, workers=self.options.index.workers if many else 0),
            on_photo=self._on_photo,
            should_stop=lambda: self._stopping,
        )

    def _run_files(self, paths: list[str], run: IndexRun | None = None) -> IndexRun:
        """Caption `paths` through the index pipeline, one committed batch at a time."""
        run = run or self._new_run(len(paths))
        try:
            run.run_files(paths)
        except Exception:
            # Ctrl-C or `systemctl stop` can reach the decoding workers too; the batches done so
            # far are committed, and the rest is caught up at the next start.
            if not self._stopping:
                raise
            log.info("stopped while photos were being read; the rest waits for the next start")
        return run

    def _looks_like_photo(self, path: str) -> bool:
        """As `photocap index` decides: the content says image, or the name does. An empty file
        is a placeholder (Firefox creates one beside its `.part` download): not yet a photo."""
        try:
            if not os.path.isfile(path) or os.path.getsize(path) == 0:
                return False
        except OSError:
            return False
        try:
            if sniff_format(path) is not None:
                return True
        except ImageError:
            pass
        return os.path.splitext(path)[1].lower() in IMAGE_SUFFIXES

    def _own_write(self, path: str) -> bool:
        """True when the file is exactly as photocap left it after embedding a caption."""
        mine = self._own_writes.get(path)
        return mine is not None and _written_state(path) == mine[0]

    def _forget_old_writes(self) -> None:
        now = self.clock()
        if any(until < now for _, until in self._own_writes.values()):
            self._own_writes = {p: v for p, v in self._own_writes.items() if v[1] >= now}

    def _on_photo(self, outcome: PhotoOutcome) -> None:
        path, kind = outcome.path, outcome.outcome
        if outcome.written == "embedded" and (state := _written_state(path))[0] is not None:
            self._own_writes[path] = (state, self.clock() + OWN_WRITE_MEMORY)
        self._batch.handled.add(path)
        setattr(self.summary, kind, getattr(self.summary, kind) + 1)
        waited = self._batch.waited.get(path)
        fields = {
            "path": path,
            "caption": outcome.caption,
            "source": outcome.source,
            "written": outcome.written,
            "error": outcome.error,
            "moved_from": outcome.moved_from,
            "batch": self._batch.number or None,
            "waited": round(waited, 3) if waited is not None else None,
        }
        if kind == "failed":
            self._emit(logging.WARNING, kind, f"failed {path}: {outcome.error}", **fields)
        elif kind == "unchanged":
            self._emit(logging.DEBUG, kind, f"unchanged {path}", **fields)
        elif kind == "moved":
            self._emit(logging.INFO, kind, f"moved {outcome.moved_from} -> {path}", **fields)
        else:
            self._emit(logging.INFO, kind, f"{kind} {path}: {outcome.caption}", **fields)

    def _delete(self, paths: list[str]) -> None:
        rows = self.index.lookup(paths)
        if not rows:
            return
        self.index.delete(rows)
        for path in sorted(rows):
            self.summary.deleted += 1
            self._emit(logging.INFO, "deleted", f"deleted {path}", path=path)

    def _prune(self, folder: str) -> None:
        report = self.index.prune(under=folder)
        for path in report.removed:
            self.summary.deleted += 1
            self._emit(logging.INFO, "deleted", f"deleted {path}", path=path)
        for root in report.unavailable_roots:
            if inside(root, folder) or inside(folder, root):
                log.warning("%s is gone; its photos stay in the index (an unmounted drive?)", root)

    # -- catching up --------------------------------------------------------------------------------

    def _catch_up(self, *, initial: bool) -> None:
        """Handle what changed while nobody watched: new, changed, moved and removed photos.

        Files changed in the last `settle` seconds may still be being written: they wait in the
        tracker like any new file.
        """
        started = self.clock()
        before = replace(self.summary)
        if initial:
            for root in self.roots:
                self.index.add_root(root)
        self._batch = _BatchState(0)
        recent_ns = time.time_ns() - int(self.options.settle * 1e9)
        run = self._new_run(0)  # one run: its `known` lets discovery skip unchanged files unread
        changed = 0

        def known(path: str, st: os.stat_result) -> bool:
            nonlocal changed
            if run.known(path, st):
                return True
            changed += 1
            if changed == 4 * self.options.index.batch_size:  # a long catch-up: decode in workers
                run.options = replace(run.options, workers=self.options.index.workers)
            return False

        chunk: list[str] = []
        for root in self.roots:
            try:
                for path in discover(root, on_error=self._folder_error, known=known):
                    if self._stopping:
                        break
                    try:
                        st = os.stat(path)
                    except OSError:
                        continue
                    if max(st.st_mtime_ns, st.st_ctime_ns) > recent_ns:
                        self.tracker.created(str(path))
                        continue
                    chunk.append(str(path))
                    if len(chunk) >= CHUNK:
                        self._run_files(chunk, run)
                        chunk = []
                        self._drain(0)
            except PhotocapError as exc:
                log.warning("cannot catch up on %s: %s", root, exc)
        if chunk and not self._stopping:
            self._run_files(chunk, run)
        if not self._stopping:
            for root in self.roots:
                self._prune(root)
        done = {k: getattr(self.summary, k) - getattr(before, k) for k in _COUNTS}
        seconds = self.clock() - started
        self._emit(
            logging.INFO,
            "caught-up",
            "caught up: "
            + ", ".join(f"{v} {k}" for k, v in done.items() if v or k == "captioned")
            + f" in {seconds:.1f} s",
            seconds=round(seconds, 3),
            **done,
        )

    # -- reporting ----------------------------------------------------------------------------------

    def _emit(self, level: int, event: str, message: str, **fields: Any) -> None:
        data = {"event": event, **{k: v for k, v in fields.items() if v is not None}}
        log.log(level, message, extra={EVENT_ATTR: data})


_COUNTS = ("captioned", "unchanged", "moved", "human", "reused", "deleted", "failed")
