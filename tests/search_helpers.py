"""A photo library with known captions for the search tests (test_search, test_cli_search)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from photocap.store.index import PhotoRecord, open_index

# (file inside the library, scikit-image picture, caption, source)
PHOTOS = [
    ("2023/beach/gravel.jpg", "gravel", "A dog runs along the sand at the beach", "model"),
    ("2023/beach/grass.png", "grass", "Two dogs running across the grass", "model"),
    ("2023/city/motorcycle.jpg", "motorcycle_left", "A red motorcycle parked in a garage", "human"),
    ("2023b/motorcycle.jpg", "motorcycle_right", "A motorcycle with a red fuel tank", "model"),
    ("100%_done/coffee.jpg", "coffee", "A cup of coffee on a saucer", "model"),
    ("100%_done/chelsea.jpg", "chelsea", "A ginger cat sits on a wooden floor", "human"),
    ("1000_done/rocket.jpg", "rocket", "A rocket on the launch pad under a blue sky", "model"),
    (
        "café ☕/astronaut.jpg",
        "astronaut",
        "An astronaut in a white spacesuit next to a flag",
        "model",
    ),
    ("camera.png", "camera", "A man in a dark coat looks through a camera", "human"),
]


def picture(name: str):
    from skimage import data

    if name.startswith("motorcycle_"):
        left, right, _ = data.stereo_motorcycle()
        return left if name.endswith("left") else right
    return getattr(data, name)()


def build_search_library(root: Path, db: Path | str) -> tuple[Path, Path | str]:
    """PHOTOS as real image files under `root` (and a broken one), indexed through the Index API
    into `db` (an SQLite file or a PostgreSQL URL): (root, db)."""
    from PIL import Image

    records = []
    for relative, name, caption, source in PHOTOS:
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(picture(name)).save(path)
        with Image.open(path) as image:
            width, height = image.size
        st = path.stat()
        records.append(
            PhotoRecord(
                path=str(path),
                size=st.st_size,
                mtime_ns=st.st_mtime_ns,
                sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
                width=width,
                height=height,
                caption=caption,
                source=source,
                model_id="photocap-test" if source == "model" else None,
            )
        )
    broken = root / "broken.jpg"
    broken.write_bytes(b"not an image")
    records.append(
        PhotoRecord(path=str(broken), size=12, mtime_ns=1, status="error", error="not an image")
    )
    with open_index(db) as index:
        index.upsert(records)
        index.add_root(root)
    return root, db


def p(library: tuple[Path, Path | str], relative: str) -> str:
    """The path of a photo of the library as the index holds it."""
    return str(library[0] / relative)


# queries a user may type that the full-text engines read as syntax: search answers them all
HOSTILE = [
    '"unbalanced dog',
    'dog"',
    "(dog",
    "dog)",
    "dog*",
    "*dog",
    "-dog",
    "dog -beach",
    "caption:dog",
    "photos_fts:dog",
    "{caption}: dog",
    "NEAR",
    "NEAR(dog beach)",
    "NEAR(dog beach, 2)",
    "dog NEAR beach",
    "AND",
    "OR",
    "NOT",
    "dog AND",
    "OR dog",
    "dog NOT beach",
    "AND OR NOT",
    "^dog",
    "dog + beach",
    "'; DROP TABLE photos; --",
    "' OR '1'='1",
    '" OR rowid > 0 --',
    "dog\x00beach",
    "dog\\beach",
    "dog%",
    "chien 🐕 plage",
    "x" * 10_000,
    "dog " * 2_500,
    '"' + "dog " * 2_500 + '"',
]
