"""The watcher: filesystem events in, the index pipeline out, for as long as it runs.

One thread does all the work (events, captioning, index writes); watchdog's threads only queue
events. On start the watcher catches up (photos added, changed or removed while it was not
running), then handles events in batches (see `tracker`). Renames and moves re-point index rows;
deletions remove them; photocap's own writes are recognised and skipped. Every event handled is
logged on the `photocap.watch` logger with a dict under `record.photocap_event` (see
`photocap.watch.options.event_of`).

`Watcher` is composed of parts, each given what it needs: `Observing` (the observer, roots lost
and regained), `EventRouting` (events to the tracker and index moves), `BatchHandler` (batches
through the index run), `CatchUp` and `Rescans`; it runs the loop and writes the state file.
"""

from __future__ import annotations

import logging
import os
import queue
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from watchdog.events import FileSystemEvent

from photocap.errors import ImageError, PhotocapError
from photocap.store.index import Index
from photocap.watch.batches import BatchHandler
from photocap.watch.catch_up import CatchUp, Rescans
from photocap.watch.events import SIDECAR_GATHER, EventRouting
from photocap.watch.health import LastError, StateFile, iso, state_file_for
from photocap.watch.observer import LostEvents, QueueHandler
from photocap.watch.observing import Observing
from photocap.watch.options import WatchOptions, WatchSummary, emit
from photocap.watch.own_writes import OwnWrites
from photocap.watch.roots import RootWatch
from photocap.watch.tracker import ChangeTracker, outermost

if TYPE_CHECKING:
    from photocap.captioner import Captioner

log = logging.getLogger("photocap.watch")

OWN_WRITE_MEMORY = 120.0  # seconds an embedded write is remembered, to skip its own events


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
        self._stopping = False
        self._stopped = False
        self.own_writes = OwnWrites(OWN_WRITE_MEMORY, clock)
        self.root_watch = RootWatch(self.roots, clock=clock)
        self._started = time.time()
        self._last_error = LastError(on_error=self._state_changed)
        self.state_file = StateFile(
            state_file or state_file_for(self.roots), self._state, clock=clock
        )
        self._state_dirty = True
        events: queue.SimpleQueue[FileSystemEvent] = queue.SimpleQueue()
        self._rescans = Rescans(
            self.roots,
            root_watch=self.root_watch,
            catch_up=lambda roots: self._run_catch_up(initial=False, roots=roots),
            state_changed=self._state_changed,
        )
        self._observing = Observing(
            self.roots,
            QueueHandler(events),
            options,
            root_watch=self.root_watch,
            clock=clock,
            rescan=self._rescans.ask,
            state_changed=self._state_changed,
            tracker=self.tracker,
            summary=self.summary,
        )
        self._router = EventRouting(
            events,
            index,
            roots=self.roots,
            root_watch=self.root_watch,
            clock=clock,
            on_root_event=self._observing.root_event,
            probe_soon=self._observing.probe_soon,
            tracker=self.tracker,
            summary=self.summary,
        )
        self._batches = BatchHandler(
            index,
            lambda: self.captioner,
            options.index,
            own_writes=self.own_writes,
            state_file=self.state_file,
            clock=clock,
            there=self._observing.there,
            should_stop=lambda: self._stopping,
            state_changed=self._state_changed,
            tracker=self.tracker,
            summary=self.summary,
        )
        self._catch_up = CatchUp(
            index,
            self.roots,
            settle=options.settle,
            root_watch=self.root_watch,
            state_file=self.state_file,
            clock=clock,
            new_run=self._batches.new_run,
            run_guarded=self._batches.run_guarded,
            there=self._observing.there,
            prune=self._batches.prune,
            drain=lambda: self._router.drain(0),
            should_stop=lambda: self._stopping,
            tracker=self.tracker,
            summary=self.summary,
        )

    # -- life cycle -------------------------------------------------------------------------------

    def request_stop(self) -> None:
        """Finish the batch in hand, commit, and return from `run()`. Safe in a signal handler."""
        self._stopping = True

    @property
    def stopping(self) -> bool:
        return self._stopping

    @property
    def rescans(self) -> int:
        """Rescans run since the start."""
        return self._rescans.count

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
            self._observing.start()
        except OSError as exc:
            logging.getLogger("watchdog.observers").removeHandler(lost)
            log.removeHandler(self._last_error)
            raise PhotocapError(
                f"cannot watch {', '.join(self.roots)}: {exc.strerror or exc}",
                hint="check the folders exist and are readable",
            ) from exc
        try:
            model_id = self._warm_up()
            emit(
                logging.INFO,
                "started",
                f"watching {', '.join(self.roots)} ({self.summary.observer}), model {model_id}",
                roots=self.roots,
                observer=self.summary.observer,
                model=model_id,
            )
            if self.options.catch_up and not self._stopping:
                try:
                    self._run_catch_up(initial=True)
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
            self._observing.stop()
            self._stopped = True
            log.removeHandler(self._last_error)
            left = len(self.tracker) + self._batches.left
            emit(
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
        self._router.drain(min(wait, SIDECAR_GATHER) if self._router.sidecars_waiting else wait)
        self._router.queue_sidecar_photos()
        self._observing.check_watch_limit()
        if self.root_watch.due():
            self._observing.check_roots()
        if (where := lost.take()) is not None:  # the kernel dropped events: look again
            self._rescans.events_lost(where)
        if self.tracker.overflowed:  # more changes than it keeps: look again instead
            self.tracker.clear()
            self._rescans.ask(list(self.roots), "too-many-changes")
        self._rescans.run_due()
        batch = self.tracker.take()
        if batch is not None:
            self._batches.handle(batch)
        self.state_file.write(force=self._state_dirty)
        self._state_dirty = False

    def _run_catch_up(self, *, initial: bool, roots: list[str] | None = None) -> None:
        """A catch-up on `roots` (default: all), with no batch in hand."""
        self._batches.reset()
        self._catch_up.run(initial=initial, roots=roots)

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
            "rescans": self._rescans.count,
            "pending": len(self.tracker) + self._batches.pending,
            "catching_up": self._catch_up.active,
            "last_event": iso(self._router.last_event),
            "last_error": (
                {"time": iso(self._last_error.time), "message": self._last_error.message}
                if self._last_error.message is not None
                else None
            ),
        }
