"""The watcher's state file: what a running daemon is doing, for `photocap watch --status`.

The daemon rewrites it atomically (temporary file beside it, `os.replace`) every few seconds and
whenever something changes (a root lost or regained, a rescan, an error, the stop). It lives in
photocap's state folder (`$PHOTOCAP_HOME`, else `$XDG_STATE_HOME/photocap`, else
~/.local/state/photocap) as `watch-<hash of the roots>.json`, so the daemon and `--status` find it
from the same folders; `--state-file PATH` names another.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

WRITE_INTERVAL = 5.0  # seconds between two heartbeat writes of the state file


def state_dir() -> Path:
    """Where watcher state files go: `$PHOTOCAP_HOME`, else `$XDG_STATE_HOME/photocap`."""
    if home := os.environ.get("PHOTOCAP_HOME"):
        return Path(home)
    xdg = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(xdg) / "photocap"


def state_file_for(roots: Iterable[str | os.PathLike[str]]) -> Path:
    """The state file of a watcher over `roots` (the same folders give the same file)."""
    paths = sorted({os.path.abspath(os.fspath(r)) for r in roots})
    digest = hashlib.sha256("\0".join(paths).encode("utf-8", "surrogateescape")).hexdigest()
    return state_dir() / f"watch-{digest[:12]}.json"


def iso(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    return datetime.fromtimestamp(seconds).astimezone().isoformat(timespec="seconds")


def pid_alive(pid: int) -> bool:
    """True when a process with this id exists (it may be another's after a reboot)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class LastError(logging.Handler):
    """Remembers the last warning or error logged on the loggers it is added to."""

    def __init__(self, on_error: Callable[[], None] | None = None):
        super().__init__(logging.WARNING)
        self.time: float | None = None
        self.message: str | None = None
        self.on_error = on_error

    def emit(self, record: logging.LogRecord) -> None:
        self.time, self.message = record.created, record.getMessage()
        if self.on_error is not None:
            self.on_error()


class StateFile:
    """Writes the watcher's state to `path` (at most every `interval` s unless forced)."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        state: Callable[[], dict[str, Any]],
        *,
        interval: float = WRITE_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.path = Path(path)
        self.state = state
        self.interval = interval
        self.clock = clock
        self._next = float("-inf")
        self.failed = False

    def write(self, *, force: bool = False) -> None:
        """Writes the state now when forced or due; a failure is logged once, never raised."""
        if not force and self.clock() < self._next:
            return
        self._next = self.clock() + self.interval
        data = {"updated": iso(time.time()), **self.state()}
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps(data, indent=1, ensure_ascii=False), encoding="utf-8")
            os.replace(tmp, self.path)
            self.failed = False
        except OSError as exc:
            if not self.failed:
                logging.getLogger("photocap.watch.health").warning(
                    "cannot write the state file %s: %s", self.path, exc
                )
            self.failed = True
            tmp.unlink(missing_ok=True)


@dataclass(frozen=True)
class Status:
    """A state file read back: the daemon's last words, and whether it is still running."""

    path: Path
    data: dict[str, Any]
    running: bool

    @property
    def lost(self) -> list[str]:
        return [r["path"] for r in self.data.get("roots", []) if r.get("state") != "watching"]

    @property
    def healthy(self) -> bool:
        """Running, and every root watched."""
        return self.running and not self.lost


def read_status(path: str | os.PathLike[str]) -> Status | None:
    """The state file at `path`, None when there is none (or it cannot be read as one)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    pid = data.get("pid")
    running = data.get("state") == "running" and isinstance(pid, int) and pid_alive(pid)
    return Status(Path(path), data, running)
