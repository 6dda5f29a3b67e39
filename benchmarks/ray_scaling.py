"""`photocap index --ray` against a plain run on this machine, and how it grows with Ray workers.

Photos: COUNT Flickr8k `test` JPEGs (../shared), or scikit-image's photos saved as JPEG where
Flickr8k is absent. Every configuration captions its own fresh copy into its own index, in a fresh
process (`python -m photocap index`, start-up, Ray start and model loading included), with the
shipped model, beam 3, `--min-confidence 0` (every caption written, as a plain run would):
  plain        `photocap index DIR` with its defaults (DataLoader workers, torch threads)
  ray-N        `photocap index DIR --ray --ray-workers N` on a local Ray cluster started by the run
Reported: wall time end to end, photos/s end to end and in the captioning loop (the summary's
`caption_seconds`: from the first batch to the last caption stored), and the per-photo cost of a
Ray worker (worker-seconds per photo), from which the closing note estimates a cluster.

Run (unniced, on an otherwise idle machine):
  env PYTHONPATH=. .venv/bin/python benchmarks/ray_scaling.py [--count 200] [--workers 1 2]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FLICKR8K = REPO.parent / "shared" / "data" / "flickr8k"


def build_photos(folder: Path, count: int) -> list[Path]:
    """COUNT JPEGs in `folder`: Flickr8k test photos, else scikit-image's, copied as needed."""
    folder.mkdir(parents=True)
    split = FLICKR8K / "splits" / "test.txt"
    if split.exists():
        names = split.read_text().split()[:count]
        return [Path(shutil.copyfile(FLICKR8K / "images" / n, folder / n)) for n in names]
    from PIL import Image
    from skimage import data

    sources = [data.chelsea(), data.astronaut(), data.coffee(), data.rocket()]
    paths = []
    for i in range(count):
        path = folder / f"photo-{i:05d}.jpg"
        Image.fromarray(sources[i % len(sources)]).save(path, quality=90)
        paths.append(path)
    return paths


def run_index(photos: Path, db: Path, extra: list[str]) -> dict:
    """One `photocap index` process: its JSON summary, plus the wall time."""
    command = [sys.executable, "-m", "photocap", "index", str(photos), "--db", str(db)]
    command += ["--json", "--device", "cpu", "--min-confidence", "0", *extra]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("RAY_ADDRESS", None)  # a local cluster, started by the run
    started = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    wall = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    return {**json.loads(done.stdout), "wall": wall}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()

    configs = [("plain", [])] + [
        (f"ray-{n}", ["--ray", "--ray-workers", str(n)]) for n in args.workers
    ]
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "source"
        build_photos(source, args.count)
        results = {}
        for name, extra in configs:
            photos = Path(tmp) / name
            shutil.copytree(source, photos)
            results[name] = run_index(photos, Path(tmp) / f"{name}.db", extra)
            print(f"{name}: {results[name]['wall']:.1f} s", file=sys.stderr)

    print(f"{args.count} photos, {os.cpu_count()} CPUs, shipped model, beam 3\n")
    print("| run | wall s | photos/s end to end | photos/s captioning | worker-s per photo |")
    print("|---|---|---|---|---|")
    for name, _ in configs:
        r = results[name]
        done = r["captioned"] + r["held_back"] + r["declined"]
        loop = r["caption_seconds"]
        workers = int(name.split("-")[1]) if name.startswith("ray-") else None
        cost = f"{workers * loop / done:.3f}" if workers and done else "-"
        print(f"| {name} | {r['wall']:.1f} | {done / r['wall']:.2f} | {done / loop:.2f} | {cost} |")
        if r["failed"]:
            print(f"  failed: {len(r['failed'])}")


if __name__ == "__main__":
    main()
