"""aecourse.checks.sparse_autoencoders: each checker accepts right answers written in different ways and
rejects the stub and the known slips with their own message (stubs, crashes and non-answers are also
covered for every checker by tests/test_checks.py)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

# The checker-test helpers of tests/test_checks.py (tests/ is on sys.path under pytest's default import
# mode): a verdict may wrap over several lines of the book's output width.
from test_checks import assert_right, assert_wrong

from aecourse import checks


def stub(*args):
    raise NotImplementedError


@pytest.mark.parametrize(
    "checker, label",
    [
        (checks.check_topk, "ex-sae-topk"),
        (checks.check_decoder_norm, "ex-sae-decoder-norm"),
        (checks.check_loss_recovered, "ex-sae-loss-recovered"),
    ],
)
def test_labels_and_the_stub(checker, label, capsys):
    assert checker.label == label
    assert checks.labels()[label] is checker
    assert_wrong(
        checker, stub, capsys, "still raises NotImplementedError"
    )


# --- TopK -----------------------------------------------------------------------------------------


def scatter(pre, idx, values):
    return torch.zeros_like(pre).scatter(1, idx, values)


def topk_right(pre, k):
    values, idx = pre.topk(k, dim=1)
    return scatter(pre, idx, F.relu(values))


def topk_by_threshold(pre, k):
    kth = pre.topk(k, dim=1).values[:, -1:]
    return torch.where(pre >= kth, pre, 0).relu()


def topk_relu_first(pre, k):
    r = pre.relu()
    values, idx = r.topk(k, dim=1)
    return scatter(r, idx, values)


@pytest.mark.parametrize(
    "fn", [topk_right, topk_by_threshold, topk_relu_first]
)
def test_topk_accepts_right_answers(fn, capsys):
    assert_right(checks.check_topk, fn, capsys)


def by_abs(pre, k, relu=True):
    idx = pre.abs().topk(k, dim=1).indices
    kept = pre.gather(1, idx)
    return scatter(pre, idx, kept.relu() if relu else kept)


@pytest.mark.parametrize(
    "fn, reason",
    [
        (by_abs, "you kept the k largest in absolute value:"),
        (
            lambda p, k: by_abs(p, k, relu=False),
            "in absolute value, and without ReLU",
        ),
        (
            lambda p, k: scatter(
                p, p.topk(k, 1).indices, p.topk(k, 1).values
            ),
            "apply ReLU to the kept values",
        ),
        (lambda p, k: p.relu(), "kept every positive value"),
        (
            lambda p, k: torch.zeros_like(p).scatter(
                0, p.topk(k, 0).indices, p.topk(k, 0).values.relu()
            ),
            "the k largest of each column (dim 0)",
        ),
        (
            lambda p, k: scatter(
                p,
                p.topk(k, 1, largest=False).indices,
                p.topk(k, 1, largest=False).values.relu(),
            ),
            "you kept the k smallest",
        ),
        (
            lambda p, k: p.topk(k, 1).values,
            "scatter the kept values back",
        ),
        (
            lambda p, k: p.topk(k, 1).indices,
            "scatter the kept values back",
        ),
        (lambda p, k: topk_right(p, 3), "the output for k = 1 differs"),
        (lambda p, k: p.sigmoid(), "the output for k = 3 differs"),
        (lambda p, k: [1, 2], "return a tensor of pre's shape (12, 10)"),
    ],
)
def test_topk_names_the_slip(fn, reason, capsys):
    assert_wrong(checks.check_topk, fn, capsys, reason)


# --- unit-norm decoder columns --------------------------------------------------------------------


def columns_inplace(W):
    W /= W.norm(dim=0, keepdim=True)
    return W


@pytest.mark.parametrize(
    "fn",
    [
        lambda W: W / W.norm(dim=0, keepdim=True),
        lambda W: F.normalize(W, dim=0),
        lambda W: W / (W**2).sum(0).sqrt(),
        columns_inplace,
    ],
)
def test_decoder_norm_accepts_right_answers(fn, capsys):
    assert_right(checks.check_decoder_norm, fn, capsys)


def inplace_returns_none(W):
    W /= W.norm(dim=0, keepdim=True)


@pytest.mark.parametrize(
    "fn, reason",
    [
        (
            lambda W: W / W.norm(dim=1, keepdim=True),
            "you normalised the rows",
        ),
        (lambda W: F.normalize(W, dim=1), "you normalised the rows"),
        (lambda W: W / W.norm(), "the norm of the whole matrix"),
        (lambda W: W / (W**2).sum(0), "you divided by the squared norm"),
        (lambda W: W / W.abs().sum(0), "the L1 norm"),
        (lambda W: W.norm(dim=0), "you returned the 8 column norms"),
        (inplace_returns_none, "the function returned None"),
        (
            lambda W: -W / W.norm(dim=0),
            "norm 1 but no longer point where W's did",
        ),
        (lambda W: W, "the normalised W differs from the reference"),
    ],
)
def test_decoder_norm_names_the_slip(fn, reason, capsys):
    assert_wrong(checks.check_decoder_norm, fn, capsys, reason)


# --- loss recovered -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fn",
    [
        lambda c, s, z: (z - s) / (z - c),
        lambda c, s, z: 1 - (s - c) / (z - c),
        lambda c, s, z: torch.tensor((z - s) / (z - c)),
    ],
)
def test_loss_recovered_accepts_right_answers(fn, capsys):
    assert_right(checks.check_loss_recovered, fn, capsys)


@pytest.mark.parametrize(
    "fn, reason",
    [
        (lambda c, s, z: (z - c) / (z - s), "you inverted the ratio"),
        (
            lambda c, s, z: (s - c) / (z - c),
            "the share of the gap the SAE loses",
        ),
        (lambda c, s, z: (s - z) / (z - c), "the sign is flipped"),
        (lambda c, s, z: (z - s) / z, "you divided by L_zero"),
        (lambda c, s, z: c / s, "a ratio of two losses"),
        (
            lambda c, s, z: 0.875,
            "for L_clean = 3.1, L_sae = 3.4, L_zero = 4.9",
        ),
        (
            lambda c, s, z: torch.ones(3),
            "return one number (a float), got (3,)",
        ),
        (
            lambda c, s, z: None,
            "return one number (a float), got NoneType",
        ),
    ],
)
def test_loss_recovered_names_the_slip(fn, reason, capsys):
    assert_wrong(checks.check_loss_recovered, fn, capsys, reason)
