"""aecourse.models.sparse_autoencoder: TopK against a sort-based reference, the decoder constraint against
torch's own Adam, the scores against scikit-learn and hand values, and two short seeded trainings that
recover planted sparse features (ReLU + L1 and TopK)."""

from __future__ import annotations

import pytest
import torch
from sklearn.metrics import r2_score

from aecourse.models.sparse_autoencoder import (
    ConstrainedAdam,
    SparseAutoencoder,
    dead_latents,
    firing_rates,
    fvu,
    l0,
    loss_recovered,
    max_cosines,
    normalize_columns,
    recovered_fraction,
    remove_parallel_component,
    replacement_losses,
    sae_loss,
    topk_activation,
    train_sae,
)
from aecourse.models.superposition import random_directions, superposed
from aecourse.ops.losses import reconstruction_loss


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# --- TopK -----------------------------------------------------------------------------------------


def sorted_reference(pre: torch.Tensor, k: int) -> torch.Tensor:
    """Keep the entries at or above each row's k-th largest value (no ties in random data), ReLU'd."""
    kth = pre.sort(dim=1, descending=True).values[:, k - 1 : k]
    return torch.where(
        pre >= kth, pre.clamp_min(0), torch.zeros_like(pre)
    )


@pytest.mark.parametrize("k", [1, 5, 32])
def test_topk_keeps_exactly_k_nonzeros_per_row(k):
    pre = torch.randn(16, 64, generator=gen(k), dtype=torch.float64)
    pre[:, :k] = (
        pre[:, :k].abs() + 0.1
    )  # at least k positive entries per row
    out = topk_activation(pre, k)
    assert ((out != 0).sum(1) == k).all()
    torch.testing.assert_close(out, sorted_reference(pre, k))


def test_topk_takes_the_largest_values_not_magnitudes_and_applies_relu():
    pre = torch.tensor([[-5.0, 1.0, 0.5, -0.1], [-1.0, -2.0, 0.3, -3.0]])
    expected = torch.tensor([[0.0, 1.0, 0.5, 0.0], [0.0, 0.0, 0.3, 0.0]])
    # the second row has one positive entry: its other kept value, -1, becomes 0
    torch.testing.assert_close(topk_activation(pre, 2), expected)


def test_topk_gradient_reaches_only_the_kept_entries():
    pre = torch.tensor([[3.0, -1.0, 2.0, 0.5]], requires_grad=True)
    topk_activation(pre, 2).sum().backward()
    torch.testing.assert_close(pre.grad, torch.tensor([[1.0, 0, 1.0, 0]]))


def test_topk_refuses_bad_k():
    with pytest.raises(
        ValueError, match="k must be an integer from 1 to 4"
    ):
        topk_activation(torch.zeros(2, 4), 5)


# --- the decoder constraint -----------------------------------------------------------------------


def test_normalize_columns_gives_unit_columns_in_the_same_directions():
    W = torch.tensor([[3.0, 0.0, 1.0], [4.0, -2.0, 1.0]])
    expected = torch.tensor([[0.6, 0.0, 2**-0.5], [0.8, -1.0, 2**-0.5]])
    torch.testing.assert_close(normalize_columns(W), expected)


def test_the_parallel_component_is_removed_by_hand_and_in_general():
    W = torch.tensor([[2.0, 0.0], [0.0, -1.0]])
    grad = torch.tensor([[3.0, 1.0], [4.0, 5.0]])
    # column 0 points along x: its gradient keeps only (0, 4); column 1 along y: (1, 0)
    torch.testing.assert_close(
        remove_parallel_component(grad, W),
        torch.tensor([[0.0, 1.0], [4.0, 0.0]]),
    )
    W = torch.randn(10, 7, generator=gen(1), dtype=torch.float64)
    grad = torch.randn(10, 7, generator=gen(2), dtype=torch.float64)
    kept = remove_parallel_component(grad, W)
    unit = normalize_columns(W)
    # orthogonal to each column, and what was removed is parallel to it
    torch.testing.assert_close(
        (kept * unit).sum(0), torch.zeros(7, dtype=torch.float64)
    )
    removed = grad - kept
    torch.testing.assert_close(
        removed, (removed * unit).sum(0, keepdim=True) * unit
    )


def test_constrained_adam_is_adam_on_the_projected_gradient_then_renormalised():
    W0 = normalize_columns(torch.randn(6, 4, generator=gen(3)))
    b0 = torch.randn(4, generator=gen(4))
    grad_W = torch.randn(6, 4, generator=gen(5))
    grad_b = torch.randn(4, generator=gen(6))
    W, b = W0.clone().requires_grad_(), b0.clone().requires_grad_()
    ours = ConstrainedAdam([W, b], [W], lr=0.1)
    W_ref, b_ref = (
        W0.clone().requires_grad_(),
        b0.clone().requires_grad_(),
    )
    reference = torch.optim.Adam([W_ref, b_ref], lr=0.1)
    for _ in range(3):
        W.grad, b.grad = grad_W.clone(), grad_b.clone()
        ours.step()
        W_ref.grad = remove_parallel_component(grad_W, W_ref.detach())
        b_ref.grad = grad_b.clone()
        reference.step()
        with torch.no_grad():
            W_ref.copy_(normalize_columns(W_ref))
    torch.testing.assert_close(W, W_ref)
    torch.testing.assert_close(
        b, b_ref
    )  # an unconstrained parameter: plain Adam
    torch.testing.assert_close(W.detach().norm(dim=0), torch.ones(4))


def test_decoder_columns_have_unit_norm_after_a_training_step():
    torch.manual_seed(0)
    sae = SparseAutoencoder(8, 16)
    before = sae.W_dec.detach().clone()
    x = torch.randn(32, 8, generator=gen(7)) * 3
    train_sae(sae, x, 0.1, epochs=1, batch_size=32, lr=0.1)  # one step
    W = sae.W_dec.detach()
    assert (W - before).abs().max() > 0.01  # it moved
    torch.testing.assert_close(W.norm(dim=0), torch.ones(16))


# --- the model ------------------------------------------------------------------------------------


def test_the_model_by_hand_with_the_pre_encoder_bias():
    sae = SparseAutoencoder(2, 3)
    with torch.no_grad():
        sae.W_enc.copy_(
            torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
        )
        sae.b_enc.copy_(torch.tensor([0.0, -1.0, 0.0]))
        sae.W_dec.copy_(torch.tensor([[1.0, 0.0, 0.6], [0.0, 1.0, 0.8]]))
        sae.b_pre.copy_(torch.tensor([1.0, 1.0]))
    x = torch.tensor([[3.0, 1.0]])
    # x − b_pre = (2, 0); pre = (2, −1, 2); f = ReLU(pre)
    f = sae.encode(x)
    torch.testing.assert_close(f, torch.tensor([[2.0, 0.0, 2.0]]))
    # x̂ = W_dec f + b_pre = (2 + 1.2, 1.6) + (1, 1)
    torch.testing.assert_close(sae(x), torch.tensor([[4.2, 2.6]]))
    topk = SparseAutoencoder(2, 3, k=1)
    topk.load_state_dict(sae.state_dict())
    torch.testing.assert_close(
        topk.encode(x), torch.tensor([[2.0, 0.0, 0.0]])
    )


def test_the_initial_model_reads_along_what_it_writes():
    sae = SparseAutoencoder(5, 12, k=3)
    torch.testing.assert_close(
        sae.W_dec.detach().norm(dim=0), torch.ones(12)
    )
    torch.testing.assert_close(sae.W_enc, sae.W_dec.T)
    with pytest.raises(
        ValueError, match="k must be an integer from 1 to 12"
    ):
        SparseAutoencoder(5, 12, k=13)
    with pytest.raises(ValueError, match=r"shape \(N, 5\)"):
        sae(torch.zeros(2, 4))
    x = torch.randn(10, 5, generator=gen(8))
    sae.init_pre_bias(x)
    torch.testing.assert_close(sae.b_pre.detach(), x.mean(0))


def test_the_loss_is_reconstruction_plus_l1_and_names_its_parts():
    sae = SparseAutoencoder(4, 6)
    x = torch.randn(5, 4, generator=gen(9))
    values = sae_loss(0.5)(sae, (x,))
    f = sae.encode(x)
    mse = reconstruction_loss(sae.decode(f), x)
    l1 = f.abs().sum(1).mean()
    torch.testing.assert_close(values["loss"], mse + 0.5 * l1)
    torch.testing.assert_close(values["l1"], l1)
    assert values["l0"].item() == pytest.approx((f > 0).sum().item() / 5)
    with pytest.raises(ValueError, match="l1_coefficient"):
        sae_loss(-1.0)


# --- scores ---------------------------------------------------------------------------------------


def test_fvu_of_the_identity_is_0_and_of_the_mean_is_1():
    x = torch.randn(50, 7, generator=gen(10))
    assert fvu(x, x) == 0.0
    assert fvu(x, x.mean(0).expand_as(x)) == pytest.approx(1.0)
    assert (
        fvu(x, torch.zeros_like(x)) > 1
    )  # worse than the mean (x is not centred exactly)


def test_fvu_against_scikit_learn():
    x = torch.randn(40, 6, generator=gen(11), dtype=torch.float64) * (
        torch.arange(6) + 1
    )
    x_hat = x + 0.5 * torch.randn(
        40, 6, generator=gen(12), dtype=torch.float64
    )
    # variance-weighted R² = 1 − Σ SSE / Σ SST over the columns
    expected = 1 - r2_score(
        x.numpy(), x_hat.numpy(), multioutput="variance_weighted"
    )
    assert fvu(x, x_hat) == pytest.approx(expected, rel=1e-12)
    with pytest.raises(ValueError, match="no variance"):
        fvu(torch.ones(3, 2), torch.ones(3, 2))


def test_l0_firing_rates_and_dead_latents_by_hand():
    f = torch.tensor(
        [[0.0, 1.0, 0.0, 2.0], [0.0, 0.5, 0.0, 0.0], [0.0, 3.0, 0.1, 0.0]]
    )
    assert l0(f) == pytest.approx(5 / 3)
    torch.testing.assert_close(
        firing_rates(f),
        torch.tensor([0, 1, 1 / 3, 1 / 3], dtype=torch.float64),
    )
    assert dead_latents(f).tolist() == [True, False, False, False]


def test_recovery_on_a_hand_built_dictionary():
    true = torch.eye(3)  # the features are the axes
    learned = torch.tensor(
        [
            [2.0, 1.0, 0.0, 0.0],
            [0.0, 1.0, 0.1, 0.0],
            [0.0, 0.0, 1.0, -1.0],
        ]
    )
    # e1: cos 1 (column 0); e2: at best cos 0.707 (column 1); e3: cos 0.995 (column 2)
    torch.testing.assert_close(
        max_cosines(true, learned),
        torch.tensor([1.0, 2**-0.5, 1 / 1.01**0.5], dtype=torch.float64),
    )
    assert recovered_fraction(true, learned) == pytest.approx(2 / 3)
    assert recovered_fraction(true, learned, threshold=0.7) == 1.0
    # a direction found with the opposite sign counts only where sign does not matter
    flipped = -torch.eye(3)
    assert recovered_fraction(true, flipped) == 0.0
    assert recovered_fraction(true, flipped, absolute=True) == 1.0
    with pytest.raises(ValueError, match="same d"):
        max_cosines(true, torch.ones(4, 2))


def test_loss_recovered_on_hand_values():
    assert loss_recovered(2.0, 2.5, 6.0) == pytest.approx(0.875)
    assert loss_recovered(2.0, 2.0, 6.0) == 1.0  # nothing lost
    assert (
        loss_recovered(2.0, 6.0, 6.0) == 0.0
    )  # as bad as no activations
    assert loss_recovered(2.0, 7.0, 6.0) == pytest.approx(-0.25)  # worse
    assert loss_recovered(
        torch.tensor(1.0), torch.tensor(1.5), torch.tensor(3.0)
    ) == pytest.approx(0.75)
    with pytest.raises(ValueError, match="no gap"):
        loss_recovered(2.0, 2.5, 2.0)


def test_replacement_losses_call_the_loss_on_each_replacement():
    """A 'network' whose loss is a linear read-out's squared error on the activations (B, T, d)."""
    acts = torch.randn(3, 4, 5, generator=gen(13), dtype=torch.float64)
    w = torch.randn(5, generator=gen(14), dtype=torch.float64)
    target = acts @ w + 1.0

    def loss_fn(a):
        return ((a @ w - target) ** 2).mean()

    clean, same, zero = replacement_losses(loss_fn, acts, lambda a: a)
    assert (clean, same) == (1.0, 1.0)
    assert zero == pytest.approx(((target) ** 2).mean().item())
    assert loss_recovered(clean, same, zero) == 1.0
    halved = replacement_losses(loss_fn, acts, lambda a: a / 2)[1]
    assert halved == pytest.approx(
        ((acts @ w / 2 + 1) ** 2).mean().item()
    )
    mean = replacement_losses(loss_fn, acts, lambda a: a, "mean")[2]
    expected = loss_fn(acts.reshape(-1, 5).mean(0).expand_as(acts))
    assert mean == pytest.approx(expected.item())
    with pytest.raises(ValueError, match="ablation"):
        replacement_losses(loss_fn, acts, lambda a: a, "median")


# --- a tiny SAE recovers planted sparse features ------------------------------------------------


@pytest.mark.parametrize(
    "k, l1", [(None, 0.3), (3, 0.0)], ids=["relu-l1", "topk"]
)
def test_a_tiny_sae_recovers_planted_sparse_features(k, l1):
    """32 features in 16 dimensions, each present 10 % of the time: PCA finds none of them (see
    tests/test_dictionary.py); an SAE with 64 latents trained 640 steps finds nearly all."""
    g = gen(0)
    directions = random_directions(16, 32, g)
    x, f = superposed(4096, directions, 0.9, g)
    torch.manual_seed(0)
    sae = SparseAutoencoder(16, 64, k=k)
    history = train_sae(
        sae, x, l1, epochs=20, batch_size=128, lr=1e-2, generator=g
    )
    assert history.train[-1] < history.train[0]
    assert recovered_fraction(directions, sae.W_dec) >= 0.9
    codes = sae.encode(x).detach()
    assert (
        l0(codes) < 8
    )  # sparse: the truth has about 3.2 active features
    assert fvu(x, sae(x).detach()) < 0.2
