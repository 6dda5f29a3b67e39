"""`photocap review` on a 100,000-photo index: how long the page's requests take.

Builds an index of `--rows` rows (the store's own upsert and schema; captions made of everyday
words, confidences spread over 0-1, human captions, held-back rows, 100 folders), the first page's
photos real 12-megapixel JPEGs, the rest rows only. Starts the real server (`python -m photocap
review`, a subprocess) and times over HTTP, with the token, as the page asks:

- GET /api/photos, sorted by confidence (lowest first): the first page, and a deep page (the
  cursor of the row at 90% of the index) against the same page by OFFSET in SQL (the baseline
  keyset paging replaces) measured in the same run;
- the filters: a folder, source, held back, a search query;
- the first page's 60 thumbnails, made (empty cache) and cached, fetched 6 at a time as a
  browser does.

    nice -n 5 .venv/bin/python benchmarks/review_api.py [--rows 100000] [--repeat 30]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import select
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from photocap.store.index import PhotoRecord, open_index  # noqa: E402
from photocap.store.listing import NO_CONFIDENCE, encode_cursor  # noqa: E402

WORDS = [
    "dog",
    "cat",
    "man",
    "woman",
    "child",
    "girl",
    "boy",
    "beach",
    "grass",
    "water",
    "snow",
    "street",
    "car",
    "bike",
    "ball",
    "red",
    "blue",
    "black",
    "white",
    "brown",
    "running",
    "sitting",
    "standing",
    "jumping",
    "playing",
    "field",
    "park",
    "mountain",
    "city",
]
PAGE = 60


def build(folder: Path, rows: int, photos: int) -> Path:
    """The index: `rows` rows, the `photos` lowest-confidence ones real 12-MP JPEGs."""
    from PIL import Image
    from skimage import data

    rng = random.Random(0)
    images = folder / "photos"
    images.mkdir()
    names = ("chelsea", "astronaut", "coffee", "rocket", "horse")
    for name in names:  # five 12-MP JPEGs, copied: each copy is its own photo to the cache
        image = Image.fromarray(getattr(data, name)()).convert("RGB").resize((4000, 3000))
        image.save(images / f"{name}.jpg", quality=90)
    real = []
    for i in range(photos):
        path = images / f"real-{i:03d}.jpg"
        shutil.copyfile(images / f"{names[i % len(names)]}.jpg", path)
        real.append(path)
    db = folder / "index.db"
    records = []
    for i in range(rows):
        human = rng.random() < 0.05
        confidence = None if human else 0.001 + 0.999 * rng.random()  # the real photos first
        path = f"/library/folder-{i % 100:03d}/IMG_{i:06d}.jpg"
        size, mtime = 3_000_000 + i, 1_700_000_000_000_000_000 + i
        if i < len(real):  # the lowest confidences: the first page
            path, confidence, human = str(real[i]), i / 1_000_000, False
            st = real[i].stat()
            size, mtime = st.st_size, st.st_mtime_ns
        caption = "A " + " ".join(rng.choices(WORDS, k=6)) + "."
        records.append(
            PhotoRecord(
                path,
                size,
                mtime,
                caption=caption,
                source="human" if human else "model",
                model_id=None if human else "photocap-lite2",
                confidence=confidence,
                held_back=confidence is not None and confidence < 0.1,
                label_words=" ".join(rng.choices(WORDS, k=3)),
            )
        )
    with open_index(db) as index:
        index.upsert(records, batch_size=10_000)
        index.optimize()
    return db


def start(db: Path, cache: Path) -> tuple[subprocess.Popen, str, str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "XDG_CACHE_HOME": str(cache)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "photocap", "review", "--db", str(db), "--no-browser"],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    if not select.select([proc.stdout], [], [], 60)[0]:
        proc.kill()
        raise SystemExit("the server printed no URL")
    base, _, token = proc.stdout.readline().strip().partition("/?token=")
    return proc, base, token


def get(base: str, token: str, path: str) -> bytes:
    request = urllib.request.Request(base + path, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=120) as response:
        return response.read()


def timed(fn, repeat: int) -> list[float]:
    fn()  # warm: the first request pays the connection pool and SQLite's page cache
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def show(name: str, ms: list[float]) -> None:
    ordered = sorted(ms)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    print(f"{name:<46} median {statistics.median(ms):7.1f} ms   p95 {p95:7.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        t0 = time.perf_counter()
        db = build(folder, args.rows, PAGE)
        print(
            f"index: {args.rows:,} rows, {PAGE} real 12-MP JPEGs ({time.perf_counter() - t0:.0f} s to build)"
        )
        with sqlite3.connect(db) as conn:
            deep_at = int(args.rows * 0.9)
            key, deep_id = conn.execute(
                f"SELECT coalesce(confidence, {NO_CONFIDENCE}), id FROM photos "
                f"ORDER BY coalesce(confidence, {NO_CONFIDENCE}), id LIMIT 1 OFFSET ?",
                (deep_at,),
            ).fetchone()
        cursor = encode_cursor(key, deep_id)
        proc, base, token = start(db, folder / "cache")
        try:
            first = json.loads(get(base, token, f"/api/photos?limit={PAGE}"))
            assert len(first["photos"]) == PAGE and first["total"] == args.rows
            deep = json.loads(get(base, token, f"/api/photos?limit={PAGE}&after={cursor}"))
            assert len(deep["photos"]) == PAGE

            print(f"\nGET /api/photos ({PAGE} a page, sorted by confidence), over HTTP:")
            show(
                "first page",
                timed(lambda: get(base, token, f"/api/photos?limit={PAGE}"), args.repeat),
            )
            show(
                f"deep page (after row {deep_at:,}, keyset)",
                timed(
                    lambda: get(base, token, f"/api/photos?limit={PAGE}&after={cursor}"),
                    args.repeat,
                ),
            )
            for name, query in (
                ("a folder (under=folder-042)", "under=/library/folder-042"),
                ("source=human", "source=human"),
                ("held_back=true", "held_back=true"),
                ("q=dog beach", "q=dog%20beach"),
            ):
                show(
                    name,
                    timed(
                        lambda q=query: get(base, token, f"/api/photos?limit={PAGE}&{q}"),
                        args.repeat,
                    ),
                )

            print("\nbaseline, in SQL on the same file (no HTTP, no JSON):")
            with sqlite3.connect(db) as conn:
                order = f"ORDER BY coalesce(confidence, {NO_CONFIDENCE}), id"

                def offset_page() -> None:
                    conn.execute(
                        f"SELECT * FROM photos {order} LIMIT {PAGE} OFFSET {deep_at}"
                    ).fetchall()

                def keyset_page() -> None:
                    conn.execute(
                        f"SELECT * FROM photos WHERE coalesce(confidence, {NO_CONFIDENCE}) >= ? AND "
                        f"(coalesce(confidence, {NO_CONFIDENCE}) > ? OR id > ?) {order} LIMIT {PAGE}",
                        (key, key, deep_id),
                    ).fetchall()

                show(f"deep page by OFFSET {deep_at:,}", timed(offset_page, args.repeat))
                show("deep page by keyset", timed(keyset_page, args.repeat))

            ids = [p["id"] for p in first["photos"]]

            def thumbnails() -> None:
                with ThreadPoolExecutor(6) as pool:
                    list(pool.map(lambda i: get(base, token, f"/thumbnails/{i}"), ids))

            print(f"\nthe first page's {PAGE} thumbnails (12-MP JPEGs), 6 requests at a time:")
            t0 = time.perf_counter()
            thumbnails()
            print(f"{'made (empty cache)':<46} {(time.perf_counter() - t0) * 1000:7.0f} ms in all")
            show("cached (all 60)", timed(thumbnails, max(5, args.repeat // 3)))
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)


if __name__ == "__main__":
    main()
