"""Driving `photocap watch` in a subprocess: the `Daemon` the watch tests share, and small helpers
(photos to copy in, event times, searches)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from photocap.cli import cli

REPO = Path(__file__).resolve().parents[1]
TIMEOUT = float(os.environ.get("PHOTOCAP_TEST_TIMEOUT", "90"))


class Daemon:
    """`photocap watch` in a subprocess; `events` fills from its JSON stdout as they come."""

    def __init__(self, root: Path, db: Path, model: Path, *args: str, prefix: tuple = ()):
        self.root, self.db = root, db
        self.stderr_path = db.with_name(f"watch-{time.monotonic_ns()}.stderr")
        command = [
            *prefix,
            sys.executable,
            "-m",
            "photocap",
            "watch",
            str(root),
            "--db",
            str(db),
            "--model",
            str(model),
            "--json",
            "-v",
            "--debounce",
            "0.2",
            "--settle",
            "1",
            *args,
        ]
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
            "PHOTOCAP_HOME": str(db.parent / "home"),
        }
        with open(self.stderr_path, "w") as stderr:
            self.proc = subprocess.Popen(
                command, stdout=subprocess.PIPE, stderr=stderr, text=True, env=env, cwd=db.parent
            )
        self.events: list[dict] = []
        self._cond = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            event = json.loads(line)
            event["received"] = time.time()
            with self._cond:
                self.events.append(event)
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def stderr(self) -> str:
        return self.stderr_path.read_text()

    def of(self, kind: str, under: Path | None = None, path: Path | None = None) -> list[dict]:
        with self._cond:
            return [
                e
                for e in self.events
                if e["event"] == kind
                and (path is None or e.get("path") == str(path))
                and (under is None or e.get("path", "").startswith(f"{under}{os.sep}"))
            ]

    def wait_until(self, done: Callable[[], object], what: str, timeout: float = TIMEOUT):
        """Waits for `done()` to be truthy (re-checked on every event), failing after `timeout`."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                if result := done():
                    return result
                if self.proc.poll() is not None and not self._reader.is_alive():
                    pytest.fail(
                        f"daemon exited ({self.proc.returncode}) before {what}:\n{self.stderr()}"
                    )
                left = deadline - time.monotonic()
                if left <= 0:
                    pytest.fail(f"timed out waiting for {what}; stderr:\n{self.stderr()[-3000:]}")
                self._cond.wait(min(left, 0.25))

    def wait_for(self, kind: str, path: Path | None = None, timeout: float = TIMEOUT) -> dict:
        return self.wait_until(
            lambda: next(iter(self.of(kind, path=path)), None), f"{kind} {path or ''}", timeout
        )

    def stop(self, sig: int = signal.SIGTERM, timeout: float = TIMEOUT) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            pytest.fail(f"daemon did not exit within {timeout} s of signal {sig}")
        self._reader.join(10)
        return code


def make_photos(
    real_photos: dict[str, Path], folder: Path, n: int, prefix: str = "p"
) -> list[Path]:
    """`n` distinct small JPEGs (crops of the real photos at different offsets)."""
    folder.mkdir(parents=True, exist_ok=True)
    sources = [Image.open(p).convert("RGB") for p in real_photos.values()]
    out = []
    for i in range(n):
        image = sources[i % len(sources)]
        x = (i * 37) % (image.width - 320)
        y = (i * 53) % (image.height - 240)
        path = folder / f"{prefix}{i:03d}.jpg"
        image.crop((x, y, x + 320, y + 240)).save(path, quality=90)
        out.append(path)
    return out


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def event_time(event: dict) -> float:
    return datetime.fromisoformat(event["time"]).timestamp()


def search_paths(db: Path, word: str) -> list[str]:
    """What `photocap search WORD --paths` prints (nothing when the index is empty)."""
    result = CliRunner().invoke(cli, ["search", word, "--paths", "-n", "1000", "--db", str(db)])
    if result.exit_code == 1 and "the index is empty" in result.output:
        return []
    assert result.exit_code == 0, result.output
    return result.output.splitlines()


def first_word(caption: str) -> str:
    return re.findall(r"[a-z]+", caption.lower())[0]


def wait_written(daemon: Daemon, path: Path) -> dict:
    """The caption event of `path`, once its own write came back as an event and was skipped."""
    event = daemon.wait_for("captioned", path)
    if event.get("written") == "embedded":
        daemon.wait_for("own-write", path)
    return event
