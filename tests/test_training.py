"""aecourse.training: fit lowers the loss, its history means what it says, evaluate and predict are exact."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from aecourse.models.autoencoder import Autoencoder
from aecourse.ops.losses import reconstruction_loss
from aecourse.training import History, batches, evaluate, fit, predict


@pytest.fixture
def low_rank_data():
    """64 + 32 points in [0, 1]^16 lying near a 3-D subspace: an autoencoder with a 3-unit code can learn them."""
    g = torch.Generator().manual_seed(0)
    basis = torch.randn(3, 16, generator=g)
    codes = torch.randn(96, 3, generator=g)
    x = torch.sigmoid(codes @ basis)
    return x[:64], x[64:]


def test_a_short_fit_lowers_train_and_test_loss(low_rank_data):
    x, x_test = low_rank_data
    model = Autoencoder([16, 8, 3])
    before_train, before_test = (
        evaluate(model, x),
        evaluate(model, x_test),
    )
    history = fit(
        model,
        x,
        epochs=40,
        batch_size=16,
        lr=1e-2,
        test=x_test,
        progress=False,
    )
    assert isinstance(history, History)
    assert len(history.train) == len(history.test) == 40
    assert history.train[-1] < 0.5 * history.train[0]
    assert history.test[-1] < 0.5 * history.test[0]
    assert (
        evaluate(model, x) < 0.5 * before_train
        and evaluate(model, x_test) < 0.5 * before_test
    )


def test_fit_with_bce(low_rank_data):
    x, _ = low_rank_data
    model = Autoencoder([16, 8, 3])
    history = fit(
        model,
        x,
        loss="bce",
        epochs=30,
        batch_size=16,
        lr=1e-2,
        progress=False,
    )
    assert history.test == []
    assert history.train[-1] < history.train[0]
    # the history is the bce of reconstruction_loss, not mse
    assert history.train[-1] == pytest.approx(
        evaluate(model, x, loss="bce"), rel=0.2
    )
    assert evaluate(model, x, loss="bce") > evaluate(model, x, loss="mse")


def test_history_is_the_mean_loss_per_example():
    """With a frozen optimizer (lr = 0) every epoch's train loss is exactly the loss over the whole set,
    also when the last batch is smaller: batches are weighted by their size."""
    model = Autoencoder([5, 2])
    x = torch.rand(10, 5)
    x_test = torch.rand(7, 5)
    before = [p.detach().clone() for p in model.parameters()]
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    history = fit(
        model,
        x,
        optimizer=optimizer,
        epochs=3,
        batch_size=4,
        test=(x_test, None),
        progress=False,
    )
    full = reconstruction_loss(model(x), x).item()
    assert history.train == pytest.approx([full] * 3, rel=1e-5)
    assert history.test == pytest.approx(
        [reconstruction_loss(model(x_test), x_test).item()] * 3, rel=1e-5
    )
    # the given optimizer was used
    assert all(
        torch.equal(a, b) for a, b in zip(before, model.parameters())
    )


def test_fit_supervised_regression_reaches_least_squares():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 3, generator=g)
    y = (
        x @ torch.tensor([[1.5], [-2.0], [0.5]])
        + 0.3
        + 0.05 * torch.randn(64, 1, generator=g)
    )
    model = nn.Linear(3, 1)
    history = fit(
        model,
        x,
        y,
        loss=F.mse_loss,
        epochs=300,
        batch_size=64,
        lr=0.05,
        progress=False,
    )
    assert history.train[-1] < history.train[0] / 10
    # the reference: ordinary least squares with an intercept column
    design = torch.cat([x, torch.ones(64, 1)], 1)
    solution = torch.linalg.lstsq(design, y).solution.squeeze(1)
    fitted = torch.cat(
        [model.weight.detach().squeeze(0), model.bias.detach()]
    )
    torch.testing.assert_close(fitted, solution, atol=0.02, rtol=0)


def test_fit_supervised_classification_with_integer_targets():
    g = torch.Generator().manual_seed(1)
    y = torch.arange(60) % 3
    x = F.one_hot(y, 3).float() * 2 + 0.3 * torch.randn(
        60, 3, generator=g
    )
    model = nn.Linear(3, 3)
    history = fit(
        model,
        x,
        y,
        loss=F.cross_entropy,
        epochs=60,
        batch_size=20,
        lr=0.05,
        test=(x[:30], y[:30]),
        progress=False,
    )
    assert (
        history.train[-1] < history.train[0]
        and history.test[-1] < history.test[0]
    )
    accuracy = (predict(model, x).argmax(1) == y).float().mean().item()
    # classes two standard deviations apart: a linear model separates them
    assert accuracy > 0.9


def test_zero_epochs_change_nothing():
    model = Autoencoder([4, 2])
    before = [p.detach().clone() for p in model.parameters()]
    history = fit(model, torch.rand(5, 4), epochs=0, progress=False)
    assert history == History(train=[], test=[])
    assert all(
        torch.equal(a, b) for a, b in zip(before, model.parameters())
    )


def test_fit_does_not_change_the_data(low_rank_data):
    x, _ = low_rank_data
    copy = x.clone()
    fit(Autoencoder([16, 3]), x, epochs=2, progress=False)
    assert torch.equal(x, copy)


def test_fit_repeats_under_a_seed(low_rank_data):
    x, _ = low_rank_data

    def run():
        torch.manual_seed(123)
        model = Autoencoder([16, 4], code_noise=0.1)
        return fit(
            model, x, epochs=3, batch_size=16, progress=False
        ).train

    assert run() == run()


def test_fit_refuses_bad_arguments():
    model = Autoencoder([4, 2])
    with pytest.raises(ValueError, match="epochs must be >= 0, got -1"):
        fit(model, torch.rand(5, 4), epochs=-1, progress=False)
    with pytest.raises(
        ValueError, match="x and y must have the same length, got 5 and 4"
    ):
        fit(model, torch.rand(5, 4), torch.rand(4, 4), progress=False)
    with pytest.raises(
        ValueError, match="loss must be one of .* got 'l2'"
    ):
        fit(model, torch.rand(5, 4), loss="l2", epochs=1, progress=False)
    with pytest.raises(ValueError, match="batch_size must be positive"):
        fit(
            model,
            torch.rand(5, 4),
            batch_size=0,
            epochs=1,
            progress=False,
        )
    with pytest.raises(ValueError, match="Encoder expects"):
        fit(model, torch.rand(5, 7), epochs=1, progress=False)


def test_evaluate_is_the_mean_loss_whatever_the_batch_size():
    # evaluate must switch the noise off
    model = Autoencoder([6, 3], code_noise=1.0)
    model.train()
    x = torch.rand(11, 6)
    model.eval()
    expected = reconstruction_loss(model(x), x).item()
    model.train()
    assert evaluate(model, x, batch_size=4) == pytest.approx(
        expected, rel=1e-5
    )
    assert evaluate(model, x, batch_size=1024) == pytest.approx(
        expected, rel=1e-5
    )
    assert not model.training
    y = torch.rand(11, 6)
    assert evaluate(model, x, y, loss="bce") == pytest.approx(
        reconstruction_loss(model(x), y, "bce").item(), rel=1e-5
    )


def test_predict_in_batches_equals_one_pass():
    model = Autoencoder([6, 4, 2], code_noise=1.0)
    x = torch.rand(9, 6)
    out = predict(model, x, batch_size=2)
    assert not model.training
    torch.testing.assert_close(out, model(x))
    codes = predict(model, x, batch_size=4, method="encode")
    assert codes.shape == (9, 2)
    torch.testing.assert_close(codes, model.encode(x))
    assert not out.requires_grad


def test_noise_corrupts_the_inputs_and_keeps_the_targets_clean():
    """With lr = 0 the train loss is the loss of the model on noise(x) against the clean x."""
    model = Autoencoder([6, 3])
    x = torch.rand(12, 6)
    seen = []

    def noise(xb):
        seen.append(xb.clone())
        return torch.zeros_like(xb)

    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    history = fit(
        model,
        x,
        optimizer=optimizer,
        epochs=2,
        batch_size=5,
        noise=noise,
        progress=False,
    )
    expected = reconstruction_loss(model(torch.zeros_like(x)), x).item()
    assert history.train == pytest.approx([expected] * 2, rel=1e-5)
    assert len(seen) == 6 and sorted(
        torch.cat(seen[:3]).sum(1).tolist()
    ) == sorted(x.sum(1).tolist())


def test_a_denoising_fit_learns_to_undo_masking(low_rank_data):
    x, x_test = low_rank_data
    g = torch.Generator().manual_seed(5)
    drop = lambda xb: xb * (torch.rand(xb.shape, generator=g) > 0.3)
    noisy_test = drop(x_test)
    model = Autoencoder([16, 8, 3])
    before = evaluate(model, noisy_test, x_test)
    fit(
        model,
        x,
        epochs=60,
        batch_size=16,
        lr=1e-2,
        noise=drop,
        progress=False,
    )
    after = evaluate(model, noisy_test, x_test)
    assert after < 0.5 * before
    # better than leaving the noise in
    assert after < reconstruction_loss(noisy_test, x_test).item()


def test_penalty_is_added_to_the_loss_and_shapes_the_code():
    x = torch.rand(64, 10, generator=torch.Generator().manual_seed(1))
    l1 = lambda model, xb: 5.0 * model.encode(xb).abs().sum(1).mean()
    frozen = Autoencoder([10, 4])
    history = fit(
        frozen,
        x,
        optimizer=torch.optim.SGD(frozen.parameters(), lr=0.0),
        epochs=1,
        batch_size=64,
        penalty=l1,
        progress=False,
    )
    assert history.train[0] == pytest.approx(
        evaluate(frozen, x) + l1(frozen, x).item(), rel=1e-5
    )

    torch.manual_seed(0)
    plain, sparse = Autoencoder([10, 4]), Autoencoder([10, 4])
    sparse.load_state_dict(plain.state_dict())
    fit(plain, x, epochs=50, batch_size=16, lr=1e-2, progress=False)
    fit(
        sparse,
        x,
        epochs=50,
        batch_size=16,
        lr=1e-2,
        penalty=l1,
        progress=False,
    )
    assert (
        sparse.encode(x).abs().mean() < 0.5 * plain.encode(x).abs().mean()
    )


# --- the hook, metrics, clipping, keeping the best weights -----------------------------------------------


def test_batch_loss_hook_records_named_metrics_weighted_by_count():
    """With lr = 0 each epoch's mean is over items: a batch weighs by its "count" (here: its sum of weights),
    and every further named value lands in history.metrics, for the held-out sets with their prefix."""
    model = nn.Linear(3, 1)
    x, w = torch.rand(10, 3), torch.arange(1.0, 11.0)
    valid = (torch.rand(6, 3), torch.ones(6))

    def weighted(model, batch):
        xb, wb = batch
        per_item = model(xb).squeeze(1) ** 2
        return {
            "loss": (per_item * wb).sum() / wb.sum(),
            "largest": per_item.max(),
            "count": wb.sum(),
        }

    history = fit(
        model,
        x,
        w,
        batch_loss=weighted,
        optimizer=torch.optim.SGD(model.parameters(), lr=0.0),
        epochs=2,
        batch_size=4,
        valid=valid,
        progress=False,
    )
    out = model(x).squeeze(1).detach() ** 2
    assert history.train == pytest.approx(
        [((out * w).sum() / w.sum()).item()] * 2, rel=1e-5
    )
    assert history.valid == pytest.approx(
        [(model(valid[0]).squeeze(1) ** 2).mean().item()] * 2, rel=1e-5
    )
    assert (
        set(history.metrics) == {"largest", "valid largest"}
        and len(history.metrics["largest"]) == 2
    )
    assert history.test == [] and history.best_epoch is None


def test_the_hook_sees_training_and_evaluation_apart():
    modes = []

    def spy(model, batch):
        modes.append(model.training)
        return model(batch[0]).pow(2).mean()

    fit(
        nn.Linear(2, 1),
        torch.rand(8, 2),
        batch_loss=spy,
        epochs=1,
        batch_size=4,
        test=torch.rand(3, 2),
        progress=False,
    )
    assert modes == [True, True, False]


def test_clip_bounds_the_gradient_norm(monkeypatch):
    seen = []
    real = nn.utils.clip_grad_norm_
    monkeypatch.setattr(
        nn.utils,
        "clip_grad_norm_",
        lambda params, max_norm: (
            seen.append(max_norm) or real(params, max_norm)
        ),
    )
    model = nn.Linear(4, 1)
    fit(
        model,
        torch.rand(12, 4) * 100,
        torch.rand(12, 1),
        loss=F.mse_loss,
        epochs=1,
        batch_size=6,
        lr=1.0,
        clip=0.01,
        progress=False,
    )
    assert seen == [0.01, 0.01]
    # one plain SGD step with a clipped gradient moves the weights by at most lr · 0.01
    before = [p.detach().clone() for p in model.parameters()]
    fit(
        model,
        torch.rand(6, 4) * 100,
        torch.rand(6, 1),
        loss=F.mse_loss,
        epochs=1,
        batch_size=6,
        clip=0.01,
        optimizer=torch.optim.SGD(model.parameters(), lr=1.0),
        progress=False,
    )
    moved = torch.cat(
        [
            (p.detach() - b).flatten()
            for p, b in zip(model.parameters(), before)
        ]
    ).norm()
    assert 0 < moved <= 0.01 + 1e-6


def test_keep_best_restores_the_weights_of_the_best_validation_epoch():
    """A learning rate far too large makes the validation loss jump about; the model must end with the
    weights of the epoch that scored lowest, and score exactly that."""
    torch.manual_seed(0)
    x, y = torch.randn(64, 5), torch.randn(64, 1)
    valid = (torch.randn(32, 5), torch.randn(32, 1))
    model = nn.Linear(5, 1)
    history = fit(
        model,
        x,
        y,
        loss=F.mse_loss,
        epochs=12,
        batch_size=8,
        lr=0.5,
        valid=valid,
        keep_best=True,
        progress=False,
    )
    best = min(range(12), key=lambda e: history.valid[e])
    assert history.best_epoch == best + 1
    # the last epoch was not the best: keeping mattered
    assert history.valid[best] < history.valid[-1]
    assert evaluate(model, *valid, loss=F.mse_loss) == pytest.approx(
        history.valid[best], rel=1e-6
    )


def test_a_generator_makes_the_shuffle_independent_of_the_global_state():
    x = torch.rand(20, 4)

    def run(global_seed):
        torch.manual_seed(0)
        model = Autoencoder([4, 2])
        torch.manual_seed(global_seed)
        return fit(
            model,
            x,
            epochs=2,
            batch_size=3,
            generator=torch.Generator().manual_seed(7),
            progress=False,
        ).train

    assert run(1) == run(2)


def test_fit_refuses_a_hook_beside_the_default_loss_parts_and_keep_best_without_valid():
    model = nn.Linear(2, 1)
    hook = lambda model, batch: model(batch[0]).mean()
    with pytest.raises(
        ValueError, match="with batch_loss, do them in the hook"
    ):
        fit(
            model,
            torch.rand(4, 2),
            batch_loss=hook,
            noise=lambda xb: xb,
            progress=False,
        )
    with pytest.raises(
        ValueError,
        match="keep_best chooses the epoch on validation data: pass valid=",
    ):
        fit(
            model,
            torch.rand(4, 2),
            batch_loss=hook,
            keep_best=True,
            progress=False,
        )


def test_batches_with_a_generator_repeat_and_cover_every_index():
    x = torch.arange(10)
    first = [
        b[0].tolist()
        for b in batches(
            x, batch_size=4, generator=torch.Generator().manual_seed(1)
        )
    ]
    again = [
        b[0].tolist()
        for b in batches(
            x, batch_size=4, generator=torch.Generator().manual_seed(1)
        )
    ]
    assert (
        first == again
        and sorted(sum(first, [])) == list(range(10))
        and [len(b) for b in first] == [4, 4, 2]
    )
