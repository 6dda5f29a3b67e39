"""What the index stores per photo (PhotoRecord) and reports (IndexStats, PruneReport), how a
record becomes a row and a row a record, and how paths and times are normalised for it."""

from __future__ import annotations

import json
import os
from dataclasses import KW_ONLY, dataclass, fields
from datetime import datetime, timezone
from typing import Any, Literal

from photocap.errors import PhotocapError
from photocap.store.schema import SOURCES, STATUSES

Source = Literal["model", "human"]
Status = Literal["ok", "error"]


@dataclass(frozen=True)
class StoredLabel:
    """A label as the index keeps it: an ImageNet class seen in the photo, with its probability."""

    index: int
    name: str
    probability: float


def labels_to_json(labels: tuple[StoredLabel, ...] | None) -> str | None:
    if labels is None:
        return None
    return json.dumps([[x.index, x.name, round(x.probability, 4)] for x in labels])


def objects_to_json(objects: dict[str, float] | None) -> str | None:
    return None if objects is None else json.dumps(objects, sort_keys=True)


def objects_from_json(text: str | None) -> dict[str, float] | None:
    return None if text is None else {str(k): float(v) for k, v in json.loads(text).items()}


def labels_from_json(text: str | None) -> tuple[StoredLabel, ...] | None:
    if text is None:
        return None
    return tuple(StoredLabel(int(i), str(n), float(p)) for i, n, p in json.loads(text))


@dataclass(frozen=True)
class PhotoRecord:
    """One photo as stored in the index; what `upsert` writes and `get`/`lookup` return.

    `indexed_at` is set by the database on every write (UTC); a value passed in is ignored.
    """

    path: str
    size: int
    mtime_ns: int
    _: KW_ONLY  # the rest by name: a field added later cannot shift a positional call
    sha256: str | None = None
    sidecar_mtime_ns: int | None = None  # the newest XMP sidecar's mtime; None: no sidecar
    width: int | None = None
    height: int | None = None
    caption: str | None = None
    source: Source | None = None
    model_id: str | None = None
    score: float | None = None
    confidence: float | None = None  # 0-1, calibrated on Flickr8k dev; None for human captions
    held_back: bool = False  # indexed, but not written into the photo: below --min-confidence
    labels: tuple[StoredLabel, ...] | None = None  # most probable first; None: not labelled yet
    label_words: str | None = None  # the labels' everyday words, space-separated, for search
    objects: dict[str, float] | None = None  # evidence per object group; None: no detectors
    alt_text: str | None = None  # the label line written instead of a held-back caption
    status: Status = "ok"
    error: str | None = None
    indexed_at: datetime | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", abspath(self.path))
        if not storable(self.path):
            raise PhotocapError(
                "the file name is not valid UTF-8, so the index cannot store it",
                path=self.path,
                hint="rename the file",
            )
        if self.source is not None and self.source not in SOURCES:
            raise ValueError(f"source must be one of {SOURCES}, not {self.source!r}")
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, not {self.status!r}")

    def unchanged(self, size: int, mtime_ns: int, sidecar_mtime_ns: int | None) -> bool:
        """True when a file's size and mtime, and its sidecars' newest mtime, are the ones
        recorded (no need to hash it or read its caption)."""
        return (
            self.size == size
            and self.mtime_ns == mtime_ns
            and self.sidecar_mtime_ns == sidecar_mtime_ns
        )


COLUMNS = tuple(f.name for f in fields(PhotoRecord))


def stored_now() -> datetime:
    """The time now as the index stores it: UTC without a time zone."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


def utc(value: datetime | None) -> datetime | None:
    """A stored time (UTC without a time zone) as an aware UTC datetime."""
    return value.replace(tzinfo=timezone.utc) if value is not None else None


def record_of(row: Any) -> PhotoRecord:
    """The PhotoRecord of a photos row. Built without __post_init__'s checks, which the row
    passed on its way in: a rerun over a million unchanged photos reads a million rows."""
    mapping = row._mapping
    values = {name: mapping[name] for name in COLUMNS}
    values["indexed_at"] = utc(values["indexed_at"])
    values["labels"] = labels_from_json(values["labels"])
    values["objects"] = objects_from_json(values["objects"])
    values["held_back"] = bool(values["held_back"])
    record = object.__new__(PhotoRecord)
    record.__dict__.update(values)
    return record


def row_of(record: PhotoRecord, indexed_at: datetime) -> dict[str, Any]:
    """The photos row (column values) that stores `record`, written at `indexed_at`."""
    return {name: getattr(record, name) for name in COLUMNS} | {
        "indexed_at": indexed_at,
        "labels": labels_to_json(record.labels),
        "objects": objects_to_json(record.objects),
    }


@dataclass(frozen=True)
class IndexStats:
    """Counts over the whole index."""

    photos: int
    captioned: int
    by_source: dict[str, int]
    errors: int
    roots: int
    last_indexed: datetime | None
    schema_version: int


@dataclass(frozen=True)
class PruneReport:
    """What `prune` removed, and the roots it left alone because their folder is not there."""

    removed: tuple[str, ...]
    unavailable_roots: tuple[str, ...]


def abspath(path: str | os.PathLike[str]) -> str:
    """A path as the index stores it: absolute, `~` expanded, symlinks kept."""
    return os.path.abspath(os.path.expanduser(os.fspath(path)))


def storable(path: str) -> bool:
    """False for names the OS gave as undecodable bytes (lone surrogates): SQLite text is UTF-8."""
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def folder_range(folder: str | os.PathLike[str]) -> tuple[str, str]:
    """Bounds `lo <= path < hi` of every path inside `folder` (not its sibling `folder + 'x'`).

    A range on the unique path index: no LIKE, so `%` and `_` in folder names are plain characters.
    """
    lo = abspath(folder).rstrip(os.sep) + os.sep
    return lo, lo[:-1] + chr(ord(os.sep) + 1)
