"""Labels end to end with the shipped model: a real cat photo is found by `photocap search cat`, and
by a word of its labels its caption does not use ("animal"), and the words are in the photo's XMP
keywords (read by ExifTool)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from cli_helpers import photocap
from PIL import Image
from skimage import data

pytestmark = pytest.mark.slow


def test_search_finds_a_cat_by_its_label_and_exiftool_reads_the_keyword(tmp_path: Path) -> None:
    library = tmp_path / "Pictures"
    library.mkdir()
    cat, coffee = library / "chelsea.jpg", library / "coffee.jpg"
    Image.fromarray(data.chelsea()).save(cat, quality=92)
    Image.fromarray(data.coffee()).save(coffee, quality=92)
    db = tmp_path / "index.db"

    indexed = photocap("index", library, "--db", db, "--json", "--workers", "0")
    assert indexed.returncode == 0, indexed.stderr
    found = photocap("search", "cat", "--db", db, "--json")
    assert found.returncode == 0, found.stderr
    [hit] = json.loads(found.stdout)
    assert hit["path"] == str(cat)
    assert hit["labels"][0]["name"] == "Egyptian cat" and hit["labels"][0]["probability"] > 0.5
    by_label = photocap("search", "animal", "--db", db, "--json")
    [hit] = json.loads(by_label.stdout)
    assert hit["path"] == str(cat)
    assert "animal" not in hit["caption"].lower()  # found by what the encoder sees
    assert json.loads(photocap("search", "coffee", "--db", db, "--json").stdout)[0]["path"] == str(
        coffee
    )
    subjects = subprocess.run(
        ["exiftool", "-s3", "-sep", "|", "-XMP-dc:Subject", str(cat)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert {"cat", "animal"} <= set(subjects.split("|"))
