"""`photocap index --ray` on a real local Ray cluster (two worker processes): the same captions and
rows as a plain run, and a worker process killed mid-run loses nothing and writes nothing twice."""

from __future__ import annotations

import os
import shutil
import signal
import time
from collections import Counter
from pathlib import Path

import pytest
from index_helpers import rows
from PIL import Image
from raw_helpers import write_dng

from photocap.indexing import IndexOptions, index_photos
from photocap.metadata import read_caption

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'photocap[ray]')")
from photocap.indexing.ray_captioning import RayOptions  # noqa: E402

pytestmark = pytest.mark.slow
OPTIONS = IndexOptions(beam=1, batch_size=2, workers=0, min_confidence=0)


@pytest.fixture(scope="module")
def cluster():
    """A local Ray cluster of two CPUs, started by the test and shut down after it."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


COLUMNS = ("caption", "source", "model_id", "confidence", "held_back", "labels", "label_words")
COLUMNS += ("width", "height", "status", "error")


def library(root: Path, real_photos: dict[str, Path], copies: int = 1) -> Path:
    root.mkdir()
    for i in range(copies):
        for name, path in real_photos.items():
            shutil.copy(path, root / f"{name}-{i}.jpg")
    coffee = Image.open(real_photos["coffee"]).convert("RGB")
    coffee.save(root / "pair.jpg", quality=92)  # a RAW + JPEG pair: captioned once, both written
    write_dng(root / "pair.dng", coffee)
    write_dng(root / "alone.dng", Image.open(real_photos["chelsea"]).convert("RGB"))
    Image.new("RGB", (64, 64)).save(root / "black.jpg")
    Image.new("RGB", (1, 1)).save(root / "pixel.png")
    (root / "broken.jpg").write_bytes(b"\xff\xd8\xff not a JPEG")
    return root


def comparable_rows(db: Path, root: Path) -> dict[str, tuple]:
    """The rows by file name, the folder taken out of error messages."""
    found = rows(db, *COLUMNS, by="name")
    return {
        name: (*rest, error and error.replace(str(root), "ROOT"))
        for name, (*rest, error) in found.items()
    }


def worker_pids() -> list[int]:
    """This machine's PhotoWorker actor processes (Ray names them in their command line)."""
    pids = []
    for entry in os.scandir("/proc"):
        try:
            with open(f"/proc/{entry.name}/cmdline", "rb") as f:
                if entry.name.isdigit() and f.read().startswith(b"ray::PhotoWorker"):
                    pids.append(int(entry.name))
        except OSError:
            continue
    return pids


def test_ray_captions_the_same_photos_to_the_same_rows(
    cluster, tmp_path: Path, tiny_model: Path, real_photos
):
    plain_root = library(tmp_path / "plain", real_photos)
    ray_root = library(tmp_path / "ray", real_photos)

    plain = index_photos([plain_root], db=tmp_path / "p.db", model=tiny_model, options=OPTIONS)
    remote = index_photos(
        [ray_root],
        db=tmp_path / "r.db",
        model=tiny_model,
        options=OPTIONS,
        ray=RayOptions(workers=2),
    )

    counts = (remote.captioned, remote.paired, remote.declined, len(remote.failed))
    assert counts == (plain.captioned, plain.paired, plain.declined, len(plain.failed))
    assert counts == (len(real_photos) + 3, 1, 1, 1)  # + the pair's JPEG, the lone RAW, black
    assert comparable_rows(tmp_path / "r.db", ray_root) == comparable_rows(
        tmp_path / "p.db", plain_root
    )
    for name in (p.name for p in plain_root.iterdir() if p.suffix in (".jpg", ".png", ".dng")):
        if name == "broken.jpg":
            continue
        assert read_caption(ray_root / name) == _moved(read_caption(plain_root / name), ray_root)
    deadline = time.monotonic() + 60
    while ray.available_resources().get("CPU") != 2 and time.monotonic() < deadline:
        time.sleep(0.2)  # the killed actors give their CPUs back soon
    assert ray.available_resources().get("CPU") == 2  # the run let go of its actors


def _moved(record, root: Path):
    return (
        None
        if record is None
        else record.__class__(**{**vars(record), "location": root / record.location.name})
    )


def test_a_worker_killed_mid_run_loses_nothing(
    cluster, tmp_path: Path, tiny_model: Path, real_photos
):
    root = library(tmp_path / "many", real_photos, copies=8)
    photos = [p for p in root.iterdir() if p.suffix in (".jpg", ".dng") and p.name != "broken.jpg"]
    outcomes: list = []
    killed: list[int] = []

    def on_photo(outcome) -> None:
        outcomes.append(outcome)
        if not killed and (pids := worker_pids()):
            os.kill(pids[0], signal.SIGKILL)  # while the other batches are in flight
            killed.append(pids[0])

    summary = index_photos(
        [root],
        db=tmp_path / "i.db",
        model=tiny_model,
        options=OPTIONS,
        on_photo=on_photo,
        ray=RayOptions(workers=2),
    )

    assert killed
    assert (summary.captioned + summary.paired, summary.paired) == (len(photos), 1)
    assert list(summary.failed) == [str(root / "broken.jpg")]
    done = Counter(o.path for o in outcomes if o.outcome in ("captioned", "paired"))
    assert all(n == 1 for n in done.values()) and len(done) == len(photos)  # each once
    indexed = comparable_rows(tmp_path / "i.db", root)
    for photo in photos:
        written = read_caption(photo)
        assert written is not None and written.text == indexed[photo.name][0], photo
