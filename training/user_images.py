"""The photos behind a user's captions: content hashes, unreadable files, features on demand."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from photocap.errors import ImageError
from photocap.evaluation.captions_csv import Problem, UserCaptions
from photocap.indexing.loader import Prepare
from photocap.model.encoders import Encoder
from photocap.photos.decode import decode_photo
from photocap.photos.digest import file_sha256


def hash_images(data: UserCaptions) -> tuple[list[str | None], list[Problem]]:
    """sha256 of every image (None where it cannot be read) and a Problem for each such image."""
    shas: list[str | None] = []
    problems = []
    for path, name, lines in zip(data.images, data.names, data.lines, strict=True):
        reason = None
        try:
            shas.append(file_sha256(path))
            continue
        except FileNotFoundError:
            reason = "image file not found"
        except IsADirectoryError:
            reason = "is a folder, not an image"
        except PermissionError:
            reason = "permission denied"
        except OSError as exc:
            reason = f"cannot read the file ({exc.strerror or exc})"
        shas.append(None)
        problems.append(Problem(lines[0], name, f"{reason} ({path})"))
    return shas, problems


def merge_by_content(data: UserCaptions, shas: Sequence[str]) -> tuple[UserCaptions, list[str]]:
    """One entry per distinct photo: captions of copies under other names are merged into the first."""
    first: dict[str, int] = {}
    keep: list[int] = []
    for i, sha in enumerate(shas):
        if sha in first:
            j = first[sha]
            data.captions[j] = data.captions[j] + data.captions[i]
            data.lines[j] = data.lines[j] + data.lines[i]
        else:
            first[sha] = i
            keep.append(i)
    return data.subset(keep), [shas[i] for i in keep]


def check_readable(paths: Sequence[Path]) -> dict[int, str]:
    """{index: reason} for photos that do not decode (used when features are not cached)."""
    failed = {}
    for i, path in enumerate(paths):
        try:
            decode_photo(path)
        except ImageError as exc:
            failed[i] = exc.message
    return failed


def encoder_tail(encoder: Encoder) -> list[nn.Module]:
    """The last stage of a backbone: what `--fine-tune-encoder` trains (the rest stays frozen)."""
    backbone = encoder.backbone
    if encoder.spec.name.startswith("resnet"):
        return [backbone.layer4]
    return [*backbone.blocks[-2:], backbone.conv_head, backbone.bn2]  # timm EfficientNet


class LiveFeatures:
    """Features computed from the photos by a (partly trainable) encoder, batch by batch.

    Indexing with a tensor of image indices or a slice returns (n, num_pixels, D) on the
    encoder's device, with gradients when grad mode is on. BatchNorm statistics stay frozen.
    """

    def __init__(
        self, encoder: Encoder, paths: Sequence[Path], prepare: Prepare, min_side: int | None = 224
    ):
        self.encoder, self.paths, self.prepare, self.min_side = (
            encoder,
            list(paths),
            prepare,
            min_side,
        )

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: torch.Tensor | slice) -> torch.Tensor:
        rows = range(len(self.paths))[index] if isinstance(index, slice) else index.tolist()
        unique = sorted(set(rows))
        images = torch.stack(
            [self.prepare(decode_photo(self.paths[i], self.min_side).image) for i in unique]
        )  # (n_unique, 3, S, S)
        device = next(self.encoder.parameters()).device
        self.encoder.eval()
        grids = self.encoder(images.to(device))  # (n_unique, num_pixels, D)
        where = {i: k for k, i in enumerate(unique)}
        return grids[torch.tensor([where[i] for i in rows], device=device)]  # (n, num_pixels, D)
