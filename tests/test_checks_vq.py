"""aecourse.checks.vq: each checker accepts right answers and rejects stubs and known wrong answers with
a specific reason (the pattern of tests/test_checks.py, which also runs its stub-and-crash test over
these checkers)."""

from __future__ import annotations

import math

import pytest
import torch

# the one-line verdict helpers of the other checkers' tests
from test_checks import assert_right, assert_wrong

from aecourse import checks
from aecourse.checks import vq


def stub(*args):
    raise NotImplementedError


def test_the_checkers_are_gathered_with_their_labels():
    labels = checks.labels()
    assert (
        labels["ex-vq-quantize"]
        is checks.check_quantize
        is vq.check_quantize
    )
    assert (
        labels["ex-vq-straight-through"] is checks.check_straight_through
    )
    assert labels["ex-vq-perplexity"] is checks.check_perplexity


@pytest.mark.parametrize(
    "checker",
    [
        checks.check_quantize,
        checks.check_straight_through,
        checks.check_perplexity,
    ],
)
def test_stubs_and_non_answers_are_rejected(checker, capsys):
    assert_wrong(
        checker, stub, capsys, "still raises NotImplementedError"
    )
    assert_wrong(checker, lambda *args: None, capsys, "")
    assert_wrong(checker, lambda *args: "an answer", capsys, "")


# --- ex-vq-quantize ---------------------------------------------------------------------------------------


def quantize(z_e, codebook):
    codes = torch.cdist(z_e, codebook).argmin(1)
    return codes, codebook[codes]


def test_quantize_right_answers(capsys):
    assert_right(checks.check_quantize, quantize, capsys)

    def expanded(z_e, codebook):
        d = (
            (z_e**2).sum(1, keepdim=True)
            - 2 * z_e @ codebook.T
            + (codebook**2).sum(1)
        )
        codes = d.argmin(1)
        return codes, codebook[codes].float()

    assert_right(checks.check_quantize, expanded, capsys)
    # a list is as good as a tuple
    assert_right(
        checks.check_quantize, lambda z, e: list(quantize(z, e)), capsys
    )


def test_quantize_known_slips(capsys):
    def farthest(z_e, codebook):
        codes = torch.cdist(z_e, codebook).argmax(1)
        return codes, codebook[codes]

    def dot(z_e, codebook):
        codes = (z_e @ codebook.T).argmax(1)
        return codes, codebook[codes]

    def l1(z_e, codebook):
        codes = torch.cdist(z_e, codebook, p=1).argmin(1)
        return codes, codebook[codes]

    assert_wrong(
        checks.check_quantize, farthest, capsys, "not the argmax"
    )
    assert_wrong(
        checks.check_quantize, dot, capsys, "largest dot product"
    )
    assert_wrong(checks.check_quantize, l1, capsys, "L1 distance")
    assert_wrong(
        checks.check_quantize,
        lambda z, e: (quantize(z, e)[0], z),
        capsys,
        "z_q is z_e itself",
    )
    assert_wrong(
        checks.check_quantize,
        lambda z, e: (torch.cdist(z, e), quantize(z, e)[1]),
        capsys,
        "one value per code",
    )
    assert_wrong(
        checks.check_quantize,
        lambda z, e: (quantize(z, e)[0].double(), quantize(z, e)[1]),
        capsys,
        "must be integer indices",
    )
    assert_wrong(
        checks.check_quantize,
        lambda z, e: quantize(z, e)[0],
        capsys,
        "return a pair (codes, z_q)",
    )
    # codes right, vectors from the wrong rows
    assert_wrong(
        checks.check_quantize,
        lambda z, e: (
            quantize(z, e)[0],
            e[(quantize(z, e)[0] + 1) % len(e)],
        ),
        capsys,
        "z_q (the codebook vectors of the codes) differs from the reference",
    )
    # argmin over the wrong axis: one index per code
    assert_wrong(
        checks.check_quantize,
        lambda z, e: (torch.cdist(z, e).argmin(0), None),
        capsys,
        "codes has shape (6,), expected (40,)",
    )


def test_the_quantize_slips_really_differ_on_the_checkers_data():
    z_e, codebook = vq._quantize_case()
    right = torch.cdist(z_e, codebook).argmin(1)
    for wrong in (
        (z_e @ codebook.T).argmax(1),
        torch.cdist(z_e, codebook, p=1).argmin(1),
        torch.cdist(z_e, codebook).argmax(1),
    ):
        assert not torch.equal(wrong, right)
    assert len(right.unique()) >= 4  # most codes are someone's nearest


# --- ex-vq-straight-through -------------------------------------------------------------------------------


def test_straight_through_right_answers(capsys):
    assert_right(
        checks.check_straight_through,
        lambda z_e, z_q: z_e + (z_q - z_e).detach(),
        capsys,
    )
    assert_right(
        checks.check_straight_through,
        lambda z_e, z_q: z_q.detach() + z_e - z_e.detach(),
        capsys,
    )


def test_straight_through_known_slips(capsys):
    assert_wrong(
        checks.check_straight_through,
        lambda z_e, z_q: z_q,
        capsys,
        "the gradient goes to z_q, not to z_e",
    )
    assert_wrong(
        checks.check_straight_through,
        lambda z_e, z_q: z_e + (z_q - z_e),
        capsys,
        "the gradient goes to z_q, not to z_e",
    )
    assert_wrong(
        checks.check_straight_through,
        lambda z_e, z_q: z_q.detach(),
        capsys,
        "no gradient reaches z_e",
    )
    assert_wrong(
        checks.check_straight_through,
        lambda z_e, z_q: z_e + (z_q.detach() - z_e),
        capsys,
        "no gradient reaches z_e",
    )
    assert_wrong(
        checks.check_straight_through,
        lambda z_e, z_q: z_e + (z_q - z_e.detach()),
        capsys,
        "but also z_q",
    )
    assert_wrong(
        checks.check_straight_through,
        lambda z_e, z_q: z_q + (z_e - z_q).detach(),
        capsys,
        "the output has the value of z_e",
    )
    assert_wrong(
        checks.check_straight_through,
        lambda z_e, z_q: z_e,
        capsys,
        "the output has the value of z_e",
    )
    assert_wrong(
        checks.check_straight_through,
        lambda z_e, z_q: z_e + (2 * z_q - z_e).detach(),
        capsys,
        "the output's value (it should equal z_q) differs from the reference",
    )
    # the value of z_q, but twice the gradient
    assert_wrong(
        checks.check_straight_through,
        lambda z_e, z_q: 2 * z_e + (z_q - 2 * z_e).detach(),
        capsys,
        "no gradient reaches z_e",
    )
    assert_wrong(
        checks.check_straight_through,
        lambda z_e, z_q: z_q.T,
        capsys,
        "return a tensor of z_e's shape (5, 3), got (3, 5)",
    )


# --- ex-vq-perplexity -------------------------------------------------------------------------------------


def perplexity_nats(codes, k):
    p = torch.bincount(codes, minlength=k).double() / len(codes)
    p = p[p > 0]
    return torch.exp(-(p * p.log()).sum())


def test_perplexity_right_answers(capsys):
    assert_right(checks.check_perplexity, perplexity_nats, capsys)

    def in_bits(codes, k):
        p = torch.bincount(codes, minlength=k).float() / len(codes)
        p = p[p > 0]
        return 2 ** (-(p * p.log2()).sum()).item()

    assert_right(checks.check_perplexity, in_bits, capsys)

    def with_xlogy(codes, k):
        p = torch.bincount(codes, minlength=k).double() / codes.numel()
        return math.exp(-torch.special.xlogy(p, p).sum().item())

    assert_right(checks.check_perplexity, with_xlogy, capsys)


def test_perplexity_known_slips(capsys):
    def probabilities(codes, k):
        p = torch.bincount(codes, minlength=k).double() / len(codes)
        return p, p[p > 0]

    def entropy(codes, k, log=torch.log):
        _, p = probabilities(codes, k)
        return -(p * log(p)).sum()

    assert_wrong(
        checks.check_perplexity,
        entropy,
        capsys,
        "that is the entropy H = −Σ p ln p",
    )
    assert_wrong(
        checks.check_perplexity,
        lambda c, k: entropy(c, k, torch.log2),
        capsys,
        "that is the entropy in bits",
    )
    assert_wrong(
        checks.check_perplexity,
        lambda c, k: torch.exp(entropy(c, k, torch.log2)),
        capsys,
        "you took exp of the entropy in bits",
    )
    assert_wrong(
        checks.check_perplexity,
        lambda c, k: 2 ** entropy(c, k),
        capsys,
        "you took 2 to the entropy in nats",
    )

    def with_zeros(codes, k):
        p, _ = probabilities(codes, k)
        return torch.exp(-(p * p.log()).sum())

    assert_wrong(
        checks.check_perplexity,
        with_zeros,
        capsys,
        "the perplexity is NaN",
    )
    assert_wrong(
        checks.check_perplexity,
        lambda c, k: len(c.unique()),
        capsys,
        "the number of codes used at all",
    )
    assert_wrong(
        checks.check_perplexity,
        lambda c, k: k,
        capsys,
        "that is K, the codebook size",
    )
    assert_wrong(
        checks.check_perplexity,
        lambda c, k: 1 / (probabilities(c, k)[1] ** 2).sum(),
        capsys,
        "the order-2 (collision) version",
    )
    assert_wrong(
        checks.check_perplexity,
        lambda c, k: probabilities(c, k)[0],
        capsys,
        "one per code",
    )
    # right on uneven use, wrong on a single code: a special case hard-wired
    assert_wrong(
        checks.check_perplexity,
        lambda c, k: (
            perplexity_nats(c, k) if len(c.unique()) > 1 else 0.0
        ),
        capsys,
        "for a single code (K = 7) the perplexity is 1, got 0",
    )


def test_the_perplexity_slips_are_all_different_numbers_on_the_uneven_case():
    codes, k = vq._perplexity_cases()[0]
    p = torch.bincount(codes, minlength=k).double() / len(codes)
    p = p[p > 0]
    nats = -(p * p.log()).sum().item()
    bits = nats / math.log(2)
    values = [
        math.exp(nats),
        nats,
        bits,
        math.exp(bits),
        2**nats,
        len(p),
        k,
        1 / (p**2).sum().item(),
    ]
    assert all(
        not math.isclose(a, b, rel_tol=1e-3)
        for i, a in enumerate(values)
        for b in values[i + 1 :]
    ), values
