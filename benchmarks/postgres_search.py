"""Search latency on PostgreSQL beside SQLite: the same 200,000 captions, the same queries.

Builds one index in an SQLite file and one in a PostgreSQL database through `photocap.store.index`
(the code and schemas the CLI uses), then times `photocap.store.search.search()` in-process on the
same typical 1-4 word queries, partial-match queries (words from different captions) and queries
inside one folder (`under`), on both, and prints median and p99 per backend.

    nice -n 5 .venv/bin/python benchmarks/postgres_search.py [--rows 200000] [--queries 1000]
        [--url postgresql+psycopg://user@host/db]

Without --url it starts a throw-away PostgreSQL server (Debian's initdb/pg_ctl, as the tests do;
fsync off, default settings otherwise) and removes it afterwards. Captions: Flickr8k's
captions.txt from ../shared (or --captions); without it, synthetic captions from a small grammar.
A benchmark script, not a test: it prints figures and exits 0.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))
sys.path.insert(0, str(REPO / "tests"))

from search_latency import (  # noqa: E402
    DEFAULT_CAPTIONS,
    Times,
    load_captions,
    mixed_queries,
    records,
    report,
    summary,
    timed,
    typical_queries,
)

from photocap.store.index import Index, open_index  # noqa: E402
from photocap.store.search import search  # noqa: E402


def build(url: str | Path, captions: Sequence[str], rows: int, seed: int) -> tuple[Index, float]:
    start = time.perf_counter()
    index = open_index(url)
    index.upsert(records(captions, rows, random.Random(seed)), batch_size=500)
    index.add_root("/bench/photos")
    index.optimize()
    return index, time.perf_counter() - start


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--captions", type=Path, default=DEFAULT_CAPTIONS)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--url", help="an empty PostgreSQL database (default: a temporary server)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    captions = load_captions(args.captions, rng)

    server = None
    url = args.url
    if url is None:
        from postgres_server import PostgresServer, find_bin_dir

        bin_dir = find_bin_dir()
        if bin_dir is None:
            print("error: PostgreSQL's initdb/pg_ctl not found; pass --url", file=sys.stderr)
            return 2
        server = PostgresServer(bin_dir)
        server.start()
        url = server.new_database()
        print(f"temporary PostgreSQL server from {bin_dir} (fsync off)")
    try:
        with tempfile.TemporaryDirectory(prefix="photocap-bench-") as tmp:
            backends: dict[str, Index] = {}
            for name, target in (("sqlite", Path(tmp) / "index.db"), ("postgresql", url)):
                index, seconds = build(target, captions, args.rows, args.seed)
                backends[name] = index
                print(f"{name}: built {index.count():,} rows in {seconds:.1f} s")
            typical = typical_queries(captions, args.queries, rng)
            mixed = mixed_queries(captions, args.queries // 4, rng)
            folder = "/bench/photos/2012"
            scoped = typical[: args.queries // 4]
            medians: dict[tuple[str, str], tuple[float, float]] = {}
            for name, index in backends.items():
                print(f"\n{name}:")
                query = lambda q, index=index: search(index, q, limit=20)  # noqa: E731
                timed(query, typical[:50])  # warm caches and the connection pool
                for label, queries, run in (
                    ("typical 1-4 word queries", typical, query),
                    ("partial matches (words of 2+ captions)", mixed, query),
                    (
                        f"under {folder}",
                        scoped,
                        lambda q, index=index: search(index, q, limit=20, under=folder),
                    ),
                ):
                    times: Times = timed(run, queries)
                    report(label, times)
                    medians[(name, label)] = summary(times.wall)[:2]
                partial = sum(search(index, q).partial for q in mixed[:50])
                print(f"  ({partial}/50 of the mixed queries fell back to partial matches)")
            print("\nmedian / p99 wall ms, PostgreSQL beside SQLite:")
            for (name, label), (median, p99) in medians.items():
                if name == "postgresql":
                    base = medians[("sqlite", label)]
                    print(
                        f"  {label:<40} sqlite {base[0]:6.2f} / {base[1]:7.2f}"
                        f"   postgresql {median:6.2f} / {p99:7.2f}"
                    )
            same = sum(
                [h.path for h in search(backends["sqlite"], q).hits][:5]
                == [h.path for h in search(backends["postgresql"], q).hits][:5]
                for q in typical[:200]
            )
            print(f"\nsame top 5 on both backends: {same}/{len(typical[:200])} typical queries")
            for index in backends.values():
                index.close()
    finally:
        if server is not None:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
