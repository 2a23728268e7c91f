"""Clustering codes with k-means, scored against the labels: NMI and ARI (the applications chapter).

The applications chapter asks whether an autoencoder's code groups the classes *without being told
them*. k-means is unsupervised: it is fitted on the training codes alone, then assigns each test code to
its nearest centre. The labels are used only afterwards, to score how well those clusters match the
classes:

- NMI, normalised mutual information: how much knowing the cluster tells about the class, scaled to
  [0, 1]; 1 when clusters and classes match one to one (whatever the clusters' numbering), about 0 when
  they are independent.
- ARI, adjusted Rand index: the fraction of pairs of examples that clusters and classes agree on
  (together in both, or apart in both), corrected for chance; 1 for a perfect match, about 0 for a
  random assignment, and negative when agreement is worse than chance.
"""

from __future__ import annotations

import numpy as np
from sklearn.cluster import KMeans
from sklearn.metrics import (
    adjusted_rand_score,
    normalized_mutual_info_score,
)

from aecourse._args import to_numpy


def kmeans_scores(
    train_codes,
    test_codes,
    test_labels,
    n_clusters: int = 10,
    seed: int = 0,
    n_init: int = 4,
) -> dict[str, float]:
    """Fit k-means on the training codes, cluster the test codes, score the clusters against the labels.

    train_codes: (N, k) (or (N, ...), flattened); test_codes: (M, k); test_labels: (M,) ints. Tensors (any
    device) or arrays; codes are compared in float64. k-means is ``sklearn.cluster.KMeans(n_clusters,
    n_init=n_init, random_state=seed)``: the best of n_init starts, the same for the same seed.
    Returns ``{"NMI": float, "ARI": float}`` from scikit-learn's normalized_mutual_info_score and
    adjusted_rand_score (see the module's docstring). Raises ValueError if train and test codes have
    different numbers of features, test codes and labels different lengths, or N < n_clusters.
    """
    train = to_numpy(train_codes, np.float64)
    test = to_numpy(test_codes, np.float64)
    labels = to_numpy(test_labels, np.int64)
    if train.ndim < 2 or test.ndim < 2:
        raise ValueError(
            f"codes must be batches (N, k), got shapes {train.shape} and {test.shape}."
        )
    train, test = (
        train.reshape(len(train), -1),
        test.reshape(len(test), -1),
    )
    if train.shape[1] != test.shape[1]:
        raise ValueError(
            f"train and test codes must have the same number of features, got {train.shape[1]} and "
            f"{test.shape[1]}."
        )
    if labels.shape != (len(test),):
        raise ValueError(
            f"test_labels must be (M,) with one label per test code, got shape {labels.shape} for "
            f"{len(test)} codes."
        )
    if len(train) < n_clusters:
        raise ValueError(
            f"k-means needs at least n_clusters = {n_clusters} training codes, got {len(train)}."
        )
    kmeans = KMeans(
        n_clusters=n_clusters, n_init=n_init, random_state=seed
    ).fit(train)
    clusters = kmeans.predict(test)
    return {
        "NMI": float(normalized_mutual_info_score(labels, clusters)),
        "ARI": float(adjusted_rand_score(labels, clusters)),
    }
