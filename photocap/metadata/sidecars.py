"""Sidecar naming: which XMP sidecars a photo reads and photocap writes, which photos read a
sidecar (the reverse), and reading a photo's sidecars."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from photocap.metadata.photo import Sidecar, read_sidecar


def sidecar_path(path: str | Path) -> Path:
    """The sidecar photocap writes for `path`: `<name>.<ext>.xmp` (digiKam / darktable / Immich)."""
    path = Path(path)
    return path.with_name(path.name + ".xmp")


def sidecar_candidates(path: str | Path) -> list[Path]:
    """Sidecars read for `path`: `<name>.<ext>.xmp`, then Lightroom's `<name>.xmp`."""
    return [Path(name) for name in _sidecar_names(os.fspath(path))]


def _sidecar_names(path: str) -> list[str]:
    """`sidecar_candidates` as strings: they are asked for every photo of every rerun."""
    folder, name = os.path.split(path)
    return list(dict.fromkeys(os.path.join(folder, n) for n in _sidecar_file_names(name)))


def _sidecar_file_names(name: str) -> tuple[str, str, str]:
    """The names of the sidecars a photo called `name` reads, in `sidecar_candidates`' order."""
    dot = name.rfind(".")
    stem = name[:dot] if 0 < dot < len(name) - 1 else name  # as pathlib's `stem`
    return name + ".xmp", stem + ".xmp", stem + ".XMP"


def sidecars_mtime_ns(path: str | Path, listed: set[str] | None = None) -> int | None:
    """The newest mtime among the photo's sidecars (`sidecar_candidates`); None when it has none.
    `listed`: the names in the photo's folder, just listed, in lower case; then only sidecars
    listed are asked for (a rerun over a folder without sidecars makes no system call here;
    lower case, as a case-insensitive disk finds `X.XMP` for `X.xmp`).

    A change here means a caption may have been written into a sidecar alone."""
    path = os.fspath(path)
    if listed is None:
        sides = _sidecar_names(path)
    else:
        folder, name = os.path.split(path)
        names = [n for n in _sidecar_file_names(name) if n.lower() in listed]
        if not names:
            return None
        sides = [os.path.join(folder, n) for n in dict.fromkeys(names)]
    newest = None
    for side in sides:
        try:
            mtime = os.stat(side).st_mtime_ns
        except OSError:
            continue
        newest = mtime if newest is None else max(newest, mtime)
    return newest


def photos_of_sidecars(sidecars: Iterable[str | Path]) -> list[Path]:
    """The photos that read any of `sidecars` (the inverse of `sidecar_candidates`): `X.jpg` for
    `X.jpg.xmp`, and for Lightroom's `X.xmp` every `X.<ext>` beside it (a RAW and its JPEG).
    Each folder is listed once, however many of its sidecars a photo manager just saved."""
    wanted: dict[str, set[str]] = {}  # folder -> names of its changed sidecars
    for sidecar in sidecars:
        folder, name = os.path.split(os.fspath(sidecar))
        if name.endswith((".xmp", ".XMP")):
            wanted.setdefault(folder, set()).add(name)
    photos = []
    for folder, names in wanted.items():
        # a photo's name starts as its sidecar's does: a quick test for the usual single edit
        bases = tuple(n[:-4] for n in names) if len(names) <= 16 else ("",)
        try:
            with os.scandir(folder or ".") as entries:
                for entry in entries:
                    name = entry.name
                    if not name.startswith(bases) or name.lower().endswith(".xmp"):
                        continue
                    reads = _sidecar_file_names(name)
                    if not names.isdisjoint(reads) and entry.is_file():
                        photos.append(Path(entry.path))
        except OSError:  # the folder went away meanwhile
            continue
    return sorted(photos)


def read_sidecars(path: Path) -> list[Sidecar]:
    """The sidecars of `path` that exist, read, in `sidecar_candidates`' order."""
    out = []
    for side in sidecar_candidates(path):
        if side.is_file():
            try:
                out.append(read_sidecar(side))
            except FileNotFoundError:  # removed since is_file(): nothing there to read
                continue
    return out
