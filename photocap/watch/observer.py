"""Filesystem observers for the watcher: the platform's native one (inotify on Linux), or polling.

On Linux, watchdog silently skips subfolders it cannot watch once the per-user limit on inotify
watches is reached, so after starting it we probe for room for one more watch; no room means
some folders may be unwatched, and the caller falls back to polling.
"""

from __future__ import annotations

import errno
import logging
import os
import queue
import sys
from collections.abc import Sequence
from pathlib import Path

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
    FileSystemEventHandler,
)
from watchdog.observers.api import BaseObserver
from watchdog.observers.polling import PollingObserver

WATCH_LIMIT_SETTING = "fs.inotify.max_user_watches"
INSTANCE_LIMIT_SETTING = "fs.inotify.max_user_instances"
_IN_DELETE_SELF = 0x400
EVENTS: list[type[FileSystemEvent]] = [
    FileCreatedEvent,
    FileModifiedEvent,
    FileAttribEvent,
    FileClosedEvent,
    FileMovedEvent,
    FileDeletedEvent,
    DirCreatedEvent,
    DirMovedEvent,
    DirDeletedEvent,
]


class WatchLimitReached(Exception):
    """The system limit on inotify watches (or instances) is reached; `message` says which."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class QueueHandler(FileSystemEventHandler):
    """Puts every event on a queue; the watcher's own thread handles them."""

    def __init__(self, events: queue.SimpleQueue[FileSystemEvent]):
        self.events = events

    def dispatch(self, event: FileSystemEvent) -> None:
        self.events.put(event)


def _read_setting(name: str) -> str:
    try:
        return Path("/proc/sys", *name.split(".")).read_text().strip()
    except OSError:
        return "?"


def limit_message(error: int = errno.ENOSPC) -> str:
    """What to tell the user when inotify cannot watch everything, naming the setting to raise."""
    instances = error in (errno.EMFILE, errno.ENFILE)
    setting = INSTANCE_LIMIT_SETTING if instances else WATCH_LIMIT_SETTING
    what = "instances" if instances else "watches"
    return (
        f"the system limit on inotify {what} is reached ({setting} = {_read_setting(setting)}), "
        f"so not every folder can be watched; raise it with `sudo sysctl {setting}=524288` "
        f"(and in /etc/sysctl.d/ to keep it)"
    )


def inotify_room_error(path: str | os.PathLike[str]) -> int | None:
    """None when one more inotify watch can be added (so every watch asked for so far was added),
    else the errno saying which limit is reached (ENOSPC: watches; EMFILE: instances)."""
    import ctypes

    from watchdog.observers.inotify_c import inotify_add_watch, inotify_init

    fd = inotify_init()
    if fd < 0:
        error = ctypes.get_errno()
        return error if error in (errno.EMFILE, errno.ENFILE) else None
    try:
        if inotify_add_watch(fd, os.fsencode(os.fspath(path)), _IN_DELETE_SELF) < 0:
            error = ctypes.get_errno()
            return error if error == errno.ENOSPC else None
        return None
    finally:
        os.close(fd)


def uses_inotify(observer: BaseObserver) -> bool:
    return type(observer).__name__ == "InotifyObserver"


def start_polling(
    roots: Sequence[str], handler: FileSystemEventHandler, interval: float
) -> BaseObserver:
    """A polling observer over `roots` (any filesystem, network shares too), started."""
    observer = PollingObserver(timeout=interval)
    for root in roots:
        observer.schedule(handler, root, recursive=True, event_filter=EVENTS)
    observer.start()
    return observer


def start_native(roots: Sequence[str], handler: FileSystemEventHandler) -> BaseObserver:
    """The platform's observer over `roots`, started. Raises WatchLimitReached (with nothing left
    running) when inotify cannot watch every folder; other OSErrors as they come."""
    if sys.platform.startswith("linux"):
        from watchdog.observers.inotify import InotifyObserver

        try:
            observer: BaseObserver = InotifyObserver(generate_full_events=True)
        except OSError as exc:
            if exc.errno in (errno.EMFILE, errno.ENFILE):
                raise WatchLimitReached(limit_message(exc.errno)) from exc
            raise
    else:
        from watchdog.observers import Observer

        observer = Observer()
    try:
        for root in roots:
            observer.schedule(handler, root, recursive=True, event_filter=EVENTS)
        observer.start()
        if uses_inotify(observer) and roots and (error := inotify_room_error(roots[0])):
            raise WatchLimitReached(limit_message(error))
    except BaseException as exc:
        stop_observer(observer)
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EMFILE):
            raise WatchLimitReached(limit_message(exc.errno)) from exc
        raise
    return observer


def stop_observer(observer: BaseObserver, timeout: float = 5.0) -> None:
    """Stops an observer, started or not."""
    observer.stop()
    if observer.is_alive():
        observer.join(timeout)


class LostEvents(logging.Handler):
    """Notices watchdog saying the kernel's event queue overflowed (events were lost), and below
    which watched folders (`where`; empty when it did not say)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lost = False
        self.where: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if "overflow" in record.getMessage().lower():
            if isinstance(record.args, tuple) and len(record.args) == 1:
                self.where.append(os.fsdecode(record.args[0]))
            self.lost = True

    def take(self) -> list[str] | None:
        """None when no events were lost since the last call, else where (maybe [])."""
        if not self.lost:
            return None
        self.lost = False
        where, self.where = self.where, []
        return where
