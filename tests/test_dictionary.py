"""aecourse.evaluation.dictionary: PCA recovers at most as many planted features as it has components
(exactly that many when they are orthogonal with distinct variances), dictionary learning recovers
features in superposition, and the directions agree with scikit-learn's own fits."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.decomposition import PCA

from aecourse.evaluation.dictionary import (
    baseline_recovery,
    dictionary_directions,
    pca_directions,
)
from aecourse.models.sparse_autoencoder import recovered_fraction
from aecourse.models.superposition import random_directions, superposed


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def planted(seed: int = 0):
    """32 features along random directions in 16 dimensions, each present 10 % of the time."""
    g = gen(seed)
    directions = random_directions(16, 32, g)
    x, _ = superposed(2048, directions, 0.9, g)
    return x, directions


@pytest.fixture(scope="module")
def atoms():
    return dictionary_directions(planted()[0], 64)


def test_pca_directions_are_scikit_learns_components():
    x = torch.randn(200, 6, generator=gen(1), dtype=torch.float64)
    ours = pca_directions(x, 3)
    assert ours.shape == (6, 3) and ours.dtype == torch.float64
    theirs = PCA(3).fit(x.numpy()).components_.T
    # the same directions up to sign
    np.testing.assert_allclose(
        np.abs((ours.numpy() * theirs).sum(0)), 1, atol=1e-8
    )


@pytest.mark.parametrize("m", [1, 4, 8, 16])
def test_pca_recovers_at_most_m_of_n_features(m):
    x, directions = planted()
    found = recovered_fraction(
        directions, pca_directions(x, m), absolute=True
    )
    assert found * 32 <= m
    assert (
        found == 0
    )  # features in superposition: every component mixes many


def test_pca_recovers_exactly_m_orthogonal_features_of_distinct_variance():
    """The bound is reached: 8 features along the axes, feature i scaled by 8 − i, and 3 components
    find the 3 of largest variance."""
    scales = torch.arange(8, 0, -1, dtype=torch.float32)
    x, _ = superposed(4096, torch.diag(scales), 0.5, gen(2))
    found = recovered_fraction(
        torch.eye(8), pca_directions(x, 3), absolute=True
    )
    assert found == pytest.approx(3 / 8)


def test_dictionary_learning_recovers_features_in_superposition(atoms):
    assert atoms.shape == (16, 64)
    torch.testing.assert_close(atoms.norm(dim=0), torch.ones(64))
    directions = planted()[1]
    assert recovered_fraction(directions, atoms, absolute=True) >= 0.9


def test_dictionary_learning_repeats_with_its_seed():
    x = planted()[0][:300]
    torch.testing.assert_close(
        dictionary_directions(x, 8, epochs=1),
        dictionary_directions(x, 8, epochs=1),
    )


def test_baseline_recovery_reports_both():
    x, directions = planted()
    found = baseline_recovery(x, directions, 64)
    assert set(found) == {"pca", "dictionary learning"}
    assert found["pca"] == 0.0 and found["dictionary learning"] >= 0.9
