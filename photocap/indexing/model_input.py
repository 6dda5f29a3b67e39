"""Model input for the index run: how photos become tensors (a `Preparation`, known from the model
file before its weights load, so decoding can start while the model loads), the run's decoding
processes and torch threads by default, and its torch threads.

Nothing here imports torch at import time: a run with nothing to caption never needs it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from photocap.captioner import Captioner
    from photocap.indexing.loader import PhotoBatch
    from photocap.indexing.outcomes import IndexOptions


@dataclass(frozen=True)
class Preparation:
    """How photos are turned into model input: what `Captioner.prepare` and `.min_side` will be,
    known from the model file's metadata before its weights load (so decoding can start while
    the model loads)."""

    prepare: Callable  # picklable photo → (3, S, S) tensor
    min_side: int  # smallest side a photo may be decoded at (JPEG draft mode)
    pin_memory: bool = False  # batches go to a CUDA device


def model_preparation(model_path: str | Path | None, device: str = "auto") -> Preparation:
    """The Preparation of a model file (default: the default model), reading only its metadata."""
    import functools

    from photocap.captioner import resolve_device
    from photocap.model.checkpoint import read_info
    from photocap.model.encoders import get_spec
    from photocap.model.transforms import to_tensor
    from photocap.paths import model_file

    info = read_info(model_file(model_path))
    spec = get_spec(info.encoder)
    return Preparation(
        functools.partial(to_tensor, spec=spec, via=info.data_square),
        info.data_square or spec.input_size,
        resolve_device(device).type == "cuda",
    )


def preparation_of(captioner: Captioner) -> Preparation:
    """The Preparation of a loaded captioner."""
    return Preparation(captioner.prepare, captioner.min_side, captioner.device.type == "cuda")


def same_preparation(early: Preparation, captioner: Captioner) -> bool:
    """Did the early preparation do exactly what the loaded captioner would have done?"""

    def key(fn: Callable) -> tuple:
        return (fn.func, fn.args, fn.keywords) if hasattr(fn, "func") else (id(fn),)

    return early.min_side == captioner.min_side and key(early.prepare) == key(captioner.prepare)


def decoded_batches(
    paths: list[str], preparation: Preparation, options: IndexOptions
) -> Iterator[PhotoBatch]:
    """Batches of decoded photos for the index run; the DataLoader's worker processes start now."""
    from photocap.indexing.loader import photo_loader

    loader = photo_loader(
        paths,
        preparation.prepare,
        batch_size=options.batch_size,
        workers=options.workers,
        min_side=preparation.min_side,
        pin_memory=preparation.pin_memory,
        assess=True,
    )
    return iter(loader)


def load_while_decoding(
    paths: list[str], early: Preparation, options: IndexOptions, load: Callable[[], Captioner]
) -> tuple[Captioner, Iterator[PhotoBatch]]:
    """Start the decoding workers, then `load` the model while they decode the first batches."""
    batches = decoded_batches(paths, early, options)
    captioner = load()
    if not same_preparation(early, captioner):  # never expected; start again, exactly
        del batches
        batches = decoded_batches(paths, preparation_of(captioner), options)
    return captioner, batches


@contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """Run the block with this many torch threads (None or 0: leave torch's setting alone)."""
    if not threads:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _cores() -> int:
    return len(os.sched_getaffinity(0))


def default_workers() -> int:
    """Decoding processes: half the cores, 1 to 4 (a draft-mode JPEG decode costs about a third of
    what the model costs per photo)."""
    return max(1, min(4, _cores() // 2))


def default_threads(workers: int) -> int:
    """torch threads for the model: the cores the decoding processes leave, at least 1."""
    return max(1, _cores() - workers)
