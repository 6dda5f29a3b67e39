"""A caption's confidence: the decoder's score mapped to a calibrated 0–1 probability.

The score is the caption's mean log-probability per emitted token (`<end>` included), as
`Caption.score` carries it. A logistic curve fitted on Flickr8k `dev` turns it into the
probability that the caption is better than the typical one: that its CIDEr against the
photo's reference captions beats the median CIDEr of the model's dev captions. Refit with
`python -m photocap.training.recipes.calibrate_confidence` (it prints the constants below).

A curve may also weigh how sure the encoder's ImageNet head is of the photo's top class
(`label_slope` × its log-probability): a photo the classifier recognises nothing in (a synthetic
landscape, an abstract) is captioned worse at the same score. Curves without it ignore the labels.

A model file may carry its own curve in its metadata (`metrics["confidence"]`, same keys as
`Calibration`); files without one (every file made before this) use the shipped model's curve.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Calibration:
    """confidence = 1 / (1 + exp(-(intercept + slope · score + label_slope · log p_top))).

    With evidence-steered decoding the score carries the steering's penalties, so a caption
    naming an object the photo shows no evidence of is less sure."""

    intercept: float
    slope: float
    fitted_on: str = ""  # what the curve was fitted on, for the record
    label_slope: float = 0.0  # weight of the log-probability of the photo's top ImageNet class

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: Mapping) -> Calibration:
        return cls(
            float(raw["intercept"]),
            float(raw["slope"]),
            str(raw.get("fitted_on", "")),
            float(raw.get("label_slope", 0.0)),
        )


# The curve of model files without their own. Fitted by training/recipes/calibrate_confidence.py on
# Flickr8k dev (1000 photos, beam 3, repetition rules on) with the plain model shipped until
# 2026-11-30: dev median CIDEr 0.388, ROC AUC 0.713, log loss 0.616 (0.693 for a constant 0.5). A
# score of -0.87 per token is an even chance. The shipped grounded model carries its own curve.
SHIPPED = Calibration(
    intercept=4.3915, slope=5.0253, fitted_on="flickr8k dev: P(CIDEr > 0.388), beam 3"
)

# Captions below this confidence are held back (indexed, not written as alt text). Chosen on
# Flickr8k dev with benchmarks/confidence_gate.py --split dev --choose as the highest threshold
# at which the held-back captions score at most half the mean CIDEr of the written ones: 0.25
# holds back 10.5% of dev captions, mean CIDEr 0.270 held back vs 0.583 written (0.30: 16.7%,
# 0.312 vs 0.598, more than half), for the plain model. With the grounded model's own curve 0.25
# holds back 9.9%, 0.300 vs 0.587 (just over half; 0.30: 15.2%, 0.293 vs 0.606): kept at 0.25.
DEFAULT_MIN_CONFIDENCE = 0.25
# A held-back photo's label line names objects at least this likely (alt_text.LabelLineOptions).
DEFAULT_LABEL_EVIDENCE = 0.7


def confidence(
    score: float,
    calibration: Calibration = SHIPPED,
    top_label: float | None = None,
) -> float:
    """The probability (0–1) that a caption with this `score` beats the median caption;
    `top_label`: the probability of the photo's top ImageNet class, for curves that weigh it."""
    z = calibration.intercept + calibration.slope * score
    if calibration.label_slope and top_label is not None:
        z += calibration.label_slope * math.log(max(top_label, 1e-6))
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)  # no overflow for very negative z
    return e / (1.0 + e)


def calibration_for(metrics: Mapping) -> Calibration:
    """The curve a model file carries in `metrics["confidence"]`, else the shipped model's."""
    raw = metrics.get("confidence") if isinstance(metrics, Mapping) else None
    if isinstance(raw, Mapping):
        try:
            return Calibration.from_dict(raw)
        except (KeyError, TypeError, ValueError):
            pass  # a broken entry must not cost the captions: fall back
    return SHIPPED
