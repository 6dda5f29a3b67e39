"""Captions of camera RAW files: only sidecars are written (the RAW's bytes never change), in the
names photo managers read; Lightroom's `<name>.xmp` is merged into, never replaced; a person's
caption in either sidecar, or in a DNG's own XMP, is read and kept. ExifTool reads the results."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
from metadata_helpers import exiftool, exiftool_write
from raw_helpers import write_dng
from skimage import data

from photocap.errors import HumanCaptionExists
from photocap.metadata import read_caption, read_keywords, sidecar_path, write_caption

pytestmark = pytest.mark.skipif(shutil.which("exiftool") is None, reason="needs ExifTool")

CAPTION = "A cat looks up from a rug."


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def dng(tmp_path: Path) -> Path:
    return write_dng(tmp_path / "IMG_0001.DNG", data.chelsea(), preview=data.chelsea())


def tags(path: Path) -> dict:
    return json.loads(exiftool("-j", "-G1", "-XMP:all", path))[0]


@pytest.mark.parametrize("mode", ["auto", "embed", "sidecar"])
def test_every_write_mode_means_a_sidecar_for_a_raw(dng: Path, mode: str) -> None:
    before = digest(dng)
    result = write_caption(dng, CAPTION, model_id="m", mode=mode, keywords=["cat"])
    assert (result.where, result.target, result.also) == ("sidecar", sidecar_path(dng), ())
    assert digest(dng) == before
    found = tags(sidecar_path(dng))
    assert found["XMP-iptcCore:AltTextAccessibility"] == CAPTION == found["XMP-dc:Description"]
    assert read_caption(dng).source == "model" and read_keywords(dng).photocap == ("cat",)
    assert sorted(p.name for p in dng.parent.iterdir()) == ["IMG_0001.DNG", "IMG_0001.DNG.xmp"]


def test_lightrooms_sidecar_is_written_too_and_keeps_what_it_holds(dng: Path) -> None:
    lightroom = dng.with_name("IMG_0001.xmp")
    exiftool(
        "-q", "-o", lightroom, "-XMP-dc:Subject=family", "-XMP-xmp:Rating=5",
        "-XMP-lr:HierarchicalSubject=Places|Home", "-XMP-crs:Exposure2012=+0.35", dng,
    )  # fmt: skip
    before = digest(dng)

    result = write_caption(dng, CAPTION, model_id="m", mode="embed", keywords=["cat", "pet"])

    assert result.target == sidecar_path(dng) and result.also == (lightroom,)
    merged = tags(lightroom)
    assert merged["XMP-xmp:Rating"] == 5 and merged["XMP-crs:Exposure2012"] == "+0.35"
    assert merged["XMP-lr:HierarchicalSubject"] == "Places|Home"
    assert merged["XMP-dc:Subject"] == ["family", "cat", "pet"]
    assert merged["XMP-iptcCore:AltTextAccessibility"] == CAPTION
    assert tags(sidecar_path(dng))["XMP-iptcCore:AltTextAccessibility"] == CAPTION
    assert read_keywords(dng).keywords == ("cat", "pet", "family")  # the person's kept
    assert digest(dng) == before


@pytest.mark.parametrize("where", ["lightroom", "ours", "dng"])
def test_a_persons_caption_anywhere_is_read_and_never_overwritten(dng: Path, where: str) -> None:
    target = {
        "lightroom": dng.with_name("IMG_0001.xmp"),
        "ours": sidecar_path(dng),
        "dng": dng,  # Lightroom's "write metadata to DNG": XMP inside the DNG itself
    }[where]
    exiftool_write(target, "-XMP-dc:Description=Mittens, aged two")
    files = {p: digest(p) for p in dng.parent.iterdir()}

    found = read_caption(dng)
    assert (found.text, found.source, found.location) == ("Mittens, aged two", "human", target)
    with pytest.raises(HumanCaptionExists):
        write_caption(dng, CAPTION, model_id="m")
    assert {p: digest(p) for p in dng.parent.iterdir()} == files
    dng_bytes = digest(dng)
    write_caption(dng, CAPTION, model_id="m", overwrite=True)  # asked for: the sidecars get ours
    assert tags(sidecar_path(dng))["XMP-iptcCore:AltTextAccessibility"] == CAPTION
    assert digest(dng) == dng_bytes  # a caption inside the DNG stays: the RAW is never written
    assert read_caption(dng).text == ("Mittens, aged two" if where == "dng" else CAPTION)
