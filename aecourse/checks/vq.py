"""Checkers of the vector-quantization chapter's exercises: the quantizer's forward pass (nearest code
and its vector), the straight-through estimator, and the perplexity of code assignments."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from aecourse.checks._verdict import (
    _call,
    _close,
    _known_slip,
    _shape_or_type,
    _verdict,
    exercise,
)


def _quantize_case() -> tuple[torch.Tensor, torch.Tensor]:
    """Vectors (40, 3) and a codebook (6, 3) whose vectors have very different lengths, so that the
    largest dot product, the smallest L1 distance and the farthest code all differ from the nearest."""
    g = torch.Generator().manual_seed(11)
    lengths = torch.tensor([0.2, 0.5, 1.0, 1.5, 2.5, 4.0]).unsqueeze(1)
    codebook = lengths * torch.nn.functional.normalize(
        torch.randn(6, 3, generator=g, dtype=torch.float64), dim=1
    )
    z_e = 1.5 * torch.randn(40, 3, generator=g, dtype=torch.float64)
    return z_e, codebook


@exercise("ex-vq-quantize")
def check_quantize(fn: Callable) -> bool:
    """fn(z_e, codebook) -> (codes, z_q): for vectors z_e (M, D) and a codebook (K, D), the index of each
    vector's nearest codebook vector, codes (M,) integers, and that vector, z_q = codebook[codes] (M, D)."""
    # the reference, tested against a brute-force search; imported here because aecourse.models.vq
    # brings the training loop with it
    from aecourse.models.vq import lookup, nearest_codes

    z_e, codebook = _quantize_case()
    answer, problem = _call(fn, z_e.clone(), codebook.clone())
    if problem:
        return _verdict(False, problem)
    if not isinstance(answer, tuple | list) or len(answer) != 2:
        return _verdict(
            False,
            f"return a pair (codes, z_q), got {_shape_or_type(answer)}.",
        )
    codes, z_q = answer
    expected = nearest_codes(z_e, codebook)
    m, k = len(z_e), len(codebook)
    if not isinstance(codes, torch.Tensor):
        return _verdict(
            False,
            f"codes should be a torch.Tensor of indices, got {type(codes).__name__}.",
        )
    if codes.shape == (m, k):
        return _verdict(
            False,
            f"codes has shape ({m}, {k}), one value per code: return one index per vector, "
            f"shape ({m},), e.g. with argmin over dim 1.",
        )
    if codes.shape != expected.shape:
        return _verdict(
            False,
            f"codes has shape {tuple(codes.shape)}, expected ({m},): one index per vector.",
        )
    if codes.dtype.is_floating_point or codes.dtype == torch.bool:
        return _verdict(
            False,
            f"codes must be integer indices (argmin gives int64), got {codes.dtype}.",
        )
    got = codes.detach().long()
    distances = torch.cdist(z_e, codebook) ** 2
    slips = [
        (
            distances.argmax(1),
            "you picked the farthest codebook vector: the nearest one is the argmin of the "
            "distances, not the argmax.",
        ),
        (
            (z_e @ codebook.T).argmax(1),
            "the largest dot product z·e is not the nearest vector when the codebook vectors "
            "have different lengths: compare ‖z − e‖² = ‖z‖² − 2 z·e + ‖e‖².",
        ),
        (
            (z_e.unsqueeze(1) - codebook).abs().sum(2).argmin(1),
            "that is the nearest code by L1 distance Σ|z − e|: use the squared Euclidean "
            "distance ‖z − e‖².",
        ),
    ]
    if not torch.equal(got, expected):
        if slip := _known_slip(
            slips, lambda wrong: torch.equal(got, wrong)
        ):
            return _verdict(False, slip)
        wrong = int((got != expected).sum())
        return _verdict(
            False,
            f"{wrong} of {m} codes are not the index of the nearest codebook vector "
            "(argmin over k of ‖z − e_k‖²).",
        )
    reference = lookup(expected, codebook)
    if isinstance(z_q, torch.Tensor) and z_q.shape == z_e.shape:
        if torch.allclose(
            z_q.detach().double(), z_e
        ) and not torch.allclose(z_e, reference):
            return _verdict(
                False,
                "the codes are right, but z_q is z_e itself: return the codebook vectors "
                "the codes name, codebook[codes].",
            )
    if not (
        isinstance(z_q, torch.Tensor)
        and z_q.shape == reference.shape
        and torch.allclose(z_q.detach().double(), reference)
    ):
        return _close(
            z_q.detach() if isinstance(z_q, torch.Tensor) else z_q,
            reference,
            "z_q (the codebook vectors of the codes)",
        )
    return _verdict(
        True,
        "each vector gets the index of its nearest codebook vector, argmin_k ‖z − e_k‖², "
        "and z_q = codebook[codes].",
    )


@exercise("ex-vq-straight-through")
def check_straight_through(fn: Callable) -> bool:
    """fn(z_e, z_q) -> the straight-through output z_e + (z_q − z_e).detach(): the value of z_q, and
    the gradient it receives passed to z_e unchanged (none to z_q)."""
    g = torch.Generator().manual_seed(12)
    z_e = torch.randn(5, 3, generator=g, dtype=torch.float64)
    z_q = torch.randn(5, 3, generator=g, dtype=torch.float64)
    weights = torch.randn(5, 3, generator=g, dtype=torch.float64)
    z_e.requires_grad_()
    z_q.requires_grad_()  # as a lookup in a learned codebook would
    out, problem = _call(fn, z_e, z_q)
    if problem:
        return _verdict(False, problem)
    if not isinstance(out, torch.Tensor) or out.shape != z_e.shape:
        return _verdict(
            False,
            f"return a tensor of z_e's shape {tuple(z_e.shape)}, got {_shape_or_type(out)}.",
        )
    value = out.detach().double()
    if not torch.allclose(value, z_q.detach()):
        if torch.allclose(value, z_e.detach()):
            return _verdict(
                False,
                "the output has the value of z_e: the decoder must see the quantized vectors, "
                "so the value is z_q's; write z_e + (z_q − z_e).detach().",
            )
        return _close(
            value,
            z_q.detach(),
            "the output's value (it should equal z_q)",
        )
    blocked = (
        "the output has z_q's value, but no gradient reaches z_e: detach only the difference, "
        "z_e + (z_q − z_e).detach(), so that ∂out/∂z_e is the identity."
    )
    if not out.requires_grad:
        return _verdict(False, blocked)
    d_ze, d_zq = torch.autograd.grad(
        (out * weights).sum(), (z_e, z_q), allow_unused=True
    )
    to_ze = d_ze is not None and torch.allclose(d_ze, weights)
    to_zq = d_zq is not None and not torch.allclose(
        d_zq, torch.zeros_like(d_zq)
    )
    if not to_ze and to_zq:
        return _verdict(
            False,
            "the gradient goes to z_q, not to z_e (z_e + z_q − z_e without .detach() is just "
            "z_q): write z_e + (z_q − z_e).detach().",
        )
    if not to_ze:
        return _verdict(False, blocked)
    if to_zq:
        return _verdict(
            False,
            "the gradient reaches z_e, but also z_q: detach the whole difference (z_q − z_e), "
            "so that the codebook learns only from its own loss term.",
        )
    return _verdict(
        True,
        "the output has the value of z_q and passes its gradient to z_e unchanged: "
        "z_e + (z_q − z_e).detach().",
    )


def _perplexity_cases() -> list[tuple[torch.Tensor, int]]:
    """(codes, K) pairs: an uneven use with unused codes, a uniform use of all K, a single code."""
    g = torch.Generator().manual_seed(13)
    uneven = torch.repeat_interleave(
        torch.arange(8), torch.tensor([10, 5, 3, 0, 2, 0, 1, 0])
    )
    uniform = torch.arange(6).repeat(4)
    single = torch.full((9,), 4)
    return [
        (uneven[torch.randperm(len(uneven), generator=g)], 8),
        (uniform[torch.randperm(len(uniform), generator=g)], 6),
        (single, 7),
    ]


def _as_number(answer) -> float | None:
    if isinstance(answer, bool):
        return None
    if isinstance(answer, int | float):
        return float(answer)
    if isinstance(answer, torch.Tensor) and answer.numel() == 1:
        return float(answer.detach().double().item())
    return None


@exercise("ex-vq-perplexity")
def check_perplexity(fn: Callable) -> bool:
    """fn(codes, K) -> exp(−Σ_k p_k ln p_k), p_k the fraction of codes equal to k: a float or a 0-dim
    tensor. codes: (M,) int64 in 0 .. K−1."""
    from aecourse.models.vq import perplexity

    for case, (codes, k) in enumerate(_perplexity_cases()):
        answer, problem = _call(fn, codes.clone(), k)
        if problem:
            return _verdict(False, problem)
        got = _as_number(answer)
        if got is None:
            if isinstance(answer, torch.Tensor) and answer.shape == (k,):
                return _verdict(
                    False,
                    f"you returned {k} values, one per code: combine the frequencies into one "
                    "number, exp(−Σ p ln p).",
                )
            return _verdict(
                False,
                f"return one number (a float or a 0-dim tensor), got {_shape_or_type(answer)}.",
            )
        expected = perplexity(codes, k).item()
        if math.isclose(got, expected, rel_tol=1e-5):
            continue
        if math.isnan(got):
            return _verdict(
                False,
                "the perplexity is NaN: unused codes have p = 0, and 0 · ln 0 must count as 0; "
                "sum only over the codes that occur.",
            )
        counts = torch.bincount(codes, minlength=k).double()
        p = counts[counts > 0] / counts.sum()
        nats = -(p * p.log()).sum().item()
        bits = nats / math.log(2)
        slips = [
            (
                nats,
                "that is the entropy H = −Σ p ln p; the perplexity is exp(H), the number of "
                "equally used codes with the same entropy.",
            ),
            (
                bits,
                "that is the entropy in bits, −Σ p log₂ p; the perplexity is 2 to it (or exp "
                "of the entropy in nats).",
            ),
            (
                math.exp(bits),
                "you took exp of the entropy in bits: exp goes with the entropy in nats (ln), "
                "2^H with the entropy in bits (log₂).",
            ),
            (
                2**nats,
                "you took 2 to the entropy in nats: 2^H goes with the entropy in bits (log₂), "
                "exp with nats (ln).",
            ),
            (
                float(len(p)),
                "that is the number of codes used at all; the perplexity weighs them by how "
                "often they are used, exp(−Σ p ln p).",
            ),
            (
                float(k),
                "that is K, the codebook size; the perplexity depends on how the codes are "
                "used, exp(−Σ p ln p).",
            ),
            (
                1 / (p**2).sum().item(),
                "that is 1/Σ p², the order-2 (collision) version; the perplexity is "
                "exp(−Σ p ln p).",
            ),
        ]
        # the slips are told apart on the uneven case only: for a single code, say, the entropy and
        # the entropy in bits are both 0
        slip = case == 0 and _known_slip(
            slips,
            lambda wrong, got=got: math.isclose(got, wrong, rel_tol=1e-5),
        )
        if slip:
            return _verdict(False, slip)
        what = (
            "uneven use",
            "uniform use of all K codes",
            "a single code",
        )[case]
        return _verdict(
            False,
            f"for {what} (K = {k}) the perplexity is {expected:.4g}, got {got:.4g}.",
        )
    return _verdict(
        True,
        "exp(−Σ p ln p): K for uniform use, 1 for a single code, and in between it counts "
        "the codes in effective use.",
    )
