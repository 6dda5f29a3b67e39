"""`photocap watch`: keep captions and the index up to date as photos arrive, change, move and go.

`Watcher(index, load_captioner, roots, WatchOptions()).run()` blocks until `request_stop()`. Events are
reported on the `photocap.watch` logger; `event_of(record)` gives each one as a dict.
"""

from photocap.watch.daemon import Watcher
from photocap.watch.observer import WATCH_LIMIT_SETTING, WatchLimitReached
from photocap.watch.options import EVENT_ATTR, WatchOptions, WatchSummary, event_of
from photocap.watch.tracker import ChangeTracker

__all__ = [
    "EVENT_ATTR",
    "WATCH_LIMIT_SETTING",
    "ChangeTracker",
    "WatchLimitReached",
    "WatchOptions",
    "WatchSummary",
    "Watcher",
    "event_of",
]
