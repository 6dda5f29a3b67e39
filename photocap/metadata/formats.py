"""The metadata writer's view of a photo's format: `photos.kinds`' answer, checked against the name.

Kinds here are display names ("JPEG", "WebP", ...), as the writer's messages use them; HEIF covers
AVIF (the same container), RAW every camera RAW format.
"""

from __future__ import annotations

from pathlib import Path

from photocap.errors import ImageError
from photocap.photos import kinds

JPEG, PNG, WEBP, TIFF, HEIF, GIF, BMP, RAW = (
    kinds.DISPLAY_NAMES[k]
    for k in (
        kinds.JPEG,
        kinds.PNG,
        kinds.WEBP,
        kinds.TIFF,
        kinds.HEIF,
        kinds.GIF,
        kinds.BMP,
        kinds.RAW,
    )
)
_KIND = {**kinds.DISPLAY_NAMES, kinds.AVIF: HEIF}


def photo_kind(path: Path) -> str:
    """The format of the photo at `path`, checked against its name.

    Raises ImageError when the file is missing, not a regular file, unreadable, not a photo we know,
    or when its extension names a different format than its content.
    """
    kinds.check_regular_file(path)
    found = kinds.sniff(kinds.read_head(path), path.name)
    content = _KIND.get(found) if found else None
    named = _KIND.get(kinds.EXTENSIONS.get(path.suffix.lower(), ""))
    if named is None:
        if content is None or content == RAW:
            raise ImageError("not a photo format photocap knows", path=path)
        return content
    if content == named or (named == RAW and content in (None, TIFF)):
        return named
    what = f"{content} data" if content else "data that is not a photo format photocap knows"
    raise ImageError(
        f"the name says {named} but the file holds {what}",
        path=path,
        hint="rename it to its real format or check that it was copied completely",
    )
