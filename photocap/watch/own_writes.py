"""photocap's own writes, remembered for a while so that their filesystem events are skipped."""

from __future__ import annotations

from collections.abc import Callable

from photocap.metadata import sidecars_mtime_ns
from photocap.watch.tracker import Signature, signature

WrittenState = tuple[Signature | None, int | None]  # the photo's signature, its sidecars' mtime


def written_state(path: str) -> WrittenState:
    """What tells our own write from a later one: the photo's signature and, as a person may
    caption it in a sidecar alone right after, its sidecars' newest mtime."""
    return signature(path), sidecars_mtime_ns(path)


MAX_REMEMBERED = (
    100_000  # photos at most; an echo not recognised costs a look at an unchanged photo
)


class OwnWrites:
    """Photos as photocap left them after embedding a caption, each remembered `memory` seconds
    (and at most `max_size` of them, the oldest forgotten first)."""

    def __init__(self, memory: float, clock: Callable[[], float], max_size: int = MAX_REMEMBERED):
        self.memory = memory
        self.clock = clock
        self.max_size = max_size
        self._states: dict[str, tuple[WrittenState, float]] = {}  # path -> (state, until)

    def __len__(self) -> int:
        return len(self._states)

    def remember(self, path: str) -> None:
        """Just after photocap embedded a caption into `path`."""
        if (state := written_state(path))[0] is not None:
            self._states.pop(path, None)  # to the end: the dict stays in the order of writes
            self._states[path] = (state, self.clock() + self.memory)
            if len(self._states) > self.max_size:
                del self._states[next(iter(self._states))]

    def unchanged_since(self, path: str) -> bool:
        """True when the file is exactly as photocap left it after embedding a caption."""
        mine = self._states.get(path)
        return mine is not None and written_state(path) == mine[0]

    def forget_old(self) -> None:
        """Forgets the writes older than `memory` (the oldest come first)."""
        now = self.clock()
        while self._states and next(iter(self._states.values()))[1] < now:
            del self._states[next(iter(self._states))]
