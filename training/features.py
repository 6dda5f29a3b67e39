"""A cache of frozen-encoder features, keyed by encoder and image content (sha256).

A second run over the same photos skips the encoder: each image's grid is stored once as
`<cache>/<encoder>-<side>[-flip]/<sha[:2]>/<sha>.npy` (float16, (num_pixels, feature_dim)).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps
from torch.utils.data import DataLoader, Dataset

from photocap.model.encoders import Encoder
from photocap.model.transforms import to_tensor


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class _Images(Dataset):
    def __init__(self, paths: Sequence[Path], encoder: Encoder, flip: bool):
        self.paths, self.spec, self.flip = list(paths), encoder.spec, flip

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> tuple[int, torch.Tensor]:
        with Image.open(self.paths[i]) as image:
            image = ImageOps.exif_transpose(image)
            if self.flip:
                image = ImageOps.mirror(image)
            return i, to_tensor(image, self.spec)  # (3, S, S)


class FeatureCache:
    """Frozen-encoder features on disk for one encoder."""

    def __init__(self, root: Path, encoder: Encoder, flip: bool = False):
        spec = encoder.spec
        self.encoder = encoder
        self.flip = flip
        self.dir = Path(root) / f"{spec.name}-{spec.input_size}{'-flip' if flip else ''}"

    def _file(self, sha: str) -> Path:
        return self.dir / sha[:2] / f"{sha}.npy"

    def ensure(
        self,
        paths: Sequence[Path],
        shas: Sequence[str],
        batch_size: int = 32,
        workers: int = 1,
        progress: Callable[[int, int], None] | None = None,
    ) -> None:
        """Compute and store the features of every image not cached yet."""
        todo = [(p, s) for p, s in zip(paths, shas, strict=True) if not self._file(s).exists()]
        if not todo:
            return
        dataset = _Images([p for p, _ in todo], self.encoder, self.flip)
        loader = DataLoader(dataset, batch_size=batch_size, num_workers=workers)
        encoder = self.encoder.eval().to(memory_format=torch.channels_last)
        done = 0
        with torch.inference_mode():
            for index, images in loader:
                images = images.to(memory_format=torch.channels_last)  # (batch, 3, S, S)
                grids = encoder(images).to(torch.float16).numpy()  # (batch, num_pixels, D)
                for i, grid in zip(index.tolist(), grids, strict=True):
                    self._store(todo[i][1], grid)
                done += len(index)
                if progress:
                    progress(done, len(todo))

    def _store(self, sha: str, grid: np.ndarray) -> None:
        target = self._file(sha)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            np.save(f, grid, allow_pickle=False)
        os.replace(tmp, target)

    def load(self, shas: Sequence[str]) -> torch.Tensor:
        """Features of `shas` stacked: (n, num_pixels, D) float16."""
        grids = [np.load(self._file(s), allow_pickle=False) for s in shas]
        return torch.from_numpy(np.stack(grids))
