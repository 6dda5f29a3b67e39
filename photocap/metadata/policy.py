"""Caption policy: whose caption a photo holds (photocap's, by its provenance, or a person's), what
a caption may be, where a write goes in each mode, and what is refused before anything is written."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

from photocap.errors import HumanCaptionExists, MetadataError
from photocap.metadata.atomic import check_writable
from photocap.metadata.exif import is_camera_default
from photocap.metadata.formats import JPEG, PNG, RAW, WEBP, photo_kind
from photocap.metadata.photo import Photo, Sidecar
from photocap.metadata.raw_sidecars import lightroom_sidecars
from photocap.metadata.sidecars import sidecar_path
from photocap.metadata.xmp import ALT_TEXT, DESCRIPTION, Provenance, XmpDocument

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


def check_mode(mode: str, path: Path) -> None:
    """Refuse a write mode that is not one of WRITE_MODES."""
    if mode not in WRITE_MODES:
        raise MetadataError(
            f"unknown write mode {mode!r} (choose from {', '.join(WRITE_MODES)})", path=path
        )


def check_text(text: str, what: str, path: Path) -> None:
    """Refuse an empty text, a control character, or more than MAX_CAPTION_BYTES."""
    if not isinstance(text, str) or not text.strip():
        raise MetadataError(f"the {what} is empty", path=path)
    bad = _INVALID_XML_CHARS.search(text)
    if bad:
        raise MetadataError(
            f"the {what} holds a control character (U+{ord(bad.group()):04X})", path=path
        )
    if len(text.encode("utf-8")) > MAX_CAPTION_BYTES:
        raise MetadataError(f"the {what} is longer than {MAX_CAPTION_BYTES} bytes", path=path)


def write_target(path: Path, mode: WriteMode) -> tuple[Path, str, bool, Path]:
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


def lightroom_also(path: Path, kind: str, target: Path) -> list[Path]:
    """The sidecars written besides `target`: Lightroom's beside a RAW (checked writable first)."""
    if kind != RAW:
        return []
    also = lightroom_sidecars(path, target)
    for side in also:
        check_writable(side, exists=True)
    return also


def all_records(photo: Photo, sidecars: list[Sidecar]) -> list[CaptionRecord]:
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


def refuse_human(path: Path, records: list[CaptionRecord]) -> None:
    """Raise HumanCaptionExists when any of `records` is a person's caption."""
    human = next((r for r in records if r.source == "human"), None)
    if human is not None:
        shown = human.text if len(human.text) <= 60 else human.text[:57] + "..."
        where = "the photo" if human.location == path else human.location.name
        raise HumanCaptionExists(
            f"a caption written by a person is already in {where}: {shown!r}; not overwritten",
            path=path,
            hint="pass --overwrite to replace it",
        )
