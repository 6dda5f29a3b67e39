"""Where a camera RAW's caption goes: only sidecars, in the names the photo managers read.

A RAW file itself is never written (`auto` and `embed` both mean a sidecar). photocap's own
sidecar is `<name>.<ext>.xmp` (digiKam, darktable, Immich); when Lightroom's `<name>.xmp` is
already beside the RAW, the caption goes into it as well, merged with what it holds. photocap never
creates a `<name>.xmp`: beside a RAW + JPEG pair it would be read as the JPEG's too.
"""

from __future__ import annotations

import os
from pathlib import Path


def lightroom_sidecars(path: Path, own: Path) -> list[Path]:
    """The existing Lightroom-style sidecars (`<name>.xmp`, `<name>.XMP`) of the RAW at `path`
    that are not `own` (photocap's sidecar), each file once."""
    found: list[Path] = []
    for name in (path.stem + ".xmp", path.stem + ".XMP"):
        side = path.with_name(name)
        if side == own or not side.is_file():
            continue
        if any(_same_file(side, other) for other in [own, *found]):
            continue  # a case-insensitive file system: one file under two names
        found.append(side)
    return found


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False
