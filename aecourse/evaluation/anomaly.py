"""Reconstruction error as an anomaly score (the applications chapter).

An autoencoder trained only on "normal" data reconstructs normal inputs well and unusual ones badly, so
the squared reconstruction error ||x − x̂||² of an example is a score: the higher, the more anomalous.
The applications chapter trains on every class but one (:func:`without_class`), scores the test set with
:func:`reconstruction_errors` and measures how well the score separates the held-out class with the ROC
curve and the area under it (:func:`roc`, computed by scikit-learn).

How long to train, and how many principal components the PCA baseline keeps, are chosen on validation
data, never on the test set: :func:`validation_split` holds out normal training images and takes the
held-out class's own *training* images as validation anomalies; :func:`train_detector` and
:func:`pca_errors` with :func:`choose_pca_components` pick, on them, the epoch and the number of
components with the highest validation AUROC.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.metrics import roc_auc_score, roc_curve
from torch import nn

from aecourse._args import describe, to_numpy
from aecourse.training import batches, fit


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


def validation_split(
    x: torch.Tensor, y: torch.Tensor, label: int, n_valid: int
):
    """Split training data for a detector of class ``label``: fit on normal data, choose on validation.

    x: (N, ...), y: (N,)  ->  (fit_x, valid_x, valid_is_anomaly): fit_x the normal examples (label
    excluded) but their last n_valid; valid_x those n_valid normal examples followed by the first
    n_valid // 9 examples of ``label`` (about the share one class has among ten); valid_is_anomaly (V,)
    bool, True on the latter. Raises ValueError if n_valid leaves nothing to fit on.
    """
    normal_x, _ = without_class(x, y, label)
    if not 9 <= n_valid < len(normal_x):
        raise ValueError(
            f"n_valid must be at least 9 and leave normal examples to fit on, got {n_valid}."
        )
    anomalies = x[y == label][: n_valid // 9]
    valid_x = torch.cat([normal_x[-n_valid:], anomalies])
    is_anomaly = torch.zeros(len(valid_x), dtype=torch.bool)
    is_anomaly[n_valid:] = True
    return normal_x[:-n_valid], valid_x, is_anomaly


def train_detector(
    model: nn.Module,
    fit_x: torch.Tensor,
    valid_x: torch.Tensor,
    valid_is_anomaly,
    max_epochs: int,
    **fit_args,
) -> tuple[nn.Module, int, list[float]]:
    """Train ``model`` on fit_x one epoch at a time, up to max_epochs, and keep the epoch whose
    reconstruction errors separate valid_x's anomalies best (highest validation AUROC; ties: the earlier).

    fit_args go to :func:`aecourse.training.fit` (loss, batch_size, ...); one optimizer serves all epochs.
    Returns (the model with the chosen epoch's weights, that epoch (1-based), the validation AUROC after
    each epoch). Raises ValueError if max_epochs < 1.
    """
    import copy

    if not isinstance(max_epochs, int) or max_epochs < 1:
        raise ValueError(
            f"max_epochs must be a positive int, got {max_epochs!r}."
        )
    optimizer = fit_args.pop("optimizer", None) or torch.optim.Adam(
        model.parameters(), lr=fit_args.pop("lr", 1e-3)
    )
    aurocs, best_state = [], None
    for _ in range(max_epochs):
        fit(model, fit_x, epochs=1, optimizer=optimizer, **fit_args)
        aurocs.append(
            roc(reconstruction_errors(model, valid_x), valid_is_anomaly)[
                2
            ]
        )
        if aurocs[-1] == max(aurocs):
            best_state = copy.deepcopy(model.state_dict())
    model.load_state_dict(best_state)
    best = aurocs.index(max(aurocs)) + 1
    return model, best, aurocs


def pca_errors(
    pca, x: torch.Tensor, n_components: int | None = None
) -> torch.Tensor:
    """Squared reconstruction error of a fitted scikit-learn PCA, keeping its first n_components.

    x: (N, ...)  ->  (N,) on x's device, as :func:`reconstruction_errors`: ||x − μ − (x − μ)VₙᵀVₙ||²,
    Vₙ the first n_components rows of pca.components_ (all of them by default; principal components are
    nested, so one fit serves every smaller n). Raises ValueError for n_components outside [1, fitted].
    """
    fitted = pca.components_.shape[0]
    n = fitted if n_components is None else n_components
    if not isinstance(n, int) or not 1 <= n <= fitted:
        raise ValueError(
            f"n_components must be an int from 1 to {fitted}, got {n_components!r}."
        )
    flat = to_numpy(x.reshape(len(x), -1), np.float64)
    centred = flat - pca.mean_
    v = pca.components_[:n]
    residual = centred - centred @ v.T @ v
    return torch.as_tensor(
        (residual**2).sum(1), dtype=x.dtype, device=x.device
    )


def choose_pca_components(
    pca, valid_x: torch.Tensor, valid_is_anomaly, candidates=(8, 16, 32)
) -> tuple[int, dict[int, float]]:
    """The number of components (from candidates) whose PCA errors separate valid_x's anomalies best.

    Returns (best n, {n: validation AUROC}); ties go to the first candidate.
    """
    aurocs = {
        n: roc(pca_errors(pca, valid_x, n), valid_is_anomaly)[2]
        for n in candidates
    }
    return max(aurocs, key=aurocs.get), aurocs
