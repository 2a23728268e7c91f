"""The command-line plumbing every experiment script repeats, written once: where the results go, on
which device and how many threads, which seeds, the time budget, starting afresh, and the shard.

An experiment adds these options with :func:`add_common`, its own grid's options beside them, and after
parsing calls :func:`apply` (checks the values, sets PyTorch's threads) and :func:`default_out` (the
results file of its shard). The sparse-autoencoder sweep uses it; the older scripts keep their own
copies until their committed results are regenerated (a change to the code they import would change
their stamps' hashes).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from aecourse._args import integer
from aecourse.experiments.stamp import RESULTS


def parse_shard(text: str) -> tuple[int, int]:
    """ "K/N" -> (K, N) with 0 <= K < N: this process runs units K, K + N, K + 2N, ...

    Raises ValueError for text that is not two integers joined by "/", or K outside 0 .. N − 1.
    """
    try:
        k, n = (int(v) for v in str(text).split("/"))
    except ValueError:
        raise ValueError(
            f"--shard must be K/N, e.g. 0/2; got {text!r}."
        ) from None
    if not 0 <= k < n:
        raise ValueError(f"--shard K/N needs 0 <= K < N, got {text!r}.")
    return k, n


def add_common(
    parser: argparse.ArgumentParser, seeds: tuple[int, ...], name: str
) -> argparse.ArgumentParser:
    """Add --out --device --threads --seeds --hours --fresh --shard to parser; returns it.

    seeds: the default seeds; name: the results file's stem, for --out's help (results/<name>.json).
    """
    parser.add_argument(
        "--out",
        default=None,
        help=f"results file (JSON) to write or resume; default results/{name}[.KofN].json",
    )
    parser.add_argument(
        "--device",
        default=None,
        help="cpu, cuda, ... (default: the best one here)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="CPU threads for PyTorch",
    )
    parser.add_argument(
        "--seeds", type=int, nargs="+", default=list(seeds)
    )
    parser.add_argument(
        "--hours",
        type=float,
        default=None,
        help="stop between units before this much wall time; the same command resumes",
    )
    parser.add_argument(
        "--fresh", action="store_true", help="start the file afresh"
    )
    parser.add_argument(
        "--shard",
        default="0/1",
        help="K/N: run units K, K + N, ... (N processes share the grid)",
    )
    return parser


def apply(args: argparse.Namespace) -> tuple[int, int]:
    """Check the common options of parsed args and set PyTorch's threads; returns the shard (K, N).

    Raises ValueError for a bad --shard, --threads below 1 or a negative --hours.
    """
    shard = parse_shard(args.shard)
    if args.threads is not None:
        torch.set_num_threads(integer("--threads", args.threads, low=1))
    if args.hours is not None and args.hours < 0:
        raise ValueError(f"--hours must be >= 0, got {args.hours}.")
    return shard


def default_out(
    args: argparse.Namespace, name: str, shard: tuple[int, int]
) -> Path:
    """--out if given, else results/<name>.json, or results/<name>.KofN.json for shard K of N > 1."""
    if args.out:
        return Path(args.out)
    k, n = shard
    return RESULTS / (
        f"{name}.json" if n == 1 else f"{name}.{k}of{n}.json"
    )
