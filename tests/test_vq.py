"""aecourse.models.vq: nearest codes against brute force, the straight-through gradient, which parameters each
loss term moves, the EMA update on a hand example, perplexity, dead codes, restarts, k-means against
scikit-learn, and the VQ-VAE's shapes and training."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.stats import entropy
from sklearn.cluster import KMeans
from torch import nn

from aecourse.models.vq import (
    VQVAE,
    VectorQuantizer,
    code_usage,
    dead_codes,
    kmeans,
    lookup,
    nearest_codes,
    perplexity,
    squared_distances,
    straight_through,
    train_vqvae,
    vq_losses,
    vqvae_loss,
)


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def brute_force(vectors: torch.Tensor, codebook: torch.Tensor):
    """The distance from every vector to every code by explicit differences, (M, K), and its argmin."""
    d = ((vectors.unsqueeze(1) - codebook.unsqueeze(0)) ** 2).sum(2)
    return d, d.argmin(1)


# --- nearest codes and lookup ---------------------------------------------------------------------------


def test_nearest_codes_of_vectors_match_a_brute_force_search():
    g = gen(0)
    codebook = torch.randn(17, 5, generator=g, dtype=torch.float64)
    z = torch.randn(300, 5, generator=g, dtype=torch.float64)
    d, expected = brute_force(z, codebook)
    assert torch.allclose(squared_distances(z, codebook), d)
    codes = nearest_codes(z, codebook)
    assert codes.dtype == torch.int64 and codes.shape == (300,)
    assert torch.equal(codes, expected)


def test_nearest_codes_of_a_feature_map_are_per_position():
    g = gen(1)
    codebook = torch.randn(9, 3, generator=g)
    z = torch.randn(4, 3, 5, 6, generator=g)
    codes = nearest_codes(z, codebook)
    assert codes.shape == (4, 5, 6)
    for n in range(4):
        for h in range(5):
            for w in range(6):
                _, best = brute_force(
                    z[n, :, h, w].unsqueeze(0), codebook
                )
                assert codes[n, h, w] == best[0]


def test_a_tie_goes_to_the_lower_index():
    codebook = torch.tensor([[1.0, 0.0], [-1.0, 0.0], [1.0, 0.0]])
    assert nearest_codes(torch.zeros(1, 2), codebook).item() == 0
    assert nearest_codes(torch.tensor([[2.0, 0.0]]), codebook).item() == 0


def test_lookup_puts_the_code_vectors_back_in_the_layout():
    g = gen(2)
    codebook = torch.randn(6, 4, generator=g)
    codes = torch.randint(6, (3, 2, 5), generator=g)
    vectors = lookup(codes, codebook)
    assert vectors.shape == (3, 4, 2, 5)
    for n, h, w in [(0, 0, 0), (2, 1, 4), (1, 0, 3)]:
        assert torch.equal(vectors[n, :, h, w], codebook[codes[n, h, w]])
    flat = torch.tensor([5, 0, 5])
    assert torch.equal(lookup(flat, codebook), codebook[flat])
    # the round trip: the codes of the looked-up vectors are the codes themselves (distinct codebook)
    assert torch.equal(nearest_codes(vectors, codebook), codes)


def test_bad_shapes_and_codes_are_refused():
    codebook = torch.randn(4, 3)
    with pytest.raises(ValueError, match=r"D = 3 on axis 1"):
        nearest_codes(torch.randn(2, 5), codebook)
    with pytest.raises(ValueError, match=r"D = 3 on axis 1"):
        nearest_codes(torch.randn(2, 3, 4), codebook)
    with pytest.raises(
        ValueError, match=r"codebook must be a float tensor \(K, D\)"
    ):
        nearest_codes(torch.randn(2, 3), torch.randn(3))
    with pytest.raises(ValueError, match=r"codes must lie in 0 \.\. 3"):
        lookup(torch.tensor([0, 4]), codebook)
    with pytest.raises(ValueError, match="integer code indices"):
        lookup(torch.tensor([0.0, 1.0]), codebook)
    with pytest.raises(ValueError, match="same shape"):
        vq_losses(torch.randn(2, 3), torch.randn(2, 4))
    with pytest.raises(ValueError, match="beta must be a number"):
        vq_losses(torch.randn(2, 3), torch.randn(2, 3), beta=-1)
    with pytest.raises(
        ValueError, match="num_codes must be an integer >= 1"
    ):
        VectorQuantizer(0, 3)
    with pytest.raises(
        ValueError, match=r"decay must be a number in \[0, 1\]"
    ):
        VectorQuantizer(4, 3, ema=True, decay=1.5)
    with pytest.raises(ValueError, match="'unpool' decoder"):
        VQVAE(decoder="unpool")


# --- the straight-through gradient and the two loss terms ------------------------------------------------


def test_straight_through_has_the_value_of_z_q_and_the_gradient_of_the_identity():
    g = gen(3)
    z_e = torch.randn(4, 3, generator=g, requires_grad=True)
    z_q = torch.randn(4, 3, generator=g, requires_grad=True)
    out = straight_through(z_e, z_q)
    assert torch.allclose(out, z_q)
    w = torch.randn(4, 3, generator=g)
    d_ze, d_zq = torch.autograd.grad(
        (out * w).sum(), (z_e, z_q), allow_unused=True
    )
    assert torch.equal(d_ze, w)
    assert d_zq is None or torch.equal(d_zq, torch.zeros_like(d_zq))


def test_the_decoders_gradient_reaches_the_encoder_unchanged():
    """Through a whole encoder -> quantizer -> decoder: ∂L/∂z_e equals ∂L/∂(quantized output)."""
    torch.manual_seed(4)
    encoder = nn.Conv2d(2, 3, 1)
    quantizer = VectorQuantizer(5, 3)
    quantizer.load_codebook(torch.randn(5, 3))
    decoder = nn.Conv2d(3, 2, 3, padding=1)
    x = torch.randn(2, 2, 4, 4)
    z_e = encoder(x)
    z_e.retain_grad()
    q = quantizer(z_e)
    q.quantized.retain_grad()
    loss = ((decoder(q.quantized) - x) ** 2).sum()
    loss.backward()
    assert torch.equal(z_e.grad, q.quantized.grad)
    assert z_e.grad.abs().sum() > 0
    # the forward value is the codebook's
    assert torch.allclose(
        q.quantized, lookup(q.codes, quantizer.codebook.detach())
    )
    # the reconstruction loss alone gives the codebook no gradient: only its own term does
    assert quantizer.codebook.grad is None


def test_the_codebook_term_moves_only_the_codebook_and_the_commitment_term_only_the_encoder():
    torch.manual_seed(5)
    encoder = nn.Linear(4, 3)
    quantizer = VectorQuantizer(6, 3, beta=0.25)
    quantizer.load_codebook(torch.randn(6, 3))
    x = torch.randn(10, 4)

    def grads(term: str):
        encoder.zero_grad()
        quantizer.zero_grad()
        getattr(quantizer(encoder(x)), term).backward()
        return encoder.weight.grad, quantizer.codebook.grad

    enc, book = grads("codebook_loss")
    assert enc is None or torch.equal(enc, torch.zeros_like(enc))
    assert book.abs().sum() > 0
    enc, book = grads("commitment_loss")
    assert enc.abs().sum() > 0
    assert book is None or torch.equal(book, torch.zeros_like(book))


def test_loss_terms_by_hand():
    # two images of two positions each (N = 2, D = 2): per image sums, averaged over the images
    z_e = torch.tensor([[1.0, 0.0], [0.0, 2.0], [3.0, 3.0], [0.0, 0.0]])
    codebook = torch.tensor([[0.0, 0.0], [2.0, 2.0]], requires_grad=True)
    # (N=2, D=2, H=2, W=1)
    z_e = z_e.reshape(2, 2, 2).permute(0, 2, 1).unsqueeze(-1)
    codes = nearest_codes(z_e, codebook.detach())
    # [1,0] -> 0 (1 vs 5), [0,2] -> 0 (4 vs 4: the lower index), [3,3] -> 1, [0,0] -> 0
    assert codes.flatten().tolist() == [0, 0, 1, 0]
    codebook_term, commitment = vq_losses(
        z_e, lookup(codes, codebook), beta=0.5
    )
    # image 1: 1 + 4 = 5; image 2: (1 + 1) + 0 = 2; mean 3.5
    assert codebook_term.item() == pytest.approx(3.5)
    assert commitment.item() == pytest.approx(0.5 * 3.5)
    codebook_term.backward()
    # ∂/∂e_k of (1/N) Σ_{positions of k} ‖z − e_k‖² = (2/N) Σ (e_k − z), N = 2:
    # code 0 holds [1, 0], [0, 2], [0, 0] -> [-1, -2]; code 1 holds [3, 3] -> [-1, -1]
    expected = torch.tensor([[-1.0, -2.0], [-1.0, -1.0]])
    assert torch.allclose(codebook.grad, expected)


# --- the EMA codebook --------------------------------------------------------------------------------------


def ema_example(epsilon: float) -> VectorQuantizer:
    q = VectorQuantizer(3, 2, ema=True, decay=0.5, epsilon=epsilon)
    q.load_codebook(torch.tensor([[0.0, 0.0], [0.0, 2.0], [5.0, 5.0]]))
    vectors = torch.tensor([[1.0, 0.0], [3.0, 0.0], [0.0, 4.0]])
    q.ema_update(vectors, torch.tensor([0, 0, 1]))
    return q


def test_the_ema_update_by_hand():
    # start: N = (1, 1, 1), m = e. Counts n = (2, 1, 0), sums s = ([4, 0], [0, 4], [0, 0]).
    # N = ½·1 + ½·n = (1.5, 1, 0.5); m = ½·e + ½·s = ([2, 0], [0, 3], [2.5, 2.5]); ΣN = 3.
    # ε = 0.5: Ñ = (N + ε)/(ΣN + 3ε)·ΣN = (N + 0.5)·2/3 = (4/3, 1, 2/3); e = m / Ñ.
    q = ema_example(epsilon=0.5)
    assert torch.allclose(q.cluster_size, torch.tensor([1.5, 1.0, 0.5]))
    assert torch.allclose(
        q.code_sum, torch.tensor([[2.0, 0.0], [0.0, 3.0], [2.5, 2.5]])
    )
    assert torch.allclose(
        q.codebook, torch.tensor([[1.5, 0.0], [0.0, 3.0], [3.75, 3.75]])
    )
    # ε → 0: no smoothing, e = m / N
    q = ema_example(epsilon=1e-12)
    assert torch.allclose(
        q.codebook, torch.tensor([[4 / 3, 0.0], [0.0, 3.0], [5.0, 5.0]])
    )


def test_the_ema_codebook_moves_in_training_forward_passes_only():
    torch.manual_seed(6)
    q = VectorQuantizer(4, 2, ema=True, decay=0.9)
    assert not q.codebook.requires_grad and "codebook" not in dict(
        q.named_parameters()
    )
    z = torch.randn(32, 2)
    q.eval()
    before = q.codebook.clone()
    q(z)
    assert torch.equal(q.codebook, before) and q.usage.sum() == 0
    q.train()
    out = q(z)
    assert not torch.equal(q.codebook, before)
    assert q.usage.sum() == 32
    # the codebook term carries no gradient in the EMA variant; the commitment term still does
    assert not out.codebook_loss.requires_grad
    z.requires_grad_()
    assert q(z).commitment_loss.requires_grad


def test_ema_update_is_refused_without_ema():
    with pytest.raises(ValueError, match="ema=True"):
        VectorQuantizer(3, 2).ema_update(
            torch.zeros(1, 2), torch.tensor([0])
        )


# --- usage, perplexity, dead codes, restarts -----------------------------------------------------------


def test_perplexity_is_k_for_uniform_use_and_1_for_a_single_code():
    assert perplexity(
        torch.arange(8).repeat(5), 8
    ).item() == pytest.approx(8)
    assert perplexity(torch.full((20,), 3), 8).item() == pytest.approx(1)
    # two codes used half the time each, among 16: 2
    assert perplexity(
        torch.tensor([[0, 9], [9, 0]]), 16
    ).item() == pytest.approx(2)


def test_perplexity_against_scipy():
    g = gen(7)
    # uneven use, code 7..9 unused
    codes = torch.randint(0, 10, (500,), generator=g) % 7
    counts = code_usage(codes, 10)
    assert (
        counts.tolist()
        == np.bincount(codes.numpy(), minlength=10).tolist()
    )
    # scipy normalises and uses ln
    expected = math.exp(entropy(counts.numpy()))
    assert perplexity(codes, 10).item() == pytest.approx(
        expected, rel=1e-12
    )
    # 2 to the entropy in bits is the same number
    assert perplexity(codes, 10).item() == pytest.approx(
        2 ** entropy(counts.numpy(), base=2), rel=1e-12
    )


def test_dead_codes():
    codes = torch.tensor([0, 0, 2, 2, 2, 5])
    assert dead_codes(codes, 6).tolist() == [
        False,
        True,
        False,
        True,
        True,
        False,
    ]
    assert dead_codes(codes, 6, min_count=2).tolist() == [
        False,
        True,
        False,
        True,
        True,
        True,
    ]
    with pytest.raises(ValueError, match=r"codes must lie in 0 \.\. 4"):
        dead_codes(codes, 5)


@pytest.mark.parametrize("ema", [False, True])
def test_restarting_replaces_only_the_dead_codes(ema):
    torch.manual_seed(8)
    q = VectorQuantizer(6, 2, ema=ema)
    q.load_codebook(
        torch.tensor(
            [[0.0, 0], [50, 50], [10, 0], [60, 60], [70, 70], [0, 10]]
        )
    )
    # 160 vectors (40 images of 2 × 2 positions), each near code 0, 2 or 5
    live = torch.tensor([[0.0, 0], [10, 0], [0, 10]])
    near = live[torch.arange(160) % 3] + torch.randn(160, 2)
    z = near.reshape(40, 2, 2, 2).permute(0, 3, 1, 2)
    codes = nearest_codes(z, q.codebook)
    dead = dead_codes(codes, 6)
    assert dead.tolist() == [False, True, False, True, True, False]
    before = q.codebook.detach().clone()
    restarted = q.restart_dead_codes(z, dead, generator=gen(0))
    assert restarted.tolist() == [1, 3, 4]
    after = q.codebook.detach()
    assert torch.equal(after[~dead], before[~dead])
    vectors = z.permute(0, 2, 3, 1).reshape(-1, 2)
    for k in restarted:
        assert (vectors == after[k]).all(1).any(), (
            "a restarted code sits on an encoder output"
        )
    # distinct outputs
    assert len({tuple(after[k].tolist()) for k in restarted}) == 3
    if ema:
        assert q.cluster_size[restarted].tolist() == [1.0, 1.0, 1.0]
        assert torch.equal(q.code_sum[restarted], after[restarted])
    # the same generator state, the same restart
    q2 = VectorQuantizer(6, 2, ema=ema)
    q2.load_codebook(before)
    q2.restart_dead_codes(z, dead, generator=gen(0))
    assert torch.equal(q2.codebook.detach(), after)


def test_restart_every_restarts_the_codes_unused_since_the_last_restart():
    q = VectorQuantizer(4, 2, restart_every=3, generator=gen(1))
    q.load_codebook(
        torch.tensor([[0.0, 0.0], [9.0, 9.0], [-9.0, 9.0], [9.0, -9.0]])
    )
    z = torch.randn(8, 2, generator=gen(2)) * 0.1  # all nearest to code 0
    q.train()
    q(z)
    q(z)
    assert q.usage.tolist() == [16, 0, 0, 0]
    before = q.codebook.detach().clone()
    # third pass: codes 1..3 restart onto rows of z before quantizing
    out = q(z)
    moved = (q.codebook.detach() != before).any(1)
    assert moved.tolist() == [False, True, True, True]
    assert perplexity(out.codes, 4).item() > 1
    assert q.usage.sum() == 8  # counted afresh after the restart


# --- k-means -----------------------------------------------------------------------------------------------


def test_kmeans_matches_scikit_learns_lloyd_from_the_same_start():
    g = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0], [4.0, 0.0], [0.0, 4.0], [4.0, 4.0]])
    x = np.concatenate([c + g.normal(size=(50, 2)) for c in centres])
    vectors = torch.from_numpy(x)
    ours = kmeans(vectors, 4, iterations=50, generator=gen(3))
    # the documented start: the first k rows of a random permutation drawn with the generator
    start = vectors[
        torch.randperm(len(vectors), generator=gen(3))[:4]
    ].numpy()
    sk = KMeans(
        4, init=start, n_init=1, max_iter=50, tol=0, algorithm="lloyd"
    ).fit(x)
    assert np.allclose(ours.numpy(), sk.cluster_centers_, atol=1e-10)


def test_kmeans_init_starts_every_code_among_the_encoder_outputs():
    torch.manual_seed(9)
    model = VQVAE(num_codes=8, code_dim=2, channels=(2, 4))
    x = torch.rand(6, 1, 28, 28)
    # the default codebook is tiny next to a fresh encoder's outputs: one code takes every position
    assert perplexity(model.codes(x), 8).item() < 2
    centres = model.kmeans_init(x, generator=gen(0))
    assert torch.equal(model.quantizer.codebook.detach(), centres)
    assert not dead_codes(model.codes(x), 8).any()
    assert perplexity(model.codes(x), 8).item() > 4


# --- the VQ-VAE --------------------------------------------------------------------------------------------


def test_vqvae_shapes_rate_and_decoding_its_codes():
    torch.manual_seed(10)
    model = VQVAE(
        num_codes=32, code_dim=3, channels=(4, 8), decoder="resize"
    )
    x = torch.rand(5, 1, 28, 28)
    model.eval()
    out = model(x)
    assert out.reconstruction.shape == x.shape
    assert out.codes.shape == (5, 7, 7) and out.codes.dtype == torch.int64
    assert out.codebook_loss.shape == out.commitment_loss.shape == ()
    assert model.bits_per_image == 49 * 5
    assert torch.equal(model.codes(x), out.codes)
    assert torch.allclose(
        model.decode_codes(out.codes), out.reconstruction
    )
    with pytest.raises(ValueError, match=r"grid \(N, 7, 7\)"):
        model.decode_codes(torch.zeros(5, 6, 6, dtype=torch.long))


@pytest.mark.parametrize("ema", [False, True])
def test_a_few_dozen_steps_lower_the_loss(ema):
    torch.manual_seed(11)
    grid = torch.arange(28.0)
    centres = torch.randint(6, 22, (64, 2), generator=gen(4)).float()
    x = torch.exp(
        -(
            (grid.view(1, 28, 1) - centres[:, 0].view(-1, 1, 1)) ** 2
            + (grid.view(1, 1, 28) - centres[:, 1].view(-1, 1, 1)) ** 2
        )
        / 18
    ).unsqueeze(1)
    model = VQVAE(num_codes=16, code_dim=4, channels=(4, 8), ema=ema)
    model.kmeans_init(x, generator=gen(5))
    before = vqvae_loss(model.eval(), x)
    history = train_vqvae(
        model,
        x,
        epochs=4,
        batch_size=8,
        lr=3e-3,
        generator=gen(6),
        progress=False,
    )
    after = vqvae_loss(model.eval(), x)
    assert after["reconstruction"] < 0.7 * before["reconstruction"]
    assert set(history.metrics) == {
        "reconstruction",
        "codebook",
        "commitment",
        "perplexity",
    }
    # the loss is the sum of its parts (epoch means of each)
    parts = sum(
        history.metrics[k][-1]
        for k in ("reconstruction", "codebook", "commitment")
    )
    assert history.train[-1] == pytest.approx(parts, rel=1e-5)
    assert 1 <= history.metrics["perplexity"][-1] <= 16
    with pytest.raises(ValueError, match="Unknown loss kind"):
        train_vqvae(model, x, loss="l1", progress=False)
