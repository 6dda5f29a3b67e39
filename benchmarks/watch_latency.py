"""`photocap watch` latency: from a photo's close to its caption being searchable.

Starts the real daemon (`python -m photocap watch --json`) on a temporary folder, then writes
photos into it one at a time, the way a camera import or a download does (open, write, close), and
polls the index (10 ms) until each one's caption is there and `search` finds the photo by a
word of it. Photos are written a few seconds apart, so each is a batch of one. The daemon's own
JSON events give the breakdown: time waiting for the debounce after the close, and the batch
(decode, caption, write metadata, commit).

    .venv/bin/python benchmarks/watch_latency.py [--photos 12] [--model PATH] [--megapixels 12]

Photos: scikit-image's sample photos scaled to --megapixels with a little noise (so they are
the size of a phone photo, about 2 MB each), or the JPEGs of --photos-from DIR. Exits 1 when the
median exceeds the target of issue 6 (3 s on CPU).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from photocap.store.index import open_index  # noqa: E402
from photocap.store.search import search  # noqa: E402

TARGET_MEDIAN_S = 3.0


def make_photos(folder: Path, n: int, megapixels: float) -> list[Path]:
    """`n` distinct phone-sized JPEGs made from scikit-image's sample photos."""
    import numpy as np
    from PIL import Image
    from skimage import data

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    names = ("chelsea", "astronaut", "coffee", "rocket", "cat", "hubble_deep_field")
    width = int((megapixels * 1e6 * 4 / 3) ** 0.5)
    height = int(width * 3 / 4)
    out = []
    for i in range(n):
        image = Image.fromarray(getattr(data, names[i % len(names)])()).convert("RGB")
        image = image.resize((width, height), Image.Resampling.BICUBIC)
        pixels = np.asarray(image, dtype=np.int16) + rng.integers(-6, 7, (height, width, 3))
        path = folder / f"IMG_{i:04d}.jpg"
        Image.fromarray(pixels.clip(0, 255).astype(np.uint8)).save(path, quality=90)
        out.append(path)
    return out


class Daemon:
    def __init__(self, command: list[str], env: dict[str, str]):
        self.proc = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
        )
        self.events: list[dict] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()
        self.stderr: list[str] = []
        threading.Thread(target=lambda: self.stderr.extend(self.proc.stderr), daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            with self.lock:
                self.events.append(json.loads(line))

    def find(self, kind: str | tuple[str, ...], path: str | None = None, match=None) -> dict | None:
        kinds = (kind,) if isinstance(kind, str) else kind
        with self.lock:
            for e in self.events:
                if e["event"] in kinds and e.get("path", path) == path and (not match or match(e)):
                    return e
        return None

    def wait_batch(self, number: int, timeout: float = 600) -> dict:
        return self.wait("batch", timeout=timeout, match=lambda e: e.get("batch") == number)

    def wait(
        self, kind: str | tuple[str, ...], path: str | None = None, timeout: float = 600, match=None
    ) -> dict:
        deadline = time.monotonic() + timeout
        while (event := self.find(kind, path, match)) is None:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                sys.exit(f"daemon gone or too slow waiting for {kind}:\n{''.join(self.stderr)}")
            time.sleep(0.01)
        return event


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", type=int, default=12, help="how many photos to time")
    parser.add_argument("--model", default=None, help="model file (default: the shipped one)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--megapixels", type=float, default=12.0)
    parser.add_argument("--photos-from", type=Path, default=None, help="use these JPEGs instead")
    parser.add_argument("--gap", type=float, default=2.0, help="seconds between photos")
    parser.add_argument("--json", dest="json_out", type=Path, help="also write the figures here")
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="CI's smoke run: the median is not held to the target (the daemon must still exit 0)",
    )
    parser.add_argument("watch_args", nargs="*", help="extra `photocap watch` options, after --")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="photocap-watch-bench-") as tmp:
        tmp = Path(tmp)
        if args.photos_from:
            sources = sorted(args.photos_from.glob("*.jp*g"))[: args.photos]
        else:
            print(f"making {args.photos} photos of {args.megapixels:g} MP ...", file=sys.stderr)
            sources = make_photos(tmp / "sources", args.photos, args.megapixels)
        root, db = tmp / "photos", tmp / "index.db"
        root.mkdir()
        command = [sys.executable, "-m", "photocap", "watch", str(root), "--db", str(db)]
        # -v: a batch whose photos were all held back logs its `batch` event at debug level
        command += ["--device", args.device, "--json", "-v", *args.watch_args]
        if args.model:
            command += ["--model", args.model]
        env = {**os.environ, "PYTHONPATH": str(REPO), "PHOTOCAP_HOME": str(tmp / "home")}
        started = time.monotonic()
        daemon = Daemon(command, env)
        model = daemon.wait("started")["model"]
        daemon.wait("caught-up")
        print(f"daemon ready in {time.monotonic() - started:.1f} s, model {model}", file=sys.stderr)

        index = open_index(str(db))
        rows = []
        for i, source in enumerate(sources):
            target = root / source.name
            data = source.read_bytes()
            with open(target, "wb") as f:
                f.write(data)
            closed = time.monotonic()
            while (row := index.get(target)) is None or row.caption is None:
                time.sleep(0.01)
            found = time.monotonic()
            word = re.findall(r"[a-z]+", row.caption.lower())[0]
            hits = search(index, word, limit=1000, rank_window=None).hits
            assert str(target) in {h.path for h in hits}, f"{target} not found by {word!r}"
            # a caption under --min-confidence is indexed as held back (its own event)
            event = daemon.wait(("captioned", "held_back"), str(target))
            batch = daemon.wait_batch(event["batch"])
            rows.append(
                {
                    "photo": target.name,
                    "bytes": len(data),
                    "latency_s": round(found - closed, 3),
                    "waited_s": event.get("waited"),
                    "batch_s": batch.get("seconds"),
                    "caption": row.caption,
                }
            )
            print(
                f"{i + 1:3d} {target.name}: {found - closed:.2f} s "
                f"(debounce wait {event.get('waited')} s) {row.caption!r}",
                file=sys.stderr,
            )
            time.sleep(args.gap)
        index.close()
        daemon.proc.send_signal(signal.SIGTERM)
        code = daemon.proc.wait(60)
        shutil.rmtree(root, ignore_errors=True)

    latencies = [r["latency_s"] for r in rows]
    summary = {
        "n": len(latencies),
        "median_s": round(statistics.median(latencies), 3),
        "p90_s": round(percentile(latencies, 0.9), 3),
        "min_s": min(latencies),
        "max_s": max(latencies),
        "model": model,
        "device": args.device,
        "megapixels": None if args.photos_from else args.megapixels,
        "daemon_exit": code,
        "photos": rows,
    }
    print(json.dumps({k: v for k, v in summary.items() if k != "photos"}))
    if args.json_out:
        args.json_out.write_text(json.dumps(summary, indent=2))
    ok = (args.smoke or summary["median_s"] <= TARGET_MEDIAN_S) and code == 0
    print(
        f"median {summary['median_s']} s, p90 {summary['p90_s']} s over {len(latencies)} photos: "
        f"{'meets' if ok else 'MISSES'} the target (median <= {TARGET_MEDIAN_S:g} s, exit 0)",
        file=sys.stderr,
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
