"""aecourse.models.vae: the ELBO's terms against torch.distributions and Monte Carlo, the IWAE bound against an exact
log-likelihood (a 1-D code, integrated on a grid), and a short training run on MNIST.

Statistical checks use tolerances of a few standard errors of their own estimates, never hard-coded numbers.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import Bernoulli, Normal, kl_divergence

from aecourse.data.images import load_images
from aecourse.models import vae
from aecourse.models.autoencoder import Autoencoder
from aecourse.models.vae import (
    VAE,
    ConditionalVAE,
    bernoulli_log_likelihood,
    binarize,
    codes_of,
    decode_images,
    elbo,
    gaussian_kl,
    gaussian_like,
    hole_fraction,
    in_hole,
    interpolate,
    iwae_bound,
    latent_grid,
    log_importance_weights,
    manifold_grid,
    negative_elbo,
    reparameterize,
    train_vae,
)

TIGHT = dict(rtol=1e-10, atol=1e-10)
REAL_MNIST_LABELS = [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def gaussian(n: int = 5, k: int = 4, seed: int = 0):
    """Float64 mu, logvar (n, k) with log-variances spread over [-3, 3]."""
    g = gen(seed)
    return torch.randn(n, k, generator=g, dtype=torch.float64), 3 * (
        2 * torch.rand(n, k, generator=g, dtype=torch.float64) - 1
    )


def binary(n: int, d: int, seed: int) -> torch.Tensor:
    return binarize(
        torch.rand(n, d, generator=gen(seed), dtype=torch.float64),
        generator=gen(seed + 1),
    )


@pytest.fixture
def code_1d():
    """A float64 VAE with a 1-D code whose decoder depends strongly on z, and three binary inputs.

    With one code unit, log p(x) = log ∫ p(x|z) N(z; 0, 1) dz is computed exactly (to quadrature error).
    q(z|x) is pushed off the posterior (its mean up by 1.5) and made wider (log σ² up by 1): a poor proposal,
    so the bound gains visibly from more samples, but wider than the posterior, so the weights stay tame."""
    torch.manual_seed(1)
    model = VAE([6, 5, 1], activation="tanh").double()
    with torch.no_grad():
        model.decoder.layers[0].weight.mul_(4)  # a sharp likelihood
        # (μ, log σ²)
        model.encoder.layers[-1].bias.add_(
            torch.tensor([1.5, 1.0], dtype=torch.float64)
        )
    x = torch.tensor(
        [[1, 0, 1, 1, 0, 0], [0, 0, 0, 1, 1, 1], [1, 1, 1, 1, 1, 0]],
        dtype=torch.float64,
    )
    return model, x


@torch.no_grad()
def exact_log_likelihood(model, x) -> torch.Tensor:
    """log p(x) for a VAE with a 1-D code by the rectangle rule on [-12, 12]: (N,)."""
    z = torch.linspace(-12, 12, 48001, dtype=torch.float64)[:, None]
    log_px_z = torch.stack(
        [
            bernoulli_log_likelihood(
                model.decode(z), xi.expand(len(z), -1)
            )
            for xi in x
        ],
        1,
    )
    log_prior = Normal(0.0, 1.0).log_prob(z)  # (M, 1)
    return torch.logsumexp(log_px_z + log_prior, 0) + math.log(
        z[1, 0] - z[0, 0]
    )


# --- KL, likelihood, reparameterization, binarization -------------------------------------------


def test_gaussian_kl_matches_torch_distributions():
    mu, logvar = gaussian()
    expected = kl_divergence(
        Normal(mu, torch.exp(0.5 * logvar)), Normal(0.0, 1.0)
    ).sum(1)
    torch.testing.assert_close(gaussian_kl(mu, logvar), expected, **TIGHT)
    assert gaussian_kl(mu, logvar).shape == (5,)


def test_gaussian_kl_matches_a_monte_carlo_estimate():
    mu, logvar = gaussian(n=3, k=4, seed=1)
    m = 200_000
    z = reparameterize(mu.expand(m, 3, 4), logvar.expand(m, 3, 4), gen(2))
    # KL = E_q[log q(z) − log p(z)], averaged over m samples: each example within 5 standard errors.
    log_ratio = (
        Normal(mu, torch.exp(0.5 * logvar)).log_prob(z)
        - Normal(0.0, 1.0).log_prob(z)
    ).sum(-1)
    estimate, standard_error = (
        log_ratio.mean(0),
        log_ratio.std(0) / math.sqrt(m),
    )
    assert (
        (estimate - gaussian_kl(mu, logvar)).abs() < 5 * standard_error
    ).all()


def test_gaussian_kl_is_zero_only_at_the_prior():
    zeros = torch.zeros(2, 3)
    assert torch.equal(gaussian_kl(zeros, zeros), torch.zeros(2))
    mu, logvar = gaussian()
    assert (gaussian_kl(mu, logvar) > 0).all()
    assert gaussian_kl(
        torch.tensor([[0.0, 2.0]]), zeros[:1, :2]
    ).item() == pytest.approx(2.0)  # ½ μ²


def test_bernoulli_log_likelihood_matches_torch_distributions():
    logits = 5 * torch.randn(4, 9, generator=gen(3), dtype=torch.float64)
    # sigmoid rounds to 1 and 0 here; the logits keep it exact
    logits[0, :2] = torch.tensor([60.0, -60.0])
    x = binary(4, 9, seed=4).reshape(4, 1, 3, 3)
    x[0, 0, 0, :2] = torch.tensor([0.0, 1.0])
    expected = Bernoulli(logits=logits).log_prob(x.flatten(1)).sum(1)
    got = bernoulli_log_likelihood(logits, x)
    torch.testing.assert_close(got, expected, **TIGHT)
    # two pixels each 60 nats off, not clipped to a finite probability
    assert got[0].item() < -119


def test_reparameterize_is_a_sample_of_q_and_gradients_reach_mu_and_logvar():
    mu = (
        torch.tensor([[2.0, -1.0, 0.0]], dtype=torch.float64)
        .repeat(20_000, 1)
        .requires_grad_()
    )
    logvar = (
        torch.tensor([[-2.0, 0.0, 1.5]], dtype=torch.float64)
        .repeat(20_000, 1)
        .requires_grad_()
    )
    z = reparameterize(mu, logvar, gen(5))
    z.sum().backward()
    eps = ((z - mu) / torch.exp(0.5 * logvar)).detach()
    assert (eps.mean(0).abs() < 5 / math.sqrt(20_000)).all()
    assert ((eps.std(0) - 1).abs() < 5 / math.sqrt(2 * 20_000)).all()
    torch.testing.assert_close(mu.grad, torch.ones_like(mu))
    # ∂z/∂log σ² = ½ σ ε
    torch.testing.assert_close(
        logvar.grad, 0.5 * (z - mu).detach(), **TIGHT
    )


def test_reparameterize_repeats_with_a_generator_and_keeps_shape_and_dtype():
    mu, logvar = torch.zeros(2, 5, 3), torch.zeros(2, 5, 3)
    z = reparameterize(mu, logvar, gen(6))
    assert z.shape == (2, 5, 3) and z.dtype == torch.float32
    assert torch.equal(z, reparameterize(mu, logvar, gen(6)))
    assert not torch.equal(z, reparameterize(mu, logvar, gen(7)))
    with pytest.raises(
        ValueError, match=r"same shape, got \(2, 5, 3\) and \(2, 5\)"
    ):
        reparameterize(mu, logvar[..., 0])


def test_binarize_draws_pixels_with_their_intensity():
    p = torch.tensor([0.0, 0.1, 0.5, 0.93, 1.0], dtype=torch.float64)
    x = p.repeat(40_000, 1)
    b = binarize(x, gen(8))
    assert (
        set(b.unique().tolist()) <= {0.0, 1.0}
        and b.shape == x.shape
        and b.dtype == x.dtype
    )
    assert torch.equal(
        b[:, 0], torch.zeros(40_000, dtype=torch.float64)
    ) and torch.equal(b[:, 4], torch.ones(40_000, dtype=torch.float64))
    # 5 binomial standard errors
    tolerance = 5 * torch.sqrt(p * (1 - p) / len(x)) + 1e-12
    assert ((b.mean(0) - p).abs() <= tolerance).all()
    assert torch.equal(b, binarize(x, gen(8)))
    # a new draw: dynamic binarization
    assert not torch.equal(b, binarize(x, gen(9)))


@pytest.mark.parametrize(
    "x",
    [
        torch.tensor([[0.5, 1.2]]),
        torch.tensor([[-0.1, 0.3]]),
        torch.ones(2, 2, dtype=torch.int64),
    ],
)
def test_binarize_refuses_what_is_not_an_intensity(x):
    with pytest.raises(
        ValueError, match=r"floating-point tensor with values in \[0, 1\]"
    ):
        binarize(x)


# --- the models ----------------------------------------------------------------------------------


def test_vae_layers_and_shapes():
    model = VAE([12, 8, 3])
    assert [
        m.out_features
        for m in model.encoder.layers
        if hasattr(m, "out_features")
    ] == [8, 6]  # μ and log σ²
    assert [
        m.out_features
        for m in model.decoder.layers
        if hasattr(m, "out_features")
    ] == [8, 12]
    # the decoder gives logits
    assert not isinstance(model.decoder.layers[-1], torch.nn.Sigmoid)
    x = binary(5, 12, seed=10).float().reshape(5, 1, 3, 4)
    mu, logvar = model.encode(x)
    assert mu.shape == logvar.shape == (5, 3)
    assert model.decode(mu).shape == (5, 12)
    torch.testing.assert_close(
        model(x), torch.sigmoid(model.decode(mu)).reshape(5, 1, 3, 4)
    )
    samples = model.sample(7, generator=gen(11))
    assert (
        samples.shape == (7, 12)
        and 0 <= samples.min()
        and samples.max() <= 1
    )
    assert torch.equal(samples, model.sample(7, generator=gen(11)))
    assert model.code_size == 3 and model.input_size == 12


def test_conditional_vae_sees_the_label_in_both_halves():
    model = ConditionalVAE([12, 8, 2], n_classes=4)
    assert (
        model.encoder.sizes[0] == 12 + 4
        and model.decoder.sizes[0] == 2 + 4
    )
    x, y = binary(4, 12, seed=12).float(), torch.tensor([0, 3, 1, 3])
    mu, logvar = model.encode(x, y)
    assert mu.shape == (4, 2)
    assert not torch.equal(
        mu, model.encode(x, torch.tensor([1, 1, 1, 1]))[0]
    )
    z = torch.zeros(3, 2)
    # one int for all
    torch.testing.assert_close(
        model.decode(z, 2), model.decode(z, torch.tensor([2, 2, 2]))
    )
    assert not torch.allclose(model.decode(z, 0), model.decode(z, 1))
    assert model.sample(5, y=3, generator=gen(13)).shape == (5, 12)


@pytest.mark.parametrize(
    "make, call, message",
    [
        (lambda: VAE([784]), None, "at least two positive integers"),
        (
            lambda: VAE([4, 2], n_classes=-1),
            None,
            "n_classes must be an integer >= 0, got -1",
        ),
        (
            lambda: ConditionalVAE([4, 2], n_classes=0),
            None,
            "n_classes must be an integer >= 1, got 0",
        ),
        (
            lambda: VAE([4, 2]),
            lambda m: m.encode(torch.zeros(3, 5)),
            r"4 values per example, got \(3, 5\)",
        ),
        (
            lambda: VAE([4, 2]),
            lambda m: m.decode(torch.zeros(3, 3)),
            r"codes \(N, 2\), got \(3, 3\)",
        ),
        (
            lambda: VAE([4, 2]),
            lambda m: m.encode(
                torch.zeros(3, 4), torch.zeros(3, dtype=torch.long)
            ),
            "not conditional",
        ),
        (
            lambda: VAE([4, 2]),
            lambda m: m.sample(0),
            "positive number of images",
        ),
        (
            lambda: ConditionalVAE([4, 2], 3),
            lambda m: m.encode(torch.zeros(2, 4)),
            r"needs labels y: one int or 2 ints, each in 0..2",
        ),
        (
            lambda: ConditionalVAE([4, 2], 3),
            lambda m: m.decode(torch.zeros(2, 2), 3),
            "each in 0..2",
        ),
        (
            lambda: ConditionalVAE([4, 2], 3),
            lambda m: m.decode(
                torch.zeros(2, 2), torch.tensor([0, 1, 2])
            ),
            "one int or 2 ints",
        ),
        (
            lambda: ConditionalVAE([4, 2], 3),
            lambda m: m.decode(
                torch.zeros(2, 2), torch.tensor([0.0, 1.0])
            ),
            "one int or 2 ints",
        ),
    ],
)
def test_models_refuse_bad_input(make, call, message):
    with pytest.raises(ValueError, match=message):
        call(make()) if call else make()


# --- ELBO and IWAE -------------------------------------------------------------------------------


def test_elbo_terms_are_the_likelihood_of_a_reparameterized_sample_and_the_closed_form_kl():
    torch.manual_seed(14)
    model = VAE([10, 6, 3]).double()
    x = binary(8, 10, seed=15)
    terms = elbo(model, x, beta=0.25, generator=gen(16))
    mu, logvar = model.encode(x)
    z = reparameterize(mu, logvar, gen(16))
    torch.testing.assert_close(
        terms.log_likelihood,
        bernoulli_log_likelihood(model.decode(z), x),
        **TIGHT,
    )
    torch.testing.assert_close(terms.kl, gaussian_kl(mu, logvar), **TIGHT)
    torch.testing.assert_close(
        terms.value, terms.log_likelihood - 0.25 * terms.kl, **TIGHT
    )
    assert terms.value.shape == (8,) and (terms.log_likelihood < 0).all()
    (-terms.value.mean()).backward()
    assert all(
        p.grad is not None and p.grad.abs().sum() > 0
        for p in model.parameters()
    )
    with pytest.raises(
        ValueError, match="beta weighs the KL term and must be >= 0"
    ):
        elbo(model, x, beta=-1)


@pytest.mark.parametrize("conditional", [False, True])
def test_log_importance_weights_by_hand(conditional):
    torch.manual_seed(17)
    model = (
        ConditionalVAE([10, 6, 3], n_classes=4)
        if conditional
        else VAE([10, 6, 3])
    ).double()
    x = binary(4, 10, seed=18)
    y = torch.tensor([3, 0, 2, 1]) if conditional else None
    log_w = log_importance_weights(model, x, 5, y, generator=gen(19))
    mu, logvar = model.encode(x, y)
    z = reparameterize(
        mu.expand(5, 4, 3), logvar.expand(5, 4, 3), gen(19)
    )
    q = Normal(mu, torch.exp(0.5 * logvar))
    # sample i of every image, each with its own label
    logits = torch.stack([model.decode(zi, y) for zi in z])
    expected = (
        Bernoulli(logits=logits).log_prob(x).sum(-1)
        + Normal(0.0, 1.0).log_prob(z).sum(-1)
        - q.log_prob(z).sum(-1)
    )
    assert log_w.shape == (5, 4)
    torch.testing.assert_close(log_w, expected, **TIGHT)


def test_iwae_is_at_least_the_elbo_on_the_same_samples_and_k1_is_one_sample():
    torch.manual_seed(20)
    model = VAE([10, 6, 3]).double()
    x = binary(6, 10, seed=21)
    with torch.no_grad():
        # (k, N)
        log_w = log_importance_weights(model, x, 50, generator=gen(22))
    bound = iwae_bound(model, x, 50, generator=gen(22))
    torch.testing.assert_close(
        bound, torch.logsumexp(log_w, 0) - math.log(50), **TIGHT
    )
    assert (bound >= log_w.mean(0)).all() and (
        bound > log_w.mean(0) + 1e-6
    ).any()  # Jensen, strictly here
    with torch.no_grad():
        # log p(x|z) + log p(z) − log q(z|x)
        one = log_importance_weights(model, x, 1, generator=gen(23))[0]
    torch.testing.assert_close(
        iwae_bound(model, x, 1, generator=gen(23)), one, **TIGHT
    )


def test_the_one_sample_iwae_averages_to_the_elbo(code_1d):
    # E_z[log w] = E_q[log p(x|z)] − KL: the closed-form KL and the sampled one agree on average.
    model, x = code_1d
    repeated = x.repeat(20_000, 1)
    one_sample = iwae_bound(
        model, repeated, 1, generator=gen(23)
    ).reshape(-1, 3)
    with torch.no_grad():
        closed_kl = elbo(
            model, repeated, generator=gen(24)
        ).value.reshape(-1, 3)
    error = torch.sqrt(
        (one_sample.var(0) + closed_kl.var(0)) / len(one_sample)
    )
    assert (
        (one_sample.mean(0) - closed_kl.mean(0)).abs() < 5 * error
    ).all()


def test_iwae_rises_with_k_towards_the_exact_log_likelihood(code_1d):
    model, x = code_1d
    exact = exact_log_likelihood(model, x)
    means, errors = [], []
    for k in (1, 10, 100):
        bounds = iwae_bound(
            model, x.repeat(300, 1), k, generator=gen(25 + k)
        ).reshape(-1, 3)
        means.append(bounds.mean(0))
        errors.append(bounds.std(0) / math.sqrt(len(bounds)))
    for lower, higher, e1, e2 in zip(
        means, means[1:], errors, errors[1:]
    ):
        assert (
            higher - lower > 3 * torch.sqrt(e1**2 + e2**2)
        ).all()  # strictly, far beyond the noise
    assert (
        means[-1] < exact + 3 * errors[-1]
    ).all()  # still a lower bound
    assert (
        exact - means[0] > 1
    ).all()  # q is a poor posterior, so this test can tell k apart


def test_iwae_with_many_samples_is_the_exact_log_likelihood_whatever_the_chunks(
    code_1d,
):
    model, x = code_1d
    exact = exact_log_likelihood(model, x)
    whole = iwae_bound(
        model, x, 20_000, batch_size=100_000, generator=gen(26)
    )
    # 7 chunks per image
    chunked = iwae_bound(
        model, x, 20_000, batch_size=3_000, generator=gen(27)
    )
    assert whole.shape == chunked.shape == (3,)
    torch.testing.assert_close(whole, exact, atol=0.02, rtol=0)
    torch.testing.assert_close(chunked, exact, atol=0.02, rtol=0)


@torch.no_grad()
def test_iwae_chunks_by_hand(code_1d):
    # batch_size 4 with k = 10: one image at a time, its samples in chunks of 4, 4 and 2, joined by logsumexp.
    model, x = code_1d
    g = gen(28)
    by_hand = [
        torch.logsumexp(
            torch.cat(
                [
                    log_importance_weights(
                        model, xi[None], m, generator=g
                    )
                    for m in (4, 4, 2)
                ]
            ),
            0,
        )
        for xi in x
    ]
    expected = torch.cat(by_hand) - math.log(10)
    torch.testing.assert_close(
        iwae_bound(model, x, 10, batch_size=4, generator=gen(28)),
        expected,
        **TIGHT,
    )
    # batch_size 20 with k = 10: two images per chunk (the last chunk has one), all their samples at once.
    g = gen(29)
    log_w = torch.cat(
        [
            log_importance_weights(model, x[:2], 10, generator=g),
            log_importance_weights(model, x[2:], 10, generator=g),
        ],
        1,
    )
    torch.testing.assert_close(
        iwae_bound(model, x, 10, batch_size=20, generator=gen(29)),
        torch.logsumexp(log_w, 0) - math.log(10),
        **TIGHT,
    )


def test_negative_elbo_and_iwae_refuse_grey_images_and_bad_k():
    model = VAE([4, 2])
    grey = torch.full((3, 4), 0.5)
    for fn in (
        lambda: negative_elbo(model, grey),
        lambda: iwae_bound(model, grey, 5),
    ):
        with pytest.raises(
            ValueError,
            match=r"x must hold only 0 and 1, got 0\.5\. .*binarize",
        ):
            fn()
    with pytest.raises(
        ValueError, match="k and batch_size must be at least 1, got k=0"
    ):
        iwae_bound(model, torch.ones(3, 4), 0)


def test_negative_elbo_is_the_mean_over_the_batches():
    torch.manual_seed(29)
    model = VAE([10, 6, 3]).double()
    x = binary(9, 10, seed=30)
    expected = -elbo(model, x, generator=gen(31)).value.mean().item()
    assert negative_elbo(
        model, x, batch_size=100, generator=gen(31)
    ) == pytest.approx(expected, rel=1e-12)
    y = torch.arange(9) % 3
    cvae = ConditionalVAE([10, 6, 3], n_classes=3).double()
    # labels follow their images
    by_batch = negative_elbo(cvae, x, y, batch_size=4, generator=gen(32))
    g = gen(32)
    by_hand = (
        -sum(
            elbo(cvae, x[i : i + 4], y[i : i + 4], generator=g)
            .value.sum()
            .item()
            for i in range(0, 9, 4)
        )
        / 9
    )
    assert by_batch == pytest.approx(by_hand, rel=1e-12)


# --- training ------------------------------------------------------------------------------------


def test_a_few_epochs_on_mnist_lower_the_negative_elbo(
    mnist_root, monkeypatch
):
    root, first_labels = mnist_root
    if first_labels != REAL_MNIST_LABELS:
        pytest.skip(
            "learning digits needs the real MNIST (set AECOURSE_DATA)"
        )
    monkeypatch.setenv("AECOURSE_DATA", str(root))
    data = load_images("mnist", train_size=1000, test_size=500)
    test_x = binarize(data.test_x, gen(33))
    torch.manual_seed(34)
    model = VAE([784, 128, 8])
    before = negative_elbo(model, test_x)
    history = train_vae(
        model,
        data.train_x,
        epochs=5,
        batch_size=50,
        lr=2e-3,
        test=test_x,
        progress=False,
    )
    assert len(history.train) == len(history.test) == 5
    assert history.train[-1] < history.train[0]
    # about 543 nats at the start (784 · log 2), far less after
    assert history.test[-1] < 0.6 * before


def test_train_vae_binarizes_every_batch_afresh_and_keeps_the_data(
    monkeypatch,
):
    seen = []
    real = vae.elbo

    def spy(model, x, y=None, beta=1.0, generator=None):
        seen.append(x.clone())
        return real(model, x, y, beta, generator)

    monkeypatch.setattr(vae, "elbo", spy)
    x = torch.full((200, 1, 4, 4), 0.3)
    history = train_vae(
        VAE([16, 4]), x, epochs=2, batch_size=200, progress=False
    )
    assert (
        torch.equal(x, torch.full((200, 1, 4, 4), 0.3))
        and len(history.train) == 2
        and history.test == []
    )
    first, second = seen
    assert set(first.unique().tolist()) == {0.0, 1.0}
    assert abs(first.mean().item() - 0.3) < 5 * math.sqrt(
        0.3 * 0.7 / first.numel()
    )
    assert not torch.equal(first, second)


def test_train_vae_records_the_beta_objective_and_the_negative_elbo_as_its_terms():
    # With a learning rate of 0 nothing changes: history.train is the −β-ELBO of the fixed model and its two
    # terms, recon + kl, add up to the −ELBO whatever β.
    torch.manual_seed(37)
    model = VAE([16, 8, 2])
    with torch.no_grad():
        model.encoder.layers[-1].bias[:2] += (
            3.0  # μ ≈ 3: a KL of about 9 nats per image
        )
    x = torch.full((2000, 16), 0.4)
    kl = gaussian_kl(*model.encode(x)).mean().item()
    history = train_vae(
        model,
        x,
        epochs=1,
        beta=10.0,
        optimizer=torch.optim.SGD(model.parameters(), lr=0.0),
        progress=False,
    )
    expected = negative_elbo(model, binarize(x, gen(38)))
    recon, kl_seen = history.metrics["recon"][0], history.metrics["kl"][0]
    # the β-objective is 9·kl higher
    assert kl > 5 and abs(recon + kl_seen - expected) < 0.1 * kl
    assert history.train[0] == pytest.approx(
        recon + 10.0 * kl_seen, rel=1e-5
    )


def test_train_a_conditional_vae_with_a_labelled_test_set():
    x, y = torch.rand(64, 10, generator=gen(35)), torch.arange(64) % 4
    model = ConditionalVAE([10, 8, 2], n_classes=4)
    history = train_vae(
        model,
        x,
        y,
        epochs=2,
        batch_size=16,
        test=(binarize(x, gen(36)), y),
        progress=False,
    )
    assert len(history.train) == len(history.test) == 2 and all(
        v > 0 for v in history.test
    )
    assert train_vae(model, x, y, epochs=0, progress=False).train == []
    with pytest.raises(ValueError, match="epochs must be >= 0"):
        train_vae(model, x, y, epochs=-1)


# --- the latent space ----------------------------------------------------------------------------


def test_latent_grid_is_at_evenly_spaced_gaussian_quantiles():
    z = latent_grid(4)
    assert z.shape == (16, 2)
    probabilities = Normal(0.0, 1.0).cdf(z[:4, 0])
    torch.testing.assert_close(
        probabilities, torch.tensor([0.125, 0.375, 0.625, 0.875])
    )
    # z₁ the same down each column
    assert torch.equal(z[:, 0].reshape(4, 4), z[:4, 0].expand(4, 4))
    # z₂ falls, symmetric
    assert (z[::4, 1].diff() < 0).all() and torch.equal(
        z[::4, 1], -z[::4, 1].flip(0)
    )
    assert torch.equal(latent_grid(1), torch.zeros(1, 2))
    with pytest.raises(
        ValueError, match="n must be an integer >= 1, got 0"
    ):
        latent_grid(0)


def test_manifold_grid_decodes_the_latent_grid():
    model = VAE([12, 8, 2])
    z, images = manifold_grid(model, n=3)
    assert torch.equal(z, latent_grid(3)) and images.shape == (9, 12)
    torch.testing.assert_close(
        images, torch.sigmoid(model.decode(z)).detach()
    )
    cvae = ConditionalVAE([12, 8, 2], n_classes=3)
    _, sevens = manifold_grid(cvae, n=2, y=1)
    torch.testing.assert_close(
        sevens, torch.sigmoid(cvae.decode(latent_grid(2), 1)).detach()
    )
    with pytest.raises(
        ValueError, match="needs a VAE with a 2-D code, this one has 3"
    ):
        manifold_grid(VAE([12, 3]))


def test_interpolate_walks_the_straight_line():
    a, b = torch.tensor([0.0, 2.0, -1.0]), torch.tensor([4.0, 2.0, 1.0])
    path = interpolate(a, b, steps=5)
    assert (
        path.shape == (5, 3)
        and torch.equal(path[0], a)
        and torch.equal(path[-1], b)
    )
    torch.testing.assert_close(path[2], (a + b) / 2)
    torch.testing.assert_close(
        path.diff(dim=0), ((b - a) / 4).expand(4, 3)
    )
    with pytest.raises(ValueError, match=r"two codes of shape \(K,\)"):
        interpolate(a, b[:2])
    with pytest.raises(
        ValueError, match="steps must be an integer >= 2, got 1"
    ):
        interpolate(a, b, steps=1)


# --- holes in a code space -----------------------------------------------------------------------


def test_gaussian_like_matches_the_mean_and_covariance_of_the_codes():
    g = gen(40)
    mix = torch.tensor(
        [[2.0, 0.0, 0.0], [1.5, 0.5, 0.0], [0.0, 0.0, 3.0]]
    )
    codes = (
        torch.randn(5000, 3, generator=g, dtype=torch.float64)
        @ mix.double().T
        + torch.tensor([1.0, -2.0, 5.0]).double()
    )
    samples = gaussian_like(codes, 200_000, generator=gen(41))
    assert (
        samples.shape == (200_000, 3) and samples.dtype == torch.float64
    )
    torch.testing.assert_close(
        samples.mean(0), codes.mean(0), atol=0.03, rtol=0
    )
    torch.testing.assert_close(
        torch.cov(samples.T), torch.cov(codes.T), atol=0.06, rtol=0.01
    )
    assert torch.equal(
        gaussian_like(codes, 5, gen(42)), gaussian_like(codes, 5, gen(42))
    )
    with pytest.raises(
        ValueError, match=r"more codes than units, N > K; got \(3, 3\)"
    ):
        gaussian_like(codes[:3], 5)
    with pytest.raises(
        ValueError, match="n must be an integer >= 1, got 0"
    ):
        gaussian_like(codes, 0)


def test_hole_fraction_counts_random_codes_far_from_every_training_code():
    train = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    # nearest distances 0.1, 0.2, 0.1, 0.07
    test = torch.tensor(
        [[0.1, 0.0], [1.0, 0.2], [0.0, 0.9], [0.05, 0.05]]
    )
    # 0.1
    near = torch.quantile(
        torch.tensor([0.1, 0.2, 0.1, math.hypot(0.05, 0.05)]).double(),
        0.5,
    )
    # 0.05, 0.71, 0.15, 3.6
    random = torch.tensor(
        [[0.0, 0.05], [0.5, 0.5], [1.0, 0.15], [3.0, 3.0]]
    )
    assert near.item() == pytest.approx(0.1)
    # farther than 0.1
    assert in_hole(random, train, test, quantile=0.5).tolist() == [
        False,
        True,
        True,
        True,
    ]
    assert hole_fraction(random, train, test, quantile=0.5) == 0.75
    # 'near' is now 0.197: 0.71 and 3.6
    assert hole_fraction(random, train, test, quantile=0.99) == 0.5
    with pytest.raises(ValueError, match=r"quantile must be in \(0, 1\)"):
        hole_fraction(random, train, test, quantile=1.0)
    with pytest.raises(ValueError, match="same K"):
        hole_fraction(random[:, :1], train, test)


def test_codes_drawn_like_the_data_have_about_one_percent_in_holes():
    g = gen(43)
    train, test, like = (
        torch.randn(n, 2, generator=g) for n in (3000, 2000, 2000)
    )
    assert hole_fraction(like, train, test) < 0.03
    # too wide: many land where no training code is
    assert hole_fraction(3 * like, train, test) > 0.3


# --- codes and images of any autoencoder -------------------------------------------------------


def test_codes_of_a_vae_are_draws_for_binarized_images_and_of_an_autoencoder_its_codes():
    torch.manual_seed(44)
    x = torch.rand(6, 1, 3, 4, generator=gen(45))
    model = VAE([12, 8, 3])
    g = gen(46)
    mu, logvar = model.encode(binarize(x, g))
    # the same generator, used in the same order
    expected = reparameterize(mu, logvar, g)
    torch.testing.assert_close(
        codes_of(model, x, gen(46)), expected.detach()
    )
    assert not torch.equal(codes_of(model, x, gen(47)), expected)
    ae = Autoencoder([12, 8, 3])
    torch.testing.assert_close(codes_of(ae, x), ae.encode(x).detach())
    assert not codes_of(ae, x).requires_grad


def test_decode_images_gives_pixel_intensities_for_both_kinds():
    torch.manual_seed(48)
    z = torch.randn(5, 3)
    model, ae = VAE([12, 8, 3]), Autoencoder([12, 8, 3])
    torch.testing.assert_close(
        decode_images(model, z), torch.sigmoid(model.decode(z)).detach()
    )
    torch.testing.assert_close(
        decode_images(ae, z), ae.decode(z).detach()
    )
    cvae = ConditionalVAE([12, 8, 3], n_classes=4)
    torch.testing.assert_close(
        decode_images(cvae, z, 2),
        torch.sigmoid(cvae.decode(z, 2)).detach(),
    )
    with pytest.raises(
        ValueError, match="Only a conditional VAE takes labels"
    ):
        decode_images(ae, z, 2)


def test_log_mean_exp_is_the_log_of_the_mean_and_stable():
    from aecourse.models.vae import log_mean_exp

    log_w = torch.tensor([[0.0, 1.0], [math.log(3.0), 2.0]])
    expected = torch.log(torch.tensor([2.0, (math.e + math.e**2) / 2]))
    assert torch.allclose(log_mean_exp(log_w), expected)
    assert torch.allclose(log_mean_exp(log_w.T, dim=1), expected)
    far = log_mean_exp(torch.tensor([[-3000.0], [-3000.0]]))
    assert far.item() == pytest.approx(-3000.0)
    with pytest.raises(ValueError):
        log_mean_exp(torch.zeros(0, 3))


def test_iwae_bound_uses_log_mean_exp_of_the_log_weights():
    from aecourse.models.vae import log_mean_exp

    torch.manual_seed(0)
    model = VAE([12, 6, 3])
    x = (torch.rand(5, 12) < 0.5).float()
    bound = iwae_bound(
        model, x, 7, generator=torch.Generator().manual_seed(1)
    )
    log_w = log_importance_weights(
        model, x, 7, generator=torch.Generator().manual_seed(1)
    )
    assert torch.allclose(bound, log_mean_exp(log_w, 0))


def test_active_units_thresholds_the_variance_of_the_posterior_means():
    from aecourse.models.vae import active_units

    mu = torch.tensor(
        [[0.0, 5.0, 0.0], [0.3, 5.0, 0.1], [-0.3, 5.0, 0.0]]
    )
    # variances over the 3 images (divided by N): 0.06, 0, 0.00222
    assert active_units(mu).tolist() == [True, False, False]
    assert active_units(mu, threshold=1e-3).tolist() == [
        True,
        False,
        True,
    ]
    for bad in (torch.zeros(1, 3), torch.zeros(4)):
        with pytest.raises(ValueError):
            active_units(bad)
    with pytest.raises(ValueError):
        active_units(mu, threshold=0.0)
