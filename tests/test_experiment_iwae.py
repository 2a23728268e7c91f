"""The IWAE experiment script (aecourse.experiments.iwae): its schedule, its estimator against the package's
reference and torch.distributions, and a tiny run that writes, stops and resumes a stamped results file."""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import Bernoulli, Normal

from aecourse.experiments import iwae
from aecourse.experiments.stamp import read_results, stamp_problems

TINY = [
    "--device",
    "cpu",
    "--train-size",
    "200",
    "--test-size",
    "40",
    "--hidden",
    "8",
    "--latent",
    "4",
    "--stages",
    "3",
    "--eval-k",
    "10",
    "--seeds",
    "0",
    "1",
]


def test_schedule_is_burda_et_al():
    plan = iwae.schedule(8)
    assert [p for p, _ in plan] == [1, 3, 9, 27, 81, 243, 729, 2187]
    assert sum(p for p, _ in plan) == 3280
    assert plan[0][1] == pytest.approx(1e-3)
    assert plan[7][1] == pytest.approx(1e-4)
    assert plan[3][1] == pytest.approx(1e-3 * 10 ** (-3 / 7))
    with pytest.raises(ValueError):
        iwae.schedule(0)


def test_eval_points_are_stage_ends_and_thirds():
    points = iwae.eval_points(8)
    for end in (1, 4, 13, 40, 121, 364, 1093, 3280):
        assert end in points
    assert 67 in points and 94 in points  # thirds of stage 4 (81 passes)
    assert points == sorted(set(points))
    assert iwae.eval_points(3) == [1, 4, 13]


def test_log_mean_exp_matches_the_package_and_survives_large_weights():
    from aecourse.models.vae import log_mean_exp

    log_w = torch.randn(7, 5, dtype=torch.float64) * 3
    expected = torch.log(log_w.exp().mean(0))
    assert torch.allclose(iwae.log_mean_exp(log_w, 0), expected)
    assert torch.allclose(log_mean_exp(log_w, 0), expected)
    big = torch.tensor([[-5000.0, -5001.0]])
    assert torch.isfinite(iwae.log_mean_exp(big, 1)).all()
    assert iwae.log_mean_exp(big, 1).item() == pytest.approx(
        -5000 + math.log((1 + math.exp(-1)) / 2)
    )


def test_log_weights_match_torch_distributions():
    torch.manual_seed(0)
    model = iwae.StackedVAE([0, 1], input_size=6, hidden=5, latent=3)
    x = (torch.rand(2, 4, 6) < 0.5).float()
    eps = torch.randn(2, 3, 4, 3)
    log_w = model.log_weights(x, 3, eps=eps)
    assert log_w.shape == (2, 3, 4)
    mu, log_sigma = model.encode(x)
    z = mu[:, None] + log_sigma.exp()[:, None] * eps
    logits = model.decode(z.reshape(2, 12, 3)).reshape(2, 3, 4, 6)
    expected = (
        Bernoulli(logits=logits).log_prob(x[:, None]).sum(-1)
        + Normal(0.0, 1.0).log_prob(z).sum(-1)
        - Normal(mu[:, None], log_sigma.exp()[:, None])
        .log_prob(z)
        .sum(-1)
    )
    assert torch.allclose(log_w, expected, atol=1e-5)


def test_stacked_networks_are_independent():
    # network 1 of a stack of two is network 0 of a stack seeded with its seed alone
    pair = iwae.StackedVAE([3, 4], input_size=6, hidden=5, latent=2)
    alone = iwae.StackedVAE([4], input_size=6, hidden=5, latent=2)
    x = (torch.rand(1, 3, 6) < 0.5).float()
    mu_pair, _ = pair.encode(x.expand(2, -1, -1))
    mu_alone, _ = alone.encode(x)
    assert torch.allclose(mu_pair[1], mu_alone[0])
    assert not torch.allclose(mu_pair[0], mu_alone[0])


def test_evaluate_with_k_1_is_the_elbo_and_bound_rises_with_k():
    torch.manual_seed(0)
    model = iwae.StackedVAE([0], input_size=6, hidden=5, latent=2)
    x = (torch.rand(30, 6) < 0.5).float()
    one = iwae.evaluate(
        model, x, 1, 1000, torch.Generator().manual_seed(1)
    )
    assert torch.allclose(one["bound"], one["elbo"])
    many = iwae.evaluate(
        model, x, 200, 1000, torch.Generator().manual_seed(1)
    )
    assert (many["bound"] > many["elbo"]).all()
    assert 0 <= many["active"].item() <= 2


def test_config_rejects_bad_sizes():
    with pytest.raises(ValueError):
        iwae.Config(batch_size=0).check()
    with pytest.raises(ValueError):
        iwae.Config(seeds=[1, 1]).check()
    with pytest.raises(ValueError):
        iwae.Config(train_size=10, batch_size=20).check()


def test_tiny_run_writes_stops_and_resumes(
    tmp_path, make_idx_data, monkeypatch
):
    data = make_idx_data(n_train=200, n_test=40)  # synthetic MNIST files
    monkeypatch.setenv("AECOURSE_DATA", str(data.root))
    out = tmp_path / "iwae.json"
    args = [*TINY, "--out", str(out), "--checkpoints", str(tmp_path)]
    rows = iwae.main([*args, "--stop-after", "2"])
    # passes 1 (a stage end) and 2 (where it stopped), for both seeds
    assert sorted((r["passes"], r["seed"]) for r in rows) == [
        (1, 0),
        (1, 1),
        (2, 0),
        (2, 1),
    ]
    _, stamp = read_results(out)
    assert not stamp["complete"]
    assert list(tmp_path.glob("iwae-*.pt")), "no checkpoint written"
    rows = iwae.main(args)  # the same command resumes
    rows, stamp = read_results(out)
    assert stamp["complete"] and len(stamp["sessions"]) == 2
    assert {r["passes"] for r in rows} == {1, 2, 4, 13}
    for r in rows:
        assert r["test_nll"] <= r["test_neg_elbo"] + 1e-6, r
        assert 0 <= r["active_units"] <= 4
        assert r["train_neg_elbo"] > 0
    assert stamp_problems(out) == []


def test_summarise_means_and_standard_errors_over_seeds():
    rows = [
        {
            "seed": seed,
            "passes": passes,
            "test_nll": nll,
            "test_neg_elbo": nll + 5,
            "train_neg_elbo": nll + 4,
            "active_units": 10 + seed,
            "train_seconds": 36.0 * passes,
        }
        for passes, values in (
            (1, (100.0, 102.0, 104.0)),
            (4, (90.0, 90.0, 93.0)),
        )
        for seed, nll in enumerate(values)
    ]
    rows.append({**rows[0], "passes": 7})  # a pass count only seed 0 has
    summary = iwae.summarise(rows)
    assert [r["passes"] for r in summary] == [1, 4]
    first = summary[0]
    assert first["nll"] == pytest.approx(102.0)
    assert first["nll_se"] == pytest.approx(2.0 / math.sqrt(3))
    assert first["neg_elbo"] == pytest.approx(107.0)
    assert first["active"] == pytest.approx(11.0)
    assert first["hours"] == pytest.approx(0.01)
    assert summary[1]["nll"] == pytest.approx(91.0)
    text = iwae.format_summary(summary, k=5000)
    assert "−L_5000" in text and "102.00 ± 1.15" in text
    assert len(text.splitlines()) == 3
    one = iwae.summarise([r for r in rows if r["seed"] == 0])
    assert math.isnan(one[0]["nll_se"])


def test_plot_summary_draws_both_curves_and_the_paper():
    summary = [
        {
            "passes": p,
            "nll": 100.0 / p,
            "nll_se": 0.1,
            "neg_elbo": 105.0 / p,
            "neg_elbo_se": math.nan,
        }
        for p in (1, 4, 13)
    ]
    fig = iwae.plot_summary(summary, k=100, stages=3)
    ax = fig.axes[0]
    labels = ax.get_legend_handles_labels()[1]
    assert any("86.76" in label for label in labels) and len(labels) == 3
