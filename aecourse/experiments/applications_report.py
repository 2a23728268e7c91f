"""Reading and showing the results of the applications chapter's experiments:
:mod:`aecourse.experiments.semantic_hashing` and :mod:`aecourse.experiments.mida`.

Kept apart from the experiment scripts on purpose: a results file is stamped with the hash of the code that
made it (:mod:`aecourse.experiments.stamp`), and nothing here can change a number in it, so the tables can
change without making the committed files stale. Every headline number is a mean over seeds with its
standard error (:func:`mean_se`); differences between two methods are paired by seed
(:func:`paired_difference`).
"""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np

from aecourse.experiments.stamp import read_results
from aecourse.teaching.tables import Table


def mean_se(values) -> tuple[float, float]:
    """(mean, standard error of the mean) of a sequence of numbers: sd (n − 1) / √n; NaN for one value.

    Raises ValueError for an empty sequence.
    """
    values = np.asarray(list(values), dtype=float)
    if values.size == 0:
        raise ValueError("mean_se needs at least one value.")
    if values.size == 1:
        return float(values[0]), float("nan")
    return float(values.mean()), float(
        values.std(ddof=1) / math.sqrt(values.size)
    )


def pm(stat: tuple[float, float], fmt: str = "{:.3f}") -> str:
    """'mean ± se' as text (the ± part left out when the standard error is NaN)."""
    mean, se = stat
    text = fmt.format(mean)
    if math.isnan(se):
        return text
    return f"{text} ± {fmt.replace('+', '').format(se)}"


def read(name: str, experiment: str):
    """(rows, stamp) of a committed results file (or a path), checked to come from ``experiment``."""
    rows, stamp = read_results(name)
    if stamp.get("experiment") != experiment:
        raise ValueError(
            f"{name} was written by {stamp.get('experiment')}, not by {experiment}."
        )
    return rows, stamp


def describe_stamp(stamp: dict) -> str:
    """Where and how long: the devices, the hours of training, the sessions, and whether it is complete."""
    return (
        f"{stamp['seconds'] / 3600:.2f} h on {', '.join(stamp['devices'])}, "
        f"{len(stamp['sessions'])} session(s)"
        + ("" if stamp["complete"] else "; INCOMPLETE grid")
    )


# --- semantic hashing ---------------------------------------------------------------------------------


def _flat(row: dict) -> dict[str, float]:
    """A hashing row's numbers under flat names ("p@10", "radius 2 precision", ...)."""
    flat = {
        k: v
        for k, v in row.items()
        if isinstance(v, int | float) and k not in ("seed",)
    }
    for search, scores in row["search"].items():
        for name, value in scores.items():
            if value is not None:
                flat[f"{search} {name}"] = value
    return flat


def hashing_summary(rows: list[dict]) -> dict[str, dict[str, tuple]]:
    """{method: {measure: (mean, se) over seeds}} for every number of the hashing rows.

    Measures: "p@k", "buckets", "near_ends", "middle", "p10_after_epoch_1", "noise_std", "best_epoch" and,
    per search ("radius r", "scan, 10 nearest"), "<search> precision|answered|retrieved|ms_per_query".
    A radius that answered no query of a seed has no precision for that seed.
    """
    values: dict[str, dict[str, list]] = defaultdict(
        lambda: defaultdict(list)
    )
    for row in rows:
        for name, value in _flat(row).items():
            values[row["method"]][name].append(value)
    return {
        method: {name: mean_se(v) for name, v in measures.items()}
        for method, measures in values.items()
    }


def hashing_table(
    summary: dict, part: str, ks=(1, 10, 100), radii=(0, 1, 2)
) -> Table:
    """part "precision": precision@k of the exact k nearest codes; part "search": the hash-table search
    (Hamming balls) against the linear scan, with the share of queries answered, the items retrieved per
    query and the milliseconds per query (means over seeds). A Table: HTML in the book, text in print."""
    if part not in ("precision", "search"):
        raise ValueError(
            f"part must be 'precision' or 'search', got {part!r}."
        )
    methods = list(summary)
    if part == "precision":
        return Table(
            ["code (32 bits)"] + [f"precision@{k}" for k in ks],
            [
                [m] + [pm(summary[m][f"p@{k}"]) for k in ks]
                for m in methods
            ],
        )
    rows = []
    for search in [f"radius {r}" for r in radii] + ["scan, 10 nearest"]:
        for m in methods:
            s = summary[m]
            precision = s.get(f"{search} precision")
            rows.append(
                [search, m, pm(precision) if precision else "-"]
                + [f"{s[f'{search} answered'][0]:.2f}"]
                + [f"{s[f'{search} retrieved'][0]:.1f}"]
                + [f"{s[f'{search} ms_per_query'][0]:.3f}"]
            )
    return Table(
        ["search", "code", "precision", "answered", "items", "ms/query"],
        rows,
    )


def describe_hashing(stamp: dict) -> str:
    """The scale of a hashing results file in one line."""
    c = stamp["config"]
    return (
        f"MNIST, {c['train_size']} training images searched ({c['valid_size']} of them held out of "
        f"training to choose), {c['test_size']} test queries ({c['bench_queries']} timed); "
        f"up to {c['epochs']} epochs; noise sd chosen from {c['noise_stds']}; seeds {c['seeds']}; "
        + describe_stamp(stamp)
    )


# --- MIDA -----------------------------------------------------------------------------------------------


def mida_summary(rows: list[dict]) -> dict[tuple[str, float], tuple]:
    """{(method, fraction): (mean, se) of the test RMSE over seeds}."""
    values = defaultdict(list)
    for row in rows:
        values[row["method"], row["fraction"]].append(row["rmse"])
    return {key: mean_se(v) for key, v in values.items()}


def paired_difference(
    rows: list[dict],
    a: str,
    b: str,
    fraction: float,
    measure: str = "rmse",
) -> tuple[float, float]:
    """Mean ± se over seeds of (a − b) for one fraction, each seed's two numbers taken from the same
    split and removal. Raises ValueError if no seed has both methods."""
    of = defaultdict(dict)
    for row in rows:
        if row["fraction"] == fraction:
            of[row["seed"]][row["method"]] = row[measure]
    diffs = [v[a] - v[b] for v in of.values() if a in v and b in v]
    if not diffs:
        raise ValueError(
            f"no seed has both {a!r} and {b!r} at {fraction}."
        )
    return mean_se(diffs)


def mida_table(summary: dict) -> Table:
    """The RMSE table: one row per method, one column per fraction removed (a Table: HTML in the book)."""
    methods = list(dict.fromkeys(m for m, _ in summary))
    fractions = sorted({f for _, f in summary})
    return Table(
        ["method"] + [f"{f:.0%} removed" for f in fractions],
        [
            [m]
            + [
                pm(summary[m, f]) if (m, f) in summary else "-"
                for f in fractions
            ]
            for m in methods
        ],
    )


def describe_mida(stamp: dict, rows: list[dict]) -> str:
    """The scale of a MIDA results file in one line, with the settings the validation rows chose."""
    c = stamp["config"]
    chosen = defaultdict(list)
    for row in rows:
        if row["setting"] is not None:
            chosen[row["method"]].append(row["setting"])
    picks = "; ".join(
        f"{m}: {sorted(set(v))}"
        for m, v in chosen.items()
        if "×" not in m
    )
    return (
        f"table {c['table']}; fractions {c['fractions']}; seeds {c['seeds']}; m = {c['imputations']}; "
        f"chosen on validation rows: {picks}; " + describe_stamp(stamp)
    )
