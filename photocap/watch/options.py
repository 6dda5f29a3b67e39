"""The watcher's options, its summary, and the events it logs (`emit`, read back by `event_of`)."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import Any

from photocap.indexing import IndexOptions
from photocap.indexing.outcomes import OutcomeCounts

EVENT_ATTR = "photocap_event"
log = logging.getLogger("photocap.watch")


def emit(level: int, event: str, message: str, **fields: Any) -> None:
    """Logs `message` on the `photocap.watch` logger with the event dict (None fields left out)."""
    data = {"event": event, **{k: v for k, v in fields.items() if v is not None}}
    log.log(level, message, extra={EVENT_ATTR: data})


def event_of(record: logging.LogRecord) -> dict[str, Any] | None:
    """The event dict a watcher log record carries, or None for other records."""
    return getattr(record, EVENT_ATTR, None)


@dataclass(frozen=True)
class WatchOptions:
    """How the watcher captions (`index`) and when it considers a file complete.

    `index.workers` decoding processes serve large batches (catching up); small batches decode
    in-process, since the workers cost more to start than they save on a few photos.
    """

    index: IndexOptions = IndexOptions()
    settle: float = 2.0  # without a close event: size and mtime unchanged this long
    debounce: float = 0.3  # quiet time after the last event before a batch starts
    max_wait: float = 2.0  # longest a ready photo waits while events keep coming
    max_batch: int = 256
    polling: bool = False  # poll instead of inotify/FSEvents (network shares)
    poll_interval: float = 5.0
    catch_up: bool = True


@dataclass
class WatchSummary(OutcomeCounts):
    """What the watcher did since it started."""

    deleted: int = 0
    failed: int = 0
    batches: int = 0
    observer: str = ""

    @property
    def counts(self) -> dict[str, int]:
        """The photo counts (all but `batches` and `observer`)."""
        return {k: v for k, v in asdict(self).items() if k not in ("batches", "observer")}

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
