"""The index on PostgreSQL: the engine, the schema and its migrations, write locks, error messages.

The tables are the SQLAlchemy ones in schema.py; what differs from SQLite lives here:

- full-text search is a `tsvector` column the database generates from the caption (weight A) and
  the label words (weight B), under a GIN index. Its text search configuration `photocap` stems
  English words (Snowball) but keeps stop words, as SQLite's FTS5 table does, folds accents where
  the server has the unaccent extension, and turns punctuation into spaces first, so "t-shirt"
  and "U.S." are words in order, as photocap's query parser reads them;
- paths are compared byte-wise (COLLATE "C"), so folder ranges and ordering match SQLite's;
- every write transaction takes a transaction-level advisory lock first, the equivalent of SQLite's
  BEGIN IMMEDIATE: exclusive for writes that read then change rows (moves, deletes, migrations),
  shared for upserts, which several indexers may run at once (ON CONFLICT on the unique path; a
  batch PostgreSQL aborts to break a deadlock between two of them is run again);
- a read transaction sees one snapshot (REPEATABLE READ); writes run at READ COMMITTED, where
  ON CONFLICT resolves concurrent inserts of one path into one row;
- a write that waits longer than the busy timeout for a lock fails with a clear message.

Schema versions: PostgreSQL support starts at schema version BASELINE, created in one step; each
later version appends a migration to MIGRATIONS beside SQLite's (a test keeps the two in step).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import sqlalchemy.exc
from sqlalchemy import Connection, Engine, create_engine, event, select
from sqlalchemy.engine import URL

from photocap.errors import IndexDatabaseError
from photocap.store.schema import META_TABLE, REVIEW_FILTER_INDEXES, SCHEMA_VERSION, meta

BACKEND = "postgresql"
BASELINE = 4  # the schema version a new PostgreSQL index is created at in one step
TS_CONFIG = "photocap"
SEARCH_COLUMN = "search_vector"
SEARCH_INDEX = "ix_photos_search"

# Two keys of pg_advisory_xact_lock(int, int): 'phca' and 'ptwr'; per database.
_LOCK_KEYS = (0x70686361, 0x70747772)
# ASCII punctuation becomes spaces before parsing (length kept: highlight offsets stay valid).
PUNCTUATION = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"


def insert(table: Any) -> Any:
    """PostgreSQL's INSERT (with ON CONFLICT); its dialect is imported only when it is used."""
    from sqlalchemy.dialects.postgresql import insert as pg_insert

    return pg_insert(table)


def searchable(column: str) -> str:
    """SQL: `column`'s text as the search index parses it (punctuation as spaces)."""
    punctuation = PUNCTUATION.replace("'", "''")
    spaces = " " * len(PUNCTUATION)
    return f"translate(coalesce({column}, ''), '{punctuation}', '{spaces}')"


def postgres_engine(url: URL, *, busy_timeout: float) -> Engine:
    """An engine for a postgresql:// URL (the psycopg 3 driver unless the URL names another)."""
    if url.get_driver_name() in ("psycopg2", "pg8000", "asyncpg", "psycopg2cffi"):
        raise IndexDatabaseError(
            f"the index needs the psycopg 3 driver, not {url.get_driver_name()!r}",
            hint="use a postgresql+psycopg:// URL",
        )
    url = url.set(drivername="postgresql+psycopg")
    try:
        import psycopg  # noqa: F401
    except ImportError as exc:
        raise IndexDatabaseError(
            "a PostgreSQL index needs the psycopg driver",
            hint="pip install 'photocap[postgres]'",
        ) from exc
    engine = create_engine(url, pool_pre_ping=True)
    _configure(engine, busy_timeout=busy_timeout)
    return engine


def _configure(engine: Engine, *, busy_timeout: float) -> None:
    timeout_ms = max(1, int(busy_timeout * 1000))

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        with dbapi_conn.cursor() as cursor:
            # How long a statement waits for a lock another writer holds (SQLite's busy timeout).
            cursor.execute(f"SET lock_timeout = {timeout_ms}")
            # psycopg prepares a statement run five times; PostgreSQL may then plan it once for
            # any parameters. A search's best plan depends on how many photos its words match
            # (a rare word: its matches from the GIN index; a common one: the newest rows until
            # enough match): one plan for all turns 20 ms searches into 500 ms ones at 2 million
            # photos. Each statement is planned for its own parameters.
            cursor.execute("SET plan_cache_mode = force_custom_plan")
        dbapi_conn.commit()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        write = conn.get_execution_options().get("photocap_write", False)
        if not write:  # a read: one consistent snapshot, as an SQLite read transaction sees
            conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        else:
            shared = "_shared" if write == "rows" else ""
            conn.exec_driver_sql(
                f"SELECT pg_advisory_xact_lock{shared}(%(a)s, %(b)s)",
                {"a": _LOCK_KEYS[0], "b": _LOCK_KEYS[1]},
            )


def read_version(conn: Connection) -> int:
    """The schema version (0: no photocap tables) in the connection's current schema."""
    # pg_tables, not to_regclass(): a table another process committed while this one waited for
    # the write lock is seen by a new statement's snapshot, not by the catalog cache.
    sql = "SELECT 1 FROM pg_catalog.pg_tables WHERE schemaname = current_schema() AND tablename = %(t)s"
    if conn.exec_driver_sql(sql, {"t": META_TABLE}).first() is None:
        return 0
    value = conn.execute(select(meta.c.value).where(meta.c.key == "schema_version")).scalar()
    return int(value) if value is not None else 0


def has_tables(conn: Connection) -> bool:
    """Whether the current schema holds any table at all."""
    sql = "SELECT 1 FROM pg_catalog.pg_tables WHERE schemaname = current_schema() LIMIT 1"
    return conn.exec_driver_sql(sql).first() is not None


def database_error(exc: sqlalchemy.exc.DBAPIError, url: str) -> IndexDatabaseError:
    """An IndexDatabaseError with a hint for a PostgreSQL driver error."""
    message = str(exc.orig).strip()
    code = getattr(exc.orig, "sqlstate", None) or ""
    if code == "55P03" or "lock timeout" in message:  # lock_not_available
        return IndexDatabaseError(
            "the index database is busy (another photocap command is writing to it)",
            hint="wait for it to finish and try again",
        )
    if code.startswith("08") or exc.connection_invalidated or "connection" in message.lower():
        return IndexDatabaseError(
            f"cannot connect to the index database {url}: {message}",
            hint="check the server is running and the URL (host, port, user, database)",
        )
    if code.startswith("28") or code == "3D000":  # authentication; no such database
        return IndexDatabaseError(
            f"cannot open the index database {url}: {message}",
            hint="check the user, password and database name in --db or PHOTOCAP_DB",
        )
    if code == "42501":  # insufficient_privilege
        return IndexDatabaseError(
            f"not allowed by the index database {url}: {message}",
            hint="the user needs to create tables in the schema, or pass another --db",
        )
    return IndexDatabaseError(
        f"the index database failed: {message}",
        hint="check the server's log; `photocap index` rebuilds an index from the photos",
    )


# The text search configuration: English stems, no stop words dropped (a query of stop words
# alone still finds them), then the photos table at schema version 4 with its generated tsvector.
_BASELINE_SQL = [
    f"CREATE TABLE {META_TABLE} (key TEXT NOT NULL PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TEXT SEARCH DICTIONARY photocap_stem (TEMPLATE = snowball, Language = english)",
    f"CREATE TEXT SEARCH CONFIGURATION {TS_CONFIG} (COPY = pg_catalog.english)",
    f"""ALTER TEXT SEARCH CONFIGURATION {TS_CONFIG} ALTER MAPPING FOR
        asciiword, asciihword, hword_asciipart, word, hword, hword_part, numword, numhword,
        hword_numpart WITH photocap_stem""",
    f"""CREATE TABLE photos (
        id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        path TEXT COLLATE "C" NOT NULL UNIQUE,
        size BIGINT NOT NULL,
        mtime_ns BIGINT NOT NULL,
        sidecar_mtime_ns BIGINT,
        sha256 VARCHAR(64),
        width INTEGER,
        height INTEGER,
        caption TEXT,
        source VARCHAR(8),
        model_id TEXT,
        score DOUBLE PRECISION,
        confidence DOUBLE PRECISION,
        held_back BOOLEAN NOT NULL DEFAULT false,
        labels TEXT,
        label_words TEXT,
        status VARCHAR(8) NOT NULL DEFAULT 'ok',
        error TEXT,
        indexed_at TIMESTAMP WITHOUT TIME ZONE NOT NULL,
        {SEARCH_COLUMN} tsvector GENERATED ALWAYS AS (
            setweight(to_tsvector('{TS_CONFIG}'::regconfig, {searchable("caption")}), 'A')
            || setweight(to_tsvector('{TS_CONFIG}'::regconfig, {searchable("label_words")}), 'B')
        ) STORED
    )""",
    "CREATE INDEX ix_photos_sha256 ON photos (sha256)",
    "CREATE INDEX ix_photos_size ON photos (size)",
    f"CREATE INDEX {SEARCH_INDEX} ON photos USING gin ({SEARCH_COLUMN})",
    'CREATE TABLE roots (path TEXT COLLATE "C" NOT NULL PRIMARY KEY, added_at TIMESTAMP NOT NULL)',
]


def _run_ddl(conn: Connection, statements: list[str]) -> None:
    """Runs DDL on the driver's cursor, in `conn`'s transaction (no placeholders: '%' is text)."""
    with conn.connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)


def _fold_accents(conn: Connection) -> bool:
    """Lets the search configuration fold accents ("cafe" finds "café", as SQLite's
    remove_diacritics does) where the server has the unaccent extension and the user may create
    it (a trusted extension since PostgreSQL 13); without it, accents stay."""
    try:
        with conn.begin_nested():
            conn.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS unaccent")
    except sqlalchemy.exc.DBAPIError:
        return False
    visible = "SELECT 1 FROM pg_ts_dict WHERE dictname = 'unaccent' AND pg_ts_dict_is_visible(oid)"
    if conn.exec_driver_sql(visible).first() is None:
        return False  # created in a schema outside the search path
    sql = f"ALTER TEXT SEARCH CONFIGURATION {TS_CONFIG} ALTER MAPPING FOR word, hword, hword_part"
    conn.exec_driver_sql(f"{sql} WITH unaccent, photocap_stem")
    return True


def _create_baseline(conn: Connection) -> None:
    configured = _BASELINE_SQL.index(next(s for s in _BASELINE_SQL if "ALTER MAPPING" in s)) + 1
    _run_ddl(conn, _BASELINE_SQL[:configured])
    _fold_accents(conn)
    _run_ddl(conn, _BASELINE_SQL[configured:])


# MIGRATIONS[n] takes a PostgreSQL index at version n - 1 to version n; MIGRATIONS[BASELINE]
# creates one from nothing. Append, never edit (as schema.MIGRATIONS for SQLite).
def _migrate_to_5(conn: Connection) -> None:
    """`photocap review` pages through photos lowest confidence first (as SQLite's version 5)."""
    conn.exec_driver_sql(
        "CREATE INDEX ix_photos_confidence ON photos (coalesce(confidence, 2.0), id)"
    )


def _migrate_to_6(conn: Connection) -> None:
    """Object evidence and label lines (as SQLite's version 6)."""
    conn.exec_driver_sql("ALTER TABLE photos ADD COLUMN objects TEXT")
    conn.exec_driver_sql("ALTER TABLE photos ADD COLUMN alt_text TEXT")


def _migrate_to_7(conn: Connection) -> None:
    """The review page's source and held-back filters (as SQLite's version 7)."""
    for statement in REVIEW_FILTER_INDEXES:
        conn.exec_driver_sql(statement)


MIGRATIONS: dict[int, Callable[[Connection], None]] = {
    BASELINE: _create_baseline,
    5: _migrate_to_5,
    6: _migrate_to_6,
    7: _migrate_to_7,
}


def migrate(conn: Connection, version: int) -> None:
    """Takes the database from `version` (0: empty) to SCHEMA_VERSION inside `conn`'s transaction."""
    start = BASELINE if version == 0 else version + 1
    if 0 < version < BASELINE:  # cannot happen: no PostgreSQL index was made before BASELINE
        raise IndexDatabaseError(f"unknown PostgreSQL index schema version {version}")
    for target in range(start, SCHEMA_VERSION + 1):
        MIGRATIONS[target](conn)
    conn.execute(
        insert(meta)
        .values(key="schema_version", value=str(SCHEMA_VERSION))
        .on_conflict_do_update(index_elements=["key"], set_={"value": str(SCHEMA_VERSION)})
    )


def rebuild_search(conn: Connection) -> None:
    """Rebuilds the GIN index (the tsvector column itself is always in step)."""
    conn.exec_driver_sql(f"REINDEX INDEX {SEARCH_INDEX}")


def optimize(conn: Connection) -> None:
    """Moves the GIN index's pending entries into the index and refreshes the planner's statistics."""
    conn.exec_driver_sql(f"SELECT gin_clean_pending_list('{SEARCH_INDEX}'::regclass)")
    conn.exec_driver_sql("ANALYZE photos")
    conn.exec_driver_sql("ANALYZE roots")


def strip_nul(value: Any) -> Any:
    """PostgreSQL text cannot hold NUL characters (SQLite's can): they are dropped."""
    return value.replace("\x00", "") if isinstance(value, str) else value


def unique_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Upsert rows once per path (a path repeated in a batch: its place, its last values), NULs
    dropped: one INSERT ... ON CONFLICT statement cannot change a row twice."""
    return list({row["path"]: {k: strip_nul(v) for k, v in row.items()} for row in rows}.values())


def retry_deadlocks(write: Callable[[], None], attempts: int = 5) -> None:
    """Runs the write transaction `write`, again when PostgreSQL aborted it to break a deadlock
    (two indexers upserting the same photos in another order) or a serialization failure."""
    for attempt in range(attempts):
        try:
            return write()
        except IndexDatabaseError as exc:
            cause = getattr(exc.__cause__, "orig", None)
            if (
                getattr(cause, "sqlstate", None) not in ("40P01", "40001")
                or attempt == attempts - 1
            ):
                raise
            time.sleep(0.05 * (attempt + 1))
