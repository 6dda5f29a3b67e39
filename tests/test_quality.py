"""Regression floor for the shipped model: COCO metrics on 100 Flickr8k test images, beam 3."""

from __future__ import annotations

import shutil

import pytest

from photocap.evaluation import evaluate_model, read_references

# Measured on the first 100 images of splits/test.txt with the shipped file (see weights/README.md);
# each floor sits just under the measured figure, so a regression in the model, preprocessing or
# decoding fails here.
FLOORS = {"BLEU-4": 0.23, "METEOR": 0.21, "CIDEr": 0.60}  # measured: .2406, .2140, .6120


@pytest.mark.slow
def test_shipped_model_quality_on_100_flickr8k_test_images(flickr8k, shipped_model):
    if shutil.which("java") is None:
        pytest.skip("METEOR and the PTB tokenizer of pycocoevalcap need Java")
    paths, references = read_references(
        flickr8k / "captions.txt", flickr8k / "images", flickr8k / "splits" / "test.txt"
    )
    report = evaluate_model(shipped_model, paths[:100], references[:100], beam=3, device="cpu")
    assert report.images == 100 and not report.failed
    for metric, floor in FLOORS.items():
        assert report.scores[metric] >= floor, (metric, report.scores)
