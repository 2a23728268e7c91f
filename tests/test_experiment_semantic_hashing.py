"""aecourse.experiments.semantic_hashing: a tiny grid runs, writes stamped rows, resumes, rejects bad
arguments; code_stats by hand."""

from __future__ import annotations

import pytest
import torch

from aecourse.experiments import semantic_hashing as sh
from aecourse.experiments.stamp import code_hash, read_results

TINY = [
    "--device",
    "cpu",
    "--threads",
    "1",
    "--seeds",
    "0",
    "--train-size",
    "300",
    "--valid-size",
    "60",
    "--test-size",
    "40",
    "--bench-queries",
    "20",
    "--epochs",
    "2",
    "--noise-stds",
    "1",
    "4",
]


@pytest.fixture
def tiny_mnist(make_idx_data, monkeypatch):
    """A synthetic MNIST of 300 training and 40 test images (the grid's sizes): no real data needed."""
    data = make_idx_data(n_train=300, n_test=40)
    monkeypatch.setenv("AECOURSE_DATA", str(data.root))
    return data


def test_tiny_grid_writes_stamped_rows_and_resumes(tiny_mnist, tmp_path):
    out = tmp_path / "hash.json"
    rows = sh.main([*TINY, "--out", str(out)])
    assert [r["method"] for r in rows] == list(sh.METHODS)
    saved, stamp = read_results(out)
    assert saved == rows
    assert stamp["complete"] is True
    assert stamp["code_hash"] == code_hash(sh.EXPERIMENT)
    assert stamp["config"]["train_size"] == 300
    for row in rows:
        assert 0 <= row["p@1"] <= 1 and 0 <= row["p@100"] <= 1
        search = row["search"]
        assert set(search) == {
            "radius 0",
            "radius 1",
            "radius 2",
            "scan, 10 nearest",
        }
        # a larger ball retrieves at least as much
        assert (
            search["radius 0"]["retrieved"]
            <= search["radius 1"]["retrieved"]
            <= search["radius 2"]["retrieved"]
        )
        assert search["scan, 10 nearest"]["retrieved"] == 10
    ae = rows[0]
    assert ae["noise_std"] in (1.0, 4.0)
    assert set(ae["valid_p@10_by_std"]) == {"1.0", "4.0"}
    assert sum(ae["histogram"]) == 40 * 32
    assert len(ae["examples"]) == 5 and len(ae["examples"][0]) == 10
    # the same command again finds every run done and adds nothing
    again = sh.main([*TINY, "--out", str(out)])
    assert again == rows
    assert len(read_results(out)[1]["sessions"]) == 2


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="valid_size"):
        sh.main([*TINY, "--valid-size", "300", "--out", "/dev/null"])
    with pytest.raises(ValueError, match="shard"):
        sh.shard_of("3/2")
    with pytest.raises(ValueError, match="shard"):
        sh.shard_of("x")
    assert sh.shard_of("1/3") == (1, 3)


def test_code_stats_by_hand():
    codes = torch.tensor([[0.02, 0.5, 0.97, 0.45]])
    stats = sh.code_stats(codes)
    assert stats["near_ends"] == pytest.approx(0.5)
    assert stats["middle"] == pytest.approx(0.5)
    assert sum(stats["histogram"]) == 4 and len(stats["histogram"]) == 20
    assert stats["histogram"][0] == 1 and stats["histogram"][19] == 1
