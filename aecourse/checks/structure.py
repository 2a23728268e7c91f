"""Checkers of the structure chapter's exercises: the Bernoulli reconstruction loss, PCA's reconstruction."""

from __future__ import annotations

from collections.abc import Callable

import torch

from aecourse.checks._verdict import _call, _close, _verdict
from aecourse.ops.losses import reconstruction_loss


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


def check_pca_reconstruction(fn: Callable) -> bool:
    """fn(x, mean, components) -> x̂ = mean + (x − mean) Vᵀ V.

    For x (N, d), mean (d,) and components V (k, d).
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
    if problem:
        return _verdict(False, problem)
    expected = mean + (x - mean) @ components.T @ components
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
