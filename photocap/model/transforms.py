"""Photo → model input: the whole photo squashed to a square, as the training data was (no crop)."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from photocap.model.encoders import EncoderSpec

TRAINING_SQUARE = 224  # Flickr8k as shipped in shared/ is squashed to 224×224


def squash(image: Image.Image, side: int, via: int | None = TRAINING_SQUARE) -> Image.Image:
    """RGB `image` resized to side×side, aspect ratio not kept.

    With `via`, the photo first goes to the training data's square, so a 12-megapixel photo
    reaches the encoder looking like the 224×224 pictures the decoder learned from.
    """
    image = image.convert("RGB")
    if via and image.size != (via, via):
        image = image.resize((via, via), Image.Resampling.BICUBIC, reducing_gap=3.0)
    if image.size != (side, side):
        image = image.resize((side, side), Image.Resampling.BICUBIC)
    return image


def to_tensor(
    image: Image.Image, spec: EncoderSpec, via: int | None = TRAINING_SQUARE
) -> torch.Tensor:
    """Normalised (3, S, S) float tensor for `spec`'s encoder."""
    square = squash(image, spec.input_size, via)
    array = np.asarray(square, dtype=np.float32) / 255.0  # (S, S, 3)
    tensor = torch.from_numpy(array).permute(2, 0, 1)  # (3, S, S)
    mean = torch.tensor(spec.mean).view(3, 1, 1)
    std = torch.tensor(spec.std).view(3, 1, 1)
    return (tensor - mean) / std  # (3, S, S)
