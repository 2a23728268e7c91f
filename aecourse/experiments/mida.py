"""MIDA against scikit-learn's imputers over several splits and seeds: the grid behind the applications
chapter's imputation section.

For each seed and fraction of entries removed: split the table (``load_table(seed=seed)``: 75% training
rows, 25% test rows, standardised with the training rows), remove that fraction of the entries of every
row completely at random, and split the training rows again into rows the imputers are fitted on (80%)
and validation rows (20%), whose removed entries choose each method's setting. Then impute the test rows
and measure the RMSE on their removed entries (standard deviations), for:

- ``column mean`` (nothing to choose);
- ``KNNImputer``: k chosen from :data:`KNN_K`;
- ``IterativeImputer``: scikit-learn's chained regressions (BayesianRidge), rounds chosen from
  :data:`ITERATIVE_ROUNDS`; ``IterativeImputer ×m``: the MICE way, m imputations drawn from the
  regressions' predictive distributions (``sample_posterior=True``, one seed each), pooled;
- ``MIDA``: the overcomplete denoising autoencoder of :func:`aecourse.evaluation.imputation.train_imputer`,
  epochs chosen from :data:`MIDA_EPOCHS`; ``MIDA ×m``: m such networks from different random starts,
  pooled (:func:`~aecourse.evaluation.imputation.pool_imputations`).

Every method gets three settings to choose from, on the same validation rows: the same tuning budget. The
test rows choose nothing. A row records the test RMSE, the chosen setting, and, for the ×m methods, the
spread between the m imputations.

How this differs from the paper (:data:`PAPER`): Gondara & Wang trained with SGD and Nesterov momentum for
500 epochs and compared with MICE in R on several public data sets, with MCAR and MNAR removal; we use
Adam, choose the epochs on validation rows, use one table (scikit-learn's breast cancer, 569 × 30) and
MCAR removal only, and use scikit-learn's IterativeImputer for MICE.

    python -m aecourse.experiments.mida --seeds 0 1 2 3 4

The networks are tiny: the CPU is faster than a GPU here (``--device cpu``); ``--shard K/N`` runs every
N-th (seed, fraction) in one process, the shards' files merged with ``merge_results``.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import asdict, dataclass, field

import torch

from aecourse.evaluation import imputation
from aecourse.experiments.stamp import RESULTS, ResultsFile
from aecourse.settings import seed_everything

EXPERIMENT = "aecourse.experiments.mida"
KEY = ("fraction", "method", "seed")
KNN_K = (2, 5, 10)
ITERATIVE_ROUNDS = (3, 10, 30)
MIDA_EPOCHS = (50, 100, 200)

# The paper's setting, to state beside ours (typed here, never measured).
PAPER = {
    "paper": "L. Gondara and K. Wang (2018), MIDA: Multiple imputation using denoising autoencoders, PAKDD",
    "network": "overcomplete: three encoder layers, each Θ = 7 units wider than the last, tanh, "
    "a mirrored decoder",
    "corruption": "dropout of the input, rate 0.5",
    "baseline": "MICE",
    "metric": "RMSE on the removed entries",
    # as the earlier version of this course read the paper; not rechecked (no copy of it at hand)
    "unchecked": "SGD with Nesterov momentum for 500 epochs; several imputations from several runs",
}


@dataclass
class Config:
    """The grid: one table, fractions of entries removed, m imputations for the ×m methods, seeds."""

    table: str = "breast_cancer"
    valid_fraction: float = 0.2
    fractions: tuple[float, ...] = (0.1, 0.2, 0.3, 0.5)
    imputations: int = 5
    seeds: tuple[int, ...] = field(default=(0, 1, 2, 3, 4))
    knn_k: tuple[int, ...] = KNN_K
    iterative_rounds: tuple[int, ...] = ITERATIVE_ROUNDS
    mida_epochs: tuple[int, ...] = MIDA_EPOCHS

    def check(self) -> None:
        if not 0 < self.valid_fraction < 1:
            raise ValueError(
                f"valid_fraction must be in (0, 1), got {self.valid_fraction}."
            )
        if not self.fractions or not all(
            0 < f < 1 for f in self.fractions
        ):
            raise ValueError(
                f"fractions must be in (0, 1), got {self.fractions}."
            )
        if self.imputations < 2:
            raise ValueError(
                f"imputations must be >= 2, got {self.imputations}."
            )
        if not self.seeds:
            raise ValueError("seeds must hold at least one seed.")


METHODS = (
    "column mean",
    "KNNImputer",
    "IterativeImputer",
    "IterativeImputer ×m",
    "MIDA",
    "MIDA ×m",
)


def split_rows(n: int, valid_fraction: float, seed: int):
    """A seeded split of range(n) into (fit rows, validation rows), both sorted index tensors."""
    order = torch.randperm(
        n, generator=torch.Generator().manual_seed(seed)
    )
    n_valid = max(1, round(valid_fraction * n))
    return order[n_valid:].sort().values, order[:n_valid].sort().values


def run_unit(cfg: Config, seed: int, fraction: float) -> list[dict]:
    """Every method for one (seed, fraction): a list of rows, one per method."""
    table = imputation.load_table(cfg.table, seed=seed)
    g = torch.Generator().manual_seed(1000 * seed + round(100 * fraction))
    train_missing, train_removed = imputation.remove_entries(
        table.train, fraction, g
    )
    test_missing, test_removed = imputation.remove_entries(
        table.test, fraction, g
    )
    fit_rows, valid_rows = split_rows(
        len(table.train), cfg.valid_fraction, seed
    )
    fit_x = train_missing[fit_rows]
    valid_x, valid_true, valid_removed = (
        train_missing[valid_rows],
        table.train[valid_rows],
        train_removed[valid_rows],
    )

    both = torch.cat([valid_x, test_missing])
    n_valid = len(valid_x)

    def scores(impute):
        """impute(x_missing) -> x, applied once to the validation and test rows together (every imputer
        here fills a row from that row and what it was fitted on); (validation RMSE, test RMSE, test
        imputation)."""
        out = impute(both)
        return (
            imputation.rmse_on(valid_true, out[:n_valid], valid_removed),
            imputation.rmse_on(table.test, out[n_valid:], test_removed),
            out[n_valid:],
        )

    def choose(candidates):
        """candidates: {setting: impute}; the setting with the lowest validation RMSE, and its scores."""
        found = {s: scores(f) for s, f in candidates.items()}
        best = min(found, key=lambda s: found[s][0])
        return best, found[best]

    rows = []

    def add(method, setting, valid, test, spread=None):
        rows.append(
            {
                "fraction": fraction,
                "method": method,
                "seed": seed,
                "setting": setting,
                "valid_rmse": valid,
                "rmse": test,
                **({} if spread is None else {"spread": spread}),
            }
        )

    valid, test, _ = scores(lambda x: imputation.impute_mean(x, fit_x))
    add("column mean", None, valid, test)
    k, (valid, test, _) = choose(
        {
            k: (lambda x, k=k: imputation.impute_knn(x, fit_x, k))
            for k in cfg.knn_k
        }
    )
    add("KNNImputer", k, valid, test)
    rounds, (valid, test, _) = choose(
        {
            r: (
                lambda x, r=r: imputation.impute_iterative(
                    x, fit_x, max_iter=r, seed=seed
                )
            )
            for r in cfg.iterative_rounds
        }
    )
    add("IterativeImputer", rounds, valid, test)
    draws = [
        lambda x, i=i: imputation.impute_iterative(
            x,
            fit_x,
            max_iter=rounds,
            sample_posterior=True,
            seed=cfg.imputations * seed + i,
        )
        for i in range(cfg.imputations)
    ]
    pooled = _pooled(
        draws, valid_x, valid_true, valid_removed, test_missing
    )
    add(
        "IterativeImputer ×m",
        rounds,
        pooled["valid"],
        imputation.rmse_on(table.test, pooled["test"], test_removed),
        pooled["spread"],
    )

    def mida(epoch_counts, start):
        """MIDA networks from one run, after each of epoch_counts epochs, as impute functions."""
        seed_everything(start)
        models, fill = imputation.train_imputer_snapshots(
            fit_x,
            epoch_counts,
            generator=torch.Generator().manual_seed(start),
        )
        return [
            (lambda x, m=m: imputation.impute_autoencoder(m, x, fill))
            for m in models
        ]

    start = 100 * seed
    nets = dict(zip(cfg.mida_epochs, mida(cfg.mida_epochs, start)))
    epochs, (valid, test, _) = choose(nets)
    add("MIDA", epochs, valid, test)
    more = [nets[epochs]] + [
        mida((epochs,), start + i)[0] for i in range(1, cfg.imputations)
    ]
    pooled = _pooled(
        more, valid_x, valid_true, valid_removed, test_missing
    )
    add(
        "MIDA ×m",
        epochs,
        pooled["valid"],
        imputation.rmse_on(table.test, pooled["test"], test_removed),
        pooled["spread"],
    )
    return rows


def _pooled(imputers, valid_x, valid_true, valid_removed, test_missing):
    """Pool the imputations of several imputers, each applied once to the validation and test rows;
    the spread is measured on the test rows' missing entries."""
    both = torch.cat([valid_x, test_missing])
    n_valid = len(valid_x)
    on_test = both.isnan()
    on_test[:n_valid] = False
    pooled, spread = imputation.pool_imputations(
        [f(both) for f in imputers], on_test
    )
    return {
        "valid": imputation.rmse_on(
            valid_true, pooled[:n_valid], valid_removed
        ),
        "test": pooled[n_valid:],
        "spread": spread,
    }


def shard_of(text: str) -> tuple[int, int]:
    """ "K/N" -> (K, N) with 0 <= K < N. Raises ValueError otherwise."""
    try:
        k, n = (int(v) for v in text.split("/"))
    except ValueError:
        raise ValueError(
            f"--shard must be K/N, e.g. 0/3; got {text!r}."
        ) from None
    if not 0 <= k < n:
        raise ValueError(f"--shard K/N needs 0 <= K < N, got {text!r}.")
    return k, n


def main(argv=None) -> list[dict]:
    p = argparse.ArgumentParser(
        prog=f"python -m {EXPERIMENT}", description=__doc__.split("\n")[0]
    )
    default = Config()
    p.add_argument("--out", default=str(RESULTS / "mida.json"))
    p.add_argument(
        "--device", default="cpu", help="cpu (the default: tiny networks)"
    )
    p.add_argument(
        "--seeds", type=int, nargs="+", default=list(default.seeds)
    )
    p.add_argument(
        "--fractions",
        type=float,
        nargs="+",
        default=list(default.fractions),
    )
    p.add_argument(
        "--mida-epochs", type=int, nargs="+", default=list(MIDA_EPOCHS)
    )
    p.add_argument(
        "--iterative-rounds",
        type=int,
        nargs="+",
        default=list(ITERATIVE_ROUNDS),
    )
    p.add_argument("--imputations", type=int, default=default.imputations)
    p.add_argument("--hours", type=float, default=None)
    p.add_argument("--fresh", action="store_true")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--shard", default="0/1", help="K/N: every N-th unit")
    args = p.parse_args(argv)
    cfg = Config(
        seeds=tuple(args.seeds),
        fractions=tuple(args.fractions),
        mida_epochs=tuple(args.mida_epochs),
        iterative_rounds=tuple(args.iterative_rounds),
        imputations=args.imputations,
    )
    cfg.check()
    k, n = shard_of(args.shard)
    if args.device != "cpu":
        raise ValueError(
            f"the imputers run on the CPU (tiny networks); got --device {args.device}."
        )
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    results = ResultsFile(
        args.out,
        experiment=EXPERIMENT,
        config=asdict(cfg),
        key=KEY,
        device="cpu",
        fresh=args.fresh,
    )
    units = [(s, f) for s in cfg.seeds for f in cfg.fractions][k::n]
    start = time.perf_counter()
    for seed, fraction in units:
        if all(
            results.done(fraction=fraction, method=m, seed=seed)
            for m in METHODS
        ):
            continue
        if (
            args.hours is not None
            and time.perf_counter() - start > 3600 * args.hours
        ):
            break
        begun = time.perf_counter()
        rows = run_unit(cfg, seed, fraction)
        seconds = (time.perf_counter() - begun) / len(rows)
        for row in rows:
            if not results.done(
                fraction=fraction, method=row["method"], seed=seed
            ):
                results.add(row, seconds=seconds)
        print(
            f"seed {seed}, {fraction:.0%} removed: "
            + ", ".join(f"{r['method']} {r['rmse']:.3f}" for r in rows),
            flush=True,
        )
    done = all(
        results.done(fraction=f, method=m, seed=s)
        for s, f in units
        for m in METHODS
    )
    results.write(complete=done)
    return results.rows


if __name__ == "__main__":
    main()
