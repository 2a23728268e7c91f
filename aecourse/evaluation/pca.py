"""The PCA baseline of the structure chapter: fit, reconstruct, and compare subspaces by principal angles.

PCA comes from scikit-learn; this module only converts between tensors and arrays and states shapes.
A linear autoencoder trained with squared error spans the same subspace as the top-k principal
components (Baldi & Hornik 1989); :func:`principal_angles` measures how close two subspaces are.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.linalg import subspace_angles
from sklearn.decomposition import PCA

from aecourse._args import to_numpy
from aecourse.models.autoencoder import Autoencoder


def _flat(x: torch.Tensor) -> np.ndarray:
    return to_numpy(x.flatten(1), np.float64)


def fit_pca(x: torch.Tensor, k: int) -> PCA:
    """Fit PCA with k components to x: (N, ...) flattened to (N, d). Raises ValueError if k > min(N, d)."""
    n, d = len(x), x[0].numel()
    if not 1 <= k <= min(n, d):
        raise ValueError(
            f"k must be between 1 and min(N, d) = {min(n, d)}, got {k}."
        )
    return PCA(
        n_components=k,
        svd_solver="randomized" if k < d // 4 else "full",
        random_state=0,
    ).fit(_flat(x))


def pca_reconstruct(pca: PCA, x: torch.Tensor) -> torch.Tensor:
    """x̂ = μ + (x − μ) Vᵀ V: project onto the principal subspace and back. (N, ...) -> same shape."""
    rec = pca.inverse_transform(pca.transform(_flat(x)))
    return torch.as_tensor(rec, dtype=x.dtype, device=x.device).reshape(
        x.shape
    )


def decoder_basis(model: Autoencoder) -> torch.Tensor:
    """The columns spanning a one-layer linear decoder's output subspace: (d, k)."""
    layers = [
        m for m in model.decoder.layers if isinstance(m, torch.nn.Linear)
    ]
    if len(layers) != 1:
        raise ValueError(
            f"decoder_basis needs a decoder with one linear layer, this one has {len(layers)}."
        )
    return layers[0].weight.detach()


def principal_angles(a, b) -> np.ndarray:
    """Principal angles in degrees between span(a) and span(b), ascending. a: (d, k), b: (d, m).

    Tensors or arrays; sklearn's ``pca.components_`` is (k, d), so pass ``pca.components_.T``.
    """
    a, b = to_numpy(a, np.float64), to_numpy(b, np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[0] != b.shape[0]:
        raise ValueError(
            f"Need two bases (d, k) and (d, m) with the same d; got {a.shape} and {b.shape}."
        )
    return np.sort(np.degrees(subspace_angles(a, b)))
