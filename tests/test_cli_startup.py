"""A command pays only for what it uses: checked on the imports of real `photocap` processes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from photocap.store.index import PhotoRecord, open_index

REPO = Path(__file__).resolve().parents[1]


def imported(*args: str) -> set[str]:
    """Top-level modules a whole `python -m photocap ARGS` process imported (`-X importtime`)."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "photocap", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    names = set()
    for line in result.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip().split(".")[0])
    return names


def test_help_imports_no_command(tmp_path: Path) -> None:
    modules = imported("--help")
    assert "click" in modules
    assert not modules & {"sqlalchemy", "torch", "PIL", "rich", "numpy", "watchdog"}


def test_search_imports_nothing_it_does_not_use(tmp_path: Path) -> None:
    db = tmp_path / "index.db"
    with open_index(db) as index:
        index.upsert([PhotoRecord(str(tmp_path / "a.jpg"), 1, 1, caption="A dog on a beach.")])
    modules = imported("search", "dog", "--db", str(db))  # stdout is a pipe: no table
    assert "sqlalchemy" in modules
    assert not modules & {"torch", "torchvision", "PIL", "rich", "numpy", "watchdog", "defusedxml"}
