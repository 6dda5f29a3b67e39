"""The inference fast path: photocap's own EfficientNet-Lite, batch norm folding, bf16 choice."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
from torch import nn

from photocap.model.efficientnet_lite import EfficientNetLite
from photocap.model.encoders import ENCODERS, Encoder
from photocap.model.inference import fold_batchnorm, use_bf16


def _random_norm_stats(model: nn.Module, seed: int = 0) -> nn.Module:
    """Batch norms with statistics far from the identity, so folding them is really tested."""
    gen = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(torch.rand(n, generator=gen) - 0.5)
            m.running_var.copy_(torch.rand(n, generator=gen) * 1.5 + 0.5)
            m.weight.data.copy_(torch.rand(n, generator=gen) + 0.5)
            m.bias.data.copy_(torch.rand(n, generator=gen) * 0.6 - 0.3)
    return model.eval()


@pytest.mark.parametrize("variant", [0, 1, 2])
def test_efficientnet_lite_matches_timm(variant):
    timm = pytest.importorskip("timm")
    torch.manual_seed(variant)
    theirs = _random_norm_stats(timm.create_model(f"tf_efficientnet_lite{variant}"))
    ours = EfficientNetLite(variant).eval()
    assert list(ours.state_dict()) == list(theirs.state_dict())  # same names, same order
    ours.load_state_dict(theirs.state_dict())
    for size in (ENCODERS[f"efficientnet_lite{variant}"].input_size, 301):  # 301: odd padding
        x = torch.randn(2, 3, size, size)
        with torch.no_grad():
            torch.testing.assert_close(ours.forward_features(x), theirs.forward_features(x))
            torch.testing.assert_close(ours(x), theirs(x))


@pytest.mark.parametrize("name", ["efficientnet_lite0", "resnet18"])
def test_folding_batch_norm_keeps_the_features(name):
    torch.manual_seed(1)
    encoder = Encoder(ENCODERS[name])
    _random_norm_stats(encoder)
    x = torch.randn(3, 3, 224, 224)
    with torch.no_grad():
        before = encoder(x)  # (3, num_pixels, dim)
        fold_batchnorm(encoder)
        after = encoder(x)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in encoder.modules())
    torch.testing.assert_close(after, before, rtol=1e-4, atol=1e-4)


def test_folding_leaves_training_batch_norms_alone():
    encoder = Encoder(ENCODERS["efficientnet_lite0"]).train()
    fold_batchnorm(encoder)
    assert sum(isinstance(m, nn.BatchNorm2d) for m in encoder.modules()) > 40


def test_bf16_only_where_asked_or_fast():
    cpu, cuda, mps = (torch.device(d) for d in ("cpu", "cuda", "mps"))
    assert use_bf16(cuda, "auto") and use_bf16(cpu, "bf16")
    assert not use_bf16(cuda, "fp32") and not use_bf16(mps, "auto") and not use_bf16(cpu, "fp32")


def test_loading_the_shipped_model_imports_neither_timm_nor_torchvision(shipped_model):
    code = (
        "import sys; from photocap.captioner import load_captioner; "
        f"load_captioner({str(shipped_model)!r}, 'cpu'); "
        "print(sorted({'timm', 'torchvision'} & set(sys.modules)))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_shipped_model_captions_alike_in_fp32_and_bf16(shipped_model, real_photos):
    from photocap.captioner import load_captioner

    fp32 = load_captioner(shipped_model, "cpu", precision="fp32")
    bf16 = load_captioner(shipped_model, "cpu", precision="bf16")
    from photocap.photos.decode import open_photo

    photos = [open_photo(path) for path in real_photos.values()]
    batch = torch.stack([fp32.prepare(photo) for photo in photos])  # (n, 3, S, S)
    a, b = fp32.encode(batch), bf16.encode(batch)  # (n, num_pixels, dim)
    assert a.dtype == b.dtype == torch.float32
    cosine = nn.functional.cosine_similarity(a.flatten(1), b.flatten(1))  # (n,)
    assert cosine.min() > 0.99


def test_caption_command_runs_the_encoder_in_the_precision_asked(shipped_model, real_photos):
    from click.testing import CliRunner

    from photocap.captioner import load_captioner
    from photocap.cli import cli
    from photocap.photos.decode import open_photo

    paths = [str(p) for p in real_photos.values()]
    photos = [open_photo(p) for p in paths]
    for precision in ("fp32", "bf16"):
        result = CliRunner().invoke(
            cli,
            ["caption", "--precision", precision, "--json", "--model", str(shipped_model), *paths],
        )
        assert result.exit_code == 0, result.output
        printed = [r["score"] for r in json.loads(result.stdout)["results"]]
        expected = load_captioner(shipped_model, "cpu", precision).caption_images(photos)
        assert printed == pytest.approx([c.score for c in expected], abs=1e-3)
