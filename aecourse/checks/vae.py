"""Checkers of the variational autoencoder chapter's exercises: the reparameterisation trick, the KL, the
importance-weighted (IWAE) estimate and the count of active code units."""

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


@exercise("ex-reparameterize")
def check_reparameterize(fn: Callable) -> bool:
    """fn(mu, logvar) -> z = μ + σ ⊙ ε with σ = exp(½ log σ²) and ε ~ N(0, I) drawn afresh for every entry."""
    with _seeded(
        7
    ):  # the student's function draws ε from the global generator
        return _check_reparameterize(fn)


def _standard_normal(eps: torch.Tensor) -> bool:
    """Whether every column of eps (N, K) has mean ≈ 0 and standard deviation ≈ 1 (within 5 std. errors)."""
    n = len(eps)
    return bool(
        (eps.mean(0).abs() < 5 / math.sqrt(n)).all()
        and ((eps.std(0) - 1).abs() < 5 / math.sqrt(2 * n)).all()
    )


def _check_reparameterize(fn: Callable) -> bool:
    g = torch.Generator().manual_seed(7)
    n = 4000
    mu = (
        1 + torch.randn(n, 4, generator=g, dtype=torch.float64)
    ).requires_grad_()
    # One log-variance per code unit, below and above 0, so that σ, σ², log σ² and 1/σ all differ.
    logvar = (
        torch.tensor([-3.0, -1.0, 1.5, 2.5], dtype=torch.float64)
        .repeat(n, 1)
        .requires_grad_()
    )
    z, problem = _call(fn, mu, logvar)
    if problem:
        return _verdict(False, problem)
    if not isinstance(z, torch.Tensor) or z.shape != mu.shape:
        return _verdict(
            False,
            f"return a tensor z of mu's shape {tuple(mu.shape)}, got {_shape_or_type(z)}.",
        )
    if not torch.isfinite(z).all():
        return _verdict(
            False,
            "z has NaN or inf: log σ² can be negative, so take exp before any square "
            "root: σ = exp(½ log σ²).",
        )
    m, lv, zd = mu.detach(), logvar.detach(), z.detach().double()
    if torch.equal(zd, m):
        return _verdict(
            False, "z equals μ: add the noise σ ⊙ ε, with ε ~ N(0, I)."
        )
    again, problem = _call(fn, mu, logvar)
    if (
        not problem
        and isinstance(again, torch.Tensor)
        and torch.equal(again.detach().double(), zd)
    ):
        return _verdict(
            False,
            "two calls gave the same z: draw a new ε inside the function on every call, "
            "e.g. torch.randn_like(mu).",
        )
    sigma = torch.exp(0.5 * lv)
    eps = (zd - m) / sigma
    # every row as the first
    same_for_examples = bool(((eps - eps[:1]).abs() < 1e-6).all())
    # every column as the first
    same_for_units = bool(((eps - eps[:, :1]).abs() < 1e-6).all())
    if same_for_examples or same_for_units:
        who = "every example" if same_for_examples else "every code unit"
        return _verdict(
            False,
            f"{who} got the same ε: draw one ε per entry of μ, e.g. torch.randn_like(mu).",
        )
    if _standard_normal(eps):
        return _check_reparameterize_gradients(z, mu, logvar)
    if eps.min() > -1e-9 and eps.max() < 1 + 1e-9:
        return _verdict(
            False,
            "ε looks uniform on [0, 1): draw it from N(0, I) with torch.randn_like, "
            "not torch.rand_like.",
        )
    slips = [  # each slip as the ε it implies, (z − centre)/scale: standard normal if z was made that way
        (
            (zd - m) / lv.exp(),
            "you scaled ε by σ² = exp(log σ²): the standard deviation is "
            "σ = exp(½ log σ²), mind the ½.",
        ),
        (
            (zd - m) / lv,
            "you scaled ε by log σ² itself: the standard deviation is σ = exp(½ log σ²).",
        ),
        (
            (zd - m) / (0.5 * lv),
            "you scaled ε by ½ log σ²: take the exp, σ = exp(½ log σ²).",
        ),
        (
            (zd - m) / (1 / sigma),
            "the sign in the exponent is flipped: σ = exp(+½ log σ²), not "
            "exp(−½ log σ²).",
        ),
        (zd / sigma, "z is missing the mean: z = μ + σ ⊙ ε."),
        ((zd + m) / sigma, "μ has the wrong sign: z = μ + σ ⊙ ε."),
    ]
    if slip := _known_slip(slips, _standard_normal):
        return _verdict(False, slip)
    return _verdict(
        False,
        f"(z − μ)/σ should be standard normal, but its columns have means "
        f"{[round(v, 2) for v in eps.mean(0).tolist()]} and standard deviations "
        f"{[round(v, 2) for v in eps.std(0).tolist()]}.",
    )


def _check_reparameterize_gradients(
    z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor
) -> bool:
    """The point of the trick: ∂z/∂μ = 1 and ∂z/∂log σ² = ½ σ ε = ½ (z − μ): gradients reach the encoder."""
    no_path = (
        "gradients do not flow from z back to μ and log σ²: build z = mu + std * eps from tensors "
        "(torch.normal and Normal(...).sample() are not differentiable; no .detach(), .item() or "
        "numpy)."
    )
    if not z.requires_grad:
        return _verdict(False, no_path)
    d_mu, d_logvar = torch.autograd.grad(
        z.sum(), (mu, logvar), allow_unused=True
    )
    if d_mu is None or d_logvar is None:
        return _verdict(False, no_path)
    if not (
        torch.allclose(d_mu, torch.ones_like(d_mu))
        and torch.allclose(
            d_logvar, 0.5 * (z.detach().double() - mu.detach()), atol=1e-6
        )
    ):
        return _verdict(False, no_path)
    return _verdict(
        True,
        "z = μ + exp(½ log σ²) ⊙ ε: standard normal noise, scaled by σ, and gradients "
        "reach μ and log σ².",
    )


@exercise("ex-gaussian-kl")
def check_gaussian_kl(fn: Callable) -> bool:
    """fn(mu, logvar) -> (N,): KL(N(μ, diag σ²) ‖ N(0, I)) per example.

    That is ½ Σ_j (μ_j² + σ_j² − 1 − log σ_j²), summed over the code units j.
    """
    # The reference, tested against torch.distributions and Monte Carlo; imported here, not at the top,
    # because aecourse.models.vae brings the training loop with it.
    from aecourse.models.vae import gaussian_kl

    g = torch.Generator().manual_seed(8)
    mu = torch.randn(6, 5, generator=g, dtype=torch.float64)
    logvar = 1.5 * torch.randn(6, 5, generator=g, dtype=torch.float64)
    mu[0], logvar[0] = 0.0, 0.0  # the prior itself: KL = 0
    answer, problem = _call(fn, mu.clone(), logvar.clone())
    if problem:
        return _verdict(False, problem)
    expected = gaussian_kl(mu, logvar)
    if isinstance(answer, torch.Tensor):
        answer = answer.detach()
        if not torch.isfinite(answer).all():
            return _verdict(
                False,
                "the KL has NaN or inf: log σ² can be negative, so never take its log or "
                "square root; σ² = exp(log σ²).",
            )
        per_unit = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar)
        if answer.shape == per_unit.shape and torch.allclose(
            answer.double(), per_unit, rtol=1e-5
        ):
            return _verdict(
                False,
                f"sum over the {mu.shape[1]} code units of each example: return shape "
                "(N,).",
            )
        if answer.dim() == 0:
            for total, how in (
                (expected.sum(), "summed"),
                (expected.mean(), "averaged"),
            ):
                if torch.isclose(answer.double(), total, rtol=1e-5):
                    return _verdict(
                        False,
                        f"you {how} over the batch: return one KL per example, shape "
                        "(N,).",
                    )
        if answer.shape == expected.shape:

            def kl(
                variance, log_variance, minus_one=-1.0
            ):  # ½ Σ (μ² + σ² − 1 − log σ²), with a term swapped
                return 0.5 * (
                    mu.pow(2) + variance + minus_one - log_variance
                ).sum(1)

            slips = [
                (2 * expected, "you forgot the ½ in front of the sum."),
                (
                    -expected,
                    "the sign is flipped: a KL divergence is never negative.",
                ),
                (
                    kl(torch.exp(0.5 * logvar), logvar),
                    "σ² = exp(log σ²); you used σ = exp(½ log σ²) in its "
                    "place.",
                ),
                (
                    kl(logvar.exp(), 0.5 * logvar),
                    "the last term is log σ², the log-variance itself, not "
                    "½ log σ².",
                ),
                (
                    kl(logvar.exp(), -logvar),
                    "the log-variance enters with a minus sign: … − 1 − log σ².",
                ),
                (
                    kl(logvar.exp(), logvar, +1.0),
                    "it is − 1 inside the sum (so that the KL is 0 for μ = 0, "
                    "σ = 1).",
                ),
                (
                    kl(logvar, logvar),
                    "log σ² is the log-variance: the variance is σ² = exp(log σ²).",
                ),
                (
                    expected / mu.shape[1],
                    "sum over the code units of each example, do not average them.",
                ),
                (
                    expected + 0.5 * (mu - mu.pow(2)).sum(1),
                    "μ enters squared: ½ Σ (μ² + σ² − 1 − log σ²).",
                ),
            ]
            got = answer.double()
            if slip := _known_slip(
                slips,
                lambda wrong: torch.allclose(
                    got, wrong, rtol=1e-5, atol=1e-8
                ),
            ):
                return _verdict(False, slip)
    return _close(
        answer, expected, "the KL per example", atol=1e-6, rtol=1e-5
    )


@exercise("ex-vae-iwae-estimate")
def check_iwae_estimate(fn: Callable) -> bool:
    """fn(log_w) -> (N,): log (1/k) Σ_i exp(log_w[i, n]) for log weights log_w of shape (k, N).

    Tried on moderate log weights and on log weights near −1000 nats, where exp underflows to 0: only
    the max trick gets those right.
    """
    from aecourse.models.vae import log_mean_exp

    g = torch.Generator().manual_seed(17)
    k, n = 50, 8
    moderate = -90 + 4 * torch.randn(
        k, n, generator=g, dtype=torch.float64
    )
    extreme = moderate - 1000
    answer, problem = _call(fn, moderate.clone())
    if problem:
        return _verdict(False, problem)
    expected = log_mean_exp(moderate, 0)
    if isinstance(answer, torch.Tensor):
        answer = answer.detach()
        if answer.shape == (k,):
            return _verdict(
                False,
                f"you got {k} values, one per sample: average over the k samples (dim 0) of each "
                f"image, to get one value per image, shape ({n},).",
            )
        if (
            answer.shape == expected.shape
            and torch.isfinite(answer).all()
        ):
            got = answer.double()
            m = moderate.max(0).values
            slips = [
                (
                    moderate.mean(0),
                    "you averaged the log weights: mean of log w is the ELBO (the k = 1 "
                    "bound). The IWAE bound is the log of the mean of the weights, "
                    "log (1/k) Σ exp(log w).",
                ),
                (
                    torch.logsumexp(moderate, 0),
                    "that is log Σ w, the log of the sum: divide by k, i.e. subtract log k.",
                ),
                (
                    torch.log(torch.exp(moderate - m).mean(0)),
                    "you subtracted the largest log weight m but did not add it back: "
                    "log mean w = m + log mean exp(log w − m).",
                ),
                (
                    moderate.max(0).values,
                    "that is the largest log weight alone: average all k weights.",
                ),
            ]
            if slip := _known_slip(
                slips,
                lambda wrong: torch.allclose(
                    got, wrong, rtol=1e-6, atol=1e-6
                ),
            ):
                return _verdict(False, slip)
    if not (
        isinstance(answer, torch.Tensor)
        and answer.shape == expected.shape
        and torch.allclose(
            answer.double(), expected, atol=1e-6, rtol=1e-6
        )
    ):
        return _close(
            answer,
            expected,
            "the estimate per image",
            atol=1e-6,
            rtol=1e-6,
        )
    big, problem = _call(fn, extreme.clone())
    if problem:
        return _verdict(False, f"with log weights near −1000: {problem}")
    if not isinstance(big, torch.Tensor) or not torch.isfinite(big).all():
        return _verdict(
            False,
            "right for moderate log weights, but with log weights near −1000 nats exp(log w) "
            "underflows to 0 and the log gives −inf: subtract the largest log weight m first, "
            "m + log mean exp(log w − m) (or use torch.logsumexp).",
        )
    return _close(
        big.detach(),
        log_mean_exp(extreme, 0),
        "the estimate per image (also for log weights near −1000 nats)",
        atol=1e-6,
        rtol=1e-9,
    )


@exercise("ex-vae-active-units")
def check_active_units(fn: Callable) -> bool:
    """fn(mu) -> (K,) bool: unit j is active if the variance over the N images of mu[:, j] is above 0.01.

    mu: (N, K), each image's posterior mean E_q[z | x] (Burda et al. 2016's activity criterion).
    """
    from aecourse.models.vae import active_units

    g = torch.Generator().manual_seed(5)
    n = 2000
    # standard deviations over the images, one per unit: clearly active, just active, just inactive
    # (variance 0.005: a std of 0.07 > 0.01 still), collapsed; and a collapsed unit far from 0
    std = torch.tensor([1.0, 0.3, 0.12, 0.07, 0.02, 0.001, 0.001])
    offset = torch.tensor([0.0, 0.5, -0.2, 0.0, 0.1, 0.0, 2.0])
    mu = offset + std * torch.randn(
        n, 7, generator=g, dtype=torch.float64
    )
    answer, problem = _call(fn, mu.clone())
    if problem:
        return _verdict(False, problem)
    expected = active_units(mu)
    if isinstance(answer, int | float) or (
        isinstance(answer, torch.Tensor) and answer.dim() == 0
    ):
        if int(answer) == int(expected.sum()):
            return _verdict(
                False,
                "the count is right; return one bool per unit, shape (K,), so that "
                "answer.sum() is the count.",
            )
    if isinstance(answer, torch.Tensor) and answer.shape == (n,):
        return _verdict(
            False,
            f"you got {n} values, one per image: take the variance over the images (dim 0), "
            "one value per code unit.",
        )
    if (
        isinstance(answer, torch.Tensor)
        and answer.shape == expected.shape
    ):
        got = answer.detach().bool()
        var = mu.var(0, unbiased=False)
        slips = [
            (
                var.sqrt() > 1e-2,
                "you compared the standard deviation with 0.01: the criterion is on the "
                "variance, Var_x(μ_j) > 0.01 (a standard deviation above 0.1).",
            ),
            (
                mu.mean(0).abs() > 1e-2,
                "you looked at the mean of μ_j: a unit whose μ_j is the same for every image "
                "is collapsed wherever that value is; use the variance over the images.",
            ),
            (
                var < 1e-2,
                "the comparison is flipped: active units are those whose mean varies a lot, "
                "Var_x(μ_j) > 0.01.",
            ),
        ]
        if slip := _known_slip(
            slips, lambda wrong: torch.equal(got, wrong)
        ):
            return _verdict(False, slip)
        if answer.dtype != torch.bool:
            return _verdict(
                False,
                f"return a bool tensor (the comparison itself), got {answer.dtype}.",
            )
    if isinstance(answer, torch.Tensor) and torch.equal(answer, expected):
        return _verdict(
            True,
            f"units with Var_x(μ_j) > 0.01 are active: {int(expected.sum())} of 7 here, "
            "not the unit whose μ_j varies with a standard deviation of only 0.07, nor the "
            "collapsed one that sits at 2 for every image.",
        )
    return _verdict(
        False,
        f"expected {expected.tolist()} (variance over the images of each column of mu "
        f"above 0.01), got {_shape_or_type(answer) if not isinstance(answer, torch.Tensor) or answer.shape != expected.shape else answer.tolist()}.",
    )
