"""Alt text that names only what is in the photo, with the shipped model on real photos: the
evidence keeps a person and a dog out of a cat photo's alt text, a held-back photo gets a label
line of the objects photocap is sure of (ExifTool reads it as alt text, marked label-based), a
rerun with a higher --label-alt-min withdraws it, and a person's caption is never touched."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from metadata_helpers import exiftool, exiftool_write, needs_exiftool

from photocap.cli import cli
from photocap.model.objects import object_table
from photocap.photos.digest import file_sha256

pytestmark = [pytest.mark.slow, needs_exiftool]


def index(root: Path, db: Path, *extra: str) -> dict:
    args = ["index", str(root), "--db", str(db), "--json", "--workers", "0"]
    result = CliRunner().invoke(cli, [*args, *extra])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def alt_text(path: Path) -> str | None:
    """The photo's alt text as ExifTool reads it (None: none)."""
    return exiftool("-s3", "-XMP-iptcCore:AltTextAccessibility", path).strip() or None


def test_a_cat_photo_gets_no_person_and_no_dog_in_its_alt_text(real_photos):
    """skimage's "chelsea", a cat lying on a rug: before the evidence the shipped model said "A man
    is doing a trick on a cat." (person evidence 0.23)."""
    done = subprocess.run(
        [sys.executable, "-m", "photocap", "caption", "--json", str(real_photos["chelsea"])],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)["results"][0]
    assert result["objects"]["cat"] > 0.9
    written = result["alt_text"]
    assert written, result
    named = object_table().groups_in([written])
    assert not named & {"person", "dog"}, written
    assert "cat" in named, written


def test_a_held_back_photo_gets_a_label_line_a_higher_threshold_withdraws_it(
    tmp_path: Path, real_photos
):
    root = tmp_path / "photos"
    root.mkdir()
    coffee = Path(shutil.copy(real_photos["coffee"], root))
    person = Path(shutil.copy(real_photos["astronaut"], root))
    exiftool_write(person, "-XMP-iptcCore:AltTextAccessibility=An astronaut in front of a flag.")
    human_bytes = file_sha256(person)
    db = tmp_path / "index.db"

    # every caption held back: the coffee photo's sure object (an espresso, evidence ≈ 0.86)
    held = index(root, db, "--min-confidence", "1")
    assert held["label_lines"] == 1 and held["human"] == 1, held
    line = alt_text(coffee)
    assert line == "May show: an espresso.", line
    assert exiftool("-s3", "-XMP-photocap:Basis", coffee).strip() == "labels"
    assert exiftool("-s3", "-EXIF:ImageDescription", coffee).strip() == line
    with sqlite3.connect(db) as conn:
        caption, kept, held_back = conn.execute(
            "SELECT caption, alt_text, held_back FROM photos WHERE path = ?", (str(coffee),)
        ).fetchone()
    assert held_back and kept == line and caption and caption != line  # the sentence stays indexed
    found = CliRunner().invoke(cli, ["search", "--held-back", "--json", "--db", str(db)])
    assert [h["alt_text"] for h in json.loads(found.stdout)] == [line]
    assert file_sha256(person) == human_bytes  # a person's caption: untouched

    # unchanged rerun: nothing to do
    again = index(root, db, "--min-confidence", "1")
    assert again["unchanged"] == 2 and again["label_lines"] == 0, again

    # a higher bar for naming objects: the label line is taken out, the sentence stays held back
    stricter = index(root, db, "--min-confidence", "1", "--label-alt-min", "0.95")
    assert stricter["relabelled"] == 1, stricter
    assert alt_text(coffee) is None
    assert exiftool("-s3", "-XMP-photocap:Basis", coffee).strip() == ""
    assert file_sha256(person) == human_bytes

    # back to the default: written again; --no-label-alt writes nothing for held-back photos
    assert index(root, db, "--min-confidence", "1")["relabelled"] == 1
    assert alt_text(coffee) == line
    assert index(root, db, "--min-confidence", "1", "--no-label-alt")["relabelled"] == 1
    assert alt_text(coffee) is None
    assert file_sha256(person) == human_bytes
