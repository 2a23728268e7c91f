"""aecourse.models.superposition: the sparse data against their definition (a KS test for the values), the
model and loss against hand computations, the geometry against hand-built W (a pentagon among them),
and two short seeded trainings: dense features give about m represented features, sparse ones more."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats

from aecourse.models.superposition import (
    ToyModel,
    feature_directions,
    feature_norms,
    importance,
    interference,
    random_directions,
    sparse_features,
    superposed,
    train_toy_model,
    weighted_mse,
)


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# --- data ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("sparsity", [0.0, 0.3, 0.9, 0.99])
def test_the_share_of_zeros_matches_the_sparsity(sparsity):
    x = sparse_features(20_000, 10, sparsity, gen(1))
    assert x.shape == (20_000, 10) and x.dtype == torch.float32
    zeros = (x == 0).double().mean().item()
    # 200 000 Bernoulli draws: the standard error is at most 0.0012
    assert zeros == pytest.approx(sparsity, abs=0.006)


def test_present_features_are_uniform_on_0_1():
    x = sparse_features(5000, 8, 0.7, gen(2))
    values = x[x != 0].numpy()
    assert values.min() >= 0 and values.max() <= 1
    assert stats.kstest(values, "uniform").pvalue > 1e-3
    # a wrong law is caught by the same test: squared uniforms are not uniform
    assert stats.kstest(values**2, "uniform").pvalue < 1e-6


def test_features_are_independent_and_the_edges_are_exact():
    x = sparse_features(20_000, 2, 0.5, gen(3))
    on = (x != 0).double()
    # P(both present) = P(one) P(other) = 0.25 for independent features
    assert (on[:, 0] * on[:, 1]).mean().item() == pytest.approx(
        0.25, abs=0.01
    )
    assert (sparse_features(50, 4, 1.0, gen(4)) == 0).all()
    assert (sparse_features(50, 4, 0.0, gen(4)) != 0).all()
    assert torch.equal(
        sparse_features(30, 4, 0.5, gen(5)),
        sparse_features(30, 4, 0.5, gen(5)),
    )


@pytest.mark.parametrize(
    "args, message",
    [
        ((0, 5, 0.5), "n_samples must be an integer >= 1"),
        ((10, 5, 1.5), "sparsity must be a number in [0, 1]"),
        ((10, 2.0, 0.5), "n_features must be an integer >= 1"),
    ],
)
def test_bad_arguments_are_refused(args, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[")):
        sparse_features(*args)


def test_importance_by_hand():
    torch.testing.assert_close(
        importance(4, 0.5), torch.tensor([1.0, 0.5, 0.25, 0.125])
    )
    assert torch.equal(importance(3, 1.0), torch.ones(3))
    with pytest.raises(ValueError, match="decay must be in"):
        importance(3, 0.0)


def test_superposed_data_are_the_features_along_the_directions():
    dirs = random_directions(6, 9, gen(6))
    torch.testing.assert_close(dirs.norm(dim=0), torch.ones(9))
    x, f = superposed(100, dirs, 0.8, gen(7))
    assert x.shape == (100, 6) and f.shape == (100, 9)
    torch.testing.assert_close(x, f @ dirs.T)
    torch.testing.assert_close(f, sparse_features(100, 9, 0.8, gen(7)))


# --- model and loss -------------------------------------------------------------------------------


def test_forward_by_hand():
    model = ToyModel(3, 2)
    with torch.no_grad():
        model.W.copy_(torch.tensor([[1.0, 0.0, -1.0], [0.0, 2.0, 0.0]]))
        model.b.copy_(torch.tensor([0.1, -0.5, 0.0]))
    x = torch.tensor([[1.0, 0.5, 0.0], [0.0, 0.0, 0.3]])
    # h = W x: (1, 1) and (-0.3, 0); Wᵀ h + b, then ReLU
    assert torch.allclose(
        model.hidden(x), torch.tensor([[1.0, 1.0], [-0.3, 0.0]])
    )
    expected = torch.tensor([[1.1, 1.5, 0.0], [0.0, 0.0, 0.3]])
    torch.testing.assert_close(model(x), expected)
    with pytest.raises(
        ValueError, match=r"expected features of shape \(N, 3\)"
    ):
        model(torch.zeros(2, 4))


def test_weighted_mse_by_hand_and_against_the_plain_loss():
    from aecourse.ops.losses import reconstruction_loss

    loss = weighted_mse(torch.tensor([1.0, 0.5]))
    x_hat = torch.tensor([[1.0, 2.0], [0.0, 0.0]])
    x = torch.tensor([[0.0, 0.0], [1.0, 1.0]])
    # (1·1 + 0.5·4 + 1·1 + 0.5·1) / 2
    assert loss(x_hat, x).item() == pytest.approx(4.5 / 2)
    a, b = torch.rand(5, 3, generator=gen(8)), torch.rand(5, 3)
    torch.testing.assert_close(
        weighted_mse(torch.ones(3))(a, b), reconstruction_loss(a, b)
    )
    with pytest.raises(ValueError, match=r"must both be \(N, 2\)"):
        loss(torch.zeros(2, 3), torch.zeros(2, 3))


# --- geometry -------------------------------------------------------------------------------------


def test_norms_and_interference_by_hand():
    W = torch.tensor([[1.0, 0.0, -1.0, 0.0], [0.0, 2.0, 0.0, 0.0]])
    model = ToyModel(4, 2)
    with torch.no_grad():
        model.W.copy_(W)
    for source in (W, model):
        torch.testing.assert_close(
            feature_norms(source), torch.tensor([1.0, 2.0, 1.0, 0.0])
        )
        # features 0 and 2 are antipodal: each puts 1 on the other; 1 is orthogonal; 3 has no direction
        torch.testing.assert_close(
            interference(source), torch.tensor([1.0, 0.0, 1.0, 0.0])
        )
        torch.testing.assert_close(feature_directions(source), W)
    assert not feature_directions(model).requires_grad


def test_a_regular_pentagon_interferes_by_three_halves():
    """Five unit vectors 72° apart: Σ_{k=1..4} cos²(72° k) = 5/2 − 1 = 3/2 for each."""
    angles = torch.arange(5, dtype=torch.float64) * 2 * math.pi / 5
    W = torch.stack([angles.cos(), angles.sin()])
    torch.testing.assert_close(
        interference(W), torch.full((5,), 1.5, dtype=torch.float64)
    )
    # the same through NumPy, pair by pair
    w = W.numpy()
    by_pairs = [
        sum(np.dot(w[:, i], w[:, j]) ** 2 for j in range(5) if j != i)
        for i in range(5)
    ]
    np.testing.assert_allclose(by_pairs, 1.5)


def test_geometry_refuses_what_is_not_a_matrix():
    with pytest.raises(ValueError, match=r"weights W \(m, n\)"):
        feature_norms(torch.zeros(3))


# --- training: superposition appears with sparsity ------------------------------------------------


def trained(sparsity: float, seed: int = 0) -> ToyModel:
    torch.manual_seed(seed)
    model = ToyModel(5, 2)
    history = train_toy_model(
        model, sparsity, importance(5, 0.9), generator=gen(seed)
    )
    assert history.train[-1] < history.train[0]
    return model


def test_dense_features_keep_the_m_most_important():
    model = trained(0.0)
    norms = feature_norms(model)
    represented = norms > 0.5
    assert represented.tolist() == [True, True, False, False, False], (
        norms
    )
    assert interference(model)[:2].max() < 0.1  # orthogonal, like PCA


def test_sparse_features_are_stored_in_superposition():
    model = trained(0.9)
    norms = feature_norms(model)
    assert (norms > 0.5).sum() > 2, norms  # more than m = 2 features
    assert interference(model).max() > 0.5
