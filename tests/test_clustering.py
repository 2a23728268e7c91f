"""aecourse.evaluation.clustering: k-means finds well-separated blobs (NMI = ARI = 1), not random labels (≈ 0), and
scores exactly as scikit-learn does when called directly."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.cluster import KMeans
from sklearn.metrics import (
    adjusted_rand_score,
    normalized_mutual_info_score,
)

from aecourse.evaluation.clustering import kmeans_scores


def blobs(
    n: int,
    classes: int = 5,
    k: int = 3,
    spread: float = 20.0,
    noise: float = 0.1,
    seed: int = 0,
):
    """n codes (n, k) in `classes` blobs (width `noise`, means about `spread` apart), and their labels (n,)."""
    rng = np.random.default_rng(seed)
    # the same blobs every split
    means = spread * np.random.default_rng(100).standard_normal(
        (classes, k)
    )
    labels = rng.integers(0, classes, n)
    return means[labels] + rng.standard_normal((n, k)) * noise, labels


def test_separated_blobs_are_found_perfectly():
    train_x, _ = blobs(300, seed=1)
    test_x, test_y = blobs(200, seed=2)
    scores = kmeans_scores(
        torch.tensor(train_x, dtype=torch.float32),
        torch.tensor(test_x),
        torch.tensor(test_y),
        n_clusters=5,
    )
    assert set(scores) == {"NMI", "ARI"} and all(
        isinstance(v, float) for v in scores.values()
    )
    assert scores["NMI"] == pytest.approx(1.0) and scores[
        "ARI"
    ] == pytest.approx(1.0)


def test_random_labels_score_near_zero():
    rng = np.random.default_rng(3)
    train_x, test_x = (
        rng.standard_normal((500, 4)),
        rng.standard_normal((2000, 4)),
    )
    scores = kmeans_scores(train_x, test_x, rng.integers(0, 10, 2000))
    assert abs(scores["ARI"]) < 0.02 and scores["NMI"] < 0.03


def test_matches_scikit_learn_called_directly():
    # overlapping: scores neither 0 nor 1
    train_x, _ = blobs(400, classes=6, k=5, spread=2.0, noise=1.0, seed=4)
    test_x, test_y = blobs(
        300, classes=6, k=5, spread=2.0, noise=1.0, seed=5
    )
    clusters = (
        KMeans(n_clusters=6, n_init=3, random_state=7)
        .fit(train_x)
        .predict(test_x)
    )
    expected = {
        "NMI": normalized_mutual_info_score(test_y, clusters),
        "ARI": adjusted_rand_score(test_y, clusters),
    }
    assert 0.1 < expected["ARI"] < 0.99
    # codes of shape (N, 1, 5) are flattened to (N, 5)
    scores = kmeans_scores(
        train_x[:, None],
        test_x[:, None],
        test_y,
        n_clusters=6,
        seed=7,
        n_init=3,
    )
    assert scores == pytest.approx(expected, abs=1e-12)


def test_refuses_what_does_not_fit():
    x = np.zeros((20, 3))
    with pytest.raises(
        ValueError, match="same number of features, got 3 and 4"
    ):
        kmeans_scores(x, np.zeros((5, 4)), np.zeros(5, dtype=int))
    with pytest.raises(
        ValueError,
        match=r"one label per test code, got shape \(4,\) for 5 codes",
    ):
        kmeans_scores(x, np.zeros((5, 3)), np.zeros(4, dtype=int))
    with pytest.raises(
        ValueError, match="at least n_clusters = 10 training codes, got 9"
    ):
        kmeans_scores(x[:9], np.zeros((5, 3)), np.zeros(5, dtype=int))
    with pytest.raises(ValueError, match=r"batches \(N, k\)"):
        kmeans_scores(
            np.zeros(20), np.zeros((5, 1)), np.zeros(5, dtype=int)
        )
