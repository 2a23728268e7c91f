"""aecourse.experiments.masking_ratio and its report: a tiny grid runs, writes stamped rows and resumes
only what is missing; the splits are disjoint; few-label subsets are class-balanced and drawn from the
training split only; the held-out loss is the error rate; select() chooses by validation, never by test;
summarise() and gain() by hand."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import scipy.stats
import torch
import torch.nn.functional as F
import torchvision

from aecourse.experiments import masking_ratio as mr
from aecourse.experiments import masking_ratio_report as report
from aecourse.experiments.stamp import code_hash, read_results

TINY = [
    "--device",
    "cpu",
    "--threads",
    "1",
    "--seeds",
    "0",
    "--ratios",
    "0.75",
    "0.5",
    "--label-counts",
    "10",
    "20",
    "--lrs",
    "0.001",
    "0.01",
    "--train-size",
    "60",
    "--valid-size",
    "20",
    "--test-size",
    "20",
    "--patch-size",
    "7",
    "--dim",
    "8",
    "--depth",
    "1",
    "--heads",
    "2",
    "--decoder-dim",
    "8",
    "--decoder-depth",
    "1",
    "--pretrain-epochs",
    "2",
    "--pretrain-batch",
    "16",
    "--dae-hidden",
    "16",
    "--dae-batch",
    "16",
    "--batch-size",
    "10",
    "--finetune-epochs",
    "2",
    "--epoch-size",
    "20",
    "--probe-epochs",
    "2",
]


@pytest.fixture
def tiny_fashion(make_idx_data, monkeypatch):
    """A synthetic Fashion-MNIST of 80 training and 20 test images (labels cycle through the 10
    classes): no real data needed."""
    data = make_idx_data(
        cls=torchvision.datasets.FashionMNIST, n_train=80, n_test=20
    )
    monkeypatch.setenv("AECOURSE_DATA", str(data.root))
    return data


def _key(row: dict) -> tuple:
    return tuple(row[k] for k in mr.KEY)


# --- the tiny grid ---------------------------------------------------------------------------------


def test_tiny_grid_writes_stamped_rows_and_resumes(
    tiny_fashion, tmp_path
):
    out = tmp_path / "sweep.json"
    rows = mr.main([*TINY, "--out", str(out)]).rows
    # 4 methods at seed 0, mae at a second ratio: 5 units × 3 evaluations × 2 learning rates
    assert len(rows) == 30 and len({_key(r) for r in rows}) == 30
    saved, stamp = read_results(out)
    assert saved == rows and stamp["complete"] is True
    assert stamp["code_hash"] == code_hash(mr.EXPERIMENT)
    assert stamp["config"]["train_size"] == 60
    assert stamp["command"][:3] == ["python", "-m", mr.EXPERIMENT]
    assert {(r["method"], r["ratio"]) for r in rows} == {
        ("mae", 0.75),
        ("mae", 0.5),
        ("random", None),
        ("dae", None),
        ("pixels", None),
    }
    assert {r["evaluation"] for r in rows} == {
        "probe",
        "few-10",
        "few-20",
    }
    for row in rows:
        pretrained = row["method"] in ("mae", "dae")
        assert len(row["pretrain_losses"]) == (2 if pretrained else 0)
        # 20 validation and 20 test images: accuracies are multiples of 1/20
        for split in ("valid_accuracy", "test_accuracy"):
            assert 0 <= row[split] <= 1
            assert row[split] * 20 == pytest.approx(
                round(row[split] * 20)
            )
        if row["evaluation"] == "probe":
            dims = {"mae": 8, "random": 8, "dae": 16, "pixels": 784}
            assert row["features"] == dims[row["method"]]
            assert row["labels"] == 60 and row["epoch"] == 2
        else:
            assert row["labels"] == int(row["evaluation"][4:])
            # the kept epoch is the most accurate on the validation split
            assert 1 <= row["epoch"] <= 2
            assert row["valid_accuracy"] == pytest.approx(
                max(row["valid_accuracies"]), abs=1e-4
            )
            assert row["valid_accuracy"] == pytest.approx(
                row["valid_accuracies"][row["epoch"] - 1], abs=1e-4
            )
    # the same command again finds every row there and adds nothing
    again = mr.main([*TINY, "--out", str(out)])
    assert again.rows == rows
    assert len(read_results(out)[1]["sessions"]) == 2


def test_resume_runs_only_the_missing_rows(
    tiny_fashion, tmp_path, monkeypatch
):
    out = tmp_path / "sweep.json"
    args = [*TINY, "--methods", "mae", "pixels", "--ratios", "0.75"]
    first = mr.main([*args, "--out", str(out)]).rows
    assert len(first) == 12  # 2 units × 3 evaluations × 2 learning rates
    # a session that died in the middle of the pixels unit: its last two rows are missing
    data = json.loads(out.read_text())
    data["rows"] = data["rows"][:-2]
    out.write_text(json.dumps(data))
    pretrained = []
    real = mr.pretrain
    monkeypatch.setattr(
        mr,
        "pretrain",
        lambda method, *a, **k: (
            pretrained.append(method) or real(method, *a, **k)
        ),
    )
    again = mr.main([*args, "--out", str(out)]).rows
    assert pretrained == ["pixels"]  # the finished mae unit is skipped
    assert again[:10] == first[:10]
    assert [_key(r) for r in again[10:]] == [_key(r) for r in first[10:]]
    # the redone rows are the same runs: same data, seed, batch order
    for a, b in zip(again[10:], first[10:]):
        assert a["test_accuracy"] == b["test_accuracy"]


def test_a_spent_budget_stops_before_the_next_unit(
    tiny_fashion, tmp_path
):
    out = tmp_path / "sweep.json"
    f = mr.main([*TINY, "--hours", "0", "--out", str(out)])
    assert f.rows == [] and f.stamp["complete"] is False


# --- data ------------------------------------------------------------------------------------------


def test_splits_are_disjoint_training_images_and_the_test_file(
    tiny_fashion,
):
    config = mr.Config(train_size=50, valid_size=20, test_size=15)
    s = mr.load_splits(config)
    file_train = torch.as_tensor(tiny_fashion.train_x).float() / 255
    file_test = torch.as_tensor(tiny_fashion.test_x).float() / 255
    assert torch.equal(s.train_x[:, 0], file_train[:50])
    assert torch.equal(s.valid_x[:, 0], file_train[50:70])
    assert torch.equal(s.test_x[:, 0], file_test[:15])
    assert s.train_y.tolist() == tiny_fashion.train_y[:50].tolist()
    assert s.valid_y.tolist() == tiny_fashion.train_y[50:70].tolist()
    # no validation image is a training image (the synthetic images are all different)
    same = (
        s.valid_x.flatten(1)[:, None] == s.train_x.flatten(1)[None]
    ).all(-1)
    assert not same.any()
    with pytest.raises(ValueError, match="training images"):
        mr.load_splits(mr.Config(train_size=70, valid_size=20))


def test_labelled_subsets_are_balanced_and_drawn_by_seed():
    labels = torch.arange(300) % 10
    labels = labels[
        torch.randperm(300, generator=torch.Generator().manual_seed(1))
    ]
    chosen = mr.labelled_subset(labels, 100, seed=0)
    assert len(chosen) == 100 and len(set(chosen.tolist())) == 100
    assert 0 <= chosen.min() and chosen.max() < 300
    assert (
        np.bincount(labels[chosen].numpy(), minlength=10).tolist()
        == [10] * 10
    )
    assert torch.equal(chosen, mr.labelled_subset(labels, 100, seed=0))
    assert set(chosen.tolist()) != set(
        mr.labelled_subset(labels, 100, seed=1).tolist()
    )
    with pytest.raises(ValueError, match="multiple"):
        mr.labelled_subset(labels, 15, seed=0)
    with pytest.raises(ValueError, match="fewer"):
        mr.labelled_subset(labels, 400, seed=0)


def test_few_label_training_sees_only_training_images(monkeypatch):
    g = torch.Generator().manual_seed(0)
    images = torch.rand(130, 1, 28, 28, generator=g)
    labels = torch.arange(130) % 10
    splits = mr.Splits(
        images[:100], labels[:100], images[100:120], labels[100:120],
        images[120:], labels[120:],
    )  # fmt: skip
    config = mr.Config(
        lrs=(0.01,), finetune_epochs=1, epoch_size=45, batch_size=10
    )
    seen = []
    real = mr.fit
    monkeypatch.setattr(
        mr,
        "fit",
        lambda net, x, y, **k: (
            seen.append((x, y)) or real(net, x, y, **k)
        ),
    )
    rows = list(
        mr.few_label_rows(
            None, splits, seed=3, n_labels=20, config=config
        )
    )
    ((x, y),) = seen
    # 20 labelled images, repeated ceil(45 / 20) = 3 times to make an epoch
    assert len(x) == 60 and rows[0]["labels"] == 20
    where = (x.flatten(1)[:, None] == images.flatten(1)[None]).all(-1)
    index = where.float().argmax(1)
    assert (
        where.any(1).all() and (index < 100).all()
    )  # training split only
    assert torch.equal(y, labels[index])
    assert np.bincount(y.numpy(), minlength=10).tolist() == [6] * 10


def test_held_out_loss_is_the_error_rate():
    class Fixed(torch.nn.Module):
        def forward(self, x):
            return x

    logits = torch.tensor(
        [[2.0, 0.0], [0.0, 1.0], [3.0, 1.0], [0.0, 0.5]]
    )
    y = torch.tensor([0, 0, 0, 1])  # the second is wrong
    model = Fixed()
    model.train()
    train = mr.classification_loss(model, (logits, y))
    assert train["loss"] == pytest.approx(
        F.cross_entropy(logits, y).item()
    )
    model.eval()
    held_out = mr.classification_loss(model, (logits, y))
    assert held_out["loss"].item() == pytest.approx(0.25)
    assert held_out["cross_entropy"] == pytest.approx(
        train["loss"].item()
    )


# --- the grid and its arguments ----------------------------------------------------------------------


def test_units_put_the_first_ratio_and_the_baselines_first():
    config = mr.Config()
    todo = mr.units(config)
    assert len(todo) == 3 * 4 + 3 * 3
    assert todo[:4] == [
        ("mae", 0.75, 0),
        ("random", None, 0),
        ("pixels", None, 0),
        ("dae", None, 0),
    ]
    assert {u[2] for u in todo[:12]} == {0, 1, 2}
    assert todo[12:15] == [("mae", 0.9, s) for s in (0, 1, 2)]
    shards = [todo[k::2] for k in range(2)]
    # with two shards, each gets one of the two pretrainings of every seed's first units
    assert [u[0] for u in shards[0][:2]] == ["mae", "pixels"]
    assert sorted(shards[0] + shards[1], key=str) == sorted(todo, key=str)
    assert mr.parse_shard("1/2") == (1, 2)
    for bad in ("2/2", "x", "1"):
        with pytest.raises(ValueError, match="shard"):
            mr.parse_shard(bad)


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(ratios=(1.0,)), r"ratio must be a number in \[0, 1\)"),
        (dict(methods=("mae", "vae")), "methods must"),
        (dict(label_counts=(15,)), "multiples"),
        (dict(seeds=(0, 0)), "seeds must be distinct"),
        (dict(train_size=59_000), "60 000"),
        (dict(lrs=()), "lrs must"),
        (dict(dae_noise=1.5), "dae_noise"),
        (dict(depth=0), "depth"),
        (dict(heads=3), "heads must divide dim"),
        (dict(patch_size=5), "patch_size 5 must divide"),
    ],
)
def test_bad_configs_say_what_is_wrong(change, message):
    with pytest.raises(ValueError, match=message):
        mr.Config(**change).check()


def test_main_exits_with_the_error_for_bad_arguments():
    with pytest.raises(SystemExit, match="shard"):
        mr.main([*TINY, "--shard", "3/2", "--out", "/dev/null"])


# --- the report ------------------------------------------------------------------------------------


def _row(method, seed, evaluation, lr, valid, test, ratio=None):
    return {
        "method": method,
        "ratio": ratio,
        "seed": seed,
        "evaluation": evaluation,
        "lr": lr,
        "valid_accuracy": valid,
        "test_accuracy": test,
    }


def test_select_chooses_by_validation_never_by_test():
    rows = [
        # the best test accuracy (0.95) has a worse validation accuracy than lr 1e-3
        _row("mae", 0, "few-100", 1e-4, 0.70, 0.90, ratio=0.75),
        _row("mae", 0, "few-100", 1e-3, 0.80, 0.60, ratio=0.75),
        _row("mae", 0, "few-100", 1e-2, 0.75, 0.95, ratio=0.75),
        # a tie on validation: the first in the file
        _row("pixels", 0, "probe", 1e-3, 0.50, 0.10),
        _row("pixels", 0, "probe", 1e-2, 0.50, 0.90),
    ]
    chosen = report.select(rows)
    assert [
        (r["method"], r["lr"], r["test_accuracy"]) for r in chosen
    ] == [
        ("mae", 1e-3, 0.60),
        ("pixels", 1e-3, 0.10),
    ]
    assert report.select(chosen) == chosen


def test_summarise_by_hand():
    tests = [0.80, 0.84, 0.86]
    rows = []
    for seed, test in enumerate(tests):
        rows.append(
            _row("mae", seed, "probe", 1e-3, 0.9, test, ratio=0.75)
        )
        # a learning rate the validation split rejects: its test numbers must not count
        rows.append(
            _row("mae", seed, "probe", 1e-2, 0.1, 0.0, ratio=0.75)
        )
    rows.append(_row("random", 0, "probe", 1e-3, 0.5, 0.70))
    table = report.summarise(rows)
    mae, random = table
    # mean 2.5 / 3; deviations −1/30, 1/150, 4/150; s² = (1/900 + 1/22500 + 16/22500) / 2 = 7/7500
    assert mae["mean"] == pytest.approx(2.5 / 3)
    assert mae["sem"] == pytest.approx(math.sqrt(7 / 7500 / 3))
    assert mae["sem"] == pytest.approx(scipy.stats.sem(tests))
    assert (mae["n"], mae["lrs"]) == (3, [1e-3] * 3)
    assert random["n"] == 1 and math.isnan(random["sem"])
    shown = report.summary_table(table)
    assert shown.columns == ["encoder", "probe", "seeds"]
    # one seed has no spread: its cell shows the mean alone
    assert shown.rows == [
        ["MAE, 75% hidden", "83.3 ± 1.8", "3"],
        ["same transformer, random weights", "70.0", "1"],
    ]


def test_summary_table_orders_ratios_then_baselines():
    table = [
        dict(method=m, ratio=r, evaluation=e, n=3, mean=0.5, sem=0.01)
        for m, r in (
            ("pixels", None),
            ("mae", 0.9),
            ("random", None),
            ("mae", 0.25),
        )
        for e in ("probe", "few-100")
        if (m, e) != ("pixels", "few-100")
    ]
    shown = report.summary_table(table)
    assert [row[0] for row in shown.rows] == [
        "MAE, 25% hidden",
        "MAE, 90% hidden",
        "same transformer, random weights",
        "raw pixels",
    ]
    # a missing cell is a dash, not an error
    assert shown.rows[-1][1:] == ["50.0 ± 1.0", "-", "3"]


def test_gain_pairs_seeds():
    rows = [
        _row("mae", 0, "few-100", 1e-3, 0.9, 0.70, ratio=0.75),
        _row("mae", 1, "few-100", 1e-3, 0.9, 0.74, ratio=0.75),
        _row("random", 0, "few-100", 1e-3, 0.9, 0.60),
        _row("random", 1, "few-100", 1e-3, 0.9, 0.68),
        _row(
            "random", 2, "few-100", 1e-3, 0.9, 0.10
        ),  # no mae of seed 2: left out
    ]
    mean, se = report.gain(rows, "few-100")
    # differences 0.10 and 0.06: mean 0.08, sd √0.0008 = 0.0283, se 0.02
    assert mean == pytest.approx(0.08) and se == pytest.approx(0.02)
    with pytest.raises(ValueError, match="no seed"):
        report.gain(rows, "probe")


def test_read_and_plot(tiny_fashion, tmp_path):
    out = tmp_path / "sweep.json"
    mr.main([*TINY, "--methods", "pixels", "--out", str(out)])
    rows, stamp = report.read(out)
    assert stamp["experiment"] == mr.EXPERIMENT and len(rows) == 6
    data = json.loads(out.read_text())
    data["stamp"]["experiment"] = "aecourse.experiments.mida"
    out.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="not by"):
        report.read(out)
    table = [
        dict(method=m, ratio=r, evaluation=e, n=3, mean=0.5, sem=0.01)
        for m, r in (("mae", 0.5), ("mae", 0.75), ("dae", None))
        for e in ("probe", "few-100")
    ]
    fig = report.plot_summary(table)
    assert len(fig.axes) == 2
    assert len(fig.axes[0].lines) >= 2  # the MAE's line and the DAE's
