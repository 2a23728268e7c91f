import itertools
import math

import pytest
import torch

from aecourse.models.pretraining import DeepNet
from aecourse.models.rbm import (
    RBM,
    cd1_loss,
    pretrain_rbms,
    rbm_stack,
    train_rbm,
    unroll,
)


def _rbm(n_visible=3, n_hidden=2, hidden="binary", seed=0):
    g = torch.Generator().manual_seed(seed)
    rbm = RBM(n_visible, n_hidden, hidden, generator=g).double()
    with torch.no_grad():
        rbm.weight.normal_(0, 1, generator=g)
        rbm.hidden_bias.normal_(0, 1, generator=g)
        rbm.visible_bias.normal_(0, 1, generator=g)
    return rbm


def _data(n=64, d=12, seed=0):
    """Binary patterns: two prototypes with 5% of the bits flipped."""
    g = torch.Generator().manual_seed(seed)
    protos = torch.tensor([[1.0, 0.0] * (d // 2), [0.0, 1.0] * (d // 2)])
    x = protos[torch.randint(0, 2, (n,), generator=g)]
    flip = torch.rand(n, d, generator=g) < 0.05
    return torch.where(flip, 1 - x, x)


def test_layout_copies_into_linear():
    rbm = RBM(5, 3)
    assert rbm.weight.shape == torch.nn.Linear(5, 3).weight.shape
    assert rbm.hidden_bias.shape == (3,) and rbm.visible_bias.shape == (
        5,
    )
    v = torch.rand(4, 5)
    lin = torch.nn.Linear(5, 3)
    with torch.no_grad():
        lin.weight.copy_(rbm.weight)
        lin.bias.copy_(rbm.hidden_bias)
    assert torch.allclose(rbm.hidden_mean(v), torch.sigmoid(lin(v)))
    assert rbm.visible_mean(torch.rand(4, 3)).shape == (4, 5)


def test_free_energy_against_enumeration():
    """F(v) = -log Σ_h e^{-E(v,h)}, and Σ_v e^{-F(v)} = Z, by enumerating a 3x2 binary RBM."""
    rbm = _rbm(3, 2)
    W, b, c = rbm.weight, rbm.visible_bias, rbm.hidden_bias
    vs = torch.tensor(list(itertools.product([0.0, 1.0], repeat=3)))
    hs = torch.tensor(list(itertools.product([0.0, 1.0], repeat=2)))
    vs, hs = vs.double(), hs.double()
    with torch.no_grad():
        # E[i, j] = E(v_i, h_j) = -bᵀv - cᵀh - hᵀWv
        energy = -(vs @ b)[:, None] - (hs @ c)[None, :] - vs @ W.T @ hs.T
        expected = -torch.logsumexp(-energy, dim=1)
        got = rbm.free_energy(vs)
        assert torch.allclose(got, expected, atol=1e-12)
        log_z = torch.logsumexp(-energy.flatten(), 0)
        assert torch.allclose(torch.logsumexp(-got, 0), log_z)


def test_gaussian_free_energy_by_quadrature():
    """Linear hidden units: F(v) = -log ∫ exp(bᵀv + cᵀh + hᵀWv - ½‖h‖²) dh, one hidden unit."""
    rbm = _rbm(3, 1, "gaussian")
    v = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]]).double()
    h = torch.linspace(-30, 30, 200_001, dtype=torch.float64)
    with torch.no_grad():
        a = rbm.hidden_input(v)  # (2, 1)
        log_integrand = (
            (v @ rbm.visible_bias)[:, None] + a * h[None, :] - 0.5 * h**2
        )
        dh = (h[1] - h[0]).item()
        expected = -(torch.logsumexp(log_integrand, 1) + math.log(dh))
        assert torch.allclose(rbm.free_energy(v), expected, atol=1e-8)
        # the hidden mean is linear, and a sample is mean + unit noise
        assert torch.allclose(rbm.hidden_mean(v), a)
        g = torch.Generator().manual_seed(1)
        mean = torch.zeros(20_000, 1).double()
        s = rbm.sample_hidden(mean, g)
        assert abs(s.std().item() - 1) < 0.03


def test_cd1_gradient_is_positive_minus_negative_statistics():
    rbm = _rbm(4, 3)
    v0 = (
        torch.rand(6, 4, generator=torch.Generator().manual_seed(2)) < 0.5
    )
    v0 = v0.double()
    g = torch.Generator().manual_seed(3)
    out = cd1_loss(rbm, v0, g)
    out["loss"].backward()
    # the same reconstruction, by hand: h0 sampled with the same generator state
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        p0 = torch.sigmoid(v0 @ rbm.weight.T + rbm.hidden_bias)
        h0 = (
            torch.rand(p0.shape, generator=g, dtype=p0.dtype) < p0
        ).double()
        v1 = torch.sigmoid(h0 @ rbm.weight + rbm.visible_bias)
        p1 = torch.sigmoid(v1 @ rbm.weight.T + rbm.hidden_bias)
        n = len(v0)
        pos_minus_neg = (p0.T @ v0 - p1.T @ v1) / n
        assert torch.allclose(-rbm.weight.grad, pos_minus_neg)
        assert torch.allclose(-rbm.hidden_bias.grad, (p0 - p1).mean(0))
        assert torch.allclose(-rbm.visible_bias.grad, (v0 - v1).mean(0))
        assert torch.allclose(
            out["error"], ((v0 - v1) ** 2).sum(1).mean()
        )


def test_gaussian_cd1_gradient():
    rbm = _rbm(4, 2, "gaussian")
    v0 = torch.rand(
        5, 4, generator=torch.Generator().manual_seed(4)
    ).double()
    g = torch.Generator().manual_seed(5)
    cd1_loss(rbm, v0, g)["loss"].backward()
    g = torch.Generator().manual_seed(5)
    with torch.no_grad():
        p0 = (
            v0 @ rbm.weight.T + rbm.hidden_bias
        )  # linear units (rbmhidlinear.m)
        h0 = p0 + torch.randn(p0.shape, generator=g, dtype=p0.dtype)
        v1 = torch.sigmoid(h0 @ rbm.weight + rbm.visible_bias)
        p1 = v1 @ rbm.weight.T + rbm.hidden_bias
        expected = (p0.T @ v0 - p1.T @ v1) / len(v0)
        assert torch.allclose(-rbm.weight.grad, expected)


def test_training_lowers_reconstruction_error():
    x = _data()
    g = torch.Generator().manual_seed(0)
    rbm, errors = train_rbm(
        x, 4, epochs=30, lr=0.1, batch_size=8, generator=g
    )
    assert len(errors) == 30
    assert errors[-1] < 0.5 * errors[0], errors
    # and it learned the two prototypes: mean-field reconstructions are close
    with torch.no_grad():
        recon = rbm.visible_mean(rbm.hidden_mean(x))
    assert ((recon - x) ** 2).sum(1).mean() < errors[0]


def test_gaussian_hidden_training():
    x = _data()
    g = torch.Generator().manual_seed(0)
    rbm, errors = train_rbm(
        x,
        2,
        epochs=30,
        lr=0.01,
        batch_size=8,
        hidden="gaussian",
        generator=g,
    )
    assert rbm.hidden == "gaussian"
    assert errors[-1] < errors[0], errors


def test_weight_decay_on_weights_only():
    x = torch.rand(10, 3, generator=torch.Generator().manual_seed(0))
    g = torch.Generator().manual_seed(0)
    rbm0 = RBM(3, 2, generator=torch.Generator().manual_seed(0))
    rbm, _ = train_rbm(
        x,
        2,
        epochs=1,
        lr=0.1,
        batch_size=10,
        weight_decay=0.5,
        momentum=0.0,
        generator=g,
    )
    # the same run without weight cost: W differs by lr·wd·W₀, the biases not at all
    rbm_nd, _ = train_rbm(
        x,
        2,
        epochs=1,
        lr=0.1,
        batch_size=10,
        weight_decay=0.0,
        momentum=0.0,
        generator=torch.Generator().manual_seed(0),
    )
    with torch.no_grad():
        assert torch.allclose(
            rbm.weight, rbm_nd.weight - 0.1 * 0.5 * rbm0.weight, atol=1e-6
        )
        assert torch.allclose(rbm.visible_bias, rbm_nd.visible_bias)


def test_stack_unroll_and_pretrain():
    x = _data(n=40, d=12)
    g = torch.Generator().manual_seed(0)
    rbms, errors = rbm_stack(
        x,
        [12, 6, 2],
        top="gaussian",
        epochs=2,
        lr=0.1,
        top_lr=0.01,
        batch_size=10,
        generator=g,
    )
    assert [r.hidden for r in rbms] == ["binary", "gaussian"]
    assert [len(e) for e in errors] == [2, 2]
    ae = unroll(rbms)
    with torch.no_grad():
        code = rbms[1].hidden_mean(rbms[0].hidden_mean(x))
        assert torch.allclose(ae.encode(x), code, atol=1e-6)
        recon = rbms[0].visible_mean(
            torch.sigmoid(code @ rbms[1].weight + rbms[1].visible_bias)
        )
        assert torch.allclose(ae(x), recon, atol=1e-6)
    # decoder weights are separate parameters (untied)
    assert (
        ae.decoder.layers[0].weight.data_ptr()
        != rbms[1].weight.data_ptr()
    )

    net = DeepNet([12, 5, 3], activation="sigmoid")
    errs = pretrain_rbms(
        net,
        x.reshape(40, 3, 4),
        epochs=1,
        batch_size=10,
        generator=torch.Generator().manual_seed(1),
    )
    assert len(errs) == 2
    rbm1, _ = train_rbm(
        x,
        5,
        epochs=1,
        batch_size=10,
        generator=torch.Generator().manual_seed(1),
    )
    assert torch.allclose(net.hidden[0].weight, rbm1.weight)


def test_bad_arguments():
    x = _data(n=10)
    with pytest.raises(ValueError):
        RBM(3, 2, hidden="relu")
    with pytest.raises(ValueError):
        RBM(0, 2)
    with pytest.raises(ValueError):
        RBM(3, 2).hidden_mean(torch.rand(4, 5))
    with pytest.raises(ValueError):
        RBM(3, 2).visible_mean(torch.rand(4, 3))
    with pytest.raises(ValueError):
        train_rbm(x * 2, 3, epochs=1)
    with pytest.raises(ValueError):
        train_rbm(x, 0, epochs=1)
    with pytest.raises(ValueError):
        train_rbm(x, 3, epochs=1, lr=0)
    with pytest.raises(ValueError):
        train_rbm(x, 3, epochs=1, momentum=(0.5, 1.2))
    with pytest.raises(ValueError):
        train_rbm(x, 3, epochs=1, weight_decay=-1)
    with pytest.raises(ValueError):
        train_rbm(x[0], 3, epochs=1)
    with pytest.raises(ValueError):
        rbm_stack(x, [11, 3], epochs=1)
    with pytest.raises(ValueError):
        pretrain_rbms(DeepNet([12, 4], activation="relu"), x, epochs=1)
    with pytest.raises(ValueError):
        pretrain_rbms(torch.nn.Linear(12, 4), x, epochs=1)
    with pytest.raises(ValueError):
        unroll([RBM(4, 3, "gaussian"), RBM(3, 2)])
    with pytest.raises(ValueError):
        unroll([RBM(4, 3), RBM(2, 2)])
    with pytest.raises(ValueError):
        unroll([])
