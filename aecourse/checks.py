"""Exercise checkers: each one runs a student's answer on fresh inputs and says right or wrong, and why.

A checker prints a one-line verdict and returns True/False, so a notebook cell can both show it and
``assert`` it. A stub that still raises ``NotImplementedError`` gets "not done yet", not a stack trace.
"""

from __future__ import annotations

import math
from typing import Callable

import torch

from .losses import reconstruction_loss


def _verdict(ok: bool, message: str) -> bool:
    print(("✅ Correct: " if ok else "❌ Not yet: ") + message)
    return ok


def _call(fn: Callable, *args):
    """Run the student's function; return (result, None) or (None, a message saying what went wrong)."""
    try:
        return fn(*args), None
    except NotImplementedError:
        return None, "the function still raises NotImplementedError: replace the stub with your code."
    except Exception as err:  # a student's bug: report it in one line
        return None, f"calling it raised {type(err).__name__}: {err}"


def _close(answer, expected: torch.Tensor, what: str, atol: float = 1e-4, rtol: float = 1e-4) -> bool:
    if not isinstance(answer, torch.Tensor):
        return _verdict(False, f"{what} should be a torch.Tensor, got {type(answer).__name__}.")
    if answer.shape != expected.shape:
        return _verdict(False, f"{what} has shape {tuple(answer.shape)}, expected {tuple(expected.shape)}.")
    if not torch.allclose(answer.double(), expected.double(), atol=atol, rtol=rtol):
        err = (answer.double() - expected.double()).abs().max().item()
        return _verdict(False, f"{what} differs from the reference by up to {err:.3g}.")
    return _verdict(True, f"{what} matches the reference.")


# --- Chapter 1 -------------------------------------------------------------------------------------

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
            return _verdict(False, "you averaged over pixels too; sum over the pixels of each image, average over images.")
    return _close(answer, expected, "the loss")


def check_pca_reconstruction(fn: Callable) -> bool:
    """fn(x, mean, components) -> x̂ = mean + (x − mean) Vᵀ V for x (N, d), mean (d,), components V (k, d)."""
    g = torch.Generator().manual_seed(2)
    x = torch.randn(50, 12, generator=g, dtype=torch.float64)
    v, _ = torch.linalg.qr(torch.randn(12, 3, generator=g, dtype=torch.float64))
    components = v.T.contiguous()  # (3, 12), orthonormal rows like sklearn's components_
    mean = x.mean(0)
    answer, problem = _call(fn, x, mean, components)
    if problem:
        return _verdict(False, problem)
    expected = mean + (x - mean) @ components.T @ components
    if isinstance(answer, torch.Tensor) and answer.shape == expected.shape:
        forgot_mean = x @ components.T @ components
        if torch.allclose(answer.double(), forgot_mean, atol=1e-6):
            return _verdict(False, "subtract the mean before projecting and add it back after.")
    return _close(answer, expected, "the reconstruction", atol=1e-6)


# --- Chapter 2 -------------------------------------------------------------------------------------

def check_binary_code(fn: Callable) -> bool:
    """fn(codes) -> (n, h) int tensor of 0/1: each code unit thresholded at 0.5."""
    codes = torch.tensor([[0.97, 0.02, 0.51], [0.49, 0.99, 0.03], [0.5, 0.2, 0.8]])
    answer, problem = _call(fn, codes)
    if problem:
        return _verdict(False, problem)
    expected = (codes > 0.5).long()
    if not isinstance(answer, torch.Tensor):
        return _verdict(False, f"return a tensor, got {type(answer).__name__}.")
    if answer.dtype.is_floating_point:
        return _verdict(False, "return integers 0/1 (e.g. with .long()), not floats.")
    return _close(answer, expected, "the bits (a value of exactly 0.5 counts as 0)", atol=0)


def check_min_code_bits(fn: Callable) -> bool:
    """fn(n) -> the fewest binary code units that give n inputs distinct codes: ⌈log2 n⌉."""
    for n in (2, 3, 8, 9, 16, 17, 1000):
        answer, problem = _call(fn, n)
        if problem:
            return _verdict(False, problem)
        expected = math.ceil(math.log2(n))
        if answer != expected:
            return _verdict(False, f"for n = {n} you answered {answer}, but {expected} binary units are needed: "
                            f"{expected - 1} give only {2 ** (expected - 1)} codes, {expected} give {2 ** expected}.")
    return _verdict(True, "⌈log2 n⌉ bits: h bits name at most 2^h inputs.")
