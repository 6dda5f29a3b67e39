"""Camera RAW files through the index run and the real CLI: captioned from real DNGs (pidng,
Bayer data), written only into sidecars (the RAW's bytes never change), a truncated RAW failing
alone, RAW + JPEG pairs captioned once, and a Lightroom sidecar's keywords and rating kept.

ExifTool is the independent reader of the sidecars. Captions come from indexing_helpers'
`ColourCaptioner` (the colour of the top-left corner as the model saw it), so a DNG whose
embedded preview shows another colour than its sensor data tells which one was used.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from index_helpers import rows
from indexing_helpers import ColourCaptioner, Factory, displayed, run, sha256
from metadata_helpers import exiftool, exiftool_write
from raw_helpers import dng_bytes, write_dng

from photocap.captioner import Caption
from photocap.cli import cli
from photocap.indexing.twins import twin_of
from photocap.metadata import read_caption, read_keywords, sidecar_path

pytestmark = pytest.mark.skipif(shutil.which("exiftool") is None, reason="needs ExifTool")

SIZE = (480, 320)  # the preview's shorter side is over the colour captioner's 224


def alt_text(sidecar: Path) -> str:
    """XMP-iptcCore:AltTextAccessibility as ExifTool reads it."""
    return exiftool("-s3", "-XMP-iptcCore:AltTextAccessibility", sidecar).strip()


def shoot(root: Path) -> dict[str, Path]:
    """Two real RAW files: one whose preview (blue) differs from its sensor data (red), one
    without a preview (green, rendered by LibRaw)."""
    root.mkdir(parents=True, exist_ok=True)
    preview = write_dng(
        root / "IMG_0001.DNG", displayed("red", SIZE), preview=displayed("blue", SIZE)
    )
    rendered = write_dng(root / "IMG_0002.dng", displayed("green", SIZE))
    return {"preview": preview, "rendered": rendered}


@pytest.mark.parametrize("mode", ["auto", "embed"])
def test_raw_files_are_captioned_into_sidecars_and_never_written(
    tmp_path: Path, index, db, mode: str
) -> None:
    root = tmp_path / "Pictures"
    raws = shoot(root)
    before = {name: sha256(path) for name, path in raws.items()}

    summary = run(index, [root], write=mode, workers=2)  # decoded in DataLoader workers

    assert (summary.captioned, summary.sidecar, summary.embedded) == (2, 2, 0)
    assert summary.failed == {}
    expected = {"preview": "A blue corner.", "rendered": "A green corner."}
    stored = rows(db)
    for name, path in raws.items():
        assert sha256(path) == before[name], name  # the RAW itself is never written
        row = stored[str(path)]
        assert (row["caption"], row["source"], row["sha256"]) == (
            expected[name],
            "model",
            before[name],
        )
        assert (row["width"], row["height"]) == SIZE
        assert alt_text(sidecar_path(path)) == expected[name]
        assert read_caption(path).location == sidecar_path(path)
    assert not (root / "IMG_0001.xmp").exists()  # no Lightroom sidecar made up
    assert run(index, [root], Factory(fail=True)).unchanged == 2


def test_a_truncated_raw_fails_alone(tmp_path: Path, index, db) -> None:
    root = tmp_path / "Pictures"
    raws = shoot(root)
    whole = dng_bytes(displayed("red", SIZE), preview=displayed("red", SIZE))
    cut = root / "IMG_0009.NEF"
    cut.write_bytes(whole[: len(whole) // 2])  # the copy stopped halfway

    summary = run(index, [root], workers=2)

    assert summary.captioned == 2 and list(summary.failed) == [str(cut)]
    assert summary.failed[str(cut)].startswith("truncated RAW: the file ends at byte")
    assert rows(db)[str(cut)]["status"] == "error"
    assert not sidecar_path(cut).exists()
    assert all(alt_text(sidecar_path(p)) for p in raws.values())


def test_a_raw_and_jpeg_pair_is_captioned_once_and_both_carry_it(tmp_path: Path, index, db) -> None:
    root = tmp_path / "Pictures"
    root.mkdir()
    raw = write_dng(root / "IMG_0003.DNG", displayed("red", SIZE))  # sensor data: red
    jpeg = root / "IMG_0003.jpg"
    displayed("blue", SIZE).save(jpeg, quality=92)  # the camera's JPEG: blue
    lone = write_dng(root / "IMG_0004.dng", displayed("green", SIZE))
    raw_hash = sha256(raw)
    factory = Factory()

    summary = run(index, [root], factory)

    assert factory.captioner.photos == 2  # the JPEG and the lone RAW; the pair's RAW not decoded
    assert (summary.captioned, summary.paired, summary.failed) == (2, 1, {})
    assert read_caption(jpeg).text == read_caption(raw).text == "A blue corner."
    assert alt_text(sidecar_path(raw)) == "A blue corner." and sha256(raw) == raw_hash
    assert read_keywords(raw).photocap == read_keywords(jpeg).photocap == ("blue", "colour swatch")
    stored = rows(db)
    assert stored[str(raw)]["caption"] == stored[str(jpeg)]["caption"] == "A blue corner."
    assert stored[str(raw)]["label_words"] == stored[str(jpeg)]["label_words"]
    assert read_caption(lone).text == "A green corner."
    assert run(index, [root], Factory(fail=True)).unchanged == 3


class UnsureCaptioner(ColourCaptioner):
    """Every caption with a confidence of 0.1: under the default --min-confidence."""

    def caption_features(self, features, options=None) -> list[Caption]:
        return [
            Caption(c.text, c.words, c.score, confidence=0.1)
            for c in super().caption_features(features, options)
        ]


def test_a_pairs_unsure_caption_is_held_back_from_both_files(tmp_path: Path, index, db) -> None:
    root = tmp_path / "Pictures"
    root.mkdir()
    raw = write_dng(root / "IMG_0005.NEF", displayed("red", SIZE))
    jpeg = root / "IMG_0005.JPG"
    displayed("blue", SIZE).save(jpeg, quality=92)
    raw_hash = sha256(raw)

    summary = run(index, [root], Factory(UnsureCaptioner()))

    assert (summary.held_back, summary.paired, summary.captioned) == (1, 1, 0)
    stored = rows(db)
    for path in (raw, jpeg):
        row = stored[str(path)]
        assert (row["caption"], row["held_back"], row["confidence"]) == ("A blue corner.", 1, 0.1)
        assert read_caption(path) is None  # indexed, not written
    assert sha256(raw) == raw_hash
    assert read_keywords(raw).photocap == read_keywords(jpeg).photocap == ("blue", "colour swatch")


def test_a_raw_added_after_its_jpeg_gets_the_jpegs_caption(tmp_path: Path, index, db) -> None:
    root = tmp_path / "Pictures"
    root.mkdir()
    jpeg = root / "DSC_0100.JPG"
    displayed("blue", SIZE).save(jpeg, quality=92)
    assert run(index, [root]).captioned == 1
    raw = write_dng(root / "DSC_0100.dng", displayed("red", SIZE))  # imported later

    factory = Factory()
    summary = run(index, [root], factory)

    assert (summary.captioned, summary.paired, summary.unchanged) == (0, 1, 1)
    assert read_caption(raw).text == "A blue corner." == rows(db)[str(raw)]["caption"]
    assert factory.captioner.photos == 1  # the RAW was only labelled
    assert read_keywords(raw).photocap == ("red", "colour swatch")  # its own labels


def test_a_persons_caption_on_either_file_wins_for_both(tmp_path: Path, index, db) -> None:
    root = tmp_path / "Pictures"
    root.mkdir()
    raw_a = write_dng(root / "A.dng", displayed("red", SIZE))
    jpeg_a = root / "A.jpg"
    displayed("blue", SIZE).save(jpeg_a, quality=92)
    exiftool_write(jpeg_a, "-XMP-dc:Description=Grandma's birthday cake")  # in the JPEG
    raw_b = write_dng(root / "B.dng", displayed("red", SIZE))
    jpeg_b = root / "B.jpg"
    displayed("blue", SIZE).save(jpeg_b, quality=92)
    exiftool_write(sidecar_path(raw_b), "-XMP-dc:Description=The harbour at dawn")  # darktable's
    untouched = {p: sha256(p) for p in (raw_a, jpeg_a, raw_b, jpeg_b)}

    factory = Factory()
    summary = run(index, [root], factory)

    assert (summary.human, summary.captioned, summary.failed) == (4, 0, {})
    assert summary.labelled == factory.captioner.photos == 4  # labelled in the index only
    stored = rows(db)
    for path, text in (
        (raw_a, "Grandma's birthday cake"),
        (jpeg_a, "Grandma's birthday cake"),
        (raw_b, "The harbour at dawn"),
        (jpeg_b, "The harbour at dawn"),
    ):
        assert (stored[str(path)]["caption"], stored[str(path)]["source"]) == (text, "human")
    assert {p: sha256(p) for p in untouched} == untouched
    assert not sidecar_path(raw_a).exists() and not sidecar_path(jpeg_b).exists()


def test_a_lightroom_sidecars_keywords_and_rating_survive(tmp_path: Path, index, db) -> None:
    root = tmp_path / "Pictures"
    raws = shoot(root)
    raw = raws["preview"]
    lightroom = root / "IMG_0001.xmp"
    exiftool(
        "-q", "-o", lightroom, "-XMP-dc:Subject=family", "-XMP-dc:Subject=holiday",
        "-XMP-xmp:Rating=4", "-XMP-lr:HierarchicalSubject=People|Family", "-XMP-xmp:Label=Red",
        raw,
    )  # fmt: skip
    assert lightroom.exists()
    raw_hash = sha256(raw)

    summary = run(index, [root])

    assert summary.captioned == 2 and summary.failed == {}
    tags = json.loads(exiftool("-j", "-G1", "-XMP:all", lightroom))[0]
    assert tags["XMP-xmp:Rating"] == 4 and tags["XMP-xmp:Label"] == "Red"
    assert tags["XMP-lr:HierarchicalSubject"] == "People|Family"
    assert tags["XMP-dc:Subject"] == ["family", "holiday", "blue", "colour swatch"]
    assert tags["XMP-iptcCore:AltTextAccessibility"] == "A blue corner."
    assert alt_text(sidecar_path(raw)) == "A blue corner."  # photocap's own sidecar too
    assert read_keywords(raw).photocap == ("blue", "colour swatch")
    assert sha256(raw) == raw_hash
    assert run(index, [root], Factory(fail=True)).unchanged == 2


def test_photocap_index_captions_raw_files(tmp_path: Path, tiny_model: Path) -> None:
    """The real CLI with the tiny real model: RAWs (preview, rendered, a pair) captioned."""
    root = tmp_path / "Pictures"
    raws = shoot(root)
    displayed("blue", SIZE).save(root / "IMG_0002.JPG", quality=92)  # IMG_0002.dng's JPEG
    hashes = {p: sha256(p) for p in raws.values()}
    db = tmp_path / "index.db"
    args = ["index", str(root), "--db", str(db), "--model", str(tiny_model), "--workers", "1"]

    result = CliRunner().invoke(cli, [*args, "--json", "--beam", "1", "--write", "embed"])

    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert (summary["captioned"], summary["paired"], summary["failed"]) == (2, 1, {})
    assert summary["embedded"] == 1 and summary["sidecar"] == 2  # the JPEG; the two RAWs
    for path in raws.values():
        assert sha256(path) == hashes[path]
        caption = rows(db)[str(path)]["caption"]
        assert caption and alt_text(sidecar_path(path)) == caption
    assert rows(db)[str(raws["rendered"])]["caption"] == read_caption(root / "IMG_0002.JPG").text
    text = CliRunner().invoke(cli, args).output
    assert "Unchanged, skipped: 3" in text


def test_a_jpeg_added_after_its_raw_gets_the_raws_caption(tmp_path: Path, index, db) -> None:
    root = tmp_path / "Pictures"
    raw = shoot(root)["preview"]  # captioned from its preview: blue
    assert run(index, [root]).captioned == 2
    jpeg = root / "IMG_0001.jpeg"  # exported later, another picture in the corner
    displayed("green", SIZE).save(jpeg, quality=92)

    summary = run(index, [root])

    assert (summary.captioned, summary.paired) == (0, 1)
    assert read_caption(jpeg).text == read_caption(raw).text == "A blue corner."
    assert read_caption(jpeg).location == jpeg  # embedded into the JPEG as usual


def test_twins_are_found_by_the_same_name_and_any_case_of_extension(tmp_path: Path) -> None:
    names = ["IMG_1.CR2", "IMG_1.JPG", "IMG_2.nef", "IMG_2.jpeg", "img_3.dng", "IMG_3.jpg"]
    for name in [*names, "IMG_4.dng", "IMG_4.png", "IMG_5.jpg", "IMG_1.CR2.xmp"]:
        (tmp_path / name).write_bytes(b"")
    pairs = {name: twin_of(str(tmp_path / name)) for name in [*names, "IMG_4.dng", "IMG_5.jpg"]}
    assert {k: Path(v).name if v else None for k, v in pairs.items()} == {
        "IMG_1.CR2": "IMG_1.JPG",
        "IMG_1.JPG": "IMG_1.CR2",
        "IMG_2.nef": "IMG_2.jpeg",
        "IMG_2.jpeg": "IMG_2.nef",
        "img_3.dng": None,  # another name
        "IMG_3.jpg": None,
        "IMG_4.dng": None,  # a PNG is not the camera's JPEG
        "IMG_5.jpg": None,
    }
    time.sleep(0.1)
    (tmp_path / "IMG_5.ORF").write_bytes(b"")  # imported later: the folder listing is renewed
    assert twin_of(str(tmp_path / "IMG_5.jpg")) == str(tmp_path / "IMG_5.ORF")
