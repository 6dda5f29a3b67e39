"""Finding photos: folders walked once each (no symlink loops), files kept by content."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from photocap.errors import ImageError
from photocap.photos.kinds import is_never_a_photo, is_temp_name, looks_like_photo, permission_error


def discover(
    paths: Iterable[str | Path] | str | Path,
    *,
    include_suspects: bool = True,
    on_error: Callable[[ImageError], None] | None = None,
    known: Callable[[str, os.stat_result], bool] | None = None,
    on_temp_file: Callable[[Path], None] | None = None,
) -> Iterator[Path]:
    """Absolute paths of the photos under `paths`, folders walked recursively, sorted per folder.

    Skips hidden files and folders, XMP sidecars, photocap's temp files and files still arriving
    (`.part`, `.crdownload`, ...); follows symlinks
    but walks each folder once (no loops, no duplicates). Files are kept by content; with
    `include_suspects`, a file named like a photo whose content is not (empty, text, unreadable)
    is kept too, so that decoding reports it. Files named directly are always kept (except
    sidecars), so decoding can say what is wrong with them. A missing path raises ImageError;
    a folder that cannot be listed is passed to `on_error` (skipped silently without one).
    A file for which `known(path, stat)` is true (e.g. indexed with this size and mtime) is kept
    without being opened: a rerun over an unchanged library reads no file contents.
    Each photocap temporary file met on the way (never yielded) is passed to `on_temp_file`.
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    seen_dirs: set[tuple[int, int]] = set()
    seen_files: set[Path] = set()
    for raw in paths:
        root = Path(os.path.abspath(os.fspath(raw)))
        st = _stat_root(root)
        if stat.S_ISDIR(st.st_mode):
            walk = _walk(root, st, seen_dirs, include_suspects, on_error, known, on_temp_file)
            yield from walk
        elif not is_never_a_photo(root.name) and root not in seen_files:
            seen_files.add(root)
            yield root


def _stat_root(root: Path) -> os.stat_result:
    try:
        return os.stat(root)
    except FileNotFoundError:
        hint = "the symlink points nowhere" if os.path.islink(root) else "check the path"
        raise ImageError("no such file or folder", path=root, hint=hint) from None
    except PermissionError:
        raise permission_error(root) from None
    except OSError as exc:
        raise ImageError(f"cannot open: {exc.strerror or exc}", path=root) from None


def _walk(
    root: Path,
    root_stat: os.stat_result,
    seen_dirs: set[tuple[int, int]],
    include_suspects: bool,
    on_error: Callable[[ImageError], None] | None,
    known: Callable[[str, os.stat_result], bool] | None = None,
    on_temp_file: Callable[[Path], None] | None = None,
) -> Iterator[Path]:
    """Depth-first walk with an explicit stack; each folder (by device and inode) visited once."""
    if not _first_visit(root_stat, seen_dirs):
        return
    stack = [iter(_list_folder(str(root), on_error))]
    while stack:
        entry = next(stack[-1], None)
        if entry is None:
            stack.pop()
            continue
        if entry.name.startswith("."):
            if on_temp_file is not None and is_temp_name(entry.name):
                on_temp_file(Path(entry.path))
            continue
        try:
            is_dir = entry.is_dir()  # follows symlinks; a broken or looping link is neither
            if is_dir and _first_visit(entry.stat(), seen_dirs):
                stack.append(iter(_list_folder(entry.path, on_error)))
            elif not is_dir and _is_photo_entry(entry, include_suspects, known):
                yield Path(entry.path)
        except OSError:
            continue  # vanished or unreadable while walking


def _first_visit(st: os.stat_result, seen_dirs: set[tuple[int, int]]) -> bool:
    key = (st.st_dev, st.st_ino)
    if key in seen_dirs:
        return False
    seen_dirs.add(key)
    return True


def _list_folder(folder: str, on_error: Callable[[ImageError], None] | None) -> list[os.DirEntry]:
    try:
        with os.scandir(folder) as entries:
            return sorted(entries, key=lambda entry: entry.name)
    except OSError as exc:
        if on_error is not None:
            reason = "permission denied" if isinstance(exc, PermissionError) else exc.strerror
            on_error(ImageError(f"cannot list folder: {reason}", path=folder))
        return []


def _is_photo_entry(
    entry: os.DirEntry,
    include_suspects: bool,
    known: Callable[[str, os.stat_result], bool] | None = None,
) -> bool:
    """A regular file (or a link to one), not photocap's own, that is or looks like a photo."""
    if not entry.is_file() or is_never_a_photo(entry.name):
        return False
    path = entry.path
    if known is not None and known(path, entry.stat()):
        return True
    return looks_like_photo(path, include_suspects=include_suspects)
