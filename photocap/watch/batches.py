"""The watcher's batches: ready files from the tracker through the index run, rows of photos gone
deleted, each photo's outcome reported; photocap's own embedded writes are remembered and skipped.

`BatchHandler` also makes the index runs the catch-up uses, so both report photos the same way.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from photocap.errors import PhotocapError
from photocap.indexing import IndexOptions, IndexRun, PhotoOutcome
from photocap.photos.kinds import looks_like_photo
from photocap.watch.options import emit
from photocap.watch.tracker import inside

if TYPE_CHECKING:
    from photocap.captioner import Captioner
    from photocap.store.index import Index
    from photocap.watch.health import StateFile
    from photocap.watch.options import WatchSummary
    from photocap.watch.own_writes import OwnWrites
    from photocap.watch.tracker import Batch, ChangeTracker

log = logging.getLogger("photocap.watch")

RETRIES = 3


@dataclass
class _BatchState:
    number: int
    waited: dict[str, float] = field(default_factory=dict)
    handled: set[str] = field(default_factory=set)


def is_photo_now(path: str) -> bool:
    """As `photocap index` decides: the content says image, or the name does. An empty file
    is a placeholder (Firefox creates one beside its `.part` download): not yet a photo."""
    try:
        if not os.path.isfile(path) or os.path.getsize(path) == 0:
            return False
    except OSError:
        return False
    return looks_like_photo(path)


class BatchHandler:
    """Handles the tracker's batches with `index` and the model `captioner()` returns.

    `there(paths)` keeps the paths whose root is there now (a photo of a root unmounted keeps its
    row); `should_stop()` says the watcher is stopping; `state_changed()` asks for a state write.
    """

    def __init__(
        self,
        index: Index,
        captioner: Callable[[], Captioner],
        options: IndexOptions,
        *,
        own_writes: OwnWrites,
        tracker: ChangeTracker,
        summary: WatchSummary,
        state_file: StateFile,
        clock: Callable[[], float],
        there: Callable[[list[str]], list[str]],
        should_stop: Callable[[], bool],
        state_changed: Callable[[], None],
    ):
        self.index = index
        self.captioner = captioner
        self.options = options
        self.own_writes = own_writes
        self.tracker = tracker
        self.summary = summary
        self.state_file = state_file
        self.clock = clock
        self.there = there
        self.should_stop = should_stop
        self.state_changed = state_changed
        self._batch = _BatchState(0)
        self.left = 0  # photos of the batch in hand not reached when stopping

    @property
    def pending(self) -> int:
        """Photos of the batch in hand not handled yet."""
        return len(self._batch.waited) - len(self._batch.handled)

    def reset(self) -> None:
        """No batch in hand (a catch-up's photos belong to none)."""
        self._batch = _BatchState(0)

    def handle(self, batch: Batch) -> None:
        """Captions and indexes the batch's photos, deletes the rows of those gone."""
        started = self.clock()
        self.own_writes.forget_old()
        self._batch = state = _BatchState(self.summary.batches + 1)
        photos, gone = [], []
        for item in batch.files:
            if not os.path.lexists(item.path):
                gone.append(item.path)
            elif self.own_writes.unchanged_since(item.path):
                emit(
                    logging.DEBUG,
                    "own-write",
                    f"skipped {item.path}: photocap's own write",
                    path=item.path,
                )
            elif is_photo_now(item.path):
                photos.append(item)
        state.waited = {item.path: item.waited for item in photos}
        self.state_file.write(force=bool(photos))  # `pending` counts the photos in hand
        run: IndexRun | None = None
        try:
            if photos:
                run = self.new_run()
                self.run_guarded(lambda: run.run_files([item.path for item in photos]))
            if gone := self.there(gone):
                self.delete(gone)
            for folder in self.there(batch.folders_deleted):
                self.prune(folder)
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
        if self.should_stop():
            self.left += sum(item.path not in state.handled for item in photos)
        if not photos and not gone and not batch.folders_deleted:
            return
        self.summary.batches += 1
        self.state_changed()
        seconds = self.clock() - started
        counts = run.summary if run is not None else None
        emit(
            logging.INFO if counts and (counts.captioned or counts.held_back) else logging.DEBUG,
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

    def new_run(self, on_chunk: Callable[[int], None] | None = None) -> IndexRun:
        """An index run that reports each photo here and stops when the watcher does."""
        return IndexRun(
            self.index,
            self.captioner,
            # decoding workers cost more to start than they save on a few photos
            replace(self.options, workers_from=4 * self.options.batch_size),
            on_photo=self._on_photo,
            on_found=on_chunk,
            should_stop=self.should_stop,
        )

    def run_guarded(self, work: Callable[[], object]) -> None:
        """Run index work; when stopping, an error from the decoding workers is the stop's."""
        try:
            work()
        except Exception:
            # Ctrl-C or `systemctl stop` can reach the decoding workers too; the batches done so
            # far are committed, and the rest is caught up at the next start.
            if not self.should_stop():
                raise
            log.info("stopped while photos were being read; the rest waits for the next start")

    def delete(self, paths: list[str]) -> None:
        """Deletes the rows of `paths` (photos gone)."""
        rows = self.index.lookup(paths)
        if not rows:
            return
        self.index.delete(rows)
        for path in sorted(rows):
            self.summary.deleted += 1
            emit(logging.INFO, "deleted", f"deleted {path}", path=path)

    def prune(self, folder: str) -> None:
        """Deletes the rows of the photos gone under `folder`."""
        report = self.index.prune(under=folder)
        for path in report.removed:
            self.summary.deleted += 1
            emit(logging.INFO, "deleted", f"deleted {path}", path=path)
        for root in report.unavailable_roots:
            if inside(root, folder) or inside(folder, root):
                log.warning("%s is gone; its photos stay in the index (an unmounted drive?)", root)

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
            emit(logging.WARNING, kind, f"failed {path}: {outcome.error}", **fields)
        elif kind == "unchanged":
            emit(logging.DEBUG, kind, f"unchanged {path}", **fields)
        elif kind == "moved":
            emit(logging.INFO, kind, f"moved {outcome.moved_from} -> {path}", **fields)
        else:  # a declined photo has no caption, but the reason
            said = outcome.caption or outcome.error
            if outcome.alt_text:
                said = f"{said} (written instead: {outcome.alt_text})"
            emit(logging.INFO, kind, f"{kind.replace('_', ' ')} {path}: {said}", **fields)
