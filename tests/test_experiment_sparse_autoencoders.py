"""aecourse.experiments.sparse_autoencoders and its report: a tiny grid runs on a tiny sentence file,
writes stamped rows and resumes without duplicates; the language model is cached and loaded; the
activations are the model's residual stream; the spliced loss is the model's own cross-entropy; the
unigram baseline by hand; frontier(), best_at() and the table by hand."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import scipy.stats
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure

from aecourse.experiments import sparse_autoencoders as sa
from aecourse.experiments import sparse_autoencoders_report as report
from aecourse.experiments.stamp import code_hash, read_results
from aecourse.models.transformer import CausalLM, next_token_loss

SUBJECTS = ("I", "You", "He", "She", "We", "They", "Tom", "Mary")
VERBS = ("like", "see", "want", "have")
OBJECTS = ("the dog", "a cat", "this book", "some water", "my car")

TINY = [
    "--device", "cpu", "--threads", "1", "--seeds", "0",
    "--ks", "2", "4", "--l1s", "0.1",
    "--min-count", "1", "--context", "8", "--dim", "8", "--depth", "2",
    "--heads", "2", "--epochs", "2", "--batch-size", "16",
    "--n-latents", "16", "--sae-epochs", "2", "--sae-batch", "64",
    "--train-vectors", "256", "--valid-vectors", "64",
    # more than the test split holds: every test window is scored
    "--test-vectors", "100000",
]  # fmt: skip


@pytest.fixture
def sentences_file(tmp_path, monkeypatch):
    """A small eng-fra.txt of 160 distinct English sentences, found through AECOURSE_DATA."""
    english = [
        f"{s} {v} {o}." for s in SUBJECTS for v in VERBS for o in OBJECTS
    ]
    path = tmp_path / "data" / "translation" / "eng-fra.txt"
    path.parent.mkdir(parents=True)
    path.write_text(
        "".join(f"{e}\tfr {i}.\n" for i, e in enumerate(english))
    )
    monkeypatch.setenv("AECOURSE_DATA", str(tmp_path / "data"))
    return tmp_path


def _run(tmp_path, *extra):
    out = tmp_path / "sweep.json"
    cache = tmp_path / "checkpoints"
    args = [*TINY, *extra, "--out", str(out), "--checkpoints", str(cache)]
    return sa.main(args), out


# --- the tiny grid ---------------------------------------------------------------------------------


def test_tiny_grid_writes_stamped_rows_and_resumes(sentences_file):
    f, out = _run(sentences_file)
    rows = f.rows
    assert [(r["method"], r["sparsity"], r["seed"]) for r in rows] == [
        ("topk", 2, 0),
        ("topk", 4, 0),
        ("l1", 0.1, 0),
    ]
    saved, stamp = read_results(out)
    assert saved == rows and stamp["complete"] is True
    assert stamp["code_hash"] == code_hash(sa.EXPERIMENT)
    assert stamp["config"]["n_latents"] == 16
    assert stamp["command"][:3] == ["python", "-m", sa.EXPERIMENT]
    for row in rows:
        for split in ("valid", "test"):
            lr = row[f"{split}_loss_recovered"]
            clean, sae, zero = (
                row[f"{split}_loss_{w}"] for w in ("clean", "sae", "zero")
            )
            assert lr == pytest.approx((zero - sae) / (zero - clean))
            assert row[f"{split}_fvu"] >= 0
            assert 0 <= row[f"{split}_dead"] <= 1
            if row["method"] == "topk":
                assert 0 < row[f"{split}_l0"] <= row["k"]
        # every test window is scored: the clean loss is the model's test loss
        assert row["test_loss_clean"] == pytest.approx(
            row["lm_test_loss"], rel=1e-5
        )
        assert row["lm_test_loss"] < row["unigram_test_loss"] + 1
        assert json.loads(json.dumps(row)) == row  # flat JSON
    # the same command again finds every row there and adds nothing
    again, _ = _run(sentences_file)
    assert again.rows == rows
    assert len(read_results(out)[1]["sessions"]) == 2


def test_resume_runs_only_the_missing_rows_and_loads_the_model(
    sentences_file, monkeypatch
):
    f, out = _run(sentences_file)
    data = json.loads(out.read_text())
    data["rows"] = data["rows"][
        :-1
    ]  # a session that died before the last unit
    out.write_text(json.dumps(data))
    ran = []
    real = sa.run_one
    monkeypatch.setattr(
        sa,
        "run_one",
        lambda *a, **k: ran.append(a[:3]) or real(*a, **k),
    )
    # the cached language model is loaded, never trained again
    monkeypatch.setattr(
        sa, "fit", lambda *a, **k: pytest.fail("retrained the model")
    )
    again, _ = _run(sentences_file)
    assert ran == [("l1", 0.1, 0)]
    assert len(again.rows) == 3
    assert again.rows[:2] == f.rows[:2]
    # the redone row is the same run: same model, activations, seed
    assert again.rows[2]["test_fvu"] == pytest.approx(
        f.rows[2]["test_fvu"]
    )


def test_a_spent_budget_stops_before_the_next_unit(sentences_file):
    f, _ = _run(sentences_file, "--hours", "0")
    assert f.rows == [] and f.stamp["complete"] is False


def test_quick_sets_the_defaults_and_help_lists_every_option(capsys):
    config, _ = sa.parse_args(["--quick", "--seeds", "4"])
    assert config == sa.Config(
        **{**vars(sa.Config.quick()), "seeds": (4,)}
    )
    assert sa.parse_args([])[0] == sa.Config()
    with pytest.raises(SystemExit):
        sa.parse_args(["--quick", "--help"])
    shown = capsys.readouterr().out
    assert "--n-latents" in shown and "--shard" in shown


def test_main_exits_with_the_error_for_bad_arguments():
    with pytest.raises(SystemExit, match="shard"):
        sa.main([*TINY, "--shard", "3/2", "--out", "/dev/null"])
    with pytest.raises(SystemExit, match="heads"):
        sa.main([*TINY, "--heads", "3", "--out", "/dev/null"])


# --- the pieces ------------------------------------------------------------------------------------


def _model(depth=2):
    torch.manual_seed(0)
    model = CausalLM(11, context=6, dim=8, depth=depth, heads=2).eval()
    windows = torch.randint(0, 11, (5, 7))
    return model, windows


def test_activations_are_the_residual_stream():
    model, windows = _model()
    for after in (0, 1, 2):
        acts = sa.activations(model, windows, after)
        with torch.no_grad():
            h = model.residual(windows[:, :-1], after)
        assert torch.allclose(acts.x, h.reshape(30, 8))
        assert torch.equal(acts.tokens, windows[:, :-1].flatten())
        assert acts.positions.tolist() == list(range(6)) * 5
    # row n·T + t is window n, position t
    assert torch.equal(acts.x[2 * 6 + 3], h[2, 3])
    with pytest.raises(ValueError, match="after"):
        sa.activations(model, windows, 3)
    with pytest.raises(ValueError, match="windows"):
        sa.activations(model, torch.randint(0, 11, (5, 9)), 1)


def test_the_spliced_loss_of_the_models_own_stream_is_its_loss():
    model, windows = _model()
    with torch.no_grad():
        h = model.residual(windows[:, :-1], 1)
        loss = sa.splice_loss(model, windows, 1)(h)
        logits = model(windows[:, :-1])
    reference = F.cross_entropy(
        logits.flatten(0, 1), windows[:, 1:].flatten()
    )
    assert float(loss) == pytest.approx(float(reference), rel=1e-5)
    assert float(loss) == pytest.approx(
        float(next_token_loss(model, (windows,)).detach()), rel=1e-5
    )
    # a different stream gives a different loss
    assert float(
        sa.splice_loss(model, windows, 1)(0 * h)
    ) != pytest.approx(float(loss))


def test_unigram_loss_by_hand():
    train = torch.tensor(
        [0, 0, 0, 1]
    )  # counts + 1: 4, 2, 1 of 7 for a vocabulary of 3
    scored = torch.tensor([[2, 0, 1], [2, 0, 0]])  # targets 0, 1, 0, 0
    expected = -(3 * math.log(4 / 7) + math.log(2 / 7)) / 4
    assert sa.unigram_loss(train, scored, 3) == pytest.approx(expected)


def test_sae_data_scales_the_training_vectors_to_squared_norm_dim():
    model, windows = _model()
    config = sa.Config(
        context=6, dim=8, heads=2, train_vectors=24, valid_vectors=12,
        test_vectors=6,
    )  # fmt: skip
    lm = sa.LMData(None, windows, windows[:3], windows[3:], {})
    d = sa.sae_data(model, lm, config)
    assert d.train_x.shape == (24, 8)  # 24 // 6 = 4 windows
    assert d.valid_x.shape == (12, 8) and d.test_x.shape == (6, 8)
    assert d.train_x.pow(2).sum(1).mean().item() == pytest.approx(8)
    raw = sa.activations(model, windows[3:4], 1).x
    assert torch.allclose(d.test_x * d.scale, raw, atol=1e-6)


def test_units_go_seed_by_seed():
    config = sa.Config(ks=(4, 8), l1s=(0.1,), seeds=(0, 1))
    assert sa.units(config) == [
        ("topk", 4, 0),
        ("topk", 8, 0),
        ("l1", 0.1, 0),
        ("topk", 4, 1),
        ("topk", 8, 1),
        ("l1", 0.1, 1),
    ]
    assert len(sa.units(sa.Config())) == 2 * 5 * 3


def test_the_cache_file_names_the_language_models_config():
    a = sa.lm_cache_path(sa.Config(), "c")
    assert a == sa.lm_cache_path(sa.Config(n_latents=8, ks=(1,)), "c")
    assert a != sa.lm_cache_path(sa.Config(dim=32), "c")
    assert a.parent.name == "c" and a.name.startswith("lm-")


def test_the_default_cache_is_the_checkouts_data_folder(
    tmp_path, monkeypatch
):
    checkout = Path(sa.__file__).resolve().parents[2]
    if (checkout / "data").is_dir():
        assert sa.default_cache() == checkout / "data" / "checkpoints"
    # an installed package has no checkout: the user's cache (conftest points XDG there)
    monkeypatch.setattr(sa, "_CHECKOUT_DATA", tmp_path / "missing")
    assert sa.default_cache() == (
        tmp_path / "xdg-cache" / "aecourse" / "checkpoints"
    )


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(methods=("topk", "pca")), "methods must"),
        (dict(ks=(1024,)), "ks must be"),
        (dict(l1s=(-1.0,)), "l1s must"),
        (dict(seeds=(0, 0)), "seeds must be distinct"),
        (dict(after=3), "after must"),
        (dict(heads=3), "heads must divide dim"),
        (dict(test_vectors=8), "at least one window"),
        (dict(sae_lr=0.0), "positive"),
        (dict(depth=0), "depth"),
    ],
)
def test_bad_configs_say_what_is_wrong(change, message):
    with pytest.raises(ValueError, match=message):
        sa.Config(**change).check()
    sa.Config.quick().check()


# --- the report ------------------------------------------------------------------------------------


def _row(
    method,
    sparsity,
    seed,
    l0,
    fvu,
    recovered,
    valid_recovered=None,
    added=0.1,
):
    row = {"method": method, "sparsity": sparsity, "seed": seed}
    for split in ("valid", "test"):
        row.update(
            {
                f"{split}_l0": l0,
                f"{split}_fvu": fvu,
                f"{split}_dead": 0.0,
                f"{split}_loss_recovered": recovered,
                f"{split}_loss_clean": 3.0,
                f"{split}_loss_sae": 3.0 + added,
            }
        )
    if valid_recovered is not None:
        row["valid_loss_recovered"] = valid_recovered
    return row


def test_frontier_by_hand():
    recovered, added = [0.80, 0.84, 0.86], [0.1, 0.2, 0.3]
    rows = [
        _row("topk", 8, seed, 8.0, 0.2 + seed / 100, r, added=a)
        for seed, (r, a) in enumerate(zip(recovered, added))
    ]
    rows.append(_row("l1", 0.1, 0, 30.0, 0.1, 0.9))
    rows.append(_row("topk", 4, 0, 4.0, 0.3, 0.7))
    table = report.frontier(rows)
    assert [(e["method"], e["sparsity"]) for e in table] == [
        ("topk", 4),
        ("topk", 8),
        ("l1", 0.1),
    ]
    k8 = table[1]
    assert k8["n"] == 3 and k8["l0"] == 8.0 and k8["l0_se"] == 0.0
    assert k8["loss_recovered"] == pytest.approx(2.5 / 3)
    assert k8["loss_recovered_se"] == pytest.approx(
        scipy.stats.sem(recovered)
    )
    assert k8["fvu"] == pytest.approx(0.21)
    # the loss added, L_sae − L_clean, from the two cross-entropies
    assert k8["loss_added"] == pytest.approx(0.2)
    assert k8["loss_added_se"] == pytest.approx(scipy.stats.sem(added))
    assert math.isnan(table[2]["fvu_se"])
    shown = report.frontier_table(table)
    assert shown.columns[:5] == [
        "method",
        "sparsity",
        "L0",
        "FVU",
        "loss recovered",
    ]
    assert shown.rows[1] == [
        "TopK", "k = 8", "8.0 ± 0.0", "0.210 ± 0.006", "0.833 ± 0.018", "0.200 ± 0.058", "0.0 ± 0.0",
        "3",
    ]  # fmt: skip
    # one seed has no spread: its cells show the mean alone
    assert shown.rows[2][:3] == ["ReLU + L1", "λ = 0.1", "30.0"]
    fig = report.plot_frontier(table)
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    with pytest.raises(ValueError, match="split"):
        report.frontier(rows, "train")


def test_best_at_chooses_on_validation_within_the_l0_budget():
    rows = [
        # best on test (0.95) but worse on validation than k = 16
        _row("topk", 8, 0, 8.0, 0.3, 0.95, valid_recovered=0.80),
        _row("topk", 16, 0, 16.0, 0.2, 0.90, valid_recovered=0.85),
        # beyond the budget, however good
        _row("topk", 64, 0, 64.0, 0.1, 0.99, valid_recovered=0.99),
        _row("l1", 0.01, 0, 50.0, 0.1, 0.97, valid_recovered=0.97),
    ]
    best = report.best_at(rows, max_l0=32)
    assert list(best) == ["topk"]  # no L1 run within L0 <= 32
    assert best["topk"]["sparsity"] == 16
    assert best["topk"]["loss_recovered"][0] == pytest.approx(0.90)
    assert best["topk"]["l0"][0] == 16.0
    assert best["topk"]["loss_added"][0] == pytest.approx(0.1)
    assert report.best_at(rows, max_l0=100)["l1"]["sparsity"] == 0.01


def test_read_checks_the_experiment(tmp_path):
    path = tmp_path / "other.json"
    path.write_text(
        json.dumps({"stamp": {"experiment": "x"}, "rows": [{"a": 1}]})
    )
    with pytest.raises(ValueError, match="not by"):
        report.read(path)
