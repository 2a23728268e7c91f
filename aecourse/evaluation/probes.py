"""A linear probe: how much of the labels a code makes linearly readable (the denoising and applications
chapters).

The denoising chapter asks whether denoising and regularized autoencoders learn *better* codes, not just
better reconstructions. The usual measure: freeze the encoder, fit a multinomial logistic regression (a single
linear layer and a softmax) from codes to labels on the training set, and report its accuracy on the test
set. A code whose classes sit in separable regions scores high; one that mixes them scores near chance.

:func:`linear_probe` standardises each feature with the training set's mean and standard deviation
(never the test set's: that would let test data leak into the probe), starts from zero weights, and
trains with mini-batch Adam for a few epochs, recording the test accuracy after each so the chapter can
show how quickly it settles. It runs on the device the codes are on; 10 000 codes of up to 1000
dimensions take about 2 s for the default 20 epochs on one CPU thread. The same seed gives the same
result.

The applications chapter asks the question the other way round: when only a few labels exist (100 or
1000 of MNIST's 60 000), is a classifier better off reading pixels or an autoencoder's code?
:func:`few_label_accuracy` draws a small class-balanced labelled set several times
(:func:`balanced_indices`), fits the same scikit-learn logistic regression on each, and returns the test
accuracy of every draw, so the chapter can show the spread as well as the mean.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.preprocessing import StandardScaler
from torch import nn

from aecourse._args import indices, integer, to_numpy
from aecourse.training import fit


@dataclass
class ProbeResult:
    """What a linear probe scored: accuracies in [0, 1], and per epoch the test accuracy and the mean
    training loss (cross-entropy in nats) seen during that epoch."""

    test_accuracy: float
    train_accuracy: float
    test_accuracy_per_epoch: list[float] = field(default_factory=list)
    train_loss_per_epoch: list[float] = field(default_factory=list)


def _check_split(
    codes, labels, name: str, what: str = "codes"
) -> tuple[torch.Tensor, torch.Tensor]:
    """codes as an (N, k) float tensor and labels as (N,) int64 on the same device. what: the argument's
    name in the messages, ``{name}_{what}``."""
    codes, labels = torch.as_tensor(codes), torch.as_tensor(labels)
    if codes.ndim < 2 or len(codes) == 0:
        raise ValueError(
            f"{name}_{what} must be a batch (N, k) or (N, ...) with N ≥ 1, "
            f"got shape {tuple(codes.shape)}."
        )
    if labels.ndim != 1 or len(labels) != len(codes):
        raise ValueError(
            f"{name}_labels must be (N,) with one label per example, got shape {tuple(labels.shape)} "
            f"for {len(codes)} {what}."
        )
    indices(f"{name}_labels", labels, "class indices")
    if labels.min() < 0:
        raise ValueError(
            f"{name}_labels must be class indices 0, 1, ..., got {int(labels.min())}."
        )
    return codes.reshape(len(codes), -1), labels.to(
        device=codes.device, dtype=torch.int64
    )


def standardise(
    train: torch.Tensor, test: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Shift and scale every feature by the training set's mean and standard deviation.

    train: (N, k), test: (M, k)  ->  both standardised, float32. A feature that is constant on the
    training set (a border pixel, a dead unit) carries no information; it is centred and left unscaled
    rather than divided by zero. The statistics are computed in float64, so a constant feature comes out
    exactly 0 instead of as amplified rounding noise.
    """
    train64 = train.double()
    mean, std = train64.mean(0), train64.std(0)
    std = torch.where(std > 0, std, torch.ones_like(std))
    return ((train64 - mean) / std).float(), (
        (test.double() - mean) / std
    ).float()


@torch.no_grad()
def _accuracy(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor
) -> float:
    return (model(x).argmax(1) == y).double().mean().item()


def linear_probe(
    train_codes,
    train_labels,
    test_codes,
    test_labels,
    epochs: int = 20,
    batch_size: int = 256,
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    num_classes: int | None = None,
    seed: int = 0,
) -> ProbeResult:
    """Fit a multinomial logistic regression from codes to labels; report train and test accuracy.

    train_codes: (N, k) (or (N, ...), flattened), train_labels: (N,) ints in 0..C−1; test_codes: (M, k),
    test_labels: (M,)  ->  :class:`ProbeResult`. Tensors or arrays; training runs on train_codes' device.
    C is num_classes, by default the largest label seen plus one.

    Features are standardised with training statistics only (:func:`standardise`). The weights start at
    zero and the mini-batches are shuffled by a generator seeded with ``seed``, so the result does not
    depend on the global random state. Adam with ``lr`` for ``epochs`` passes of ``batch_size``;
    ``weight_decay`` adds an L2 penalty on the weights (none by default: 10 000 examples are plenty for a
    few thousand weights).
    Raises ValueError for shapes or labels that do not fit, or settings below 1.
    """
    train_x, train_y = _check_split(train_codes, train_labels, "train")
    test_x, test_y = _check_split(test_codes, test_labels, "test")
    if train_x.shape[1] != test_x.shape[1]:
        raise ValueError(
            f"train and test codes must have the same number of features, got {train_x.shape[1]} and "
            f"{test_x.shape[1]}."
        )
    for name, value in (("epochs", epochs), ("batch_size", batch_size)):
        if (
            not isinstance(value, int)
            or isinstance(value, bool)
            or value < 1
        ):
            raise ValueError(f"{name} must be an int ≥ 1, got {value!r}.")
    seen = int(max(train_y.max(), test_y.max())) + 1
    num_classes = seen if num_classes is None else num_classes
    if num_classes < seen:
        raise ValueError(
            f"num_classes = {num_classes}, but the labels go up to {seen - 1}."
        )

    device = train_x.device
    train_x, test_x = standardise(train_x, test_x.to(device))
    test_y = test_y.to(device)
    model = nn.Linear(train_x.shape[1], num_classes).to(device)
    # The problem is convex, so zero is as good a start as any, and unlike a random start it needs no seed.
    nn.init.zeros_(model.weight)
    nn.init.zeros_(model.bias)
    optimizer = torch.optim.Adam(
        model.parameters(), lr=lr, weight_decay=weight_decay
    )

    def cross_entropy(
        model: nn.Module, batch: tuple
    ) -> dict[str, torch.Tensor]:
        logits = model(batch[0])
        return {
            "loss": F.cross_entropy(logits, batch[1]),
            "accuracy": (logits.argmax(1) == batch[1]).float().mean(),
        }

    history = fit(
        model,
        train_x,
        train_y,
        batch_loss=cross_entropy,
        optimizer=optimizer,
        epochs=epochs,
        batch_size=batch_size,
        test=(test_x, test_y),
        generator=torch.Generator().manual_seed(seed),
        progress=False,
    )
    test_accuracy = history.metrics["test accuracy"]
    return ProbeResult(
        test_accuracy=test_accuracy[-1],
        train_accuracy=_accuracy(model, train_x, train_y),
        test_accuracy_per_epoch=test_accuracy,
        train_loss_per_epoch=history.train,
    )


def balanced_indices(
    labels: np.ndarray, n_labels: int, rng: np.random.Generator
) -> np.ndarray:
    """Draw n_labels // C examples of each of the C classes in labels, without replacement.

    labels: (N,) ints  ->  (n_labels,) indices into labels, class by class in increasing label order.
    Raises ValueError if n_labels is not a positive multiple of C or a class has too few examples.
    """
    classes, counts = np.unique(labels, return_counts=True)
    if (
        isinstance(n_labels, bool)
        or not isinstance(n_labels, (int, np.integer))
        or n_labels < 1
        or n_labels % len(classes)
    ):
        raise ValueError(
            f"n_labels must be a positive multiple of the {len(classes)} classes in train_labels, "
            f"got {n_labels!r}."
        )
    per_class = n_labels // len(classes)
    short = classes[counts < per_class]
    if len(short):
        raise ValueError(
            f"{n_labels} labels need {per_class} examples of each class; classes {short.tolist()} have "
            f"fewer ({counts[counts < per_class].tolist()})."
        )
    return np.concatenate(
        [
            rng.choice(
                np.flatnonzero(labels == c), per_class, replace=False
            )
            for c in classes
        ]
    )


def few_label_accuracy(
    train_features,
    train_labels,
    test_features,
    test_labels,
    n_labels: int,
    draws: int = 5,
    seed: int = 0,
    C: float | tuple[float, ...] = 1.0,
    folds: int = 3,
) -> np.ndarray:
    """Test accuracy of a logistic regression fitted on only n_labels labelled training examples.

    train_features: (N, k) (or (N, ...), flattened), train_labels: (N,) ints; test_features: (M, k),
    test_labels: (M,)  ->  (draws,) float array of accuracies in [0, 1]. Tensors (any device) or arrays.

    For draw d, :func:`balanced_indices` picks n_labels // C examples per class with
    ``np.random.default_rng(seed + d)``; the features are standardised with a StandardScaler fitted on
    those examples only (the labelled set is all a real user would have), and
    ``LogisticRegression(C=C, max_iter=2000)`` is fitted on them and scored on every test example.
    C: one value, or a tuple of candidates: then each draw chooses its own C by ``folds``-fold stratified
    cross-validation on its labelled examples only (accuracy, scikit-learn's ``cross_val_score``), then
    is refitted on all of them with the best C, so that every input gets the same tuning and no test example chooses anything.
    Raises ValueError for shapes or labels that do not fit, n_labels that is not a multiple of the number
    of classes or needs more examples than a class has, or draws below 1.
    """
    train_x, train_y = _check_split(
        train_features, train_labels, "train", "features"
    )
    test_x, test_y = _check_split(
        test_features, test_labels, "test", "features"
    )
    if train_x.shape[1] != test_x.shape[1]:
        raise ValueError(
            f"train and test features must have the same number of features, got {train_x.shape[1]} "
            f"and {test_x.shape[1]}."
        )
    integer("draws", draws, low=1)
    train_x, train_y = to_numpy(train_x, np.float64), to_numpy(train_y)
    test_x, test_y = to_numpy(test_x, np.float64), to_numpy(test_y)
    accuracies = np.empty(draws)
    for d in range(draws):
        chosen = balanced_indices(
            train_y, n_labels, np.random.default_rng(seed + d)
        )
        scaler = StandardScaler().fit(train_x[chosen])
        labelled_x = scaler.transform(train_x[chosen])
        best = C
        if np.ndim(C) != 0:
            split = StratifiedKFold(
                folds, shuffle=True, random_state=seed + d
            )
            cv = {
                c: cross_val_score(
                    LogisticRegression(C=c, max_iter=2000),
                    labelled_x,
                    train_y[chosen],
                    cv=split,
                ).mean()
                for c in C
            }
            best = max(cv, key=cv.get)  # the first of equal scores
        classifier = LogisticRegression(C=best, max_iter=2000)
        classifier.fit(labelled_x, train_y[chosen])
        accuracies[d] = classifier.score(scaler.transform(test_x), test_y)
    return accuracies
