"""Reading and showing the results of :mod:`aecourse.experiments.deep_autoencoder` (the pretraining
chapter's Hinton & Salakhutdinov section).

Kept apart from the experiment script on purpose: a results file is stamped with the hash of the code that
made it (:mod:`aecourse.experiments.stamp`), and nothing here can change a number in it, so the page's
table and figure can change without making the committed file stale.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
from matplotlib.ticker import NullFormatter, ScalarFormatter

from aecourse.experiments.deep_autoencoder import (
    EXPERIMENT,
    INITS,
    LABELS,
    PAPER,
    curves,
    summarise,
)
from aecourse.experiments.stamp import read_results


def read(
    path: str | Path = "deep_autoencoder",
) -> tuple[list[dict], dict]:
    """(rows, stamp) of a results file of this experiment: the committed one by default, or a path.

    Raises ValueError if another experiment wrote the file.
    """
    rows, stamp = read_results(path)
    if stamp.get("experiment") != EXPERIMENT:
        raise ValueError(
            f"{path} was written by {stamp.get('experiment')}, not by {EXPERIMENT}."
        )
    return rows, stamp


def describe_stamp(stamp: dict) -> str:
    """The scale of a results file in one line: data sizes, epochs, seeds, hours and devices."""
    c = stamp["config"]
    n_train = c["train_size"] - c["valid_size"]
    return (
        f"{'-'.join(map(str, c['sizes']))} autoencoder; {n_train} training, {c['valid_size']} "
        f"validation, {c['test_size']} test images; {c['pretrain_epochs']} pretraining epochs per "
        f"layer, {c['finetune_epochs']} fine-tuning epochs on mini-batches of {c['finetune_batch']}; "
        f"learning rates SGD {c['sgd_lrs']}, Adam {c['adam_lrs']}; seeds {c['seeds']}; "
        f"{stamp['seconds'] / 3600:.2f} h on {', '.join(stamp['devices'])}"
        + ("" if stamp["complete"] else " (INCOMPLETE)")
    )


def start_errors(rows: list[dict]) -> dict[str, float]:
    """Each trained init's test squared error before fine-tuning, mean over seeds: {init: error}."""
    out = {}
    for init in INITS:
        values = [
            r["start_test_error"] for r in rows if r["init"] == init
        ]
        if values:
            out[init] = sum(values) / len(values)
    return out


def plateau_epochs(curve, level: float) -> int:
    """How many epochs a curve of errors (one per epoch) stays at or above ``level`` from the start.

    E.g. plateau_epochs([52, 52, 40, 30], 50) == 2; 0 if its first epoch is already below.
    """
    n = 0
    for value in curve:
        if value < level:
            break
        n += 1
    return n


def plot_curves(rows: list[dict], ax=None):
    """Validation squared error per image after each fine-tuning epoch, mean over seeds, one line per
    init, beside PCA's and the mean training image's (dotted) and the paper's 3.00 (dashed).

    rows: of a results file. Log scale, so both the plateau at the mean image and the last digits show.
    Returns the Axes.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(7.5, 3.8))
    table = {e["init"]: e for e in summarise(rows)}
    for init, curve in curves(rows).items():
        epochs = range(1, len(curve) + 1)
        ax.plot(epochs, curve.tolist(), label=LABELS[init])
    for init, style in (("pca", ":"), ("mean", ":")):
        if init in table:
            ax.axhline(
                table[init]["valid_error"],
                color="grey",
                ls=style,
                lw=1,
            )
            ax.annotate(
                LABELS[init],
                (1, table[init]["valid_error"]),
                xytext=(2, 2),
                textcoords="offset points",
                fontsize=8,
                color="grey",
            )
    ax.axhline(PAPER["autoencoder"], color="black", ls="--", lw=1)
    ax.annotate(
        f"paper, RBM stack ({PAPER['autoencoder']:.2f}, test)",
        (1, PAPER["autoencoder"]),
        xytext=(2, -10),
        textcoords="offset points",
        fontsize=8,
    )
    ax.set_yscale("log")
    ax.set_yticks([3, 5, 10, 20, 50])
    ax.yaxis.set_major_formatter(ScalarFormatter())
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("fine-tuning epoch")
    ax.set_ylabel("squared error per validation image")
    ax.legend(fontsize=8, loc="upper right", bbox_to_anchor=(1, 0.93))
    return ax
