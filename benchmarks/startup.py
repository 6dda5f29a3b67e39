"""Start-up cost of the CLI: whole-process runs of `photocap --help` and `photocap search`, each
beside the imports it cannot avoid, in the same run.

    .venv/bin/python benchmarks/startup.py [--runs 10] [--rows 200000] [--db runs/startup.db]

Pairs (median of `--runs` whole-process runs each, alternating within a pair):
- `photocap --help` against `python -c "import click"` (target: within 1.5x);
- `photocap search dog` on an index of `--rows` captions against
  `python -c "import click, sqlalchemy"` (target: within 1.25x).
The index is built from Flickr8k's captions (as benchmarks/search_latency.py builds it) and kept at
`--db` for later runs. Exit status 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

from search_latency import DEFAULT_CAPTIONS, build, read_captions  # noqa: E402

PHOTOCAP = [sys.executable, "-m", "photocap"]


def timed(command: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def pair(name: str, ours: list[str], base: list[str], runs: int, env: dict[str, str]) -> float:
    """Median seconds of each command over `runs` alternating runs; prints them; the ratio."""
    timed(ours, env), timed(base, env)  # warm the page cache
    ours_s, base_s = [], []
    for _ in range(runs):
        ours_s.append(timed(ours, env))
        base_s.append(timed(base, env))
    o, b = statistics.median(ours_s), statistics.median(base_s)
    print(f"{name}: {o * 1000:.0f} ms vs {b * 1000:.0f} ms -> {o / b:.2f}x")
    print(f"  photocap runs (ms): {', '.join(f'{t * 1000:.0f}' for t in ours_s)}")
    print(f"  baseline runs (ms): {', '.join(f'{t * 1000:.0f}' for t in base_s)}")
    return o / b


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--captions", type=Path, default=DEFAULT_CAPTIONS)
    parser.add_argument("--db", type=Path, default=REPO / "runs" / "startup.db")
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="CI's smoke run: the script still works; the figures are not held to the bar (exit 0)",
    )
    args = parser.parse_args()
    if not args.db.exists():
        if not args.captions.is_file():
            sys.exit(f"error: captions not found at {args.captions} (pass --captions)")
        args.db.parent.mkdir(parents=True, exist_ok=True)
        build(args.db, read_captions(args.captions), args.rows, random.Random(0)).close()
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("PHOTOCAP_DB", None)
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}")
    help_ratio = pair(
        "photocap --help",
        [*PHOTOCAP, "--help"],
        [sys.executable, "-c", "import click"],
        args.runs,
        env,
    )
    search = [*PHOTOCAP, "search", "dog", "--db", str(args.db)]
    search_ratio = pair(
        f"photocap search dog ({args.rows:,} captions)",
        search,
        [sys.executable, "-c", "import click, sqlalchemy"],
        args.runs,
        env,
    )
    ok = help_ratio <= 1.5 and search_ratio <= 1.25
    print("targets (1.5x, 1.25x):", "met" if ok else "MISSED")
    return 0 if ok or args.smoke else 1


if __name__ == "__main__":
    sys.exit(main())
