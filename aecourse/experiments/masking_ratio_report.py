"""Reading, choosing and showing the results of :mod:`aecourse.experiments.masking_ratio` (the
masked-autoencoder chapter's masking-ratio table).

Kept apart from the experiment script on purpose: a results file is stamped with the hash of the code that
made it (:mod:`aecourse.experiments.stamp`), and nothing here can change a number in it, so the table and
the figure can change without making the committed file stale. The file holds one row per learning rate;
:func:`select` keeps, per run, the rate with the best validation accuracy; :func:`summarise` gives the
mean ± standard error over seeds of the test accuracy; :func:`summary_table` and :func:`plot_summary`
show it; :func:`gain` pairs two methods seed by seed.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt

from aecourse.experiments import applications_report
from aecourse.experiments.applications_report import mean_se, pm
from aecourse.experiments.masking_ratio import EXPERIMENT, KEY
from aecourse.teaching.tables import Table

# a run: every key column but the learning rate, which select() chooses
RUN = KEY[:-1]
BASELINES = {
    "random": "same transformer, random weights",
    "dae": "denoising autoencoder",
    "pixels": "raw pixels",
}


def read(path: str | Path = "masking_ratio") -> tuple[list[dict], dict]:
    """(rows, stamp) of a results file of this experiment: the committed one by default, or a path.

    Raises ValueError if another experiment wrote the file.
    """
    return applications_report.read(path, EXPERIMENT)


def select(rows: list[dict]) -> list[dict]:
    """Per run (method, ratio, seed, evaluation), the row whose learning rate has the highest validation
    accuracy (ties: the first in the file). The test accuracy plays no part in the choice."""
    chosen: dict[tuple, dict] = {}
    for row in rows:
        run = tuple(row[k] for k in RUN)
        if (
            run not in chosen
            or row["valid_accuracy"] > chosen[run]["valid_accuracy"]
        ):
            chosen[run] = row
    return list(chosen.values())


def summarise(
    rows: list[dict], value: str = "test_accuracy"
) -> list[dict]:
    """Mean ± standard error over seeds of ``value`` at the chosen learning rates.

    rows: a results file's rows (:func:`select` is applied first; applying it twice changes nothing).
    Returns one dict per (method, ratio, evaluation), in the order they first appear: those three keys,
    n (seeds), mean, sem (sample standard deviation / √n, nan for one seed) and lrs (the rate chosen for
    each seed).
    """
    groups: dict[tuple, list[dict]] = {}
    for row in select(rows):
        key = (row["method"], row["ratio"], row["evaluation"])
        groups.setdefault(key, []).append(row)
    table = []
    for (method, ratio, evaluation), group in groups.items():
        mean, sem = mean_se(r[value] for r in group)
        table.append(
            {
                "method": method,
                "ratio": ratio,
                "evaluation": evaluation,
                "n": len(group),
                "mean": mean,
                "sem": sem,
                "lrs": [r["lr"] for r in group],
            }
        )
    return table


def gain(
    rows: list[dict],
    evaluation: str,
    ratio: float = 0.75,
    baseline: str = "random",
) -> tuple[float, float]:
    """Mean ± standard error over seeds of (mae at ``ratio`` − ``baseline``) test accuracy, paired by
    seed (the same labelled images and, for "random", the same initial weights). Raises ValueError if no
    seed has both."""
    of: dict[int, dict] = {}
    for row in select(rows):
        if row["evaluation"] != evaluation:
            continue
        if (row["method"], row["ratio"]) in (
            ("mae", ratio),
            (baseline, None),
        ):
            of.setdefault(row["seed"], {})[row["method"]] = row[
                "test_accuracy"
            ]
    diffs = [v["mae"] - v[baseline] for v in of.values() if len(v) == 2]
    if not diffs:
        raise ValueError(
            f"no seed has both mae at {ratio} and {baseline!r} in {evaluation!r}."
        )
    return mean_se(diffs)


def label(method: str, ratio: float | None) -> str:
    """An encoder's name in the chapter's tables: "MAE, 75% hidden", or the baseline's description."""
    if method == "mae":
        return f"MAE, {ratio:.0%} hidden"
    return BASELINES.get(method, method)


def lines(table: list[dict]) -> list[tuple]:
    """The (method, ratio) pairs of :func:`summarise`'s table: MAE by ratio, then the baselines in the
    order of :data:`BASELINES`."""

    def order(line: tuple) -> tuple:
        method, ratio = line
        if method == "mae":
            return (0, ratio)
        known = list(BASELINES)
        return (1, known.index(method) if method in known else len(known))

    return sorted({(r["method"], r["ratio"]) for r in table}, key=order)


def summary_table(table: list[dict]) -> Table:
    """The table of :func:`summarise` as a :class:`~aecourse.teaching.tables.Table` (HTML in the book,
    text in print): one row per encoder (:func:`lines`), one column per evaluation, cells "mean ± s.e."
    of the test accuracy in %, then the most seeds of the row's cells; "-" where a cell is missing."""
    evaluations = list(dict.fromkeys(r["evaluation"] for r in table))
    cells = {(r["method"], r["ratio"], r["evaluation"]): r for r in table}
    rows = []
    for method, ratio in lines(table):
        found = [cells.get((method, ratio, e)) for e in evaluations]
        rows.append(
            [label(method, ratio)]
            + [
                "-"
                if r is None
                else pm((100 * r["mean"], 100 * r["sem"]), "{:.1f}")
                for r in found
            ]
            + [max(r["n"] for r in found if r is not None)]
        )
    return Table(
        ["encoder", *evaluations, "seeds"],
        rows,
        title="Test accuracy (%), mean ± s.e. over seeds",
    )


STYLES = {"random": "--", "dae": ":", "pixels": "-."}


def plot_summary(table: list[dict]):
    """Test accuracy (%) against the masking ratio, one panel per evaluation: the MAE with ± s.e. bars,
    each baseline a horizontal line with its ± s.e. band. Returns the Figure."""
    evaluations = list(dict.fromkeys(r["evaluation"] for r in table))
    fig, _ = plt.subplots(
        1, len(evaluations), figsize=(3.6 * len(evaluations), 3.2)
    )
    for ax, evaluation in zip(fig.axes, evaluations):
        here = [r for r in table if r["evaluation"] == evaluation]
        mae = sorted(
            (r["ratio"], r) for r in here if r["method"] == "mae"
        )
        if mae:
            ax.errorbar(
                [100 * ratio for ratio, _ in mae],
                [100 * r["mean"] for _, r in mae],
                yerr=[
                    100 * r["sem"] if r["n"] > 1 else 0 for _, r in mae
                ],
                marker="o",
                capsize=3,
                label="MAE",
            )
        for r in here:
            if r["method"] not in STYLES:
                continue
            mean, sem = 100 * r["mean"], 100 * r["sem"]
            ax.axhline(
                mean,
                linestyle=STYLES[r["method"]],
                color="k",
                label=BASELINES[r["method"]],
            )
            if r["n"] > 1:
                ax.axhspan(mean - sem, mean + sem, color="k", alpha=0.08)
        ax.set(
            title=evaluation,
            xlabel="masking ratio (%)",
            ylabel="test accuracy (%)",
        )
    fig.axes[0].legend(fontsize=7)
    fig.tight_layout()
    return fig
