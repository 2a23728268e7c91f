"""The Fréchet distance between two sets of features, and a small digit classifier whose features it
compares (the vector-quantization chapter: how good are generated images?).

Heusel et al. (2017) score a generator by the Fréchet distance between Gaussians fitted to features of
real and of generated images (FID, with the features of an Inception network):

    FD = ‖μ₁ − μ₂‖² + tr Σ₁ + tr Σ₂ − 2 tr (Σ₁ Σ₂)^{1/2}.

Here the features are those of a small convolutional digit classifier trained in the course
(:class:`DigitClassifier`, the convolution chapter's encoder with two dense layers on top), read
from its penultimate layer: ours is an FD of digit features, comparable only with itself, not with
published FIDs.

The matrix square root. Σ₁ Σ₂ is not symmetric, and a general square root of it (scipy's ``sqrtm``,
a Schur decomposition) can come back with small imaginary parts or fail when the covariances are
nearly singular, as they are for features of a few hundred images. With S = Σ₁^{1/2} (symmetric,
from an eigendecomposition), S Σ₂ S = S (Σ₁ Σ₂) S⁻¹ has the same eigenvalues as Σ₁ Σ₂, and it is
symmetric and positive semi-definite: ``torch.linalg.eigh`` finds its eigenvalues λ_i accurately and
real, the few rounding has made slightly negative are clipped to 0, and tr (Σ₁ Σ₂)^{1/2} = Σ_i √λ_i.
The identity holds for a singular Σ₁ too, by continuity.

FD from samples is biased upwards, more so for fewer images, so two FDs are comparable only for the
same number of images; :func:`frechet_floor` measures the FD between two disjoint sets of real images
of that size, the value a perfect generator would get.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from aecourse._args import describe, integer
from aecourse.models.conv_autoencoder import ConvEncoder, check_images
from aecourse.training import History, fit, predict


def _check_features(name: str, features) -> torch.Tensor:
    if (
        not isinstance(features, torch.Tensor)
        or not features.dtype.is_floating_point
        or features.dim() != 2
        or len(features) < 2
    ):
        raise ValueError(
            f"{name} must be a float tensor of features (N, d) with N ≥ 2, got {describe(features)}."
        )
    return features


def gaussian_fit(
    features: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The mean (d,) and covariance (d, d) of features (N, d), N ≥ 2, in float64.

    The covariance divides by N − 1, as ``numpy.cov`` does (and the usual FID code with it).
    """
    x = _check_features("features", features).detach().double()
    mean = x.mean(0)
    centred = x - mean
    return mean, centred.T @ centred / (len(x) - 1)


def _check_covariance(name: str, cov) -> torch.Tensor:
    if (
        not isinstance(cov, torch.Tensor)
        or cov.dim() != 2
        or cov.shape[0] != cov.shape[1]
    ):
        raise ValueError(
            f"{name} must be a square matrix (d, d), got {describe(cov)}."
        )
    return cov


def sqrtm_psd(matrix: torch.Tensor) -> torch.Tensor:
    """The symmetric square root of a symmetric positive semi-definite matrix: (d, d) -> (d, d) float64.

    V diag(√λ) Vᵀ from the eigendecomposition V diag(λ) Vᵀ, with eigenvalues below 0 (rounding) taken as
    0. Only the symmetric part (A + Aᵀ)/2 is read.
    """
    a = _check_covariance("matrix", matrix).detach().double()
    eigenvalues, vectors = torch.linalg.eigh((a + a.T) / 2)
    return (vectors * eigenvalues.clamp_min(0).sqrt()) @ vectors.T


def trace_sqrt_product(
    cov1: torch.Tensor, cov2: torch.Tensor
) -> torch.Tensor:
    """tr (Σ₁ Σ₂)^{1/2} for covariances (d, d), as Σ_i √λ_i of S Σ₂ S with S = Σ₁^{1/2} (module docstring)."""
    s = sqrtm_psd(cov1)
    middle = s @ _check_covariance("cov2", cov2).detach().double() @ s
    eigenvalues = torch.linalg.eigvalsh((middle + middle.T) / 2)
    return eigenvalues.clamp_min(0).sqrt().sum()


def frechet_distance(
    mean1: torch.Tensor,
    cov1: torch.Tensor,
    mean2: torch.Tensor,
    cov2: torch.Tensor,
) -> float:
    """‖μ₁ − μ₂‖² + tr Σ₁ + tr Σ₂ − 2 tr (Σ₁ Σ₂)^{1/2}: the Fréchet (2-Wasserstein) distance, squared,
    between N(μ₁, Σ₁) and N(μ₂, Σ₂). means (d,), covariances (d, d) -> a float ≥ 0 (computed in float64).
    """
    cov1 = _check_covariance("cov1", cov1)
    cov2 = _check_covariance("cov2", cov2)
    d = cov1.shape[0]
    if (
        cov2.shape[0] != d
        or tuple(mean1.shape) != (d,)
        or tuple(mean2.shape) != (d,)
    ):
        raise ValueError(
            f"means must be (d,) and covariances (d, d) with one d, got means {tuple(mean1.shape)}, "
            f"{tuple(mean2.shape)} and covariances {tuple(cov1.shape)}, {tuple(cov2.shape)}."
        )
    diff = mean1.detach().double() - mean2.detach().double()
    value = (
        diff @ diff
        + cov1.double().trace()
        + cov2.double().trace()
        - 2 * trace_sqrt_product(cov1, cov2)
    )
    # the exact value is ≥ 0; rounding can leave −1e-12 for two equal Gaussians
    return max(value.item(), 0.0)


def frechet_distance_of_features(
    features1: torch.Tensor, features2: torch.Tensor
) -> float:
    """The Fréchet distance between Gaussians fitted to features1 (N₁, d) and features2 (N₂, d)."""
    f1 = _check_features("features1", features1)
    f2 = _check_features("features2", features2)
    if f1.shape[1] != f2.shape[1]:
        raise ValueError(
            f"features1 and features2 must have the same d, got {f1.shape[1]} and {f2.shape[1]}."
        )
    return frechet_distance(*gaussian_fit(f1), *gaussian_fit(f2))


# --- the feature extractor --------------------------------------------------------------------------------


class DigitClassifier(nn.Module):
    """A small conv net for 28×28 images: ConvEncoder (two conv-ReLU-pool stages and a 1×1 convolution to
    ``code_channels`` maps of 7×7), then a dense ReLU layer of ``features`` units, then 10 class logits.

    forward: (N, 1, 28, 28) -> logits (N, classes); :meth:`features`: -> (N, features), the penultimate
    layer, what :func:`frechet_distance_of_images` compares.
    """

    def __init__(
        self,
        channels=(16, 32),
        code_channels: int = 8,
        features: int = 64,
        classes: int = 10,
    ):
        super().__init__()
        self.encoder = ConvEncoder(channels, code_channels)
        integer("features", features, low=1)
        integer("classes", classes, low=2)
        self.hidden = nn.Linear(code_channels * 49, features)
        self.output = nn.Linear(features, classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(
            self.hidden(self.encoder(check_images(x)).flatten(1))
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.output(self.features(x))


def train_classifier(
    model: DigitClassifier,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    epochs: int = 3,
    batch_size: int = 128,
    lr: float = 1e-3,
    test: tuple[torch.Tensor, torch.Tensor] | None = None,
    generator: torch.Generator | None = None,
    progress: bool = True,
    desc: str = "training the classifier",
) -> History:
    """Train the classifier on images x (N, 1, 28, 28) and labels y (N,) by cross-entropy with Adam,
    through :func:`aecourse.training.fit`. ``history.metrics["accuracy"]`` (and "test accuracy")."""
    check_images(x)
    if not isinstance(y, torch.Tensor) or tuple(y.shape) != (len(x),):
        raise ValueError(
            f"y must hold one label per image, shape ({len(x)},), got {describe(y)}."
        )

    def cross_entropy(model: nn.Module, batch: tuple) -> dict:
        logits = model(batch[0])
        return {
            "loss": F.cross_entropy(logits, batch[1]),
            "accuracy": (logits.argmax(1) == batch[1]).float().mean(),
        }

    return fit(
        model,
        x,
        y,
        batch_loss=cross_entropy,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        test=test,
        generator=generator,
        progress=progress,
        desc=desc,
    )


def frechet_distance_of_images(
    classifier: DigitClassifier,
    generated: torch.Tensor,
    real: torch.Tensor,
    batch_size: int = 1024,
) -> float:
    """The Fréchet distance between the classifier's features of generated and of real images, each
    (N, 1, 28, 28) with N ≥ 2. Use the same number of each, and compare with :func:`frechet_floor`."""
    f_gen = predict(
        classifier, check_images(generated), batch_size, "features"
    )
    f_real = predict(
        classifier, check_images(real), batch_size, "features"
    )
    return frechet_distance_of_features(f_gen, f_real)


def frechet_floor(
    classifier: DigitClassifier,
    real: torch.Tensor,
    n: int,
    generator: torch.Generator | None = None,
) -> float:
    """The Fréchet distance between two disjoint random sets of n real images each, (N, 1, 28, 28) with
    N ≥ 2n: what a generator indistinguishable from the data would score with n images."""
    check_images(real)
    integer("n", n, low=2)
    if len(real) < 2 * n:
        raise ValueError(
            f"frechet_floor needs at least 2n = {2 * n} real images, got {len(real)}."
        )
    order = torch.randperm(len(real), generator=generator).to(real.device)
    return frechet_distance_of_images(
        classifier, real[order[:n]], real[order[n : 2 * n]]
    )
