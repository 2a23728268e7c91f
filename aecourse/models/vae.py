"""Variational autoencoders: a Gaussian encoder, a Bernoulli decoder, the ELBO and the IWAE bound (the VAE
chapter).

The Encoder maps x to the mean μ and the log-variance log σ² of q(z|x) = N(μ, diag σ²); the Decoder maps a
code z to the logits of p(x|z), one Bernoulli per pixel. Training maximises the evidence lower bound

    ELBO(x) = E_q[log p(x|z)] − KL(q(z|x) ‖ N(0, I))  ≤  log p(x),

the expectation estimated from one z = μ + σ ⊙ ε, ε ~ N(0, I) (the reparameterization trick), the KL in
closed form. The test log-likelihood is estimated with k importance samples (the IWAE bound). Every value
is in nats per image: summed over the pixels and code units of one example, never over the batch.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from aecourse._args import binary, integer
from aecourse.models.autoencoder import Decoder, Encoder, check_sizes
from aecourse.training import History, batches, fit

LOG_2PI = math.log(2 * math.pi)


def _noise(
    draw, shape, like: torch.Tensor, generator: torch.Generator | None
) -> torch.Tensor:
    # Drawn on the generator's own device and then moved: a CPU generator gives the same numbers whether
    # the model runs on a CPU or a GPU.
    device = generator.device if generator is not None else like.device
    return draw(
        shape, generator=generator, device=device, dtype=like.dtype
    ).to(like.device)


def _check_binary(x: torch.Tensor) -> None:
    binary(
        "x",
        x,
        "A Bernoulli likelihood needs binary images: binarize them first, "
        "e.g. binarize(x, generator=torch.Generator().manual_seed(0)).",
    )


def binarize(
    x: torch.Tensor, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Dynamic binarization: each pixel becomes 1 with probability its intensity, x_bin ~ Bernoulli(x).

    x: (N, ...) in [0, 1]  ->  same shape, values 0. or 1. (0 and 1 stay as they are). Drawn afresh for each
    batch while training, so the model never sees the same binary image twice. generator: for a repeatable
    draw, e.g. a test set binarized once. Raises ValueError if x is not floating point in [0, 1].
    """
    if not x.is_floating_point() or ((x < 0) | (x > 1)).any():
        raise ValueError(
            "binarize expects pixel intensities: a floating-point tensor with values in [0, 1]."
        )
    return (_noise(torch.rand, x.shape, x, generator) < x).to(x.dtype)


def reparameterize(
    mu: torch.Tensor,
    logvar: torch.Tensor,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """z = μ + σ ⊙ ε with σ = exp(½ log σ²) and ε ~ N(0, I): a sample of N(μ, diag σ²) that gradients flow through.

    mu, logvar: (N, K), or any two equal shapes  ->  z of that shape. All the randomness is in ε, so
    ∂z/∂μ = 1 and ∂z/∂log σ² = ½ σ ε. Raises ValueError if the shapes differ.
    """
    if mu.shape != logvar.shape:
        raise ValueError(
            f"mu and logvar must have the same shape, got {tuple(mu.shape)} and {tuple(logvar.shape)}."
        )
    eps = _noise(torch.randn, mu.shape, mu, generator)
    # the network predicts log σ², so σ > 0 without a constraint
    return mu + torch.exp(0.5 * logvar) * eps


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(μ, diag σ²) ‖ N(0, I)) = ½ Σ_j (μ_j² + σ_j² − 1 − log σ_j²), one value per example.

    mu, logvar: (N, K)  ->  (N,) in nats; 0 exactly where μ = 0 and log σ² = 0.
    Raises ValueError unless mu and logvar are both (N, K).
    """
    if mu.dim() != 2 or mu.shape != logvar.shape:
        raise ValueError(
            f"mu and logvar must both be (N, K), got {tuple(mu.shape)} and {tuple(logvar.shape)}."
        )
    return 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(1)


def _log_normal(z: torch.Tensor, mu, logvar) -> torch.Tensor:
    """log N(z; μ, diag σ²), summed over the last dimension: (..., K) -> (...)."""
    return -0.5 * (
        LOG_2PI + logvar + (z - mu).pow(2) / torch.exp(logvar)
    ).sum(-1)


def bernoulli_log_likelihood(
    logits: torch.Tensor, x: torch.Tensor
) -> torch.Tensor:
    """log p(x|z) = Σ_j [x_j log p_j + (1 − x_j) log(1 − p_j)] with p = sigmoid(logits), one value per example.

    logits: (N, d); x: (N, ...) binary with d values per example  ->  (N,) in nats (≤ 0). Computed from the
    logits, which stays exact where sigmoid(logits) would round to 0 or 1.
    """
    if (
        logits.dim() != 2
        or x.dim() < 1
        or len(x) != len(logits)
        or x[0].numel() != logits.shape[1]
    ):
        raise ValueError(
            f"Expected logits (N, d) and x (N, ...) with d values per example, "
            f"got logits {tuple(logits.shape)} and x {tuple(x.shape)}."
        )
    return -F.binary_cross_entropy_with_logits(
        logits, x.reshape(logits.shape), reduction="none"
    ).sum(1)


class VAE(nn.Module):
    """A variational autoencoder: Encoder x ↦ (μ, log σ²) of q(z|x), Decoder z ↦ logits of p(x|z).

    sizes: [input, hidden..., code], e.g. [784, 400, 20]: the encoder 784 → 400 → 2·20 (μ and log σ² side by
    side), the decoder 20 → 400 → 784. activation: of the hidden layers. n_classes: 0 for a plain VAE; c > 0
    appends the label's one-hot vector to the encoder's input and to the decoder's code (use
    :class:`ConditionalVAE`). Methods take labels y: None for a plain VAE, else (N,) integers or one int.
    """

    def __init__(
        self, sizes, activation: str = "relu", n_classes: int = 0
    ):
        super().__init__()
        sizes = check_sizes(sizes)
        # 0: not conditional
        self.n_classes = integer("n_classes", n_classes, low=0)
        d, hidden, k = sizes[0], sizes[1:-1], sizes[-1]
        self.encoder = Encoder(
            [d + n_classes, *hidden, 2 * k], activation
        )
        # logits
        self.decoder = Decoder(
            [k + n_classes, *hidden[::-1], d], activation, output="linear"
        )

    @property
    def code_size(self) -> int:
        return self.decoder.sizes[0] - self.n_classes

    @property
    def input_size(self) -> int:
        return self.decoder.sizes[-1]

    def _with_label(self, t: torch.Tensor, y) -> torch.Tensor:
        """t (N, m) with the one-hot label appended, (N, m + n_classes); t itself for a plain VAE."""
        if self.n_classes == 0:
            if y is not None:
                raise ValueError(
                    "This VAE is not conditional (n_classes=0): call it without labels y."
                )
            return t
        # -1: missing, refused below
        y = torch.as_tensor(-1 if y is None else y, device=t.device)
        if (
            y.is_floating_point()
            or y.shape not in ((), (len(t),))
            or ((y < 0) | (y >= self.n_classes)).any()
        ):
            raise ValueError(
                f"A conditional VAE needs labels y: one int or {len(t)} ints, each in "
                f"0..{self.n_classes - 1}."
            )
        return torch.cat(
            [t, F.one_hot(y.expand(len(t)), self.n_classes).to(t.dtype)],
            1,
        )

    def encode(
        self, x: torch.Tensor, y=None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """x (N, ...) with ``input_size`` values per example  ->  (μ, log σ²), each (N, code_size)."""
        if x.dim() < 2 or x[0].numel() != self.input_size:
            raise ValueError(
                f"encode expects a batch (N, ...) of {self.input_size} values per example, "
                f"got {tuple(x.shape)}."
            )
        mu, logvar = self.encoder(
            self._with_label(x.flatten(1), y)
        ).chunk(2, dim=1)
        return mu, logvar

    def decode(self, z: torch.Tensor, y=None) -> torch.Tensor:
        """code z (N, code_size)  ->  logits (N, input_size) of p(x|z); the pixel probabilities are their sigmoid."""
        if z.dim() != 2 or z.shape[1] != self.code_size:
            raise ValueError(
                f"decode expects codes (N, {self.code_size}), got {tuple(z.shape)}."
            )
        return self.decoder(self._with_label(z, y))

    def forward(self, x: torch.Tensor, y=None) -> torch.Tensor:
        """The reconstruction through the mean code, sigmoid(decode(μ)), shaped like x: for looking at.

        Training does not use it: :func:`elbo` decodes a sampled z.
        """
        mu, _ = self.encode(x, y)
        return torch.sigmoid(self.decode(mu, y)).reshape(x.shape)

    @torch.no_grad()
    def sample(
        self, n: int, y=None, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """n new images: z ~ N(0, I) decoded to pixel probabilities, (n, input_size) in [0, 1]."""
        if n < 1:
            raise ValueError(
                f"n must be a positive number of images, got {n}."
            )
        z = _noise(
            torch.randn,
            (n, self.code_size),
            self.decoder.layers[0].weight,
            generator,
        )
        return torch.sigmoid(self.decode(z, y))


class ConditionalVAE(VAE):
    """A conditional VAE (Sohn et al. 2015): q(z|x, y) and p(x|z, y) both see the one-hot label y.

    sizes, activation: as for :class:`VAE`; n_classes: the number of labels (10 digits). Every method needs
    y; e.g. ``model.sample(8, y=3)`` draws eight images of the digit 3.
    """

    def __init__(
        self, sizes, n_classes: int = 10, activation: str = "relu"
    ):
        super().__init__(
            sizes, activation, integer("n_classes", n_classes, low=1)
        )


class Elbo(NamedTuple):
    """Per-example terms of the (β-)ELBO, each (N,) in nats: value = log_likelihood − β·kl.

    log_likelihood: a one-sample estimate of E_q[log p(x|z)] (its negative is the distortion);
    kl: KL(q(z|x) ‖ N(0, I)) in closed form (the rate).
    """

    value: torch.Tensor
    log_likelihood: torch.Tensor
    kl: torch.Tensor


def elbo(
    model: VAE,
    x: torch.Tensor,
    y=None,
    beta: float = 1.0,
    generator: torch.Generator | None = None,
) -> Elbo:
    """The evidence lower bound of each example, with one reparameterized z ~ q(z|x); differentiable.

    x: (N, ...) binary; y: labels for a conditional VAE. beta: weight of the KL (β-VAE, Higgins et al. 2017);
    β = 1 gives the ELBO. Returns :class:`Elbo` of (N,) tensors; −value.mean() is the training loss.
    """
    if not beta >= 0:
        raise ValueError(
            f"beta weighs the KL term and must be >= 0, got {beta}."
        )
    mu, logvar = model.encode(x, y)
    z = reparameterize(mu, logvar, generator)
    log_likelihood = bernoulli_log_likelihood(model.decode(z, y), x)
    kl = gaussian_kl(mu, logvar)
    return Elbo(log_likelihood - beta * kl, log_likelihood, kl)


def _batches(x: torch.Tensor, y, batch_size: int, shuffle: bool = False):
    """(xb, yb) mini-batches; yb is y itself when y is None or one int."""
    if isinstance(y, torch.Tensor) and y.dim() > 0:
        yield from batches(x, y, batch_size=batch_size, shuffle=shuffle)
    else:
        yield from (
            (xb, y)
            for (xb,) in batches(
                x, batch_size=batch_size, shuffle=shuffle
            )
        )


@torch.no_grad()
def negative_elbo(
    model: VAE,
    x: torch.Tensor,
    y=None,
    batch_size: int = 1024,
    generator: torch.Generator | None = None,
) -> float:
    """Mean −ELBO over x in nats per image, an upper bound on −log p(x). x: (N, ...) binary."""
    _check_binary(x)
    model.eval()
    # summed on the device: one sync
    total = torch.zeros((), device=x.device, dtype=torch.float64)
    for xb, yb in _batches(x, y, batch_size):
        total -= elbo(model, xb, yb, generator=generator).value.sum()
    return total.item() / len(x)


def log_importance_weights(
    model: VAE,
    x: torch.Tensor,
    k: int,
    y=None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """log w_i = log p(x|z_i) + log p(z_i) − log q(z_i|x) for k samples z_i ~ q(z|x) of each example.

    x: (N, ...) binary  ->  (k, N). Their mean over i estimates the ELBO (the KL estimated too, not in
    closed form); their log-mean-exp is the IWAE bound.
    """
    mu, logvar = model.encode(x, y)
    # (k, N, K)
    z = reparameterize(
        mu.expand(k, *mu.shape),
        logvar.expand(k, *logvar.shape),
        generator,
    )
    # rows of z.flatten(0, 1)
    labels = (
        y.repeat(k) if isinstance(y, torch.Tensor) and y.dim() > 0 else y
    )
    logits = model.decode(z.flatten(0, 1), labels)
    log_px_z = bernoulli_log_likelihood(
        logits, x.flatten(1).repeat(k, 1)
    ).reshape(k, len(x))
    return (
        log_px_z
        + _log_normal(z, 0.0, torch.zeros_like(z))
        - _log_normal(z, mu, logvar)
    )


def log_mean_exp(log_w: torch.Tensor, dim: int = 0) -> torch.Tensor:
    """log (1/k) Σ_i exp(log_w_i) along ``dim``: the IWAE estimate log (1/k) Σ_i w_i from k log weights.

    log_w: (k, N) by default (dim=0), or any shape with the k samples along ``dim``  ->  that shape without
    ``dim``. Computed as m + log mean exp(log_w − m) with m the largest log weight (torch.logsumexp), so
    log weights of −5000 nats, whose exp is 0 in any float, give the right finite answer.
    Raises ValueError for a tensor with no entries along ``dim``.
    """
    if log_w.dim() == 0 or log_w.shape[dim] == 0:
        raise ValueError(
            f"log_w needs at least one sample along dim {dim}, got shape {tuple(log_w.shape)}."
        )
    return torch.logsumexp(log_w, dim) - math.log(log_w.shape[dim])


def active_units(
    mu: torch.Tensor, threshold: float = 1e-2
) -> torch.Tensor:
    """Which code units are active (Burda et al. 2016): Cov_x(E_q[z_j | x]) > threshold.

    mu: (N, K), the posterior mean μ(x) of N images  ->  (K,) bool: the variance over the images of each
    unit's mean (divided by N) above ``threshold``. An inactive unit's q(z_j | x) is the same for every x:
    it carries nothing about the image (posterior collapse). Raises ValueError unless mu is (N, K) with
    N ≥ 2, or for a threshold ≤ 0.
    """
    if mu.dim() != 2 or len(mu) < 2:
        raise ValueError(
            f"mu must be (N, K) posterior means of N >= 2 images, got {tuple(mu.shape)}."
        )
    if not threshold > 0:
        raise ValueError(f"threshold must be > 0, got {threshold}.")
    return mu.double().var(0, unbiased=False) > threshold


@torch.no_grad()
def iwae_bound(
    model: VAE,
    x: torch.Tensor,
    k: int,
    y=None,
    batch_size: int = 20_000,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """The importance-weighted bound log (1/k) Σ_i w_i of each example (Burda et al. 2016): (N,) in nats.

    x: (N, ...) binary. k = 1 is the one-sample ELBO; as k grows the bound rises towards log p(x), so
    −mean with k = 5000 is the test negative log-likelihood papers report. batch_size: codes decoded at once
    (images × samples), which bounds the memory; past it, one image's samples come in chunks.
    Raises ValueError for k or batch_size below 1 or x that is not binary.
    """
    if k < 1 or batch_size < 1:
        raise ValueError(
            f"k and batch_size must be at least 1, got k={k}, batch_size={batch_size}."
        )
    _check_binary(x)
    model.eval()
    # per chunk; and as many images as fit beside them
    samples = min(k, batch_size)
    out = []
    for xb, yb in _batches(x, y, max(1, batch_size // k)):
        # (k, B)
        log_w = torch.cat(
            [
                log_importance_weights(
                    model, xb, min(samples, k - s), yb, generator
                )
                for s in range(0, k, samples)
            ]
        )
        # log-mean-exp without overflow
        out.append(log_mean_exp(log_w, 0))
    return torch.cat(out)


def train_vae(
    model: VAE,
    x: torch.Tensor,
    y=None,
    *,
    epochs: int = 10,
    batch_size: int = 128,
    lr: float = 1e-3,
    beta: float = 1.0,
    optimizer: torch.optim.Optimizer | None = None,
    test=None,
    progress: bool = True,
    desc: str = "training",
) -> History:
    """Train a (conditional) VAE by gradient ascent on the β-ELBO with Adam, binarizing every batch afresh.

    x: (N, ...) grey images in [0, 1]; y: (N,) labels for a ConditionalVAE (or one int), else None.
    beta: weight of the KL. test: held-out binary images (binarize them once), or (x, y), evaluated after
    every epoch. :func:`aecourse.training.fit` with the β-ELBO as its batch loss: ``history.train`` /
    ``history.test`` hold the mean −β-ELBO in nats per image per epoch (the −ELBO itself for β = 1), and
    ``history.metrics`` its two terms, ``"recon"`` (−log p(x|z), the distortion) and ``"kl"`` (the rate),
    also as ``"test recon"`` and ``"test kl"``: −ELBO = recon + kl whatever β.
    Runs on whatever device the model and the data are on.
    """
    # one label for every image
    label = None if isinstance(y, torch.Tensor) and y.dim() > 0 else y

    def beta_elbo(model: VAE, batch: tuple) -> dict[str, torch.Tensor]:
        xb, yb = batch if len(batch) == 2 else (batch[0], label)
        if model.training:  # a fresh binarization of every training batch; held-out images are binary
            xb = binarize(xb)
        terms = elbo(model, xb, yb, beta)
        return {
            "loss": -terms.value.mean(),
            "recon": -terms.log_likelihood.mean(),
            "kl": terms.kl.mean(),
        }

    data = (x,) if label is not None or y is None else (x, y)
    return fit(
        model,
        data,
        batch_loss=beta_elbo,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        optimizer=optimizer,
        test=test,
        progress=progress,
        desc=desc,
    )


def latent_grid(n: int) -> torch.Tensor:
    """An n × n grid of 2-D codes at evenly spaced quantiles of N(0, 1): z = Φ⁻¹((i + ½)/n), i = 0..n−1.

    Returns (n², 2) row by row as the picture is drawn: z₂ falls from the top row down, z₁ grows from left
    to right. Equal steps in probability, not in z, so the grid covers the prior where its mass is.
    """
    integer("n", n, low=1)
    q = torch.distributions.Normal(0.0, 1.0).icdf(
        (torch.arange(n) + 0.5) / n
    )
    z2, z1 = torch.meshgrid(q.flip(0), q, indexing="ij")
    return torch.stack([z1.flatten(), z2.flatten()], 1)


@torch.no_grad()
def manifold_grid(
    model: VAE, n: int = 15, y=None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Decode :func:`latent_grid` with a VAE whose code is 2-D: (z (n², 2), images (n², input_size) in [0, 1]).

    y: a label (int) for a conditional VAE. Draw it with :func:`aecourse.teaching.plots.show_manifold`.
    """
    if model.code_size != 2:
        raise ValueError(
            f"manifold_grid needs a VAE with a 2-D code, this one has {model.code_size}."
        )
    model.eval()
    weight = model.decoder.layers[0].weight
    z = latent_grid(n).to(weight.device, weight.dtype)
    return z, torch.sigmoid(model.decode(z, y))


def interpolate(
    z_a: torch.Tensor, z_b: torch.Tensor, steps: int = 8
) -> torch.Tensor:
    """Codes on the straight line from z_a to z_b: (1 − t)·z_a + t·z_b for t evenly spaced in [0, 1].

    z_a, z_b: (K,)  ->  (steps, K), the first row z_a and the last z_b. Decode them to see the images between.
    """
    if z_a.dim() != 1 or z_a.shape != z_b.shape:
        raise ValueError(
            f"z_a and z_b must be two codes of shape (K,), got {tuple(z_a.shape)} and {tuple(z_b.shape)}."
        )
    integer("steps", steps, low=2)  # both ends included
    t = torch.linspace(0, 1, steps, device=z_a.device, dtype=z_a.dtype)[
        :, None
    ]
    return (1 - t) * z_a + t * z_b


# --- codes and images of any autoencoder -------------------------------------------------------


@torch.no_grad()
def codes_of(
    model: nn.Module,
    x: torch.Tensor,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """The codes a decoder is trained on, for grey images x (N, ...) in [0, 1]  ->  (N, K).

    A plain autoencoder (anything with ``encode(x) -> h``): h itself. A :class:`VAE`: one draw
    z ~ q(z|x) of x binarized, as in training (for a conditional VAE, give its labels to ``model.encode``
    yourself). generator: for the binarization and the draw, to make them repeatable.
    """
    if not isinstance(model, VAE):
        model.eval()
        return model.encode(x)
    model.eval()
    return reparameterize(
        *model.encode(binarize(x, generator)), generator
    )


@torch.no_grad()
def decode_images(
    model: nn.Module, z: torch.Tensor, y=None
) -> torch.Tensor:
    """What a decoder makes of codes z (N, K): pixel intensities in [0, 1], (N, d).

    For a :class:`VAE`, sigmoid of its logits (the pixel probabilities, the mean of p(x|z)); y: labels for a
    conditional VAE. For a plain autoencoder, ``model.decode(z)`` (its decoder ends in a sigmoid).
    """
    model.eval()
    if isinstance(model, VAE):
        return torch.sigmoid(model.decode(z, y))
    if y is not None:
        raise ValueError("Only a conditional VAE takes labels y.")
    return model.decode(z)


# --- holes in a code space -----------------------------------------------------------------------


def gaussian_like(
    codes: torch.Tensor, n: int, generator: torch.Generator | None = None
) -> torch.Tensor:
    """n random codes from the Gaussian with the mean and covariance of ``codes``: the fairest way to draw
    random codes for a plain autoencoder, whose codes follow no distribution chosen in advance.

    codes: (N, K) with N > K  ->  (n, K). Raises ValueError for a shape that has no full-rank covariance.
    """
    if codes.dim() != 2 or len(codes) <= codes.shape[1]:
        raise ValueError(
            f"codes must be (N, K) with more codes than units, N > K; got {tuple(codes.shape)}."
        )
    integer("n", n, low=1)
    c = codes.double()
    # covariance = L Lᵀ, so mean + L ε has that covariance
    chol = torch.linalg.cholesky(torch.cov(c.T))
    eps = _noise(torch.randn, (n, codes.shape[1]), c, generator)
    return (c.mean(0) + eps @ chol.T).to(codes.dtype)


def in_hole(
    random_codes: torch.Tensor,
    train_codes: torch.Tensor,
    test_codes: torch.Tensor,
    quantile: float = 0.99,
) -> torch.Tensor:
    """Which random codes fall in a hole of the code space: farther from every training code than all but a
    ``1 − quantile`` share of the test images' codes are.

    random_codes: (M, K); train_codes: (N, K), the codes the decoder was trained on; test_codes: (T, K), codes
    of held-out images, which set the scale of "near"  ->  (M,) bool. If random codes were distributed like
    real codes, about 1 − quantile of them (1%) would be flagged. Raises ValueError for codes of different
    widths or a quantile outside (0, 1).
    """
    if not 0 < quantile < 1:
        raise ValueError(f"quantile must be in (0, 1), got {quantile}.")
    if any(
        c.dim() != 2 for c in (random_codes, train_codes, test_codes)
    ) or not (
        random_codes.shape[1]
        == train_codes.shape[1]
        == test_codes.shape[1]
    ):
        raise ValueError(
            f"codes must all be (N, K) with the same K, got {tuple(random_codes.shape)}, "
            f"{tuple(train_codes.shape)} and {tuple(test_codes.shape)}."
        )
    train = train_codes.double()

    def nearest(
        c: torch.Tensor,
    ) -> (
        torch.Tensor
    ):  # distance from each code to its nearest training code
        return torch.cat(
            [
                torch.cdist(part.double(), train).min(1).values
                for part in c.split(1024)
            ]
        )

    return nearest(random_codes) > torch.quantile(
        nearest(test_codes), quantile
    )


def hole_fraction(
    random_codes: torch.Tensor,
    train_codes: torch.Tensor,
    test_codes: torch.Tensor,
    quantile: float = 0.99,
) -> float:
    """The share of random codes that fall in a hole (see :func:`in_hole`): about 1 − quantile for codes drawn
    like the real ones, more where the random codes go where the training codes do not."""
    return (
        in_hole(random_codes, train_codes, test_codes, quantile)
        .double()
        .mean()
        .item()
    )
