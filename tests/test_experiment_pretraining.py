"""aecourse.experiments.pretraining: the paper's table, the ensemble trainer against PyTorch's optimizers,
early stopping, the choice on validation, the shards and a smoke run of the script into a stamped file."""

from __future__ import annotations

import math

import pytest
import torch

from aecourse.data.rotation import rotated_mnist
from aecourse.experiments import pretraining as E
from aecourse.experiments import pretraining_report as R
from aecourse.experiments.stamp import merge_results, read_results
from aecourse.models.pretraining import DeepNet


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.fixture
def blobs():
    """A 3-class problem in 12 dimensions, squashed into (0, 1): train (1, 30, 12), valid (1, 15, 12)."""
    g = gen(1)
    centres = 2.0 * torch.randn(3, 12, generator=g)
    y = torch.arange(45) % 3
    x = torch.sigmoid(centres[y] + 0.8 * torch.randn(45, 12, generator=g))
    return (x[None, :30], y[None, :30]), (x[None, 30:], y[None, 30:])


def nets(seeds, sizes=(12, 7, 5), activation="sigmoid"):
    out = []
    for s in seeds:
        torch.manual_seed(s)
        out.append(
            DeepNet(list(sizes), n_classes=3, activation=activation)
        )
    return out


# --- the paper -------------------------------------------------------------------------------------


def test_paper_table_is_complete_and_its_intervals_are_95_percent_binomial():
    """Every cell of Larochelle et al.'s table is there, and its ± is 1.96·√(p(1−p)/n), n = 50 000."""
    n = E.PAPER["split"]["test"]
    cells = {k: v for k, v in E.PAPER.items() if k != "split"}
    assert set(cells) == {
        (d, m, depth)
        for d in E.DATASETS
        for m in ("none", "ae", "rbm")
        for depth in (1, 2, 3, 4)
    }
    # two cells are printed 0.01 away from the formula (kept as printed)
    off = {("mnist-rotation", "none", 4), ("mnist-rotation", "rbm", 4)}
    for key, (error, plus_minus) in cells.items():
        p = error / 100
        assert 100 * 1.96 * math.sqrt(p * (1 - p) / n) == pytest.approx(
            plus_minus, abs=0.011 if key in off else 0.006
        ), key
    # a few cells by hand, as the course material prints them
    assert E.PAPER["mnist-small", "ae", 3] == (3.37, 0.16)
    assert E.PAPER["mnist-rotation", "none", 1] == (15.22, 0.31)
    assert E.PAPER["mnist-rotation", "rbm", 4] == (8.83, 0.24)


# --- the ensemble ----------------------------------------------------------------------------------


def test_stacked_nets_compute_what_each_net_computes(blobs):
    members = nets([0, 1, 2])
    params = E.stack_nets(members)
    assert params[0].shape == (3, 12, 7) and params[1].shape == (3, 1, 7)
    x = blobs[0][0][0]
    logits = E.ensemble_logits(params, x.expand(3, -1, -1), "sigmoid")
    for e, net in enumerate(members):
        assert torch.allclose(logits[e], net(x), atol=1e-6)
    copy = E.unstack_net(params, 1, nets([9])[0])
    assert all(
        torch.equal(a, b)
        for a, b in zip(copy.parameters(), members[1].parameters())
    )
    with pytest.raises(ValueError, match="same sizes"):
        E.stack_nets([members[0], nets([0], sizes=(12, 6, 5))[0]])


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_a_member_trains_as_it_would_alone(blobs, optimizer):
    """One epoch (so the kept weights are the last ones): each member equals its net trained alone with
    torch.optim.SGD / Adam on the same mini-batches, in the order of batch_order(seed, 0)."""
    train, valid = blobs
    seeds, lrs = (
        [3, 4],
        ([0.5, 0.1] if optimizer == "sgd" else [1e-2, 3e-3]),
    )
    result = E.train_ensemble(
        nets(seeds),
        lrs,
        seeds,
        [0, 0],
        train,
        valid,
        optimizer=optimizer,
        batch_size=8,
        max_epochs=1,
        min_epochs=0,
        patience=1,
    )
    x, y = train[0][0], train[1][0]
    for e, (seed, lr) in enumerate(zip(seeds, lrs)):
        (net,) = nets([seed])
        opt = (
            torch.optim.SGD(net.parameters(), lr=lr)
            if optimizer == "sgd"
            else torch.optim.Adam(net.parameters(), lr=lr)
        )
        order, losses = E.batch_order(seed, 0, 30), []
        for start in range(0, 30, 8):
            idx = order[start : start + 8]
            loss = torch.nn.functional.cross_entropy(net(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item() * len(idx))
        got = E.unstack_net(result.params, e, nets([0])[0])
        for a, b in zip(got.parameters(), net.parameters()):
            assert torch.allclose(a, b, atol=1e-5)
        assert result.train_losses[e][0] == pytest.approx(
            sum(losses) / 30, rel=1e-5
        )
        assert result.best_epoch[e] == 1 and result.epochs[e] == 1


def test_early_stopping_keeps_the_best_validation_epoch(blobs):
    train, valid = blobs
    seeds = [0, 1, 2]
    result = E.train_ensemble(
        nets(seeds),
        [2.0, 0.5, 0.05],
        seeds,
        [0, 0, 0],
        train,
        valid,
        batch_size=5,
        max_epochs=12,
        min_epochs=3,
        patience=2,
    )
    members = torch.zeros(3, dtype=torch.long)
    error, _ = E.ensemble_scores(
        result.params, *valid, members, "sigmoid"
    )
    for e in range(3):
        errors = result.valid_errors[e]
        stop, best = int(result.epochs[e]), int(result.best_epoch[e])
        assert len(errors) == len(result.train_losses[e]) == stop
        # the first epoch with the lowest error, and the weights of that epoch
        assert best == 1 + errors.index(min(errors))
        assert error[e].item() == pytest.approx(min(errors), abs=1e-4)
        # stopped by the rule, or at the end
        assert stop == 12 or (stop >= 3 and stop - best == 2)


def test_ensemble_checks_its_arguments(blobs):
    train, valid = blobs
    with pytest.raises(ValueError, match="one entry per member"):
        E.train_ensemble(nets([0]), [0.1, 0.2], [0], [0], train, valid)
    with pytest.raises(ValueError, match="optimizer"):
        E.train_ensemble(
            nets([0]), [0.1], [0], [0], train, valid, optimizer="lbfgs"
        )
    with pytest.raises(ValueError, match="positive"):
        E.train_ensemble(nets([0]), [0.0], [0], [0], train, valid)
    with pytest.raises(ValueError, match=r"\(D, N, d\)"):
        E.train_ensemble(
            nets([0]), [0.1], [0], [0], (train[0][0], train[1][0]), valid
        )


def test_batch_order_is_a_seeded_permutation():
    a, b = E.batch_order(1, 0, 50), E.batch_order(1, 0, 50)
    assert torch.equal(a, b) and torch.equal(
        a.sort().values, torch.arange(50)
    )
    assert not torch.equal(a, E.batch_order(1, 1, 50))
    assert not torch.equal(a, E.batch_order(2, 0, 50))


# --- choosing, summarising, sharding -----------------------------------------------------------------


def row(method, seed, lr, valid, test, depth=2):
    return {
        "dataset": "mnist-small",
        "setting": "era",
        "method": method,
        "depth": depth,
        "seed": seed,
        "lr": lr,
        "valid_error": valid,
        "test_error": test,
    }


def test_select_chooses_on_validation_never_on_test():
    rows = [
        row("ae", 0, 0.1, 0.05, 0.01),
        row("ae", 0, 0.3, 0.04, 0.09),
        row("ae", 0, 1.0, 0.04, 0.02),  # a tie: the first one stays
        row("ae", 1, 0.1, 0.03, 0.05),
        row("none", 0, 0.1, 0.20, 0.20),
    ]
    chosen = R.select(rows)
    assert [(r["method"], r["seed"], r["lr"]) for r in chosen] == [
        ("ae", 0, 0.3),
        ("ae", 1, 0.1),
        ("none", 0, 0.1),
    ]


def test_summarise_mean_and_standard_error():
    rows = [
        row("ae", s, 0.1, 0, e) for s, e in enumerate([0.10, 0.20, 0.36])
    ]
    rows.append(row("none", 0, 0.1, 0, 0.05, depth=1))
    table = R.summarise(rows)
    assert [(r["depth"], r["method"], r["n"]) for r in table] == [
        (2, "ae", 3),
        (1, "none", 1),
    ]
    # by hand: s = 0.131149, s/√3
    assert table[0]["mean"] == pytest.approx(0.22)
    assert table[0]["sem"] == pytest.approx(0.0757188, abs=1e-6)
    assert math.isnan(table[1]["sem"])
    shown = R.summary_table(table)
    text = str(shown)
    assert "22.00% ± 7.57" in text and "5.00% (1 seed)" in text
    assert "nan" not in text
    # the paper's cells, era setting: a column per method
    assert shown.columns[-3:] == [
        "paper: none",
        "paper: ae",
        "paper: rbm",
    ]
    # lines from depth 1 up, whatever order the runs came in
    assert [line[2] for line in shown.rows] == ["1", "2"]
    assert shown.rows[1][-3:] == [
        "4.03 ± 0.17",
        "3.38 ± 0.16",
        "2.74 ± 0.14",
    ]
    assert "4.03" not in str(R.summary_table(table, paper=None))
    with pytest.raises(ValueError, match="train_error"):
        R.summarise(rows, value="train_error")


def test_shards_deal_every_unit_once():
    items = list(range(19))
    shares = [E.shard(items, k, 4) for k in range(4)]
    assert sorted(sum(shares, [])) == items
    assert shares[0][:2] == [0, 7] and shares[3][:2] == [3, 4]  # a snake
    for bad in ((4, 4), (-1, 2), (0, 0)):
        with pytest.raises(ValueError, match="K/N"):
            E.shard(items, *bad)


def test_plateau_epochs_by_hand():
    level = 0.9 * math.log(10)
    assert (
        R.plateau_epochs([2.31, 2.30, 2.1, 0.5]) == 3
    )  # 2.1 > 2.07 still
    assert R.plateau_epochs([2.31, 2.0]) == 1 and 2.0 < level
    assert R.plateau_epochs([1.0]) == 0
    assert R.plateau_epochs([2.3, 2.3]) == 2


# --- data and the script -----------------------------------------------------------------------------


@pytest.fixture
def tiny_mnist(make_idx_data, monkeypatch):
    data = make_idx_data(n_train=40, n_test=12)
    monkeypatch.setenv("AECOURSE_DATA", str(data.root))
    return data


def test_splits_are_disjoint_and_rotated_with_their_own_seeds(tiny_mnist):
    small = E.load_dataset(
        "mnist-small", 20, 10, valid_size=12, valid_from=25
    )
    rotation = E.load_dataset(
        "mnist-rotation", 20, 10, valid_size=12, valid_from=25
    )
    pixels = torch.from_numpy(tiny_mnist.train_x).float()[:, None] / 255
    assert torch.equal(small.train_x, pixels[:20])
    assert torch.equal(small.valid_x, pixels[25:37])
    assert small.test_x.shape == (10, 1, 28, 28)
    for part in ("train", "valid", "test"):
        x = getattr(small, f"{part}_x")
        want = rotated_mnist(x, seed=E.ROTATION_SEEDS[part])[0]
        assert torch.equal(getattr(rotation, f"{part}_x"), want)
        assert torch.equal(
            getattr(rotation, f"{part}_y"), getattr(small, f"{part}_y")
        )
    with pytest.raises(ValueError, match="mnist-small"):
        E.load_dataset("cifar", 10, 10)
    with pytest.raises(ValueError, match="valid_from"):
        E.load_dataset("mnist-small", 30, 10, valid_from=25)
    with pytest.raises(ValueError, match="validation split needs"):
        E.load_dataset(
            "mnist-small", 20, 10, valid_size=20, valid_from=25
        )


TINY = [
    "--hidden", "6", "--train-size", "16", "--valid-size", "10",
    "--valid-from", "20", "--test-size", "8", "--depths", "1", "2",
    "--seeds", "0", "1", "--pretrain-epochs", "1", "--max-epochs", "2",
    "--min-epochs", "1", "--patience", "1", "--device", "cpu",
    "--threads", "1",
]  # fmt: skip


def test_the_script_writes_a_stamped_resumable_file(tiny_mnist, tmp_path):
    out = tmp_path / "pretraining.json"
    f = E.main(["--out", str(out), *TINY])
    rows, stamp = read_results(out)
    # era: 3 methods (by default) x 2 lrs, modern: 2 x 3; x 2 seeds x 2 depths x 2 data sets
    assert len(rows) == len(f.rows) == (3 * 2 + 2 * 3) * 2 * 2 * 2
    assert stamp["complete"] and stamp["experiment"] == (
        "aecourse.experiments.pretraining"
    )
    assert stamp["config"]["valid_from"] == 20
    for r in rows:
        assert 0 <= r["test_error"] <= 1 and 0 <= r["train_error"] <= 1
        assert 1 <= r["best_epoch"] <= r["epochs"] <= 2
        assert (
            len(r["train_losses"])
            == len(r["valid_errors"])
            == r["epochs"]
        )
        assert r["lr"] in E.SETTINGS[r["setting"]].finetune_lrs
        assert r["method"] in E.SETTINGS[r["setting"]].methods
        assert (r["pretrain_seconds"] > 0) == (r["method"] != "none")
    # one chosen learning rate per (dataset, setting, method, depth, seed)
    assert len(R.select(rows)) == len(
        {tuple(r[k] for k in E.KEY[:-1]) for r in rows}
    )
    assert "seeds" in R.describe_stamp(stamp)
    details = str(R.details_table(R.select(rows))).splitlines()
    assert (
        len(details) == 1 + len(R.select(rows)) // 2
    )  # a line per 2 seeds
    # depth from 1 up, though the grid ran its deepest units first
    assert details[1].split()[:4] == ["mnist-small", "era", "1", "none"]
    # the same command resumes: nothing left to do, one more session
    E.main(["--out", str(out), *TINY])
    again, stamp = read_results(out)
    assert again == rows and len(stamp["sessions"]) == 2


def test_shards_merge_into_the_whole_grid(tiny_mnist, tmp_path):
    grid = [
        "--hidden", "6", "--train-size", "16", "--valid-size", "10",
        "--valid-from", "20", "--test-size", "8", "--depths", "1",
        "--seeds", "0", "--pretrain-epochs", "1", "--max-epochs", "1",
        "--min-epochs", "1", "--patience", "1", "--device", "cpu",
        "--methods", "none", "ae",
    ]  # fmt: skip
    parts = [tmp_path / f"part{k}.json" for k in range(3)]
    for k, part in enumerate(parts):
        E.main(["--out", str(part), "--shard", f"{k}/3", *grid])
    merged = merge_results(parts, tmp_path / "all.json", E.KEY)
    rows, stamp = read_results(merged)
    # 2 data sets x 1 depth x 2 methods x 1 seed x (2 lrs in era + 3 in modern)
    assert len(rows) == 2 * 2 * (2 + 3) and len(stamp["sessions"]) == 3
    assert stamp["complete"]  # every shard did its share


def test_bad_grids_are_refused(tmp_path):
    with pytest.raises(ValueError, match="depths"):
        E.Config(depths=[0]).check()
    with pytest.raises(ValueError, match="methods"):
        E.Config(methods=["pca"]).check()
    with pytest.raises(ValueError, match="noise"):
        E.Config(noise=2.0).check()
    with pytest.raises(ValueError, match="min_epochs"):
        E.Config(min_epochs=200, max_epochs=100).check()
    with pytest.raises(ValueError, match="validation images"):
        E.Config(train_size=10_001).check()
    with pytest.raises(ValueError, match="not 'rbm'"):
        E.pretrained_stack(
            torch.rand(4, 1, 28, 28),
            setting="modern",
            method="rbm",
            seed=0,
            depth=1,
            config=E.Config(),
        )
    for bad in (["--depths", "0"], ["--shard", "2/2"]):
        with pytest.raises(SystemExit):
            E.main(["--out", str(tmp_path / "x.json"), *bad])
    assert not (tmp_path / "x.json").exists()


def test_the_figures_draw_ours_and_the_papers():
    rows = [
        {
            **row(
                m, seed, 0.1, 0.1, 0.01 * (depth + seed + len(m)), depth
            ),
            "dataset": d,
            "train_losses": [2.3, 1.0 + seed],
        }
        for d in E.DATASETS
        for depth in (1, 3)
        for m in ("none", "ae")
        for seed in (0, 1)
    ]
    fig = R.plot_summary(R.summarise(rows))
    assert len(fig.axes) == 2
    assert fig.axes[1].get_title() == "mnist-rotation, era setting"
    # per method: ours with error bars, then the paper's dashed line at depths 1 and 3
    lines = fig.axes[0].get_lines()
    dashed = [ln for ln in lines if ln.get_linestyle() == "--"]
    assert [list(ln.get_ydata()) for ln in dashed] == [
        [4.14, 4.24],
        [3.87, 3.37],
    ]
    curves = R.plot_fine_tuning(rows, depth=3)
    assert (
        len(curves.axes[0].get_lines()) == 2 * 2 + 1
    )  # a line per run, ln 10
    with pytest.raises(ValueError, match="modern"):
        R.plot_summary(R.summarise(rows), setting="modern")
    with pytest.raises(ValueError, match="depth 2"):
        R.plot_fine_tuning(rows, depth=2)


def test_the_committed_file_holds_whole_units_and_what_the_chapter_reads():
    # A grid that did not fit the sessions' compute may stop between units of work (one setting, data
    # set and depth: every method, seed and learning rate of it). The file then holds whole units only,
    # the era setting at every depth (the chapter's table beside the paper's), the modern setting at
    # depth 1 and the deepest (the chapter's modern section), and its stamp says it is incomplete.
    rows, stamp = R.read()  # the committed results/pretraining.json
    c = stamp["config"]
    got = [tuple(r[k] for k in E.KEY) for r in rows]
    assert len(got) == len(set(got))
    units = {(r["setting"], r["dataset"], r["depth"]) for r in rows}
    for setting, dataset, depth in units:
        assert {
            (r["method"], r["seed"], r["lr"])
            for r in rows
            if (r["setting"], r["dataset"], r["depth"])
            == (setting, dataset, depth)
        } == {
            (m, seed, lr)
            for m in c["methods"]
            if m in E.SETTINGS[setting].methods
            for seed in c["seeds"]
            for lr in E.SETTINGS[setting].finetune_lrs
        }, (setting, dataset, depth)
    every_depth = {
        ("era", d, depth) for d in c["datasets"] for depth in c["depths"]
    }
    ends = {
        ("modern", d, depth)
        for d in c["datasets"]
        for depth in (1, max(c["depths"]))
    }
    assert every_depth | ends <= units
    whole = units == set(E.units(E.Config(**c)))
    assert stamp["complete"] == whole
    assert len(R.select(rows)) == len({g[:-1] for g in got})


def test_read_refuses_another_experiments_file(tmp_path):
    path = tmp_path / "other.json"
    path.write_text(
        '{"stamp": {"experiment": "aecourse.experiments.vae"}, "rows": []}'
    )
    with pytest.raises(ValueError, match="not by this experiment"):
        R.read(path)


def test_with_one_seed_every_method_starts_from_the_same_output_layer():
    config = E.Config(hidden=5)
    stack = E.starting_net(
        None, setting="era", depth=3, seed=11, config=config
    )
    with torch.no_grad():
        for layer in stack.hidden:
            layer.weight.add_(1.0)
    kwargs = dict(
        setting="era", depth=2, seed=4, config=config, n_inputs=784
    )
    none, pretrained = (
        E.starting_net(None, **kwargs),
        E.starting_net(stack, **kwargs),
    )
    assert torch.equal(none.output.weight, pretrained.output.weight)
    for got, want in zip(pretrained.hidden, stack.hidden[:2]):
        assert torch.equal(got.weight, want.weight)
    assert not torch.equal(
        none.hidden[0].weight, pretrained.hidden[0].weight
    )
    with pytest.raises(ValueError, match="depth 4 needs 4"):
        E.starting_net(stack, **{**kwargs, "depth": 4})
