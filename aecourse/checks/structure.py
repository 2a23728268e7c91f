"""Checkers of the structure chapter's exercises: the Bernoulli reconstruction loss, PCA's reconstruction."""

from __future__ import annotations

from collections.abc import Callable

import torch

from aecourse.checks._verdict import _call, _close, _verdict, exercise
from aecourse.ops.losses import reconstruction_loss


@exercise("ex-bernoulli-loss")
def check_bernoulli_loss(fn: Callable) -> bool:
    """fn(x_hat, x) -> scalar: Σ_j Bernoulli cross-entropy per example, averaged over the batch."""
    g = torch.Generator().manual_seed(1)
    x = torch.rand(16, 1, 28, 28, generator=g)
    x_hat = torch.rand(16, 1, 28, 28, generator=g).clamp(0.01, 0.99)
    answer, problem = _call(fn, x_hat, x)
    if problem:
        return _verdict(False, problem)
    expected = reconstruction_loss(x_hat, x, kind="bce")
    if isinstance(answer, torch.Tensor) and answer.dim() == 0:
        per_pixel = expected / x[0].numel()
        if torch.isclose(answer, per_pixel, rtol=1e-4):
            return _verdict(
                False,
                "you averaged over pixels too; sum over the pixels of each image, "
                "average over images.",
            )
    return _close(answer, expected, "the loss")


@exercise("ex-pca-reconstruction")
def check_pca_reconstruction(fn: Callable) -> bool:
    """fn(x, mean, components) -> x̂ = mean + (x − mean) Vᵀ V.

    For x (N, d), mean (d,) and components V (k, d) with orthonormal rows (scikit-learn's
    ``components_``): the code (x − mean) Vᵀ is (N, k), i.e. z = V(x − μ) for one column vector, so
    PCA is the linear autoencoder with W_e = V (k × d) and W_d = Vᵀ (d × k).
    """
    g = torch.Generator().manual_seed(2)
    x = torch.randn(50, 12, generator=g, dtype=torch.float64)
    v, _ = torch.linalg.qr(
        torch.randn(12, 3, generator=g, dtype=torch.float64)
    )
    # (3, 12), orthonormal rows like sklearn's components_
    components = v.T.contiguous()
    mean = x.mean(0)
    answer, problem = _call(fn, x, mean, components)
    expected = mean + (x - mean) @ components.T @ components
    if problem or not (
        isinstance(answer, torch.Tensor)
        and answer.shape == expected.shape
        and torch.allclose(answer.double(), expected, atol=1e-6)
    ):
        # right for V laid out (d, k), one direction per column: the orientation is flipped
        flipped, _ = _call(fn, x, mean, components.T.contiguous())
        if (
            isinstance(flipped, torch.Tensor)
            and flipped.shape == expected.shape
            and torch.allclose(flipped.double(), expected, atol=1e-6)
        ):
            return _verdict(
                False,
                "components is V of shape (k, d), one principal direction per row: the code is "
                "(x − μ) Vᵀ and the reconstruction μ + (x − μ) Vᵀ V; you treated V as (d, k).",
            )
    if problem:
        return _verdict(False, problem)
    if (
        isinstance(answer, torch.Tensor)
        and answer.shape == expected.shape
    ):
        forgot_mean = x @ components.T @ components
        if torch.allclose(answer.double(), forgot_mean, atol=1e-6):
            return _verdict(
                False,
                "subtract the mean before projecting and add it back after.",
            )
    return _close(answer, expected, "the reconstruction", atol=1e-6)
