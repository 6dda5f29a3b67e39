"""Rerun `photocap index` over 10,000 unchanged, indexed photos: how long does it take?

Builds COUNT tiny real JPEGs (crops of scikit-image photos, 100 per folder), indexes them as a
finished run leaves them (one `ok` row each with size, mtime and sha256, written through
photocap.store.index), then times the whole command `python -m photocap index ROOT` in a fresh process,
interpreter start-up and imports included, several times. The acceptance bar is < 5 s.

It also checks what the rerun did: every photo `unchanged`, none captioned, the model never loaded
(`--model` points at a file that does not exist), and whether torch was imported (-X importtime).

Run:  env PYTHONPATH=. .venv/bin/python benchmarks/rerun_unchanged.py [--count 10000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image
from skimage import data

REPO = Path(__file__).resolve().parents[1]


def build(root: Path, count: int, per_folder: int = 100) -> list[Path]:
    sources = [data.chelsea(), data.astronaut(), data.coffee(), data.rocket()]
    rng = np.random.default_rng(0)
    paths = []
    for i in range(count):
        folder = root / f"{2020 + i // 5000}" / f"album {i // per_folder:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        source = sources[i % len(sources)]
        top, left = int(rng.integers(0, 250)), int(rng.integers(0, 250))
        path = folder / f"IMG_{i:05d}.jpg"
        Image.fromarray(source[top : top + 24, left : left + 32]).save(path, quality=80)
        paths.append(path)
    return paths


def index_as_done(db: Path, paths: list[Path]) -> None:
    """The rows a finished `photocap index` run leaves: ok, captioned, labelled, size + mtime +
    sha256."""
    from photocap.store.index import PhotoRecord, open_index

    records = []
    for path in paths:
        st = path.stat()
        sha = hashlib.sha256(path.read_bytes()).hexdigest()
        records.append(
            PhotoRecord(
                str(path),
                st.st_size,
                st.st_mtime_ns,
                sha256=sha,
                width=32,
                height=24,
                caption="A cat sitting on a rug.",
                source="model",
                model_id="benchmark",
                confidence=0.9,
                labels=(),  # labelled (a row without labels is labelled again on the rerun)
                label_words="",
            )
        )
    with open_index(db) as index:
        index.upsert(records)
        index.add_root(paths[0].parents[2])


def rerun(root: Path, db: Path, importtime: bool = False) -> tuple[float, dict, str]:
    command = [sys.executable]
    if importtime:
        command += ["-X", "importtime"]
    command += ["-m", "photocap", "index", str(root), "--db", str(db), "--json"]
    command += ["--model", "/nonexistent/model.safetensors"]  # a loaded model would fail the run
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"rerun failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return seconds, json.loads(done.stdout), done.stderr


LIBRARY_RUN = """
import json, sys
from photocap.store.index import open_index
from photocap.indexing import IndexOptions, IndexRun
def no_model():
    raise SystemExit("the model was loaded")
with open_index(sys.argv[2]) as index:
    summary = IndexRun(index, no_model, IndexOptions()).run([sys.argv[1]], [sys.argv[1]])
assert "torch" not in sys.modules, "torch was imported"
print(json.dumps(summary.to_dict()))
"""


def library_rerun(root: Path, db: Path) -> tuple[float, dict]:
    """The same rerun through photocap.indexing.run in a fresh process: the command minus the CLI
    modules (whose `photocap train` module imports torch today)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", LIBRARY_RUN, str(root), str(db)],
        capture_output=True,
        text=True,
        env=env,
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"library rerun failed:\n{done.stdout}\n{done.stderr}")
    return seconds, json.loads(done.stdout)


def imported(importtime_log: str, module: str) -> float | None:
    """Cumulative import time of `module` in seconds, None when it was not imported."""
    for line in importtime_log.splitlines():
        parts = [p.strip() for p in line.split("|")]
        if len(parts) == 3 and parts[2] == module:
            return int(parts[1]) / 1e6
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="photocap-rerun-") as tmp:
        root, db = Path(tmp) / "Pictures", Path(tmp) / "index.db"
        started = time.perf_counter()
        paths = build(root, args.count)
        index_as_done(db, paths)
        print(f"built and indexed {len(paths)} photos in {time.perf_counter() - started:.1f} s")

        times = []
        for _ in range(args.repeat):
            seconds, summary, _ = rerun(root, db)
            assert summary["unchanged"] == args.count and summary["captioned"] == 0, summary
            assert not summary["failed"] and summary["model_id"] is None, summary
            times.append(seconds)
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        library = []
        for _ in range(args.repeat):
            seconds, lib_summary = library_rerun(root, db)
            assert lib_summary["unchanged"] == args.count, lib_summary
            library.append(seconds)
        _, summary, log = rerun(root, db, importtime=True)
        torch_s, cli_s = imported(log, "torch"), imported(log, "photocap.cli")

    print(f"rerun over {args.count} unchanged photos, whole command (start-up included):")
    print("  runs: " + ", ".join(f"{t:.2f} s" for t in times))
    print(
        f"  median {statistics.median(times):.2f} s (bar: < 5 s); in-run {summary['seconds']:.2f} s"
    )
    print(f"  peak memory {peak_mb:.0f} MB; model loaded: no")
    print(
        "  without the CLI modules (photocap.indexing.run in a fresh process, torch not imported): "
        + ", ".join(f"{t:.2f} s" for t in library)
    )
    print(
        f"  imports: photocap.cli {cli_s:.2f} s, of which torch {torch_s or 0:.2f} s"
        + ("" if torch_s else " (torch not imported)")
    )
    print(f"  load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
