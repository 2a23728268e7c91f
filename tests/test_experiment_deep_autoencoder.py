"""aecourse.experiments.deep_autoencoder: the unrolled starts, fine-tuning with the choice on validation,
the summary, the shards and a smoke run of the script into a stamped, resumable file."""

from __future__ import annotations

import math

import pytest
import torch

from aecourse.experiments import deep_autoencoder as E
from aecourse.experiments.stamp import merge_results, read_results
from aecourse.models.rbm import RBM

TINY_SIZES = [784, 12, 3]


def tiny_config(**changes) -> E.Config:
    base = dict(
        inits=list(E.INITS),
        seeds=[0],
        sizes=TINY_SIZES,
        train_size=30,
        valid_size=10,
        test_size=8,
        pretrain_epochs=1,
        pretrain_batch=10,
        finetune_epochs=2,
        finetune_batch=10,
        sgd_lrs=[0.01],
        adam_lrs=[1e-3],
    )
    base.update(changes)
    return E.Config(**base)


@pytest.fixture
def tiny_mnist(make_idx_data, monkeypatch):
    data = make_idx_data(n_train=40, n_test=12)
    monkeypatch.setenv("AECOURSE_DATA", str(data.root))
    return data


def test_paper_numbers():
    assert (E.PAPER["autoencoder"], E.PAPER["logistic PCA"]) == (
        3.00,
        8.01,
    )
    assert E.PAPER["PCA"] == 13.87


def test_data_splits(tiny_mnist):
    data = E.load_data(tiny_config(), "cpu")
    assert data["train"].shape == (20, 784)
    assert data["valid"].shape == (10, 784)
    assert data["test"].shape == (8, 784)
    pixels = torch.from_numpy(tiny_mnist.train_x).float().flatten(1) / 255
    assert torch.equal(data["valid"], pixels[20:30])


def test_squared_error_is_summed_over_pixels_and_averaged_over_images():
    class Half(torch.nn.Module):
        def forward(self, x):
            return torch.full_like(x, 0.5)

    x = torch.zeros(4, 784)
    x[0] = 1.0  # every image is 0.5 away from 0.5 in every pixel
    assert E.squared_error(Half(), x) == pytest.approx(784 * 0.25)
    assert E.squared_error(Half(), torch.full((4, 784), 0.5)) == 0


def test_unrolled_autoencoder_stack_reproduces_its_layers():
    torch.manual_seed(0)
    x = torch.rand(20, 784)
    cfg = tiny_config()
    aes = E.autoencoder_stack(x, cfg)
    assert [ae.code_size for ae in aes] == [12, 3]
    deep = E.unroll_autoencoders(aes)
    with torch.no_grad():
        code = aes[1].encode(aes[0].encode(x))
        assert torch.allclose(deep.encode(x), code, atol=1e-6)
        out = aes[0].decode(aes[1].decode(code))
        assert torch.allclose(deep(x), out, atol=1e-6)
    # the code layer is linear, as in the paper
    assert not isinstance(deep.encoder.layers[-1], torch.nn.Sigmoid)


def test_starting_nets():
    x = torch.rand(20, 784)
    cfg = tiny_config()
    for init in E.INITS:
        net = E.starting_net(init, x, cfg, seed=0)
        assert net(x).shape == x.shape
    # none and modern are the same shape, with other units
    none = E.starting_net("none", x, cfg, seed=0)
    modern = E.starting_net("modern", x, cfg, seed=0)
    assert isinstance(none.encoder.layers[1], torch.nn.Sigmoid)
    assert isinstance(modern.encoder.layers[1], torch.nn.ReLU)
    # the rbm start is seeded: the same seed, the same net
    a = E.starting_net("rbm", x, cfg, seed=3).state_dict()
    b = E.starting_net("rbm", x, cfg, seed=3).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    with pytest.raises(ValueError):
        E.starting_net("dbn", x, cfg, seed=0)


def test_fine_tune_keeps_the_best_validation_epoch_and_resumes(tmp_path):
    torch.manual_seed(0)
    x = torch.rand(30, 784)
    data = {"train": x[:20], "valid": x[20:], "test": x[20:]}
    cfg = tiny_config(finetune_epochs=3)
    net = E.starting_net("none", x, cfg, seed=0)
    ckpt = tmp_path / "c.pt"
    result = E.fine_tune(
        net,
        data,
        optimizer="momentum",
        lr=0.01,
        config=cfg,
        checkpoint=ckpt,
    )
    assert len(result["valid"]) == len(result["train"]) == 3
    best = min(range(3), key=lambda i: result["valid_bce"][i])
    assert result["best_epoch"] == best + 1
    # the net is left at its best epoch
    assert E.squared_error(net, data["valid"]) == pytest.approx(
        result["valid"][best], rel=1e-5
    )
    # a finished checkpoint is resumed with nothing left to do
    again = E.fine_tune(
        E.starting_net("none", x, cfg, seed=0),
        data,
        optimizer="momentum",
        lr=0.01,
        config=cfg,
        checkpoint=ckpt,
    )
    assert again["valid"] == result["valid"]
    with pytest.raises(ValueError):
        E.fine_tune(net, data, optimizer="lbfgs", lr=0.1, config=cfg)


def test_summary_mean_and_standard_error():
    rows = [
        {"init": "rbm", "seed": s, "test_error": t, "valid_error": t,
         "train_error": t, "best_epoch": 2, "epochs": 3,
         "valid_curve": [5.0, t, t]}
        for s, t in enumerate([3.0, 4.0, 5.0])
    ] + [{"init": "pca", "seed": 0, "test_error": 13.0,
          "valid_error": 13.0, "train_error": 13.0}]  # fmt: skip
    table = {e["init"]: e for e in E.summarise(rows)}
    assert table["rbm"]["test_error"] == pytest.approx(4.0)
    assert table["rbm"]["test_se"] == pytest.approx(1 / math.sqrt(3))
    assert table["pca"]["test_se"] == 0.0 and table["rbm"]["n"] == 3
    assert list(table) == ["pca", "rbm"]
    assert "13.87" in E.format_summary(E.summarise(rows))
    assert E.curves(rows)["rbm"].tolist() == [5.0, 4.0, 4.0]


def test_shards_cover_the_grid_once():
    cfg = tiny_config(seeds=[0, 1, 2])
    whole = E.units(cfg)
    assert len(whole) == 2 + 4 * 3
    parts = [E.units(cfg, (k, 3)) for k in range(3)]
    assert sorted(u for p in parts for u in p) == sorted(whole)
    # each shard gets pretrained runs
    assert all(any(i in ("rbm", "ae") for i, _ in p) for p in parts)


def test_bad_config():
    with pytest.raises(ValueError):
        tiny_config(inits=["dbn"]).check()
    with pytest.raises(ValueError):
        tiny_config(valid_size=30).check()
    with pytest.raises(ValueError):
        tiny_config(sizes=[100, 3]).check()
    with pytest.raises(ValueError):
        tiny_config(finetune_epochs=0).check()
    with pytest.raises(ValueError):
        E._shard("3/3")


TINY = [
    "--sizes", "784", "12", "3", "--train-size", "30", "--valid-size",
    "10", "--test-size", "8", "--pretrain-epochs", "1",
    "--finetune-epochs", "2", "--sgd-lrs", "0.01", "0.03",
    "--adam-lrs", "0.001", "--seeds", "0", "--device", "cpu",
    "--threads", "1",
]  # fmt: skip


def test_the_script_writes_a_stamped_resumable_file(tiny_mnist, tmp_path):
    out = tmp_path / "deep.json"
    ckpts = tmp_path / "ckpt"
    rows = E.main(["--out", str(out), "--checkpoints", str(ckpts), *TINY])
    rows, stamp = read_results(out)
    assert sorted(r["init"] for r in rows) == sorted(
        E.BASELINES + E.INITS
    )
    assert stamp["complete"]
    assert stamp["experiment"] == "aecourse.experiments.deep_autoencoder"
    assert stamp["config"]["sizes"] == [784, 12, 3]
    for r in rows:
        assert r["test_error"] > 0 and r["train_error"] > 0
        if r["init"] in E.INITS:
            assert 1 <= r["best_epoch"] <= r["epochs"] == 2
            assert len(r["valid_curve"]) == 2
            assert r["lr"] in (
                [0.001] if r["init"] == "modern" else [0.01, 0.03]
            )
            assert len(r["tuning"]) == (1 if r["init"] == "modern" else 2)
    assert not list(ckpts.rglob("*.pt"))  # done runs leave no checkpoints
    # the same command resumes: nothing left to do, one more session
    E.main(["--out", str(out), "--checkpoints", str(ckpts), *TINY])
    again, stamp2 = read_results(out)
    assert again == rows and len(stamp2["sessions"]) == 2


def test_shards_merge(tiny_mnist, tmp_path):
    args = [*TINY, "--inits", "none", "modern", "--checkpoints", ""]
    paths = []
    for k in range(2):
        paths.append(tmp_path / f"s{k}.json")
        E.main(["--out", str(paths[-1]), "--shard", f"{k}/2", *args])
    merged = merge_results(paths, tmp_path / "all.json", ("init", "seed"))
    rows, stamp = read_results(merged)
    assert sorted(r["init"] for r in rows) == sorted(
        E.BASELINES + ("none", "modern")
    )
    assert len(stamp["sessions"]) == 2 and stamp["complete"]


def test_rbm_start_is_the_unrolled_stack():
    x = torch.rand(20, 784)
    net = E.starting_net("rbm", x, tiny_config(), seed=0)
    first = [
        m for m in net.encoder.layers if isinstance(m, torch.nn.Linear)
    ][0]
    last = [
        m for m in net.decoder.layers if isinstance(m, torch.nn.Linear)
    ][-1]
    assert torch.equal(first.weight, last.weight.T)
    assert isinstance(RBM(3, 2), torch.nn.Module)


def test_a_diverging_fine_tune_stops_and_keeps_its_best_epoch():
    torch.manual_seed(0)
    x = torch.rand(30, 784)
    data = {"train": x[:20], "valid": x[20:], "test": x[20:]}
    cfg = tiny_config(finetune_epochs=6, finetune_batch=5)
    net = E.starting_net("modern", x, cfg, seed=0)
    result = E.fine_tune(
        net, data, optimizer="momentum", lr=1e38, config=cfg
    )
    assert result.get("diverged") and len(result["train"]) < 6
    assert all(p.isfinite().all() for p in net.parameters())


# --- the report module -------------------------------------------------------------------------------


def test_report_reads_describes_and_plots(tiny_mnist, tmp_path):
    from aecourse.experiments import deep_autoencoder_report as R

    out = tmp_path / "deep.json"
    E.main(["--out", str(out), "--checkpoints", "", *TINY])
    rows, stamp = R.read(out)
    line = R.describe_stamp(stamp)
    assert "784-12-3" in line and "20 training, 10 validation" in line
    starts = R.start_errors(rows)
    assert set(starts) == set(E.INITS) and all(
        v > 0 for v in starts.values()
    )
    ax = R.plot_curves(rows)
    assert len(ax.get_lines()) == 4 + 3  # four inits, PCA, mean, paper
    other = tmp_path / "other.json"
    other.write_text(out.read_text().replace(E.EXPERIMENT, "aecourse.x"))
    with pytest.raises(ValueError, match="not by"):
        R.read(other)


def test_plateau_epochs():
    from aecourse.experiments.deep_autoencoder_report import (
        plateau_epochs,
    )

    assert plateau_epochs([52, 52, 40, 30], 50) == 2
    assert plateau_epochs([40, 52], 50) == 0
    assert plateau_epochs([60, 60], 50) == 2
