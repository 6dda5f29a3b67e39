"""The photo index: an SQLite database of photos, their captions and a full-text index over them.

`open_index()` returns an `Index`; writes go in as `PhotoRecord`s and are committed per batch.
WAL mode and a busy timeout let `index`, `watch` and `search` use one database at the same time.
Paths are stored absolute (`os.path.abspath`, symlinks kept), as str. The engine and what its
errors mean: engine.py; a record as a row and back: records.py; the tables: schema.py.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    Text,
    delete,
    func,
    literal,
    select,
    update,
)
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from photocap.errors import IndexDatabaseError
from photocap.iterables import batched
from photocap.store import postgres
from photocap.store.engine import (
    BUILD_HINT,
    database_errors,
    has_tables,
    index_engine,
    read_version,
    refuse_newer,
)
from photocap.store.records import (
    COLUMNS,
    IndexStats,
    PhotoRecord,
    PruneReport,
    Source,
    Status,
    StoredLabel,
    abspath,
    folder_range,
    record_of,
    row_of,
    storable,
    stored_now,
    utc,
)
from photocap.store.schema import (
    FTS_TABLE,
    MIGRATIONS,
    SCHEMA_VERSION,
    SOURCES,
    meta,
    photos,
    roots,
)

BATCH_SIZE = 500  # rows per committed transaction
_CHUNK = 500  # bound parameters per IN (...) query


class Index:
    """An open index database. Thread-safe; open one per process and `close()` it (or use `with`)."""

    def __init__(self, engine: Engine, path: Path | None):
        self._engine = engine
        self.path = path  # the SQLite file; None for an in-memory database or PostgreSQL
        self.url = engine.url.render_as_string(hide_password=True)
        self.postgres = engine.dialect.name == postgres.BACKEND

    # ---- connections --------------------------------------------------------------------------

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        """A connection inside one read transaction (a consistent view), errors made clear."""
        with (
            database_errors(self.url, self.path, on_postgres=self.postgres),
            self._engine.connect() as conn,
            conn.begin(),
        ):
            yield conn

    @contextmanager
    def _write(self, kind: bool | str = True) -> Iterator[Connection]:
        # BEGIN IMMEDIATE takes the write lock up front, so waiting for another writer goes through
        # the busy timeout instead of failing half-way through a transaction. (PostgreSQL: an
        # advisory lock, shared when `kind` is "rows": upserts that may run side by side.)
        with (
            database_errors(self.url, self.path, on_postgres=self.postgres),
            self._engine.connect().execution_options(photocap_write=kind) as conn,
            conn.begin(),
        ):
            yield conn

    def close(self) -> None:
        """Closes every pooled connection."""
        self._engine.dispose()

    def __enter__(self) -> Index:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- schema ---------------------------------------------------------------------------------

    def schema_version(self) -> int:
        """The schema version the database is at (0: empty)."""
        with self.reading() as conn:
            return read_version(conn)

    def _prepare(self, create: bool = True) -> None:
        with self.reading() as conn:
            version = read_version(conn)
            foreign = version == 0 and has_tables(conn)
        if self.postgres and version == 0 and not foreign and not create:
            raise IndexDatabaseError(f"no photocap index in {self.url}", hint=BUILD_HINT)
        if foreign:
            raise IndexDatabaseError(
                "this database is not a photocap index (it holds other tables)",
                path=self.path,
                hint="pass another file with --db or PHOTOCAP_DB",
            )
        refuse_newer(version, self.path)
        if version == SCHEMA_VERSION:
            return
        with self._write() as conn:
            version = read_version(conn)  # another process may have migrated meanwhile
            refuse_newer(version, self.path)
            if self.postgres:
                postgres.migrate(conn, version)
                return
            for target in range(version + 1, SCHEMA_VERSION + 1):
                MIGRATIONS[target](conn)
            conn.execute(
                sqlite_insert(meta)
                .values(key="schema_version", value=str(SCHEMA_VERSION))
                .on_conflict_do_update(index_elements=["key"], set_={"value": str(SCHEMA_VERSION)})
            )

    # ---- writes ---------------------------------------------------------------------------------

    def upsert(self, records: Iterable[PhotoRecord], *, batch_size: int = BATCH_SIZE) -> int:
        """Inserts or replaces (by path) every field of each record; commits every `batch_size`.

        Returns how many records were written.
        """
        stmt = postgres.insert(photos) if self.postgres else sqlite_insert(photos)
        stmt = stmt.on_conflict_do_update(
            index_elements=[photos.c.path],
            set_={name: stmt.excluded[name] for name in COLUMNS if name != "path"},
        )
        written = 0
        for chunk in batched(records, batch_size):
            now = stored_now()
            rows = [row_of(record, now) for record in chunk]
            if self.postgres:  # several indexers may upsert at once: see postgres.py
                postgres.retry_deadlocks(
                    partial(self._upsert_batch, stmt, postgres.unique_rows(rows))
                )
            else:
                self._upsert_batch(stmt, rows)
            written += len(rows)
        return written

    def _upsert_batch(self, stmt: Any, rows: list[dict[str, Any]]) -> None:
        with self._write("rows") as conn:
            conn.execute(stmt, rows)

    def move(self, old: str | os.PathLike[str], new: str | os.PathLike[str]) -> bool:
        """Gives the row of `old` to `new` (a renamed or moved file), replacing any row at `new`.

        Returns False when `old` is not indexed.
        """
        old, new = abspath(old), abspath(new)
        if old == new:
            return self.get(old) is not None
        with self._write() as conn:
            if conn.execute(select(photos.c.id).where(photos.c.path == old)).first() is None:
                return False
            conn.execute(delete(photos).where(photos.c.path == new))
            conn.execute(update(photos).where(photos.c.path == old).values(path=new))
        return True

    def move_folder(self, old: str | os.PathLike[str], new: str | os.PathLike[str]) -> int:
        """Re-points every row inside folder `old` to the same place inside `new`; returns the count."""
        old_lo, old_hi = folder_range(old)
        new_lo, new_hi = folder_range(new)
        if old_lo == new_lo:
            return 0
        inside_old = (photos.c.path >= old_lo) & (photos.c.path < old_hi)
        renamed = literal(new_lo, Text).op("||")(func.substr(photos.c.path, len(old_lo) + 1))
        with self._write() as conn:
            taken = select(renamed).where(inside_old)
            conn.execute(
                delete(photos).where(
                    (photos.c.path >= new_lo) & (photos.c.path < new_hi) & photos.c.path.in_(taken)
                )
            )
            return conn.execute(update(photos).where(inside_old).values(path=renamed)).rowcount

    def delete(self, paths: Iterable[str | os.PathLike[str]]) -> int:
        """Removes the rows of `paths`; returns how many there were."""
        removed = 0
        for chunk in batched((p for p in map(abspath, paths) if storable(p)), _CHUNK):
            with self._write() as conn:
                removed += conn.execute(delete(photos).where(photos.c.path.in_(chunk))).rowcount
        return removed

    def prune(self, under: str | os.PathLike[str] | None = None) -> PruneReport:
        """Removes rows whose file is gone (only inside `under` when given).

        Rows inside an indexed root whose folder is missing altogether (an unmounted drive) are
        kept, and that root is reported in `unavailable_roots`.
        """
        unavailable = tuple(r for r in self.roots() if not os.path.isdir(r))
        fenced = [folder_range(r) for r in unavailable]
        gone = [
            path
            for path in self._iter_paths(under)
            if not any(lo <= path < hi for lo, hi in fenced) and not os.path.lexists(path)
        ]
        self.delete(gone)
        return PruneReport(removed=tuple(gone), unavailable_roots=unavailable)

    def _iter_paths(self, under: str | os.PathLike[str] | None, page: int = 2000) -> Iterator[str]:
        """Indexed paths in order, a page per short read transaction (no long-held snapshot)."""
        lo, hi = folder_range(under) if under is not None else ("", None)
        last = None
        while True:
            query = select(photos.c.path).order_by(photos.c.path).limit(page)
            query = query.where(photos.c.path > last if last is not None else photos.c.path >= lo)
            if hi is not None:
                query = query.where(photos.c.path < hi)
            with self.reading() as conn:
                chunk = list(conn.execute(query).scalars())
            yield from chunk
            if len(chunk) < page:
                return
            last = chunk[-1]

    def add_root(self, path: str | os.PathLike[str]) -> str:
        """Remembers a folder the user indexed; returns it as stored (absolute)."""
        path = abspath(path)
        insert = postgres.insert if self.postgres else sqlite_insert
        with self._write() as conn:
            conn.execute(
                insert(roots).values(path=path, added_at=stored_now()).on_conflict_do_nothing()
            )
        return path

    def remove_root(self, path: str | os.PathLike[str]) -> bool:
        """Forgets an indexed folder (its photos stay); False when it was not a root."""
        with self._write() as conn:
            return conn.execute(delete(roots).where(roots.c.path == abspath(path))).rowcount > 0

    def rebuild_fts(self) -> None:
        """Rebuilds the full-text index from the captions and label words (repairs it if it drifted)."""
        with self._write() as conn:
            if self.postgres:
                return postgres.rebuild_search(conn)
            conn.exec_driver_sql(f"INSERT INTO {FTS_TABLE}({FTS_TABLE}) VALUES ('rebuild')")

    def optimize(self) -> None:
        """Merges the full-text index into one segment (faster queries); worth it after a big run."""
        with self._write() as conn:
            if self.postgres:
                return postgres.optimize(conn)
            conn.exec_driver_sql(f"INSERT INTO {FTS_TABLE}({FTS_TABLE}) VALUES ('optimize')")
            conn.exec_driver_sql("PRAGMA optimize")

    # ---- reads ----------------------------------------------------------------------------------

    def get(self, path: str | os.PathLike[str]) -> PhotoRecord | None:
        """The record of one path, or None."""
        return self.lookup([path]).get(abspath(path))

    def lookup(self, paths: Iterable[str | os.PathLike[str]]) -> dict[str, PhotoRecord]:
        """Records of those `paths` that are indexed, keyed by absolute path."""
        found: dict[str, PhotoRecord] = {}
        with self.reading() as conn:
            wanted = (path for path in map(abspath, paths) if storable(path))
            for chunk in batched(wanted, _CHUNK):
                for row in conn.execute(select(photos).where(photos.c.path.in_(chunk))):
                    found[row.path] = record_of(row)
        return found

    def sizes_present(self, sizes: Iterable[int]) -> set[int]:
        """Those of `sizes` (bytes) that some indexed photo has."""
        present: set[int] = set()
        with self.reading() as conn:
            for chunk in batched(set(sizes), _CHUNK):
                query = select(photos.c.size).where(photos.c.size.in_(chunk)).distinct()
                present.update(conn.scalars(query))
        return present

    def find_by_hash(self, sha256: str) -> list[PhotoRecord]:
        """Records whose content hash is `sha256` (a moved or copied photo), by path."""
        with self.reading() as conn:
            query = select(photos).where(photos.c.sha256 == sha256).order_by(photos.c.path)
            return [record_of(row) for row in conn.execute(query)]

    def paths(self, under: str | os.PathLike[str] | None = None) -> list[str]:
        """Every indexed path (inside folder `under` when given), sorted."""
        return list(self._iter_paths(under))

    def roots(self) -> list[str]:
        """The folders the user indexed, sorted."""
        with self.reading() as conn:
            return list(conn.execute(select(roots.c.path).order_by(roots.c.path)).scalars())

    def count(self) -> int:
        """How many photos are indexed (reads every row: is_empty() asks only for one)."""
        with self.reading() as conn:
            return conn.execute(select(func.count()).select_from(photos)).scalar_one()

    def is_empty(self) -> bool:
        """Whether no photo is indexed, without counting them."""
        with self.reading() as conn:
            return conn.execute(select(photos.c.id).limit(1)).first() is None

    def stats(self) -> IndexStats:
        """Counts by status and caption source, roots, the latest write."""
        with self.reading() as conn:
            total, captioned, errors, last = conn.execute(
                select(
                    func.count(),
                    func.count(photos.c.caption),
                    func.count().filter(photos.c.status == "error"),
                    func.max(photos.c.indexed_at),
                )
            ).one()
            by_source = dict(
                conn.execute(
                    select(photos.c.source, func.count())
                    .where(photos.c.source.is_not(None))
                    .group_by(photos.c.source)
                ).all()
            )
            n_roots = conn.execute(select(func.count()).select_from(roots)).scalar_one()
            version = read_version(conn)
        return IndexStats(
            photos=total,
            captioned=captioned,
            by_source={s: by_source.get(s, 0) for s in SOURCES},
            errors=errors,
            roots=n_roots,
            last_indexed=utc(last),
            schema_version=version,
        )


def open_index(
    url: str | os.PathLike[str] | None = None, *, create: bool = True, busy_timeout: float = 10.0
) -> Index:
    """Opens (and creates or migrates) the index at `url`: an SQLAlchemy URL or an SQLite file path
    (a postgresql+psycopg:// URL: an index in that PostgreSQL database, see store/postgres.py).

    Default: `$PHOTOCAP_DB`, else `$XDG_DATA_HOME/photocap/index.db`. With `create=False` a missing
    file (a PostgreSQL database without photocap's tables) raises IndexDatabaseError instead of
    being created. `busy_timeout` (seconds) is how long a write waits for another process's write
    to finish.
    """
    engine, path = index_engine(url, create=create, busy_timeout=busy_timeout)
    index = Index(engine, path)
    try:
        index._prepare(create)
    except BaseException:
        index.close()
        raise
    return index


__all__: Sequence[str] = (
    "BUILD_HINT",
    "StoredLabel",
    "Source",
    "Status",
    "Index",
    "IndexStats",
    "PhotoRecord",
    "PruneReport",
    "folder_range",
    "open_index",
)
