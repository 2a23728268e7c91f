"""aecourse.evaluation.frechet: the square root and the distance against scipy.linalg.sqrtm and hand-computed
Gaussians, and the feature extractor's shapes, training and floor."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch

from aecourse.evaluation.frechet import (
    DigitClassifier,
    frechet_distance,
    frechet_distance_of_features,
    frechet_distance_of_images,
    frechet_floor,
    gaussian_fit,
    sqrtm_psd,
    trace_sqrt_product,
    train_classifier,
)


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def random_covariance(
    d: int, seed: int, rank: int | None = None
) -> torch.Tensor:
    g = gen(seed)
    a = torch.randn(d, rank or d + 3, generator=g, dtype=torch.float64)
    return a @ a.T / a.shape[1]


def scipy_frechet(mu1, s1, mu2, s2) -> float:
    """The usual FID code's formula, with scipy's general matrix square root of Σ₁Σ₂."""
    mu1, s1, mu2, s2 = (t.numpy() for t in (mu1, s1, mu2, s2))
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    diff = mu1 - mu2
    return float(
        diff @ diff + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean)
    )


def test_sqrtm_psd_matches_scipy_and_squares_back():
    cov = random_covariance(6, 0)
    root = sqrtm_psd(cov)
    assert torch.allclose(root, root.T)
    assert torch.allclose(root @ root, cov, atol=1e-12)
    assert np.allclose(
        root.numpy(), scipy.linalg.sqrtm(cov.numpy()).real, atol=1e-10
    )
    # a singular (rank 2) covariance: still real, still squares back
    low = random_covariance(5, 1, rank=2)
    root = sqrtm_psd(low)
    assert torch.allclose(root @ root, low, atol=1e-10)


def test_trace_of_the_product_root_matches_scipy():
    s1, s2 = random_covariance(7, 2), random_covariance(7, 3)
    # they do not commute: no shortcut
    assert not torch.allclose(s1 @ s2, s2 @ s1)
    expected = np.trace(scipy.linalg.sqrtm(s1.numpy() @ s2.numpy()).real)
    assert trace_sqrt_product(s1, s2).item() == pytest.approx(
        expected, rel=1e-9
    )
    assert trace_sqrt_product(s2, s1).item() == pytest.approx(
        expected, rel=1e-9
    )


def test_frechet_distance_matches_scipy():
    g = gen(4)
    mu1, mu2 = (
        torch.randn(8, generator=g, dtype=torch.float64),
        torch.randn(8, generator=g, dtype=torch.float64),
    )
    s1, s2 = random_covariance(8, 5), random_covariance(8, 6)
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(
        scipy_frechet(mu1, s1, mu2, s2), rel=1e-9
    )


def test_frechet_distance_of_hand_computed_gaussians():
    # diagonal covariances commute: FD = ‖μ₁ − μ₂‖² + Σ_i (σ₁ᵢ − σ₂ᵢ)²
    mu1, mu2 = torch.tensor([0.0, 0.0]), torch.tensor([3.0, 4.0])
    s1, s2 = (
        torch.diag(torch.tensor([1.0, 4.0])),
        torch.diag(torch.tensor([9.0, 1.0])),
    )
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(
        25 + (1 - 3) ** 2 + (2 - 1) ** 2
    )
    # one dimension: (m₁ − m₂)² + (σ₁ − σ₂)²
    one = frechet_distance(
        torch.tensor([1.0]),
        torch.tensor([[4.0]]),
        torch.tensor([-1.0]),
        torch.tensor([[0.25]]),
    )
    assert one == pytest.approx(4 + 1.5**2)
    # a singular Σ₁ (a point mass in one direction): tr (Σ₁Σ₂)^{1/2} = 0 + 2
    assert frechet_distance(
        mu1, torch.diag(torch.tensor([0.0, 4.0])), mu1, torch.eye(2)
    ) == pytest.approx(2.0)
    # equal Gaussians
    cov = random_covariance(5, 7)
    assert frechet_distance(
        torch.zeros(5), cov, torch.zeros(5), cov
    ) == pytest.approx(0, abs=1e-10)


def test_frechet_distance_refuses_mismatched_shapes():
    with pytest.raises(ValueError, match="one d"):
        frechet_distance(
            torch.zeros(3), torch.eye(3), torch.zeros(2), torch.eye(3)
        )
    with pytest.raises(ValueError, match=r"square matrix \(d, d\)"):
        frechet_distance(
            torch.zeros(3), torch.ones(3, 2), torch.zeros(3), torch.eye(3)
        )
    with pytest.raises(ValueError, match="same d"):
        frechet_distance_of_features(torch.randn(4, 3), torch.randn(4, 2))
    with pytest.raises(ValueError, match=r"N ≥ 2"):
        frechet_distance_of_features(torch.randn(1, 3), torch.randn(4, 3))


def test_gaussian_fit_matches_numpy_and_a_shift_costs_its_square():
    f = torch.randn(200, 4, generator=gen(8), dtype=torch.float64)
    mean, cov = gaussian_fit(f)
    assert np.allclose(mean.numpy(), f.double().numpy().mean(0))
    assert np.allclose(
        cov.numpy(), np.cov(f.double().numpy(), rowvar=False)
    )
    assert frechet_distance_of_features(f, f) == pytest.approx(
        0, abs=1e-9
    )
    # same covariance, means apart by 0.5 in each of 4 dimensions: 4 · 0.25
    assert frechet_distance_of_features(f, f + 0.5) == pytest.approx(
        1.0, rel=1e-9
    )


def two_classes(n: int, seed: int):
    """n images: a bright left half (label 0) or a bright right half (label 1), with noise."""
    g = gen(seed)
    y = torch.randint(2, (n,), generator=g)
    x = 0.2 * torch.rand(n, 1, 28, 28, generator=g)
    x[y == 0, :, :, :14] += 0.7
    x[y == 1, :, :, 14:] += 0.7
    return x, y


def test_the_classifier_learns_and_its_features_compare_image_sets():
    torch.manual_seed(9)
    x, y = two_classes(128, 0)
    model = DigitClassifier(
        channels=(4, 8), code_channels=2, features=16, classes=2
    )
    assert model(x).shape == (128, 2) and model.features(x).shape == (
        128,
        16,
    )
    history = train_classifier(
        model,
        x,
        y,
        epochs=4,
        batch_size=16,
        generator=gen(1),
        progress=False,
    )
    assert history.metrics["accuracy"][-1] > 0.9
    test_x, _ = two_classes(64, 1)
    assert frechet_distance_of_images(
        model, test_x, test_x
    ) == pytest.approx(0, abs=1e-8)
    # class-0 images against class-1 images are much farther apart than two halves of the same data
    _, test_y = two_classes(64, 1)
    apart = frechet_distance_of_images(
        model, test_x[test_y == 0], test_x[test_y == 1]
    )
    floor = frechet_floor(model, test_x, 32, generator=gen(2))
    assert floor == frechet_floor(model, test_x, 32, generator=gen(2))
    assert apart > 3 * floor
    with pytest.raises(ValueError, match=r"at least 2n = 130"):
        frechet_floor(model, test_x, 65)
