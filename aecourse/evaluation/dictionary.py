"""The baselines a sparse autoencoder is measured against: PCA and scikit-learn's dictionary learning, and
how many planted feature directions each one finds (the sparse autoencoder chapter).

PCA gives at most d orthogonal directions, those of largest variance; when n > d features are stored in
superposition, each principal component mixes many of them, so PCA recovers at most d features and
usually none. Sparse dictionary learning (Olshausen & Field 1996; Mairal et al. 2009) solves the same
problem as a sparse autoencoder, x ≈ D a with a sparse code a, but finds each example's code by an
optimisation rather than by one encoder pass, so it is slower and cannot be read as a layer of features.
Recovery is scored by :func:`aecourse.models.sparse_autoencoder.recovered_fraction` with |cos|: neither
baseline's directions have a meaningful sign.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from sklearn.decomposition import MiniBatchDictionaryLearning
from sklearn.exceptions import ConvergenceWarning

from aecourse._args import integer, to_numpy
from aecourse.evaluation.pca import fit_pca
from aecourse.models.sparse_autoencoder import recovered_fraction


def pca_directions(x: torch.Tensor, k: int) -> torch.Tensor:
    """The top-k principal directions of x as columns: x (N, d)  ->  (d, k), orthonormal.

    Raises ValueError unless 1 <= k <= min(N, d).
    """
    return torch.as_tensor(
        fit_pca(x, k).components_.T.copy(), dtype=x.dtype
    )


def dictionary_directions(
    x: torch.Tensor,
    n_atoms: int,
    alpha: float = 0.3,
    *,
    epochs: int = 2,
    batch_size: int = 256,
    seed: int = 0,
) -> torch.Tensor:
    """Atoms learned by scikit-learn's ``MiniBatchDictionaryLearning`` on x, as unit-norm columns.

    x: (N, d)  ->  (d, n_atoms). alpha: the weight of the L1 penalty on the codes (sklearn's alpha, for
    each example's ½‖x − Da‖² + α‖a‖₁). epochs: passes over the data (sklearn's max_iter). The data are
    centred first, as an SAE's b_pre does. seed: sklearn's random_state, so a call repeats.
    """
    integer("n_atoms", n_atoms, low=1)
    integer("epochs", epochs, low=1)
    data = to_numpy(x, np.float64)
    if data.ndim != 2:
        raise ValueError(f"x must be (N, d), got shape {data.shape}.")
    learner = MiniBatchDictionaryLearning(
        n_components=n_atoms,
        alpha=alpha,
        max_iter=epochs,
        batch_size=batch_size,
        fit_algorithm="cd",  # coordinate descent: several times faster than LARS here
        random_state=seed,
    )
    with warnings.catch_warnings():
        # Each mini-batch's inner lasso stops at a duality gap of ~1e-5 against a tolerance of ~1e-8
        # and says so; one inexact step among hundreds does not matter, the message would on every page.
        warnings.simplefilter("ignore", ConvergenceWarning)
        learner.fit(data - data.mean(0))
    atoms = torch.as_tensor(learner.components_.T.copy(), dtype=x.dtype)
    return atoms / atoms.norm(dim=0).clamp_min(1e-12)


def baseline_recovery(
    x: torch.Tensor,
    true_directions: torch.Tensor,
    n_atoms: int,
    alpha: float = 0.3,
    threshold: float = 0.9,
    *,
    epochs: int = 2,
    seed: int = 0,
) -> dict[str, float]:
    """The fraction of planted directions that PCA and dictionary learning each recover from x.

    x: (N, d) activations; true_directions: (d, n), the planted feature directions; n_atoms: the
    dictionary's size (compare with the SAE's number of latents). PCA gets min(n_atoms, N, d)
    components; alpha, epochs, seed: see :func:`dictionary_directions`. -> {"pca": fraction,
    "dictionary learning": fraction}, each in [0, 1], with |cos| > threshold counting as recovered
    (:func:`aecourse.models.sparse_autoencoder.recovered_fraction`).
    """
    k = min(n_atoms, *x.shape)
    found = {
        "pca": pca_directions(x, k),
        "dictionary learning": dictionary_directions(
            x, n_atoms, alpha, epochs=epochs, seed=seed
        ),
    }
    return {
        name: recovered_fraction(
            true_directions, directions, threshold, absolute=True
        )
        for name, directions in found.items()
    }
