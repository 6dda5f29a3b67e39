"""read_caption / write_caption: where captions live, who wrote them, and how they are written safely."""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal, get_args

from photocap.errors import HumanCaptionExists, MetadataError
from photocap.metadata import jpeg
from photocap.metadata.atomic import atomic_replace, check_writable
from photocap.metadata.exif import (
    ExifError,
    is_camera_default,
    new_block,
    remove_description,
    set_description,
)
from photocap.metadata.formats import JPEG, PNG, RAW, WEBP, photo_kind
from photocap.metadata.keywords import KeywordsRecord, apply_keywords, check_keywords, record_of
from photocap.metadata.photo import Photo, Sidecar, load_photo, read_sidecar
from photocap.metadata.raw_sidecars import lightroom_sidecars
from photocap.metadata.xmp import ALT_TEXT, DESCRIPTION, HAS_EXTENDED, Provenance, XmpDocument

WriteMode = Literal["auto", "embed", "sidecar", "none"]
WRITE_MODES: tuple[str, ...] = get_args(WriteMode)
EMBEDDABLE = (JPEG, PNG, WEBP)
MAX_CAPTION_BYTES = 8192
_INVALID_XML_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


@dataclass(frozen=True)
class CaptionRecord:
    """A caption found in a photo or its sidecar."""

    text: str
    source: Literal["model", "human"]  # "model" only when photocap's provenance marks it
    model_id: str | None
    location: Path  # the photo or the sidecar it was found in


@dataclass(frozen=True)
class WriteResult:
    """Where write_caption put the caption."""

    where: Literal["embedded", "sidecar", "none"]
    target: Path | None  # file written
    also: tuple[Path, ...] = ()  # sidecars written too (Lightroom's `<name>.xmp` beside a RAW)


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


def sidecars_mtime_ns(path: str | Path) -> int | None:
    """The newest mtime among the photo's sidecars (`sidecar_candidates`); None when it has none.

    A change here means a caption may have been written into a sidecar alone."""
    newest = None
    for side in _sidecar_names(os.fspath(path)):
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


def read_caption(path: str | Path) -> CaptionRecord | None:
    """The caption of a photo, from the photo itself or its sidecars; None when there is none.

    A caption a person wrote wins over photocap's; then the photo comes before `<name>.<ext>.xmp`,
    which comes before `<name>.xmp`; within one place, alt text before dc:description before EXIF.
    """
    path = Path(path)
    photo = load_photo(path, photo_kind(path), whole=False)
    records = _all_records(photo, _sidecars(path))
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
    _check_mode(mode, path)
    _check_text(caption, "caption", path)
    _check_text(model_id, "model id", path)
    words = check_keywords(keywords, path) if keywords is not None else None
    if mode == "none":
        return WriteResult("none", None)
    path, kind, embed, target = _target(path, mode)
    also = _also(path, kind, target)
    photo = load_photo(path, kind, whole=True)
    sidecars = _sidecars(path)
    if not overwrite:
        _refuse_human(path, _all_records(photo, sidecars))
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    sure = None if confidence is None else f"{confidence:.2f}"
    prov = Provenance(caption, model_id, _version(), now, sure, basis)
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
    _check_mode(mode, path)
    words = check_keywords(keywords, path)
    if mode == "none":
        return WriteResult("none", None)
    path, kind, embed, target = _target(path, mode)
    also = _also(path, kind, target)
    photo = load_photo(path, kind, whole=True)
    sidecars = _sidecars(path)
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
        _rebuild(photo, photo.xmp or XmpDocument.new(_toolkit()), tiff, keep_mtime=keep_mtime)
        result = WriteResult("embedded", photo.path)
    for side in _sidecars(path):
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
    return record_of(docs + [s.doc for s in _sidecars(path)])


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
        _embed(photo, caption, prov, keep_mtime=keep_mtime, keywords=keywords, elsewhere=elsewhere)
        return WriteResult("embedded", photo.path)
    existing = next((s for s in sidecars if s.path == target), None)
    elsewhere = record_of(embedded + others).human
    _write_sidecar(
        target,
        existing,
        caption,
        prov,
        photo_mode=photo.stat.st_mode,
        keywords=keywords,
        elsewhere=elsewhere,
    )
    return WriteResult("sidecar", target)


def _check_mode(mode: str, path: Path) -> None:
    if mode not in WRITE_MODES:
        raise MetadataError(
            f"unknown write mode {mode!r} (choose from {', '.join(WRITE_MODES)})", path=path
        )


def _target(path: Path, mode: WriteMode) -> tuple[Path, str, bool, Path]:
    """(photo path, kind, embed?, file written) for a write in `mode`; refusals raised here."""
    kind = photo_kind(path)
    embed = kind != RAW and (mode == "embed" or (mode == "auto" and kind == JPEG))  # RAW: sidecar
    if embed and kind not in EMBEDDABLE:
        raise MetadataError(
            f"cannot embed a caption in a {kind} file safely",
            path=path,
            hint="use write mode 'sidecar' (or 'auto')",
        )
    if embed:  # write through a symlink, never replace the link itself
        path = Path(os.path.realpath(path))
    target = path if embed else sidecar_path(path)
    check_writable(target, exists=embed or target.exists())
    return path, kind, embed, target


def _also(path: Path, kind: str, target: Path) -> list[Path]:
    """The sidecars written besides `target`: Lightroom's beside a RAW (checked writable first)."""
    if kind != RAW:
        return []
    also = lightroom_sidecars(path, target)
    for side in also:
        check_writable(side, exists=True)
    return also


# -- reading ------------------------------------------------------------------------------------------


def _sidecars(path: Path) -> list[Sidecar]:
    out = []
    for side in sidecar_candidates(path):
        if side.is_file():
            try:
                out.append(read_sidecar(side))
            except FileNotFoundError:  # removed since is_file(): nothing there to read
                continue
    return out


def _all_records(photo: Photo, sidecars: list[Sidecar]) -> list[CaptionRecord]:
    """Every caption in the photo, then in its sidecars, in reading order."""
    return _records(photo) + [r for s in sidecars for r in _doc_records(s.path, s.doc, None)]


def _records(photo: Photo) -> list[CaptionRecord]:
    docs = [d for d in (photo.xmp, photo.extended) if d is not None]
    prov = next((p for p in (d.provenance() for d in docs) if p), None)
    out: list[CaptionRecord] = []
    for doc in docs:
        out += _doc_records(photo.path, doc, prov)
    if photo.exif_description is not None:
        out += _classify(photo.path, [photo.exif_description], prov)
    return out


def _doc_records(location: Path, doc: XmpDocument, prov: Provenance | None) -> list[CaptionRecord]:
    prov = prov or doc.provenance()
    values = [doc.get_lang_alt(*ALT_TEXT[:2]), doc.get_lang_alt(*DESCRIPTION[:2])]
    return _classify(location, [v for v in values if v is not None], prov)


def _classify(location: Path, values: list[str], prov: Provenance | None) -> list[CaptionRecord]:
    out = []
    for text in values:
        if is_camera_default(text):
            continue
        if prov is not None and text == prov.caption:
            out.append(CaptionRecord(text, "model", prov.model_id, location))
        else:
            out.append(CaptionRecord(text, "human", None, location))
    return out


def _refuse_human(path: Path, records: list[CaptionRecord]) -> None:
    human = next((r for r in records if r.source == "human"), None)
    if human is not None:
        shown = human.text if len(human.text) <= 60 else human.text[:57] + "..."
        where = "the photo" if human.location == path else human.location.name
        raise HumanCaptionExists(
            f"a caption written by a person is already in {where}: {shown!r}; not overwritten",
            path=path,
            hint="pass --overwrite to replace it",
        )


# -- writing ------------------------------------------------------------------------------------------


def _check_text(text: str, what: str, path: Path) -> None:
    if not isinstance(text, str) or not text.strip():
        raise MetadataError(f"the {what} is empty", path=path)
    bad = _INVALID_XML_CHARS.search(text)
    if bad:
        raise MetadataError(
            f"the {what} holds a control character (U+{ord(bad.group()):04X})", path=path
        )
    if len(text.encode("utf-8")) > MAX_CAPTION_BYTES:
        raise MetadataError(f"the {what} is longer than {MAX_CAPTION_BYTES} bytes", path=path)


def _apply(doc: XmpDocument, caption: str, prov: Provenance) -> None:
    doc.set_lang_alt(ALT_TEXT, caption)
    doc.set_lang_alt(DESCRIPTION, caption)
    doc.set_provenance(prov)


def _version() -> str:
    from photocap import __version__  # late: photocap/__init__ may import this package

    return __version__


def _toolkit() -> str:
    return f"photocap {_version()}"


def _embed(
    photo: Photo,
    caption: str | None,
    prov: Provenance | None,
    *,
    keep_mtime: bool,
    keywords: list[str] | None = None,
    elsewhere: tuple[str, ...] = (),
) -> None:
    """Write `caption` (None: keep the caption fields as they are) and/or `keywords` into the photo;
    `elsewhere`: keywords a person put in the photo's sidecars."""
    doc = photo.xmp or XmpDocument.new(_toolkit())
    if caption is not None and prov is not None:
        _apply(doc, caption, prov)
    moved = keywords is not None and apply_keywords(doc, photo.extended, keywords, elsewhere)
    tiff = None
    if caption is not None and photo.kind in (JPEG, WEBP):
        jpeg_file = photo.container if isinstance(photo.container, jpeg.JpegFile) else None
        tiff = _exif_with(photo, caption, jpeg_file=jpeg_file)
    _rebuild(photo, doc, tiff, keep_mtime=keep_mtime, ext_changed=moved)


def _rebuild(
    photo: Photo,
    doc: XmpDocument,
    tiff: bytes | None,
    *,
    keep_mtime: bool,
    ext_changed: bool = False,
) -> None:
    """Replace the photo, atomically, with its XMP `doc` and its EXIF block `tiff` (None: the
    EXIF stays as it is); every other byte of the container stays."""
    container = photo.container
    if isinstance(container, jpeg.JpegFile):
        if tiff is not None and len(tiff) + 6 > jpeg.MAX_PAYLOAD:
            raise MetadataError(
                "the EXIF block would exceed the JPEG segment limit", path=photo.path
            )
        packet, extended = _fit_jpeg_xmp(photo, doc, ext_changed=ext_changed)
        chunks = container.rebuild(exif=tiff, xmp=packet, extended=extended)
    elif photo.kind == WEBP:
        if tiff is not None and container.exif_prefixed():
            tiff = b"Exif\x00\x00" + tiff
        chunks = container.rebuild(exif=tiff, xmp=doc.serialize(wrapper=True))
    else:
        chunks = container.rebuild(xmp=doc.serialize(wrapper=True))
    atomic_replace(photo.path, chunks, original=photo.stat, keep_mtime=keep_mtime)


def _exif_with(photo: Photo, caption: str, *, jpeg_file: jpeg.JpegFile | None) -> bytes:
    if photo.exif_tiff is None:
        resolution = jpeg_file.jfif_resolution() if jpeg_file else None
        return new_block(caption, resolution=resolution, jpeg=jpeg_file is not None)
    try:
        return set_description(photo.exif_tiff, caption)
    except ExifError as e:
        raise MetadataError(
            f"the EXIF block is corrupt ({e}); caption not written",
            path=photo.path,
            hint="repair the EXIF with a trusted tool, or use a sidecar",
        ) from None


def _fit_jpeg_xmp(
    photo: Photo, doc: XmpDocument, *, ext_changed: bool = False
) -> tuple[bytes, list[bytes] | None]:
    """The standard XMP packet, and Extended XMP payloads when they must be (re)written.

    Properties photocap does not own move, largest first, into Extended XMP until the standard packet
    fits its segment; existing Extended XMP is kept byte for byte when it need not change.
    """
    container = photo.container
    assert isinstance(container, jpeg.JpegFile)
    ext = photo.extended
    ext_changed = bool(ext and ext.remove_owned()) or ext_changed
    packet = doc.serialize(wrapper=True)
    if len(packet) <= jpeg.MAX_XMP_PACKET and not ext_changed:
        return packet, None
    if ext is None and container.has_extended() and doc.get_simple(*HAS_EXTENDED[:2]):
        raise MetadataError(
            "the photo's Extended XMP is incomplete; caption not written",
            path=photo.path,
            hint="use a sidecar (write mode 'sidecar')",
        )
    ext = ext or XmpDocument.new()
    doc.set_simple(HAS_EXTENDED, "0" * 32)  # placeholder of the real GUID's size
    while len(doc.serialize(wrapper=True)) > jpeg.MAX_XMP_PACKET:
        movable = doc.movable_properties()
        if not movable:
            raise MetadataError(
                "the XMP packet cannot fit a JPEG segment", path=photo.path, hint="use a sidecar"
            )
        doc.move_property(movable[0], ext)
    if ext.is_empty():
        doc.remove(*HAS_EXTENDED[:2])
        return doc.serialize(wrapper=True), []
    data = ext.serialize(wrapper=False)
    guid = ext.guid()
    doc.set_simple(HAS_EXTENDED, guid)
    return doc.serialize(wrapper=True), jpeg.extended_payloads(guid, data)


def _write_sidecar(
    target: Path,
    existing: Sidecar | None,
    caption: str | None,
    prov: Provenance | None,
    *,
    photo_mode: int,
    keywords: list[str] | None = None,
    elsewhere: tuple[str, ...] = (),
) -> None:
    doc = existing.doc if existing else XmpDocument.new(_toolkit())
    if caption is not None and prov is not None:
        _apply(doc, caption, prov)
    if keywords is not None:
        apply_keywords(doc, None, keywords, elsewhere)
    original = existing.stat if existing else None
    data = doc.serialize(wrapper=True)
    mode = stat.S_IMODE(photo_mode) & 0o666
    atomic_replace(target, [data], original=original, keep_mtime=False, mode=mode)
