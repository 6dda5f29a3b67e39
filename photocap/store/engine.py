"""The index's SQLite engine: URLs and files, connection settings (WAL, busy timeout, explicit
transactions), reading the schema version a database is at, and what a driver error means to the
user (IndexDatabaseError with a hint). A postgresql:// URL gets PostgreSQL's engine instead
(photocap/store/postgres.py)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy.exc
from sqlalchemy import Connection, Engine, create_engine, event, select
from sqlalchemy.engine import make_url

from photocap.errors import IndexDatabaseError
from photocap.paths import default_db_url
from photocap.store import postgres
from photocap.store.records import abspath
from photocap.store.schema import META_TABLE, SCHEMA_VERSION, meta

BUILD_HINT = "build one with: photocap index PATH"


def index_engine(
    url: str | os.PathLike[str] | None, *, create: bool, busy_timeout: float
) -> tuple[Engine, Path | None]:
    """The engine for `url`: PostgreSQL's for a postgresql:// URL (no file: None), else SQLite's."""
    url_text = sqlite_url(os.fspath(url) if url is not None else None)
    if url_text.startswith("postgres://"):  # the scheme libpq and Heroku-style URLs use
        url_text = "postgresql://" + url_text.removeprefix("postgres://")
    if url_text.split(":", 1)[0].split("+")[0] == postgres.BACKEND:
        return postgres.postgres_engine(make_url(url_text), busy_timeout=busy_timeout), None
    return sqlite_engine(url_text, create=create, busy_timeout=busy_timeout)


def sqlite_engine(
    url: str | os.PathLike[str] | None, *, create: bool, busy_timeout: float
) -> tuple[Engine, Path | None]:
    """An engine for the index at `url` (an SQLAlchemy URL or an SQLite file path; None: the
    default) and its file (None in memory). A missing file is created unless `create` is false."""
    url_text = sqlite_url(os.fspath(url) if url is not None else None)
    parsed = make_url(url_text)
    if parsed.get_backend_name() != "sqlite":
        raise IndexDatabaseError(
            f"unsupported index database {parsed.get_backend_name()!r}: the index needs SQLite "
            "FTS5 or PostgreSQL",
            hint="pass an SQLite file path, an sqlite:/// URL or a postgresql+psycopg:// URL "
            "with --db",
        )
    database = parsed.database or ""
    in_memory = database in ("", ":memory:") or database.startswith("file::memory:")
    path = None if in_memory else Path(database).expanduser().absolute()
    if path is not None:
        if not path.exists():
            if not create:
                raise IndexDatabaseError("no index database found", path=path, hint=BUILD_HINT)
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise IndexDatabaseError(
                    f"cannot create the index folder: {exc.strerror}", path=path.parent
                ) from exc
        parsed = parsed.set(database=str(path))
    engine = create_engine(parsed, connect_args={"timeout": busy_timeout})
    _configure(engine, wal=path is not None, busy_timeout=busy_timeout)
    return engine, path


def sqlite_url(url: str | None) -> str:
    url = url or default_db_url()
    if "://" not in url:  # a bare file path
        url = f"sqlite:///{abspath(url)}"
    return url


def _configure(engine: Engine, *, wal: bool, busy_timeout: float) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Transactions are ours (see _on_begin), not the driver's implicit ones.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
        if wal:
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        write = conn.get_execution_options().get("photocap_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def read_version(conn: Connection) -> int:
    if conn.dialect.name == postgres.BACKEND:
        return postgres.read_version(conn)
    exists = conn.exec_driver_sql(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (META_TABLE,)
    ).first()
    if exists is None:
        return 0
    value = conn.execute(select(meta.c.value).where(meta.c.key == "schema_version")).scalar()
    return int(value) if value is not None else 0


def has_tables(conn: Connection) -> bool:
    if conn.dialect.name == postgres.BACKEND:
        return postgres.has_tables(conn)
    return (
        conn.exec_driver_sql(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite%'"
        ).first()
        is not None
    )


def refuse_newer(version: int, path: Path | None) -> None:
    if version > SCHEMA_VERSION:
        raise IndexDatabaseError(
            f"the index database is at schema version {version}, newer than this photocap "
            f"understands (version {SCHEMA_VERSION})",
            path=path,
            hint="upgrade photocap, or point --db at another index",
        )


@contextmanager
def database_errors(url: str, path: Path | None, *, on_postgres: bool) -> Iterator[None]:
    """Turns driver errors into IndexDatabaseError with a hint (integrity and programming errors,
    photocap's own bugs or a caller's, pass through as they are)."""
    try:
        yield
    except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.ProgrammingError):
        raise
    except sqlalchemy.exc.DBAPIError as exc:
        if on_postgres:
            raise postgres.database_error(exc, url) from exc
        message = str(exc.orig)
        lowered = message.lower()
        if "locked" in lowered or "busy" in lowered:
            raise IndexDatabaseError(
                "the index database is busy (another photocap command is writing to it)",
                path=path,
                hint="wait for it to finish and try again",
            ) from exc
        if "unable to open" in lowered or "readonly" in lowered:
            raise IndexDatabaseError(
                f"cannot open the index database: {message}",
                path=path,
                hint="check the folder exists and is writable, or pass --db",
            ) from exc
        raise IndexDatabaseError(
            f"the index database is damaged or not an SQLite file: {message}",
            path=path,
            hint=f"move it aside and {BUILD_HINT}",
        ) from exc
