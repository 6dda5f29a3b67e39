"""Training's rules for a user's captions (read by `photocap.evaluation.captions_csv`): how many
images are enough, and which are held out for validation."""

from __future__ import annotations

import random

from photocap.errors import DataError

MIN_IMAGES = 10  # fewer usable images than this is refused: nothing to learn or to validate on


def split_by_image(n: int, fraction: float, seed: int = 0) -> tuple[list[int], list[int]]:
    """Train and validation image indices: `fraction` of the images (at least one) held out."""
    if not 0 < fraction < 1:
        raise DataError(f"the validation fraction must be between 0 and 1, got {fraction}")
    order = list(range(n))
    random.Random(seed).shuffle(order)
    n_val = min(n - 1, max(1, round(n * fraction)))
    return sorted(order[n_val:]), sorted(order[:n_val])
