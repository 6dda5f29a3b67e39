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
    FileSystemEvent,
)

from photocap.errors import ImageError, PhotocapError
from photocap.indexing import IndexRun, PhotoOutcome
from photocap.photos.kinds import looks_like_photo
from photocap.store.index import Index
from photocap.watch.catch_up import CatchingUp
from photocap.watch.events import SIDECAR_GATHER, EventRouting
from photocap.watch.health import LastError, StateFile, iso, state_file_for
from photocap.watch.observer import LostEvents, QueueHandler, stop_observer
from photocap.watch.observing import Observing
from photocap.watch.options import (
    EVENT_ATTR,
    WatchOptions,
    WatchSummary,
)
from photocap.watch.own_writes import OwnWrites
from photocap.watch.roots import RootWatch
from photocap.watch.tracker import Batch, ChangeTracker, inside, outermost

if TYPE_CHECKING:
    from watchdog.observers.api import BaseObserver

    from photocap.captioner import Captioner

log = logging.getLogger("photocap.watch")

OWN_WRITE_MEMORY = 120.0  # seconds an embedded write is remembered, to skip its own events
RETRIES = 3


@dataclass
class _BatchState:
    number: int
    waited: dict[str, float] = field(default_factory=dict)
    handled: set[str] = field(default_factory=set)


class Watcher(EventRouting, Observing, CatchingUp):
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
        state_file: str | os.PathLike[str] | None = None,
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
        self._stopped = False
        self.own_writes = OwnWrites(OWN_WRITE_MEMORY, clock)
        self._sidecars_changed: set[str] = set()  # sidecars written since the last lookup
        self._sidecars_since = 0.0  # when the first of them was
        self._folder_moves: list[tuple[str, str, float]] = []
        self._probe_at: float | None = None
        self._batch = _BatchState(0)
        self._left = 0  # photos of the batch in hand not reached when stopping
        self.root_watch = RootWatch(self.roots, clock=clock)
        self.rescans = 0
        self._rescans_due: dict[str, str] = {}
        self._catching_up = False
        self._started = time.time()
        self._last_event: float | None = None  # wall-clock time of the last filesystem event
        self._last_error = LastError(on_error=self._state_changed)
        self.state_file = StateFile(
            state_file or state_file_for(self.roots), self._state, clock=clock
        )
        self._state_dirty = True

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
        log.addHandler(self._last_error)
        try:
            self._start_observer()
        except OSError as exc:
            logging.getLogger("watchdog.observers").removeHandler(lost)
            log.removeHandler(self._last_error)
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
            self._stopped = True
            log.removeHandler(self._last_error)
            left = len(self.tracker) + self._left
            self._emit(
                logging.INFO,
                "stopped",
                "stopped"
                + (f"; {left} changes left for the next start to catch up" if left else ""),
                pending=left,
                **{k: v for k, v in self.summary.to_dict().items() if k != "observer"},
            )
            self.state_file.write(force=True)
        return self.summary

    def _warm_up(self) -> str:
        """Loads the model once and runs it on a blank image, so the first photo does not pay for
        the first pass (memory allocation, kernel selection); returns the model id."""
        from PIL import Image

        from photocap.model.beam import DecodeOptions

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
        if self.root_watch.due():
            self._check_roots()
        if (where := lost.take()) is not None:  # the kernel dropped events: look again
            self._events_lost(where)
        if self.tracker.overflowed:  # more changes than it keeps: look again instead
            self.tracker.clear()
            self._rescan(list(self.roots), "too-many-changes")
        self._run_rescans()
        batch = self.tracker.take()
        if batch is not None:
            self._handle_batch(batch)
        self.state_file.write(force=self._state_dirty)
        self._state_dirty = False

    def _state_changed(self) -> None:
        self._state_dirty = True

    def _state(self) -> dict[str, Any]:
        """What the state file says (see `photocap.watch.health`)."""
        return {
            "state": "stopped" if self._stopped else "running",
            "pid": os.getpid(),
            "started": iso(self._started),
            "observer": self.summary.observer,
            "roots": [{**root.to_dict(), "since": iso(root.since)} for root in self.root_watch],
            "counts": self.summary.counts,
            "batches": self.summary.batches,
            "rescans": self.rescans,
            "pending": len(self.tracker) + len(self._batch.waited) - len(self._batch.handled),
            "catching_up": self._catching_up,
            "last_event": iso(self._last_event),
            "last_error": (
                {"time": iso(self._last_error.time), "message": self._last_error.message}
                if self._last_error.message is not None
                else None
            ),
        }

    # -- batches ----------------------------------------------------------------------------------

    def _handle_batch(self, batch: Batch) -> None:
        started = self.clock()
        self.own_writes.forget_old()
        self._batch = state = _BatchState(self.summary.batches + 1)
        photos, gone = [], []
        for item in batch.files:
            if not os.path.lexists(item.path):
                gone.append(item.path)
            elif self.own_writes.unchanged_since(item.path):
                self._emit(
                    logging.DEBUG,
                    "own-write",
                    f"skipped {item.path}: photocap's own write",
                    path=item.path,
                )
            elif self._looks_like_photo(item.path):
                photos.append(item)
        state.waited = {item.path: item.waited for item in photos}
        self.state_file.write(force=bool(photos))  # `pending` counts the photos in hand
        run: IndexRun | None = None
        try:
            if photos:
                run = self._new_run()
                self._run(lambda: run.run_files([item.path for item in photos]))
            if gone := self._on_roots_there(gone):
                self._delete(gone)
            for folder in self._on_roots_there(batch.folders_deleted):
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
        self._state_changed()
        seconds = self.clock() - started
        counts = run.summary if run is not None else None
        self._emit(
            logging.INFO if counts and counts.captioned else logging.DEBUG,
            "batch",
            f"batch {state.number}: {len(photos)} photos looked at"
            + (f", {counts.captioned} captioned" if counts else "")
            + (f", {counts.held_back} held back" if counts and counts.held_back else "")
            + (f", {len(gone)} gone" if gone else "")
            + f" in {seconds:.2f} s",
            batch=state.number,
            photos=len(photos),
            captioned=counts.captioned if counts else 0,
            held_back=counts.held_back if counts else 0,
            failed=len(counts.failed) if counts else 0,
            gone=len(gone),
            seconds=round(seconds, 3),
        )

    def _new_run(self, on_chunk: Callable[[int], None] | None = None) -> IndexRun:
        return IndexRun(
            self.index,
            lambda: self.captioner,
            # decoding workers cost more to start than they save on a few photos
            replace(self.options.index, workers_from=4 * self.options.index.batch_size),
            on_photo=self._on_photo,
            on_found=on_chunk,
            should_stop=lambda: self._stopping,
        )

    def _run(self, work: Callable[[], object]) -> None:
        """Run index work; when stopping, an error from the decoding workers is the stop's."""
        try:
            work()
        except Exception:
            # Ctrl-C or `systemctl stop` can reach the decoding workers too; the batches done so
            # far are committed, and the rest is caught up at the next start.
            if not self._stopping:
                raise
            log.info("stopped while photos were being read; the rest waits for the next start")

    def _looks_like_photo(self, path: str) -> bool:
        """As `photocap index` decides: the content says image, or the name does. An empty file
        is a placeholder (Firefox creates one beside its `.part` download): not yet a photo."""
        try:
            if not os.path.isfile(path) or os.path.getsize(path) == 0:
                return False
        except OSError:
            return False
        return looks_like_photo(path)

    def _on_photo(self, outcome: PhotoOutcome) -> None:
        path, kind = outcome.path, outcome.outcome
        if outcome.written == "embedded":
            self.own_writes.remember(path)
        self._batch.handled.add(path)
        self.state_file.write()  # kept fresh through a long batch
        if kind == "failed":
            self.summary.failed += 1
        else:
            self.summary.count(outcome)
        waited = self._batch.waited.get(path)
        fields = {
            "path": path,
            "caption": outcome.caption,
            "source": outcome.source,
            "written": outcome.written,
            "alt_text": outcome.alt_text,
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
        else:  # a declined photo has no caption, but the reason
            said = outcome.caption or outcome.error
            if outcome.alt_text:
                said = f"{said} (written instead: {outcome.alt_text})"
            self._emit(logging.INFO, kind, f"{kind.replace('_', ' ')} {path}: {said}", **fields)

    def _on_roots_there(self, paths: list[str]) -> list[str]:
        """`paths` whose root is there as it was watched, looked at now: a photo that seems gone
        because its whole root is (unmounted, renamed away) keeps its row."""
        if not paths:
            return paths
        roots = {r for r in self.roots for p in paths if inside(p, r)}
        self._check_roots(roots)
        return [p for p in paths if self._root_of(p) is not None]

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

    def _reset_batch(self) -> None:
        self._batch = _BatchState(0)

    # -- reporting ----------------------------------------------------------------------------------

    def _emit(self, level: int, event: str, message: str, **fields: Any) -> None:
        data = {"event": event, **{k: v for k, v in fields.items() if v is not None}}
        log.log(level, message, extra={EVENT_ATTR: data})
