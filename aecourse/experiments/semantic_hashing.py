"""Semantic hashing of MNIST, searched with a real hash table: the grid behind the applications chapter's
hashing section.

For each seed: train the hashing autoencoder of :func:`aecourse.evaluation.retrieval.hashing_autoencoder`
(784 → 500 → 250 → 32 sigmoid code units, Gaussian noise added to their inputs before the sigmoid while
training), once with a batch normalisation of the code layer and once without; make 32-bit codes of the
same images with the two baselines that learn nothing (PCA + sign, random projections = LSH); then search
the training images (the database) for every test image (the queries):

- ``precision@k`` of the exact k nearest codes in Hamming distance (ties to the lower index);
- the hash-table search of :func:`~aecourse.evaluation.retrieval.search_benchmark`: every database item
  within Hamming radius 0, 1 and 2 of the query's code, read from a dict of packed codes, against a linear
  scan for the 10 nearest; precision, share of queries answered, items retrieved and milliseconds per
  query (wall time over ``bench_queries`` queries, on the CPU, one thread).

What is chosen and how: the epoch of each autoencoder is the one with the lowest reconstruction loss on
``valid_size`` training images held out of its training (``fit(keep_best=True)``); the test images are
never used to choose. The noise's standard deviation is chosen from ``noise_stds`` (1, 2, 4) by the
precision@10 of the held-out training images searched among the others; the sizes and the learning rate
are fixed beforehand. The baselines have nothing to tune. Each row also records the
precision@10 after the first epoch, which shows whether training sat on a plateau.

How this differs from the paper (:data:`PAPER`): Salakhutdinov & Hinton hashed *documents* (20 Newsgroups,
Reuters RCV1-v2), pretrained their network as a stack of RBMs before fine-tuning it as an autoencoder, and
searched a far larger database; we hash MNIST digits, train the autoencoder directly with Adam (with the
batch normalisation that this makes necessary), and time the search in Python, whose dict look-ups are
far slower than the memory-address look-up the paper had in mind.

    python -m aecourse.experiments.semantic_hashing --device cuda --seeds 0 1 2

writes ``aecourse/experiments/results/semantic_hashing.json`` (:mod:`aecourse.experiments.stamp`); with
``--shard K/N`` a process runs every N-th seed, and the shards' files are merged with ``merge_results``.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from aecourse.data.images import load_images
from aecourse.evaluation import retrieval
from aecourse.experiments.stamp import RESULTS, ResultsFile
from aecourse.settings import device as best_device
from aecourse.settings import seed_everything
from aecourse.training import fit, predict

EXPERIMENT = "aecourse.experiments.semantic_hashing"
METHODS = (
    "autoencoder",
    "autoencoder, no batch norm",
    "PCA + sign",
    "LSH",
)
KEY = ("method", "seed")

# The paper's setting, to state beside ours (typed here, never measured).
PAPER = {
    "paper": "R. Salakhutdinov and G. Hinton (2009), Semantic hashing, Int. J. Approx. Reasoning 50(7)",
    "data": "word-count vectors of documents, 2000-word vocabulary",
    "training": "a stack of RBMs pretrained layer by layer, then fine-tuned as a deep autoencoder",
    "code": "logistic code units with Gaussian noise added to their inputs during fine-tuning, "
    "rounded to bits at test time",
    "search": "the query's code as a memory address; the documents at addresses within a small "
    "Hamming distance of it are retrieved",
    # as recalled, not rechecked against the paper (no copy of it at hand)
    "unchecked": "20 Newsgroups and Reuters RCV1-v2; 20- and 128-bit codes",
}


@dataclass
class Config:
    """The grid. train_size: training images, the database searched (its last valid_size images are held
    out of the autoencoder's training to choose its epoch, but stay in the database); test_size: the
    queries; bench_queries: how many of them the timed hash-table search runs."""

    train_size: int = 60_000
    valid_size: int = 10_000
    test_size: int = 10_000
    bench_queries: int = 2_000
    bits: int = 32
    hidden: tuple[int, ...] = (500, 250)
    noise_stds: tuple[float, ...] = (1.0, 2.0, 4.0)
    epochs: int = 20
    batch_size: int = 128
    lr: float = 1e-3
    ks: tuple[int, ...] = (1, 10, 100)
    radii: tuple[int, ...] = (0, 1, 2)
    scan_k: int = 10
    seeds: tuple[int, ...] = field(default=(0, 1, 2))

    def check(self) -> None:
        if not 0 < self.valid_size < self.train_size:
            raise ValueError(
                f"valid_size must be in (0, train_size), got {self.valid_size}."
            )
        if not 0 < self.bench_queries <= self.test_size:
            raise ValueError(
                f"bench_queries must be in [1, test_size], got {self.bench_queries}."
            )
        if not 1 <= self.bits <= 64:
            raise ValueError(f"bits must be in [1, 64], got {self.bits}.")
        if self.epochs < 2:
            raise ValueError(f"epochs must be >= 2, got {self.epochs}.")
        if not self.noise_stds or min(self.noise_stds) <= 0:
            raise ValueError(
                f"noise_stds must be positive numbers, got {self.noise_stds}."
            )
        if not self.seeds:
            raise ValueError("seeds must hold at least one seed.")


def code_stats(codes: torch.Tensor) -> dict:
    """Shares of sigmoid code values near the ends and near 0.5, and a 20-bin histogram on [0, 1].

    codes: (N, B) in [0, 1]  ->  {"near_ends": share within 0.1 of 0 or 1, "middle": share in (0.4, 0.6),
    "histogram": 20 counts}.
    """
    c = codes.detach().float().cpu()
    return {
        "near_ends": ((c < 0.1) | (c > 0.9)).float().mean().item(),
        "middle": ((c > 0.4) & (c < 0.6)).float().mean().item(),
        "histogram": torch.histc(c, bins=20, min=0, max=1)
        .long()
        .tolist(),
    }


def _train_hasher(cfg: Config, data, std: float, normalize: bool, dev):
    """Train one hashing autoencoder on the fit images, its epoch chosen by the validation images'
    reconstruction loss; returns (model, precision@10 on the test queries after epoch 1, best epoch)."""
    model = retrieval.hashing_autoencoder(
        [784, *cfg.hidden, cfg.bits], std, normalize
    ).to(dev)
    n_fit = cfg.train_size - cfg.valid_size
    train_x, valid_x = data.train_x[:n_fit], data.train_x[n_fit:]
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    common = dict(
        loss="bce",
        batch_size=cfg.batch_size,
        optimizer=optimizer,
        progress=False,
    )
    fit(model, train_x, epochs=1, **common)
    after_one = _p10(
        model, data.test_x, data.test_y, data.train_x, data.train_y
    )
    history = fit(
        model,
        train_x,
        epochs=cfg.epochs - 1,
        valid=valid_x,
        keep_best=True,
        **common,
    )
    best = 2 + int(np.argmin(history.valid))
    return model, after_one, best


def _bits(model, x):
    return retrieval.binarize_codes(predict(model, x, method="encode"))


def _p10(model, query_x, query_y, base_x, base_y) -> float:
    """precision@10 of a hashing model's bits, queries against a base, by Hamming distance."""
    return retrieval.precision_at_ks(
        _bits(model, query_x),
        query_y,
        _bits(model, base_x),
        base_y,
        (10,),
        metric="hamming",
    )[10]


def run_seed(cfg: Config, data, seed: int, dev) -> list[dict]:
    """All METHODS for one seed: a list of rows (dicts), one per method.

    The noise's standard deviation is chosen from cfg.noise_stds by the precision@10 of the validation
    images queried against the fit images (the autoencoder with batch normalisation); the one without
    batch normalisation uses the same.
    """
    n_fit = cfg.train_size - cfg.valid_size
    bits_of = {}
    extra: dict[str, dict] = {}
    tried = {}
    for std in cfg.noise_stds:
        seed_everything(seed)
        model, after_one, best = _train_hasher(cfg, data, std, True, dev)
        valid_p10 = _p10(
            model,
            data.train_x[n_fit:],
            data.train_y[n_fit:],
            data.train_x[:n_fit],
            data.train_y[:n_fit],
        )
        tried[std] = (valid_p10, model, after_one, best)
    chosen = max(tried, key=lambda s: tried[s][0])
    seed_everything(seed)
    no_norm = _train_hasher(cfg, data, chosen, False, dev)
    for method, (model, after_one, best) in (
        ("autoencoder", tried[chosen][1:]),
        ("autoencoder, no batch norm", no_norm),
    ):
        soft = predict(model, data.test_x, method="encode")
        bits_of[method] = (
            _bits(model, data.train_x),
            retrieval.binarize_codes(soft),
        )
        extra[method] = {
            "noise_std": chosen,
            "valid_p@10_by_std": {str(s): v[0] for s, v in tried.items()},
            "p10_after_epoch_1": after_one,
            "best_epoch": best,
            **code_stats(soft),
        }
    pixels_train, pixels_test = (
        data.train_x.flatten(1),
        data.test_x.flatten(1),
    )
    bits_of["PCA + sign"] = retrieval.pca_sign_codes(
        pixels_train, pixels_test, cfg.bits, seed=seed
    )
    bits_of["LSH"] = retrieval.random_projection_codes(
        pixels_train, pixels_test, cfg.bits, seed=seed
    )
    rows = []
    for method in METHODS:
        train_bits, test_bits = bits_of[method]
        precision = retrieval.precision_at_ks(
            test_bits,
            data.test_y,
            train_bits,
            data.train_y,
            cfg.ks,
            metric="hamming",
        )
        search = retrieval.search_benchmark(
            train_bits.cpu(),
            data.train_y.cpu(),
            test_bits[: cfg.bench_queries].cpu(),
            data.test_y[: cfg.bench_queries].cpu(),
            cfg.radii,
            cfg.scan_k,
        )
        row = {
            "method": method,
            "seed": seed,
            **{f"p@{k}": v for k, v in precision.items()},
            "buckets": len(
                np.unique(retrieval.pack_bits(train_bits.cpu()))
            ),
            "search": search,
            **extra.get(method, {}),
        }
        if method == "autoencoder" and seed == cfg.seeds[0]:
            # the 10 nearest database images of the first 5 queries, for a figure
            packed = retrieval.pack_bits(train_bits.cpu())
            queries = retrieval.pack_bits(test_bits[:5].cpu())
            row["examples"] = [
                retrieval.linear_scan(int(q), packed, 10).tolist()
                for q in queries
            ]
        rows.append(row)
    return rows


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        prog=f"python -m {EXPERIMENT}", description=__doc__.split("\n")[0]
    )
    default = Config()
    p.add_argument(
        "--out", default=str(RESULTS / "semantic_hashing.json")
    )
    p.add_argument("--device", default=None, help="cpu, cuda, ...")
    p.add_argument(
        "--seeds", type=int, nargs="+", default=list(default.seeds)
    )
    p.add_argument("--train-size", type=int, default=default.train_size)
    p.add_argument("--valid-size", type=int, default=default.valid_size)
    p.add_argument("--test-size", type=int, default=default.test_size)
    p.add_argument(
        "--bench-queries", type=int, default=default.bench_queries
    )
    p.add_argument("--epochs", type=int, default=default.epochs)
    p.add_argument(
        "--noise-stds",
        type=float,
        nargs="+",
        default=list(default.noise_stds),
    )
    p.add_argument("--hours", type=float, default=None)
    p.add_argument("--fresh", action="store_true")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--shard", default="0/1", help="K/N: every N-th seed")
    args = p.parse_args(argv)
    cfg = Config(
        train_size=args.train_size,
        valid_size=args.valid_size,
        test_size=args.test_size,
        bench_queries=args.bench_queries,
        epochs=args.epochs,
        noise_stds=tuple(args.noise_stds),
        seeds=tuple(args.seeds),
    )
    return cfg, args


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
    cfg, args = parse_args(argv)
    cfg.check()
    k, n = shard_of(args.shard)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    dev = torch.device(args.device) if args.device else best_device()
    data = load_images(
        "mnist",
        train_size=cfg.train_size,
        test_size=cfg.test_size,
        device=dev,
    )
    results = ResultsFile(
        args.out,
        experiment=EXPERIMENT,
        config=asdict(cfg),
        key=KEY,
        device=dev,
        fresh=args.fresh,
    )
    start = time.perf_counter()
    mine = cfg.seeds[k::n]
    for seed in mine:
        if all(results.done(method=m, seed=seed) for m in METHODS):
            continue
        if (
            args.hours is not None
            and time.perf_counter() - start > 3600 * args.hours
        ):
            break
        begun = time.perf_counter()
        rows = run_seed(cfg, data, seed, dev)
        seconds = (time.perf_counter() - begun) / len(rows)
        for row in rows:
            if not results.done(method=row["method"], seed=seed):
                results.add(row, seconds=seconds)
        print(
            f"seed {seed}: "
            + ", ".join(
                f"{r['method']} p@10 {r['p@10']:.3f}" for r in rows
            ),
            flush=True,
        )
    done = all(
        results.done(method=m, seed=s) for m in METHODS for s in mine
    )
    results.write(complete=done)
    return results.rows


if __name__ == "__main__":
    main()
