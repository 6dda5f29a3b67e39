"""The index run's helpers for the tests that drive photocap.indexing directly (test_indexing*,
test_raw_index, test_cli_index): `ColourCaptioner`, a stand-in whose caption names the colour of
the photo's top-left corner as the model saw it (orientation, first frames, CMYK, 16-bit and
transparency show in the caption), its `Factory`, photos of every format and broken files, and
`run` (one IndexRun)."""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import numpy as np
import pillow_heif
import torch
from photo_helpers import bomb_png, exif_orientation, truncated
from PIL import Image

from photocap.captioner import Caption
from photocap.indexing import (
    IndexOptions,
    IndexRun,
    IndexSummary,
    PhotoOutcome,
)
from photocap.model.labels import Label
from photocap.store.index import Index

pillow_heif.register_heif_opener()  # to write HEIC test files

REPO = Path(__file__).resolve().parents[1]
SIZE = (300, 200)  # displayed width × height of the generated photos
COLOURS = {
    "red": (220, 30, 30),
    "green": (30, 200, 40),
    "blue": (30, 40, 220),
    "white": (255, 255, 255),
    "black": (0, 0, 0),
}
GRAY = (128, 128, 128)


# ---------------------------------------------------------------- a captioner that sees colours


def colour_prepare(image: Image.Image) -> torch.Tensor:
    """(3, 32, 32) float tensor of raw 0-255 values (picklable, for DataLoader workers)."""
    small = image.convert("RGB").resize((32, 32), Image.Resampling.BOX)
    return torch.from_numpy(np.asarray(small, dtype=np.float32).copy()).permute(2, 0, 1)


def name_colour(rgb: np.ndarray) -> str:
    r, g, b = (float(v) for v in rgb)
    if max(r, g, b) - min(r, g, b) < 40:
        return "white" if r > 200 else "black" if r < 55 else "gray"
    return ("red", "green", "blue")[int(np.argmax(rgb))]


class ColourCaptioner:
    """Caption = the colour of the top-left corner: `A red corner.`"""

    model_id = "colour-test"
    device = torch.device("cpu")
    min_side = 224
    prepare = staticmethod(colour_prepare)

    def __init__(self) -> None:
        self.photos = 0

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """(batch, 3, 32, 32) → the mean colour of the top-left corner, (batch, 3)."""
        self.photos += len(images)
        return images[:, :, 3:12, 3:12].mean(dim=(2, 3))

    def caption_features(self, features: torch.Tensor, options=None) -> list[Caption]:
        words = [["a", name_colour(rgb.numpy()), "corner"] for rgb in features]
        return [Caption(f"A {w[1]} corner.", w, -0.5) for w in words]

    def caption_tensors(self, images: torch.Tensor, options=None) -> list[Caption]:
        return self.caption_features(self.encode(images), options)

    def label_features(self, features: torch.Tensor) -> list[tuple[Label, ...]]:
        """One label a photo: its corner's colour, searchable as "<colour> swatch"."""
        names = [name_colour(rgb.numpy()) for rgb in features]
        return [(Label(i, name, 0.9, (name, "colour swatch")),) for i, name in enumerate(names)]


class Factory:
    """Counts how often the pipeline asked for the model."""

    def __init__(self, captioner=None, fail: bool = False) -> None:
        self.captioner = captioner or ColourCaptioner()
        self.fail = fail
        self.calls = 0

    def __call__(self):
        self.calls += 1
        if self.fail:
            raise AssertionError("the model was loaded")
        return self.captioner


# ---------------------------------------------------------------- photo builders


def displayed(colour: str, size: tuple[int, int] = SIZE) -> Image.Image:
    """A photo as a viewer shows it: top-left quadrant `colour`, the rest gray."""
    array = np.full((size[1], size[0], 3), GRAY, np.uint8)
    array[: size[1] // 2, : size[0] // 2] = COLOURS[colour]
    return Image.fromarray(array)


def build_photos(root: Path) -> dict[str, str]:
    """Every supported format and odd photo: relative path → the colour its caption must name."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "sub" / "deeper").mkdir(parents=True)
    expected = {}

    def put(name: str, colour: str, image: Image.Image | None = None, **options) -> Path:
        path = root / name
        (image or displayed(colour)).save(path, **options)
        expected[name] = colour
        return path

    put("plain.jpg", "red", quality=92)
    # stored turned a quarter left, EXIF 6 says turn it right: only the turned photo is blue there
    put(
        "rotated.jpg",
        "blue",
        displayed("blue").transpose(Image.Transpose.ROTATE_90),
        exif=exif_orientation(6),
    )
    put("cmyk.jpg", "red", displayed("red").convert("CMYK"), quality=95)
    put("photo.png", "green")
    put("photo.webp", "blue", quality=95)
    put("photo.tiff", "red")
    put("photo.bmp", "green")
    put("photo.heic", "blue", quality=90)
    frames = [displayed("red"), displayed("blue")]
    put("animated.gif", "red", frames[0], save_all=True, append_images=frames[1:], duration=80)
    # 16-bit gray: a corner of 32896 is mid-gray when scaled, white when clipped at 255
    deep = np.full((SIZE[1], SIZE[0]), 65535, np.uint16)
    deep[: SIZE[1] // 2, : SIZE[0] // 2] = 32896
    put("16-bit.png", "gray", Image.fromarray(deep))
    # palette with a transparent (black) entry in the corner: composited on white
    palette = Image.new("P", SIZE, 1)
    palette.putpalette([0, 0, 0, *COLOURS["red"]] + [0] * 762)
    palette.paste(0, (0, 0, SIZE[0] // 2, SIZE[1] // 2))
    put("palette.png", "white", palette, transparency=0)
    put("IMG_0001", "green", format="JPEG")  # no extension: the content says JPEG
    put("Ünïcødé 猫 ph🙂to.jpg", "blue")
    put("name with  spaces .png", "red")
    put("sub/deeper/deep.jpg", "green")
    os.symlink(root, root / "sub" / "loop")  # back to the top
    os.symlink(".", root / "sub" / "deeper" / "self")
    (root / ".hidden").mkdir()
    displayed("red").save(root / ".hidden" / "secret.jpg")
    (root / "notes.txt").write_text("not a photo\n")
    return expected


def build_broken(root: Path) -> dict[str, str]:
    """Files that look like photos but cannot be captioned: relative path → reason (substring)."""
    whole = io.BytesIO()
    displayed("red").save(whole, "JPEG")
    (root / "empty.jpg").touch()
    truncated(root / "truncated.jpg", whole.getvalue())
    (root / "text.jpg").write_text("a shopping list, not a photo\n")
    (root / "unreadable.jpg").write_bytes(whole.getvalue())
    (root / "unreadable.jpg").chmod(0)
    bomb_png(root / "bomb.png")
    return {
        "empty.jpg": "empty file",
        "truncated.jpg": "truncated JPEG",
        "text.jpg": "not an image",
        "unreadable.jpg": "ermission denied",
        "bomb.png": "too large: 30000×30000",
    }


# ---------------------------------------------------------------- helpers


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def tree(root: Path) -> dict[str, bytes]:
    """Every file under `root` (symlinks not followed) and its bytes."""
    return {
        os.path.join(folder, name): Path(folder, name).read_bytes()
        for folder, _dirs, names in os.walk(root)
        for name in names
        if Path(folder, name).is_file() and not Path(folder, name).is_symlink()
    }


def run(
    index: Index | None,
    paths: list[Path],
    factory: Factory | None = None,
    outcomes: list[PhotoOutcome] | None = None,
    **options,
) -> IndexSummary:
    options.setdefault("workers", 0)
    options.setdefault("batch_size", 4)
    factory = factory or Factory()
    on_photo = outcomes.append if outcomes is not None else None
    return IndexRun(index, factory, IndexOptions(**options), on_photo=on_photo).run(paths, paths)
