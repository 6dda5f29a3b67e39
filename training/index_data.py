"""`photocap train --from-index`: the captions people wrote or accepted (source "human" in the
index, e.g. corrected on `photocap review`), as the `image,caption` CSV that training reads.

The CSV is a snapshot of the index at the start of the run (absolute paths, sorted), so a run is
reproducible and `--resume` notices when the captions changed since.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

from photocap.training.user_data import MIN_IMAGES

from photocap.errors import DataError
from photocap.paths import data_dir, new_file
from photocap.store import listing
from photocap.store.index import open_index


def default_csv() -> Path:
    """Where the snapshot goes: `<data dir>/training/from-index.csv` (the model: from-index)."""
    return data_dir() / "training" / "from-index.csv"


def human_captions(
    db_url: str | os.PathLike[str] | None, under: str | os.PathLike[str] | None = None
) -> list[tuple[str, str]]:
    """(path, caption) of every photo in the index whose caption a person wrote or accepted,
    inside folder `under` when given, by path."""
    with open_index(db_url, create=False) as index:
        return listing.human_captions(index, under)


def export_captions(
    db_url: str | os.PathLike[str] | None,
    under: str | os.PathLike[str] | None = None,
    out: Path | None = None,
) -> tuple[Path, int]:
    """Writes the index's human captions as an `image,caption` CSV; returns (its path, rows).

    Raises DataError when fewer than MIN_IMAGES photos have one (nothing to learn from yet).
    """
    rows = human_captions(db_url, under)
    if len(rows) < MIN_IMAGES:
        where = f" under {under}" if under is not None else ""
        raise DataError(
            f"the index holds {len(rows)} photo(s){where} with a caption a person wrote or "
            f"accepted; at least {MIN_IMAGES} are needed",
            hint="correct or accept captions with: photocap review",
        )
    out = out or default_csv()
    with new_file(out) as tmp, open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(("image", "caption"))
        writer.writerows(rows)
    return out, len(rows)
