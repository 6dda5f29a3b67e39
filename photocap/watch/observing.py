"""The watcher's observer half: the observer started, polling when inotify runs out of watches,
roots lost and regained (re-watched and caught up), and rescans when the kernel dropped events.

A rescan is a catch-up over some roots: the index run skips every photo whose row matches the file,
so nothing is captioned twice, and the prune removes the rows of photos gone meanwhile. `Watcher`
mixes this in.
"""

from __future__ import annotations

import errno
import logging
import os
import queue
from typing import TYPE_CHECKING

from watchdog.events import FileSystemEvent

from photocap.watch.observer import (
    EVENTS,
    QueueHandler,
    WatchLimitReached,
    inotify_room_error,
    limit_message,
    start_native,
    start_polling,
    stop_observer,
    uses_inotify,
)
from photocap.watch.roots import RootChange, RootWatch

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from watchdog.observers.api import BaseObserver

    from photocap.watch.options import WatchOptions, WatchSummary
    from photocap.watch.tracker import ChangeTracker

log = logging.getLogger("photocap.watch")


class Observing:
    """Starts and keeps the observer; the watcher provides the state named below."""

    roots: list[str]
    options: WatchOptions
    summary: WatchSummary
    tracker: ChangeTracker
    clock: Callable[[], float]
    root_watch: RootWatch
    rescans: int
    _rescans_due: dict[str, str]  # root -> why, for the next step
    _events: queue.SimpleQueue[FileSystemEvent]
    _handler: QueueHandler
    _observer: BaseObserver | None
    _probe_at: float | None

    # provided by the watcher
    _emit: Callable[..., None]
    _catch_up: Callable[..., None]
    _state_changed: Callable[..., None]
    # -- the observer -------------------------------------------------------------------------------

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
        watched = [r for r in self.roots if self.root_watch.watching(r)]
        self._observer = start_polling(watched, self._handler, interval)
        self.summary.observer = "polling"
        if reason is not None:
            self._emit(
                logging.WARNING,
                "polling",
                f"{reason}; watching by polling every {interval:g} s instead",
                reason=reason,
                interval=interval,
            )
        self._state_changed()

    def _probe_soon(self) -> None:
        if self._observer is not None and uses_inotify(self._observer) and self._probe_at is None:
            self._probe_at = self.clock() + 0.5  # after watchdog has added its watches

    def _check_watch_limit(self) -> None:
        """New folders may have taken the last inotify watches: then poll, and look again."""
        if self._probe_at is None or self.clock() < self._probe_at:
            return
        self._probe_at = None
        watched = [r for r in self.roots if self.root_watch.watching(r)]
        error = inotify_room_error(watched[0]) if watched else None
        if error is not None:
            self._start_polling(limit_message(error))
            # folders added meanwhile may not have been watched
            self._rescan(watched, "watch-limit")

    # -- roots that go and come back ------------------------------------------------------------------

    def _check_roots(self, paths: Iterable[str] | None = None) -> None:
        """Looks at the roots (all, or `paths`): handles those lost and regained since."""
        self._root_changes(self.root_watch.check(paths))

    def _root_changes(self, changes: list[RootChange]) -> None:
        for change in changes:
            if change.change == "lost":
                self._root_lost(change)
            else:
                self._root_regained(change)

    def _root_event(self, root: str, *, deleted: bool) -> None:
        """watchdog says the root itself was deleted (its watches are gone) or moved."""
        self._root_changes(
            self.root_watch.deleted(root) if deleted else self.root_watch.check([root])
        )

    def _root_lost(self, change: RootChange) -> None:
        root = change.path
        self._unwatch(root)
        self.tracker.forget_under(root)
        why = {"gone": "is gone", "unmounted": "was unmounted", "replaced": "was replaced"}
        self._emit(
            logging.WARNING,
            "root-lost",
            f"{root} {why.get(change.reason, 'is gone')}; its photos stay in the index, and it is "
            "watched again when it comes back",
            path=root,
            reason=change.reason,
        )
        self._state_changed()

    def _root_regained(self, change: RootChange) -> None:
        root = change.path
        self._emit(
            logging.INFO,
            "root-regained",
            f"{root} is back ({change.reason}); watching it again and catching up",
            path=root,
            reason=change.reason,
        )
        self._watch(root)
        self._state_changed()
        self._rescan([root], "root-regained")

    def _unwatch(self, root: str) -> None:
        if self._observer is None:
            return
        for emitter in list(self._observer.emitters):
            if emitter.watch.path == root:
                try:
                    self._observer.unschedule(emitter.watch)
                except (KeyError, OSError):  # its watches died with the folder
                    log.debug("unscheduling %s", root, exc_info=True)

    def _watch(self, root: str) -> None:
        """Watches `root` (again), with the observer running; polls when inotify is full."""
        if self._observer is None:
            return
        self._unwatch(root)
        try:
            self._observer.schedule(self._handler, root, recursive=True, event_filter=EVENTS)
        except OSError as exc:
            if uses_inotify(self._observer) and exc.errno in (errno.ENOSPC, errno.EMFILE):
                self._start_polling(limit_message(exc.errno))
            else:  # gone again, say: the next look at the roots tells
                log.warning("cannot watch %s again: %s", root, exc.strerror or exc)
            return
        self._probe_soon()

    # -- rescans ----------------------------------------------------------------------------------

    def _rescan(self, roots: list[str], reason: str) -> None:
        """Asks for a catch-up on `roots` at the next step (never inside a batch or a catch-up):
        after lost events, or a root back."""
        for root in roots:
            self._rescans_due.setdefault(root, reason)

    def _run_rescans(self) -> None:
        """Catches up on the roots a rescan was asked for (those there), one run per reason."""
        due = {r: why for r, why in self._rescans_due.items() if self.root_watch.watching(r)}
        self._rescans_due.clear()
        for reason in dict.fromkeys(due.values()):
            roots = [r for r, why in due.items() if why == reason]
            self.rescans += 1
            self._emit(
                logging.INFO,
                "rescan",
                f"rescanning {', '.join(roots)} ({reason})",
                roots=roots,
                reason=reason,
            )
            self._state_changed()
            self._catch_up(initial=False, roots=roots)

    def _events_lost(self, where: list[str]) -> None:
        """The kernel's event queue overflowed: look at the roots it covered again."""
        roots = [r for r in self.roots if any(os.path.commonpath([r, w]) == r for w in where)]
        log.warning("filesystem events were lost (inotify queue overflow); rescanning")
        self._rescan(roots or list(self.roots), "overflow")
