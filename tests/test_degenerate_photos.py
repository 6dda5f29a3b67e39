"""Degenerate photos get an honest description or a reason, never an invented person or animal."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from photocap.model.confidence import DEFAULT_MIN_CONFIDENCE
from photocap.photos.decode import decode_photo
from photocap.photos.degenerate import (
    assess_photo,
    centre_crop,
    colour_name,
)

_PEOPLE = "man men woman women person people boy boys girl girls child children kid kids baby"
_MORE_PEOPLE = "player players crowd lady guy"
_ANIMALS = "dog dogs puppy cat cats horse horses bird birds animal animals cow cows sheep duck fish"
LIVING = frozenset(f"{_PEOPLE} {_MORE_PEOPLE} {_ANIMALS}".split())


def _strip_scene(width: int, height: int) -> Image.Image:
    """A wide synthetic landscape: a sky gradient over dark rolling ground (no one in it)."""
    x = np.arange(width)[None, :]  # (1, W)
    y = np.arange(height)[:, None]  # (H, 1)
    ground = height * (0.6 + 0.1 * np.sin(x / 97.0) + 0.05 * np.sin(x / 23.0))  # (1, W)
    sky = np.stack([120 + 80 * y / height, 160 + 60 * y / height, 235 - 0 * y], axis=-1)
    sky = np.broadcast_to(sky, (height, width, 3))  # (H, W, 3)
    land = np.broadcast_to(np.array([60, 90, 40]), (height, width, 3))
    pixels = np.where((y > ground)[..., None], land, sky)  # (H, W, 3)
    return Image.fromarray(pixels.astype(np.uint8))


@pytest.fixture(scope="module")
def degenerate(tmp_path_factory) -> dict[str, tuple[Path, str, str | None]]:
    """name → (file, expected action, expected description or None)."""
    folder = tmp_path_factory.mktemp("degenerate")
    rng = np.random.default_rng(0)
    cases: dict[str, tuple[Path, str, str | None]] = {}

    def save(name: str, image: Image.Image, action: str, text: str | None = None, **kw) -> None:
        path = folder / name
        image.save(path, **kw)
        cases[name] = (path, action, text)

    for colour, rgb in {
        "black": (0, 0, 0),
        "white": (255, 255, 255),
        "grey": (128, 128, 128),
        "blue": (30, 60, 200),
    }.items():
        save(
            f"{colour}.jpg", Image.new("RGB", (64, 64), rgb), "describe", f"A plain {colour} image."
        )
        save(
            f"{colour}.png",
            Image.new("RGB", (640, 480), rgb),
            "describe",
            f"A plain {colour} image.",
        )
    lens_cap = np.clip(rng.normal(12, 3, (480, 640, 3)), 0, 255).astype(np.uint8)  # sensor noise
    save("lens-cap.jpg", Image.fromarray(lens_cap), "describe", "A plain black image.", quality=85)
    scan = np.clip(rng.normal(244, 2, (1100, 850, 3)), 0, 255).astype(np.uint8)  # a blank page
    save("blank-scan.png", Image.fromarray(scan), "describe", "A plain white image.")
    save("one-pixel.png", Image.new("RGB", (1, 1), (200, 30, 30)), "skip")
    save("strip-20000x2.png", _strip_scene(20000, 2), "skip")
    save("strip-5000x300.jpg", _strip_scene(5000, 300), "crop", quality=90)
    save("transparent.png", Image.new("RGBA", (300, 200), (0, 0, 0, 0)), "describe",
         "A blank, transparent image.")  # fmt: skip
    noise = rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)
    save("noise.png", Image.fromarray(noise), "describe",
         "Random noise, with no recognisable subject.")  # fmt: skip
    return cases


def test_each_degenerate_image_gets_the_right_verdict(degenerate):
    for name, (path, action, text) in degenerate.items():
        photo = decode_photo(path)
        verdict = assess_photo(photo.image, photo.width, photo.height, photo.transparent)
        assert verdict.action == action, (name, verdict)
        assert verdict.description == text, name
        assert verdict.reason, name  # every one of them says why
    photo = decode_photo(degenerate["strip-5000x300.jpg"][0])
    verdict = assess_photo(photo.image, photo.width, photo.height)
    left, upper, right, lower = verdict.crop
    assert (right - left, lower - upper) == (400, 300) and left == (5000 - 400) // 2


def test_mostly_transparent_and_ordinary_photos(tmp_path, real_photos):
    logo = Image.new("RGBA", (400, 400), (0, 0, 0, 0))
    logo.paste((200, 30, 30, 255), (190, 190, 210, 210))  # a small red square: 0.25% visible
    logo.save(tmp_path / "logo.png")
    photo = decode_photo(tmp_path / "logo.png")
    share = photo.transparent
    assert share == pytest.approx(1 - 400 / 160000)
    verdict = assess_photo(photo.image, 400, 400, share)
    assert verdict.action == "describe"  # ≥ 99% see-through: blank
    half = assess_photo(photo.image, 400, 400, 0.93)
    assert half.action == "skip" and "93%" in half.reason
    for name, path in real_photos.items():
        photo = decode_photo(path)
        verdict = assess_photo(photo.image, photo.width, photo.height, photo.transparent)
        assert verdict.action == "caption", name


def test_colour_names_and_centre_crops():
    assert colour_name((0, 0, 0)) == "black" and colour_name((250, 250, 250)) == "white"
    assert colour_name((128, 128, 128)) == "grey" and colour_name((220, 30, 30)) == "red"
    assert colour_name((20, 20, 90)) == "dark blue" and colour_name((120, 70, 20)) == "brown"
    assert colour_name((250, 190, 200)) == "pink" and colour_name((30, 160, 40)) == "green"
    assert centre_crop((5000, 300)) == (2300, 0, 2700, 300)
    assert centre_crop((300, 5000)) == (0, 2300, 300, 2700)
    assert centre_crop((640, 480)) == (0, 0, 640, 480)


def test_no_degenerate_image_is_captioned_with_a_person_or_an_animal(degenerate, shipped_model):
    from photocap.cli import cli

    paths = [str(path) for path, _, _ in degenerate.values()]
    result = CliRunner().invoke(cli, ["caption", "--json", "--model", str(shipped_model), *paths])
    assert result.exit_code == 0, result.output  # a photo not captioned is not a failure
    records = {Path(r["path"]).name: r for r in json.loads(result.stdout)["results"]}
    assert set(records) == set(degenerate)
    for name, (_, action, text) in degenerate.items():
        record = records[name]
        if action == "skip":
            assert record["caption"] is None and record["reason"], name
            assert f"Not captioned: {degenerate[name][0]}" in result.stderr
        elif action == "describe":
            assert record["caption"] == text
        else:  # captioned from its centre: no one who is not there, unless held back
            words = set(record["caption"].lower().rstrip(".").split())
            assert not words & LIVING or record["confidence"] < DEFAULT_MIN_CONFIDENCE, record


def test_index_writes_no_invented_person_or_animal_into_degenerate_images(
    degenerate, shipped_model, tmp_path
):
    """The same images through `photocap index` (DataLoader workers, the gate, the writes): what is
    written into each is its plain description, or nothing with the reason in the summary, or a
    caption of the centre that names no one; the run exits 0 (not captioning is not a failure)."""
    import shutil

    from photocap.cli import cli
    from photocap.metadata import read_caption

    root = tmp_path / "odd"
    root.mkdir()
    for path, _, _ in degenerate.values():
        shutil.copy(path, root)
    args = ["index", str(root), "--db", str(tmp_path / "i.db"), "--model", str(shipped_model)]
    result = CliRunner().invoke(cli, [*args, "--json", "--workers", "2"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    skipped = {n for n, (_, action, _) in degenerate.items() if action == "skip"}
    assert {Path(p).name for p in summary["not_captioned"]} == skipped
    for name, (_, action, text) in degenerate.items():
        written = read_caption(root / name)
        if action == "skip":
            assert written is None, name
        elif action == "describe":
            assert written.text == text, name
        elif written is not None:  # held back when unsure: then nothing is written
            assert not set(written.text.lower().rstrip(".").split()) & LIVING, written
