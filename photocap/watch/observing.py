"""The watcher's observer part: the observer started, polling when inotify runs out of watches,
roots lost and regained (re-watched, then rescanned: see `catch_up.Rescans`).
"""

from __future__ import annotations

import errno
import logging
from typing import TYPE_CHECKING

from photocap.watch.observer import (
    EVENTS,
    WatchLimitReached,
    inotify_room_error,
    limit_message,
    start_native,
    start_polling,
    stop_observer,
    uses_inotify,
)
from photocap.watch.options import emit
from photocap.watch.roots import RootChange
from photocap.watch.tracker import inside

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from watchdog.events import FileSystemEventHandler
    from watchdog.observers.api import BaseObserver

    from photocap.watch.options import WatchOptions, WatchSummary
    from photocap.watch.roots import RootWatch
    from photocap.watch.tracker import ChangeTracker

log = logging.getLogger("photocap.watch")


class Observing:
    """Starts and keeps an observer over `roots` that hands every event to `handler`.

    `rescan(roots, reason)` asks for a catch-up on roots regained or maybe missed; the name of the
    observer goes to `summary.observer`; `state_changed()` asks for a state write.
    """

    def __init__(
        self,
        roots: list[str],
        handler: FileSystemEventHandler,
        options: WatchOptions,
        *,
        root_watch: RootWatch,
        tracker: ChangeTracker,
        summary: WatchSummary,
        clock: Callable[[], float],
        rescan: Callable[[list[str], str], None],
        state_changed: Callable[[], None],
    ):
        self.roots = roots
        self.handler = handler
        self.options = options
        self.root_watch = root_watch
        self.tracker = tracker
        self.summary = summary
        self.clock = clock
        self.rescan = rescan
        self.state_changed = state_changed
        self._observer: BaseObserver | None = None
        self._probe_at: float | None = None

    # -- the observer -------------------------------------------------------------------------------

    def start(self) -> None:
        """Starts the observer (polling with `options.polling`, or when inotify is full)."""
        if self.options.polling:
            self._start_polling(None)
            return
        try:
            self._observer = start_native(self.roots, self.handler)
        except WatchLimitReached as exc:
            self._start_polling(exc.message)
            return
        self.summary.observer = "inotify" if uses_inotify(self._observer) else "native"

    def _start_polling(self, reason: str | None) -> None:
        if self._observer is not None:
            stop_observer(self._observer)
        interval = self.options.poll_interval
        watched = [r for r in self.roots if self.root_watch.watching(r)]
        self._observer = start_polling(watched, self.handler, interval)
        self.summary.observer = "polling"
        if reason is not None:
            emit(
                logging.WARNING,
                "polling",
                f"{reason}; watching by polling every {interval:g} s instead",
                reason=reason,
                interval=interval,
            )
        self.state_changed()

    def probe_soon(self) -> None:
        if self._observer is not None and uses_inotify(self._observer) and self._probe_at is None:
            self._probe_at = self.clock() + 0.5  # after watchdog has added its watches

    def check_watch_limit(self) -> None:
        """New folders may have taken the last inotify watches: then poll, and look again."""
        if self._probe_at is None or self.clock() < self._probe_at:
            return
        self._probe_at = None
        watched = [r for r in self.roots if self.root_watch.watching(r)]
        error = inotify_room_error(watched[0]) if watched else None
        if error is not None:
            self._start_polling(limit_message(error))
            # folders added meanwhile may not have been watched
            self.rescan(watched, "watch-limit")

    def stop(self) -> None:
        if self._observer is not None:
            stop_observer(self._observer)

    # -- roots that go and come back ------------------------------------------------------------------

    def check_roots(self, paths: Iterable[str] | None = None) -> None:
        """Looks at the roots (all, or `paths`): handles those lost and regained since."""
        self._root_changes(self.root_watch.check(paths))

    def there(self, paths: list[str]) -> list[str]:
        """`paths` whose root is there as it was watched, looked at now: a photo that seems gone
        because its whole root is (unmounted, renamed away) keeps its row."""
        if not paths:
            return paths
        roots = {r for r in self.roots for p in paths if inside(p, r)}
        self.check_roots(roots)
        return [p for p in paths if self.root_watch.root_of(p) is not None]

    def _root_changes(self, changes: list[RootChange]) -> None:
        for change in changes:
            if change.change == "lost":
                self._root_lost(change)
            else:
                self._root_regained(change)

    def root_event(self, root: str, *, deleted: bool) -> None:
        """watchdog says the root itself was deleted (its watches are gone) or moved."""
        self._root_changes(
            self.root_watch.deleted(root) if deleted else self.root_watch.check([root])
        )

    def _root_lost(self, change: RootChange) -> None:
        root = change.path
        self._unwatch(root)
        self.tracker.forget_under(root)
        why = {"gone": "is gone", "unmounted": "was unmounted", "replaced": "was replaced"}
        emit(
            logging.WARNING,
            "root-lost",
            f"{root} {why.get(change.reason, 'is gone')}; its photos stay in the index, and it is "
            "watched again when it comes back",
            path=root,
            reason=change.reason,
        )
        self.state_changed()

    def _root_regained(self, change: RootChange) -> None:
        root = change.path
        emit(
            logging.INFO,
            "root-regained",
            f"{root} is back ({change.reason}); watching it again and catching up",
            path=root,
            reason=change.reason,
        )
        self._watch(root)
        self.state_changed()
        self.rescan([root], "root-regained")

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
            self._observer.schedule(self.handler, root, recursive=True, event_filter=EVENTS)
        except OSError as exc:
            if uses_inotify(self._observer) and exc.errno in (errno.ENOSPC, errno.EMFILE):
                self._start_polling(limit_message(exc.errno))
            else:  # gone again, say: the next look at the roots tells
                log.warning("cannot watch %s again: %s", root, exc.strerror or exc)
            return
        self.probe_soon()
