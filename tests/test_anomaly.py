"""aecourse.evaluation.anomaly: reconstruction errors by hand, AUROC on constructed scores and against scikit-learn,
and a tiny autoencoder that tells a far Gaussian cluster from the one it was trained on."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score, roc_curve
from torch import nn

from aecourse.evaluation.anomaly import (
    reconstruction_errors,
    roc,
    without_class,
)
from aecourse.models.autoencoder import Autoencoder
from aecourse.training import fit


class Halve(nn.Module):
    """x ↦ x / 2: the error of each example is a hand-computable ||x/2||² = ||x||²/4."""

    def forward(self, x):
        return x / 2


def test_reconstruction_errors_by_hand():
    # (3, 1, 2)
    x = torch.tensor([[[1.0, 2.0]], [[0.0, -4.0]], [[2.0, 2.0]]])
    # (x/2 − x)² summed: (0.25 + 1), (0 + 4), (1 + 1)
    assert torch.allclose(
        reconstruction_errors(Halve(), x, batch_size=2),
        torch.tensor([1.25, 4.0, 2.0]),
    )


def test_reconstruction_errors_do_not_depend_on_batch_size_and_match_a_direct_computation():
    torch.manual_seed(0)
    model, x = Autoencoder([6, 4, 2]), torch.rand(23, 6)
    expected = (model.eval()(x) - x).pow(2).sum(1).detach()
    for b in (1, 5, 23, 100):
        assert torch.allclose(
            reconstruction_errors(model, x, batch_size=b),
            expected,
            atol=1e-6,
        )
    assert not reconstruction_errors(model, x).requires_grad


def test_reconstruction_errors_bad_input():
    with pytest.raises(ValueError, match="float tensor"):
        reconstruction_errors(
            Halve(), torch.zeros(3, 2, dtype=torch.long)
        )
    with pytest.raises(ValueError, match="batch_size"):
        reconstruction_errors(Halve(), torch.zeros(3, 2), batch_size=0)


def test_without_class_drops_one_class_and_keeps_order():
    x = torch.arange(12.0).reshape(6, 2)
    y = torch.tensor([0, 1, 2, 1, 0, 2])
    xk, yk = without_class(x, y, 1)
    assert torch.equal(yk, torch.tensor([0, 2, 0, 2]))
    assert torch.equal(xk, x[[0, 2, 4, 5]])
    with pytest.raises(ValueError, match="does not occur"):
        without_class(x, y, 7)
    with pytest.raises(ValueError, match="as long as x"):
        without_class(x, y[:3], 1)


def test_roc_perfect_chance_and_reversed():
    is_anomaly = torch.tensor([0, 0, 0, 1, 1, 1], dtype=torch.bool)
    assert (
        roc(torch.tensor([0.1, 0.2, 0.3, 0.7, 0.8, 0.9]), is_anomaly)[2]
        == 1.0
    )
    assert roc(torch.ones(6), is_anomaly)[2] == 0.5  # all tied: chance
    assert (
        roc(torch.tensor([0.9, 0.8, 0.7, 0.3, 0.2, 0.1]), is_anomaly)[2]
        == 0.0
    )
    # By hand: normal {1, 3}, anomalies {2, 4}; pairs (a > n): 2>1, 4>1, 4>3 → 3 of 4.
    fpr, tpr, auc = roc([1.0, 2.0, 3.0, 4.0], [False, True, False, True])
    assert auc == 0.75
    assert fpr[0] == 0 and tpr[0] == 0 and fpr[-1] == 1 and tpr[-1] == 1


def test_roc_agrees_with_sklearn():
    g = torch.Generator().manual_seed(0)
    labels = torch.rand(200, generator=g) < 0.3
    scores = torch.randn(200, generator=g) + labels.float()
    fpr, tpr, auc = roc(scores, labels)
    ref_fpr, ref_tpr, _ = roc_curve(
        labels.numpy(), scores.numpy().astype(np.float64)
    )
    assert np.allclose(fpr, ref_fpr) and np.allclose(tpr, ref_tpr)
    assert auc == pytest.approx(
        roc_auc_score(labels.numpy(), scores.numpy())
    )
    assert isinstance(auc, float) and isinstance(fpr, np.ndarray)


def test_roc_bad_input():
    with pytest.raises(ValueError, match="same length"):
        roc(torch.zeros(3), torch.tensor([True, False]))
    with pytest.raises(ValueError, match="both"):
        roc(torch.zeros(3), torch.ones(3, dtype=torch.bool))


def test_autoencoder_trained_on_one_cluster_flags_a_far_cluster():
    # Normal data: a cluster on a 2-D plane inside 8-D space (an autoencoder with a 2-D code can learn it).
    # Anomalies: points shifted off that plane. The reconstruction error should rank them above normal data.
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    # (8, 2) orthonormal columns
    basis = torch.linalg.qr(torch.randn(8, 2, generator=g))[0]
    normal = lambda n: torch.randn(n, 2, generator=g) @ basis.T  # noqa: E731
    train = normal(512)
    model = Autoencoder([8, 16, 2], activation="tanh", output="linear")
    fit(model, train, epochs=30, batch_size=64, lr=1e-2, progress=False)
    # far from the plane
    far = normal(100) + 3.0 * torch.randn(100, 8, generator=g)
    test = torch.cat([normal(100), far])
    is_anomaly = torch.cat([torch.zeros(100), torch.ones(100)]).bool()
    _, _, auc = roc(reconstruction_errors(model, test), is_anomaly)
    assert auc > 0.9, auc


def test_autoencoder_trained_on_a_gaussian_cluster_flags_points_from_a_far_cluster():
    # Normal: N(0, I) in 8-D; anomalies: N(4·1, I), a cluster the model never saw (distance ≈ 11 σ).
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(100)
    model = Autoencoder([8, 16, 3], activation="tanh", output="linear")
    fit(
        model,
        torch.randn(512, 8, generator=g),
        epochs=30,
        batch_size=64,
        lr=1e-2,
        progress=False,
    )
    test = torch.cat(
        [
            torch.randn(100, 8, generator=g),
            torch.randn(100, 8, generator=g) + 4.0,
        ]
    )
    _, _, auc = roc(
        reconstruction_errors(model, test), torch.arange(200) >= 100
    )
    assert auc > 0.9, auc


def test_validation_split_by_hand():
    from aecourse.evaluation.anomaly import validation_split

    x = torch.arange(40.0)[:, None]
    y = torch.arange(40) % 4  # ten examples of each of four classes
    fit_x, valid_x, is_anomaly = validation_split(x, y, 2, 18)
    normal = x[y != 2]
    assert torch.equal(fit_x, normal[:-18])
    assert torch.equal(valid_x[:18], normal[-18:])
    # 18 // 9 = 2 anomalies: the first two examples of class 2
    assert torch.equal(valid_x[18:], x[y == 2][:2])
    assert is_anomaly.tolist() == [False] * 18 + [True] * 2
    with pytest.raises(ValueError, match="n_valid"):
        validation_split(x, y, 2, 30)


def test_pca_errors_agree_with_sklearn_reconstruction():
    from sklearn.decomposition import PCA

    from aecourse.evaluation.anomaly import pca_errors

    g = torch.Generator().manual_seed(0)
    x = torch.randn(200, 1, 4, 4, generator=g, dtype=torch.float64)
    pca = PCA(6).fit(x.reshape(200, -1).numpy())
    for n in (2, 6):
        small = PCA(n).fit(x.reshape(200, -1).numpy())
        rec = small.inverse_transform(
            small.transform(x.reshape(200, -1).numpy())
        )
        expected = ((x.reshape(200, -1).numpy() - rec) ** 2).sum(1)
        assert np.allclose(
            pca_errors(pca, x, n).numpy(), expected, atol=1e-8
        )
    with pytest.raises(ValueError, match="n_components"):
        pca_errors(pca, x, 7)


def test_train_detector_keeps_the_best_validation_epoch(monkeypatch):
    from aecourse.evaluation import anomaly as module
    from aecourse.models.autoencoder import Autoencoder

    torch.manual_seed(0)
    model = Autoencoder([8, 4])
    x = torch.rand(64, 8)
    valid = torch.rand(20, 8)
    is_anomaly = torch.arange(20) >= 15
    # made-up validation AUROCs: best after epoch 2
    fake = iter([0.6, 0.9, 0.7])
    states = []

    def fake_roc(scores, labels):
        states.append(
            {k: v.clone() for k, v in model.state_dict().items()}
        )
        return None, None, next(fake)

    monkeypatch.setattr(module, "roc", fake_roc)
    trained, best, aurocs = module.train_detector(
        model, x, valid, is_anomaly, 3, progress=False
    )
    assert best == 2 and aurocs == [0.6, 0.9, 0.7]
    for k, v in trained.state_dict().items():
        assert torch.equal(v, states[1][k])
    with pytest.raises(ValueError, match="max_epochs"):
        module.train_detector(model, x, valid, is_anomaly, 0)


def test_choose_pca_components_takes_the_best_validation_auroc():
    from sklearn.decomposition import PCA

    from aecourse.evaluation.anomaly import (
        choose_pca_components,
        pca_errors,
    )

    g = torch.Generator().manual_seed(1)
    # normal data on a 2-D plane in 6-D; anomalies off it
    normal = torch.randn(
        300, 2, generator=g, dtype=torch.float64
    ) @ torch.randn(2, 6, generator=g, dtype=torch.float64)
    odd = torch.randn(30, 6, generator=g, dtype=torch.float64)
    pca = PCA(6).fit(normal[:200].numpy())
    valid = torch.cat([normal[200:], odd])
    is_odd = torch.arange(len(valid)) >= 100
    best, aurocs = choose_pca_components(pca, valid, is_odd, (2, 6))
    expected = {
        n: roc_auc_score(
            is_odd.numpy(), pca_errors(pca, valid, n).numpy()
        )
        for n in (2, 6)
    }
    assert aurocs == pytest.approx(expected)
    assert best == 2 and aurocs[2] > 0.99
