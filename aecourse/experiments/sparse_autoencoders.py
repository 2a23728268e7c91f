"""How well does a sparse autoencoder read a language model, at each sparsity? The L0 sweep behind the
sparse-autoencoder chapter's frontier figure.

The question: trained on the residual stream of the course's own small language model, how much of the
model do TopK and ReLU + L1 sparse autoencoders keep as the number of active latents per token (L0)
goes down? Kept is measured twice: the fraction of variance unexplained (FVU) of the activations, and
the share of the next-token loss recovered when the reconstruction is spliced back into the model in
place of the activations, relative to deleting them (zero-ablation):
(L_zero − L_sae) / (L_zero − L_clean), :func:`~aecourse.models.sparse_autoencoder.loss_recovered`.

Protocol, one for every run:

- the language model: a :class:`~aecourse.models.transformer.CausalLM` trained with
  :func:`~aecourse.training.fit` and :func:`~aecourse.models.transformer.next_token_loss` on the English
  sentences of :mod:`aecourse.data.sentences` (the translation chapter's split by sentence), the epoch with
  the lowest validation loss kept. It is trained once and cached (:func:`language_model`); its
  validation and test loss stand beside a unigram baseline so the page can say it learned;
- activations: the residual stream after block ``after`` at every position of the first windows of
  each split (:func:`activations`), ``train_vectors`` from the training stream to train the SAEs,
  ``valid_vectors`` from the validation stream and ``test_vectors`` from the test stream, all divided by
  one scale (the training vectors' root-mean-square norm over √dim) so that the L1 coefficients do
  not depend on the model's scale; the reconstruction is scaled back before it is spliced in;
- methods: ``topk`` at each k of ``ks`` (Gao et al. 2024) and ``l1`` at each coefficient of ``l1s``
  (Bricken et al. 2023), both :class:`~aecourse.models.sparse_autoencoder.SparseAutoencoder` with
  ``n_latents`` latents, unit-norm decoder columns, trained by
  :func:`~aecourse.models.sparse_autoencoder.train_sae` for ``sae_epochs`` at ``sae_lr``. A run's seed
  sets the SAE's initial weights and batch order; the language model and the activations are the same
  for every run;
- choices on validation only: the ``l1s`` were chosen (in a pilot) so that their validation L0 spans
  the ks' range, and :func:`~aecourse.experiments.sparse_autoencoders_report.best_at` picks the
  sparsity by validation numbers; every row also holds the test activations' numbers, which choose
  nothing and are what the chapter reports: FVU, L0, the fraction of dead latents (never firing on
  the test vectors) and the three cross-entropies with the loss recovered.

Where this stands beside the papers (their settings as their abstracts and set-up sections state them):
Bricken et al. (2023) trained ReLU + L1 SAEs on the 512-neuron MLP layer of a one-layer transformer,
on 8 billion activation vectors, with 512 to 131 072 latents (1× to 256×); Gao et al. (2024) trained
TopK SAEs on a layer 3/4 of the way into GPT-2 small (layer 8, contexts of 64 tokens) and 5/6 of the
way into GPT-4-series models, up to 16 million latents on 40 billion tokens, with changes to training
that leave few dead latents (we make none). Ours: a two-block transformer of width 64 trained for a
few CPU-minutes on about half a million tokens of short sentences, an SAE of 512 latents (8×) on the
stream after its first block, trained on 131 072 vectors. Zero-ablating the whole residual stream is
a harsh reference (the model then knows nothing of the tokens), so the loss recovered is high even
for a poor SAE; the rows also hold the three cross-entropies, and L_sae − L_clean in nats per token is
the stricter number. The shape of the frontier is the lesson, not its values.

Cost, measured on one thread of a 2-core Xeon shared with two other jobs (CPU seconds, from
``time.process_time``): the language model, 6 epochs over 544 000 tokens, 239 to 254 s (about 4
CPU-minutes; it is trained once and cached); one SAE, 5 epochs over 131 072 vectors and then scored on
the validation and test activations, 16 to 27 s (TopK slower than L1, a larger k slower); the default
grid of 30 SAEs 620 s, so about 14 CPU-minutes (868 s of wall time) with the language model. One row
per (method, sparsity, seed) goes into a stamped results file (:mod:`aecourse.experiments.stamp`),
written as each finishes; the same command resumes a stopped run (``--hours``), and ``--shard K/N``
runs units K, K + N, ...::

    python -m aecourse.experiments.sparse_autoencoders --device cpu --threads 1

The language model is cached in the checkout's ``data/checkpoints/`` (git ignores ``data/``; see
:func:`default_cache`) under a digest of its config and of this module's code hash, so shards, reruns
and the chapter load it instead of training it again (start one shard first, or two shards will each
train it once). Any change to the code this module runs trains a new one: stale weights are never
loaded.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import NamedTuple

import torch
import torch.nn.functional as F

from aecourse._args import integer
from aecourse.data.files import _CHECKOUT_DATA, cache_root
from aecourse.data.sentences import Sentences, load_sentences, windows
from aecourse.experiments import _cli
from aecourse.experiments.stamp import ResultsFile, code_hash
from aecourse.models.sparse_autoencoder import (
    SparseAutoencoder,
    dead_latents,
    fvu,
    l0,
    loss_recovered,
    replacement_losses,
    train_sae,
)
from aecourse.models.transformer import CausalLM, next_token_loss
from aecourse.settings import device as best_device
from aecourse.settings import seed_everything
from aecourse.training import evaluate, fit, predict

EXPERIMENT = "aecourse.experiments.sparse_autoencoders"
NAME = "sparse_autoencoders"
METHODS = ("topk", "l1")
# one row per SAE: sparsity is k for topk, the L1 coefficient for l1
KEY = ("method", "sparsity", "seed")
EVAL_WINDOWS = 128  # windows scored at once: 128 × T × V logits stay under ~60 MB at the default sizes

# the Config fields that shape the language model and its data (and so name its cache file)
LM_FIELDS = (
    "max_tokens",
    "min_count",
    "split_seed",
    "train_size",
    "context",
    "dim",
    "depth",
    "heads",
    "epochs",
    "lr",
    "batch_size",
    "lm_seed",
)
# the Config fields that are whole numbers of at least 1 (and command-line options)
SIZES = (
    "max_tokens",
    "min_count",
    "context",
    "dim",
    "depth",
    "heads",
    "epochs",
    "batch_size",
    "n_latents",
    "sae_epochs",
    "sae_batch",
    "train_vectors",
    "valid_vectors",
    "test_vectors",
)


@dataclass
class Config:
    """The language model, the block read, the SAEs and the sweep (the stamp records it).

    Data: max_tokens, min_count, split_seed, train_size (None: every training sentence), see
    :func:`~aecourse.data.sentences.load_sentences`. The language model: context (T), dim, depth, heads,
    epochs (at most; the best validation epoch is kept), lr, batch_size (windows), lm_seed. after: the
    block whose output (the residual stream) the SAEs read, 0 (embeddings) to depth. The SAEs:
    n_latents, ks (TopK), l1s (ReLU + L1 coefficients), seeds, sae_epochs, sae_lr, sae_batch, and how
    many activation vectors train / validate / test them (rounded down to whole windows of T).
    """

    max_tokens: int = 10
    min_count: int = 5
    split_seed: int = 0
    train_size: int | None = None
    context: int = 32
    dim: int = 64
    depth: int = 2
    heads: int = 4
    epochs: int = 6
    lr: float = 3e-3
    batch_size: int = 64
    lm_seed: int = 0
    after: int = 1
    n_latents: int = 512
    methods: tuple[str, ...] = METHODS
    ks: tuple[int, ...] = (4, 8, 16, 32, 64)
    # chosen on validation activations in a pilot, so that their L0 spans the ks' range: about 4, 7,
    # 18, 29 and 64 (0.8 gave 32.1 on average, just over best_at's 32, hence 0.9)
    l1s: tuple[float, ...] = (4.0, 3.0, 1.5, 0.9, 0.3)
    seeds: tuple[int, ...] = field(default=(0, 1, 2))
    sae_epochs: int = 5
    sae_lr: float = 1e-3
    sae_batch: int = 256
    train_vectors: int = 131_072
    valid_vectors: int = 16_384
    test_vectors: int = 65_536

    @classmethod
    def quick(cls) -> Config:
        """A much smaller grid of the same code, for trying things out: seconds, not minutes."""
        return cls(
            train_size=5_000,
            context=16,
            dim=32,
            depth=2,
            heads=2,
            epochs=2,
            n_latents=128,
            ks=(4, 16),
            l1s=(3.0, 0.3),
            seeds=(0,),
            sae_epochs=2,
            train_vectors=8_192,
            valid_vectors=2_048,
            test_vectors=2_048,
        )

    def check(self) -> Config:
        """self, if every name and size is valid; else a ValueError that says which is not."""
        for name in SIZES:
            integer(name, getattr(self, name), low=1)
        if self.train_size is not None:
            integer("train_size", self.train_size, low=1)
        integer("after", self.after, low=0, high=self.depth)
        if self.dim % self.heads:
            raise ValueError(
                f"heads must divide dim, got dim={self.dim}, heads={self.heads}."
            )
        if not self.methods or any(
            m not in METHODS for m in self.methods
        ):
            raise ValueError(
                f"methods must be a non-empty list drawn from {list(METHODS)}; got {list(self.methods)}."
            )
        if "topk" in self.methods:
            if not self.ks:
                raise ValueError("ks must name at least one k.")
            for k in self.ks:
                integer("ks", k, low=1, high=self.n_latents)
        if "l1" in self.methods and (not self.l1s or min(self.l1s) < 0):
            raise ValueError(
                f"l1s must be coefficients >= 0, got {list(self.l1s)}."
            )
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise ValueError(
                f"seeds must be distinct and at least one, got {list(self.seeds)}."
            )
        for name in ("train_vectors", "valid_vectors", "test_vectors"):
            if getattr(self, name) < self.context:
                raise ValueError(
                    f"{name} must be at least one window of context = {self.context} vectors, got "
                    f"{getattr(self, name)}."
                )
        if self.lr <= 0 or self.sae_lr <= 0:
            raise ValueError(
                f"lr and sae_lr must be positive, got {self.lr} and {self.sae_lr}."
            )
        return self

    def sparsities(self, method: str) -> tuple:
        """The sweep of one method: ks for "topk", l1s for "l1"."""
        return self.ks if method == "topk" else self.l1s


# --- the language model ----------------------------------------------------------------------------


@dataclass
class LMData:
    """The language model's data: the sentences, their (N, T + 1) windows per split, and what the model
    scored (``report``: best_epoch, train_losses and valid_losses per epoch, valid_loss, test_loss, the
    unigram baseline's unigram_valid_loss and unigram_test_loss, in nats per token, and seconds)."""

    sentences: Sentences
    train: torch.Tensor
    valid: torch.Tensor
    test: torch.Tensor
    report: dict


def unigram_loss(
    train: torch.Tensor, scored: torch.Tensor, vocab_size: int
) -> float:
    """The cross-entropy (nats per token) of the tokens 1 .. T of windows ``scored`` (N, T + 1) under the
    training stream's token frequencies, counts + 1 (Laplace) so no token has probability 0.

    train: (n,) token ids. The baseline a language model must beat: it knows which words are common,
    and nothing of their order.
    """
    counts = (
        torch.bincount(
            train.flatten().cpu(), minlength=vocab_size
        ).double()
        + 1
    )
    log_p = (counts / counts.sum()).log()
    return float(-log_p[scored[:, 1:].flatten().cpu()].mean())


def lm_cache_path(config: Config, cache: str | Path) -> Path:
    """cache/lm-<digest>.pt: the digest of the language model's config fields and of this module's code
    hash, so a change to either trains a new model rather than loading a stale one."""
    fields = {name: getattr(config, name) for name in LM_FIELDS}
    text = json.dumps(fields, sort_keys=True) + code_hash(EXPERIMENT)
    return (
        Path(cache)
        / f"lm-{hashlib.sha256(text.encode()).hexdigest()[:12]}.pt"
    )


def default_cache() -> Path:
    """Where the language model is cached by default: the checkout's ``data/checkpoints/`` (git ignores
    ``data/``), wherever the command or notebook runs from; without a checkout (an installed package, as
    on Colab), ``~/.cache/aecourse/checkpoints/``."""
    if _CHECKOUT_DATA.is_dir():
        return _CHECKOUT_DATA / "checkpoints"
    return cache_root() / "checkpoints"


def new_language_model(config: Config, vocab_size: int) -> CausalLM:
    """A fresh :class:`~aecourse.models.transformer.CausalLM` of the config's sizes."""
    return CausalLM(
        vocab_size, config.context, config.dim, config.depth, config.heads
    )


def language_model(
    config: Config,
    device: torch.device | str | None = None,
    cache: str | Path | None = "default",
    log=print,
) -> tuple[CausalLM, LMData]:
    """The course's language model and its data: loaded from the cache, or trained and cached.

    Trains with :func:`~aecourse.training.fit` and :func:`~aecourse.models.transformer.next_token_loss`
    on the training windows for at most ``config.epochs`` epochs, keeping the epoch with the lowest
    validation loss, then scores the test windows. cache: the folder of the cache file
    (:func:`lm_cache_path`); "default": :func:`default_cache`; None: no cache. Returns (model in eval mode on device, :class:`LMData`).
    """
    dev = torch.device(device) if device is not None else best_device()
    sentences = load_sentences(
        max_tokens=config.max_tokens,
        min_count=config.min_count,
        seed=config.split_seed,
        train_size=config.train_size,
        device=dev,
    )
    train, valid, test = (
        windows(getattr(sentences, s), config.context)
        for s in ("train", "valid", "test")
    )
    vocab_size = len(sentences.vocab)
    seed_everything(config.lm_seed)
    model = new_language_model(config, vocab_size).to(dev)
    if isinstance(cache, str) and cache == "default":
        cache = default_cache()
    path = lm_cache_path(config, cache) if cache is not None else None
    if path is not None and path.exists():
        saved = torch.load(path, map_location=dev, weights_only=True)
        model.load_state_dict(saved["state"])
        report = json.loads(saved["report"])
        if log:
            log(f"language model loaded from {path}")
    else:
        began = time.process_time()
        history = fit(
            model,
            train,
            batch_loss=next_token_loss,
            epochs=config.epochs,
            batch_size=config.batch_size,
            lr=config.lr,
            valid=valid,
            keep_best=True,
            generator=torch.Generator().manual_seed(config.lm_seed),
            progress=False,
        )
        report = {
            "best_epoch": history.best_epoch,
            "train_losses": [round(v, 4) for v in history.train],
            "valid_losses": [round(v, 4) for v in history.valid],
            "valid_loss": min(history.valid)
            if history.valid
            else math.nan,
            "test_loss": _lm_loss(model, test),
            "unigram_valid_loss": unigram_loss(
                sentences.train, valid, vocab_size
            ),
            "unigram_test_loss": unigram_loss(
                sentences.train, test, vocab_size
            ),
            "cpu_seconds": time.process_time() - began,
        }
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_suffix(
                ".part"
            )  # never a half file under the real name
            torch.save(
                {
                    "state": model.state_dict(),
                    "report": json.dumps(report),
                },
                partial,
            )
            partial.replace(path)
        if log:
            log(
                f"language model trained: valid {report['valid_loss']:.3f}, test "
                f"{report['test_loss']:.3f} nats/token (unigram {report['unigram_test_loss']:.3f}), "
                f"{report['cpu_seconds']:.0f} CPU s"
            )
    model.eval()
    return model, LMData(sentences, train, valid, test, report)


def _lm_loss(model: CausalLM, scored: torch.Tensor) -> float:
    """Mean next-token cross-entropy of windows (N, T + 1), in nats per token."""
    return evaluate(
        model, scored, batch_loss=next_token_loss, batch_size=EVAL_WINDOWS
    )


# --- activations -----------------------------------------------------------------------------------


class Activations(NamedTuple):
    """Residual-stream vectors x (N·T, dim), the token each was read at, tokens (N·T,), and its place in
    its window, positions (N·T,) in 0 .. T − 1; row n·T + t is window n's position t."""

    x: torch.Tensor
    tokens: torch.Tensor
    positions: torch.Tensor


@torch.no_grad()
def activations(
    model: CausalLM, windows: torch.Tensor, after: int
) -> Activations:
    """The residual stream after block ``after`` at every input position of windows (N, T + 1).

    Returns :class:`Activations` with x (N·T, dim): the model reads tokens 0 .. T − 1 of each window
    (the last token is only ever a target), tokens (N·T,) those input tokens, positions (N·T,) their
    index t in the window. Raises ValueError for windows that are not (N, T + 1) with T <= the
    model's context, or an ``after`` outside 0 .. depth.
    """
    if (
        windows.dim() != 2
        or not 2 <= windows.shape[1] <= model.context + 1
    ):
        raise ValueError(
            f"windows must be (N, T + 1) with 1 <= T <= {model.context}, got {tuple(windows.shape)}."
        )
    integer("after", after, low=0, high=model.depth)
    model.eval()
    inputs = windows[:, :-1]
    h = torch.cat(
        [
            model.residual(inputs[i : i + EVAL_WINDOWS], after)
            for i in range(0, len(inputs), EVAL_WINDOWS)
        ]
    )
    n, t = inputs.shape
    positions = torch.arange(t, device=inputs.device).repeat(n)
    return Activations(
        h.reshape(n * t, -1), inputs.reshape(-1), positions
    )


def splice_loss(model: CausalLM, windows: torch.Tensor, after: int):
    """loss_fn(h) for :func:`~aecourse.models.sparse_autoencoder.replacement_losses`: the next-token
    cross-entropy of windows (N, T + 1) when the residual stream after block ``after`` is h (N, T, dim),
    in batches of windows so the logits never fill memory."""
    targets = windows[:, 1:]

    def loss_fn(h: torch.Tensor) -> torch.Tensor:
        total = 0.0
        for i in range(0, len(h), EVAL_WINDOWS):
            logits = model.logits_from(h[i : i + EVAL_WINDOWS], after)
            total += F.cross_entropy(
                logits.flatten(0, 1),
                targets[i : i + EVAL_WINDOWS].flatten(),
                reduction="sum",
            ).item()
        return torch.tensor(total / targets.numel())

    return loss_fn


class SAEData(NamedTuple):
    """What every SAE of a grid is trained and scored on: train_x (M, dim) scaled activations of the
    training windows; for the validation and test splits, their windows (N, T + 1) and their scaled
    activations (N·T, dim); scale, the number the activations were divided by."""

    train_x: torch.Tensor
    valid_windows: torch.Tensor
    valid_x: torch.Tensor
    test_windows: torch.Tensor
    test_x: torch.Tensor
    scale: float


def sae_data(model: CausalLM, data: LMData, config: Config) -> SAEData:
    """The first train_vectors // T training windows' activations (to train on), valid_vectors // T
    validation and test_vectors // T test windows (to score on), divided by the training vectors'
    root-mean-square norm over √dim, so that a typical training vector has squared norm dim."""
    t = config.context
    chosen = {
        split: getattr(data, split)[
            : getattr(config, f"{split}_vectors") // t
        ]
        for split in ("train", "valid", "test")
    }
    x = {
        split: activations(model, w, config.after).x
        for split, w in chosen.items()
    }
    scale = float(
        x["train"].pow(2).sum(1).mean().sqrt() / math.sqrt(config.dim)
    )
    return SAEData(
        x["train"] / scale,
        chosen["valid"],
        x["valid"] / scale,
        chosen["test"],
        x["test"] / scale,
        scale,
    )


# --- one run ---------------------------------------------------------------------------------------


def new_sae(method: str, sparsity, config: Config) -> SparseAutoencoder:
    """A fresh SAE of the config's width: TopK with k = sparsity, or ReLU latents (k None) for "l1"."""
    if method not in METHODS:
        raise ValueError(
            f"method must be one of {METHODS}, got {method!r}."
        )
    k = (
        integer("k", sparsity, low=1, high=config.n_latents)
        if method == "topk"
        else None
    )
    return SparseAutoencoder(config.dim, config.n_latents, k=k)


@torch.no_grad()
def score(
    sae: SparseAutoencoder,
    model: CausalLM,
    windows: torch.Tensor,
    x: torch.Tensor,
    scale: float,
    after: int,
) -> dict:
    """An SAE on one split: fvu and l0 of x (N·T, dim), dead (the fraction of latents zero on every row)
    and the cross-entropies loss_clean, loss_sae, loss_zero (nats per token) with loss_recovered, the
    reconstruction (scaled back by ``scale``) spliced into the model at ``after`` for windows (N, T + 1)."""
    sae.eval()
    f = predict(sae, x, method="encode")
    x_hat = sae.decode(f)
    t = windows.shape[1] - 1
    losses = replacement_losses(
        splice_loss(model, windows, after),
        x.reshape(len(windows), t, -1) * scale,
        lambda h: sae(h / scale) * scale,
    )
    return {
        "fvu": fvu(x, x_hat),
        "l0": l0(f),
        "dead": dead_latents(f).double().mean().item(),
        "loss_clean": losses[0],
        "loss_sae": losses[1],
        "loss_zero": losses[2],
        "loss_recovered": loss_recovered(*losses),
    }


def run_one(
    method: str,
    sparsity,
    seed: int,
    model: CausalLM,
    data: SAEData,
    config: Config,
) -> dict:
    """Train one SAE on data.train_x and score it on the validation and test activations: a flat row.

    method: "topk" (sparsity = k) or "l1" (sparsity = the L1 coefficient). The row holds the key
    (method, sparsity, seed), k and l1, the last epoch's training mse and l0, then valid_<x> and test_<x>
    for every x of :func:`score`, and the run's CPU seconds.
    """
    began = time.process_time()
    seed_everything(seed)
    sae = new_sae(method, sparsity, config).to(data.train_x.device)
    history = train_sae(
        sae,
        data.train_x,
        0.0 if method == "topk" else float(sparsity),
        epochs=config.sae_epochs,
        batch_size=config.sae_batch,
        lr=config.sae_lr,
        generator=torch.Generator().manual_seed(seed),
    )
    row = {
        "method": method,
        "sparsity": sparsity,
        "seed": seed,
        "k": sparsity if method == "topk" else None,
        "l1": float(sparsity) if method == "l1" else None,
        "train_mse": history.metrics["mse"][-1],
        "train_l0": history.metrics["l0"][-1],
    }
    for split in ("valid", "test"):
        scores = score(
            sae,
            model,
            getattr(data, f"{split}_windows"),
            getattr(data, f"{split}_x"),
            data.scale,
            config.after,
        )
        row.update(
            {f"{split}_{name}": value for name, value in scores.items()}
        )
    row["cpu_seconds"] = time.process_time() - began
    return row


# --- the grid --------------------------------------------------------------------------------------


def units(config: Config) -> list[tuple[str, float, int]]:
    """The runs, (method, sparsity, seed), seed by seed: a grid stopped early holds whole frontiers of
    its first seeds rather than every seed of a few sparsities."""
    return [
        (method, sparsity, seed)
        for seed in config.seeds
        for method in config.methods
        for sparsity in config.sparsities(method)
    ]


def run_grid(
    config: Config,
    out: str | Path,
    *,
    device: str | torch.device | None = None,
    shard: tuple[int, int] = (0, 1),
    hours: float | None = None,
    fresh: bool = False,
    cache: str | Path | None = "default",
    command: list[str] | None = None,
    log=print,
) -> ResultsFile:
    """Run this shard's units into the results file ``out``, skipping the rows already in it.

    Each row also carries the language model's numbers (lm_valid_loss, lm_test_loss,
    unigram_test_loss, lm_best_epoch). Before each unit, stops if ``hours`` of wall time would be spent by
    the end of a unit as long as the longest so far; the same call resumes. Returns the file.
    """
    config.check()
    dev = torch.device(device) if device is not None else best_device()
    f = ResultsFile(
        out,
        experiment=EXPERIMENT,
        config=asdict(config),
        key=KEY,
        device=dev,
        fresh=fresh,
        command=command,
    )
    k, n = shard
    todo = [
        u for u in units(config)[k::n] if not f.done(**dict(zip(KEY, u)))
    ]
    began, longest, stopped = time.perf_counter(), 0.0, False
    model = data = lm = None
    for method, sparsity, seed in todo:
        if (
            hours is not None
            and time.perf_counter() - began + longest > 3600 * hours
        ):
            stopped = True
            break
        start = time.perf_counter()
        if model is None:
            model, lm_data = language_model(config, dev, cache, log)
            data = sae_data(model, lm_data, config)
            r = lm_data.report
            lm = {
                "lm_valid_loss": r["valid_loss"],
                "lm_test_loss": r["test_loss"],
                "unigram_test_loss": r["unigram_test_loss"],
                "lm_best_epoch": r["best_epoch"],
            }
        row = run_one(method, sparsity, seed, model, data, config)
        seconds = time.perf_counter() - start
        f.add({**row, **lm}, seconds=seconds)
        longest = max(longest, seconds)
        if log:
            log(
                f"{method} {sparsity:g} seed {seed}: L0 {row['test_l0']:.1f}, FVU "
                f"{row['test_fvu']:.3f}, loss recovered {row['test_loss_recovered']:.3f}, "
                f"{seconds:.0f} s"
            )
    f.write(complete=not stopped)
    return f


# --- command line ----------------------------------------------------------------------------------

FLOATS = ("lr", "sae_lr")


def parse_args(argv=None) -> tuple[Config, argparse.Namespace]:
    # --quick picks the defaults of every other option, so it is read first (without -h, which
    # would print this small parser's help)
    first = argparse.ArgumentParser(add_help=False)
    first.add_argument("--quick", action="store_true")
    d = (
        Config.quick()
        if first.parse_known_args(argv)[0].quick
        else Config()
    )
    p = argparse.ArgumentParser(
        prog=f"python -m {EXPERIMENT}", description=__doc__.split("\n")[0]
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="start from Config.quick(), a seconds-long grid",
    )
    p.add_argument(
        "--checkpoints",
        default="default",
        help="the language model's cache folder (default: the checkout's data/checkpoints)",
    )
    _cli.add_common(p, d.seeds, NAME)
    p.add_argument(
        "--methods", nargs="+", default=list(d.methods), choices=METHODS
    )
    p.add_argument("--ks", type=int, nargs="+", default=list(d.ks))
    p.add_argument("--l1s", type=float, nargs="+", default=list(d.l1s))
    p.add_argument("--after", type=int, default=d.after)
    p.add_argument("--train-size", type=int, default=d.train_size)
    for name in SIZES:
        p.add_argument(
            "--" + name.replace("_", "-"),
            type=int,
            default=getattr(d, name),
        )
    for name in FLOATS:
        p.add_argument(
            "--" + name.replace("_", "-"),
            type=float,
            default=getattr(d, name),
        )
    args = p.parse_args(argv)
    config = Config(
        **{
            **asdict(d),
            "methods": tuple(args.methods),
            "ks": tuple(args.ks),
            "l1s": tuple(args.l1s),
            "seeds": tuple(args.seeds),
            "after": args.after,
            "train_size": args.train_size,
            **{name: getattr(args, name) for name in SIZES + FLOATS},
        }
    )
    return config, args


def main(argv=None) -> ResultsFile:
    config, args = parse_args(argv)
    try:
        config.check()
        shard = _cli.apply(args)
    except ValueError as err:
        sys.exit(f"error: {err}")
    out = _cli.default_out(args, NAME, shard)
    print(
        f"grid: {asdict(config)}; shard {shard[0]}/{shard[1]}", flush=True
    )
    f = run_grid(
        config,
        out,
        device=args.device,
        shard=shard,
        hours=args.hours,
        fresh=args.fresh,
        cache=args.checkpoints,
        command=["python", "-m", EXPERIMENT]
        + list(argv if argv is not None else sys.argv[1:]),
        log=lambda line: print(line, flush=True),
    )
    state = "complete" if f.stamp["complete"] else "stopped: run it again"
    print(f"{len(f.rows)} rows in {out} ({state})")
    return f


if __name__ == "__main__":
    main()
