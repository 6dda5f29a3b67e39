"""Crash safety: a writer killed with SIGKILL at random moments never leaves a broken photo."""

from __future__ import annotations

import multiprocessing
import os
import random
import re
import shutil
import signal
import time
from pathlib import Path

import numpy as np
import pytest
from metadata_helpers import canon_exif, jpeg_scan_data, pixels, save_photo

from photocap.metadata import (
    read_caption,
    remove_stale_temp_files,
    write_caption,
)
from photocap.photos.kinds import is_photocap_file

COPIES = 200
KILLS = 25


def writer(folder: Path, start: int, ready) -> None:
    """Caption every photo in `folder` over and over, from `start` on, until killed."""
    files = sorted(folder.glob("*.jpg"))
    ready.set()
    n = 0
    while True:
        for f in files[start:] + files[:start]:
            n += 1
            # Captions of varying length: EXIF rewritten in place or appended, XMP grows and shrinks.
            text = f"caption {n} for {f.name}" + " with more words" * (n % 7)
            write_caption(f, text, model_id="crash-test")
        start = 0


@pytest.mark.slow
def test_sigkill_during_writes_never_breaks_a_photo(tmp_path: Path):
    original = save_photo(tmp_path / "original.jpg", "jpeg", exif=canon_exif())
    want_pixels, want_scan = pixels(original), jpeg_scan_data(original.read_bytes())
    folder = tmp_path / "copies"
    folder.mkdir()
    for i in range(COPIES):
        shutil.copy2(original, folder / f"photo_{i:03d}.jpg")

    rng = random.Random(1234)
    fork = multiprocessing.get_context("fork")  # the child starts writing at once, modules loaded
    kills, started = 0, time.monotonic()
    while kills < KILLS:
        ready = fork.Event()
        child = fork.Process(target=writer, args=(folder, rng.randrange(COPIES), ready))
        child.start()
        assert ready.wait(30), "writer did not start"
        time.sleep(rng.uniform(0.01, 0.3))
        assert child.is_alive(), f"writer died by itself (exit code {child.exitcode})"
        os.kill(child.pid, signal.SIGKILL)
        child.join()
        assert child.exitcode == -signal.SIGKILL
        kills += 1
    elapsed = time.monotonic() - started

    photos = sorted(folder.glob("*.jpg"))
    leftovers = [p for p in folder.iterdir() if p not in photos]
    assert len(photos) == COPIES
    assert all(is_photocap_file(p) for p in leftovers), (
        leftovers
    )  # only recognisable temporary files
    captioned = 0
    for photo in photos:
        assert np.array_equal(pixels(photo), want_pixels), photo
        assert jpeg_scan_data(photo.read_bytes()) == want_scan, photo
        record = read_caption(photo)
        if record is not None:
            assert record.source == "model" and record.model_id == "crash-test"
            assert re.fullmatch(rf"caption \d+ for {photo.name}( with more words)*", record.text)
            captioned += 1
    assert captioned >= 20, "the writers barely wrote anything; the kills proved little"
    assert (
        remove_stale_temp_files(folder, min_age_s=3600) == []
    )  # too young: might be a live writer's
    assert sorted(remove_stale_temp_files(folder, min_age_s=0)) == sorted(leftovers)
    assert sorted(folder.iterdir()) == photos
    print(
        f"\n{kills} SIGKILLs in {elapsed:.1f} s over {COPIES} copies: {captioned} captioned, "
        f"{len(leftovers)} orphaned temporary files, every photo intact"
    )
