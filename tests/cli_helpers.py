"""`photocap` as users run it: `python -m photocap` in a subprocess, output captured."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def subprocess_env(**extra: str) -> dict[str, str]:
    """This environment, with the checkout importable (and `extra` set)."""
    return {**os.environ, "PYTHONPATH": str(REPO), **extra}


def photocap(
    *args: str | Path, env: dict[str, str] | None = None, timeout: float = 300, **kwargs
) -> subprocess.CompletedProcess:
    """`python -m photocap ARGS` in a subprocess, stdout and stderr captured as text (not a
    terminal); `env` adds variables, other keywords go to subprocess.run."""
    return subprocess.run(
        [sys.executable, "-m", "photocap", *map(str, args)],
        capture_output=True,
        text=True,
        env=subprocess_env(**(env or {})),
        timeout=timeout,
        **kwargs,
    )
