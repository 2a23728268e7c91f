"""aecourse.ops.losses: per-example sums averaged over the batch, checked against torch.nn.functional and by hand."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from aecourse.ops.losses import (
    KINDS,
    logit_gradient,
    multinomial_loss,
    reconstruction_loss,
    to_uint8,
)


def test_kinds():
    assert KINDS == ("mse", "bce")


def test_mse_by_hand():
    x_hat = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    x = torch.zeros(2, 2)
    # per example: 1 + 4 = 5 and 9 + 16 = 25; mean over the batch: 15
    assert reconstruction_loss(x_hat, x, "mse").item() == pytest.approx(
        15.0
    )


def test_bce_by_hand():
    x_hat = torch.tensor([[0.5, 0.5], [0.9, 0.2]])
    x = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
    first = 2 * math.log(2)
    second = -(math.log(0.9) + math.log(0.2))
    assert reconstruction_loss(x_hat, x, "bce").item() == pytest.approx(
        (first + second) / 2, rel=1e-6
    )


def test_mse_equals_pytorch_sum_over_n():
    g = torch.Generator().manual_seed(0)
    x_hat = torch.rand(6, 1, 28, 28, generator=g)
    x = torch.rand(6, 1, 28, 28, generator=g)
    expected = F.mse_loss(x_hat, x, reduction="sum") / 6
    # mse is the default
    torch.testing.assert_close(reconstruction_loss(x_hat, x), expected)
    # summed over the 784 pixels, not averaged: 784 times PyTorch's mean
    torch.testing.assert_close(
        reconstruction_loss(x_hat, x, "mse"), F.mse_loss(x_hat, x) * 784
    )


def test_bce_equals_pytorch_sum_over_n():
    g = torch.Generator().manual_seed(1)
    x_hat = torch.rand(5, 12, generator=g).clamp(0.01, 0.99)
    # soft targets in [0, 1] are allowed
    x = torch.rand(5, 12, generator=g)
    expected = F.binary_cross_entropy(x_hat, x, reduction="sum") / 5
    torch.testing.assert_close(
        reconstruction_loss(x_hat, x, "bce"), expected
    )


def test_loss_is_a_differentiable_scalar():
    x_hat = torch.rand(4, 3, requires_grad=True)
    x = torch.rand(4, 3)
    loss = reconstruction_loss(x_hat, x, "mse")
    assert loss.shape == ()
    loss.backward()
    torch.testing.assert_close(x_hat.grad, 2 * (x_hat.detach() - x) / 4)


def test_unknown_kind_is_a_clear_error():
    with pytest.raises(
        ValueError,
        match=r"Unknown loss kind 'l1': expected one of \('mse', 'bce'\)",
    ):
        reconstruction_loss(torch.zeros(2, 2), torch.zeros(2, 2), "l1")


def test_shape_mismatch_is_a_clear_error():
    with pytest.raises(
        ValueError,
        match=r"same shape, got \(2, 784\) and \(2, 1, 28, 28\)",
    ):
        reconstruction_loss(
            torch.zeros(2, 784), torch.zeros(2, 1, 28, 28)
        )


def test_to_uint8_maps_0_1_and_half():
    x = torch.tensor([0.0, 1.0, 0.5, 0.25, 1 / 255, 254.6 / 255])
    assert to_uint8(x).tolist() == [0, 255, 128, 64, 1, 255]
    assert to_uint8(x).dtype == torch.uint8


def test_to_uint8_clips():
    assert to_uint8(
        torch.tensor([-0.3, 1.7, -100.0, 100.0])
    ).tolist() == [0, 255, 0, 255]


def test_to_uint8_inverts_dividing_by_255():
    pixels = torch.arange(256, dtype=torch.uint8)
    assert torch.equal(to_uint8(pixels.float() / 255), pixels)
    assert to_uint8(torch.rand(2, 1, 3, 3)).shape == (2, 1, 3, 3)


# --- multinomial_loss -----------------------------------------------------------------------------------


def test_multinomial_loss_matches_soft_target_cross_entropy():
    g = torch.Generator().manual_seed(0)
    logits = 3 * torch.randn(6, 11, generator=g)
    proportions = torch.rand(6, 11, generator=g)
    proportions /= proportions.sum(1, keepdim=True)
    torch.testing.assert_close(
        multinomial_loss(logits, proportions),
        F.cross_entropy(logits, proportions),
    )


def test_multinomial_loss_by_hand():
    # Scores (0, log 3) give q = (1/4, 3/4); a document with half its words of each: −(½ log ¼ + ½ log ¾).
    logits = torch.tensor([[0.0, math.log(3.0)], [0.0, 0.0]])
    proportions = torch.tensor([[0.5, 0.5], [1.0, 0.0]])
    first = -(0.5 * math.log(0.25) + 0.5 * math.log(0.75))
    second = -math.log(0.5)  # q = (½, ½), all words the first
    assert multinomial_loss(logits, proportions).item() == pytest.approx(
        (first + second) / 2, rel=1e-6
    )


def test_multinomial_loss_is_stable_and_differentiable():
    logits = torch.tensor([[1000.0, 0.0, -1000.0]], requires_grad=True)
    proportions = torch.tensor([[0.0, 1.0, 0.0]])
    loss = multinomial_loss(logits, proportions)
    # −log q_1 = 1000 + log(1 + e^−1000 + e^−2000)
    assert loss.item() == pytest.approx(1000.0)
    loss.backward()
    # d/da of −Σ p log softmax(a) is softmax(a) − p
    torch.testing.assert_close(
        logits.grad, torch.softmax(logits.detach(), 1) - proportions
    )


@pytest.mark.parametrize(
    "shapes", [((2, 3), (2, 4)), ((3,), (3,)), ((2, 3, 4), (2, 3, 4))]
)
def test_multinomial_loss_refuses_bad_shapes(shapes):
    with pytest.raises(
        ValueError, match=r"must both be \(N, V\) of the same shape"
    ):
        multinomial_loss(torch.zeros(shapes[0]), torch.zeros(shapes[1]))


def test_logit_gradient_matches_the_chain_rule():
    x_hat = torch.tensor([[0.01, 0.5, 0.9], [0.999, 0.3, 0.2]])
    x = torch.tensor([[1.0, 0.0, 1.0], [0.0, 0.3, 0.5]])
    mse = logit_gradient(x_hat, x, "mse")
    bce = logit_gradient(x_hat, x, "bce")
    assert mse.shape == bce.shape == x_hat.shape
    assert torch.allclose(
        mse, 2 * (x_hat - x) * x_hat * (1 - x_hat), atol=1e-6
    )
    assert torch.allclose(bce, x_hat - x, atol=1e-6)
    # by hand: a saturated wrong output (x̂ = 0.01, x = 1)
    assert mse[0, 0].item() == pytest.approx(2 * -0.99 * 0.01 * 0.99)
    assert bce[0, 0].item() == pytest.approx(-0.99)


def test_logit_gradient_refuses_outputs_on_the_boundary():
    with pytest.raises(ValueError, match=r"strictly inside \(0, 1\)"):
        logit_gradient(torch.tensor([[0.0, 0.5]]), torch.zeros(1, 2))
