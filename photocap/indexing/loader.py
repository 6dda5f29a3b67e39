"""The DataLoader side: photos decoded and prepared in worker processes, collated into batches.

A file that cannot be read becomes a LoadedPhoto with `error` set; it never fails the batch. A
photo the model must not caption as it is (blank, tiny, see-through: `photos.degenerate`) comes
with its verdict and no tensor; an extreme panorama or strip is prepared from its centre.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from photocap.errors import ImageError
from photocap.photos.decode import MAX_PIXELS, decode_photo
from photocap.photos.degenerate import CAPTION, Verdict, assess_photo

Prepare = Callable[[Image.Image], torch.Tensor]


@dataclass
class LoadedPhoto:
    """One photo after the worker: a tensor, or an error saying why there is none.

    `width` and `height` are the original size after orientation (None when unreadable).
    """

    index: int
    path: Path
    tensor: torch.Tensor | None
    width: int | None
    height: int | None
    error: str | None
    hint: str | None = None
    format: str | None = None
    verdict: Verdict | None = None  # set when the model is not to caption the photo as it is

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def decided(self) -> bool:
        """Decoded, but not for the model: the verdict says what it gets instead."""
        return self.ok and self.verdict is not None and not self.verdict.captioned


@dataclass
class PhotoBatch:
    """Collated photos: `tensors[i]` belongs to `ok[i]` (whose own `tensor` is dropped)."""

    tensors: torch.Tensor | None  # (n_ok, 3, S, S); None when no photo of the batch decoded
    ok: list[LoadedPhoto] = field(default_factory=list)
    failed: list[LoadedPhoto] = field(default_factory=list)
    decided: list[LoadedPhoto] = field(default_factory=list)  # not for the model: see `verdict`

    def __len__(self) -> int:
        return len(self.ok) + len(self.failed) + len(self.decided)


class _PathTable:
    """Paths packed in one bytes buffer + offsets.

    A list of a million Path objects would be copied page by page into every forked worker as
    reference counts change; two flat buffers are not.
    """

    def __init__(self, paths: Sequence[str | Path]):
        encoded = [os.fsencode(path) for path in paths]
        self._data = b"".join(encoded)
        self._ends = np.cumsum([len(item) for item in encoded], dtype=np.int64)

    def __len__(self) -> int:
        return len(self._ends)

    def __getitem__(self, index: int) -> Path:
        start = int(self._ends[index - 1]) if index else 0
        return Path(os.fsdecode(self._data[start : int(self._ends[index])]))


class PhotoDataset(Dataset[LoadedPhoto]):
    """Photos opened with `decode_photo` and turned into tensors by `prepare`.

    `prepare` must be picklable (a module-level function or functools.partial) where workers
    are spawned rather than forked.
    """

    def __init__(
        self,
        paths: Sequence[str | Path],
        prepare: Prepare,
        min_side: int | None = 224,
        max_pixels: int = MAX_PIXELS,
        assess: bool = False,
    ):
        self.paths = _PathTable(paths)
        self.prepare = prepare
        self.min_side = min_side
        self.max_pixels = max_pixels
        self.assess = assess  # judge each photo with `assess_photo` (training data: no need)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> LoadedPhoto:
        path = self.paths[index]
        try:
            photo = decode_photo(path, self.min_side, self.max_pixels)
        except ImageError as exc:
            return LoadedPhoto(index, path, None, None, None, exc.message, exc.hint)
        except Exception as exc:  # a decoder bug on one odd file must not take the batch down
            reason = f"unexpected error while decoding: {type(exc).__name__}: {exc}"
            return LoadedPhoto(index, path, None, None, None, reason)
        loaded = LoadedPhoto(index, path, None, photo.width, photo.height, None, None, photo.format)
        try:
            verdict = (
                assess_photo(photo.image, photo.width, photo.height, photo.transparent)
                if self.assess
                else CAPTION
            )
            if not verdict.captioned:
                return replace(loaded, verdict=verdict)
            image = photo.image.crop(verdict.crop) if verdict.crop else photo.image
            return replace(loaded, tensor=self.prepare(image), verdict=verdict)
        except Exception as exc:  # a bad photo must not take the batch down
            reason = f"could not prepare the image for the model: {type(exc).__name__}: {exc}"
            return replace(loaded, error=reason)


def collate_photos(items: list[LoadedPhoto]) -> PhotoBatch:
    """Stack the decoded photos' tensors; keep the failed ones as error records and the ones not
    for the model with their verdicts."""
    ok = [item for item in items if item.ok and not item.decided]
    failed = [item for item in items if not item.ok]
    decided = [item for item in items if item.decided]
    tensors = torch.stack([item.tensor for item in ok]) if ok else None  # (n_ok, 3, S, S)
    return PhotoBatch(tensors, [replace(item, tensor=None) for item in ok], failed, decided)


def _worker_init(_worker_id: int) -> None:
    """One torch thread per worker: the workers are the parallelism."""
    torch.set_num_threads(1)


def photo_loader(
    paths: Sequence[str | Path],
    prepare: Prepare,
    batch_size: int = 16,
    workers: int = 2,
    *,
    min_side: int | None = 224,
    max_pixels: int = MAX_PIXELS,
    pin_memory: bool = False,
    assess: bool = False,
) -> DataLoader[PhotoBatch]:
    """Batches of photos in path order, decoded by `workers` processes (0: in this process).
    With `assess`, photos the model must not caption as they are come as `PhotoBatch.decided`.

    At most `2 × workers` batches are in flight, so memory stays bounded whatever the library size.
    """
    dataset = PhotoDataset(paths, prepare, min_side, max_pixels, assess)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=False,
        num_workers=workers,
        collate_fn=collate_photos,
        pin_memory=pin_memory,
        worker_init_fn=_worker_init if workers else None,
        prefetch_factor=2 if workers else None,
        persistent_workers=False,
    )
