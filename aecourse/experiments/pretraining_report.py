"""Reading, choosing and showing the results of :mod:`aecourse.experiments.pretraining` (the pretraining
chapter's Larochelle et al. table).

Kept apart from the experiment script on purpose: a results file is stamped with the hash of the code that
made it (:mod:`aecourse.experiments.stamp`), and nothing here can change a number in it, so the tables and
figures can change without making the committed file stale. :func:`select` chooses, per run, the learning
rate with the lowest validation error; :func:`summarise` gives mean ± standard error over seeds;
:func:`summary_table` and :func:`details_table` show them beside the paper's numbers.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib.pyplot as plt

from aecourse.experiments.pretraining import KEY, PAPER
from aecourse.experiments.stamp import read_results
from aecourse.teaching.tables import Table


def read(path: str | Path = "pretraining") -> tuple[list[dict], dict]:
    """(rows, stamp) of a results file of this experiment: the committed one by default, or a path.

    Raises ValueError if another experiment wrote the file.
    """
    rows, stamp = read_results(path)
    if stamp.get("experiment") != "aecourse.experiments.pretraining":
        raise ValueError(
            f"{path} was written by {stamp.get('experiment')}, not by this experiment."
        )
    return rows, stamp


def select(rows: list[dict]) -> list[dict]:
    """Per (dataset, setting, method, depth, seed), the row whose learning rate has the lowest validation
    error (ties: the first in the file). The test error plays no part in the choice."""
    chosen: dict[tuple, dict] = {}
    for row in rows:
        key = tuple(row[k] for k in KEY[:-1])
        if (
            key not in chosen
            or row["valid_error"] < chosen[key]["valid_error"]
        ):
            chosen[key] = row
    return list(chosen.values())


def summarise(rows, value: str = "test_error") -> list[dict]:
    """Mean ± standard error of ``value`` over seeds, per (dataset, setting, depth, method).

    rows: dicts with those keys and ``value`` (as from :func:`select`). Returns one dict per group, in the
    order groups first appear, with the four keys plus n (runs), mean and sem = s/√n, s the sample
    standard deviation (n − 1 in the denominator); sem is nan for a single run.
    """
    groups: dict[tuple, list[float]] = {}
    for row in rows:
        if value not in row:
            raise ValueError(
                f"Every row needs a {value!r} column; got a row with {sorted(row)}."
            )
        key = (
            row["dataset"],
            row["setting"],
            int(row["depth"]),
            row["method"],
        )
        groups.setdefault(key, []).append(float(row[value]))
    table = []
    for (dataset, setting, depth, method), values in groups.items():
        n = len(values)
        mean = sum(values) / n
        sem = (
            math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1) / n)
            if n > 1
            else float("nan")
        )
        table.append(
            {
                "dataset": dataset,
                "setting": setting,
                "depth": depth,
                "method": method,
                "n": n,
                "mean": mean,
                "sem": sem,
            }
        )
    return table


def _reading_order(keys) -> list[tuple]:
    """(dataset, setting, depth, ...) keys sorted as a reader scans a table: data sets and settings in
    the order they first appear, then depth from 1 up (a grid run deepest first lists depth 4 first)."""
    keys = list(keys)
    datasets = list(dict.fromkeys(k[0] for k in keys))
    settings = list(dict.fromkeys(k[1] for k in keys))
    return sorted(
        keys,
        key=lambda k: (datasets.index(k[0]), settings.index(k[1]), k[2]),
    )


def summary_table(
    table: list[dict], percent: bool = True, paper: dict | None = PAPER
) -> Table:
    """The table of :func:`summarise` as a :class:`~aecourse.teaching.tables.Table` (HTML in the book, text
    in print): one row per (dataset, setting, depth), one column per method, cells "mean ± s.e. over seeds"
    (in % by default), then the paper's cells; lines by data set, setting, then depth from 1 up.

    paper: the :data:`PAPER` numbers, a column "paper: method" per method, "error ± interval" where one
    exists for the row (era setting); their ± is a 95% binomial interval over the paper's test set, not a
    spread over seeds.
    """
    scale, unit = (100, "%") if percent else (1, "")
    methods = list(dict.fromkeys(r["method"] for r in table))
    lines: dict[tuple, dict] = {}
    for r in table:
        # One seed has no spread to report: say so instead of printing "± nan".
        spread = f"± {scale * r['sem']:.2f}" if r["n"] > 1 else "(1 seed)"
        cells = lines.setdefault(
            (r["dataset"], r["setting"], r["depth"]), {}
        )
        cells[r["method"]] = f"{scale * r['mean']:.2f}{unit} {spread}"
        cells["n"] = max(cells.get("n", 0), r["n"])
    quoted = ("none", "ae", "rbm") if paper else ()
    rows = []
    for dataset, setting, depth in _reading_order(lines):
        cells = lines[dataset, setting, depth]
        rows.append(
            [dataset, setting, depth]
            + [cells.get(m, "-") for m in methods]
            + [cells["n"]]
            + [
                "{:.2f} ± {:.2f}".format(*paper[dataset, m, depth])
                if setting == "era" and (dataset, m, depth) in paper
                else "-"
                for m in quoted
            ]
        )
    return Table(
        ["dataset", "setting", "depth", *methods, "seeds"]
        + [f"paper: {m}" for m in quoted],
        rows,
    )


def details_table(rows: list[dict]) -> Table:
    """The chosen runs (from :func:`select`) in more detail, one row per (dataset, setting, depth, method):
    mean training, validation and test errors (%) over seeds, the mean best epoch, the mean number of
    epochs on the plateau (:func:`plateau_epochs`) and the learning rates chosen (one per seed). Lines
    by data set, setting, depth from 1 up, then method in the order the rows give them."""
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        key = (r["dataset"], r["setting"], r["depth"], r["method"])
        groups.setdefault(key, []).append(r)
    mean = lambda rs, k: sum(r[k] for r in rs) / len(rs)  # noqa: E731
    out = []
    for dataset, setting, depth, method in _reading_order(groups):
        rs = groups[dataset, setting, depth, method]
        plateau = sum(
            plateau_epochs(r["train_losses"]) for r in rs
        ) / len(rs)
        out.append(
            [dataset, setting, depth, method]
            + [
                f"{100 * mean(rs, k):.2f}%"
                for k in ("train_error", "valid_error", "test_error")
            ]
            + [f"{mean(rs, 'best_epoch'):.1f}", f"{plateau:.1f}"]
            + [" ".join(f"{r['lr']:g}" for r in rs)]
        )
    return Table(
        [
            "dataset",
            "setting",
            "depth",
            "method",
            "train",
            "valid",
            "test",
        ]
        + ["best epoch", "plateau", "lr chosen"],
        out,
    )


def describe_stamp(stamp: dict) -> str:
    """The scale of a results file in one line: devices, hours, grid, sizes and epochs."""
    c = stamp["config"]
    return (
        f"{len(c['datasets'])} data sets x settings {c['settings']} x depths {c['depths']} x methods "
        f"{c['methods']} x seeds {c['seeds']}; {c['hidden']} units per layer; {c['train_size']} "
        f"training, {c['valid_size']} validation, {c['test_size']} test images; "
        f"{c['pretrain_epochs']} pretraining epochs per layer; fine-tuning {c['min_epochs']} to "
        f"{c['max_epochs']} epochs (patience {c['patience']}); "
        f"{stamp['seconds'] / 3600:.2f} h on {', '.join(stamp['devices'])}"
        + ("" if stamp["complete"] else " (INCOMPLETE)")
    )


# --- figures ---------------------------------------------------------------------------------------

METHOD_LABELS = {
    "none": "no pretraining",
    "ae": "autoencoders",
    "dae": "denoising autoencoders",
    "rbm": "RBMs",
}


def plot_summary(
    table: list[dict], setting: str = "era", paper: dict | None = PAPER
):
    """Test error (%) against depth, one panel per data set, one line per method with ± s.e. bars, and the
    paper's numbers (dashed, where ``paper`` has them). table: from :func:`summarise`. Returns the Figure.
    """
    rows = [r for r in table if r["setting"] == setting]
    if not rows:
        raise ValueError(
            f"The table has no rows for setting {setting!r}."
        )
    datasets = list(dict.fromkeys(r["dataset"] for r in rows))
    fig, axes = plt.subplots(
        1,
        len(datasets),
        figsize=(4.6 * len(datasets), 3.4),
        squeeze=False,
    )
    for ax, dataset in zip(axes[0], datasets):
        for i, method in enumerate(
            dict.fromkeys(r["method"] for r in rows)
        ):
            line = sorted(
                (
                    r["depth"],
                    100 * r["mean"],
                    100 * r["sem"] if r["n"] > 1 else 0.0,
                )
                for r in rows
                if r["dataset"] == dataset and r["method"] == method
            )
            depth, mean, sem = zip(*line)
            bars = ax.errorbar(
                depth,
                mean,
                yerr=sem,
                marker="o",
                capsize=3,
                color=f"C{i}",
                label=METHOD_LABELS.get(method, method),
            )
            quoted = [
                (d, paper[(dataset, method, d)][0])
                for d in depth
                if paper
                and setting == "era"
                and (dataset, method, d) in paper
            ]
            if quoted:
                ax.plot(
                    *zip(*quoted),
                    linestyle="--",
                    marker="x",
                    color=bars.lines[0].get_color(),
                    alpha=0.6,
                )
        ax.set_xticks(sorted({r["depth"] for r in rows}))
        ax.set_xlabel("hidden layers")
        ax.set_ylabel("test error (%)")
        ax.set_title(f"{dataset}, {setting} setting")
    axes[0, 0].legend(
        fontsize=8, title="ours (paper: dashed)", title_fontsize=8
    )
    fig.tight_layout()
    return fig


def plot_fine_tuning(rows: list[dict], depth: int, setting: str = "era"):
    """Training loss per epoch of fine-tuning, one thin line per seed, one colour per method: one panel per
    data set. rows: from :func:`select`. The dotted line is ln 10 ≈ 2.30, the loss of guessing uniformly
    among ten classes, where a net that has not started to learn sits."""
    rows = [
        r for r in rows if r["setting"] == setting and r["depth"] == depth
    ]
    if not rows:
        raise ValueError(
            f"No runs of depth {depth} in setting {setting!r}."
        )
    datasets = list(dict.fromkeys(r["dataset"] for r in rows))
    fig, axes = plt.subplots(
        1,
        len(datasets),
        figsize=(4.6 * len(datasets), 3.2),
        squeeze=False,
    )
    for ax, dataset in zip(axes[0], datasets):
        for i, method in enumerate(
            dict.fromkeys(r["method"] for r in rows)
        ):
            for j, r in enumerate(
                r
                for r in rows
                if r["dataset"] == dataset and r["method"] == method
            ):
                ax.plot(
                    range(1, len(r["train_losses"]) + 1),
                    r["train_losses"],
                    color=f"C{i}",
                    linewidth=1,
                    label=METHOD_LABELS.get(method, method)
                    if j == 0
                    else None,
                )
        ax.axhline(math.log(10), color="grey", linestyle=":", linewidth=1)
        ax.set_yscale("log")
        ax.set_xlabel("fine-tuning epoch")
        ax.set_ylabel("training cross-entropy")
        ax.set_title(f"{dataset}, {depth} hidden layers")
    axes[0, 0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def plateau_epochs(
    losses: list[float], level: float = 0.9 * math.log(10)
) -> int:
    """How many epochs a run's training loss stayed above ``level`` (default 90% of ln 10) before it first
    fell below it: 0 if the first epoch was already below; len(losses) if it never fell."""
    for i, value in enumerate(losses):
        if value < level:
            return i
    return len(losses)
