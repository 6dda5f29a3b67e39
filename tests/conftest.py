"""Shared fixtures: the Flickr8k data beside the repo, real photos, a tiny seeded model."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FLICKR8K = Path(os.environ.get("PHOTOCAP_FLICKR8K", REPO.parent / "shared" / "data" / "flickr8k"))


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory, monkeypatch):
    """Never touch the user's data dir, database or default model."""
    home = tmp_path_factory.mktemp("photocap-home")
    monkeypatch.setenv("PHOTOCAP_HOME", str(home))
    monkeypatch.delenv("PHOTOCAP_DB", raising=False)
    monkeypatch.delenv("PHOTOCAP_MODEL", raising=False)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """A new database's path (tests of a module may name another)."""
    return tmp_path / "index.db"


@pytest.fixture
def index(db: Path):
    """The index at `db`, open for the test."""
    from photocap.store.index import open_index

    with open_index(db) as opened:
        yield opened


@pytest.fixture(scope="session")
def flickr8k() -> Path:
    """The Flickr8k folder from ../shared; tests that need it skip where it is absent."""
    if not (FLICKR8K / "captions.txt").exists():
        pytest.skip(
            f"Flickr8k data not found at {FLICKR8K} (../shared is only beside CI and dev clones)"
        )
    return FLICKR8K


@pytest.fixture(scope="session")
def postgres_server():
    """A real PostgreSQL server for the session (tests/postgres_server.py); skips without one."""
    from postgres_server import PostgresServer, find_bin_dir

    bin_dir = find_bin_dir()
    if bin_dir is None:
        pytest.skip("PostgreSQL's initdb/pg_ctl not found (Debian: apt-get install postgresql)")
    pytest.importorskip(
        "psycopg", reason="psycopg not installed (pip install 'photocap[postgres]')"
    )
    server = PostgresServer(bin_dir)
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_url(postgres_server) -> str:
    """A new, empty PostgreSQL database's URL."""
    return postgres_server.new_database()


@pytest.fixture(scope="session")
def rich_originals(tmp_path_factory):
    """One photo per format carrying a camera's and Lightroom's metadata (metadata_helpers.rich_photo),
    read by ExifTool once a session: {fmt: Original(path, tags, warnings)}. Never write to them."""
    from metadata_helpers import FORMATS, Original, read_tags, rich_photo, validation_warnings

    folder = tmp_path_factory.mktemp("rich-originals")
    paths = [rich_photo(folder, fmt) for fmt in FORMATS]
    found = zip(FORMATS, paths, read_tags(*paths), validation_warnings(*paths), strict=True)
    return {fmt: Original(path, tags, warnings) for fmt, path, tags, warnings in found}


@pytest.fixture
def rich(rich_originals, tmp_path: Path):
    """`rich(fmt)`: (a copy of the rich photo in `fmt` for the test to change, its Original)."""
    import shutil

    def copy(fmt: str):
        original = rich_originals[fmt]
        return Path(shutil.copy2(original.path, tmp_path / original.path.name)), original

    return copy


@pytest.fixture(scope="module")
def review_library(tmp_path_factory, tiny_model):
    """(photo folder, SQLite index) from review_helpers.build_library: indexed for real by the tiny
    model, one per test module (the modules' saves change it)."""
    from review_helpers import build_library

    return build_library(tmp_path_factory.mktemp("review"), tiny_model)


@pytest.fixture(scope="module")
def review_server(review_library, tmp_path_factory):
    """`photocap review` running on `review_library` in a subprocess (review_helpers.Server)."""
    from review_helpers import start_review

    running = start_review(review_library[1], tmp_path_factory.mktemp("cache"))
    yield running
    assert running.stop() == 0


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def search_library(request, tmp_path_factory):
    """(photo folder, index): search_helpers.PHOTOS, real images with known captions, indexed
    through the Index API into an SQLite file or a PostgreSQL database (its URL); once per module."""
    from search_helpers import build_search_library

    db = tmp_path_factory.mktemp("db") / "index.db"
    if request.param == "postgresql":
        db = request.getfixturevalue("postgres_server").new_database()
    return build_search_library(tmp_path_factory.mktemp("library"), db)


@pytest.fixture(scope="session")
def shipped_model() -> Path:
    from photocap.paths import shipped_model_path

    path = shipped_model_path()
    assert path.exists(), f"shipped model missing: {path}"
    return path


@pytest.fixture(scope="session")
def real_photos(tmp_path_factory) -> dict[str, Path]:
    """A few real photos (scikit-image's bundled ones) saved as JPEG."""
    from PIL import Image
    from skimage import data

    folder = tmp_path_factory.mktemp("real-photos")
    photos = {}
    for name in ("chelsea", "astronaut", "coffee", "rocket"):
        path = folder / f"{name}.jpg"
        Image.fromarray(getattr(data, name)()).save(path, quality=92)
        photos[name] = path
    return photos


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """A small, seeded, untrained model (ResNet-18 encoder, tiny decoder): fast, deterministic captions."""
    import torch

    from photocap.model.checkpoint import ModelInfo, save_model
    from photocap.model.decoder import AttentionDecoder, DecoderConfig
    from photocap.model.encoders import Encoder, get_spec
    from photocap.model.vocab import Vocabulary

    torch.manual_seed(0)
    words = [
        "a",
        "dog",
        "cat",
        "man",
        "woman",
        "runs",
        "sits",
        "on",
        "the",
        "beach",
        "grass",
        "red",
        "blue",
        "in",
        "water",
        "ball",
    ]
    vocab = Vocabulary.build([" ".join(words)], min_count=1)
    encoder = Encoder(get_spec("resnet18"))
    decoder = AttentionDecoder(DecoderConfig(len(vocab), 512, 32, 32, 32, dropout=0.0))
    # Its own confidence curve says it is sure of every caption (an untrained model is not, and the
    # shipped curve holds its captions back): the gate's tests choose --min-confidence above it.
    sure = {"confidence": {"intercept": 30.0, "slope": 1.0, "fitted_on": "test fixture: sure"}}
    info = ModelInfo(
        "tiny-test", "resnet18", decoder.config, vocab, metrics=sure, classifier=None
    )  # random head
    return save_model(tmp_path_factory.mktemp("model") / "tiny.safetensors", info, encoder, decoder)
