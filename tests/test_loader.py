"""photocap.indexing.loader: batches of real photos with broken files mixed in, in-process and in workers."""

from __future__ import annotations

import functools
import os
from pathlib import Path

import numpy as np
import pillow_heif
import pytest
import torch
from photo_helpers import bomb_png, exif_orientation, truncated
from PIL import Image
from skimage import data

from photocap.indexing.loader import LoadedPhoto, PhotoDataset, collate_photos, photo_loader
from photocap.model.encoders import get_spec
from photocap.model.transforms import to_tensor
from photocap.photos.decode import open_photo

pillow_heif.register_heif_opener()  # to write the HEIC test file

SIDE = 32


def prepare(image: Image.Image) -> torch.Tensor:
    """A small stand-in for the model's preprocessing: (3, SIDE, SIDE) floats."""
    square = np.asarray(image.resize((SIDE, SIDE), Image.Resampling.BILINEAR), np.float32) / 255
    return torch.from_numpy(square).permute(2, 0, 1)  # (3, S, S)


def prepare_refusing_gifs(image: Image.Image, refused: tuple[int, int]) -> torch.Tensor:
    if image.size == refused:
        raise RuntimeError("this size is refused")
    return prepare(image)


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[Path, str | None]]:
    """Photos and broken files interleaved: (path, expected error prefix or None)."""
    folder = tmp_path_factory.mktemp("mixed")
    chelsea, coffee, astronaut = (
        Image.fromarray(a) for a in (data.chelsea(), data.coffee(), data.astronaut())
    )
    chelsea.save(folder / "00 chelsea.jpg", quality=90)
    (folder / "01 text.jpg").write_text("not a photo\n")
    coffee.save(folder / "02 coffee.png")
    (folder / "03 empty.jpg").touch()
    chelsea.save(folder / "04 rotated.jpg", exif=exif_orientation(6))
    whole = (folder / "00 chelsea.jpg").read_bytes()
    truncated(folder / "05 truncated.jpg", whole)
    astronaut.save(folder / "06 astronaut.heic", quality=80)
    (folder / "07 folder.jpg").mkdir()
    bomb_png(folder / "08 bomb.png")
    frames = [chelsea, coffee.resize(chelsea.size)]
    frames[0].save(folder / "09 animated.gif", save_all=True, append_images=frames[1:])
    cafe = os.fsdecode(os.fsencode(str(folder)) + b"/10 caf\xe9 latin-1 name.webp")
    coffee.save(cafe)
    return [
        (folder / "00 chelsea.jpg", None),
        (folder / "01 text.jpg", "not an image: the content is text"),
        (folder / "02 coffee.png", None),
        (folder / "03 empty.jpg", "empty file"),
        (folder / "04 rotated.jpg", None),
        (folder / "05 truncated.jpg", "truncated JPEG"),
        (folder / "06 astronaut.heic", None),
        (folder / "07 folder.jpg", "is a folder"),
        (folder / "08 bomb.png", "too large: 30000×30000"),
        (folder / "09 animated.gif", None),
        (folder / "gone.jpg", "file not found"),
        (Path(cafe), None),
    ]


def test_dataset_returns_error_records_instead_of_raising(
    mixed: list[tuple[Path, str | None]],
) -> None:
    dataset = PhotoDataset([path for path, _ in mixed], prepare)
    assert len(dataset) == len(mixed)
    for index, (path, expected_error) in enumerate(mixed):
        item = dataset[index]
        assert (item.index, item.path) == (index, path)
        if expected_error is None:
            assert item.ok and item.error is None
            assert item.tensor is not None and item.tensor.shape == (3, SIDE, SIDE)
            assert torch.equal(item.tensor, prepare(open_photo(path)))
        else:
            assert not item.ok and item.tensor is None
            assert item.error.startswith(expected_error), item.error


def test_dataset_reports_the_original_size_after_orientation(
    mixed: list[tuple[Path, str | None]],
) -> None:
    dataset = PhotoDataset([path for path, _ in mixed], prepare)
    assert (dataset[0].width, dataset[0].height, dataset[0].format) == (451, 300, "jpeg")
    assert (dataset[4].width, dataset[4].height) == (300, 451)  # EXIF orientation 6
    assert (dataset[6].width, dataset[6].height, dataset[6].format) == (512, 512, "heif")
    assert (dataset[3].width, dataset[3].height) == (None, None)
    assert dataset[3].hint  # the error record carries the hint for the user too


def test_collate_stacks_the_good_and_keeps_the_failed() -> None:
    tensors = [torch.full((3, 4, 4), float(i)) for i in range(4)]
    items = [
        LoadedPhoto(0, Path("a.jpg"), tensors[0], 4, 4, None),
        LoadedPhoto(1, Path("b.jpg"), None, None, None, "empty file (0 bytes)"),
        LoadedPhoto(2, Path("c.jpg"), tensors[2], 4, 4, None),
    ]
    batch = collate_photos(items)
    assert batch.tensors is not None and batch.tensors.shape == (2, 3, 4, 4)
    assert torch.equal(batch.tensors[1], tensors[2])
    assert [item.index for item in batch.ok] == [0, 2]
    assert all(item.tensor is None for item in batch.ok)  # the stacked copy is the only one
    assert [(item.index, item.error) for item in batch.failed] == [(1, "empty file (0 bytes)")]
    assert len(batch) == 3


def test_collate_of_a_batch_where_everything_failed() -> None:
    batch = collate_photos([LoadedPhoto(7, Path("x.jpg"), None, None, None, "file not found")])
    assert batch.tensors is None and batch.ok == [] and len(batch.failed) == 1


@pytest.mark.parametrize("workers", [0, 2])
def test_loader_batches_with_bad_files_in_the_middle(
    mixed: list[tuple[Path, str | None]], workers: int
) -> None:
    paths = [path for path, _ in mixed]
    loader = photo_loader(paths, prepare, batch_size=4, workers=workers)
    batches = list(loader)
    assert [len(batch) for batch in batches] == [4, 4, 4]
    ok_indices, failed = [], {}
    for batch in batches:
        assert batch.tensors is not None and batch.tensors.shape == (len(batch.ok), 3, SIDE, SIDE)
        for row, item in enumerate(batch.ok):
            assert torch.equal(batch.tensors[row], prepare(open_photo(item.path)))
            ok_indices.append(item.index)
        failed.update({item.index: item.error for item in batch.failed})
    assert ok_indices == [i for i, (_, error) in enumerate(mixed) if error is None]
    assert sorted(failed) == [i for i, (_, error) in enumerate(mixed) if error is not None]
    for index, message in failed.items():
        assert message.startswith(mixed[index][1]), message


@pytest.mark.parametrize("workers", [0, 2])
def test_a_failing_prepare_costs_only_that_photo(
    mixed: list[tuple[Path, str | None]], workers: int
) -> None:
    paths = [path for path, error in mixed if error is None]
    refuse_gif = functools.partial(prepare_refusing_gifs, refused=(451, 300))  # chelsea-sized
    batches = list(photo_loader(paths, refuse_gif, batch_size=8, workers=workers))
    failed = [item for batch in batches for item in batch.failed]
    assert {item.path.name for item in failed} == {"00 chelsea.jpg", "09 animated.gif"}
    assert all("RuntimeError: this size is refused" in item.error for item in failed)
    assert sum(len(batch.ok) for batch in batches) == len(paths) - 2


def test_loader_with_the_models_own_preprocessing(mixed: list[tuple[Path, str | None]]) -> None:
    spec = get_spec("resnet18")
    paths = [path for path, _ in mixed]
    batches = list(
        photo_loader(paths, functools.partial(to_tensor, spec=spec), batch_size=6, workers=2)
    )
    stacked = torch.cat([batch.tensors for batch in batches if batch.tensors is not None])
    assert stacked.shape == (6, 3, 224, 224)
    assert torch.isfinite(stacked).all()


def test_loader_settings() -> None:
    loader = photo_loader([Path("a.jpg")], prepare, batch_size=3, workers=2)
    assert (loader.batch_size, loader.num_workers, loader.prefetch_factor) == (3, 2, 2)
    assert not loader.persistent_workers
    in_process = photo_loader([Path("a.jpg")], prepare, workers=0)
    assert in_process.num_workers == 0
