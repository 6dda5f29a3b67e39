"""The exit codes of `photocap` commands, in one place (0: done, nothing to report)."""

from __future__ import annotations

EXIT_FAILED = 1  # some photos (or the command) failed; the message says which and why
EXIT_NOT_BETTER = 3  # `train`: the run finished, but its model is not better than the base
EXIT_NOT_RUNNING = 3  # `watch --status`: as LSB init scripts and `systemctl status` say it
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it
