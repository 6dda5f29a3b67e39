"""Writing a caption (or photocap's keywords) into a photo, and taking photocap's caption out again:
the write stage's side of the photo (its rows and outcomes are `indexing.rows`)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import replace

from photocap.errors import HumanCaptionExists, PhotocapError
from photocap.indexing.outcomes import IndexOptions
from photocap.metadata import (
    CaptionRecord,
    read_caption,
    read_keywords,
    sidecars_mtime_ns,
    withdraw_caption,
    write_caption,
    write_keywords,
)
from photocap.photos.digest import file_sha256
from photocap.store.index import PhotoRecord


def write_into_photo(
    record: PhotoRecord,
    text: str,
    model_id: str,
    options: IndexOptions,
    keywords: list[str] | None = None,
) -> tuple[PhotoRecord, str | None, str | None]:
    """Write the caption (and, unless `options.keywords` is off, photocap's `keywords`) into the
    photo, with the record's confidence in the provenance, marked label-based when `text` is the
    record's label line: (record as it is now, where written, error)."""
    path = record.path
    try:
        result = write_caption(
            path,
            text,
            mode=options.write,
            model_id=model_id,
            overwrite=options.overwrite,
            keywords=keywords if options.keywords else None,
            confidence=record.confidence,
            basis="labels" if record.held_back and text == record.alt_text else None,
        )
    except HumanCaptionExists:  # a person captioned it while we were working
        sidecar = sidecars_mtime_ns(path)  # before reading: a later edit is seen next time
        found = caption_in(path)
        human = replace(
            record,
            sha256=record.sha256 or _sha256_or_none(path),
            sidecar_mtime_ns=sidecar,
            caption=found.text if found else None,
            source="human",
            model_id=None,
            score=None,
            alt_text=None,
        )
        return human, None, None
    except PhotocapError as exc:
        message = reason_of(exc)
        if "not written" not in message:
            message = f"caption not written: {message}"
        return replace(record, status="error", error=message), None, message
    return _as_written(record, result.where)


def withdraw_from_photo(
    record: PhotoRecord, options: IndexOptions
) -> tuple[PhotoRecord, str | None, str | None]:
    """Take photocap's own caption out of the photo (a person's stays): (record as it is now,
    where changed, error). Nothing changes with `--write none`."""
    if options.write == "none":
        return record, None, None
    try:
        result = withdraw_caption(record.path)
    except PhotocapError as exc:
        message = _not_withdrawn(record.path, exc)
        return replace(record, status="error", error=message), None, message
    if result.where == "none":
        return record, None, None
    return _as_written(record, result.where)


def _not_withdrawn(path: str, error: PhotocapError) -> str:
    """Why withdrawing failed: the photo's metadata cannot be read (unsafe or malformed XMP, say:
    no caption of photocap's could be looked for, and nothing was written), or photocap's caption
    was found and could not be taken out."""
    try:
        read_caption(path)
    except PhotocapError:
        return f"the photo's metadata cannot be read, so nothing was written: {reason_of(error)}"
    return f"caption not withdrawn: {reason_of(error)}"


def write_keywords_into_photo(
    record: PhotoRecord, keywords: list[str], options: IndexOptions
) -> tuple[PhotoRecord, str | None, str | None]:
    """Make photocap's keywords in the photo `keywords`, caption untouched: (record as it is now,
    where written, error). Nothing is written with `--write none` or `--no-keywords`."""
    if not options.keywords or options.write == "none":
        return record, None, None
    try:
        if read_keywords(record.path).photocap == tuple(keywords):
            return record, None, None  # there already: the photo stays as it is
        result = write_keywords(record.path, keywords, mode=options.write)
    except PhotocapError as exc:
        message = f"keywords not written: {reason_of(exc)}"
        return replace(record, status="error", error=message), None, message
    return _as_written(record, result.where)


def _as_written(
    record: PhotoRecord, where: str | None
) -> tuple[PhotoRecord, str | None, str | None]:
    """The record after a write `where` ("embedded", "sidecar" or "none")."""
    path = record.path
    try:
        if where == "embedded":  # the photo changed: remember it as it is now
            st = os.stat(path)
            record = replace(
                record, size=st.st_size, mtime_ns=st.st_mtime_ns, sha256=file_sha256(path)
            )
        elif record.sha256 is None:  # planning left the hash for now
            record = replace(record, sha256=file_sha256(path))
        if where == "sidecar":  # our own sidecar write is no news next time
            record = replace(record, sidecar_mtime_ns=sidecars_mtime_ns(path))
    except OSError as exc:
        message = f"cannot read after writing: {exc.strerror or exc}"
        return replace(record, status="error", error=message), where, message
    return record, where, None


def search_words(words: Sequence[str]) -> str:
    """The words as the full-text index gets them: a name of several words becomes one token
    ("hot dog" -> "hotdog"), so that "dog" does not find a hot dog."""
    return " ".join(word.replace(" ", "") for word in words)


def failure_record(
    path: str, reason: str, known: tuple[int, int] | None = None
) -> PhotoRecord | None:
    """The error row of a photo that failed; `known` (size, mtime_ns) when it has vanished since.
    None when it vanished and nothing is known of it: nothing to record."""
    try:
        st = os.stat(path)
        size, mtime = st.st_size, st.st_mtime_ns
    except OSError:
        if known is None:
            return None
        size, mtime = known
    return PhotoRecord(path=path, size=size, mtime_ns=mtime, status="error", error=reason)


def caption_in(path: str) -> CaptionRecord | None:
    """The caption in a photo or its sidecars; None also when the metadata cannot be read (then
    decoding says what is wrong with the photo, or writing what it refuses)."""
    try:
        return read_caption(path)
    except PhotocapError:
        return None


def reason_of(error: PhotocapError) -> str:
    """The reason for one photo's failure, with the hint (the path is said elsewhere)."""
    return f"{error.message} ({error.hint})" if error.hint else error.message


def _sha256_or_none(path: str) -> str | None:
    try:
        return file_sha256(path)
    except OSError:
        return None
