"""The confidence gate end to end: captions under --min-confidence are indexed and searchable but
not written into the photos; a rerun with another threshold writes or withdraws photocap's
captions and never a person's. ExifTool is the independent reader of what is in the photos.

The tiny test model carries a confidence curve that makes it sure of every caption (just under 1),
so `--min-confidence 1` holds every caption back and `0` lets every one through."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from click.testing import CliRunner
from index_helpers import rows
from metadata_helpers import captions, exiftool_write, needs_exiftool, read_tags
from PIL import Image

from photocap.cli import cli
from photocap.metadata import read_caption, sidecar_path

pytestmark = needs_exiftool


COLUMNS = ("caption", "source", "confidence", "held_back")  # of rows(db, *COLUMNS)


def index(root: Path, db: Path, model: Path, *extra: str) -> dict:
    args = ["index", str(root), "--db", str(db), "--model", str(model), "--json"]
    result = CliRunner().invoke(cli, [*args, "--workers", "0", "--beam", "1", *extra])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_held_back_then_released_then_withdrawn_and_a_person_wins(
    tmp_path: Path, tiny_model: Path, real_photos: dict[str, Path]
):
    root = tmp_path / "photos"
    root.mkdir()
    for path in real_photos.values():
        shutil.copy(path, root)
    Image.open(real_photos["coffee"]).save(root / "coffee.png")  # written as a sidecar
    db = tmp_path / "index.db"
    photos = sorted(root.iterdir())
    n = len(photos)

    held = index(root, db, tiny_model, "--min-confidence", "1")
    assert (held["held_back"], held["captioned"]) == (n, 0)
    indexed = rows(db, *COLUMNS, by="name")
    assert all(
        held_back and caption and 0.9 < sure < 1 for caption, _, sure, held_back in indexed.values()
    )
    for path, tags in zip(photos, read_tags(*photos), strict=True):
        assert not captions(tags), path  # nothing written ...
        assert read_caption(path) is None
    assert not sidecar_path(root / "coffee.png").exists()
    listed = CliRunner().invoke(cli, ["search", "--held-back", "--json", "--db", str(db)])
    assert listed.exit_code == 0, listed.output
    hits = json.loads(listed.stdout)
    assert sorted(Path(h["path"]).name for h in hits) == sorted(p.name for p in photos)
    assert all(h["held_back"] for h in hits)
    assert [h["confidence"] for h in hits] == sorted(h["confidence"] for h in hits)
    word = max(indexed["chelsea.jpg"][0].strip(".").split(), key=len)  # ... but searchable
    found = CliRunner().invoke(cli, ["search", word, "--held-back", "--json", "--db", str(db)])
    assert "chelsea.jpg" in {Path(h["path"]).name for h in json.loads(found.stdout)}

    person = root / "rocket.jpg"
    exiftool_write(person, "-XMP-dc:Description=A rocket on its launch pad at dawn.")

    released = index(root, db, tiny_model, "--min-confidence", "0")
    assert (released["released"], released["human"], released["captioned"]) == (n - 1, 1, 0)
    indexed = rows(db, *COLUMNS, by="name")
    for path in photos:
        caption, source, sure, held_back = indexed[path.name]
        found = read_caption(path)
        if path == person:
            assert (found.source, found.text) == ("human", "A rocket on its launch pad at dawn.")
            assert (source, held_back) == ("human", False)
            continue
        assert (found.source, found.text, held_back) == ("model", caption, False)
        [tags] = read_tags(path if path.suffix == ".jpg" else sidecar_path(path))
        assert tags["XMP:XMP-iptcCore:AltTextAccessibility"] == caption
        assert tags["XMP:XMP-photocap:Confidence"] == round(sure, 2)

    withdrawn = index(root, db, tiny_model, "--min-confidence", "1")
    assert (withdrawn["withdrawn"], withdrawn["unchanged"]) == (n - 1, 1)
    for path, tags in zip(photos, read_tags(*photos), strict=True):
        if path == person:
            assert read_caption(path).source == "human"
            assert tags["XMP:XMP-dc:Description"] == "A rocket on its launch pad at dawn."
        else:
            assert not captions(tags) and read_caption(path) is None
            assert rows(db, *COLUMNS, by="name")[path.name][3]  # held back, still indexed
    assert not sidecar_path(root / "coffee.png").exists()

    again = index(root, db, tiny_model, "--min-confidence", "1")
    assert (again["unchanged"], again["withdrawn"], again["released"]) == (n, 0, 0)


def test_degenerate_images_get_a_plain_description_or_none(tmp_path: Path, tiny_model: Path):
    """Through the DataLoader's worker processes: a black square is described, a 1×1 pixel and a
    20000×2 strip are not captioned at all (the summary says why), and nothing is invented."""
    root = tmp_path / "odd"
    root.mkdir()
    Image.new("RGB", (64, 64)).save(root / "black.jpg", quality=95)
    Image.new("RGB", (1, 1), (200, 30, 30)).save(root / "pixel.png")
    Image.new("RGB", (20000, 2), (90, 140, 200)).save(root / "strip.png")
    Image.new("RGBA", (300, 200), (0, 0, 0, 0)).save(root / "clear.png")
    db = tmp_path / "index.db"

    summary = index(root, db, tiny_model, "--workers", "2", "--min-confidence", "0")

    assert (summary["captioned"], summary["declined"]) == (2, 2)
    assert set(summary["not_captioned"]) == {str(root / "pixel.png"), str(root / "strip.png")}
    assert "too small" in summary["not_captioned"][str(root / "pixel.png")]
    indexed = rows(db, *COLUMNS, by="name")
    assert indexed["black.jpg"][:2] == ("A plain black image.", "model")
    assert indexed["clear.png"][0] == "A blank, transparent image."
    assert indexed["pixel.png"][0] is None and indexed["strip.png"][0] is None
    [tags] = read_tags(root / "black.jpg")
    assert tags["XMP:XMP-iptcCore:AltTextAccessibility"] == "A plain black image."
    assert not sidecar_path(root / "pixel.png").exists()
    assert index(root, db, tiny_model, "--min-confidence", "0")["unchanged"] == 4
