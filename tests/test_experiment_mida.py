"""aecourse.experiments.mida: a tiny grid runs, writes stamped rows with the settings chosen on
validation rows, resumes, rejects bad arguments; split_rows by hand."""

from __future__ import annotations

import pytest
import torch

from aecourse.experiments import mida
from aecourse.experiments.stamp import code_hash, read_results

TINY = [
    "--seeds",
    "0",
    "--fractions",
    "0.2",
    "--mida-epochs",
    "1",
    "2",
    "3",
    "--iterative-rounds",
    "1",
    "2",
    "3",
    "--imputations",
    "2",
    "--threads",
    "1",
]


@pytest.mark.filterwarnings(
    "ignore::sklearn.exceptions.ConvergenceWarning"
)
def test_tiny_grid_writes_stamped_rows_and_resumes(tmp_path):
    out = tmp_path / "mida.json"
    rows = mida.main([*TINY, "--out", str(out)])
    assert [r["method"] for r in rows] == list(mida.METHODS)
    saved, stamp = read_results(out)
    assert saved == rows and stamp["complete"] is True
    assert stamp["code_hash"] == code_hash(mida.EXPERIMENT)
    by = {r["method"]: r for r in rows}
    assert by["KNNImputer"]["setting"] in mida.KNN_K
    assert by["IterativeImputer"]["setting"] in (1, 2, 3)
    assert by["MIDA"]["setting"] in (1, 2, 3)
    assert by["MIDA ×m"]["setting"] == by["MIDA"]["setting"]
    assert by["MIDA ×m"]["spread"] > 0
    assert by["IterativeImputer ×m"]["spread"] > 0
    # the correlations of the breast-cancer table: chained regressions beat the column mean
    assert by["IterativeImputer"]["rmse"] < by["column mean"]["rmse"]
    assert mida.main([*TINY, "--out", str(out)]) == rows


def test_bad_arguments_raise(tmp_path):
    with pytest.raises(ValueError, match="fractions"):
        mida.main(
            [*TINY, "--fractions", "1.5", "--out", str(tmp_path / "a")]
        )
    with pytest.raises(ValueError, match="CPU"):
        mida.main(
            [*TINY, "--device", "cuda", "--out", str(tmp_path / "b")]
        )


def test_split_rows_by_hand():
    fit_rows, valid_rows = mida.split_rows(10, 0.2, seed=3)
    assert len(valid_rows) == 2 and len(fit_rows) == 8
    assert torch.equal(
        torch.cat([fit_rows, valid_rows]).sort().values, torch.arange(10)
    )
    again = mida.split_rows(10, 0.2, seed=3)
    assert torch.equal(again[1], valid_rows)
