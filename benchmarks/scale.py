"""Millions of photos: search, the review page's listing and an unchanged rerun at 200k, 1M and 2M.

Builds one library index in SQLite and one in PostgreSQL through the store's own bulk path
(`Index.upsert` in large batches: the code and schema the CLI uses), growing each from one size to
the next (200,000 → 1,000,000 → 2,000,000 rows by default), and at each size reports:

- build time (this step and in all) and size on disk;
- search latency (`photocap.store.search.search`, in-process, median and p99 wall ms) for typical
  1-3 word queries, common words, rare pairs (two common words that seldom meet), partial matches
  (words of different captions), queries inside one year's folder (`--under`), queries among the
  held-back captions, and the held-back list itself (`search --held-back` without words);
- the review API's listing (`photocap.review.queries.list_photos`, what GET /api/photos runs, HTTP
  excluded): the first page and a page 90% deep in each filter;
- an unchanged `photocap index` rerun (the whole command, a subprocess) over a tree of empty files
  already indexed as done, at each `--rerun-files` size: it must not read or caption them.

The library: Flickr8k captions recombined (the first half of one with the second half of another),
1-3 ImageNet labels each with their search words, confidences spread over 0-1 (those below 0.25
held back, with a label line), a tenth written by people, 1 in 200 failed; folders
/library/YEAR/MONTH/EVENT of 250 photos added event by event, 2% of photos added later to an older
event (as people do), so a folder's rows are not one run of ids.

    nice -n 5 .venv/bin/python benchmarks/scale.py [--sizes 200000 1000000 2000000]
        [--databases sqlite postgresql] [--rerun-files 200000 1000000] [--work DIR] [--url URL]

Without --url it starts a throw-away PostgreSQL server (Debian's initdb/pg_ctl, as the tests do),
with the server's default settings unless `--pg-setting NAME=VALUE` names one (as a deployment
would: `--pg-setting shared_buffers=4GB`).
With --work the SQLite file, the rerun tree and the results (scale.json) stay there, and a later
run reuses an index that already holds a size's rows. A benchmark script: it prints the figures
and checks them against issue 31's bars; the exit status is 1 when one is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from itertools import combinations
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))
sys.path.insert(0, str(REPO / "tests"))

from rerun_unchanged import rerun as run_rerun  # noqa: E402
from search_latency import DEFAULT_CAPTIONS, load_captions  # noqa: E402

from photocap.indexing.write import search_words  # noqa: E402
from photocap.model.words import imagenet_classes  # noqa: E402
from photocap.store.index import Index, PhotoRecord, StoredLabel, open_index  # noqa: E402
from photocap.store.query import STOP_WORDS  # noqa: E402

EVENT = 250  # photos a folder
GATE = 0.25  # confidences below are held back
BATCH = 5000  # rows a committed upsert
BARS = {"typical median": 50.0, "typical p99": 250.0, "kind median": 100.0, "review first": 50.0}
RERUN_BAR_S = 60.0
_WORD = re.compile(r"[a-z]+")

# ---- the library ------------------------------------------------------------------------------


class Library:
    """Row k of a growing library, the same for every database and run (a seeded generator)."""

    def __init__(self, captions: Sequence[str], seed: int = 0):
        self.seed = seed
        halves = [c.rstrip(" .").split() for c in captions]
        self.heads = [" ".join(w[: len(w) // 2]) for w in halves if len(w) >= 4]
        self.tails = [" ".join(w[len(w) // 2 :]) for w in halves if len(w) >= 4]
        classes = imagenet_classes()
        weights = [1.0 / (1 + (i * 7919) % 1000) ** 0.7 for i in range(len(classes))]  # Zipf-ish
        self.classes = classes
        self.class_weights = weights

    @staticmethod
    def folder(event: int) -> str:
        month = event // 20
        return f"/library/{2000 + month // 12}/{month % 12 + 1:02d}/event-{event:05d}"

    def record(self, k: int) -> PhotoRecord:
        rng = random.Random(self.seed * 1_000_003 + k)
        event = k // EVENT
        if event > 0 and rng.random() < 0.02:  # added later to an older event
            event = rng.randrange(event)
        path = f"{self.folder(event)}/IMG_{k:07d}.jpg"
        size, mtime = 1_000_000 + k, 1_600_000_000_000_000_000 + k * 1_000_000_000
        if rng.random() < 0.005:
            return PhotoRecord(path, size, mtime, status="error", error="cannot decode the photo")
        caption = f"{rng.choice(self.heads)} {rng.choice(self.tails)}."
        caption = caption[0].upper() + caption[1:]
        chosen = rng.choices(self.classes, self.class_weights, k=rng.randint(1, 3))
        labels = tuple(
            StoredLabel(c.index, c.name, round(rng.uniform(0.1, 0.9), 3)) for c in chosen
        )
        words = list(dict.fromkeys(w for c in chosen for w in c.words))
        human = rng.random() < 0.1
        confidence = None if human else round(rng.betavariate(2.2, 1.6), 4)
        held_back = confidence is not None and confidence < GATE
        return PhotoRecord(
            path,
            size,
            mtime,
            sha256=f"{k:064x}",
            width=4000,
            height=3000,
            caption=caption,
            source="human" if human else "model",
            model_id=None if human else "photocap-lite2-flickr8k",
            score=None if human else round(-2.5 + confidence, 4),
            confidence=confidence,
            held_back=held_back,
            labels=labels,
            label_words=search_words(words),
            objects={"dog": 0.8} if "dog" in caption else {"person": 0.9},
            alt_text=f"May show: a {chosen[0].words[0]}." if held_back else None,
        )

    def records(self, start: int, stop: int) -> Iterator[PhotoRecord]:
        return (self.record(k) for k in range(start, stop))


# ---- queries ------------------------------------------------------------------------------------


def content_words(caption: str) -> list[str]:
    return [w for w in _WORD.findall(caption.lower()) if w not in STOP_WORDS]


def query_mix(captions: Sequence[str], n: int, rng: random.Random) -> dict[str, list[str]]:
    """Each kind's queries: the same for every database and size."""
    frequency = Counter(w for c in captions for w in set(content_words(c)))
    common = [w for w, _ in frequency.most_common(30)]
    typical: list[str] = []
    while len(typical) < n:
        words = content_words(rng.choice(captions))
        length = rng.randint(1, 3)
        if len(words) >= length:
            start = rng.randrange(len(words) - length + 1)
            typical.append(" ".join(words[start : start + length]))
    # Two of the 200 commonest words that share few captions (at most 1 in 20,000)
    frequent = [w for w, _ in frequency.most_common(200)]
    sets: dict[str, set[int]] = {w: set() for w in frequent}
    for i, caption in enumerate(captions):
        for word in set(content_words(caption)).intersection(sets):
            sets[word].add(i)
    rare = [
        f"{a} {b}"
        for a, b in combinations(frequent, 2)
        if len(sets[a] & sets[b]) <= len(captions) / 20_000 and sets[a] and sets[b]
    ]
    vocabulary = [
        w for c in rng.sample(list(captions), min(2000, len(captions))) for w in content_words(c)
    ]
    partial = [" ".join(rng.sample(vocabulary, rng.randint(2, 4))) for _ in range(n // 2)]
    return {
        "typical": typical,
        "common word": [rng.choice(common) for _ in range(n // 2)],
        "rare pair": [rng.choice(rare) for _ in range(n // 2)] if rare else typical[: n // 2],
        "partial": partial,
        "in a folder": typical[: n // 2],
        "held back": typical[: n // 2],
    }


# ---- timing ----------------------------------------------------------------------------------


def timed(run: Callable[[], object]) -> float:
    started = time.perf_counter()
    run()
    return (time.perf_counter() - started) * 1000


def summary(times: Sequence[float]) -> tuple[float, float]:
    ordered = sorted(times)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]


def year_folders(rows: int, count: int, rng: random.Random) -> list[str]:
    last_event = max(0, rows // EVENT - 1)
    return [Library.folder(rng.randint(0, last_event)).rsplit("/", 2)[0] for _ in range(count)]


def time_searches(
    index: Index, mix: dict[str, list[str]], rows: int, rng: random.Random
) -> dict[str, dict]:
    from photocap.store.listing import held_back_photos
    from photocap.store.search import search

    folders = year_folders(rows, len(mix["in a folder"]), rng)
    runs: dict[str, list[Callable[[], object]]] = {}
    for kind, queries in mix.items():
        if kind == "in a folder":
            runs[kind] = [
                lambda q=q, f=f: search(index, q, under=f)
                for q, f in zip(queries, folders, strict=True)
            ]
        elif kind == "held back":
            runs[kind] = [lambda q=q: search(index, q, held_back=True) for q in queries]
        else:
            runs[kind] = [lambda q=q: search(index, q) for q in queries]
    runs["held-back list"] = [lambda: held_back_photos(index, limit=20)] * 20
    for run in runs["typical"][:20]:  # warm the caches and the connection pool
        run()
    results = {}
    for kind, calls in runs.items():
        times = [timed(call) for call in calls]
        median, p99 = summary(times)
        results[kind] = {"median_ms": median, "p99_ms": p99, "queries": len(times)}
    probe = search(index, mix["common word"][0])
    results["common word"]["more_than_window"] = probe.windowed
    return results


def review_filters(rows: int) -> dict[str, dict]:
    from photocap.store.listing import Filters

    year = Library.folder(max(0, rows // EVENT // 2)).rsplit("/", 2)[0]
    return {
        "all, by confidence": Filters(),
        "all, newest": Filters(sort="newest"),
        "all, by path": Filters(sort="path"),
        "a year's folder": Filters(under=year),
        "written by people": Filters(source="human"),
        "by the model": Filters(source="model"),
        "held back": Filters(held_back=True),
        "words: dog": Filters(q="dog"),
        "words: black dog": Filters(q="black dog"),  # two common words that often meet
        "words: man in a red shirt": Filters(q="man red shirt"),
        "words and a filter: dog, by the model": Filters(q="dog", source="model"),
    }


def deep_cursor(index: Index, filters, fraction: float = 0.9) -> str | None:
    """The cursor of the row `fraction` deep into `filters`' listing (found by OFFSET, untimed)."""
    from sqlalchemy import func, select

    from photocap.store.listing import _sort_key, encode_cursor, page_conditions
    from photocap.store.schema import photos

    if filters.sort == "newest":
        key, order = photos.c.id, [photos.c.id.desc()]
    else:
        key = _sort_key(filters.sort)
        order = [key, photos.c.id]
    with index.reading() as conn:
        where = page_conditions(conn, filters, index.postgres)
        total = conn.execute(select(func.count()).select_from(photos).where(*where)).scalar_one()
        if total < 2:
            return None
        query = select(key, photos.c.id).where(*where).order_by(*order)
        row = conn.execute(query.offset(int(total * fraction)).limit(1)).first()
    return encode_cursor(row[0], row[1]) if row else None


def time_review(index: Index, rows: int, repeat: int) -> dict[str, dict]:
    from photocap.review.queries import list_photos

    results = {}
    for name, filters in review_filters(rows).items():
        list_photos(index, filters, limit=60)  # warm
        first = [timed(lambda f=filters: list_photos(index, f, limit=60)) for _ in range(repeat)]
        cursor = deep_cursor(index, filters)
        deep = (
            [
                timed(lambda f=filters, c=cursor: list_photos(index, f, limit=60, after=c))
                for _ in range(repeat)
            ]
            if cursor
            else []
        )
        results[name] = {
            "first_ms": statistics.median(first),
            "deep_ms": statistics.median(deep) if deep else None,
        }
    return results


# ---- building ----------------------------------------------------------------------------------


def disk_bytes(index: Index) -> int:
    if index.postgres:
        from sqlalchemy import text

        with index.reading() as conn:
            return conn.execute(text("SELECT pg_database_size(current_database())")).scalar_one()
    return sum(
        p.stat().st_size for p in index.path.parent.glob(index.path.name + "*") if p.is_file()
    )


def grow(index: Index, library: Library, rows: int) -> float:
    """Adds the library's rows up to `rows` (those already there stay); seconds taken."""
    have = index.count()
    started = time.perf_counter()
    if have < rows:
        index.upsert(library.records(have, rows), batch_size=BATCH)
        index.add_root("/library")
        index.optimize()
    return time.perf_counter() - started


# ---- the rerun -----------------------------------------------------------------------------------


def rerun_tree(root: Path, files: int, db: Path) -> float:
    """Empty photos under `root` (the library's folders) and their rows in `db` as a finished
    run leaves them; grows both to `files`. Seconds taken."""
    started = time.perf_counter()
    with open_index(db) as index:
        have = index.count()
        made: list[PhotoRecord] = []
        for k in range(have, files):
            folder = root / Library.folder(k // EVENT).lstrip("/")
            if k % EVENT == 0 or not folder.exists():
                folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"IMG_{k:07d}.jpg"
            path.touch()
            st = path.stat()
            made.append(
                PhotoRecord(
                    str(path),
                    st.st_size,
                    st.st_mtime_ns,
                    sha256="e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
                    caption="A dog runs on the grass.",
                    source="model",
                    model_id="benchmark",
                    confidence=0.9,
                    labels=(),
                    label_words="",
                )
            )
            if len(made) == BATCH:
                index.upsert(made, batch_size=BATCH)
                made = []
        index.upsert(made, batch_size=BATCH)
        index.add_root(root)
    return time.perf_counter() - started


def time_rerun(root: Path, db: Path, files: int) -> dict:
    seconds, result, _ = run_rerun(root, db)
    if result["unchanged"] != files or result["captioned"]:
        raise SystemExit(f"the rerun was not a rerun of {files} unchanged photos: {result}")
    return {"seconds": seconds, "files": files}


# ---- the report ----------------------------------------------------------------------------------


def print_tables(results: dict) -> list[str]:
    """Prints the tables; returns the bars missed."""
    missed = []
    sizes = sorted({int(s) for db in results["databases"].values() for s in db})
    for db, by_size in results["databases"].items():
        settings = results.get("postgresql_settings") if db == "postgresql" else None
        tuned = f" (server settings: {settings})" if settings else ""
        print(f"\n{db}{tuned}: build, size, search median / p99 ms")
        head = ["rows", "build s (all)", "MB on disk"]
        kinds = list(next(iter(by_size.values()))["search"])
        print("| " + " | ".join(head + kinds) + " |")
        print("|" + "---|" * (len(head) + len(kinds)))
        for size in sizes:
            step = by_size.get(str(size))
            if step is None:
                continue
            cells = [f"{size:,}", f"{step['build_s']:.0f} ({step['build_total_s']:.0f})"]
            cells.append(f"{step['bytes'] / 1e6:,.0f}")
            for kind in kinds:
                s = step["search"][kind]
                cells.append(f"{s['median_ms']:.1f} / {s['p99_ms']:.0f}")
                bar = BARS["typical median"] if kind == "typical" else BARS["kind median"]
                if size == max(sizes) and s["median_ms"] > bar:
                    missed.append(
                        f"{db} {size:,} {kind} median {s['median_ms']:.1f} ms > {bar:.0f}"
                    )
                if size == max(sizes) and kind == "typical" and s["p99_ms"] > BARS["typical p99"]:
                    missed.append(f"{db} {size:,} typical p99 {s['p99_ms']:.0f} ms > 250")
            print("| " + " | ".join(cells) + " |")
        print(f"\n{db}: the review API's listing, first page / a page 90% deep, ms")
        filters = list(next(iter(by_size.values()))["review"])
        print("| rows | " + " | ".join(filters) + " |")
        print("|" + "---|" * (len(filters) + 1))
        for size in sizes:
            step = by_size.get(str(size))
            if step is None:
                continue
            cells = [f"{size:,}"]
            for name in filters:
                r = step["review"][name]
                deep = f"{r['deep_ms']:.1f}" if r["deep_ms"] is not None else "-"
                cells.append(f"{r['first_ms']:.1f} / {deep}")
                if size == max(sizes) and r["first_ms"] > BARS["review first"]:
                    missed.append(
                        f"{db} {size:,} review '{name}' first page {r['first_ms']:.1f} ms"
                    )
            print("| " + " | ".join(cells) + " |")
    if {"sqlite", "postgresql"} <= set(results["databases"]):
        top = str(max(sizes))
        lite = results["databases"]["sqlite"].get(top)
        pg = results["databases"]["postgresql"].get(top)
        if lite and pg:
            print(f"\nPostgreSQL's median over SQLite's at {int(top):,} rows:")
            for kind, s in pg["search"].items():
                ratio = s["median_ms"] / lite["search"][kind]["median_ms"]
                print(f"  {kind:<16} {ratio:.2f}×")
                if ratio > 1.5 and s["median_ms"] > 20:
                    missed.append(f"postgresql {kind} median {ratio:.2f}× SQLite's and > 20 ms")
    for files, rerun in sorted(results.get("rerun", {}).items(), key=lambda x: int(x[0])):
        print(
            f"\nunchanged rerun over {int(files):,} files: {rerun['seconds']:.1f} s (whole command)"
        )
        if int(files) >= 1_000_000 and rerun["seconds"] > RERUN_BAR_S:
            missed.append(f"rerun over {int(files):,} files {rerun['seconds']:.1f} s > 60")
    return missed


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[200_000, 1_000_000, 2_000_000])
    parser.add_argument("--databases", nargs="+", default=["sqlite", "postgresql"])
    parser.add_argument("--rerun-files", type=int, nargs="*", default=[200_000, 1_000_000])
    parser.add_argument("--queries", type=int, default=200, help="typical queries (others: half)")
    parser.add_argument("--repeat", type=int, default=10, help="timings of each review page")
    parser.add_argument("--captions", type=Path, default=DEFAULT_CAPTIONS)
    parser.add_argument("--work", type=Path, help="keep the indexes and results here")
    parser.add_argument("--url", help="an empty PostgreSQL database (default: a temporary server)")
    parser.add_argument(
        "--pg-setting",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a setting for the throw-away PostgreSQL server (repeatable)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--smoke", action="store_true", help="print the figures, check no bar")
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    captions = load_captions(args.captions, rng)
    library = Library(captions, args.seed)
    mix = query_mix(captions, args.queries, random.Random(args.seed + 1))

    with tempfile.TemporaryDirectory(prefix="photocap-scale-") as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        out = work / "scale.json"
        results = json.loads(out.read_text()) if out.exists() else {}
        results.setdefault("databases", {})
        results.setdefault("rerun", {})
        server = None
        try:
            for db in args.databases:
                if db == "postgresql":
                    url = args.url
                    if url is None:
                        from postgres_server import PostgresServer, find_bin_dir

                        bin_dir = find_bin_dir()
                        if bin_dir is None:
                            print(
                                "PostgreSQL's initdb/pg_ctl not found: pass --url", file=sys.stderr
                            )
                            return 2
                        server = PostgresServer(bin_dir)
                        settings = dict(s.split("=", 1) for s in args.pg_setting)
                        server.start(settings)
                        url = server.new_database()
                        results["databases"].pop(db, None)  # a new server starts empty
                        results["postgresql_settings"] = settings
                    target: str | Path = url
                else:
                    target = work / "library.db"
                steps = results["databases"].setdefault(db, {})
                with open_index(target) as index:
                    for size in sorted(args.sizes):
                        have = index.count()
                        if have > size:  # its figures would be those of a larger index
                            raise SystemExit(
                                f"{db} already holds {have:,} rows, more than {size:,}: "
                                "time smaller sizes from an empty --work (or --url)"
                            )
                        had = have == size
                        built = grow(index, library, size)
                        if had and str(size) in steps:  # built by an earlier run
                            built = steps[str(size)]["build_s"]
                        print(f"{db}: {size:,} rows (+{built:.0f} s)", flush=True)
                        total = built + sum(s["build_s"] for n, s in steps.items() if int(n) < size)
                        step = {
                            "build_s": built,
                            "build_total_s": total,
                            "bytes": disk_bytes(index),
                            "search": time_searches(index, mix, size, random.Random(size)),
                            "review": time_review(index, size, args.repeat),
                        }
                        steps[str(size)] = step
                        out.write_text(json.dumps(results, indent=1))
            for files in sorted(args.rerun_files):
                root, db_file = work / "tree", work / "tree.db"
                made = rerun_tree(root, files, db_file)
                print(f"rerun tree: {files:,} empty files indexed (+{made:.0f} s)", flush=True)
                results["rerun"][str(files)] = time_rerun(root, db_file, files)
                out.write_text(json.dumps(results, indent=1))
        finally:
            if server is not None:
                server.stop()
        missed = print_tables(results)
    print(f"\nload average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    for line in missed:
        print(f"MISSED: {line}")
    return 1 if missed and not args.smoke else 0


if __name__ == "__main__":
    sys.exit(main())
