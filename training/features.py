"""A cache of frozen-encoder features, keyed by encoder and image content (sha256).

A second run over the same photos skips the encoder: each image's grid is stored once as
`<cache>/<encoder>-<side>[-flip]/<sha[:2]>/<sha>.npy` (float16, (num_pixels, feature_dim)).
"""

from __future__ import annotations

import hashlib
import os
import signal
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps
from torch.utils.data import DataLoader, Dataset

from photocap.indexing.loader import PhotoDataset, Prepare, collate_photos
from photocap.model.encoders import Encoder
from photocap.model.transforms import to_tensor


def encoder_fingerprint(encoder: Encoder) -> str:
    """A short hash of the encoder's weights: features of two differently trained encoders differ."""
    digest = hashlib.sha256()
    for name, tensor in encoder.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:12]


def _photo_worker_init(_worker_id: int) -> None:
    """Workers leave Ctrl-C to the main process (which saves and stops) and use one thread."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    torch.set_num_threads(1)


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

    def __init__(self, root: Path, encoder: Encoder, flip: bool = False, tag: str | None = None):
        """`tag` (e.g. an `encoder_fingerprint`) keeps features of other weights apart."""
        spec = encoder.spec
        self.encoder = encoder
        self.flip = flip
        suffix = ("-flip" if flip else "") + (f"-{tag}" if tag else "")
        self.dir = Path(root) / f"{spec.name}-{spec.input_size}{suffix}"

    def cached(self, sha: str) -> bool:
        return self._file(sha).exists()

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

    def ensure_photos(
        self,
        paths: Sequence[Path],
        shas: Sequence[str],
        prepare: Prepare,
        batch_size: int = 16,
        workers: int = 1,
        device: torch.device | str = "cpu",
        progress: Callable[[int, int], None] | None = None,
        min_side: int | None = 224,
    ) -> dict[int, str]:
        """Like `ensure`, but photos are read as inference reads them (`decode_photo` + `prepare`).

        Returns {index in `paths`: reason} for the photos that could not be read; their features
        are not stored. `progress(done, todo)` is called after each batch.
        """
        todo = [i for i, s in enumerate(shas) if not self._file(s).exists()]
        if not todo:
            return {}
        loader = DataLoader(
            PhotoDataset([paths[i] for i in todo], prepare, min_side),
            batch_size=batch_size,
            num_workers=workers,
            collate_fn=collate_photos,
            worker_init_fn=_photo_worker_init if workers else None,
        )
        encoder = self.encoder.eval().to(device)
        failed: dict[int, str] = {}
        done = 0
        with torch.inference_mode():
            for batch in loader:
                for item in batch.failed:
                    failed[todo[item.index]] = item.error or "unreadable"
                if batch.tensors is not None:
                    images = batch.tensors.to(device)  # (batch, 3, S, S)
                    grids = encoder(images).to(torch.float16).cpu().numpy()  # (batch, P, D)
                    for item, grid in zip(batch.ok, grids, strict=True):
                        self._store(shas[todo[item.index]], grid)
                done += len(batch)
                if progress:
                    progress(done, len(todo))
        return failed

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
