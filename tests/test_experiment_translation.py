"""aecourse.experiments.translation: a smoke run of the script on tiny pairs into a stamped, resumable
file; the shards; the table (learning rate chosen on validation, mean ± standard error); bad arguments."""

from __future__ import annotations

import math

import pytest

from aecourse.experiments import stamp
from aecourse.experiments import translation as tr

SUBJECTS = [("i", "je"), ("you", "tu"), ("we", "nous"), ("they", "ils")]
VERBS = [
    ("see", "vois"),
    ("eat", "mange"),
    ("run", "cours"),
    ("sing", "chante"),
    ("walk", "marche"),
    ("read", "lis"),
]


def write_pairs(folder):
    """A tiny eng-fra.txt: 24 English sentences, most with two French translations."""
    lines = []
    for e, f in SUBJECTS:
        for ev, fv in VERBS:
            lines.append(
                f"{e.capitalize()} {ev}.\t{f.capitalize()} {fv}."
            )
            lines.append(
                f"{e.capitalize()} {ev}.\t{f.capitalize()} {fv} !"
            )
    path = folder / "translation" / "eng-fra.txt"
    path.parent.mkdir(parents=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


TINY = [
    "--seeds",
    "0",
    "1",
    "--lrs",
    "0.01",
    "0.003",
    "--epochs",
    "2",
    "--embed",
    "4",
    "--hidden",
    "8",
    "--batch-size",
    "16",
    "--min-count",
    "1",
    "--max-tokens",
    "4",
    "--beam-width",
    "2",
    "--alphas",
    "0",
    "1",
    "--max-len",
    "5",
    "--device",
    "cpu",
]


@pytest.fixture
def tiny_data(tmp_path, monkeypatch):
    write_pairs(tmp_path / "data")
    monkeypatch.setenv("AECOURSE_DATA", str(tmp_path / "data"))


def test_smoke_run_writes_a_stamped_file_and_resumes(tiny_data, tmp_path):
    out = tmp_path / "r.json"
    rows = tr.main(["--out", str(out), "--methods", "plain", *TINY])
    # 2 baselines + 1 method x 2 rates x 2 seeds
    assert len(rows) == 6
    runs = [r for r in rows if r["method"] == "plain"]
    assert {(r["lr"], r["seed"]) for r in runs} == {
        (lr, s) for lr in (0.01, 0.003) for s in (0, 1)
    }
    for r in runs:
        assert 1 <= r["best_epoch"] <= 2 and len(r["valid_loss"]) == 2
        assert r["best_valid"] == min(r["valid_loss"])
        assert r["alpha"] in (0.0, 1.0)
        for key in ("bleu_greedy", "bleu_beam", "bleu_greedy_single"):
            assert 0 <= r[key] <= 100
    copy = next(r for r in rows if r["method"] == "copy")
    assert copy["test_pairs"] >= copy["test_sentences"] >= 1
    file_rows, s = stamp.read_results(out)
    assert file_rows == rows and s["complete"] is True
    assert (
        s["experiment"] == tr.EXPERIMENT
        and stamp.stamp_problems(out) == []
    )
    assert s["config"]["lrs"] == [0.01, 0.003]
    # the same command again trains nothing and keeps the rows
    again = tr.main(["--out", str(out), "--methods", "plain", *TINY])
    assert again == rows
    assert len(stamp.read_results(out)[1]["sessions"]) == 2


def test_shards_split_the_runs_by_seed_and_merge(tiny_data, tmp_path):
    paths = [tmp_path / f"s{k}.json" for k in range(2)]
    args = [*TINY, "--lrs", "0.01", "--methods", "plain", "attention"]
    for k, path in enumerate(paths):
        rows = tr.main(["--out", str(path), "--shard", f"{k}/2", *args])
        # shard k has seed k only; the baselines are in shard 0
        assert {r["seed"] for r in rows if r["lr"]} == {k}
    merged = stamp.merge_results(paths, tmp_path / "m.json", tr.KEY)
    rows, s = stamp.read_results(merged)
    assert len(rows) == 2 + 2 * 2 and s["complete"] is True
    table = tr.summarise(rows)
    assert table["plain"]["n"] == table["attention"]["n"] == 2
    assert "plain" in tr.format_table(table)


def test_runs_and_shards():
    config = tr.Config(
        methods=["plain"], lrs=[1e-3, 2e-3], seeds=[0, 1, 2]
    )
    units = tr.runs(config)
    assert len(units) == 6
    assert [u["seed"] for u in tr.shard_of(units, (1, 3))] == [1, 1]
    with pytest.raises(ValueError, match="0 <= K < N"):
        tr.shard_of(units, (3, 3))


def test_mean_sem_against_a_hand_computation():
    mean, sem = tr.mean_sem([1.0, 2.0, 6.0])
    # mean 3, s² = (4 + 1 + 9) / 2 = 7, s.e. = √(7/3)
    assert mean == pytest.approx(3.0) and sem == pytest.approx(
        math.sqrt(7 / 3)
    )
    assert math.isnan(tr.mean_sem([4.0])[1])
    with pytest.raises(ValueError, match="at least one value"):
        tr.mean_sem([])


def row(method, lr, seed, valid, greedy, beam):
    return {
        "method": method,
        "lr": lr,
        "seed": seed,
        "best_valid": valid,
        "bleu_greedy": greedy,
        "bleu_beam": beam,
        "bleu_greedy_single": greedy - 5,
        "best_epoch": 3,
        "alpha": 1.0,
    }


def test_summarise_chooses_the_rate_on_validation_never_on_test():
    rows = [
        # rate 0.01 has the better test BLEU but the worse validation loss
        row("plain", 0.01, 0, 2.0, 30.0, 31.0),
        row("plain", 0.01, 1, 2.2, 32.0, 33.0),
        row("plain", 0.001, 0, 1.5, 10.0, 12.0),
        row("plain", 0.001, 1, 1.7, 14.0, 15.0),
        {
            "method": "copy",
            "lr": None,
            "seed": None,
            "bleu_greedy": 1.0,
            "bleu_greedy_single": 0.5,
        },
    ]
    table = tr.summarise(rows)
    plain = table["plain"]
    assert plain["lr"] == 0.001 and plain["n"] == 2
    assert plain["lrs"] == pytest.approx({0.01: 2.1, 0.001: 1.6})
    assert plain["bleu_greedy"] == pytest.approx((12.0, 2.0))
    # beam minus greedy per run: 2 and 1
    assert plain["beam_gain"] == pytest.approx((1.5, 0.5))
    assert table["copy"]["bleu_greedy"] == 1.0
    with pytest.raises(ValueError, match="No translator"):
        tr.summarise(rows[-1:])


def test_summarise_compares_only_rates_that_both_translators_ran():
    # a grid cut short: attention lacks the rate 0.01, which plain does best with
    rows = [
        row("plain", 0.01, 0, 1.0, 30.0, 31.0),
        row("plain", 0.01, 1, 1.2, 32.0, 33.0),
        row("plain", 0.001, 0, 1.5, 10.0, 12.0),
        row("plain", 0.001, 1, 1.7, 14.0, 15.0),
        row("attention", 0.001, 0, 1.4, 20.0, 21.0),
        row("attention", 0.001, 1, 1.3, 22.0, 23.0),
        row("attention", 0.01, 0, 0.9, 40.0, 40.0),  # seed 1 missing
    ]
    table = tr.summarise(rows)
    assert table["plain"]["lr"] == table["attention"]["lr"] == 0.001
    assert table["attention"]["lrs"] == pytest.approx({0.001: 1.35})
    with pytest.raises(ValueError, match="same seeds"):
        tr.summarise([rows[0], rows[4]])


def test_runs_are_ordered_rate_first():
    config = tr.Config(lrs=[1e-3, 2e-3], seeds=[0, 1])
    assert [(u["lr"], u["method"]) for u in tr.runs(config)[:4]] == [
        (1e-3, "plain"),
        (1e-3, "plain"),
        (1e-3, "attention"),
        (1e-3, "attention"),
    ]


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"methods": ["lstm"]}, "methods must be"),
        ({"lrs": [0.0]}, "lrs must be"),
        ({"seeds": [0, 0]}, "seeds must be"),
        ({"alphas": [-1.0]}, "alphas must be"),
        ({"epochs": 0}, "epochs must be at least 1"),
    ],
)
def test_bad_configs_raise(changes, message):
    with pytest.raises(ValueError, match=message):
        tr.Config(**changes).check()
