"""Checkers of the denoising chapter's exercises: masking noise and the contractive penalty."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from aecourse.checks._verdict import (
    _call,
    _close,
    _seeded,
    _shape_or_type,
    _verdict,
    exercise,
)

# The reference, tested against autograd.
from aecourse.ops.regularizers import contractive_penalty


@exercise("ex-mask")
def check_mask(fn: Callable) -> bool:
    """fn(x, nu) -> x with each entry set to 0 with probability nu, independently; the rest unchanged."""
    with _seeded(
        5
    ):  # the student's function draws from the global generator
        return _check_mask(fn)


def _check_mask(fn: Callable) -> bool:
    # no zeros of its own
    x = torch.rand(200, 784, dtype=torch.float64) * 0.9 + 0.1
    original = x.clone()
    for nu in (0.0, 1.0, 0.3, 0.75):
        answer, problem = _call(fn, x, nu)
        if problem:
            return _verdict(False, problem)
        if not torch.equal(x, original):
            return _verdict(
                False,
                "your function changed x itself: return a corrupted copy, the clean x is "
                "the target.",
            )
        if (
            not isinstance(answer, torch.Tensor)
            or answer.shape != x.shape
        ):
            return _verdict(
                False,
                f"return a tensor of x's shape {tuple(x.shape)}, got "
                f"{_shape_or_type(answer)}.",
            )
        answer = answer.double()
        kept = answer != 0
        if not torch.allclose(answer[kept], x[kept]):
            if torch.allclose(answer[kept], x[kept] / (1 - nu)):
                return _verdict(
                    False,
                    "the kept entries are scaled by 1/(1 − ν), as dropout does; masking "
                    "noise leaves them unchanged.",
                )
            return _verdict(
                False,
                "entries that are not set to 0 must keep their value.",
            )
        if 0 < nu < 1:
            rows_alike = (kept == kept[:1]).all(1).double().mean().item()
            columns_alike = (
                (kept == kept[:, :1]).all(0).double().mean().item()
            )
            if rows_alike > 0.5 or columns_alike > 0.5:
                return _verdict(
                    False,
                    "the zeros fall in the same places for every image (or every pixel): "
                    "draw an independent decision for each entry, e.g. torch.rand_like(x) < nu.",
                )
        rate = 1 - kept.double().mean().item()
        tolerance = (
            5 * math.sqrt(max(nu * (1 - nu), 1e-12) / x.numel()) + 1e-12
        )
        if abs(rate - nu) > tolerance:
            flipped = (
                " (did you keep with probability ν instead of dropping?)"
                if abs(rate - (1 - nu)) <= tolerance
                else ""
            )
            return _verdict(
                False,
                f"with ν = {nu}, a fraction {rate:.3f} of the entries is 0, expected "
                f"{nu}{flipped}.",
            )
    return _verdict(
        True,
        "each entry is dropped with probability ν, independently, and the rest is "
        "untouched.",
    )


@exercise("ex-contractive")
def check_contractive_penalty(fn: Callable) -> bool:
    """fn(x, W, b) -> scalar: ‖∂h/∂x‖²_F of h = sigmoid(x Wᵀ + b).

    Summed per example, mean over the batch.
    """
    g = torch.Generator().manual_seed(6)
    x = torch.rand(32, 20, generator=g, dtype=torch.float64)
    W = torch.randn(12, 20, generator=g, dtype=torch.float64)
    b = torch.randn(12, generator=g, dtype=torch.float64)
    answer, problem = _call(fn, x, W, b)
    if problem:
        return _verdict(False, problem)
    expected = contractive_penalty(x, W, b)
    if isinstance(answer, torch.Tensor) and answer.dim() == 0:
        h = torch.sigmoid(x @ W.T + b)
        slopes = h * (1 - h)
        unsquared = (slopes @ W.pow(2).sum(1)).mean()
        if torch.isclose(answer.double(), unsquared, rtol=1e-6):
            return _verdict(
                False,
                "square the sigmoid's slope: J_ij = h_i(1 − h_i)·W_ij, so J_ij² has "
                "(h_i(1 − h_i))².",
            )
        if torch.isclose(answer.double(), expected * len(x), rtol=1e-6):
            return _verdict(
                False,
                "you summed over the batch: average over the examples instead.",
            )
    return _close(answer, expected, "the penalty", atol=1e-8, rtol=1e-6)
