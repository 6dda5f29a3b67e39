"""Rebuilding files around new metadata: a photo's container with its XMP and EXIF replaced (every
other byte kept; Extended XMP spilled into when the packet outgrows its JPEG segment), or an XMP
sidecar rewritten; atomically either way."""

from __future__ import annotations

import stat
from pathlib import Path

from photocap.errors import MetadataError
from photocap.metadata import jpeg
from photocap.metadata.atomic import atomic_replace
from photocap.metadata.exif import ExifError, new_block, set_description
from photocap.metadata.formats import JPEG, WEBP
from photocap.metadata.keywords import apply_keywords
from photocap.metadata.photo import Photo, Sidecar
from photocap.metadata.xmp import ALT_TEXT, DESCRIPTION, HAS_EXTENDED, Provenance, XmpDocument


def apply_caption(doc: XmpDocument, caption: str, prov: Provenance) -> None:
    """Set the caption fields of `doc` to `caption`, with photocap's provenance."""
    doc.set_lang_alt(ALT_TEXT, caption)
    doc.set_lang_alt(DESCRIPTION, caption)
    doc.set_provenance(prov)


def version() -> str:
    """photocap's version, as the provenance records it."""
    from photocap import __version__  # late: photocap/__init__ may import this package

    return __version__


def toolkit() -> str:
    """The XMP toolkit name of a document photocap starts."""
    return f"photocap {version()}"


def embed_into(
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
    doc = photo.xmp or XmpDocument.new(toolkit())
    if caption is not None and prov is not None:
        apply_caption(doc, caption, prov)
    moved = keywords is not None and apply_keywords(doc, photo.extended, keywords, elsewhere)
    tiff = None
    if caption is not None and photo.kind in (JPEG, WEBP):
        jpeg_file = photo.container if isinstance(photo.container, jpeg.JpegFile) else None
        tiff = exif_with(photo, caption, jpeg_file=jpeg_file)
    rebuild(photo, doc, tiff, keep_mtime=keep_mtime, ext_changed=moved)


def rebuild(
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


def exif_with(photo: Photo, caption: str, *, jpeg_file: jpeg.JpegFile | None) -> bytes:
    """The photo's EXIF block with ImageDescription `caption` (a new block when it has none)."""
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


def write_sidecar(
    target: Path,
    existing: Sidecar | None,
    caption: str | None,
    prov: Provenance | None,
    *,
    photo_mode: int,
    keywords: list[str] | None = None,
    elsewhere: tuple[str, ...] = (),
) -> None:
    """Write the sidecar `target` (`existing`, or a new one) with `caption` and/or `keywords`."""
    doc = existing.doc if existing else XmpDocument.new(toolkit())
    if caption is not None and prov is not None:
        apply_caption(doc, caption, prov)
    if keywords is not None:
        apply_keywords(doc, None, keywords, elsewhere)
    original = existing.stat if existing else None
    data = doc.serialize(wrapper=True)
    mode = stat.S_IMODE(photo_mode) & 0o666
    atomic_replace(target, [data], original=original, keep_mtime=False, mode=mode)
