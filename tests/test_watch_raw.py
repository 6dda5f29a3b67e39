"""`photocap watch` with camera RAW files: a RAW still being copied is not read half-written
(a half RAW would fail as truncated), and once complete it is captioned into its sidecar, its
own bytes unchanged. The real daemon in a subprocess, as in tests/test_watch.py."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
from raw_helpers import dng_bytes
from skimage import data
from watch_helpers import Daemon, event_time, sha256

from photocap.metadata import read_caption, sidecar_path
from photocap.store.index import open_index


@pytest.mark.slow
def test_a_raw_still_being_copied_is_captioned_once_complete(tmp_path: Path, tiny_model) -> None:
    root = tmp_path / "photos"
    root.mkdir()
    daemon = Daemon(root, tmp_path / "index.db", tiny_model)
    try:
        daemon.wait_for("caught-up")
        whole = dng_bytes(data.astronaut(), preview=data.astronaut())
        target = root / "DSC_0001.NEF"
        pieces = 12
        with open(target, "wb") as f:  # a card reader's copy: chunk by chunk over a second
            for i in range(pieces):
                f.write(whole[i * len(whole) // pieces : (i + 1) * len(whole) // pieces])
                f.flush()
                time.sleep(0.1)
            assert not daemon.of("captioned", path=target) and not daemon.of("failed", path=target)
        closed = time.time()

        event = daemon.wait_for("captioned", target)

        assert event_time(event) >= closed - 0.002  # not before the file was complete
        assert event["written"] == "sidecar" and not daemon.of("failed", path=target)
        assert target.read_bytes() == whole  # the RAW itself is never written
        assert read_caption(target).text == event["caption"]
        assert read_caption(target).location == sidecar_path(target)
        with open_index(str(tmp_path / "index.db")) as index:
            row = index.get(target)
        assert (row.caption, row.sha256, row.width) == (event["caption"], sha256(target), 512)

        copy = root / "DSC_0002.NEF"  # a second one, copied whole: captioned too, once
        shutil.copyfile(target, copy)
        assert daemon.wait_for("captioned", copy)["written"] == "sidecar"
        time.sleep(1.5)  # the sidecar writes came back as events: nothing captioned twice
        assert (
            len(daemon.of("captioned", path=target)) == len(daemon.of("captioned", path=copy)) == 1
        )
    finally:
        assert daemon.stop() == 0, daemon.stderr()
