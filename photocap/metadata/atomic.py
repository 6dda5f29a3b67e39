"""Atomic file replacement: a hidden temporary file beside the target, fsynced, renamed over it."""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
import time
from collections.abc import Iterable
from pathlib import Path

from photocap.errors import ImageError, MetadataError
from photocap.photos.kinds import TEMP_MARK, TEMP_SUFFIX, is_temp_name

_MAX_NAME = 255


def temp_name(name: str) -> str:
    """A hidden, recognisable temporary name for `name`: `.<name>.photocap-XXXXXXXX.tmp`."""
    suffix = f"{TEMP_MARK}{secrets.token_hex(4)}{TEMP_SUFFIX}"
    room = _MAX_NAME - 1 - len(suffix.encode())
    stem = name.encode()[:room].decode(errors="ignore")
    return f".{stem}{suffix}"


STALE_TEMP_AGE_S = 600.0  # a temporary file nobody touched for this long lost its writer


def remove_if_stale(path: str | Path, *, min_age_s: float | None = None) -> bool:
    """Delete `path` if it is a photocap temporary file untouched for `min_age_s` seconds
    (default `STALE_TEMP_AGE_S`).

    "Touched" counts the status change time too: a writer sets the temporary file's mtime back to
    the photo's just before renaming it into place, so mtime alone would call a live file stale.
    Younger files may belong to a writer at work and are left alone. True when deleted.
    """
    path = Path(path)
    if not is_temp_name(path.name):
        return False
    cutoff = time.time() - (STALE_TEMP_AGE_S if min_age_s is None else min_age_s)
    try:
        st = os.lstat(path)
        if not stat.S_ISREG(st.st_mode) or max(st.st_mtime, st.st_ctime) > cutoff:
            return False
        os.unlink(path)
    except OSError:
        return False
    return True


def remove_stale_temp_files(folder: Path, *, min_age_s: float | None = None) -> list[Path]:
    """Delete the stale photocap temporary files in `folder` (see `remove_if_stale`)."""
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    return [
        Path(folder, name)
        for name in names
        if remove_if_stale(Path(folder, name), min_age_s=min_age_s)
    ]


def check_writable(path: Path, *, exists: bool) -> None:
    """Raise MetadataError unless `path` (when `exists`) and its folder can be replaced.

    Write permission bits are honoured even for root: a file or folder marked read-only is left alone.
    """
    folder = path.parent
    if exists:
        st = _stat(path)
        if not (st.st_mode & 0o222) or not os.access(path, os.W_OK):
            raise MetadataError(
                "file is read-only; caption not written",
                path=path,
                hint="make it writable, or use --write sidecar / none",
            )
    try:
        fst = folder.stat()
    except FileNotFoundError:
        raise ImageError("folder vanished", path=path) from None
    if not (fst.st_mode & 0o222) or not os.access(folder, os.W_OK | os.X_OK):
        raise MetadataError(
            "folder is read-only; caption not written",
            path=path,
            hint="make the folder writable, or use --write none",
        )


def atomic_replace(
    path: Path,
    chunks: Iterable[bytes | memoryview],
    *,
    original: os.stat_result | None,
    keep_mtime: bool,
    mode: int = 0o644,
) -> None:
    """Write `chunks` to `path` atomically.

    `original` is the stat of the file read before (None when creating): its mode (and owner, where
    allowed) are kept, its mtime too when `keep_mtime`, and the write is refused if the file changed
    or vanished meanwhile; a new file gets `mode`. Any failure removes the temporary file and leaves `path` as it was.
    """
    tmp = path.with_name(temp_name(path.name))
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o600)
    except FileNotFoundError:
        raise ImageError("folder vanished", path=path) from None
    except PermissionError:
        raise MetadataError("folder is not writable; caption not written", path=path) from None
    except OSError as e:
        raise MetadataError(
            f"cannot create a temporary file: {e.strerror or e}", path=path
        ) from None
    try:
        with os.fdopen(fd, "wb") as f:
            for chunk in chunks:
                f.write(chunk)
            f.flush()
            _copy_attributes(f.fileno(), path, original, keep_mtime=keep_mtime, mode=mode)
            os.fsync(f.fileno())
        _check_unchanged(path, original)
        os.replace(tmp, path)
    except BaseException as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(e, OSError):
            raise MetadataError(f"write failed: {e.strerror or e}", path=path) from e
        raise
    _fsync_folder(path.parent)


def _copy_attributes(
    fd: int, source: Path, original: os.stat_result | None, *, keep_mtime: bool, mode: int
) -> None:
    if original is None:
        os.fchmod(fd, mode)
        return
    os.fchmod(fd, stat.S_IMODE(original.st_mode))
    _copy_xattrs(source, fd)
    if (original.st_uid, original.st_gid) != (os.getuid(), os.getgid()):
        with contextlib.suppress(OSError):
            os.fchown(fd, original.st_uid, original.st_gid)
    if keep_mtime:
        os.utime(fd, ns=(original.st_atime_ns, original.st_mtime_ns))


def _copy_xattrs(source: Path, fd: int) -> None:
    """Carry extended attributes (tags, labels, ...) over to the new file, where the system allows."""
    if not hasattr(os, "listxattr"):
        return
    with contextlib.suppress(OSError):
        for name in os.listxattr(source):
            with contextlib.suppress(OSError):
                os.setxattr(fd, name, os.getxattr(source, name))


def _check_unchanged(path: Path, original: os.stat_result | None) -> None:
    try:
        now = os.stat(path)
    except FileNotFoundError:
        if original is None:
            return
        raise ImageError(
            "file vanished while its caption was written; nothing changed", path=path
        ) from None
    if original is None:
        raise MetadataError("file appeared while it was being written; nothing changed", path=path)
    if (now.st_ino, now.st_dev, now.st_size, now.st_mtime_ns) != (
        original.st_ino,
        original.st_dev,
        original.st_size,
        original.st_mtime_ns,
    ):
        raise MetadataError(
            "file changed while its caption was written; nothing changed",
            path=path,
            hint="try again",
        )


def _fsync_folder(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _stat(path: Path) -> os.stat_result:
    try:
        return path.stat()
    except FileNotFoundError:
        raise ImageError("file vanished", path=path) from None
