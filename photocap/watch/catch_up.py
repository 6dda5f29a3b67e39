"""The watcher's catch-up: what changed while nobody watched (before the start, while a root was
away, when the kernel dropped events): new, changed, moved and removed photos. `Watcher` mixes
this in.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from photocap.errors import PhotocapError

if TYPE_CHECKING:
    from collections.abc import Callable

    from photocap.indexing import IndexRun
    from photocap.store.index import Index
    from photocap.watch.health import StateFile
    from photocap.watch.options import WatchOptions, WatchSummary
    from photocap.watch.roots import RootWatch
    from photocap.watch.tracker import ChangeTracker

log = logging.getLogger("photocap.watch")


class CatchingUp:
    """Catches up on roots; the watcher provides the state and the steps named below."""

    index: Index
    roots: list[str]
    options: WatchOptions
    summary: WatchSummary
    tracker: ChangeTracker
    clock: Callable[[], float]
    root_watch: RootWatch
    state_file: StateFile
    _stopping: bool
    _catching_up: bool

    # provided by the watcher
    _emit: Callable[..., None]
    _new_run: Callable[..., IndexRun]
    _run: Callable[..., None]
    _reset_batch: Callable[..., None]
    _drain: Callable[..., None]
    _prune: Callable[..., None]
    _on_roots_there: Callable[..., list[str]]

    def _catch_up(self, *, initial: bool, roots: list[str] | None = None) -> None:
        """Handle what changed while nobody watched `roots` (default: all that are there): new,
        changed, moved and removed photos.

        Files changed in the last `settle` seconds may still be being written: they wait in the
        tracker like any new file.
        """
        started = self.clock()
        before = replace(self.summary)
        roots = [r for r in roots or self.roots if self.root_watch.watching(r)]
        if initial:
            for root in roots:
                self.index.add_root(root)
        self._reset_batch()
        self._catching_up = True
        self.state_file.write(force=True)
        recent_ns = time.time_ns() - int(self.options.settle * 1e9)

        def still_being_written(path: Path) -> bool:
            """Changed in the last `settle` seconds: it waits in the tracker like any new file."""
            try:
                st = os.stat(path)
            except OSError:
                return True  # gone meanwhile: its event says so
            if max(st.st_mtime_ns, st.st_ctime_ns) > recent_ns:
                self.tracker.created(str(path))
                return True
            return False

        # one run for every root: its plan lets discovery skip unchanged files unread; decoding
        # workers start only for a long catch-up, and events are handled between chunks
        run = self._new_run(on_chunk=lambda _found: self._between_chunks())
        try:
            for root in roots:
                if self._stopping:
                    break
                try:
                    self._run(lambda root=root: run.run([root], defer=still_being_written))
                except PhotocapError as exc:
                    log.warning("cannot catch up on %s: %s", root, exc)
            if not self._stopping:
                for root in self._on_roots_there(roots):
                    self._prune(root)
        finally:
            self._catching_up = False
        done = {k: v - before.counts[k] for k, v in self.summary.counts.items()}
        seconds = self.clock() - started
        self._emit(
            logging.INFO,
            "caught-up",
            "caught up: "
            + ", ".join(f"{v} {k}" for k, v in done.items() if v or k == "captioned")
            + f" in {seconds:.1f} s",
            roots=roots,
            seconds=round(seconds, 3),
            **done,
        )

    def _between_chunks(self) -> None:
        """While catching up: queued events are routed, and the state file kept fresh."""
        self._drain(0)
        self.state_file.write()
