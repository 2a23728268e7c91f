"""Checkers of the sparse autoencoder chapter's exercises: the TopK activation, unit-norm decoder columns
and the loss recovered."""

from __future__ import annotations

import math
from collections.abc import Callable
from numbers import Real

import torch
import torch.nn.functional as F

from aecourse.checks._verdict import (
    _call,
    _close,
    _known_slip,
    _shape_or_type,
    _verdict,
    exercise,
)


def _topk_inputs() -> torch.Tensor:
    """Pre-activations (12, 10) where the slips differ from the answer: strongly negative entries (so
    the largest |value| is not the largest value), a row with fewer than k positive entries (so a
    missing ReLU shows), an all-negative row, and columns with more than k positive entries (so the k
    largest of each column are not every positive value)."""
    g = torch.Generator().manual_seed(11)
    pre = torch.randn(12, 10, generator=g, dtype=torch.float64)
    pre[0, 2], pre[1, 7], pre[2, 0] = -5.0, -4.0, -6.0
    pre[3] = torch.tensor(
        [0.4, -0.2, -0.9, -1.5, -0.1, 0.8, -0.3, -2.0, -0.6, -0.05],
        dtype=torch.float64,
    )
    pre[4] = -pre[4].abs() - 0.1
    return pre


def _scattered(
    pre: torch.Tensor, idx: torch.Tensor, relu: bool, dim: int = 1
):
    """Zeros of pre's shape with pre's values (ReLU'd or not) at idx along dim."""
    kept = pre.gather(dim, idx)
    return torch.zeros_like(pre).scatter(
        dim, idx, F.relu(kept) if relu else kept
    )


@exercise("ex-sae-topk")
def check_topk(fn: Callable) -> bool:
    """fn(pre, k) -> (N, L): each row keeps its k largest pre-activations, ReLU'd; every other entry is 0."""
    from aecourse.models.sparse_autoencoder import topk_activation

    pre = _topk_inputs()
    for k in (3, 1):
        answer, problem = _call(fn, pre.clone(), k)
        if problem:
            return _verdict(False, problem)
        expected = topk_activation(pre, k)
        if isinstance(answer, torch.Tensor) and answer.shape == (
            len(pre),
            k,
        ):
            return _verdict(
                False,
                f"you returned {tuple(answer.shape)}, the k kept values or their indices: "
                f"scatter the kept values back into zeros of pre's shape {tuple(pre.shape)}.",
            )
        if (
            not isinstance(answer, torch.Tensor)
            or answer.shape != pre.shape
        ):
            return _verdict(
                False,
                f"return a tensor of pre's shape {tuple(pre.shape)}, got "
                f"{_shape_or_type(answer)}.",
            )
        got = answer.detach().double()
        if torch.allclose(got, expected):
            continue
        by_abs = pre.abs().topk(k, dim=1).indices
        by_row = pre.topk(k, dim=1).indices
        slips = [
            (
                _scattered(pre, by_abs, relu=True),
                "you kept the k largest in absolute value: keep the k largest values "
                "(a strongly negative pre-activation is evidence against the latent).",
            ),
            (
                _scattered(pre, by_abs, relu=False),
                "you kept the k largest in absolute value, and without ReLU: keep the k "
                "largest values and apply ReLU to them.",
            ),
            (
                _scattered(pre, by_row, relu=False),
                "the k largest are right, but a negative one among them must become 0: apply "
                "ReLU to the kept values.",
            ),
            (
                F.relu(pre),
                "you applied ReLU but kept every positive value: keep only the k largest of "
                "each row.",
            ),
            (
                _scattered(
                    pre, pre.topk(k, dim=0).indices, relu=True, dim=0
                ),
                "you took the k largest of each column (dim 0): each example keeps its own k "
                "latents, the k largest along its row (dim=1).",
            ),
            (
                _scattered(
                    pre,
                    pre.topk(k, dim=1, largest=False).indices,
                    relu=True,
                ),
                "you kept the k smallest: topk returns the largest by default "
                "(largest=True).",
            ),
        ]
        if slip := _known_slip(
            slips, lambda wrong, got=got: torch.allclose(got, wrong)
        ):
            return _verdict(False, slip)
        return _close(got, expected, f"the output for k = {k}")
    return _verdict(
        True,
        "each row keeps its k largest pre-activations, ReLU'd, and zeros elsewhere: "
        "exactly k latents per example, fewer where some of the k are negative.",
    )


@exercise("ex-sae-decoder-norm")
def check_decoder_norm(fn: Callable) -> bool:
    """fn(W) -> W with each column divided by its norm. W: (d, L), column j is latent j's direction."""
    from aecourse.models.sparse_autoencoder import normalize_columns

    g = torch.Generator().manual_seed(12)
    # d = 5, L = 8: rows and columns differ in number and in norm
    W = torch.randn(
        5, 8, generator=g, dtype=torch.float64
    ) * torch.linspace(0.3, 3.0, 8, dtype=torch.float64)
    original = W.clone()
    answer, problem = _call(fn, W)
    if problem:
        return _verdict(False, problem)
    if answer is None:
        return _verdict(
            False,
            "the function returned None: return the normalised matrix, W / norms.",
        )
    if not torch.equal(W, original) and not (
        isinstance(answer, torch.Tensor) and answer is W
    ):
        return _verdict(
            False,
            "your function changed W itself and returned something else: return W divided "
            "by its column norms.",
        )
    if isinstance(answer, torch.Tensor) and answer.shape == (8,):
        return _verdict(
            False,
            "you returned the 8 column norms: divide W by them (keepdim=True keeps the "
            "shape (1, L) that broadcasts over the rows).",
        )
    expected = normalize_columns(original)
    if isinstance(answer, torch.Tensor) and answer.shape == W.shape:
        got = answer.detach().double()
        slips = [
            (
                original / original.norm(dim=1, keepdim=True),
                "you normalised the rows: each column of W (d, L) is one latent's "
                "direction, so divide by W.norm(dim=0, keepdim=True).",
            ),
            (
                original / original.norm(),
                "you divided by the norm of the whole matrix: each column gets its own "
                "norm, W.norm(dim=0, keepdim=True).",
            ),
            (
                original / original.pow(2).sum(0, keepdim=True),
                "you divided by the squared norm: divide by its square root, the norm "
                "itself.",
            ),
            (
                original / original.abs().sum(0, keepdim=True),
                "you divided by the L1 norm (sum of |entries|): use the Euclidean norm, "
                "W.norm(dim=0, keepdim=True).",
            ),
        ]
        if slip := _known_slip(
            slips, lambda wrong: torch.allclose(got, wrong)
        ):
            return _verdict(False, slip)
        norms = got.norm(dim=0)
        if torch.allclose(
            norms, torch.ones_like(norms)
        ) and not torch.allclose(got, expected):
            return _verdict(
                False,
                "the columns have norm 1 but no longer point where W's did: only divide, "
                "each column keeps its direction.",
            )
    if (
        isinstance(answer, torch.Tensor)
        and answer.shape == expected.shape
        and torch.allclose(answer.detach().double(), expected)
    ):
        return _verdict(
            True,
            "every column now has norm 1 and keeps its direction: W / W.norm(dim=0, "
            "keepdim=True).",
        )
    return _close(answer, expected, "the normalised W")


def _loss_cases() -> list[tuple[float, float, float]]:
    """(L_clean, L_sae, L_zero) triples: different gaps, so that no other formula fits all of them."""
    return [(2.0, 2.5, 6.0), (3.1, 3.4, 4.9), (1.0, 1.9, 2.0)]


@exercise("ex-sae-loss-recovered")
def check_loss_recovered(fn: Callable) -> bool:
    """fn(loss_clean, loss_sae, loss_zero) -> (L_zero − L_sae) / (L_zero − L_clean), a number."""
    from aecourse.models.sparse_autoencoder import loss_recovered

    for clean, sae, zero in _loss_cases():
        answer, problem = _call(fn, clean, sae, zero)
        if problem:
            return _verdict(False, problem)
        if isinstance(answer, torch.Tensor) and answer.numel() == 1:
            answer = answer.item()
        if not isinstance(answer, Real) or isinstance(answer, bool):
            return _verdict(
                False,
                f"return one number (a float), got {_shape_or_type(answer)}.",
            )
        expected = loss_recovered(clean, sae, zero)
        if math.isclose(answer, expected, rel_tol=1e-6, abs_tol=1e-9):
            continue
        slips = [
            (
                (zero - clean) / (zero - sae),
                "you inverted the ratio: the gap the SAE closes, L_zero − L_sae, goes on "
                "top, the whole gap L_zero − L_clean below.",
            ),
            (
                (sae - clean) / (zero - clean),
                "that is the share of the gap the SAE loses, (L_sae − L_clean) / (L_zero − "
                "L_clean): the loss recovered is 1 minus it.",
            ),
            (
                -expected,
                "the sign is flipped: an SAE between the clean and the zero-ablated loss "
                "recovers a share between 0 and 1.",
            ),
            (
                (zero - sae) / zero,
                "you divided by L_zero: divide by the gap L_zero − L_clean.",
            ),
            (
                clean / sae,
                "a ratio of two losses is not it: compare the gaps, (L_zero − L_sae) / "
                "(L_zero − L_clean).",
            ),
        ]
        if slip := _known_slip(
            slips,
            lambda wrong, a=answer: math.isclose(a, wrong, rel_tol=1e-6),
        ):
            return _verdict(False, slip)
        return _verdict(
            False,
            f"for L_clean = {clean}, L_sae = {sae}, L_zero = {zero} you got {answer:.4g}, "
            f"expected {expected:.4g}.",
        )
    return _verdict(
        True,
        "(L_zero − L_sae) / (L_zero − L_clean): 1 when the SAE loses nothing, 0 when it is "
        "as bad as deleting the activations.",
    )
