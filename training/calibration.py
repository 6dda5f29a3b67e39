"""A trained model's own confidence curve (`photocap.model.confidence`), fitted on its validation
photos: P(the caption's CIDEr-D beats the median | its score, log p of the photo's top class).

A fine-tuned model writes captions in another style and with other scores than its base, so the
base's curve would gate them by another model's measure. With at least `MIN_PHOTOS` validation
photos the model gets its own curve, fitted with a pull (`PRIOR`) towards the base's; with fewer
it keeps the base's curve, and the model file says which.
"""

from __future__ import annotations

import numpy as np

from photocap.model.confidence import Calibration

MIN_PHOTOS = 50  # validation photos needed to fit a model's own curve
PRIOR = 1.0  # strength of the pull towards the base's curve (a Gaussian prior's precision)


def fit_logistic(
    x: np.ndarray,
    y: np.ndarray,
    steps: int = 50,
    prior: np.ndarray | None = None,
    strength: float = 0.0,
) -> np.ndarray:
    """Intercept and weights of a logistic regression on features `x` (n,) or (n, d) by Newton's
    method: (1 + d,). With `strength` > 0, a penalty strength/2·|w − prior|² keeps the fit near
    `prior` where the data say little (and finite where they separate perfectly)."""
    x = x.reshape(len(x), -1)  # (n, d)
    design = np.concatenate([np.ones((len(x), 1)), x], axis=1)  # (n, 1 + d)
    centre = np.zeros(design.shape[1]) if prior is None else np.asarray(prior, dtype=float)
    w = centre.copy()
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-(design @ w)))  # (n,)
        gradient = design.T @ (y - p) - strength * (w - centre)  # (1 + d,)
        hessian = (design * (p * (1 - p))[:, None]).T @ design  # (1 + d, 1 + d)
        hessian += (strength + 1e-9) * np.eye(len(w))
        step = np.linalg.solve(hessian, gradient)
        w += step
        if np.abs(step).max() < 1e-10:
            break
    return w


def fit_own_curve(
    scores: np.ndarray, top_labels: np.ndarray | None, cider: np.ndarray, base: Calibration
) -> Calibration:
    """The curve of P(CIDEr-D > its median) for captions with these `scores` (photos,) and top
    ImageNet class probabilities (photos,) or None, pulled towards `base`."""
    median = float(np.median(cider))
    positive = (cider > median).astype(float)
    columns = [scores]
    prior = [base.intercept, base.slope]
    if top_labels is not None:
        columns.append(np.log(np.clip(top_labels, 1e-6, None)))
        prior.append(base.label_slope)
    w = fit_logistic(np.stack(columns, axis=1), positive, prior=np.array(prior), strength=PRIOR)
    return Calibration(
        round(float(w[0]), 4),
        round(float(w[1]), 4),
        f"its {len(scores)} validation photos: P(CIDEr-D > {median:.3f}), pulled towards its base's",
        round(float(w[2]), 4) if len(w) > 2 else 0.0,
    )
