"""Missing-value imputation with a denoising autoencoder, MIDA-style, against mean and k-NN imputation
(the applications chapter).

MIDA (Gondara & Wang, 2018, "MIDA: Multiple Imputation using Denoising Autoencoders") fills the holes of a
table by training an overcomplete denoising autoencoder on the incomplete table itself: hide some of the
observed entries, learn to give them back, then pass each incomplete row through the network and read the
missing entries off its output. The applications chapter runs the recipe on a table that ships with
scikit-learn:

- :func:`load_table` standardizes it (scaler fitted on the training rows only);
- :func:`remove_entries` deletes a fraction of entries completely at random (MCAR), returning the mask;
- :func:`impute_mean`, :func:`impute_knn` and :func:`impute_iterative` are the baselines (column means;
  scikit-learn's KNNImputer; its IterativeImputer, chained regressions in the manner of MICE);
- :func:`train_imputer` trains the autoencoder with :func:`aecourse.training.fit`, and
  :func:`impute_autoencoder` applies it; :func:`pool_imputations` averages several imputations (multiple
  imputation, as MIDA and MICE make them) and measures how much they disagree;
- :func:`rmse_on` scores an imputation on the removed entries only.

The default table is breast cancer (569 × 30): its features (radius, perimeter, area, ... of cell nuclei,
as mean, standard error and worst value) are strongly correlated, so a missing entry can be predicted from
the others, which is what an imputer needs to beat the column mean. Wine (178 × 13) is too small to split
and train on, and the 10 diabetes features are only weakly correlated.

Tables are float32 tensors (N, d) of standardized values with NaN at missing entries; masks are (N, d)
bools, True where an entry was removed. No imputer ever changes an observed entry.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from sklearn import datasets
from sklearn.experimental import enable_iterative_imputer  # noqa: F401
from sklearn.impute import IterativeImputer, KNNImputer
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from aecourse._args import describe, integer, probability, to_numpy
from aecourse.models.autoencoder import Autoencoder
from aecourse.training import fit, predict

TABLES = {
    "breast_cancer": datasets.load_breast_cancer,
    "wine": datasets.load_wine,
    "diabetes": datasets.load_diabetes,
}


@dataclass
class Table:
    """A standardized table split into train and test rows.

    train: (N_train, d) float32, test: (N_test, d) float32, both standardized with the training rows'
    mean and standard deviation (so train has column means 0 and standard deviations 1, test about so).
    feature_names: the d column names.
    """

    name: str
    train: torch.Tensor
    test: torch.Tensor
    feature_names: list[str]

    def __repr__(self) -> str:
        return f"Table({self.name}: train {tuple(self.train.shape)}, test {tuple(self.test.shape)})"


def load_table(
    name: str = "breast_cancer",
    test_fraction: float = 0.25,
    seed: int = 0,
) -> Table:
    """Load a scikit-learn table (no download), split it and standardize it with the training rows only.

    name: "breast_cancer" (569 × 30, the default), "wine" (178 × 13) or "diabetes" (442 × 10); the labels
    are dropped. test_fraction: share of rows held out, split by ``train_test_split(random_state=seed)``.
    Returns a :class:`Table`. Raises ValueError for an unknown name or a test_fraction outside (0, 1).
    """
    if name not in TABLES:
        raise ValueError(
            f"Unknown table {name!r}: expected one of {sorted(TABLES)}."
        )
    if not 0 < test_fraction < 1:
        raise ValueError(
            f"test_fraction must be in (0, 1), got {test_fraction!r}."
        )
    bunch = TABLES[name]()
    train, test = train_test_split(
        np.asarray(bunch.data, dtype=np.float64),
        test_size=test_fraction,
        random_state=seed,
    )
    scaler = StandardScaler().fit(train)
    as_tensor = lambda a: torch.from_numpy(scaler.transform(a)).float()  # noqa: E731
    return Table(
        name,
        as_tensor(train),
        as_tensor(test),
        [str(f) for f in bunch.feature_names],
    )


def _check_table(
    x, name: str = "x", allow_nan: bool = True
) -> torch.Tensor:
    if (
        not isinstance(x, torch.Tensor)
        or not x.dtype.is_floating_point
        or x.ndim != 2
    ):
        raise ValueError(
            f"{name} must be a float tensor of shape (N, d), got {describe(x)}."
        )
    if not allow_nan and bool(x.isnan().any()):
        raise ValueError(f"{name} must not contain NaN.")
    return x


def remove_entries(
    x: torch.Tensor,
    fraction: float,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Remove entries completely at random (MCAR): each entry independently with probability ``fraction``.

    x: (N, d) float without NaN  ->  (x_missing, mask): x_missing is a copy of x with NaN at the removed
    entries, mask (N, d) bool is True there. The uniform numbers are drawn on the generator's device (CPU
    by default), so a seeded generator gives the same mask on any device.
    Raises ValueError if fraction is outside [0, 1] or x is not an (N, d) float tensor without NaN.
    """
    x, fraction = (
        _check_table(x, allow_nan=False),
        probability("fraction", fraction),
    )
    where = (
        generator.device if generator is not None else torch.device("cpu")
    )
    mask = (
        torch.rand(x.shape, generator=generator, device=where) < fraction
    ).to(x.device)
    return x.masked_fill(mask, float("nan")), mask


def column_means(train_missing: torch.Tensor) -> torch.Tensor:
    """Mean of each column over its observed (non-NaN) entries: (N, d) -> (d,).

    Raises ValueError if a column has no observed entry (its mean is undefined).
    """
    train_missing = _check_table(train_missing, "train")
    observed = ~train_missing.isnan()
    if not bool(observed.any(0).all()):
        empty = (~observed.any(0)).nonzero().flatten().tolist()
        raise ValueError(
            f"Columns {empty} of the training table have no observed entry: no mean to fill with."
        )
    return train_missing.nan_to_num(0.0).sum(0) / observed.sum(0)


def _fill(x_missing: torch.Tensor, fill: torch.Tensor) -> torch.Tensor:
    fill = torch.as_tensor(
        fill, dtype=x_missing.dtype, device=x_missing.device
    )
    if fill.shape != x_missing.shape[1:]:
        raise ValueError(
            f"fill must have one value per column, shape ({x_missing.shape[1]},), "
            f"got {tuple(fill.shape)}."
        )
    return torch.where(
        x_missing.isnan(), fill.expand_as(x_missing), x_missing
    )


def impute_mean(
    x_missing: torch.Tensor, train: torch.Tensor
) -> torch.Tensor:
    """Fill each NaN of x_missing with its column's mean over the observed entries of ``train``.

    x_missing: (N, d) with NaN at missing entries; train: (M, d), may itself have NaN  ->  (N, d), no NaN,
    observed entries unchanged. For standardized data with a complete train the means are 0.
    """
    x_missing = _check_table(x_missing, "x_missing")
    return _fill(x_missing, column_means(train))


def impute_knn(
    x_missing: torch.Tensor, train_missing: torch.Tensor, k: int = 5
) -> torch.Tensor:
    """k-nearest-neighbour imputation by scikit-learn's ``KNNImputer(n_neighbors=k)``.

    The imputer is fitted on the training table with its own missing entries (as it would be in
    practice) and then fills x_missing: each missing entry is the mean of that feature over the k training
    rows nearest to the row (NaN-aware Euclidean distance on the features both have) that observe it.
    x_missing: (N, d), train_missing: (M, d)  ->  (N, d) tensor on x_missing's device and dtype (computed
    on the CPU in float64); observed entries unchanged. Raises ValueError if k < 1 or the widths differ.
    """
    x_missing, train_missing = (
        _check_table(x_missing, "x_missing"),
        _check_table(train_missing, "train_missing"),
    )
    integer("k", k, low=1)
    if x_missing.shape[1] != train_missing.shape[1]:
        raise ValueError(
            f"x_missing and train_missing must have the same columns, got widths "
            f"{x_missing.shape[1]} and {train_missing.shape[1]}."
        )
    # KNNImputer silently drops all-NaN columns; refuse them instead
    column_means(train_missing)
    imputer = KNNImputer(n_neighbors=k).fit(
        to_numpy(train_missing, np.float64)
    )
    out = torch.from_numpy(
        imputer.transform(to_numpy(x_missing, np.float64))
    )
    out = out.to(device=x_missing.device, dtype=x_missing.dtype)
    # keep observed entries bit for bit
    return torch.where(x_missing.isnan(), out, x_missing)


def impute_iterative(
    x_missing: torch.Tensor,
    train_missing: torch.Tensor,
    *,
    max_iter: int = 10,
    sample_posterior: bool = False,
    seed: int = 0,
) -> torch.Tensor:
    """Chained-equations imputation by scikit-learn's ``IterativeImputer`` (MICE-style).

    Each column with missing entries is regressed (BayesianRidge) on the others, round-robin, for
    ``max_iter`` rounds, starting from the column means; fitted on train_missing, then applied to
    x_missing. sample_posterior: draw each imputed entry from the regression's predictive distribution
    instead of taking its mean, as MICE does; several seeds then give several imputations
    (:func:`pool_imputations`). x_missing: (N, d), train_missing: (M, d)  ->  (N, d) on x_missing's device
    and dtype (computed on the CPU in float64); observed entries unchanged.
    Raises ValueError if max_iter < 1 or the widths differ.
    """
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    x_missing, train_missing = (
        _check_table(x_missing, "x_missing"),
        _check_table(train_missing, "train_missing"),
    )
    integer("max_iter", max_iter, low=1)
    if x_missing.shape[1] != train_missing.shape[1]:
        raise ValueError(
            f"x_missing and train_missing must have the same columns, got widths "
            f"{x_missing.shape[1]} and {train_missing.shape[1]}."
        )
    column_means(train_missing)
    imputer = IterativeImputer(
        max_iter=max_iter,
        sample_posterior=sample_posterior,
        random_state=seed,
    )
    with warnings.catch_warnings():
        # stopping at max_iter before its tolerance is met is what max_iter asks for
        warnings.simplefilter("ignore", ConvergenceWarning)
        imputer.fit(to_numpy(train_missing, np.float64))
        out = imputer.transform(to_numpy(x_missing, np.float64))
    out = torch.from_numpy(out).to(
        device=x_missing.device, dtype=x_missing.dtype
    )
    return torch.where(x_missing.isnan(), out, x_missing)


def pool_imputations(
    imputations: list[torch.Tensor], mask: torch.Tensor
) -> tuple[torch.Tensor, float]:
    """Pool m imputations of one table: their mean, and their spread at the missing entries.

    imputations: m >= 1 tensors (N, d), the same table imputed m times; mask: (N, d) bool, True at the
    missing entries  ->  (pooled (N, d), the mean over missing entries of the standard deviation across
    the m imputations (0 for m = 1)). The pooled table is the point estimate of multiple imputation
    (Rubin's rules pool estimates by their mean); the spread is the between-imputation uncertainty a
    single imputation hides. Raises ValueError for no imputations or shapes that differ.
    """
    if not imputations or any(x.shape != mask.shape for x in imputations):
        raise ValueError(
            f"imputations must be m >= 1 tensors of the mask's shape {tuple(mask.shape)}."
        )
    stack = torch.stack(list(imputations))
    spread = (
        stack.std(0, unbiased=True)[mask].mean().item()
        if len(stack) > 1 and bool(mask.any())
        else 0.0
    )
    return stack.mean(0), spread


def impute_autoencoder(
    model: torch.nn.Module, x_missing: torch.Tensor, fill: torch.Tensor
) -> torch.Tensor:
    """Impute with a trained denoising autoencoder: one pass, the model's output at the missing entries.

    x_missing: (N, d) with NaN at missing entries, on the model's device; fill: (d,) the training column
    means (as returned by :func:`train_imputer`). The NaNs are first replaced by ``fill`` (what the model
    was trained to see in place of a hidden entry), the filled rows go through the model once (eval mode,
    no gradient), and the result keeps the observed entries and takes the model's output at the missing
    ones: (N, d), no NaN.
    """
    x_missing = _check_table(x_missing, "x_missing")
    out = predict(model, _fill(x_missing, fill))
    return torch.where(x_missing.isnan(), out, x_missing)


def observed_mse(
    output: torch.Tensor, target: torch.Tensor
) -> torch.Tensor:
    """Mean squared error over the observed (non-NaN) entries of target only: a loss for ``fit``.

    output, target: (B, d), target with NaN at missing entries  ->  scalar. Missing entries add nothing to
    the loss or its gradient (a batch with no observed entry gives 0).
    """
    observed = ~target.isnan()
    squared = (output - target.nan_to_num(0.0)).pow(2) * observed
    return squared.sum() / observed.sum().clamp(min=1)


def drop_observed(
    fill: torch.Tensor,
    p: float = 0.5,
    generator: torch.Generator | None = None,
):
    """The training corruption: a function that sets each entry to its column's ``fill`` with probability p.

    Returns ``noise(xb)`` for :func:`aecourse.training.fit`: xb (B, d) mean-filled rows -> same shape. An
    entry that was missing already holds its fill value, so in effect only observed entries are dropped.
    This is MIDA's input dropout (rate 0.5) in the denoising-autoencoder form: a dropped entry looks like a
    missing one (the column mean), and, unlike nn.Dropout, the kept entries are not scaled by 1/(1 − p),
    so that training inputs look like the mean-filled rows the model sees when it imputes.
    """
    if not 0 <= p < 1:
        raise ValueError(f"p must be in [0, 1), got {p!r}.")

    def noise(xb: torch.Tensor) -> torch.Tensor:
        where = generator.device if generator is not None else xb.device
        dropped = (
            torch.rand(xb.shape, generator=generator, device=where) < p
        ).to(xb.device)
        return torch.where(
            dropped,
            torch.as_tensor(
                fill, dtype=xb.dtype, device=xb.device
            ).expand_as(xb),
            xb,
        )

    return noise


def train_imputer(
    x_train_missing: torch.Tensor,
    *,
    widen: tuple[int, ...] = (7, 14, 21),
    drop: float = 0.5,
    epochs: int = 100,
    batch_size: int = 32,
    lr: float = 1e-3,
    generator: torch.Generator | None = None,
    progress: bool = False,
) -> tuple[Autoencoder, torch.Tensor]:
    """Train a MIDA-style overcomplete denoising autoencoder on an incomplete table.

    x_train_missing: (N, d) standardized, NaN at missing entries  ->  (model, fill) with fill (d,) the
    column means of the observed entries, to pass to :func:`impute_autoencoder`.

    The network is MIDA's: ``Autoencoder([d, d+7, d+14, d+21])`` (``widen`` gives the additions), each
    layer wider than the last, tanh hidden layers, a linear output (standardized data are not in [0, 1]);
    our decoder mirrors the encoder, d+21 → d+14 → d+7 → d. Training uses :func:`aecourse.training.fit`:

    - input: the rows with missing entries filled by the column means, corrupted afresh in every batch by
      :func:`drop_observed` (each entry set to its mean with probability ``drop``, MIDA's 0.5);
    - target: the incomplete rows themselves, and the loss :func:`observed_mse` counts only their
      observed entries, so the network is never trained towards a value nobody observed.

    Differences from the paper, for a fast chapter: Adam with learning rate ``lr`` instead of SGD with
    Nesterov momentum, and ``epochs`` (100 by default; the applications experiment chooses it on validation
    rows) instead of 500. One call gives one imputation; MIDA's multiple imputations are several networks
    trained from different random starts, pooled by :func:`pool_imputations`.
    ``generator`` seeds the corruption; the shuffling and initialisation follow torch's global seed.
    """
    models, fill = train_imputer_snapshots(
        x_train_missing,
        (epochs,),
        widen=widen,
        drop=drop,
        batch_size=batch_size,
        lr=lr,
        generator=generator,
        progress=progress,
    )
    return models[0], fill


def train_imputer_snapshots(
    x_train_missing: torch.Tensor,
    epochs: tuple[int, ...],
    *,
    widen: tuple[int, ...] = (7, 14, 21),
    drop: float = 0.5,
    batch_size: int = 32,
    lr: float = 1e-3,
    generator: torch.Generator | None = None,
    progress: bool = False,
) -> tuple[list[Autoencoder], torch.Tensor]:
    """One run of :func:`train_imputer`, with a copy of the model kept after each number of epochs.

    epochs: increasing epoch counts, e.g. (25, 50, 100): the run trains to the last, and the model after
    epoch 25, 50 and 100 is returned, so that a validation set can choose among them at the cost of one
    run. Returns ([model after each count], fill). Raises ValueError unless the counts increase from >= 0.
    """
    import copy

    x_train_missing = _check_table(x_train_missing, "x_train_missing")
    epochs = tuple(epochs)
    if (
        not epochs
        or any(not isinstance(e, int) or e < 0 for e in epochs)
        or list(epochs) != sorted(set(epochs))
    ):
        raise ValueError(
            f"epochs must be increasing whole numbers >= 0, got {epochs!r}."
        )
    fill = column_means(x_train_missing)
    d = x_train_missing.shape[1]
    model = Autoencoder(
        [d] + [d + w for w in widen],
        activation="tanh",
        code_activation="tanh",
        output="linear",
    ).to(x_train_missing.device)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    noise = drop_observed(fill, drop, generator)
    snapshots, done = [], 0
    for target in epochs:
        fit(
            model,
            _fill(x_train_missing, fill),
            x_train_missing,
            loss=observed_mse,
            epochs=target - done,
            batch_size=batch_size,
            optimizer=optimizer,
            noise=noise,
            progress=progress,
            desc="imputer",
        )
        done = target
        snapshots.append(copy.deepcopy(model))
    return snapshots, fill


def rmse_on(
    x_true: torch.Tensor, x_imputed: torch.Tensor, mask: torch.Tensor
) -> float:
    """Root mean squared error over the removed entries only: sqrt(mean over mask of (x̂ − x)²).

    x_true, x_imputed: (N, d); mask: (N, d) bool, True at the removed entries  ->  float, in the units
    of the table (standard deviations for a standardized one). Raises ValueError if the shapes differ,
    the mask is empty, or x_imputed still has NaN at a removed entry.
    """
    if (
        not (x_true.shape == x_imputed.shape == mask.shape)
        or mask.dtype != torch.bool
    ):
        raise ValueError(
            f"x_true, x_imputed and a bool mask must share one shape, got {tuple(x_true.shape)}, "
            f"{tuple(x_imputed.shape)} and {tuple(mask.shape)} ({mask.dtype})."
        )
    if not bool(mask.any()):
        raise ValueError(
            "mask has no True entry: no removed entries to measure the error on."
        )
    diff = (x_imputed - x_true)[mask]
    if bool(diff.isnan().any()):
        raise ValueError(
            "x_imputed has NaN at removed entries: impute them first."
        )
    return diff.double().pow(2).mean().sqrt().item()
