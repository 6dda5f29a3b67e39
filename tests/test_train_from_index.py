"""`photocap train --from-index`: corrections made through `photocap review`'s API teach the
captioner a house style, read straight from the index (photos from their paths, no CSV)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_helpers import photocap
from click.testing import CliRunner
from PIL import Image
from review_helpers import EXIFTOOL, photo_id, start_review
from skimage import data
from test_train import OLD_CAPTIONS, SKIMAGE_PHOTOS, tiny_decoder

from photocap.cli import cli
from photocap.model.checkpoint import ModelInfo, save_model
from photocap.model.encoders import Encoder, get_spec
from photocap.model.vocab import Vocabulary

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(EXIFTOOL is None, reason="needs ExifTool (libimage-exiftool-perl)"),
]


def run_cli(args: list[str]):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def corrected(tmp_path_factory, tiny_model):
    """14 real photos indexed by the tiny model; 12 corrected through the API into a house style
    ("Product shot: ..."), 2 left with the model's captions; and a tiny base model to fine-tune."""
    root = tmp_path_factory.mktemp("from-index")
    shop, other = root / "library" / "shop", root / "library" / "other"
    shop.mkdir(parents=True)
    other.mkdir()
    for i, name in enumerate(SKIMAGE_PHOTOS):
        folder = shop if i < 12 else other
        Image.fromarray(getattr(data, name)()).convert("RGB").save(folder / f"{name}.jpg")
    db = root / "index.db"
    args = ("--model", tiny_model, "--workers", "0", "--min-confidence", "0")
    done = photocap("index", root / "library", "--db", db, *args)
    assert done.returncode == 0, done.stderr
    server = start_review(db, root / "cache")
    try:
        for name in SKIMAGE_PHOTOS[:12]:
            caption = f"Product shot: a {name.replace('_', ' ')} on a white table."
            status, _ = server.json(
                "PATCH", f"/api/photos/{photo_id(server, f'{name}.jpg')}", body={"caption": caption}
            )
            assert status == 200
    finally:
        assert server.stop() == 0
    vocab = Vocabulary.build(OLD_CAPTIONS, min_count=1)
    decoder = tiny_decoder(len(vocab), 512)
    save_model(
        root / "base.safetensors",
        ModelInfo("tiny", "resnet18", decoder.config, vocab),
        Encoder(get_spec("resnet18")),
        decoder,
    )
    return root, db


def train_args(root: Path, db: Path, out: str, *extra) -> list:
    return [
        "train", "--from-index", "--db", db, "--base", root / "base.safetensors",
        "--out", root / "out" / out, "--cache", root / "features", "--batch-size", "4",
        "--lr", "3e-3", "--device", "cpu", "--workers", "0", "--seed", "1", *extra,
    ]  # fmt: skip


def test_corrections_teach_the_house_style(corrected):
    root, db = corrected
    result = run_cli(
        train_args(root, db, "style.safetensors", "--epochs", "3", "--keep-worse", "--json")
    )
    assert result.exit_code == 0, result.output
    assert "12 photos with a person's caption in the index" in result.stderr
    summary = json.loads(result.stdout)
    assert summary["train_images"] + summary["val_images"] == 12  # the model's 2 left out
    assert {"product", "shot", ":"} <= set(summary["words_added"])
    model = root / "out" / "style.safetensors"
    photos = sorted((root / "library").rglob("*.jpg"))
    captioned = run_cli(["caption", "--model", model, "--json", "--device", "cpu", *photos])
    assert captioned.exit_code == 0, captioned.output
    texts = [r["caption"].lower() for r in json.loads(captioned.stdout)["results"]]
    assert all(t.startswith("product shot: ") for t in texts), texts  # the unseen two as well


def test_under_and_too_few_corrections_and_usage_errors(corrected):
    root, db = corrected
    few = run_cli(train_args(root, db, "few.safetensors", "--under", root / "library" / "other"))
    assert few.exit_code == 1
    assert "holds 0 photo(s) under" in few.stderr and "photocap review" in few.stderr
    both = run_cli(["train", "--from-index", "--data", root / "x.csv"])
    assert both.exit_code == 2 and "either --data CSV or --from-index" in both.stderr
    neither = run_cli(["train"])
    assert neither.exit_code == 2
    stray = run_cli(["train", "--data", root / "x.csv", "--under", root])
    assert stray.exit_code == 2 and "--from-index" in stray.stderr
