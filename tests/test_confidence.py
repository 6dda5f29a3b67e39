"""A caption's confidence: a calibrated 0–1 value from the decoder's score."""

from __future__ import annotations

import math

import pytest
from safetensors import safe_open

from photocap.captioner import load_captioner
from photocap.model.checkpoint import load_model, read_info, save_model
from photocap.model.confidence import SHIPPED, Calibration, calibration_for, confidence


def test_confidence_is_a_probability_rising_with_the_score():
    scores = [-30.0, -3.0, -1.5, -1.0, -0.5, -0.1, 0.0]
    values = [confidence(s) for s in scores]
    assert all(0.0 <= v <= 1.0 for v in values)
    assert values == sorted(values) and values[0] < values[-1]
    assert SHIPPED.slope > 0
    curve = Calibration(intercept=2.0, slope=4.0)
    assert confidence(-0.5, curve) == pytest.approx(0.5)
    assert confidence(0.0, curve) == pytest.approx(1 / (1 + math.exp(-2.0)))
    assert confidence(-1e6, curve) == 0.0 and confidence(1e6, curve) == 1.0  # no overflow


def test_a_model_file_may_carry_its_own_curve_and_older_files_use_the_shipped_one():
    assert calibration_for({}) == SHIPPED
    assert calibration_for({"confidence": {"slope": "x"}}) == SHIPPED  # broken: fall back
    own = {"intercept": 1.0, "slope": 2.0, "fitted_on": "my dev"}
    assert calibration_for({"confidence": own}) == Calibration(1.0, 2.0, "my dev")
    assert Calibration.from_dict(SHIPPED.to_dict()) == SHIPPED


def test_captions_carry_the_confidence_of_their_score(tiny_model, real_photos, tmp_path):
    from PIL import Image

    photos = [Image.open(p) for p in real_photos.values()]
    model = load_model(tiny_model)
    del model.info.metrics["confidence"]  # a file without a curve of its own
    older = save_model(tmp_path / "older.safetensors", model.info, model.encoder, model.decoder)
    captioner = load_captioner(older, "cpu")
    assert captioner.calibration == SHIPPED
    captions = captioner.caption_images(photos)
    for caption in captions:
        assert caption.confidence == pytest.approx(confidence(caption.score))

    model.info.metrics["confidence"] = Calibration(0.5, 3.0, "test").to_dict()
    path = save_model(tmp_path / "own.safetensors", model.info, model.encoder, model.decoder)
    with safe_open(str(path), "pt") as f:
        assert '"confidence"' in f.metadata()["info"]
    assert read_info(path).metrics["confidence"]["slope"] == 3.0
    own = load_captioner(path, "cpu")
    for caption in own.caption_images(photos):
        expected = confidence(caption.score, Calibration(0.5, 3.0))
        assert caption.confidence == pytest.approx(expected)


def test_a_curve_may_weigh_how_sure_the_labels_are(tiny_model, real_photos, tmp_path):
    """A curve with a label term: at the same score, a photo whose top ImageNet class is surer
    gets more confidence; each caption's confidence uses its own photo's top class."""
    from dataclasses import replace

    import torch
    from PIL import Image

    from photocap.model.beam import DecodeOptions
    from photocap.model.labels import IMAGENET_1K, class_logits

    curve = Calibration(0.5, 3.0, "test", label_slope=0.4)
    assert confidence(-1.0, curve, 0.9) > confidence(-1.0, curve, 0.05)
    assert confidence(-1.0, curve, None) == confidence(-1.0, Calibration(0.5, 3.0))
    assert Calibration.from_dict(curve.to_dict()) == curve

    model = load_model(tiny_model)  # a ResNet-18 with its (random) 1000-class head
    info = replace(model.info, classifier=IMAGENET_1K, metrics={"confidence": curve.to_dict()})
    path = save_model(tmp_path / "labelled.safetensors", info, model.encoder, model.decoder)
    captioner = load_captioner(path, "cpu")
    assert captioner.head is not None and captioner.calibration == curve
    photos = [Image.open(p).convert("RGB") for p in real_photos.values()]
    features = captioner.encode(torch.stack([captioner.prepare(p) for p in photos]))
    tops = class_logits(captioner.head, features).softmax(dim=-1).max(dim=-1).values.tolist()
    captions = captioner.caption_features(features, DecodeOptions())
    for caption, top in zip(captions, tops, strict=True):
        assert caption.confidence == pytest.approx(confidence(caption.score, curve, top))
        assert caption.confidence != pytest.approx(
            confidence(caption.score, replace(curve, label_slope=0.0))
        )
