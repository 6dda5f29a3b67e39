"""Withdrawing photocap's caption (a held-back caption, a raised --min-confidence) takes out exactly
what photocap wrote: ExifTool, an independent reader, sees the photo as it was, a person's words
and every other tag untouched. And the confidence written with a caption is in its provenance."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from metadata_helpers import (
    captions,
    changed_tags,
    exiftool_write,
    needs_exiftool,
    pixels,
    read_tags,
    save_photo,
)

from photocap.metadata import (
    read_caption,
    read_keywords,
    sidecar_path,
    withdraw_caption,
    write_caption,
    write_keywords,
)

pytestmark = needs_exiftool

MODEL = "sat-efficientnet_lite2-flickr8k"
CAPTION = "A cat sits on the floor."


@pytest.mark.parametrize(
    "fmt, mode",
    [("jpeg", "auto"), ("jpeg", "sidecar"), ("png", "embed"), ("webp", "embed"), ("tiff", "auto")],
)
def test_withdrawing_leaves_the_photo_as_it_was(rich, fmt: str, mode: str):
    path, _ = rich(fmt)
    [before] = read_tags(path)
    pixels_before = pixels(path)

    written = write_caption(path, CAPTION, model_id=MODEL, mode=mode, confidence=0.8234)
    [tags] = read_tags(written.target)
    assert tags["XMP:XMP-photocap:Confidence"] == 0.82
    assert captions(tags)

    result = withdraw_caption(path)

    assert (result.where, result.target) == (written.where, written.target)
    [after] = read_tags(path)
    assert not captions(after)
    assert not any(":XMP-photocap:" in k for k in after)
    assert changed_tags(before, after) == set()
    assert np.array_equal(pixels(path), pixels_before)
    assert not sidecar_path(path).exists()  # a sidecar that held only photocap's caption goes
    assert read_caption(path) is None


def test_a_persons_words_and_the_keywords_stay(tmp_path: Path):
    path = save_photo(tmp_path / "cat.jpg", "jpeg")
    write_caption(path, CAPTION, model_id=MODEL, keywords=["cat"], confidence=0.3)
    write_keywords(path, ["cat"])
    exiftool_write(path, "-XMP-iptcCore:AltTextAccessibility=Mia, our cat, asleep.")

    assert withdraw_caption(path).where == "embedded"

    [tags] = read_tags(path)
    assert tags["XMP:XMP-iptcCore:AltTextAccessibility"] == "Mia, our cat, asleep."
    assert "XMP:XMP-dc:Description" not in tags  # photocap's text, gone
    assert "EXIF:IFD0:ImageDescription" not in tags
    assert read_caption(path).source == "human"
    assert read_keywords(path).photocap == ("cat",)


def test_a_sidecar_holding_more_than_photocap_wrote_stays(tmp_path: Path):
    path = save_photo(tmp_path / "cat.png", "png")
    write_caption(path, CAPTION, model_id=MODEL, keywords=["cat"])
    side = sidecar_path(path)

    assert withdraw_caption(path).where == "sidecar"

    [tags] = read_tags(side)
    assert not captions(tags)
    assert tags["XMP:XMP-dc:Subject"] == ["cat"]
    assert read_caption(path) is None


def test_a_photo_without_photocap_caption_is_not_touched(tmp_path: Path):
    path = save_photo(tmp_path / "cat.jpg", "jpeg")
    exiftool_write(path, "-XMP-dc:Description=A person wrote this.")
    before = path.read_bytes()

    assert withdraw_caption(path).where == "none"
    assert path.read_bytes() == before
