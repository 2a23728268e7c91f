"""aecourse.ops.regularizers: the penalties against hand computations, torch.distributions and autograd.

The contractive penalty's closed form is checked in float64 against the Jacobian that autograd builds,
both through :func:`jacobian_frobenius` and through a plain loop over examples.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torch.distributions import Bernoulli, kl_divergence

from aecourse.models.autoencoder import Encoder
from aecourse.ops.regularizers import (
    contractive_penalty,
    jacobian_frobenius,
    kl_sparsity,
    l1_penalty,
)

TIGHT = dict(rtol=1e-12, atol=1e-12)


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def sigmoid_layer(n: int, d: int, h: int, seed: int):
    """Random float64 x (n, d), W (h, d), b (h,) with pre-activations spread over the sigmoid's range."""
    g = gen(seed)
    x = torch.randn(n, d, generator=g, dtype=torch.float64)
    W = (
        torch.randn(h, d, generator=g, dtype=torch.float64)
        / math.sqrt(d)
        * 2
    )
    b = torch.randn(h, generator=g, dtype=torch.float64)
    return x, W, b


def jacobian_loop(encoder, x: torch.Tensor) -> torch.Tensor:
    """Mean squared Frobenius norm of the Jacobian, one example at a time with autograd.functional."""
    norms = [
        torch.autograd.functional.jacobian(
            lambda xi: encoder(xi[None])[0], xi
        )
        .pow(2)
        .sum()
        for xi in x
    ]
    return torch.stack(norms).mean()


# --- L1 ------------------------------------------------------------------------------------------


def test_l1_by_hand():
    code = torch.tensor([[1.0, -2.0, 0.0], [0.5, 0.5, -1.0]])
    assert l1_penalty(code).item() == pytest.approx((3 + 2) / 2)


def test_l1_sums_over_every_entry_of_an_example():
    code = torch.randn(4, 2, 3, 3, generator=gen(1))
    torch.testing.assert_close(
        l1_penalty(code), code.abs().flatten(1).sum(1).mean()
    )
    torch.testing.assert_close(
        l1_penalty(code), l1_penalty(code.flatten(1))
    )


def test_l1_gradient_is_the_sign_over_the_batch_size():
    code = torch.tensor(
        [[0.3, -0.2], [-1.0, 2.0], [0.5, -0.5]], requires_grad=True
    )
    l1_penalty(code).backward()
    torch.testing.assert_close(code.grad, code.detach().sign() / 3)


# --- KL sparsity ---------------------------------------------------------------------------------


def test_kl_by_hand():
    # unit means 0.3 and 0.1
    code = torch.tensor([[0.2, 0.1], [0.4, 0.1]], dtype=torch.float64)
    rho = 0.1
    unit0 = rho * math.log(rho / 0.3) + (1 - rho) * math.log(
        (1 - rho) / 0.7
    )
    assert kl_sparsity(code, rho).item() == pytest.approx(
        unit0 + 0.0, rel=1e-12
    )
    assert abs(unit0 - 0.1163) < 1e-4  # 0.1·ln(1/3) + 0.9·ln(9/7)


def test_kl_matches_torch_distributions():
    code = torch.sigmoid(
        torch.randn(64, 20, generator=gen(2), dtype=torch.float64)
    )
    for rho in (0.05, 0.3, 0.8):
        expected = kl_divergence(
            Bernoulli(probs=torch.full((20,), rho, dtype=torch.float64)),
            Bernoulli(probs=code.mean(0)),
        ).sum()
        torch.testing.assert_close(
            kl_sparsity(code, rho), expected, **TIGHT
        )


def test_kl_is_zero_only_at_the_target_and_pulls_towards_it():
    code = torch.full((10, 3), 0.05, dtype=torch.float64)
    assert kl_sparsity(code, 0.05).item() == pytest.approx(0.0, abs=1e-15)
    busy = torch.full(
        (10, 3), 0.5, dtype=torch.float64, requires_grad=True
    )
    penalty = kl_sparsity(busy, 0.05)
    penalty.backward()
    assert penalty.item() > 0
    assert (
        busy.grad > 0
    ).all()  # gradient descent lowers activations that are above the target


def test_kl_of_a_dead_unit_is_large_but_finite():
    # every unit off on the whole batch: ρ̂ = 0
    code = torch.zeros(16, 4, requires_grad=True)
    penalty = kl_sparsity(code, 0.05)
    penalty.backward()
    # log(0.05/eps) ≈ 13 per unit
    assert (
        math.isfinite(penalty.item()) and penalty.item() > 4 * 0.05 * 10
    )
    assert not code.grad.isnan().any()


@pytest.mark.parametrize("rho", [0, 1, -0.1, 1.5, True, float("nan")])
def test_kl_rejects_rho_outside_the_open_interval(rho):
    with pytest.raises(
        ValueError,
        match=r"rho must be a target activation strictly between 0 and 1",
    ):
        kl_sparsity(torch.full((4, 2), 0.5), rho)


def test_penalties_reject_codes_without_a_batch():
    for fn in (l1_penalty, lambda c: kl_sparsity(c, 0.1)):
        with pytest.raises(
            ValueError,
            match=r"code must be a batch \(N, h\) with N ≥ 1, got shape \(5,\)",
        ):
            fn(torch.rand(5))
        with pytest.raises(
            ValueError, match=r"code must be a floating-point tensor"
        ):
            fn(torch.ones(2, 5, dtype=torch.int64))


# --- contractive penalty -------------------------------------------------------------------------


def test_contractive_by_hand():
    # One input, one unit: h = sigmoid(0) = 1/2, h(1 − h) = 1/4, so ‖J‖² = (1/4)²·W² = 4/16.
    x, W, b = torch.zeros(1, 1), torch.tensor([[2.0]]), torch.zeros(1)
    assert contractive_penalty(x, W, b).item() == pytest.approx(0.25)


@pytest.mark.parametrize(
    "n,d,h,seed",
    [(1, 3, 2, 3), (5, 7, 4, 4), (8, 20, 30, 5), (3, 16, 1, 6)],
)
def test_contractive_closed_form_is_the_jacobian_norm(n, d, h, seed):
    x, W, b = sigmoid_layer(n, d, h, seed)

    def encoder(batch):
        return torch.sigmoid(batch @ W.T + b)

    closed = contractive_penalty(x, W, b)
    torch.testing.assert_close(
        closed, jacobian_frobenius(encoder, x), **TIGHT
    )
    torch.testing.assert_close(closed, jacobian_loop(encoder, x), **TIGHT)


def test_contractive_gradients_match_the_autograd_version():
    x, W0, b0 = sigmoid_layer(6, 5, 4, seed=7)
    grads = []
    for penalty in (
        lambda W, b: contractive_penalty(x, W, b),
        lambda W, b: jacobian_frobenius(
            lambda batch: torch.sigmoid(batch @ W.T + b), x
        ),
    ):
        W, b = W0.clone().requires_grad_(), b0.clone().requires_grad_()
        penalty(W, b).backward()
        grads.append((W.grad, b.grad))
    torch.testing.assert_close(grads[0], grads[1], **TIGHT)


def test_contractive_rejects_shapes_that_do_not_fit():
    x, W, b = sigmoid_layer(3, 4, 2, seed=8)
    with pytest.raises(
        ValueError,
        match=r"Expected x \(N, d\), W \(h, d\) and b \(h,\), got x \(3, 4\), W \(4, 2\)",
    ):
        contractive_penalty(x, W.T, b)
    with pytest.raises(ValueError, match=r"b \(3,\)"):
        contractive_penalty(x, W, torch.zeros(3, dtype=torch.float64))


# --- jacobian_frobenius --------------------------------------------------------------------------


def test_jacobian_of_a_linear_map_is_its_weight_everywhere():
    layer = nn.Linear(6, 3).double()
    x = torch.randn(4, 6, generator=gen(9), dtype=torch.float64)
    torch.testing.assert_close(
        jacobian_frobenius(layer, x),
        layer.weight.detach().pow(2).sum(),
        **TIGHT,
    )


def test_jacobian_frobenius_of_a_deep_encoder_on_images():
    torch.manual_seed(10)
    encoder = Encoder(
        [16, 8, 3], activation="tanh", code_activation="sigmoid"
    ).double()
    x = torch.rand(3, 1, 4, 4, generator=gen(11), dtype=torch.float64)
    with torch.no_grad():
        expected = jacobian_loop(encoder, x)
    torch.testing.assert_close(
        jacobian_frobenius(encoder, x), expected, **TIGHT
    )


def test_jacobian_frobenius_trains_the_encoder():
    # Its gradient reaches the parameters, so it can serve as the penalty of a deep contractive autoencoder.
    torch.manual_seed(12)
    encoder = Encoder(
        [5, 4, 2], activation="sigmoid", code_activation="sigmoid"
    )
    penalty = jacobian_frobenius(
        encoder, torch.rand(3, 5, generator=gen(13))
    )
    penalty.backward()
    assert all(
        p.grad is not None and p.grad.abs().sum() > 0
        for p in encoder.parameters()
    )
