"""EfficientNet-Lite 0–2 (Tan & Le 2019, the TensorFlow "lite" variants: ReLU6, no squeeze-excite).

Parameter names and order are those of timm's `tf_efficientnet_lite*`, so the same state dicts
load into either; building it here spares every command the seconds `import timm` takes.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

# The seven stages: block ("ds" depthwise separable, "ir" inverted residual with expansion 6),
# kernel, stride of the first block; then per variant each stage's repeats and output channels.
STAGES: tuple[tuple[str, int, int], ...] = (
    ("ds", 3, 1), ("ir", 3, 2), ("ir", 5, 2), ("ir", 3, 2), ("ir", 5, 1), ("ir", 5, 2), ("ir", 3, 1),
)  # fmt: skip
REPEATS = {0: (1, 2, 2, 3, 3, 4, 1), 1: (1, 3, 3, 4, 4, 5, 1), 2: (1, 3, 3, 4, 4, 5, 1)}
CHANNELS = {
    0: (16, 24, 40, 80, 112, 192, 320),
    1: (16, 24, 40, 80, 112, 192, 320),
    2: (16, 24, 48, 88, 120, 208, 352),
}
STEM_CHANNELS, HEAD_CHANNELS, EXPANSION = 32, 1280, 6


class SameConv2d(nn.Conv2d):
    """Convolution with TensorFlow's SAME padding for any input size (extra pixel right/bottom)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pad_h = self._pad(x.shape[-2], 0)
        pad_w = self._pad(x.shape[-1], 1)
        if pad_h or pad_w:
            x = F.pad(x, [pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2])
        return super().forward(x)

    def _pad(self, size: int, axis: int) -> int:
        k, s, d = self.kernel_size[axis], self.stride[axis], self.dilation[axis]
        return max((math.ceil(size / s) - 1) * s + (k - 1) * d + 1 - size, 0)


def conv(c_in: int, c_out: int, kernel: int, stride: int = 1, groups: int = 1) -> nn.Conv2d:
    """A bias-free convolution padded like TensorFlow's SAME."""
    if stride == 1:
        return nn.Conv2d(c_in, c_out, kernel, 1, kernel // 2, groups=groups, bias=False)
    return SameConv2d(c_in, c_out, kernel, stride, 0, groups=groups, bias=False)


class NormAct(nn.BatchNorm2d):
    """Batch norm (TensorFlow's epsilon) followed by ReLU6 or nothing."""

    def __init__(self, channels: int, act: bool = True):
        super().__init__(channels, eps=1e-3)
        self.act: nn.Module = nn.ReLU6(inplace=True) if act else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(super().forward(x))


class DepthwiseSeparable(nn.Module):
    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int):
        super().__init__()
        self.conv_dw = conv(c_in, c_in, kernel, stride, groups=c_in)
        self.bn1 = NormAct(c_in)
        self.conv_pw = conv(c_in, c_out, 1)
        self.bn2 = NormAct(c_out, act=False)
        self.skip = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.bn2(self.conv_pw(self.bn1(self.conv_dw(x))))
        return x + y if self.skip else y


class InvertedResidual(nn.Module):
    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int):
        super().__init__()
        mid = c_in * EXPANSION
        self.conv_pw = conv(c_in, mid, 1)
        self.bn1 = NormAct(mid)
        self.conv_dw = conv(mid, mid, kernel, stride, groups=mid)
        self.bn2 = NormAct(mid)
        self.conv_pwl = conv(mid, c_out, 1)
        self.bn3 = NormAct(c_out, act=False)
        self.skip = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.bn1(self.conv_pw(x))
        y = self.bn3(self.conv_pwl(self.bn2(self.conv_dw(y))))
        return x + y if self.skip else y


class EfficientNetLite(nn.Module):
    """`forward_features`: (batch, 3, S, S) → (batch, 1280, S/32, S/32); `forward`: ImageNet logits."""

    def __init__(self, variant: int, num_classes: int = 1000):
        super().__init__()
        self.conv_stem = conv(3, STEM_CHANNELS, 3, 2)
        self.bn1 = NormAct(STEM_CHANNELS)
        stages, c_in = [], STEM_CHANNELS
        for (kind, kernel, stride), repeats, c_out in zip(
            STAGES, REPEATS[variant], CHANNELS[variant], strict=True
        ):
            block = DepthwiseSeparable if kind == "ds" else InvertedResidual
            layers = []
            for i in range(repeats):
                layers.append(block(c_in, c_out, kernel, stride if i == 0 else 1))
                c_in = c_out
            stages.append(nn.Sequential(*layers))
        self.blocks = nn.Sequential(*stages)
        self.conv_head = conv(c_in, HEAD_CHANNELS, 1)
        self.bn2 = NormAct(HEAD_CHANNELS)
        self.classifier = nn.Linear(HEAD_CHANNELS, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.bn1(self.conv_stem(x))  # (batch, 32, S/2, S/2)
        return self.bn2(self.conv_head(self.blocks(x)))  # (batch, 1280, S/32, S/32)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = self.forward_features(x).mean(dim=(2, 3))  # (batch, 1280)
        return self.classifier(pooled)  # (batch, num_classes)
