"""Checkers of the applications chapter's exercises: AUROC, Hamming distances, the multinomial loss."""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable

import torch
import torch.nn.functional as F

from aecourse.checks._verdict import (
    _call,
    _known_slip,
    _verdict,
    exercise,
)


def _one_number(answer) -> float | None:
    """A float, a numpy scalar or a 0-dim tensor (or numpy array) as a float; None for anything else."""
    if isinstance(answer, torch.Tensor):
        return (
            float(answer.item())
            if answer.dim() == 0 and not answer.is_complex()
            else None
        )
    if isinstance(answer, numbers.Real) and not isinstance(answer, bool):
        return float(answer)
    if (
        getattr(answer, "shape", None) == ()
        and getattr(answer, "dtype", None) is not None
    ):
        try:
            return float(answer)
        except (TypeError, ValueError):
            return None
    return None


@exercise("ex-auroc")
def check_auroc(fn: Callable) -> bool:
    """fn(scores, is_anomaly) -> float: AUROC for scores (N,) and is_anomaly (N,) bool.

    A higher score means more anomalous.
    """
    g = torch.Generator().manual_seed(30)
    for n, n_anom in (
        (40, 12),
        (25, 17),
        (60, 9),
    ):  # unequal classes, more anomalies than normals once
        is_anomaly = torch.zeros(n, dtype=torch.bool)
        is_anomaly[torch.randperm(n, generator=g)[:n_anom]] = True
        # one decimal: many ties
        scores = (torch.rand(n, generator=g) + 0.35 * is_anomaly).round(
            decimals=1
        )
        answer, problem = _call(fn, scores.clone(), is_anomaly.clone())
        if problem:
            return _verdict(False, problem)
        value = _one_number(answer)
        if value is None:
            got = (
                f"a tensor of shape {tuple(answer.shape)}"
                if isinstance(answer, torch.Tensor)
                else type(answer).__name__
            )
            return _verdict(
                False,
                f"return one number (a float or a 0-dimensional tensor), got {got}.",
            )
        diff = (
            scores[is_anomaly].double()[:, None]
            - scores[~is_anomaly].double()[None]
        )
        greater, ties = (diff > 0).sum().item(), (diff == 0).sum().item()
        n_normal, pairs = n - n_anom, n_anom * (n - n_anom)
        expected = (greater + 0.5 * ties) / pairs
        if math.isclose(value, expected, abs_tol=1e-6):
            continue
        where = f"with {n_anom} anomalies and {n_normal} normal examples"
        half = "count a tie as one half; a tie is an anomaly and a normal example with the same score"
        slips = [
            (greater / pairs, f"{where}, you counted ties as 0: {half}."),
            (
                (greater + ties) / pairs,
                f"{where}, you counted ties as 1: {half}.",
            ),
            (
                1 - expected,
                "the scores are reversed: higher must mean more anomalous. AUROC is the "
                "probability that a random anomaly scores higher than a random normal example.",
            ),
        ]
        for count, what in (
            (n * n, "N², the number of all pairs of examples"),
            (n_anom * n_anom, "N_anom²"),
            (n_normal * n_normal, "N_normal²"),
            (1, "nothing"),
        ):
            slips.append(
                (
                    (greater + 0.5 * ties) / count,
                    f"{where}, you divided by {what}: divide by the "
                    f"number of (anomaly, normal) pairs, N_anom · N_normal = {pairs}.",
                )
            )
        if slip := _known_slip(
            slips,
            lambda wrong: math.isclose(value, wrong, abs_tol=1e-6),  # noqa: B023 (matched at once)
        ):
            return _verdict(False, slip)
        if not 0 <= value <= 1:
            return _verdict(
                False,
                f"{where}, you returned {value:.4g}: AUROC is a probability, between 0 "
                "and 1.",
            )
        return _verdict(
            False,
            f"{where}, your AUROC is {value:.4g}, the reference {expected:.4g}: over "
            "every (anomaly, normal) pair, count 1 when the anomaly scores higher and ½ for a "
            "tie, then take the mean.",
        )
    return _verdict(
        True,
        "the probability that a random anomaly scores higher than a random normal example, "
        "ties counting ½, as sklearn's roc_auc_score computes it.",
    )


@exercise("ex-hamming")
def check_hamming_distances(fn: Callable) -> bool:
    """fn(a, b) -> (Q, N): entry [i, j] counts the bits where codes a[i] and b[j] differ.

    a (Q, B) and b (N, B) hold 0/1 bits.
    """
    g = torch.Generator().manual_seed(31)
    for q, n, bits, dtype in (
        (5, 7, 12, torch.float32),
        (4, 9, 16, torch.int64),
    ):
        a = torch.randint(0, 2, (q, bits), generator=g).to(dtype)
        b = torch.randint(0, 2, (n, bits), generator=g).to(dtype)
        b[2] = a[1]  # one pair at distance 0
        b[4] = 1 - a[3]  # and one at distance B
        answer, problem = _call(fn, a.clone(), b.clone())
        if problem:
            return _verdict(False, problem)
        expected = (a[:, None] != b[None]).sum(-1).double()
        where = f"for a ({q}, {bits}) and b ({n}, {bits}) of {str(dtype).removeprefix('torch.')} bits"
        if not isinstance(answer, torch.Tensor):
            return _verdict(
                False, f"return a tensor, got {type(answer).__name__}."
            )
        if answer.is_complex():
            return _verdict(
                False, f"return real counts, got a {answer.dtype} tensor."
            )
        got = answer.detach().double()
        if got.shape == (n, q) and torch.allclose(
            got, expected.T, atol=1e-5
        ):
            return _verdict(
                False,
                f"{where}, you returned the transpose, shape ({n}, {q}): rows are queries "
                "a, columns b; entry [i, j] compares a[i] with b[j], shape (Q, N).",
            )
        if got.shape != expected.shape:
            return _verdict(
                False,
                f"{where}, the distances have shape {tuple(got.shape)}, expected "
                f"({q}, {n}) = (Q, N): rows are queries a, columns b.",
            )
        if torch.allclose(got, expected, atol=1e-5):
            continue
        slips = [
            (
                expected / bits,
                "you returned the fraction of bits that differ: return the count, without "
                "dividing by B.",
            ),
            (
                bits - expected,
                "you counted the bits that agree: the Hamming distance counts those that "
                "differ.",
            ),
            (
                expected.sqrt(),
                "that is the Euclidean distance, the square root of the count: return the "
                "count of differing bits itself.",
            ),
            (
                a.double() @ b.double().T,
                "a @ b.T counts the bits that are 1 in both codes: count the "
                "positions where the bits differ, e.g. (a[:, None] != b[None]).sum(-1).",
            ),
        ]
        if slip := _known_slip(
            slips,
            lambda wrong: torch.allclose(got, wrong, atol=1e-5),  # noqa: B023 (matched at once)
        ):
            return _verdict(False, f"{where}, {slip}")
        i, j = (
            (~torch.isclose(got, expected, atol=1e-5))
            .nonzero()[0]
            .tolist()
        )
        return _verdict(
            False,
            f"{where}, entry [{i}, {j}] is {got[i, j].item():g}, but a[{i}] and b[{j}] "
            f"differ in {int(expected[i, j])} bits.",
        )
    return _verdict(
        True,
        "entry [i, j] counts the bits where a[i] and b[j] differ, as "
        "(a[:, None] != b[None]).sum(-1).",
    )


@exercise("ex-multinomial-loss")
def check_multinomial_loss(fn: Callable) -> bool:
    """fn(logits, proportions) -> scalar: −Σ_v p_v log softmax(logits)_v per row, mean over the batch.

    Both logits and proportions are (N, V).
    """
    g = torch.Generator().manual_seed(32)
    # n != v, so the batch and word dimensions cannot be confused unnoticed
    n, v = (6, 13)
    logits = 2 * torch.randn(n, v, generator=g, dtype=torch.float64)
    counts = torch.randint(0, 4, (n, v), generator=g).double()
    counts[0] = 0.0
    counts[0, 5] = 3.0  # a document made of one word
    counts[counts.sum(1) == 0, 0] = 1.0
    # rows sum to 1, with zeros
    proportions = counts / counts.sum(1, keepdim=True)
    answer, problem = _call(fn, logits.clone(), proportions.clone())
    if problem:
        return _verdict(False, problem)
    if not isinstance(answer, torch.Tensor):
        return _verdict(
            False,
            "return the loss as a 0-dimensional tensor (it is what .backward() starts "
            f"from), got {type(answer).__name__}.",
        )
    got = answer.detach().double()
    log_q = F.log_softmax(logits, dim=1)
    per_document = -(proportions * log_q).sum(1)
    expected = per_document.mean()
    if got.shape == per_document.shape and torch.allclose(
        got, per_document, rtol=1e-5
    ):
        return _verdict(
            False,
            "you returned one loss per document: average them over the batch, one number.",
        )
    if got.dim() != 0:
        return _verdict(
            False,
            "return one number as a 0-dimensional tensor (it is what .backward() starts "
            f"from), got shape {tuple(got.shape)}.",
        )
    if torch.isclose(got, expected, rtol=1e-5):
        return _verdict(
            True,
            "the mean over documents of −Σ_v p_v log softmax(logits)_v, as "
            "F.cross_entropy(logits, proportions) computes it.",
        )
    slips = [
        (
            per_document.sum(),
            f"you summed over the batch: average over the {n} documents instead.",
        ),
        (
            expected / v,
            f"you averaged over the {v} words too: sum −p_v log q_v over the words of each "
            "document, then average over documents.",
        ),
        (
            -(proportions * logits).sum(1).mean(),
            "you forgot the softmax: the predicted word probabilities "
            "are softmax(logits), so use F.log_softmax(logits, dim=1), not the logits.",
        ),
        (
            -(proportions * log_q.exp()).sum(1).mean(),
            "you forgot the log: the loss is −Σ_v p_v log q_v; use "
            "F.log_softmax(logits, dim=1).",
        ),
        (
            -(proportions * F.log_softmax(logits, dim=0)).sum(1).mean(),
            "your softmax runs over the batch "
            "(dim=0): normalise each document's logits over its V words, dim=1.",
        ),
        (
            -expected,
            "the sign is flipped: the loss is −Σ_v p_v log q_v, which is never negative.",
        ),
    ]
    if slip := _known_slip(
        slips, lambda wrong: torch.isclose(got, wrong, rtol=1e-5)
    ):
        return _verdict(False, slip)
    return _verdict(
        False,
        f"your loss is {got.item():.5g}, the reference {expected.item():.5g}: the mean "
        "over documents of −Σ_v p_v log softmax(logits)_v.",
    )
