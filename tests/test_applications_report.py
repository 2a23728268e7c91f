"""aecourse.experiments.applications_report: mean ± standard error by hand, paired differences, the
hashing and MIDA summaries of small made-up result rows."""

from __future__ import annotations

import math

import pytest

from aecourse.experiments import applications_report as report


def test_mean_se_by_hand():
    mean, se = report.mean_se([1.0, 2.0, 3.0])
    # sd (n - 1) = 1, se = 1 / sqrt(3)
    assert mean == 2.0 and se == pytest.approx(1 / math.sqrt(3))
    one = report.mean_se([4.0])
    assert one[0] == 4.0 and math.isnan(one[1])
    with pytest.raises(ValueError):
        report.mean_se([])


def test_pm_formats_mean_and_se():
    assert report.pm((0.5, 0.01)) == "0.500 ± 0.010"
    assert report.pm((0.5, float("nan"))) == "0.500"
    assert report.pm((-0.1234, 0.02), "{:+.3f}") == "-0.123 ± 0.020"


def _row(method, seed, p10, answered):
    return {
        "method": method,
        "seed": seed,
        "p@10": p10,
        "search": {
            "radius 0": {
                "precision": None if answered == 0 else 0.9,
                "answered": answered,
                "retrieved": 2.0,
                "ms_per_query": 0.01,
            }
        },
    }


def test_hashing_summary_over_seeds():
    rows = [
        _row("autoencoder", 0, 0.7, 0.5),
        _row("autoencoder", 1, 0.8, 0.0),
        _row("LSH", 0, 0.6, 0.1),
    ]
    s = report.hashing_summary(rows)
    assert s["autoencoder"]["p@10"][0] == pytest.approx(0.75)
    assert s["autoencoder"]["p@10"][1] == pytest.approx(0.05)
    # a seed that answered nothing has no precision
    assert s["autoencoder"]["radius 0 precision"][0] == 0.9
    assert math.isnan(s["autoencoder"]["radius 0 precision"][1])
    assert "seed" not in s["LSH"]
    with pytest.raises(ValueError, match="part"):
        report.hashing_table(s, "both")
    table = report.hashing_table(s, "precision", ks=(10,))
    assert table.columns == ["code (32 bits)", "precision@10"]
    assert table.rows[0][0] == "autoencoder"
    assert table.rows[0][1] == report.pm(s["autoencoder"]["p@10"])


def test_paired_difference_pairs_by_seed():
    rows = [
        {"method": "a", "seed": 0, "fraction": 0.2, "rmse": 1.0},
        {"method": "b", "seed": 0, "fraction": 0.2, "rmse": 0.5},
        {"method": "a", "seed": 1, "fraction": 0.2, "rmse": 2.0},
        {"method": "b", "seed": 1, "fraction": 0.2, "rmse": 1.0},
        {"method": "a", "seed": 2, "fraction": 0.5, "rmse": 9.0},
    ]
    mean, se = report.paired_difference(rows, "a", "b", 0.2)
    # differences 0.5 and 1.0
    assert mean == pytest.approx(0.75) and se == pytest.approx(0.25)
    with pytest.raises(ValueError, match="no seed"):
        report.paired_difference(rows, "a", "b", 0.5)
    summary = report.mida_summary(rows)
    assert summary["a", 0.2][0] == pytest.approx(1.5)
    table = report.mida_table(summary)
    assert table.columns == ["method", "20% removed", "50% removed"]
    assert (
        table.rows[1][0] == "b" and table.rows[1][2] == "-"
    )  # no 50% row
    assert "20% removed" in str(table)
