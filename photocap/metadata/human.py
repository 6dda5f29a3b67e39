"""Writing a person's caption (or clearing the caption) into a photo, as `write_caption` writes
photocap's: the same fields, the same places (embedded in JPEG, a `<name>.<ext>.xmp` sidecar for
other formats), atomic. What differs is provenance: photocap's record of its own caption is removed,
so every reader (photocap included) sees the text as a person's from then on.

After writing, the photo's caption is read back; when another caption still wins (a person's
caption in a Lightroom `<name>.xmp`, or embedded in a PNG whose caption went to a sidecar), a
MetadataError says where, so a review page never claims a save it cannot show.
"""

from __future__ import annotations

import stat
from pathlib import Path

from photocap.errors import MetadataError
from photocap.metadata import jpeg
from photocap.metadata.api import WriteResult, read_caption
from photocap.metadata.atomic import atomic_replace
from photocap.metadata.exif import remove_description
from photocap.metadata.formats import JPEG, WEBP
from photocap.metadata.photo import Photo, Sidecar, load_photo
from photocap.metadata.policy import WriteMode, check_mode, check_text, write_target
from photocap.metadata.rebuild import exif_with, rebuild, toolkit
from photocap.metadata.sidecars import read_sidecars
from photocap.metadata.xmp import ALT_TEXT, DESCRIPTION, XmpDocument


def write_human_caption(
    path: str | Path, caption: str | None, *, mode: WriteMode = "auto", keep_mtime: bool = True
) -> WriteResult:
    """Write `caption` as a person's alt text (XMP AltTextAccessibility and dc:description, EXIF
    ImageDescription in JPEG/WebP), without photocap's provenance; `None` clears those fields.

    Where it writes and what it raises are `write_caption`'s (a person's caption already there is
    replaced: this is the person speaking). Nothing changes when an error is raised, except the
    read-back check, which raises MetadataError after writing when another caption still wins.
    """
    path = Path(path)
    check_mode(mode, path)
    if caption is not None:
        check_text(caption, "caption", path)
    if mode == "none":
        return WriteResult("none", None)
    path, kind, embed, target = write_target(path, mode)
    photo = load_photo(path, kind, whole=True)
    sidecars = read_sidecars(path)
    if target == photo.path:
        _embed(photo, caption, keep_mtime=keep_mtime)
        result = WriteResult("embedded", photo.path)
    else:
        existing = next((s for s in sidecars if s.path == target), None)
        _write_sidecar(target, existing, caption, photo_mode=photo.stat.st_mode)
        result = WriteResult("sidecar", target)
    _check_read_back(path, caption)
    return result


def _apply(doc: XmpDocument, caption: str | None) -> None:
    """Set (or, for None, remove) the caption fields; remove photocap's provenance either way."""
    for ns, name, prefix in (ALT_TEXT, DESCRIPTION):
        if caption is None:
            doc.remove(ns, name)
        else:
            doc.set_lang_alt((ns, name, prefix), caption)
    doc.remove_provenance()


def _embed(photo: Photo, caption: str | None, *, keep_mtime: bool) -> None:
    doc = photo.xmp or XmpDocument.new(toolkit())
    _apply(doc, caption)
    tiff = None  # None: the EXIF block stays as it is
    if photo.kind in (JPEG, WEBP):
        if caption is not None:
            jpeg_file = photo.container if isinstance(photo.container, jpeg.JpegFile) else None
            tiff = exif_with(photo, caption, jpeg_file=jpeg_file)
        elif photo.exif_tiff is not None and photo.exif_description is not None:
            tiff = remove_description(photo.exif_tiff)
    rebuild(photo, doc, tiff, keep_mtime=keep_mtime)  # Extended XMP: photocap's fields dropped


def _write_sidecar(
    target: Path, existing: Sidecar | None, caption: str | None, *, photo_mode: int
) -> None:
    if existing is None and caption is None:
        return  # nothing to clear
    doc = existing.doc if existing else XmpDocument.new(toolkit())
    _apply(doc, caption)
    original = existing.stat if existing else None
    mode = stat.S_IMODE(photo_mode) & 0o666
    atomic_replace(
        target, [doc.serialize(wrapper=True)], original=original, keep_mtime=False, mode=mode
    )


def _check_read_back(path: Path, caption: str | None) -> None:
    found = read_caption(path)
    if caption is None and found is not None:
        raise MetadataError(
            f"cleared where photocap writes, but a caption remains in {found.location.name}: "
            f"{found.text[:60]!r}",
            path=path,
            hint="remove it with the tool that wrote it",
        )
    if caption is not None and (found is None or found.text != caption or found.source != "human"):
        where = found.location.name if found is not None else "the photo"
        raise MetadataError(
            f"written, but the caption in {where} wins when the photo is read",
            path=path,
            hint="remove that caption with the tool that wrote it",
        )
