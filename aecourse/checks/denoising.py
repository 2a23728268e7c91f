"""Checkers of the denoising chapter's exercises: masking noise, the denoising loss and the contractive penalty."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from aecourse.checks._verdict import (
    _call,
    _close,
    _known_slip,
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


@exercise("ex-denoising-loss")
def check_denoising_loss(fn: Callable) -> bool:
    """fn(model, x, corrupt) -> scalar: the denoising loss of one batch, L(x, model(corrupt(x))).

    The Bernoulli cross-entropy summed over each example's entries and averaged over the batch
    (:func:`aecourse.ops.losses.reconstruction_loss` with kind="bce"), between the model's output for a
    corrupted copy x̃ = corrupt(x) and the *clean* x: what ``fit(..., noise=corrupt)`` minimises.
    ``corrupt`` masks half the entries with a fresh mask on every call; the checker records each x̃.
    """
    # Here, not at the top: checks must not import the models of the course.
    from aecourse.models.autoencoder import Autoencoder
    from aecourse.ops.losses import reconstruction_loss

    with _seeded(8):
        # overcomplete, as the chapter's denoisers: 12 inputs, 20 code units
        model = Autoencoder([12, 20]).double()
        x = 0.1 + 0.8 * torch.rand(10, 12, dtype=torch.float64)
    original = x.clone()
    g = torch.Generator().manual_seed(9)
    corrupted: list[torch.Tensor] = []

    def corrupt(xb: torch.Tensor) -> torch.Tensor:
        """Masking noise: each entry set to 0 with probability 1/2, a fresh mask on every call."""
        keep = torch.rand(xb.shape, generator=g, dtype=xb.dtype) >= 0.5
        corrupted.append((xb * keep).detach().clone())
        return xb * keep

    answer, problem = _call(fn, model, x, corrupt)
    if problem:
        return _verdict(False, problem)
    if not torch.equal(x, original):
        return _verdict(
            False,
            "your function changed x itself: it is the clean target, leave it as it is.",
        )
    if not isinstance(answer, torch.Tensor) or answer.dim() != 0:
        return _verdict(
            False,
            "return the loss as a 0-dimensional tensor (what .backward() starts from), got "
            f"{'shape ' if isinstance(answer, torch.Tensor) else ''}{_shape_or_type(answer)}.",
        )
    if not answer.requires_grad:
        return _verdict(
            False,
            "your loss carries no gradient: compute it from the model's output, without "
            "torch.no_grad() or .item(), so that backward() can train the model.",
        )
    got = answer.detach().double()

    def bce(x_hat: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return reconstruction_loss(x_hat, target, kind="bce")

    with torch.no_grad():
        if any(
            torch.isclose(got, bce(model(x_tilde), x), rtol=1e-6)
            for x_tilde in corrupted
        ):
            return _verdict(
                True,
                "the model's output for the corrupted x̃ is compared with the clean x: it "
                "cannot win by copying its input.",
            )
        plain = bce(model(x), x)
        if not corrupted:
            message = (
                "you never corrupted the input: that is the plain autoencoder's loss, which an "
                "overcomplete model lowers by copying. Feed the model x̃ = corrupt(x)."
                if torch.isclose(got, plain, rtol=1e-6)
                else "call corrupt(x) to get the corrupted input x̃, and feed the model x̃."
            )
            return _verdict(False, message)
        x_tilde, output = corrupted[0], model(corrupted[0])
        slips = [
            (
                bce(output, x_tilde),
                "your target is the corrupted x̃: compare the output with the clean x, or the "
                "model learns to copy x̃, zeros and all.",
            ),
            (
                bce(model(x), x_tilde),
                "you corrupted the target instead of the input: feed the model x̃ = "
                "corrupt(x) and compare its output with the clean x.",
            ),
            (
                reconstruction_loss(output, x, kind="mse"),
                'that is the squared error: use the Bernoulli cross-entropy, kind="bce", as the '
                "chapter's denoisers do (their sigmoid outputs are probabilities).",
            ),
            (
                bce(x, output),
                "the arguments are in the wrong order: reconstruction_loss(x_hat, x), the "
                "model's output first, the clean target second.",
            ),
            (
                bce(output, x) / x[0].numel(),
                "you averaged over the entries of each example too: sum over them, average "
                "over the batch (as reconstruction_loss does).",
            ),
            (
                bce(output, x) * len(x),
                "you summed over the batch: average over the examples.",
            ),
        ]
        if len(corrupted) > 1:
            slips.append(
                (
                    bce(output, corrupted[1]),
                    "you corrupted x twice, once for the input and once for the target: the "
                    "target must be the clean x.",
                )
            )
        if slip := _known_slip(
            slips, lambda wrong: torch.isclose(got, wrong, rtol=1e-6)
        ):
            return _verdict(False, slip)
        return _verdict(
            False,
            f"your loss is {got.item():.5g}, the reference {bce(output, x).item():.5g}: "
            'reconstruction_loss(model(x̃), x, kind="bce") for x̃ = corrupt(x).',
        )
