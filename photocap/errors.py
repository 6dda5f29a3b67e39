"""Errors raised by the photocap library; the CLI turns them into `Error: ... (hint)` and exit 1."""

from __future__ import annotations

from pathlib import Path


class PhotocapError(Exception):
    """Base class of every error photocap raises on purpose.

    `path` names the file concerned, when there is one; `hint` says what the user can do.
    """

    def __init__(self, message: str, *, path: str | Path | None = None, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.path = Path(path) if path is not None else None
        self.hint = hint

    def __str__(self) -> str:
        text = f"{self.path}: {self.message}" if self.path is not None else self.message
        return f"{text} ({self.hint})" if self.hint else text


class ModelError(PhotocapError):
    """A model file is missing, unsafe, corrupt or incompatible."""


class ImageError(PhotocapError):
    """A photo cannot be read: missing, unreadable, not an image, truncated, too large."""


class MetadataError(PhotocapError):
    """Captions cannot be read from or written to a photo or its sidecar."""


class HumanCaptionExists(MetadataError):
    """The photo already carries a caption written by a person; not overwritten without asking."""


class UnsafeXMPError(MetadataError):
    """An XMP packet uses entities or external references and is refused."""


class IndexDatabaseError(PhotocapError):
    """The index database is missing, locked, corrupt or newer than this photocap."""


class DataError(PhotocapError):
    """Training or evaluation data is malformed (names the file and line)."""
