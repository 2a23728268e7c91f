"""aecourse.evaluation.imputation: RMSE by hand, the baselines against NumPy and scikit-learn, observed entries left
alone by every imputer, and the MIDA-style autoencoder beating mean imputation on breast cancer."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.datasets import load_wine
from sklearn.impute import KNNImputer
from sklearn.model_selection import train_test_split

from aecourse.evaluation.imputation import (
    column_means,
    drop_observed,
    impute_autoencoder,
    impute_iterative,
    impute_knn,
    impute_mean,
    load_table,
    observed_mse,
    pool_imputations,
    remove_entries,
    rmse_on,
    train_imputer,
)
from aecourse.models.autoencoder import Autoencoder

NAN = float("nan")


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.fixture(scope="module")
def table():
    return load_table("breast_cancer")


def test_load_table_standardizes_with_the_training_rows(table):
    assert (
        table.train.dtype == torch.float32
        and table.train.shape[1] == table.test.shape[1] == 30
    )
    assert (
        len(table.train) + len(table.test) == 569
        and len(table.feature_names) == 30
    )
    assert torch.allclose(table.train.mean(0), torch.zeros(30), atol=1e-5)
    assert torch.allclose(
        table.train.std(0, unbiased=False), torch.ones(30), atol=1e-4
    )
    # not its own statistics
    assert not torch.allclose(
        table.test.mean(0), torch.zeros(30), atol=1e-3
    )
    with pytest.raises(ValueError, match="Unknown table"):
        load_table("iris2")


def test_load_table_test_rows_use_the_training_scaler():
    # The same split by hand, standardized with the raw training rows' mean and (population) std.
    t = load_table("wine", seed=3)
    train_raw, test_raw = train_test_split(
        load_wine().data, test_size=0.25, random_state=3
    )
    mu, sd = train_raw.mean(0), train_raw.std(0)
    assert np.allclose(
        t.train.double().numpy(), (train_raw - mu) / sd, atol=1e-5
    )
    assert np.allclose(
        t.test.double().numpy(), (test_raw - mu) / sd, atol=1e-5
    )
    with pytest.raises(ValueError, match="test_fraction"):
        load_table("wine", test_fraction=1.0)


def test_remove_entries_is_mcar_at_the_asked_rate_and_reproducible():
    x = torch.randn(500, 40, generator=gen(1))
    xm, mask = remove_entries(x, 0.2, gen(2))
    assert mask.dtype == torch.bool and mask.shape == x.shape
    assert torch.equal(xm.isnan(), mask) and torch.equal(
        xm[~mask], x[~mask]
    )
    assert abs(mask.double().mean().item() - 0.2) < 5 * math.sqrt(
        0.2 * 0.8 / x.numel()
    )
    assert torch.equal(remove_entries(x, 0.2, gen(2))[1], mask)
    assert (
        not remove_entries(x, 0.0)[1].any()
        and remove_entries(x, 1.0)[1].all()
    )
    with pytest.raises(
        ValueError,
        match=r"fraction must be a number in \[0, 1\], got 1\.5",
    ):
        remove_entries(x, 1.5)
    with pytest.raises(ValueError, match="NaN"):
        remove_entries(xm, 0.1)


def test_rmse_on_by_hand():
    x = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    # errors 3 and -4 at the masked entries
    x_hat = torch.tensor([[1.0, 5.0], [3.0, 0.0]])
    mask = torch.tensor([[False, True], [False, True]])
    assert rmse_on(x, x_hat, mask) == pytest.approx(
        math.sqrt((9 + 16) / 2)
    )
    # An error outside the mask does not count.
    assert rmse_on(
        x, x_hat + torch.tensor([[100.0, 0.0], [0.0, 0.0]]), mask
    ) == pytest.approx(math.sqrt(12.5))
    with pytest.raises(ValueError, match="no True"):
        rmse_on(x, x_hat, torch.zeros(2, 2, dtype=torch.bool))
    with pytest.raises(ValueError, match="NaN"):
        rmse_on(x, torch.full((2, 2), NAN), mask)


def test_impute_mean_uses_the_observed_training_means():
    train = torch.tensor([[1.0, NAN], [3.0, 10.0], [NAN, 20.0]])
    assert torch.equal(column_means(train), torch.tensor([2.0, 15.0]))
    x = torch.tensor([[NAN, 0.5], [7.0, NAN]])
    assert torch.equal(
        impute_mean(x, train), torch.tensor([[2.0, 0.5], [7.0, 15.0]])
    )
    # Against NumPy's nanmean on a larger random case.
    t = torch.randn(50, 6, generator=gen(3))
    tm, _ = remove_entries(t, 0.3, gen(4))
    xm, mask = remove_entries(
        torch.randn(20, 6, generator=gen(5)), 0.3, gen(6)
    )
    means = torch.from_numpy(
        np.nanmean(tm.double().numpy(), axis=0)
    ).float()
    assert torch.allclose(
        impute_mean(xm, tm)[mask], means.expand(20, 6)[mask], atol=1e-6
    )
    with pytest.raises(ValueError, match="no observed entry"):
        impute_mean(x, torch.tensor([[NAN, 1.0]]))


def test_impute_knn_agrees_with_sklearn(table):
    trm, _ = remove_entries(table.train, 0.2, gen(7))
    tem, mask = remove_entries(table.test, 0.2, gen(8))
    ours = impute_knn(tem, trm, k=5)
    ref = (
        KNNImputer(n_neighbors=5)
        .fit(trm.double().numpy())
        .transform(tem.double().numpy())
    )
    assert np.allclose(ours.double().numpy(), ref, atol=1e-5)
    assert not ours.isnan().any()
    with pytest.raises(
        ValueError, match="k must be an integer >= 1, got 0"
    ):
        impute_knn(tem, trm, k=0)


def test_observed_mse_ignores_missing_entries():
    out = torch.tensor([[1.0, 100.0], [2.0, 0.0]], requires_grad=True)
    target = torch.tensor([[0.0, NAN], [4.0, 1.0]])
    loss = observed_mse(out, target)
    assert loss.item() == pytest.approx((1 + 4 + 1) / 3)
    loss.backward()
    assert out.grad[0, 1] == 0 and torch.isfinite(out.grad).all()


def test_drop_observed_sets_entries_to_the_fill_at_rate_p():
    fill = torch.tensor([5.0, -5.0])
    x = torch.zeros(4000, 2)
    out = drop_observed(fill, 0.5, gen(9))(x)
    dropped = out != 0
    assert torch.equal(out[dropped], fill.expand(4000, 2)[dropped])
    assert abs(dropped.double().mean().item() - 0.5) < 5 * math.sqrt(
        0.25 / x.numel()
    )


def test_no_imputer_changes_an_observed_entry(table):
    trm, _ = remove_entries(table.train, 0.2, gen(10))
    tem, mask = remove_entries(table.test, 0.2, gen(11))
    torch.manual_seed(0)
    # untrained: any output will do
    model = Autoencoder([30, 37], activation="tanh", output="linear")
    for imputed in (
        impute_mean(tem, trm),
        impute_knn(tem, trm, 3),
        impute_autoencoder(model, tem, column_means(trm)),
    ):
        assert torch.equal(imputed[~mask], table.test[~mask])
        assert not imputed.isnan().any()


def test_autoencoder_imputer_beats_mean_imputation_on_breast_cancer(
    table,
):
    # Measured here (100 epochs): RMSE mean 0.946, KNN (k=5) 0.498, autoencoder 0.528 standard deviations;
    # over 10 other removal/initialisation seeds the ratio autoencoder/mean stayed in 0.55-0.63. So we ask for
    # a clear margin over the mean (< 0.75 of it), not just any improvement. It does not reliably beat KNN.
    torch.manual_seed(0)
    trm, _ = remove_entries(table.train, 0.2, gen(0))
    tem, mask = remove_entries(table.test, 0.2, gen(1))
    model, fill = train_imputer(trm, epochs=100, generator=gen(2))
    rmse_mean = rmse_on(table.test, impute_mean(tem, trm), mask)
    rmse_ae = rmse_on(
        table.test, impute_autoencoder(model, tem, fill), mask
    )
    assert rmse_ae < 0.75 * rmse_mean, (rmse_ae, rmse_mean)


@pytest.mark.filterwarnings(
    "ignore::sklearn.exceptions.ConvergenceWarning"
)
def test_impute_iterative_agrees_with_sklearn(table):
    from sklearn.experimental import enable_iterative_imputer  # noqa: F401
    from sklearn.impute import IterativeImputer

    trm, _ = remove_entries(table.train, 0.2, gen(7))
    tem, _ = remove_entries(table.test, 0.2, gen(8))
    for posterior in (False, True):
        ours = impute_iterative(
            tem, trm, max_iter=3, sample_posterior=posterior, seed=4
        )
        ref = (
            IterativeImputer(
                max_iter=3, sample_posterior=posterior, random_state=4
            )
            .fit(trm.double().numpy())
            .transform(tem.double().numpy())
        )
        assert np.allclose(ours.double().numpy(), ref, atol=1e-5)
        observed = ~tem.isnan()
        assert torch.equal(ours[observed], tem[observed])
    with pytest.raises(ValueError, match="max_iter"):
        impute_iterative(tem, trm, max_iter=0)
    with pytest.raises(ValueError, match="same columns"):
        impute_iterative(tem[:, :5], trm)


def test_pool_imputations_by_hand():
    mask = torch.tensor([[True, False], [False, True]])
    a = torch.tensor([[1.0, 5.0], [7.0, 2.0]])
    b = torch.tensor([[3.0, 5.0], [7.0, 6.0]])
    pooled, spread = pool_imputations([a, b], mask)
    assert torch.equal(pooled, torch.tensor([[2.0, 5.0], [7.0, 4.0]]))
    # standard deviations (n - 1) at the two missing entries: sqrt(2) and sqrt(8)
    assert spread == pytest.approx((math.sqrt(2) + math.sqrt(8)) / 2)
    one, no_spread = pool_imputations([a], mask)
    assert torch.equal(one, a) and no_spread == 0.0
    with pytest.raises(ValueError):
        pool_imputations([], mask)
    with pytest.raises(ValueError):
        pool_imputations([a, b[:1]], mask)


def test_train_imputer_snapshots_are_one_run_cut_at_each_count(table):
    from aecourse.evaluation.imputation import train_imputer_snapshots

    x, _ = remove_entries(table.train[:64], 0.2, gen(3))
    torch.manual_seed(0)
    (one, three), fill = train_imputer_snapshots(
        x, (1, 3), generator=gen(5)
    )
    torch.manual_seed(0)
    straight, fill2 = train_imputer(x, epochs=3, generator=gen(5))
    assert torch.equal(fill, fill2)
    for a, b in zip(three.parameters(), straight.parameters()):
        assert torch.allclose(a, b)
    assert not all(
        torch.equal(a, b)
        for a, b in zip(one.parameters(), three.parameters())
    )
    for bad in ((), (3, 1), (1, 1), (-1,)):
        with pytest.raises(ValueError, match="increasing"):
            train_imputer_snapshots(x, bad)
