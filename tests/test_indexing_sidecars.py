"""A caption a person writes into an XMP sidecar alone (the photo untouched) is noticed on the
next run: the index remembers the sidecars' newest mtime beside the photo's size and mtime.

The sidecars are edited with ExifTool, as a photo manager would; the photos are real files and
the index a real SQLite database. Captions come from indexing_helpers' `ColourCaptioner`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from index_helpers import rows
from indexing_helpers import Factory, displayed, run

from photocap.metadata import read_caption, sidecar_path
from photocap.store.search import search

pytestmark = pytest.mark.skipif(shutil.which("exiftool") is None, reason="needs ExifTool")


def exiftool_describe(sidecar: Path, text: str) -> None:
    """Set dc:description in `sidecar` (created if missing), as a person's photo manager would."""
    subprocess.run(
        ["exiftool", "-q", "-overwrite_original", f"-XMP-dc:Description={text}", str(sidecar)],
        check=True,
    )


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "Pictures"
    root.mkdir()
    displayed("green").save(root / "garden.png")  # captioned into garden.png.xmp
    displayed("red").save(root / "plain.jpg", quality=92)  # captioned into the JPEG itself
    return root


def test_a_human_caption_written_into_our_sidecar_is_indexed_without_the_model(
    root: Path, index, db: Path
) -> None:
    photo = root / "garden.png"
    assert run(index, [root]).sidecar == 1
    assert rows(db)[str(photo)]["sidecar_mtime_ns"] == sidecar_path(photo).stat().st_mtime_ns
    before = photo.read_bytes()

    exiftool_describe(sidecar_path(photo), "Tomatoes ripening on the balcony")
    factory = Factory(fail=True)
    summary = run(index, [root], factory)

    assert (summary.human, summary.unchanged, summary.captioned) == (1, 1, 0)
    row = rows(db)[str(photo)]
    assert (row["caption"], row["source"]) == ("Tomatoes ripening on the balcony", "human")
    assert search(index, "tomato").hits[0].path == str(photo)
    assert photo.read_bytes() == before and factory.calls == 0
    assert run(index, [root], Factory(fail=True)).unchanged == 2  # and now it is settled


def test_a_lightroom_sidecar_beside_an_embedded_caption_wins(root: Path, index, db: Path) -> None:
    photo = root / "plain.jpg"
    run(index, [root])
    assert rows(db)[str(photo)]["sidecar_mtime_ns"] is None

    exiftool_describe(root / "plain.xmp", "Grandma's red front door")  # Lightroom's name
    summary = run(index, [root], Factory(fail=True))

    assert summary.human == 1
    assert rows(db)[str(photo)]["caption"] == "Grandma's red front door"
    assert read_caption(photo).location == root / "plain.xmp"


def test_a_sidecar_touched_without_a_new_caption_keeps_the_row(root: Path, index, db) -> None:
    photo = root / "garden.png"
    run(index, [root])
    before = rows(db)[str(photo)]
    side = sidecar_path(photo)
    subprocess.run(  # a rating changed in the sidecar, the caption is still photocap's
        ["exiftool", "-q", "-overwrite_original", "-XMP-xmp:Rating=4", str(side)], check=True
    )

    summary = run(index, [root], Factory(fail=True))

    assert summary.unchanged == 2 and summary.human == summary.reused == 0
    after = rows(db)[str(photo)]
    assert (after["id"], after["caption"], after["source"]) == (
        before["id"],
        "A green corner.",
        "model",
    )
    assert after["sidecar_mtime_ns"] == side.stat().st_mtime_ns != before["sidecar_mtime_ns"]


def test_a_deleted_sidecar_gets_its_caption_again(root: Path, index, db) -> None:
    photo = root / "garden.png"
    run(index, [root])
    sidecar_path(photo).unlink()

    factory = Factory()
    summary = run(index, [root], factory)

    assert summary.captioned == 1 and factory.captioner.photos == 1
    assert read_caption(photo).text == "A green corner." == rows(db)[str(photo)]["caption"]


def test_overwrite_replaces_a_human_sidecar_caption(root: Path, index, db) -> None:
    photo = root / "garden.png"
    run(index, [root])
    exiftool_describe(sidecar_path(photo), "Tomatoes ripening on the balcony")
    run(index, [root])
    assert rows(db)[str(photo)]["source"] == "human"

    summary = run(index, [root], overwrite=True)

    assert summary.captioned == 1
    row = rows(db)[str(photo)]
    assert (row["caption"], row["source"]) == ("A green corner.", "model")
    assert read_caption(photo).text == "A green corner."
    assert run(index, [root], Factory(fail=True)).unchanged == 2


def test_discovery_alone_sees_a_sidecar_edit(root: Path, index, db) -> None:
    """The rerun's fast path (no file opened) must not vouch for a photo whose sidecar changed."""
    photo = root / "garden.png"
    run(index, [root])
    side = sidecar_path(photo)
    exiftool_describe(side, "Tomatoes ripening on the balcony")
    os.utime(side, ns=(side.stat().st_atime_ns, rows(db)[str(photo)]["sidecar_mtime_ns"] + 1))

    assert run(index, [root], Factory(fail=True)).human == 1


def test_sidecar_mtimes_from_a_folder_listing_match_asking_the_disk(tmp_path: Path) -> None:
    """A rerun asks only for the sidecars its folder listing holds (no stat for the others)."""
    from photocap.metadata import sidecars_mtime_ns

    photo = tmp_path / "IMG_1.JPG"
    photo.write_bytes(b"not a photo")

    def listed() -> set[str]:
        return {name.lower() for name in os.listdir(tmp_path)}

    assert sidecars_mtime_ns(photo, listed()) is None and sidecars_mtime_ns(photo) is None
    for name, mtime in (("IMG_1.XMP", 5_000_000_000), ("IMG_1.JPG.xmp", 7_000_000_000)):
        (tmp_path / name).write_text("<x:xmpmeta xmlns:x='adobe:ns:meta/'/>")
        os.utime(tmp_path / name, ns=(mtime, mtime))
        assert sidecars_mtime_ns(photo, listed()) == sidecars_mtime_ns(photo) == mtime
    assert sidecars_mtime_ns(photo, set()) is None  # a listing without them: none asked for
