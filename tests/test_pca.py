"""aecourse.evaluation.pca: PCA fit and reconstruction against an SVD computed here, and principal angles by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from aecourse.evaluation.pca import (
    decoder_basis,
    fit_pca,
    pca_reconstruct,
    principal_angles,
)
from aecourse.models.autoencoder import Autoencoder


@pytest.fixture
def x():
    g = torch.Generator().manual_seed(0)
    # clear gaps between the leading components
    scales = torch.tensor([5.0, 3.0, 2.0, 1.0] + [0.1] * 12)
    return (
        (
            torch.randn(80, 16, generator=g, dtype=torch.float64) * scales
            + 1.0
        )
        .reshape(80, 1, 4, 4)
        .float()
    )


def svd_reference(x: torch.Tensor, k: int):
    flat = x.flatten(1).double()
    mean = flat.mean(0)
    _, _, vt = torch.linalg.svd(flat - mean, full_matrices=False)
    v = vt[:k]
    return mean, v, (mean + (flat - mean) @ v.T @ v).reshape(x.shape)


@pytest.mark.parametrize("k", [1, 3, 8])
def test_pca_reconstruction_equals_the_svd_projection(x, k):
    pca = fit_pca(x, k)
    mean, v, expected = svd_reference(x, k)
    np.testing.assert_allclose(pca.mean_, mean.numpy(), atol=1e-5)
    np.testing.assert_allclose(
        pca.components_.T @ pca.components_, (v.T @ v).numpy(), atol=1e-4
    )
    rec = pca_reconstruct(pca, x)
    assert rec.shape == x.shape and rec.dtype == x.dtype
    torch.testing.assert_close(
        rec.double(), expected, atol=1e-4, rtol=1e-4
    )


def test_all_components_reconstruct_exactly(x):
    pca = fit_pca(x, 16)
    torch.testing.assert_close(
        pca_reconstruct(pca, x), x, atol=1e-5, rtol=1e-5
    )


@pytest.mark.parametrize("k", [0, 17, -1])
def test_bad_number_of_components(x, k):
    with pytest.raises(
        ValueError,
        match=rf"k must be between 1 and min\(N, d\) = 16, got {k}",
    ):
        fit_pca(x, k)
    with pytest.raises(ValueError, match=r"min\(N, d\) = 5"):
        fit_pca(x[:5], 6)


def test_principal_angles_by_hand():
    e = np.eye(3)
    assert principal_angles(e[:, :1], e[:, :1]) == pytest.approx(
        [0.0], abs=1e-6
    )
    assert principal_angles(e[:, :1], e[:, 1:2]) == pytest.approx([90.0])
    line = np.array(
        [
            [math.cos(math.radians(30))],
            [math.sin(math.radians(30))],
            [0.0],
        ]
    )
    assert principal_angles(e[:, :1], line) == pytest.approx([30.0])
    # span{e1, e2} and span{e1, line at 60° from e2 towards e3}: angles 0° and 60°, ascending
    tilted = np.array(
        [
            [0.0],
            [math.cos(math.radians(60))],
            [math.sin(math.radians(60))],
        ]
    )
    angles = principal_angles(e[:, :2], np.hstack([e[:, :1], tilted]))
    assert angles == pytest.approx([0.0, 60.0], abs=1e-6)
    # the basis does not matter, only its span; tensors work too
    assert principal_angles(
        torch.tensor(e[:, :2] @ [[2.0, 1.0], [1.0, 3.0]]), e[:, :2]
    ) == pytest.approx([0, 0], abs=1e-6)


def test_principal_angles_refuse_mismatched_bases():
    with pytest.raises(
        ValueError, match=r"same d; got \(3, 1\) and \(4, 1\)"
    ):
        principal_angles(np.ones((3, 1)), np.ones((4, 1)))
    with pytest.raises(ValueError, match="Need two bases"):
        principal_angles(np.ones(3), np.ones((3, 1)))


def test_decoder_basis_of_a_linear_autoencoder(x):
    model = Autoencoder([16, 3], activation="linear", output="linear")
    basis = decoder_basis(model)
    assert basis.shape == (16, 3)
    torch.testing.assert_close(
        basis, model.decoder.layers[0].weight.detach()
    )
    pca = fit_pca(x, 3)
    with torch.no_grad():
        model.decoder.layers[0].weight.copy_(
            torch.from_numpy(
                pca.components_.T @ np.diag([2.0, -1.0, 0.5])
            )
        )
    assert principal_angles(
        decoder_basis(model), pca.components_.T
    ) == pytest.approx([0, 0, 0], abs=1e-3)


def test_decoder_basis_needs_one_layer():
    with pytest.raises(
        ValueError, match="one linear layer, this one has 2"
    ):
        decoder_basis(Autoencoder([16, 8, 3], activation="linear"))
