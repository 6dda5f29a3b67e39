"""The watcher's catch-up: what changed while nobody watched (before the start, while a root was
away, when the kernel dropped events): new, changed, moved and removed photos; and `Rescans`, the
catch-ups asked for while watching.

A rescan is a catch-up over some roots: the index run skips every photo whose row matches the file,
so nothing is captioned twice, and the prune removes the rows of photos gone meanwhile.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from photocap.errors import PhotocapError
from photocap.watch.options import emit

if TYPE_CHECKING:
    from collections.abc import Callable

    from photocap.indexing import IndexRun
    from photocap.store.index import Index
    from photocap.watch.health import StateFile
    from photocap.watch.options import WatchSummary
    from photocap.watch.roots import RootWatch
    from photocap.watch.tracker import ChangeTracker

log = logging.getLogger("photocap.watch")


class CatchUp:
    """Catches up on roots with the runs `new_run` makes, run through `run_guarded`.

    `there(paths)` keeps the paths whose root is there now, `prune(root)` deletes the rows of
    photos gone, `drain()` routes queued events between chunks; `should_stop()` ends it early.
    """

    def __init__(
        self,
        index: Index,
        roots: list[str],
        *,
        settle: float,
        root_watch: RootWatch,
        tracker: ChangeTracker,
        summary: WatchSummary,
        state_file: StateFile,
        clock: Callable[[], float],
        new_run: Callable[..., IndexRun],
        run_guarded: Callable[[Callable[[], object]], None],
        there: Callable[[list[str]], list[str]],
        prune: Callable[[str], None],
        drain: Callable[[], None],
        should_stop: Callable[[], bool],
    ):
        self.index = index
        self.roots = roots
        self.settle = settle
        self.root_watch = root_watch
        self.tracker = tracker
        self.summary = summary
        self.state_file = state_file
        self.clock = clock
        self.new_run = new_run
        self.run_guarded = run_guarded
        self.there = there
        self.prune = prune
        self.drain = drain
        self.should_stop = should_stop
        self.active = False  # catching up now

    def run(self, *, initial: bool, roots: list[str] | None = None) -> None:
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
        self.active = True
        self.state_file.write(force=True)
        recent_ns = time.time_ns() - int(self.settle * 1e9)

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
        run = self.new_run(on_chunk=lambda _found: self._between_chunks())
        try:
            for root in roots:
                if self.should_stop():
                    break
                try:
                    self.run_guarded(lambda root=root: run.run([root], defer=still_being_written))
                except PhotocapError as exc:
                    log.warning("cannot catch up on %s: %s", root, exc)
            if not self.should_stop():
                for root in self.there(roots):
                    self.prune(root)
        finally:
            self.active = False
        done = {k: v - before.counts[k] for k, v in self.summary.counts.items()}
        seconds = self.clock() - started
        emit(
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
        self.drain()
        self.state_file.write()


class Rescans:
    """Catch-ups asked for while watching (after lost events, a root back, inotify full), run by
    `catch_up(roots)` at the next step, never inside a batch or a catch-up."""

    def __init__(
        self,
        roots: list[str],
        *,
        root_watch: RootWatch,
        catch_up: Callable[[list[str]], None],
        state_changed: Callable[[], None],
    ):
        self.roots = roots
        self.root_watch = root_watch
        self.catch_up = catch_up
        self.state_changed = state_changed
        self.count = 0  # rescans run
        self._due: dict[str, str] = {}  # root -> why, for the next step

    def ask(self, roots: list[str], reason: str) -> None:
        """Asks for a catch-up on `roots` at the next step."""
        for root in roots:
            self._due.setdefault(root, reason)

    def events_lost(self, where: list[str]) -> None:
        """The kernel's event queue overflowed: look at the roots it covered again."""
        roots = [r for r in self.roots if any(os.path.commonpath([r, w]) == r for w in where)]
        log.warning("filesystem events were lost (inotify queue overflow); rescanning")
        self.ask(roots or list(self.roots), "overflow")

    def run_due(self) -> None:
        """Catches up on the roots a rescan was asked for (those there), one run per reason."""
        due = {r: why for r, why in self._due.items() if self.root_watch.watching(r)}
        self._due.clear()
        for reason in dict.fromkeys(due.values()):
            roots = [r for r, why in due.items() if why == reason]
            self.count += 1
            emit(
                logging.INFO,
                "rescan",
                f"rescanning {', '.join(roots)} ({reason})",
                roots=roots,
                reason=reason,
            )
            self.state_changed()
            self.catch_up(roots)
