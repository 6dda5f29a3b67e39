"""The public operations on a photo's caption and keywords: read_caption, write_caption,
write_keywords, withdraw_caption, read_keywords. Sidecar naming is `sidecars`, whose caption it is
and where a write goes `policy`, and rebuilding the files `rebuild`."""

from __future__ import annotations

import stat
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal

from photocap.metadata.atomic import atomic_replace, check_writable
from photocap.metadata.exif import remove_description
from photocap.metadata.formats import photo_kind
from photocap.metadata.keywords import KeywordsRecord, check_keywords, record_of
from photocap.metadata.photo import Photo, Sidecar, load_photo
from photocap.metadata.policy import (
    EMBEDDABLE,
    CaptionRecord,
    WriteMode,
    all_records,
    check_mode,
    check_text,
    lightroom_also,
    refuse_human,
    write_target,
)
from photocap.metadata.rebuild import embed_into, rebuild, toolkit, version, write_sidecar
from photocap.metadata.sidecars import read_sidecars
from photocap.metadata.xmp import ALT_TEXT, DESCRIPTION, Provenance, XmpDocument


@dataclass(frozen=True)
class WriteResult:
    """Where write_caption put the caption."""

    where: Literal["embedded", "sidecar", "none"]
    target: Path | None  # file written
    also: tuple[Path, ...] = ()  # sidecars written too (Lightroom's `<name>.xmp` beside a RAW)


def read_caption(path: str | Path) -> CaptionRecord | None:
    """The caption of a photo, from the photo itself or its sidecars; None when there is none.

    A caption a person wrote wins over photocap's; then the photo comes before `<name>.<ext>.xmp`,
    which comes before `<name>.xmp`; within one place, alt text before dc:description before EXIF.
    """
    path = Path(path)
    photo = load_photo(path, photo_kind(path), whole=False)
    records = all_records(photo, read_sidecars(path))
    humans = [r for r in records if r.source == "human"]
    return (humans or records or [None])[0]


def write_caption(
    path: str | Path,
    caption: str,
    *,
    mode: WriteMode = "auto",
    model_id: str,
    overwrite: bool = False,
    keep_mtime: bool = True,
    keywords: Sequence[str] | None = None,
    confidence: float | None = None,
    basis: str | None = None,
) -> WriteResult:
    """Write `caption` as alt text (XMP Iptc4xmpCore:AltTextAccessibility and dc:description, and
    EXIF ImageDescription in JPEG/WebP), with photocap's provenance.

    With `keywords`, photocap's keywords in XMP dc:subject become these (see `write_keywords`), in
    the same write; None leaves the keywords alone. `confidence` (0-1) goes into the provenance, and
    `basis` ("labels" for a label line of sure objects rather than a sentence).

    `auto` embeds into JPEG and writes a `<name>.<ext>.xmp` sidecar for everything else; `embed`
    works for JPEG, PNG (XMP only) and WebP. A camera RAW is never written: both mean its sidecar,
    and Lightroom's `<name>.xmp` beside it, when there is one, gets the caption too. Raises HumanCaptionExists when a person's caption is
    there and not `overwrite`; ImageError for missing, truncated, corrupt or misnamed photos;
    UnsafeXMPError for hostile XMP; MetadataError for read-only files or folders and other refusals.
    Nothing is changed when any of these is raised.
    """
    path = Path(path)
    check_mode(mode, path)
    check_text(caption, "caption", path)
    check_text(model_id, "model id", path)
    words = check_keywords(keywords, path) if keywords is not None else None
    if mode == "none":
        return WriteResult("none", None)
    path, kind, _embedded, target = write_target(path, mode)
    also = lightroom_also(path, kind, target)
    photo = load_photo(path, kind, whole=True)
    sidecars = read_sidecars(path)
    if not overwrite:
        refuse_human(path, all_records(photo, sidecars))
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    sure = None if confidence is None else f"{confidence:.2f}"
    prov = Provenance(caption, model_id, version(), now, sure, basis)
    for side in also:
        _write(photo, sidecars, side, caption, prov, keep_mtime=keep_mtime, keywords=words)
    result = _write(photo, sidecars, target, caption, prov, keep_mtime=keep_mtime, keywords=words)
    return replace(result, also=tuple(also))


def write_keywords(
    path: str | Path, keywords: Sequence[str], *, mode: WriteMode = "auto", keep_mtime: bool = True
) -> WriteResult:
    """Make photocap's keywords in XMP dc:subject `keywords`, leaving the caption alone.

    The keywords a person wrote stay as they are (none removed, renamed or reordered); photocap's
    own namespace records which keywords it added, so the next write replaces exactly those, and
    an empty list removes them. Where it writes, and what it raises, as `write_caption` (never
    HumanCaptionExists: a person's keywords are merged with, not overwritten).
    """
    path = Path(path)
    check_mode(mode, path)
    words = check_keywords(keywords, path)
    if mode == "none":
        return WriteResult("none", None)
    path, kind, _embedded, target = write_target(path, mode)
    also = lightroom_also(path, kind, target)
    photo = load_photo(path, kind, whole=True)
    sidecars = read_sidecars(path)
    for side in also:
        _write(photo, sidecars, side, None, None, keep_mtime=keep_mtime, keywords=words)
    result = _write(photo, sidecars, target, None, None, keep_mtime=keep_mtime, keywords=words)
    return replace(result, also=tuple(also))


def withdraw_caption(path: str | Path, *, keep_mtime: bool = True) -> WriteResult:
    """Take photocap's own caption out of a photo and its sidecars: the alt-text, description and
    EXIF ImageDescription fields holding the caption photocap recorded writing, and that record.

    A person's caption (any text photocap did not write) and all keywords stay; a sidecar left
    empty is removed. The result says where something changed ("none": nothing of photocap's
    was there). Raises as `write_caption` (never HumanCaptionExists); nothing is changed then.
    """
    path = Path(path)
    kind = photo_kind(path)
    photo = load_photo(path, kind, whole=True)
    result = WriteResult("none", None)
    docs = [d for d in (photo.xmp, photo.extended) if d is not None]
    prov = next((p for p in (d.provenance() for d in docs) if p), None)
    if prov is not None and kind in EMBEDDABLE:
        check_writable(path, exists=True)
        for doc in docs:
            _withdraw_from(doc, prov.caption)
        tiff = None
        if photo.exif_tiff is not None and photo.exif_description == prov.caption:
            tiff = remove_description(photo.exif_tiff)
        rebuild(photo, photo.xmp or XmpDocument.new(toolkit()), tiff, keep_mtime=keep_mtime)
        result = WriteResult("embedded", photo.path)
    for side in read_sidecars(path):
        own = side.doc.provenance()
        if own is None:
            continue
        check_writable(side.path, exists=True)
        _withdraw_from(side.doc, own.caption)
        if side.doc.is_empty():
            side.path.unlink(missing_ok=True)
        else:
            data = side.doc.serialize(wrapper=True)
            mode = stat.S_IMODE(photo.stat.st_mode) & 0o666
            atomic_replace(side.path, [data], original=side.stat, keep_mtime=False, mode=mode)
        if result.where == "none":
            result = WriteResult("sidecar", side.path)
    return result


def _withdraw_from(doc: XmpDocument, caption: str) -> None:
    """Remove the fields of `doc` that hold photocap's `caption`, and photocap's record of it."""
    for field in (ALT_TEXT, DESCRIPTION):
        if doc.get_lang_alt(*field[:2]) == caption:
            doc.remove_lang_alt_default(field)
    doc.remove_provenance()


def read_keywords(path: str | Path) -> KeywordsRecord:
    """The XMP dc:subject keywords of a photo and its sidecars, and which of them photocap wrote."""
    path = Path(path)
    photo = load_photo(path, photo_kind(path), whole=False)
    docs = [d for d in (photo.xmp, photo.extended) if d is not None]
    return record_of(docs + [s.doc for s in read_sidecars(path)])


def _write(
    photo: Photo,
    sidecars: list[Sidecar],
    target: Path,
    caption: str | None,
    prov: Provenance | None,
    *,
    keep_mtime: bool,
    keywords: list[str] | None,
) -> WriteResult:
    """Write into the photo itself when `target` is the photo, else into its sidecar `target`."""
    embedded = [d for d in (photo.xmp, photo.extended) if d is not None]
    others = [s.doc for s in sidecars if s.path != target]
    if target == photo.path:
        elsewhere = record_of(others).human
        embed_into(
            photo, caption, prov, keep_mtime=keep_mtime, keywords=keywords, elsewhere=elsewhere
        )
        return WriteResult("embedded", photo.path)
    existing = next((s for s in sidecars if s.path == target), None)
    elsewhere = record_of(embedded + others).human
    write_sidecar(
        target,
        existing,
        caption,
        prov,
        photo_mode=photo.stat.st_mode,
        keywords=keywords,
        elsewhere=elsewhere,
    )
    return WriteResult("sidecar", target)
