"""Attention maps: one panel per word, the word's attention over the photo (as in Show, Attend and Tell)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from photocap.errors import PhotocapError


def save_attention_grid(
    image: Image.Image, words: list[str], attention: torch.Tensor, out: Path, side: int = 224
) -> Path:
    """Write a PNG: the photo, then one panel per word with its attention (num_words, h, w) overlaid."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    photo = np.asarray(image.convert("RGB").resize((side, side), Image.Resampling.BICUBIC))
    panels = len(words) + 1
    cols = min(5, panels)
    rows = math.ceil(panels / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(2.4 * cols, 2.6 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    axes.flat[0].imshow(photo)
    axes.flat[0].set_title("photo", fontsize=10)
    for i, word in enumerate(words):
        grid = attention[i].float().numpy()  # (h, w)
        heat = Image.fromarray((grid / max(grid.max(), 1e-8) * 255).astype(np.uint8))
        heat = (
            np.asarray(heat.resize((side, side), Image.Resampling.BILINEAR)) / 255.0
        )  # (side, side)
        ax = axes.flat[i + 1]
        ax.imshow(photo)
        ax.imshow(heat, cmap="jet", alpha=0.45, vmin=0, vmax=1)
        ax.set_title(word, fontsize=10)
    fig.tight_layout()
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out, dpi=80)
    except OSError as exc:
        raise PhotocapError(f"cannot write attention map ({exc.strerror})", path=out) from None
    finally:
        plt.close(fig)
    return out
