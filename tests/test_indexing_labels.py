"""Labels in the index run: stored, searchable (captions first), written as keywords beside
photocap's captions, and added to an index built before labels existed."""

from __future__ import annotations

import sqlite3
import subprocess
from pathlib import Path

import pytest
from index_helpers import rows
from indexing_helpers import ColourCaptioner, Factory, displayed, run

from photocap.metadata import read_caption, read_keywords
from photocap.store.index import PhotoRecord, open_index
from photocap.store.search import search


@pytest.fixture
def root(tmp_path: Path) -> Path:
    folder = tmp_path / "Pictures"
    folder.mkdir()
    displayed("red").save(folder / "red.jpg", quality=92)
    displayed("green").save(folder / "green.png")
    return folder


def test_labels_are_indexed_searchable_and_written_as_keywords(root: Path, index, db) -> None:
    summary = run(index, [root])
    assert summary.captioned == 2 and summary.labelled == 0  # labelled in the captioning pass
    row = index.get(root / "red.jpg")
    assert [(x.name, x.probability) for x in row.labels] == [("red", 0.9)]
    assert row.label_words == "red colourswatch"  # a name of two words is one token
    # the keywords went in with the caption: into the JPEG, into the PNG's sidecar
    assert read_keywords(root / "red.jpg").photocap == ("red", "colour swatch")
    assert read_keywords(root / "green.png").photocap == ("green", "colour swatch")
    hits = search(index, "colourswatch").hits
    assert {Path(h.path).name for h in hits} == {"red.jpg", "green.png"}
    assert hits[0].labels[0].name in ("red", "green") and hits[0].labels[0].probability == 0.9
    assert search(index, "swatch").hits == ()  # only the whole name, not a part of it
    assert search(index, "colourswatch", labels=False).hits == ()
    assert run(index, [root], Factory(fail=True)).unchanged == 2  # settled, labels included


def test_a_caption_match_ranks_above_a_label_only_match(root: Path, index) -> None:
    run(index, [root])
    index.upsert([PhotoRecord(str(root / "note.jpg"), 1, 1, caption="A red door.", labels=())])
    # "red" is the caption of note.jpg and only a label of red.jpg (its caption says corner too)
    index.upsert(
        [
            PhotoRecord(
                str(root / f"x{i}.jpg"), 1, 1, caption="Wall.", label_words="red", labels=()
            )
            for i in range(5)
        ]
    )
    names = [Path(h.path).name for h in search(index, "red").hits]
    assert set(names[:2]) == {"note.jpg", "red.jpg"}  # captions hold "red"
    assert set(names[2:]) == {f"x{i}.jpg" for i in range(5)}
    assert [Path(h.path).name for h in search(index, "red", limit=2).hits] == names[:2]


def test_no_keywords_leaves_the_photos_keywords_alone(root: Path, index) -> None:
    run(index, [root], keywords=False)
    assert read_keywords(root / "red.jpg").keywords == ()
    assert index.get(root / "red.jpg").label_words == "red colourswatch"  # still indexed


def test_a_persons_keywords_survive_a_run_and_a_rerun(root: Path, index) -> None:
    photo = root / "red.jpg"
    subprocess.run(
        ["exiftool", "-q", "-overwrite_original", "-XMP-dc:Subject=Grandma", str(photo)], check=True
    )
    run(index, [root])
    run(index, [root], overwrite=True)  # re-captioned: our keywords replaced, theirs kept
    found = read_keywords(photo)
    assert found.human == ("Grandma",) and found.photocap == ("red", "colour swatch")
    listed = subprocess.run(
        ["exiftool", "-s3", "-sep", "|", "-XMP-dc:Subject", str(photo)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert listed.split("|") == ["Grandma", "red", "colour swatch"]


def test_an_index_built_before_labels_gains_them_on_the_next_run(root: Path, index, db) -> None:
    run(index, [root])
    human = root / "human.jpg"
    displayed("blue").save(human, quality=90)
    subprocess.run(
        ["exiftool", "-q", "-overwrite_original", "-XMP-dc:Description=Our blue wall", str(human)],
        check=True,
    )
    run(index, [root])
    before = human.read_bytes()
    with sqlite3.connect(db) as conn:  # as an index built before labels existed leaves them
        conn.execute("UPDATE photos SET labels = NULL, label_words = NULL")
    for photo in (root / "red.jpg", root / "green.png"):
        assert read_caption(photo).source == "model"
    factory = Factory()
    summary = run(index, [root], factory)

    assert summary.labelled == 3 and summary.unchanged == 3 and summary.captioned == 0
    assert factory.captioner.photos == 3  # read again, labelled, not captioned
    after = rows(db)
    assert (
        after[str(human)]["caption"] == "Our blue wall" and after[str(human)]["source"] == "human"
    )
    assert human.read_bytes() == before  # a person's photo is left as they made it
    assert index.get(human).labels[0].name == "blue" and search(index, "blue").hits
    assert read_keywords(root / "red.jpg").photocap == ("red", "colour swatch")
    assert run(index, [root], Factory(fail=True)).unchanged == 3


class UnlabelledCaptioner(ColourCaptioner):
    """A model without an ImageNet head: it captions, and labels nothing."""

    def label_features(self, features):
        return [() for _ in features]


def test_a_photo_reused_from_another_index_is_left_as_it_is(root: Path, tmp_path: Path) -> None:
    """Written by photocap with no keywords (a model that cannot label), indexed elsewhere: the
    labelling pass of the second index must not rewrite it (a killed run's rerun relies on it)."""
    with open_index(tmp_path / "first.db") as first:
        assert run(first, [root], Factory(UnlabelledCaptioner())).captioned == 2
    before = {p.name: p.read_bytes() for p in root.iterdir()}
    with open_index(tmp_path / "second.db") as second:
        summary = run(second, [root], Factory(UnlabelledCaptioner()))
        assert summary.reused == 2 and summary.captioned == 0
        assert second.get(root / "red.jpg").labels == ()
    assert {p.name: p.read_bytes() for p in root.iterdir()} == before
