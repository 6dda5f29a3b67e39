"""Camera RAW decoding on real DNGs (pidng, Bayer data from a real photo): the embedded preview
when it is big enough, else LibRaw's half-size render; orientation, size limits, truncation."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from raw_helpers import dng_bytes, write_dng
from skimage import data

from photocap.errors import ImageError
from photocap.photos import raw
from photocap.photos.decode import decode_photo
from photocap.photos.discover import discover
from photocap.photos.kinds import sniff_format

CHELSEA = data.chelsea()[:, :450]  # (300, 450, 3): a cat, landscape
COFFEE = np.asarray(Image.fromarray(data.coffee()).resize((450, 300)))  # a cup: another photo


def similarity(image: Image.Image, expected: np.ndarray) -> float:
    """Correlation of the two pictures' gray levels at 64×64 (1: the same picture)."""
    a = np.asarray(image.convert("L").resize((64, 64)), np.float32).ravel()
    b = np.asarray(Image.fromarray(expected).convert("L").resize((64, 64)), np.float32).ravel()
    return float(np.corrcoef(a, b)[0, 1])


def source_of(path: Path, min_side: int | None = 224) -> str:
    with raw.open_raw(path) as camera_raw:
        return raw.picture(camera_raw, path, min_side, 10**9)[1]


def test_a_dng_without_preview_is_rendered_by_libraw(tmp_path: Path) -> None:
    path = write_dng(tmp_path / "IMG_0001.DNG", CHELSEA)
    assert sniff_format(path) == "raw" and list(discover(tmp_path)) == [path]
    photo = decode_photo(path, min_side=100)
    assert (photo.format, photo.width, photo.height) == ("raw", 450, 300)
    assert photo.image.mode == "RGB" and photo.image.size == (225, 150)  # half size
    assert similarity(photo.image, CHELSEA) > 0.9 > 0.3 > similarity(photo.image, COFFEE)
    assert source_of(path) == "render"
    colours = np.asarray(photo.image, np.float32).mean(axis=(0, 1))
    assert colours[0] > colours[1] > colours[2]  # the ginger cat stays ginger (white balance)


def test_a_big_enough_embedded_preview_is_used(tmp_path: Path) -> None:
    # the preview shows another photo, so the caption's source is visible
    path = write_dng(tmp_path / "IMG_0002.dng", CHELSEA, preview=COFFEE)
    photo = decode_photo(path, min_side=224)
    assert (photo.width, photo.height) == (450, 300)  # the sensor's size, not the preview's
    assert similarity(photo.image, COFFEE) > 0.95 and source_of(path) == "preview"
    assert min(photo.image.size) >= 224


def test_a_preview_smaller_than_the_model_input_is_not_used(tmp_path: Path) -> None:
    small = np.asarray(Image.fromarray(COFFEE).resize((150, 100)))
    path = write_dng(tmp_path / "IMG_0003.dng", CHELSEA, preview=small)
    assert source_of(path, 224) == "render"
    assert similarity(decode_photo(path, min_side=224).image, CHELSEA) > 0.9
    assert source_of(path, 64) == "preview"  # big enough for a smaller model input


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_both_pictures_are_oriented_as_the_raw_says(tmp_path: Path, orientation: int) -> None:
    with_preview = write_dng(tmp_path / "p.dng", CHELSEA, preview=CHELSEA, orientation=orientation)
    rendered = write_dng(tmp_path / "r.dng", CHELSEA, orientation=orientation)
    for path, source in ((with_preview, "preview"), (rendered, "render")):
        photo = decode_photo(path, min_side=100)
        assert source_of(path, 100) == source
        assert (photo.width, photo.height) == (450, 300), source  # landscape, as shown
        assert photo.image.width > photo.image.height, source
        assert similarity(photo.image, CHELSEA) > 0.9, source


def test_a_raw_over_the_pixel_limit_is_refused_before_decoding(tmp_path: Path) -> None:
    path = write_dng(tmp_path / "big.dng", CHELSEA, preview=CHELSEA)
    with pytest.raises(ImageError) as caught:
        decode_photo(path, max_pixels=100_000)
    assert caught.value.message.startswith("too large: 450×300")


@pytest.mark.parametrize("keep", [0.5, 0.97])  # into the sensor data; into the preview
def test_a_truncated_raw_says_so_naming_the_file(tmp_path: Path, keep: float) -> None:
    whole = dng_bytes(CHELSEA, preview=CHELSEA)
    path = tmp_path / "cut.dng"
    path.write_bytes(whole[: int(len(whole) * keep)])
    with pytest.raises(ImageError) as caught:
        decode_photo(path)
    assert caught.value.message.startswith("truncated RAW: the file ends at byte")
    assert caught.value.path == path and "backup" in caught.value.hint


def test_a_damaged_raw_says_what_libraw_says(tmp_path: Path) -> None:
    path = tmp_path / "DSC_0001.NEF"
    path.write_bytes(b"II*\x00\x08\x00\x00\x00" + bytes(200))  # a TIFF header, nothing inside
    with pytest.raises(ImageError, match="unsupported or damaged camera RAW file"):
        decode_photo(path)
    (tmp_path / "IMG_0001.CR3").write_bytes(bytes(4) + b"ftypcrx " + bytes(100))
    with pytest.raises(ImageError, match="RAW"):
        decode_photo(tmp_path / "IMG_0001.CR3")


def test_a_worker_forked_after_a_render_does_not_hang(tmp_path: Path) -> None:
    """rawpy's OpenMP thread pool does not survive fork(): photocap holds LibRaw to one thread,
    so a DataLoader worker forked after the parent rendered a RAW renders too (a fresh process,
    as `photocap watch` decodes small batches in-process and forks workers for big ones)."""
    path = write_dng(tmp_path / "IMG_0001.dng", CHELSEA)
    script = f"""
import multiprocessing, sys
from photocap.photos.decode import decode_photo
def child(queue):
    queue.put(decode_photo({str(path)!r}, min_side=100).image.size)
print(decode_photo({str(path)!r}, min_side=100).image.size, flush=True)
context = multiprocessing.get_context("fork")
queue = context.Queue()
worker = context.Process(target=child, args=(queue,))
worker.start()
worker.join(30)
print("hung" if worker.is_alive() else queue.get(), flush=True)
if worker.is_alive():
    worker.kill()
"""
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
    )
    assert done.stdout.split("\n")[:2] == ["(225, 150)", "(225, 150)"], done.stdout + done.stderr
    assert "rawpy is being used" not in done.stderr
