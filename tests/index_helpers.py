"""Index rows for the tests: records to write, and the photos table as an SQLite index holds it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from photocap.store.index import PhotoRecord


def record(path: str | Path, caption: str | None = "a cat on a mat", **fields) -> PhotoRecord:
    """A row for a photo that need not exist (size 10, mtime 1)."""
    return PhotoRecord(path=str(path), size=10, mtime_ns=1, caption=caption, **fields)


def rows(db: Path, *columns: str, by: str = "path") -> dict[str, tuple] | dict[str, sqlite3.Row]:
    """The photos of the SQLite index at `db`, keyed by path (`by="name"`: by file name): a tuple of
    `columns` each, or without columns an sqlite3.Row of every column."""
    with sqlite3.connect(db) as conn:
        if not columns:
            conn.row_factory = sqlite3.Row
            return {row["path"]: row for row in conn.execute("SELECT * FROM photos")}
        query = f"SELECT path, {', '.join(columns)} FROM photos"
        key = (lambda p: Path(p).name) if by == "name" else str
        return {key(path): tuple(rest) for path, *rest in conn.execute(query)}


def sql(db: Path | str, statement: str, **params) -> list[tuple] | None:
    """Run one SQL statement on the database at `db` (an SQLite file or a PostgreSQL URL), outside
    photocap, and return its rows (None for a statement without any)."""
    from sqlalchemy import create_engine, text

    if not isinstance(db, str) or "://" not in db:
        Path(db).parent.mkdir(parents=True, exist_ok=True)
        db = f"sqlite:///{db}"
    engine = create_engine(db)
    try:
        with engine.begin() as conn:
            result = conn.execute(text(statement), params)
            return [tuple(row) for row in result] if result.returns_rows else None
    finally:
        engine.dispose()
