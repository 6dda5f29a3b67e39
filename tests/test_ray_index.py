"""`photocap index --ray` on a real local Ray cluster (two worker processes): the same captions and
rows as a plain run, and a worker process killed mid-run loses nothing and writes nothing twice."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import time
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image

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


def library(root: Path, real_photos: dict[str, Path], copies: int = 1) -> Path:
    root.mkdir()
    for i in range(copies):
        for name, path in real_photos.items():
            shutil.copy(path, root / f"{name}-{i}.jpg")
    Image.new("RGB", (64, 64)).save(root / "black.jpg")
    Image.new("RGB", (1, 1)).save(root / "pixel.png")
    (root / "broken.jpg").write_bytes(b"\xff\xd8\xff not a JPEG")
    return root


def rows(db: Path, root: Path) -> dict[str, tuple]:
    """The rows by file name, the folder taken out of error messages."""
    with sqlite3.connect(db) as conn:
        query = """SELECT path, caption, source, model_id, confidence, held_back, labels,
                          label_words, width, height, status, error FROM photos"""
        return {
            Path(p).name: (*rest, error and error.replace(str(root), "ROOT"))
            for p, *rest, error in conn.execute(query)
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

    assert (
        (remote.captioned, remote.declined, len(remote.failed))
        == (
            plain.captioned,
            plain.declined,
            len(plain.failed),
        )
        == (len(real_photos) + 1, 1, 1)
    )
    assert rows(tmp_path / "r.db", ray_root) == rows(tmp_path / "p.db", plain_root)
    for name in (p.name for p in plain_root.iterdir() if p.name != "broken.jpg"):
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
    photos = [p for p in root.iterdir() if p.suffix == ".jpg" and p.name != "broken.jpg"]
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
    assert summary.captioned == len(photos) and list(summary.failed) == [str(root / "broken.jpg")]
    done = Counter(o.path for o in outcomes if o.outcome == "captioned")
    assert all(n == 1 for n in done.values()) and len(done) == len(photos)  # each once
    indexed = rows(tmp_path / "i.db", root)
    for photo in photos:
        written = read_caption(photo)
        assert written is not None and written.text == indexed[photo.name][0], photo
