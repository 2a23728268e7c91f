"""How much should a masked autoencoder hide? The masking-ratio sweep behind the masked-autoencoder
chapter's table.

He et al. (2021) found that hiding 75% of the patches gives better features than hiding less, and that
MAE features read by a linear probe lag far behind the same encoder fine-tuned. This script asks both
questions of a small Vision Transformer on Fashion-MNIST, with one protocol for every encoder:

- data: the first ``train_size`` Fashion-MNIST training images to pretrain and train on (the *training
  split*), the next ``valid_size`` training images to choose on (the *validation split*, never used to
  train), the first ``test_size`` test images to report on (:func:`load_splits`). Every run sees the
  same three splits; a run's seed sets its initial weights, masks, batch order and labelled subset;
- methods: ``mae``, the :class:`~aecourse.models.mae.MAE` pretrained at each masking ratio of
  ``ratios``; ``random``, the same transformer with the same seed's initial weights and no pretraining;
  ``dae``, a denoising autoencoder on pixels as the denoising topic trains one (784 → ``dae_hidden``
  sigmoid units, masking noise of level ``dae_noise``, cross-entropy, :func:`aecourse.training.fit`),
  its code its features; ``pixels``, the 784 raw pixels. Both pretrainings run ``pretrain_epochs``
  passes over the training split;
- evaluations: ``probe``, a linear probe (:func:`aecourse.evaluation.probes.linear_probe`, frozen
  features, ``probe_epochs`` epochs) on the features of the whole training split with all its labels;
  ``few-<n>`` for each n of ``label_counts``, a classifier trained on n labelled training images, n/10
  of each class (:func:`labelled_subset`, drawn from the seed). For ``mae`` and ``random`` the whole
  encoder is fine-tuned with a linear head (:meth:`~aecourse.models.mae.MAE.classifier`); for ``dae`` the
  encoder is fine-tuned too, with a linear head on its code (as simple, and the same treatment of every
  pretrained encoder); ``pixels`` has no encoder, so it gets the linear head alone.

The same tuning budget for every method: each evaluation is run at every learning rate of ``lrs`` and
written as one row per rate. A few-label classifier trains for ``finetune_epochs`` epochs of
``epoch_size`` examples (the n labelled images repeated, so the validation split is scored after the same
number of steps for 100 labels as for 1 000) and keeps the weights of its most accurate validation epoch
(:func:`aecourse.training.fit` with ``keep_best``); the probe trains its fixed ``probe_epochs``. The
chapter then keeps, per run, the rate with the best validation accuracy
(:func:`aecourse.experiments.masking_ratio_report.select`); the test split chooses nothing. Using 2 000
labelled validation images to tune a classifier of 100 labels is generous to every method alike: a
real user with 100 labels would not have them, so the few-label numbers are an upper bound.

How this differs from the paper, so that no number is read against theirs: He et al. pretrained a
ViT-Large on ImageNet's 1.28 million 224 × 224 images for 800 to 1 600 epochs with a cosine schedule, and
fine-tuned with layer-wise learning-rate decay, mixup and label smoothing; we pretrain a four-block ViT of
width 64 on 28 × 28 images (49 patches of 4 × 4) for 15 epochs of 20 000 images at a constant learning
rate, and fine-tune it plainly with Adam.

Cost, measured on one thread of an AVX-512 Xeon shared with other jobs (CPU seconds, wall in brackets):
one MAE pretraining epoch over the 20 000 training images at ratio 0.75 takes 17.8 s (25.8 s), at 0.25
about twice that (the encoder reads three times the patches; the decoder's share stays); one
fine-tuning epoch (1 000 examples, then the 2 000 validation images scored) 3.4 s (4.7 s). The default
grid, 4 ratios and 3 baselines × 3 seeds, comes to about 2.5 CPU-hours: half of it the transformer's
fine-tuning and probes, most of the rest the MAE's pretraining.

One row per (method, ratio, seed, evaluation, lr) goes into a stamped results file
(:mod:`aecourse.experiments.stamp`), written row by row; the same command resumes a stopped run
(``--hours``), and ``--shard K/N`` runs units K, K + N, ... in one process (by default into
``results/masking_ratio.KofN.json``)::

    python -m aecourse.experiments.masking_ratio --device cpu --threads 1 --shard 0/2 --hours 1

The shards' files are then merged into the one the chapter reads with
``merge_results([...0of2.json, ...1of2.json], RESULTS / "masking_ratio.json", KEY)``
(:func:`aecourse.experiments.stamp.merge_results`).
"""

from __future__ import annotations

import argparse
import copy
import math
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from aecourse._args import integer, probability, to_numpy
from aecourse.data.images import load_images
from aecourse.evaluation.probes import balanced_indices, linear_probe
from aecourse.experiments.stamp import RESULTS, ResultsFile
from aecourse.models.autoencoder import Autoencoder
from aecourse.models.mae import MAE, keep_count, train_mae
from aecourse.models.transformer import init_weights
from aecourse.ops.corruptions import mask
from aecourse.settings import device as best_device
from aecourse.settings import seed_everything
from aecourse.training import evaluate, fit, predict

EXPERIMENT = "aecourse.experiments.masking_ratio"
DATASET = "fashion-mnist"
CLASSES = 10
# in the order a seed's units run: with two shards, one gets mae and pixels, the other random and dae
METHODS = ("mae", "random", "pixels", "dae")
# one row per run and learning rate; ratio is None for every method but mae
KEY = ("method", "ratio", "seed", "evaluation", "lr")

# The paper's setting, to state beside ours (typed here, never measured).
PAPER = {
    "paper": "K. He, X. Chen, S. Xie, Y. Li, P. Dollár and R. Girshick (2021), Masked autoencoders are "
    "scalable vision learners, arXiv:2111.06377 (CVPR 2022)",
    "data": "ImageNet-1K, 224 × 224 images, 16 × 16 patches (196)",
    "encoder": "ViT-Base/Large/Huge; the ablations use ViT-L, pretrained 800 epochs",
    "decoder": "8 blocks of width 512",
    # the abstract's two claims; their ablation figures are not restated here, unchecked
    "claims": "masking a high proportion of the image, e.g. 75%, gives a nontrivial and meaningful "
    "self-supervisory task; with the encoder on the visible patches only, training is 3x faster or more",
}


# the Config fields that are whole numbers of at least 1 (and command-line options)
SIZES = (
    "train_size",
    "valid_size",
    "test_size",
    "patch_size",
    "dim",
    "depth",
    "heads",
    "decoder_dim",
    "decoder_depth",
    "pretrain_epochs",
    "pretrain_batch",
    "dae_hidden",
    "dae_batch",
    "batch_size",
    "finetune_epochs",
    "epoch_size",
    "probe_epochs",
)


@dataclass
class Config:
    """The grid and the fixed sizes of every run in it (the stamp records it).

    ratios: the masking ratios of ``mae``, in the order they run (the first runs with the baselines).
    The transformer: patch_size, dim, depth, heads (the encoder); decoder_dim, decoder_depth (the MAE's
    light decoder). pretrain_*: the MAE's AdamW (:func:`~aecourse.models.mae.train_mae`); dae_*: the
    denoising autoencoder's Adam. lrs, batch_size, finetune_epochs, epoch_size, probe_epochs: every
    classifier's tuning budget, the same for all methods.
    """

    ratios: tuple[float, ...] = (0.75, 0.9, 0.5, 0.25)
    methods: tuple[str, ...] = METHODS
    seeds: tuple[int, ...] = field(default=(0, 1, 2))
    label_counts: tuple[int, ...] = (100, 1000)
    train_size: int = 20_000
    valid_size: int = 2_000
    test_size: int = 10_000
    patch_size: int = 4
    dim: int = 64
    depth: int = 4
    heads: int = 4
    decoder_dim: int = 32
    decoder_depth: int = 2
    pretrain_epochs: int = 15
    pretrain_batch: int = 256
    pretrain_lr: float = 1.5e-3
    dae_hidden: int = 1000
    dae_noise: float = 0.5
    dae_batch: int = 64
    dae_lr: float = 1e-3
    lrs: tuple[float, ...] = (3e-4, 1e-3, 3e-3)
    batch_size: int = 32
    finetune_epochs: int = 12
    epoch_size: int = 1000
    probe_epochs: int = 20

    def check(self) -> Config:
        """self, if every name and size is valid; else a ValueError that says which is not."""
        unknown = [m for m in self.methods if m not in METHODS]
        if unknown or not self.methods:
            raise ValueError(
                f"methods must be a non-empty list drawn from {list(METHODS)}; got {list(self.methods)}."
            )
        if "mae" in self.methods and not self.ratios:
            raise ValueError(
                "ratios must name at least one masking ratio."
            )
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise ValueError(
                f"seeds must be distinct and at least one, got {list(self.seeds)}."
            )
        for n in self.label_counts:
            if integer("label_counts", n, low=CLASSES) % CLASSES:
                raise ValueError(
                    f"label_counts must be multiples of the {CLASSES} classes, got {n}."
                )
        for name in SIZES:
            integer(name, getattr(self, name), low=1)
        if {"mae", "random"} & set(self.methods):
            # heads divide dim, the patch divides 28, ...: fail now, not hours into the grid
            new_transformer(self, None)
        patches = (28 // self.patch_size) ** 2
        for ratio in self.ratios:
            # a ratio in [0, 1) that keeps at least one patch
            keep_count(patches, ratio)
        if self.train_size + self.valid_size > 60_000:
            raise ValueError(
                f"train_size + valid_size must fit in the 60 000 training images, got "
                f"{self.train_size} + {self.valid_size}."
            )
        probability("dae_noise", self.dae_noise)
        if not self.lrs or min(self.lrs) <= 0:
            raise ValueError(
                f"lrs must be positive learning rates, got {list(self.lrs)}."
            )
        return self

    @property
    def evaluations(self) -> list[str]:
        """The evaluation names: "probe", then "few-<n>" for each label count."""
        return ["probe"] + [f"few-{n}" for n in self.label_counts]


# --- data ------------------------------------------------------------------------------------------


class Splits(NamedTuple):
    """The three splits: x (N, 1, 28, 28) float32 in [0, 1], y (N,) int64, all on one device."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    valid_x: torch.Tensor
    valid_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor


def load_splits(
    config: Config, device: torch.device | str = "cpu"
) -> Splits:
    """Fashion-MNIST training images 0 .. train_size − 1 (training split), the next valid_size training
    images (validation split, disjoint from it) and the first test_size test images, on ``device``.

    Raises ValueError if the training file holds fewer than train_size + valid_size images.
    """
    n, v = config.train_size, config.valid_size
    data = load_images(
        DATASET,
        train_size=n + v,
        test_size=config.test_size,
        device=device,
    )
    if len(data.train_x) < n + v:
        raise ValueError(
            f"train_size + valid_size = {n + v}, but {DATASET} has {len(data.train_x)} training images."
        )
    x, y = data.train_x, data.train_y
    return Splits(
        x[:n], y[:n], x[n : n + v], y[n : n + v], data.test_x, data.test_y
    )


def labelled_subset(
    train_y: torch.Tensor, n_labels: int, seed: int
) -> torch.Tensor:
    """The labelled images of a few-label run: n_labels // 10 of each class, drawn without replacement.

    train_y: (N,) labels of the training split  ->  (n_labels,) int64 indices into it, on the CPU. The
    draw depends on (seed, n_labels) only, so every method of a seed is trained on the same images.
    Raises ValueError (from :func:`~aecourse.evaluation.probes.balanced_indices`) if n_labels is not a
    multiple of the classes or a class has too few images.
    """
    rng = np.random.default_rng([seed, n_labels])
    return torch.as_tensor(
        balanced_indices(to_numpy(train_y), n_labels, rng)
    )


# --- encoders --------------------------------------------------------------------------------------


def new_transformer(config: Config, ratio: float | None) -> MAE:
    """A fresh MAE of the config's sizes, hiding ``ratio`` of the patches (None: the model's 0.75)."""
    return MAE(
        patch_size=config.patch_size,
        dim=config.dim,
        depth=config.depth,
        heads=config.heads,
        decoder_dim=config.decoder_dim,
        decoder_depth=config.decoder_depth,
        mask_ratio=0.75 if ratio is None else ratio,
    )


def pretrain(
    method: str,
    ratio: float | None,
    seed: int,
    config: Config,
    train_x: torch.Tensor,
) -> tuple[nn.Module | None, list[float]]:
    """The encoder a run evaluates and its pretraining loss per epoch.

    train_x: (N, 1, 28, 28) on the device to train on. ``mae``: an MAE pretrained at ``ratio``
    (per-value squared error on the hidden patches); ``random``: the same MAE, same seed, untrained;
    ``dae``: a denoising autoencoder (binary cross-entropy); ``pixels``: None. The seed fixes the
    initial weights, the masks and noise, and the batch order.
    """
    seed_everything(seed)
    g = torch.Generator().manual_seed(seed)
    epochs = config.pretrain_epochs
    if method in ("mae", "random"):
        model = new_transformer(config, ratio).to(train_x.device)
        if method == "random":
            return model, []
        history = train_mae(
            model,
            train_x,
            epochs=epochs,
            batch_size=config.pretrain_batch,
            lr=config.pretrain_lr,
            generator=g,
            progress=False,
        )
        return model, history.train
    if method == "dae":
        model = Autoencoder(
            [train_x[0].numel(), config.dae_hidden],
            code_activation="sigmoid",
        ).to(train_x.device)
        history = fit(
            model,
            train_x,
            loss="bce",
            epochs=epochs,
            batch_size=config.dae_batch,
            lr=config.dae_lr,
            noise=lambda xb: mask(xb, config.dae_noise, g),
            generator=g,
            progress=False,
        )
        return model, history.train
    if method == "pixels":
        return None, []
    raise ValueError(
        f"Unknown method {method!r}: expected one of {METHODS}."
    )


def features(model: nn.Module | None, x: torch.Tensor) -> torch.Tensor:
    """What a linear probe reads: x (N, 1, 28, 28) -> (N, k). An MAE's mean-pooled encoder output over
    all 49 patches (k = dim), a DAE's code (k = dae_hidden), or the pixels (model None, k = 784)."""
    if model is None:
        return x.flatten(1)
    if isinstance(model, MAE):
        return predict(model, x, method="features")
    return predict(model, x, method="encode")


def classifier(model: nn.Module | None, n_classes: int) -> nn.Module:
    """A model images (N, 1, 28, 28) -> logits (N, n_classes) to train on labels, ``model`` left as is.

    An MAE: a copy of its encoder and a linear head (:meth:`~aecourse.models.mae.MAE.classifier`); a
    DAE: a copy of its encoder and a linear head on its code; None: a linear head on the pixels. Every
    head starts as the MAE's does (:func:`~aecourse.models.transformer.init_weights`).
    """
    if isinstance(model, MAE):
        return model.classifier(n_classes)
    if model is None:
        head = nn.Linear(784, n_classes)
        net = nn.Sequential(nn.Flatten(), head)
    else:
        head = nn.Linear(model.code_size, n_classes)
        # a copy: fine-tuning one run leaves the pretrained encoder as it was for the next
        net = nn.Sequential(copy.deepcopy(model.encoder), head)
    init_weights(head)
    return net


# --- evaluations -----------------------------------------------------------------------------------


def classification_loss(model: nn.Module, batch: tuple) -> dict:
    """A batch loss for :func:`~aecourse.training.fit`: batch (x (B, ...), y (B,)) -> {"loss", ...}.

    In training, the cross-entropy. On held-out data the *error rate* stands in the place of the loss,
    with the cross-entropy as a metric: fit's ``keep_best`` keeps the lowest held-out loss, so the epoch
    is chosen by validation accuracy, the measure the learning rate is chosen by and the chapter reports.
    """
    x, y = batch
    logits = model(x)
    cross_entropy = F.cross_entropy(logits, y)
    if model.training:
        return {"loss": cross_entropy}
    errors = (logits.argmax(1) != y).float().mean()
    return {"loss": errors, "cross_entropy": cross_entropy}


def _rounded(values) -> list[float]:
    return [float(f"{v:.5g}") for v in values]


def probe_rows(
    model: nn.Module | None,
    splits: Splits,
    seed: int,
    config: Config,
    done=lambda lr: False,
) -> Iterator[dict]:
    """The linear probe at every learning rate of ``config.lrs`` (those ``done(lr)`` skipped): yields a
    row each, as it finishes.

    model: from :func:`pretrain` (None: the pixels); splits: :class:`Splits`. A row holds the rate, the
    number of labels and of features, the validation, test and training accuracies (in [0, 1]), the
    validation accuracy and training loss per epoch, and its seconds (with the features', for the first).
    The probe is trained on the frozen features of the whole training split and scored on the
    validation and the test split (two probes trained alike from zero weights with the same seed, so
    the same probe, each asked about one split).
    """
    todo = [lr for lr in config.lrs if not done(lr)]
    if not todo:
        return
    began = time.perf_counter()
    train_f, valid_f, test_f = (
        features(model, x)
        for x in (splits.train_x, splits.valid_x, splits.test_x)
    )
    extract = time.perf_counter() - began
    for lr in todo:
        began = time.perf_counter()
        common = dict(
            epochs=config.probe_epochs,
            lr=lr,
            num_classes=CLASSES,
            seed=seed,
        )
        valid = linear_probe(
            train_f, splits.train_y, valid_f, splits.valid_y, **common
        )
        test = linear_probe(
            train_f, splits.train_y, test_f, splits.test_y, **common
        )
        yield {
            "lr": lr,
            "labels": len(train_f),
            "features": train_f.shape[1],
            "epoch": config.probe_epochs,
            "valid_accuracy": valid.test_accuracy,
            "test_accuracy": test.test_accuracy,
            "train_accuracy": test.train_accuracy,
            "valid_accuracies": _rounded(valid.test_accuracy_per_epoch),
            "train_losses": _rounded(test.train_loss_per_epoch),
            "seconds": time.perf_counter() - began + extract,
        }
        extract = 0.0  # the features' seconds counted once


def few_label_rows(
    model: nn.Module | None,
    splits: Splits,
    seed: int,
    n_labels: int,
    config: Config,
    done=lambda lr: False,
) -> Iterator[dict]:
    """A classifier trained on n_labels labelled training images at every learning rate of
    ``config.lrs`` (those ``done(lr)`` skipped): yields a row each as it finishes, scored at its best
    validation epoch.

    model: from :func:`pretrain` (None: the pixels); splits: :class:`Splits`. A row holds the rate, the
    number of labels, the kept epoch, its validation and test accuracy (in [0, 1]), the validation
    accuracy and training loss per epoch, and its seconds. The labelled images (:func:`labelled_subset`)
    are repeated to at least ``epoch_size`` examples an
    epoch; every rate starts from the same weights (``model``'s encoder copied, the head seeded) and
    sees the same batch order.
    """
    chosen = labelled_subset(splits.train_y, n_labels, seed).to(
        splits.train_x.device
    )
    repeats = math.ceil(config.epoch_size / n_labels)
    x = splits.train_x[chosen].repeat(repeats, 1, 1, 1)
    y = splits.train_y[chosen].repeat(repeats)
    for lr in config.lrs:
        if done(lr):
            continue
        began = time.perf_counter()
        seed_everything(seed)
        net = classifier(model, CLASSES).to(x.device)
        history = fit(
            net,
            x,
            y,
            batch_loss=classification_loss,
            epochs=config.finetune_epochs,
            batch_size=config.batch_size,
            lr=lr,
            valid=(splits.valid_x, splits.valid_y),
            keep_best=True,
            generator=torch.Generator().manual_seed(seed),
            progress=False,
        )
        test_error = evaluate(
            net,
            splits.test_x,
            splits.test_y,
            batch_loss=classification_loss,
        )
        yield {
            "lr": lr,
            "labels": n_labels,
            "epoch": history.best_epoch,
            "valid_accuracy": 1 - min(history.valid),
            "test_accuracy": 1 - test_error,
            "valid_accuracies": _rounded(1 - e for e in history.valid),
            "train_losses": _rounded(history.train),
            "seconds": time.perf_counter() - began,
        }


# --- the grid --------------------------------------------------------------------------------------


def units(config: Config) -> list[tuple[str, float | None, int]]:
    """The units of work, (method, ratio, seed): each pretrains one encoder and runs every evaluation.

    In the order a run that stops early should have done them: first, seed by seed, the first ratio of
    ``config.ratios`` (0.75, the paper's) with every baseline, the pieces of the chapter's main
    comparison; then the other ratios, one ratio for every seed before the next, so that a partial file
    holds whole cells of the table.
    """
    first = [
        ("mae", config.ratios[0], seed) if m == "mae" else (m, None, seed)
        for seed in config.seeds
        for m in config.methods
    ]
    rest = (
        [
            ("mae", ratio, seed)
            for ratio in config.ratios[1:]
            for seed in config.seeds
        ]
        if "mae" in config.methods
        else []
    )
    return first + rest


def parse_shard(text: str) -> tuple[int, int]:
    """ "K/N" -> (K, N) with 0 <= K < N: this process runs units K, K + N, K + 2N, ...

    Raises ValueError otherwise.
    """
    try:
        k, n = (int(v) for v in text.split("/"))
    except ValueError:
        raise ValueError(
            f"--shard must be K/N, e.g. 0/2; got {text!r}."
        ) from None
    if not 0 <= k < n:
        raise ValueError(f"--shard K/N needs 0 <= K < N, got {text!r}.")
    return k, n


def run_unit(
    method: str,
    ratio: float | None,
    seed: int,
    splits: Splits,
    config: Config,
    done=lambda evaluation, lr: False,
) -> Iterator[dict]:
    """Pretrain one encoder and run every evaluation at every learning rate; yields the rows one by one
    as they finish (those ``done(evaluation, lr)`` skipped), each with the pretraining's loss curve and
    seconds."""
    began = time.perf_counter()
    model, losses = pretrain(method, ratio, seed, config, splits.train_x)
    pretrain_seconds = time.perf_counter() - began
    common = {
        "method": method,
        "ratio": ratio,
        "seed": seed,
        "pretrain_losses": _rounded(losses),
        "pretrain_seconds": pretrain_seconds,
    }
    for row in probe_rows(
        model, splits, seed, config, lambda lr: done("probe", lr)
    ):
        yield {**common, "evaluation": "probe", **row}
    for n in config.label_counts:
        evaluation = f"few-{n}"
        for row in few_label_rows(
            model,
            splits,
            seed,
            n,
            config,
            lambda lr, e=evaluation: done(e, lr),
        ):
            yield {**common, "evaluation": evaluation, **row}


def run_grid(
    config: Config,
    out: str | Path,
    *,
    device: str | torch.device | None = None,
    shard: tuple[int, int] = (0, 1),
    hours: float | None = None,
    fresh: bool = False,
    command: list[str] | None = None,
    log=print,
) -> ResultsFile:
    """Run this shard's units into the results file ``out``, skipping the rows already in it.

    Before each unit, stops if ``hours`` of wall time would be spent by the end of a unit as long as the
    longest one so far; the same call resumes. Returns the file; ``complete`` says whether this shard's
    share of the grid is all there (:func:`~aecourse.experiments.stamp.merge_results` joins the shards).
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
    todo = units(config)[k::n]
    splits = None
    began, longest, stopped = time.perf_counter(), 0.0, False
    for method, ratio, seed in todo:

        def done(evaluation, lr, method=method, ratio=ratio, seed=seed):
            return f.done(
                method=method,
                ratio=ratio,
                seed=seed,
                evaluation=evaluation,
                lr=lr,
            )

        if all(
            done(e, lr) for e in config.evaluations for lr in config.lrs
        ):
            continue
        spent = time.perf_counter() - began
        if hours is not None and spent + longest > 3600 * hours:
            stopped = True
            break
        if splits is None:
            splits = load_splits(config, dev)
        start = unreported = time.perf_counter()
        rows = 0
        for row in run_unit(method, ratio, seed, splits, config, done):
            now = time.perf_counter()
            # the stamp's seconds: everything since the last row (pretraining goes with the first)
            f.add(row, seconds=now - unreported)
            unreported, rows = now, rows + 1
        seconds = time.perf_counter() - start
        longest = max(longest, seconds)
        if log:
            name = method if ratio is None else f"{method} {ratio:g}"
            log(f"{name} seed {seed}: {rows} rows, {seconds:.0f} s")
    f.write(complete=not stopped)
    return f


# --- command line ----------------------------------------------------------------------------------


def parse_args(argv=None) -> tuple[Config, argparse.Namespace]:
    d = Config()
    p = argparse.ArgumentParser(
        prog=f"python -m {EXPERIMENT}", description=__doc__.split("\n")[0]
    )
    p.add_argument(
        "--out",
        default=None,
        help="results file (JSON) to write or resume; default results/masking_ratio[.KofN].json",
    )
    p.add_argument(
        "--device",
        default=None,
        help="cpu, cuda, ... (default: the best one here)",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="CPU threads for PyTorch",
    )
    p.add_argument(
        "--shard",
        default="0/1",
        help="K/N: run units K, K + N, ... (N processes share the grid)",
    )
    p.add_argument(
        "--hours",
        type=float,
        default=None,
        help="stop between units before this much wall time; the same command resumes",
    )
    p.add_argument(
        "--fresh", action="store_true", help="start the file afresh"
    )
    p.add_argument(
        "--ratios", type=float, nargs="+", default=list(d.ratios)
    )
    p.add_argument(
        "--methods", nargs="+", default=list(d.methods), choices=METHODS
    )
    p.add_argument("--seeds", type=int, nargs="+", default=list(d.seeds))
    p.add_argument(
        "--label-counts",
        type=int,
        nargs="+",
        default=list(d.label_counts),
    )
    p.add_argument("--lrs", type=float, nargs="+", default=list(d.lrs))
    for name in SIZES:
        p.add_argument(
            "--" + name.replace("_", "-"),
            type=int,
            default=getattr(d, name),
        )
    for name in ("pretrain_lr", "dae_noise", "dae_lr"):
        p.add_argument(
            "--" + name.replace("_", "-"),
            type=float,
            default=getattr(d, name),
        )
    args = p.parse_args(argv)
    config = Config(
        ratios=tuple(args.ratios),
        methods=tuple(args.methods),
        seeds=tuple(args.seeds),
        label_counts=tuple(args.label_counts),
        lrs=tuple(args.lrs),
        pretrain_lr=args.pretrain_lr,
        dae_noise=args.dae_noise,
        dae_lr=args.dae_lr,
        **{name: getattr(args, name) for name in SIZES},
    )
    return config, args


def main(argv=None) -> ResultsFile:
    config, args = parse_args(argv)
    try:
        config.check()
        k, n = parse_shard(args.shard)
        if args.threads is not None:
            integer("--threads", args.threads, low=1)
    except ValueError as err:
        sys.exit(f"error: {err}")
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    suffix = "" if n == 1 else f".{k}of{n}"
    out = args.out or RESULTS / f"masking_ratio{suffix}.json"
    print(f"grid: {asdict(config)}; shard {k}/{n}", flush=True)
    f = run_grid(
        config,
        out,
        device=args.device,
        shard=(k, n),
        hours=args.hours,
        fresh=args.fresh,
        command=["python", "-m", EXPERIMENT]
        + list(argv if argv is not None else sys.argv[1:]),
        log=lambda line: print(line, flush=True),
    )
    state = "complete" if f.stamp["complete"] else "stopped: run it again"
    print(f"{len(f.rows)} rows in {out} ({state})")
    return f


if __name__ == "__main__":
    main()
