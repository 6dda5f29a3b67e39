"""ExifTool, an independent reader, confirms every write on real photos carrying rich metadata."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from metadata_helpers import (
    CAPTION_TAGS,
    FRESH_EXIF_TAGS,
    HIERARCHY,
    KEYWORDS,
    Original,
    big_xmp,
    captions,
    changed_tags,
    exiftool,
    exiftool_write,
    needs_exiftool,
    pixels,
    read_tags,
    save_photo,
    validation_warnings,
)

from photocap.errors import HumanCaptionExists
from photocap.metadata import CaptionRecord, read_caption, sidecar_path, write_caption

pytestmark = needs_exiftool

MODEL = "sat-efficientnet_lite2-flickr8k"
CAPTION = "Eine Katze 🐱 sitzt auf dem Boden — 猫が座っている & <ok>"


def expected_fields(embedded_exif: bool) -> dict[str, str]:
    fields = {"XMP:XMP-iptcCore:AltTextAccessibility": CAPTION, "XMP:XMP-dc:Description": CAPTION}
    if embedded_exif:
        fields["EXIF:IFD0:ImageDescription"] = CAPTION
    return fields


def test_fixtures_carry_rich_metadata(rich_originals: dict[str, Original]):
    """The photos under test really hold what a camera and Lightroom leave (or the tests prove little)."""
    for fmt, original in rich_originals.items():
        tags = original.tags
        assert tags["XMP:XMP-dc:Subject"] == KEYWORDS, fmt
        assert tags["XMP:XMP-lr:HierarchicalSubject"] == HIERARCHY, fmt
        assert tags["EXIF:GPS:GPSLatitude"] == pytest.approx(47.3769), fmt
        assert tags["EXIF:IFD0:Orientation"] == 6, fmt
        assert any(k.startswith("ICC_Profile:") for k in tags), fmt
        assert not captions(tags), fmt
    jpeg = rich_originals["jpeg"].tags
    assert jpeg["IPTC:Keywords"] == ["cat", "Zürich"]
    assert (
        jpeg["MakerNotes:Canon:OwnerName"] == "Jane Doe Photography"
    )  # values at absolute offsets


@pytest.mark.parametrize(
    "fmt, mode, where",
    [
        ("jpeg", "auto", "embedded"),
        ("jpeg", "sidecar", "sidecar"),
        ("png", "auto", "sidecar"),
        ("png", "embed", "embedded"),
        ("webp", "auto", "sidecar"),
        ("webp", "embed", "embedded"),
        ("tiff", "auto", "sidecar"),
        ("heic", "auto", "sidecar"),
    ],
)
def test_exiftool_reads_the_caption_and_every_other_tag_is_unchanged(
    rich, fmt: str, mode: str, where: str
):
    path, original = rich(fmt)
    pixels_before, bytes_before = pixels(path), path.read_bytes()

    result = write_caption(path, CAPTION, model_id=MODEL, mode=mode)

    target = path if where == "embedded" else sidecar_path(path)
    assert (result.where, result.target) == (where, target)
    photo_tags, target_tags = read_tags(path, target)
    assert captions(target_tags) == expected_fields(where == "embedded" and fmt in ("jpeg", "webp"))
    assert target_tags["XMP:XMP-photocap:ModelId"] == MODEL
    assert target_tags["XMP:XMP-photocap:Caption"] == CAPTION
    assert changed_tags(original.tags, photo_tags) <= CAPTION_TAGS
    photo_warnings, target_warnings = validation_warnings(path, target)
    assert photo_warnings <= original.warnings
    assert np.array_equal(pixels(path), pixels_before)
    if where == "sidecar":
        assert path.read_bytes() == bytes_before
        assert target_warnings == set()
    assert read_caption(path) == CaptionRecord(CAPTION, "model", MODEL, target)


def test_an_exiftool_made_sidecar_is_merged(rich):
    path, _ = rich("png")
    side = sidecar_path(path)
    exiftool("-q", "-o", side, path)  # a full sidecar, as digiKam or darktable would keep
    [before] = read_tags(side)
    assert before["XMP:XMP-dc:Subject"] == KEYWORDS and "XMP:XMP-exif:GPSLatitude" in before
    write_caption(path, CAPTION, model_id=MODEL)
    [after] = read_tags(side)
    assert changed_tags(before, after) <= CAPTION_TAGS
    assert captions(after) == expected_fields(False)
    assert validation_warnings(side) == [set()]


@pytest.mark.parametrize(
    "tag",
    ["-XMP-dc:Description", "-XMP-iptcCore:AltTextAccessibility", "-EXIF:ImageDescription"],
)
def test_a_caption_a_person_wrote_with_exiftool_is_protected(rich, tag: str):
    path, _ = rich("jpeg")
    exiftool_write(path, f"{tag}=Mimi, our cat, on grandma's floor")
    before = path.read_bytes()
    assert read_caption(path).source == "human"
    with pytest.raises(HumanCaptionExists, match="Mimi"):
        write_caption(path, CAPTION, model_id=MODEL)
    assert path.read_bytes() == before
    write_caption(path, CAPTION, model_id=MODEL, overwrite=True)
    assert captions(read_tags(path)[0]) == expected_fields(True)


@pytest.mark.parametrize(
    "fmt, tag",
    [
        ("heic", "-XMP-dc:Description"),
        ("tiff", "-EXIF:ImageDescription"),
        ("webp", "-XMP-iptcCore:AltTextAccessibility"),
    ],
)
def test_a_caption_embedded_by_a_person_blocks_a_sidecar_too(rich, fmt: str, tag: str):
    path, _ = rich(fmt)
    exiftool_write(path, f"{tag}=Mimi auf dem Sofa")
    assert read_caption(path) == CaptionRecord("Mimi auf dem Sofa", "human", None, path)
    with pytest.raises(HumanCaptionExists, match="Mimi auf dem Sofa"):
        write_caption(path, CAPTION, model_id=MODEL)
    assert not sidecar_path(path).exists()
    assert write_caption(path, CAPTION, model_id=MODEL, overwrite=True).where == "sidecar"
    assert read_tags(sidecar_path(path))[0]["XMP:XMP-iptcCore:AltTextAccessibility"] == CAPTION


def test_exiftool_made_extended_xmp_is_kept(tmp_path: Path):
    path = save_photo(tmp_path / "big.jpg", "jpeg")
    keywords = [
        f"keyword {i:03d} {'x' * 80}" for i in range(900)
    ]  # ~85 KB: ExifTool makes Extended XMP
    args = tmp_path / "args.txt"
    args.write_text("\n".join(f"-XMP-dc:Subject={k}" for k in keywords) + "\n", "utf-8")
    exiftool("-q", "-overwrite_original", "-@", args, path)
    [before] = read_tags(path)
    assert before["XMP:XMP-dc:Subject"] == keywords and "XMP:XMP-xmpNote:HasExtendedXMP" in before
    [warnings_before] = validation_warnings(path)
    write_caption(path, CAPTION, model_id=MODEL)
    [after] = read_tags(path)
    assert captions(after) == expected_fields(True)
    # Extended XMP and its GUID unchanged; the photo had no EXIF, so it gains the required tags too.
    assert changed_tags(before, after) <= CAPTION_TAGS | FRESH_EXIF_TAGS
    assert validation_warnings(path)[0] <= warnings_before


def test_exiftool_reads_extended_xmp_that_photocap_split_off(tmp_path: Path):
    path = save_photo(
        tmp_path / "big.jpg", "jpeg", xmp=big_xmp(975)
    )  # fits one segment, not with a caption
    [before] = read_tags(path)
    assert (
        len(before["XMP:XMP-dc:Subject"]) == 975 and "XMP:XMP-xmpNote:HasExtendedXMP" not in before
    )
    [warnings_before] = validation_warnings(path)
    write_caption(path, CAPTION, model_id=MODEL)
    [after] = read_tags(path)
    assert "XMP:XMP-xmpNote:HasExtendedXMP" in after  # photocap moved properties into Extended XMP
    allowed = CAPTION_TAGS | FRESH_EXIF_TAGS | {"XMP:XMP-xmpNote:HasExtendedXMP"}
    assert changed_tags(before, after) <= allowed
    assert captions(after) == expected_fields(True)
    assert validation_warnings(path)[0] <= warnings_before


def test_rewrites_keep_one_value_per_field(rich):
    path, _ = rich("webp")
    write_caption(path, "first caption", model_id="m1", mode="embed")
    write_caption(path, CAPTION, model_id=MODEL, mode="embed")
    out = exiftool(
        "-a",
        "-G1",
        "-s",
        "-XMP-dc:Description",
        "-XMP-iptcCore:AltTextAccessibility",
        "-EXIF:ImageDescription",
        path,
    )
    assert out.count(CAPTION) == 3 and "first caption" not in out
    assert read_tags(path)[0]["XMP:XMP-photocap:ModelId"] == MODEL
