"""The index database schema: SQLAlchemy Core tables, the FTS5 table and its triggers, forward migrations.

Migrations are frozen SQL, applied in order inside one write transaction; the tables describe the
schema the newest migration leaves behind (a test keeps the two in step).
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    func,
    literal_column,
    text,
)

SCHEMA_VERSION = 7
META_TABLE = "photocap_meta"
FTS_TABLE = "photos_fts"

SOURCES = ("model", "human")
STATUSES = ("ok", "error")


metadata = MetaData()

# Key/value facts about the database itself (`schema_version`).
meta = Table(
    META_TABLE,
    metadata,
    Column("key", Text, primary_key=True),
    Column("value", Text, nullable=False),
)

# One indexed photo. `id` is the rowid the FTS5 table points at.
photos = Table(
    "photos",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("path", Text, nullable=False, unique=True),  # absolute
    Column("size", BigInteger, nullable=False, index=True),  # bytes
    Column("mtime_ns", BigInteger, nullable=False),
    Column("sidecar_mtime_ns", BigInteger),  # newest XMP sidecar's mtime
    Column("sha256", String(64), index=True),  # hex of the file's bytes
    Column("width", Integer),
    Column("height", Integer),
    Column("caption", Text),
    Column("source", String(8)),  # "model" | "human"
    Column("model_id", Text),
    Column("score", Float),  # the decoder's mean log-probability per word
    Column("confidence", Float),  # 0-1, calibrated; None for human captions and older rows
    Column("held_back", Boolean, nullable=False, server_default=text("0")),  # not written: unsure
    Column("labels", Text),  # JSON [{"index", "name", "probability"}]; None: not labelled yet
    Column("label_words", Text),  # the labels' everyday words, for full-text search
    Column("objects", Text),  # JSON {object group: evidence 0-1}; None: no detectors
    Column("alt_text", Text),  # a label line written instead of a held-back caption
    Column("status", String(8), nullable=False, server_default="ok"),  # "ok" | "error"
    Column("error", Text),
    Column("indexed_at", DateTime, nullable=False),  # UTC, naive in the database
)

# The review page's order, lowest confidence first (none: after every confidence), walked by keyset.
Index(
    "ix_photos_confidence",
    func.coalesce(photos.c.confidence, literal_column("2.0")),
    photos.c.id,
)

# The review page's filters by source and by held back, each walked in that order: a filter that
# keeps a tenth of the photos reads a page, not the nine tenths before it.
for _column in (photos.c.source, photos.c.held_back):
    Index(
        f"ix_photos_{_column.name}_confidence",
        _column,
        func.coalesce(photos.c.confidence, literal_column("2.0")),
        photos.c.id,
    )

# A folder the user indexed; `watch` watches these by default.
roots = Table(
    "roots",
    metadata,
    Column("path", Text, primary_key=True),
    Column("added_at", DateTime, nullable=False),
)

# The sqlite-utils pattern: an external-content FTS5 table over photos.caption, kept in step by
# triggers that feed the old text back with the 'delete' command. Only caption changes touch it.
_V1 = f"""
CREATE TABLE {META_TABLE} (key TEXT NOT NULL PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE photos (
    id INTEGER NOT NULL PRIMARY KEY,
    path TEXT NOT NULL UNIQUE,
    size BIGINT NOT NULL,
    mtime_ns BIGINT NOT NULL,
    sha256 VARCHAR(64),
    width INTEGER,
    height INTEGER,
    caption TEXT,
    source VARCHAR(8),
    model_id TEXT,
    score FLOAT,
    status VARCHAR(8) NOT NULL DEFAULT 'ok',
    error TEXT,
    indexed_at DATETIME NOT NULL
);
CREATE INDEX ix_photos_sha256 ON photos (sha256);
CREATE TABLE roots (path TEXT NOT NULL PRIMARY KEY, added_at DATETIME NOT NULL);
CREATE VIRTUAL TABLE {FTS_TABLE} USING fts5(
    caption, content='photos', content_rowid='id', tokenize='porter unicode61 remove_diacritics 2'
);
CREATE TRIGGER photos_ai AFTER INSERT ON photos BEGIN
    INSERT INTO {FTS_TABLE}(rowid, caption) VALUES (new.id, new.caption);
END;
CREATE TRIGGER photos_ad AFTER DELETE ON photos BEGIN
    INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, caption) VALUES ('delete', old.id, old.caption);
END;
CREATE TRIGGER photos_au AFTER UPDATE OF caption ON photos
WHEN old.caption IS NOT new.caption BEGIN
    INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, caption) VALUES ('delete', old.id, old.caption);
    INSERT INTO {FTS_TABLE}(rowid, caption) VALUES (new.id, new.caption);
END;
"""


def _run_script(conn: Connection, script: str) -> None:
    # One statement at a time: the driver's executescript() would commit the open transaction.
    # Trigger bodies hold ';' too, so split on the 'END;' / ';' that close top-level statements.
    statement: list[str] = []
    for line in script.strip().splitlines():
        statement.append(line)
        text = "\n".join(statement).strip()
        in_trigger = text.upper().startswith("CREATE TRIGGER")
        if (in_trigger and line.strip().upper() == "END;") or (
            not in_trigger and line.rstrip().endswith(";")
        ):
            conn.exec_driver_sql(text)
            statement = []


def _migrate_to_1(conn: Connection) -> None:
    _run_script(conn, _V1)


def _migrate_to_2(conn: Connection) -> None:
    """Sizes indexed: a new photo whose size no indexed photo has cannot be a moved one, so it
    needs no content hash before captioning."""
    conn.exec_driver_sql("CREATE INDEX ix_photos_size ON photos (size)")


def _migrate_to_3(conn: Connection) -> None:
    """Sidecars' mtime remembered: a caption a person writes into a sidecar alone is noticed."""
    conn.exec_driver_sql("ALTER TABLE photos ADD COLUMN sidecar_mtime_ns BIGINT")


# Labels searchable beside the caption: the FTS5 table gets a second column over
# photos.label_words (kept in step by the same kind of triggers) and is rebuilt.
_V4 = f"""
ALTER TABLE photos ADD COLUMN confidence FLOAT;
ALTER TABLE photos ADD COLUMN held_back BOOLEAN NOT NULL DEFAULT 0;
ALTER TABLE photos ADD COLUMN labels TEXT;
ALTER TABLE photos ADD COLUMN label_words TEXT;
DROP TRIGGER photos_ai;
DROP TRIGGER photos_ad;
DROP TRIGGER photos_au;
DROP TABLE {FTS_TABLE};
CREATE VIRTUAL TABLE {FTS_TABLE} USING fts5(
    caption, label_words, content='photos', content_rowid='id',
    tokenize='porter unicode61 remove_diacritics 2'
);
CREATE TRIGGER photos_ai AFTER INSERT ON photos BEGIN
    INSERT INTO {FTS_TABLE}(rowid, caption, label_words)
    VALUES (new.id, new.caption, new.label_words);
END;
CREATE TRIGGER photos_ad AFTER DELETE ON photos BEGIN
    INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, caption, label_words)
    VALUES ('delete', old.id, old.caption, old.label_words);
END;
CREATE TRIGGER photos_au AFTER UPDATE OF caption, label_words ON photos
WHEN old.caption IS NOT new.caption OR old.label_words IS NOT new.label_words BEGIN
    INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, caption, label_words)
    VALUES ('delete', old.id, old.caption, old.label_words);
    INSERT INTO {FTS_TABLE}(rowid, caption, label_words)
    VALUES (new.id, new.caption, new.label_words);
END;
INSERT INTO {FTS_TABLE}({FTS_TABLE}) VALUES ('rebuild');
"""


def _migrate_to_4(conn: Connection) -> None:
    """Labels and their words (searchable), the caption's confidence and whether it was held back."""
    _run_script(conn, _V4)


def _migrate_to_5(conn: Connection) -> None:
    """`photocap review` pages through photos lowest confidence first without sorting them all."""
    conn.exec_driver_sql(
        "CREATE INDEX ix_photos_confidence ON photos (coalesce(confidence, 2.0), id)"
    )


def _migrate_to_6(conn: Connection) -> None:
    """The evidence of each object group, and the label line written for a held-back caption."""
    conn.exec_driver_sql("ALTER TABLE photos ADD COLUMN objects TEXT")
    conn.exec_driver_sql("ALTER TABLE photos ADD COLUMN alt_text TEXT")


REVIEW_FILTER_INDEXES = [  # version 7's, frozen (PostgreSQL's migration 7 runs them too)
    f"CREATE INDEX ix_photos_{column}_confidence ON photos ({column}, coalesce(confidence, 2.0), id)"
    for column in ("source", "held_back")
]


def _migrate_to_7(conn: Connection) -> None:
    """The review page's source and held-back filters page through their own photos in order."""
    for statement in REVIEW_FILTER_INDEXES:
        conn.exec_driver_sql(statement)


# MIGRATIONS[n] takes a database at version n - 1 to version n. Append, never edit.
MIGRATIONS: dict[int, Callable[[Connection], None]] = {
    1: _migrate_to_1,
    2: _migrate_to_2,
    3: _migrate_to_3,
    4: _migrate_to_4,
    5: _migrate_to_5,
    6: _migrate_to_6,
    7: _migrate_to_7,
}
