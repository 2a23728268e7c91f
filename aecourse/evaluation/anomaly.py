"""Reconstruction error as an anomaly score (the applications chapter).

An autoencoder trained only on "normal" data reconstructs normal inputs well and unusual ones badly, so
the squared reconstruction error ||x − x̂||² of an example is a score: the higher, the more anomalous.
The applications chapter trains on every class but one (:func:`without_class`), scores the test set with
:func:`reconstruction_errors` and measures how well the score separates the held-out class with the ROC
curve and the area under it (:func:`roc`, computed by scikit-learn).
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.metrics import roc_auc_score, roc_curve
from torch import nn

from aecourse._args import describe, to_numpy
from aecourse.training import batches


@torch.no_grad()
def reconstruction_errors(
    model: nn.Module, x: torch.Tensor, batch_size: int = 1024
) -> torch.Tensor:
    """Squared reconstruction error of each example: sum over its entries of (model(x) − x)².

    x: (N, ...) on the model's device  ->  (N,) float tensor on that device. Computed in batches of
    ``batch_size`` with the model in eval mode and no gradient (as :func:`aecourse.training.predict`).
    A sum, not a mean, over entries; for ranking examples the two are the same (they differ by the
    number of entries). Raises ValueError for an empty or non-float x or a batch_size < 1.
    """
    if (
        not isinstance(x, torch.Tensor)
        or not x.dtype.is_floating_point
        or x.ndim < 1
        or len(x) == 0
    ):
        raise ValueError(
            f"x must be a non-empty float tensor of shape (N, ...), got {describe(x)}."
        )
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(
            f"batch_size must be a positive int, got {batch_size!r}."
        )
    model.eval()
    parts = [
        (model(xb) - xb).pow(2).reshape(len(xb), -1).sum(1)
        for (xb,) in batches(x, batch_size=batch_size, shuffle=False)
    ]
    return torch.cat(parts)


def without_class(
    x: torch.Tensor, y: torch.Tensor, label: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The examples of every class but ``label``: the "normal" data to train an anomaly detector on.

    x: (N, ...), y: (N,) integer labels  ->  (x_kept, y_kept) with shapes (M, ...) and (M,), M the number
    of examples whose label is not ``label``, in their original order. Raises ValueError if the lengths
    differ, y is not 1-D, or ``label`` does not occur in y (a typo would otherwise silently keep all).
    """
    if not isinstance(y, torch.Tensor) or y.ndim != 1 or len(x) != len(y):
        raise ValueError(
            f"y must be a 1-D tensor of labels as long as x; got x {describe(x)}, "
            f"y {describe(y)}."
        )
    keep = y != label
    if bool(keep.all()):
        raise ValueError(
            f"label {label!r} does not occur in y (labels present: {sorted(y.unique().tolist())})."
        )
    return x[keep], y[keep]


def roc(scores, is_anomaly) -> tuple[np.ndarray, np.ndarray, float]:
    """ROC curve and its area for anomaly scores (higher = more anomalous), by scikit-learn.

    scores: (N,) tensor or array of floats; is_anomaly: (N,) bools (or 0/1), True for the anomalies.
    Tensors may be on any device: they are moved to the CPU, and the results are NumPy.
    Returns (fpr, tpr, auroc): ``sklearn.metrics.roc_curve``'s false- and true-positive rates (arrays of
    equal length, from (0, 0) to (1, 1)) and ``roc_auc_score`` as a float. AUROC is the probability that
    a random anomaly scores higher than a random normal example (ties count ½): 1 is perfect, 0.5 chance.
    Raises ValueError if the lengths differ, the inputs are not 1-D, or only one class is present.
    """
    s, a = to_numpy(scores, np.float64), to_numpy(is_anomaly, bool)
    if s.ndim != 1 or a.ndim != 1 or len(s) != len(a):
        raise ValueError(
            f"scores and is_anomaly must be 1-D of the same length, got shapes {s.shape} and {a.shape}."
        )
    if a.all() or not a.any():
        raise ValueError(
            "is_anomaly must contain both anomalies (True) and normal examples (False)."
        )
    fpr, tpr, _ = roc_curve(a, s)
    return fpr, tpr, float(roc_auc_score(a, s))
