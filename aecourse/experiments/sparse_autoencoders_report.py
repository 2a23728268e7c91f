"""Reading and showing the results of :mod:`aecourse.experiments.sparse_autoencoders` (the sparse-autoencoder
chapter's L0 frontier of TopK against ReLU + L1).

Kept apart from the experiment script on purpose: a results file is stamped with the hash of the code that
made it (:mod:`aecourse.experiments.stamp`), and nothing here can change a number in it, so the table and
the figure can change without making the committed file stale. :func:`frontier` gives, per (method,
sparsity), the mean ± standard error over seeds of L0, FVU, loss recovered, the loss the SAE adds and
dead latents;
:func:`frontier_table` and :func:`plot_frontier` show it; :func:`best_at` answers the chapter's question
"how much loss is recovered at L0 <= 32?", choosing the sparsity on the validation activations.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
from matplotlib.ticker import NullFormatter, ScalarFormatter

from aecourse.experiments import applications_report
from aecourse.experiments.applications_report import mean_se, pm
from aecourse.experiments.sparse_autoencoders import EXPERIMENT, METHODS
from aecourse.teaching.plots import COLOURS
from aecourse.teaching.tables import Table

# what frontier() averages: the row's value names without their split prefix, and loss_added,
# L_sae − L_clean in nats per token (zero-ablating the whole residual stream is so harsh a reference
# that the loss recovered is near 1 for every SAE; the loss added is the stricter number)
VALUES = ("l0", "fvu", "loss_recovered", "loss_added", "dead")
LABELS = {"topk": "TopK", "l1": "ReLU + L1"}
STYLE = {
    "topk": dict(color=COLOURS["blue"], marker="o"),
    "l1": dict(color=COLOURS["orange"], marker="s"),
}


def read(
    path: str | Path = "sparse_autoencoders",
) -> tuple[list[dict], dict]:
    """(rows, stamp) of a results file of this experiment: the committed one by default, or a path.

    Raises ValueError if another experiment wrote the file.
    """
    return applications_report.read(path, EXPERIMENT)


def _order(method: str) -> int:
    return METHODS.index(method) if method in METHODS else len(METHODS)


def frontier(rows: list[dict], split: str = "test") -> list[dict]:
    """Mean ± standard error over seeds of L0, FVU, loss recovered, loss added (L_sae − L_clean, nats per
    token) and the dead fraction, per (method, sparsity), on one split ("test", or "valid" to choose by).

    Returns one dict per (method, sparsity): method, sparsity, n (seeds), and for each v of
    :data:`VALUES` ``v`` (the mean) and ``v_se`` (sample standard deviation / √n, NaN for one seed);
    ordered by method (topk, then l1), then by mean L0, smallest first.
    """
    if split not in ("test", "valid"):
        raise ValueError(
            f"split must be 'test' or 'valid', got {split!r}."
        )
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        groups.setdefault((row["method"], row["sparsity"]), []).append(
            row
        )
    table = []
    for (method, sparsity), group in groups.items():
        entry = {"method": method, "sparsity": sparsity, "n": len(group)}
        for value in VALUES:
            mean, se = mean_se(_value(r, split, value) for r in group)
            entry[value], entry[f"{value}_se"] = mean, se
        table.append(entry)
    return sorted(table, key=lambda e: (_order(e["method"]), e["l0"]))


def _value(row: dict, split: str, value: str) -> float:
    if value == "loss_added":
        return row[f"{split}_loss_sae"] - row[f"{split}_loss_clean"]
    return row[f"{split}_{value}"]


def sparsity_label(method: str, sparsity) -> str:
    """ "k = 16" for TopK, "λ = 0.03" for L1."""
    return f"k = {sparsity}" if method == "topk" else f"λ = {sparsity:g}"


def frontier_table(table: list[dict]) -> Table:
    """The table of :func:`frontier` as a :class:`~aecourse.teaching.tables.Table` (HTML in the book, text
    in print): one row per (method, sparsity), cells "mean ± s.e." of L0, FVU, loss recovered, loss added
    (nats per token) and dead latents (%), then the number of seeds."""
    rows = [
        [
            LABELS.get(e["method"], e["method"]),
            sparsity_label(e["method"], e["sparsity"]),
            pm((e["l0"], e["l0_se"]), "{:.1f}"),
            pm((e["fvu"], e["fvu_se"]), "{:.3f}"),
            pm((e["loss_recovered"], e["loss_recovered_se"]), "{:.3f}"),
            pm((e["loss_added"], e["loss_added_se"]), "{:.3f}"),
            pm((100 * e["dead"], 100 * e["dead_se"]), "{:.1f}"),
            e["n"],
        ]
        for e in table
    ]
    return Table(
        [
            "method",
            "sparsity",
            "L0",
            "FVU",
            "loss recovered",
            "loss added",
            "dead (%)",
            "seeds",
        ],
        rows,
        title="Sparse autoencoders on the residual stream (test activations), mean ± s.e. over seeds",
    )


def plot_frontier(table: list[dict]):
    """Two panels against L0 (log scale, base 2): the FVU, and the loss the SAE adds to the model's
    next-token loss (nats per token, log scale: the loss recovered of every run is too close to 1 to
    tell them apart); one line per method (TopK blue circles, ReLU + L1 orange squares, Okabe–Ito
    colours), ± s.e. bars both ways. Returns the Figure."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(7.6, 3.2))
    for method in sorted({e["method"] for e in table}, key=_order):
        line = [e for e in table if e["method"] == method]
        for ax, value in ((left, "fvu"), (right, "loss_added")):
            ax.errorbar(
                [e["l0"] for e in line],
                [e[value] for e in line],
                xerr=[e["l0_se"] if e["n"] > 1 else 0 for e in line],
                yerr=[
                    e[f"{value}_se"] if e["n"] > 1 else 0 for e in line
                ],
                capsize=3,
                label=LABELS.get(method, method),
                **STYLE.get(method, {}),
            )
    right.set_yscale("log")
    for ax, name in (
        (left, "FVU"),
        (right, "loss added (nats per token)"),
    ):
        # powers of 2 labelled plainly (2, 4, 8, ...), no crowded minor labels
        ax.set_xscale("log", base=2)
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set(xlabel="L0 (active latents per token)", ylabel=name)
    left.legend(fontsize=8)
    fig.tight_layout()
    return fig


def best_at(rows: list[dict], max_l0: float = 32) -> dict[str, dict]:
    """Per method, the sparsity with the highest validation loss recovered among those whose mean
    validation L0 is at most max_l0, and its test numbers.

    Returns {method: {"sparsity", "n", "l0", "loss_recovered", "loss_added", "fvu"}}, the last four (mean,
    s.e.) over
    seeds on the test activations; a method with no sparsity within max_l0 is left out. The choice uses
    the validation activations only, so the reported test number is not the best of several test numbers.
    """
    valid = {
        (e["method"], e["sparsity"]): e for e in frontier(rows, "valid")
    }
    test = {
        (e["method"], e["sparsity"]): e for e in frontier(rows, "test")
    }
    best: dict[str, dict] = {}
    for (method, sparsity), e in valid.items():
        if e["l0"] > max_l0:
            continue
        if (
            method not in best
            or e["loss_recovered"] > best[method]["valid_loss_recovered"]
        ):
            t = test[method, sparsity]
            best[method] = {
                "sparsity": sparsity,
                "n": t["n"],
                "l0": (t["l0"], t["l0_se"]),
                "loss_recovered": (
                    t["loss_recovered"],
                    t["loss_recovered_se"],
                ),
                "loss_added": (t["loss_added"], t["loss_added_se"]),
                "fvu": (t["fvu"], t["fvu_se"]),
                "valid_loss_recovered": e["loss_recovered"],
            }
    return {
        m: {k: v for k, v in b.items() if k != "valid_loss_recovered"}
        for m, b in sorted(best.items(), key=lambda mb: _order(mb[0]))
    }
