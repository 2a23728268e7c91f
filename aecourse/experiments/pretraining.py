"""Does greedy layer-wise pretraining help? The grid behind the pretraining chapter's table.

For each data set, setting, depth, method and seed: build a :class:`~aecourse.models.pretraining.DeepNet` with
``depth`` hidden layers of ``hidden`` units, pretrain it greedily (method "ae": autoencoders, "dae":
denoising autoencoders with masking noise) or not ("none"), fine-tune it on the labels and record its test
error. Pretraining is done once per (data set, setting, method, seed), to the largest depth, and shared by
all depths (:func:`pretrained_stack` says why that is the same algorithm). One CSV row per run;
:func:`summarise` turns the rows into mean ± standard error over seeds, :func:`format_summary` into text::

    python -m aecourse.experiments.pretraining --out results.csv --depths 1 2 3 --seeds 0 1 2

Data sets (first ``train_size`` MNIST training images; test images from the MNIST test set):

- ``mnist-small``: MNIST digits as they are;
- ``mnist-rotation``: the same digits, each turned by an angle uniform in [0, 2π)
  (:func:`aecourse.data.rotation.rotated_mnist`, with fixed seeds, so every run sees the same data set).

Settings (:data:`SETTINGS`): ``era`` is the 2007 papers' recipe, sigmoid units and plain SGD on small
mini-batches; ``modern`` is ReLU units and Adam. Learning rates and epochs are fixed, not tuned per run.

How this differs from the papers, so that our numbers are read fairly: Larochelle et al. (2007, 2009) chose
the hidden layer sizes, learning rates and the number of epochs on a 2 000-example validation set, for each
depth and method, and tested on 50 000 examples; we fix them all, use no validation set, and test on at
most the 10 000 images of the MNIST test set. Their ± is a 95% confidence interval from the size of the
test set (1.96·√(p(1−p)/n_test)); ours, from :func:`summarise`, is the standard error over seeds.

The script picks the GPU when there is one (:func:`aecourse.settings.device`) and keeps the data there.
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import matplotlib.pyplot as plt
import torch
from tqdm.auto import tqdm

from aecourse.data.images import load_images
from aecourse.data.rotation import rotated_mnist
from aecourse.models.pretraining import (
    DeepNet,
    fine_tune,
    pretrain,
    test_error,
)
from aecourse.settings import device as best_device
from aecourse.settings import seed_everything

# Numbers from the papers, to print beside ours.
PAPER = {
    # Larochelle, Erhan, Courville, Bergstra & Bengio (2007), "An empirical evaluation of deep architectures
    # on problems with many factors of variation", ICML: each MNIST variant (MNIST-basic, MNIST-rotation, ...)
    # has 10 000 training, 2 000 validation and 50 000 test examples, and MNIST-rotation turns each digit
    # by an angle drawn uniformly in [0, 2π).
    "split": {"train": 10_000, "valid": 2_000, "test": 50_000},
    # Test error in % on MNIST-small of a net with 3 hidden layers, randomly initialised ("none") or
    # pretrained with autoassociators ("ae"), both fine-tuned, as the course material quotes them (the table
    # it attributes to Larochelle et al. 2007; the MNIST-small name is that of Larochelle, Bengio, Louradour
    # & Lamblin 2009, "Exploring strategies for training deep neural networks", JMLR 10:1-40). Not yet
    # checked against the papers' own tables here (no copy at hand): check before the chapter prints them
    # as the papers' words. Both ± equal 1.96·√(p(1−p)/50 000): a 95% interval over the 50 000 test
    # examples, not a spread over seeds.
    ("mnist-small", "none", 3): (4.24, 0.18),
    ("mnist-small", "ae", 3): (3.37, 0.16),
}

DATASETS = ("mnist-small", "mnist-rotation")
METHODS = ("none", "ae", "dae")

# MNIST-rotation's angles depend only on these seeds, never on a run's seed: every run, method and machine
# sees the same rotated training and test images.
ROTATION_SEEDS = {"train": 2007, "test": 2008}


@dataclass(frozen=True)
class Setting:
    """How a net is built and trained: hidden units, optimizer, learning rates and mini-batch size."""

    activation: str
    optimizer: str
    pretrain_lr: float
    finetune_lr: float
    batch_size: int


SETTINGS = {
    # The 2007 recipe: sigmoid units, plain SGD (no momentum) on mini-batches of 20. The greedy modules'
    # loss is a sum over the d inputs (see aecourse.ops.losses) while the classifier's cross-entropy is one
    # number per example, hence a smaller learning rate for pretraining. Both were chosen by a few short
    # runs on MNIST-small with 3 hidden layers of 500, not tuned per depth or data set.
    # Without pretraining, deep sigmoid nets can sit on the plateau at chance (loss ≈ ln 10) for many epochs
    # with this recipe (4 hidden layers did for all of 10 epochs in our short runs): the difficulty the 2007
    # papers set out to solve. Short fine-tuning therefore flatters pretraining; say so beside the numbers.
    "era": Setting(
        activation="sigmoid",
        optimizer="sgd",
        pretrain_lr=0.1,
        finetune_lr=1.0,
        batch_size=20,
    ),
    # Today's defaults: ReLU units and Adam with its usual learning rate.
    "modern": Setting(
        activation="relu",
        optimizer="adam",
        pretrain_lr=1e-3,
        finetune_lr=1e-3,
        batch_size=128,
    ),
}


@dataclass
class Config:
    """The grid and the fixed sizes of every run in it."""

    datasets: list[str] = field(default_factory=lambda: list(DATASETS))
    settings: list[str] = field(default_factory=lambda: list(SETTINGS))
    depths: list[int] = field(default_factory=lambda: [1, 2, 3, 4])
    methods: list[str] = field(default_factory=lambda: list(METHODS))
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    hidden: int = 500
    train_size: int = 10_000
    test_size: int = 10_000
    pretrain_epochs: int = 10
    finetune_epochs: int = 30
    noise: float = 0.25  # masking level ν of the denoising autoencoders (Vincent et al. 2008 tried 0 to 0.5)

    def check(self) -> Config:
        """self, if every name and size is valid; else a ValueError that says which is not."""
        for name, given, known in (
            ("datasets", self.datasets, DATASETS),
            ("settings", self.settings, SETTINGS),
            ("methods", self.methods, METHODS),
        ):
            unknown = [g for g in given if g not in known]
            if unknown or not given:
                raise ValueError(
                    f"{name} must be a non-empty list drawn from {list(known)}; got {list(given)}."
                )
        if not self.depths or any(d < 1 for d in self.depths):
            raise ValueError(
                f"depths must be numbers of hidden layers >= 1, got {list(self.depths)}."
            )
        if not self.seeds:
            raise ValueError("seeds must name at least one seed.")
        for name in ("hidden", "train_size", "test_size"):
            if getattr(self, name) < 1:
                raise ValueError(
                    f"{name} must be >= 1, got {getattr(self, name)}."
                )
        for name in ("pretrain_epochs", "finetune_epochs"):
            if getattr(self, name) < 0:
                raise ValueError(
                    f"{name} must be >= 0, got {getattr(self, name)}."
                )
        if not 0 <= self.noise <= 1:
            raise ValueError(
                f"noise is a masking level and must be in [0, 1], got {self.noise}."
            )
        return self


def load_dataset(
    name: str,
    train_size: int,
    test_size: int,
    device: torch.device | str = "cpu",
):
    """(train_x, train_y, test_x, test_y) of data set ``name`` on ``device``.

    x: (N, 1, 28, 28) float32 in [0, 1]; y: (N,) int64. The rotation is computed on the CPU before the
    images move, so MNIST-rotation is the same bits on every device.
    """
    if name not in DATASETS:
        raise ValueError(
            f"Unknown data set {name!r}: expected one of {DATASETS}."
        )
    data = load_images(
        "mnist", train_size=train_size, test_size=test_size, device="cpu"
    )
    train_x, test_x = data.train_x, data.test_x
    if name == "mnist-rotation":
        train_x, _ = rotated_mnist(train_x, seed=ROTATION_SEEDS["train"])
        test_x, _ = rotated_mnist(test_x, seed=ROTATION_SEEDS["test"])
    return tuple(
        t.to(device) for t in (train_x, data.train_y, test_x, data.test_y)
    )


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        # time the work, not the queueing of it
        torch.cuda.synchronize(device)


def starting_net(
    stack: DeepNet | None,
    *,
    setting: str,
    depth: int,
    seed: int,
    config: Config,
    n_inputs: int = 784,
    device: torch.device | str = "cpu",
) -> DeepNet:
    """The net a run fine-tunes: ``depth`` hidden layers of ``config.hidden`` units with the seed's random
    weights, its hidden layers then overwritten by the first ``depth`` layers of ``stack`` (None: none are).

    With one seed, every method starts from the same random output layer. Raises ValueError if the stack
    has fewer than ``depth`` layers.
    """
    if stack is not None and stack.depth < depth:
        raise ValueError(
            f"The pretrained stack has {stack.depth} layers; a net of depth {depth} needs {depth}."
        )
    seed_everything(seed)
    net = DeepNet(
        [n_inputs] + [config.hidden] * depth,
        activation=SETTINGS[setting].activation,
    ).to(device)
    if stack is not None:
        for layer, pretrained in zip(net.hidden, stack.hidden):
            layer.load_state_dict(pretrained.state_dict())
    return net


def pretrained_stack(
    train_x: torch.Tensor,
    *,
    setting: str,
    method: str,
    seed: int,
    depth: int,
    config: Config,
) -> tuple[DeepNet | None, float]:
    """The hidden layers that every run of (setting, method, seed) starts from, and the seconds they took.

    train_x: (N, 1, 28, 28) unlabelled training images on the device to train on. Returns a DeepNet with
    ``depth`` hidden layers pretrained greedily ("ae": autoencoders, "dae": denoising autoencoders with
    masking noise ``config.noise``), or (None, 0.0) for "none". Greedy layer l is trained on the layers
    below it only, never on the ones above, so the first d layers of this stack are what pretraining a net
    of depth d would give: one stack, pretrained once to the largest depth, serves every depth.
    """
    if method not in METHODS:
        raise ValueError(
            f"Unknown method {method!r}: expected one of {METHODS}."
        )
    if method == "none":
        return None, 0.0
    s = SETTINGS[setting]
    stack = starting_net(
        None,
        setting=setting,
        depth=depth,
        seed=seed,
        config=config,
        n_inputs=train_x[0].numel(),
        device=train_x.device,
    )
    _sync(train_x.device)
    start = time.perf_counter()
    pretrain(
        stack,
        train_x,
        epochs=config.pretrain_epochs,
        lr=s.pretrain_lr,
        batch_size=s.batch_size,
        noise=config.noise if method == "dae" else None,
        optimizer=s.optimizer,
        progress=False,
    )
    _sync(train_x.device)
    return stack, time.perf_counter() - start


def run_one(
    data,
    *,
    dataset: str,
    setting: str,
    depth: int,
    method: str,
    seed: int,
    config: Config,
    stack: DeepNet | None = None,
    pretrain_seconds: float = 0.0,
) -> dict:
    """One run: build a net of ``depth`` hidden layers, pretrain it (or not), fine-tune and test it.

    data: (train_x, train_y, test_x, test_y) from :func:`load_dataset`, on the device to train on.
    stack: for "ae"/"dae", a :func:`pretrained_stack` of at least ``depth`` layers whose first ``depth``
    layers initialise the net (pretrain_seconds: what that stack took); without one, it is pretrained here.
    The seed fixes the random initial weights (output layer included) and the order of the mini-batches,
    so with one seed "none", "ae" and "dae" differ only by how the hidden layers start.
    Returns the run's CSV row as a dict; ``train_losses`` is the list of fine-tuning losses, one per epoch.
    """
    if method not in METHODS:
        raise ValueError(
            f"Unknown method {method!r}: expected one of {METHODS}."
        )
    s = SETTINGS[setting]
    train_x, train_y, test_x, test_y = data
    dev = train_x.device
    if method != "none" and stack is None:
        stack, pretrain_seconds = pretrained_stack(
            train_x,
            setting=setting,
            method=method,
            seed=seed,
            depth=depth,
            config=config,
        )
    net = starting_net(
        stack if method != "none" else None,
        setting=setting,
        depth=depth,
        seed=seed,
        config=config,
        n_inputs=train_x[0].numel(),
        device=dev,
    )
    _sync(dev)
    start = time.perf_counter()
    history = fine_tune(
        net,
        train_x,
        train_y,
        epochs=config.finetune_epochs,
        lr=s.finetune_lr,
        batch_size=s.batch_size,
        optimizer=s.optimizer,
        progress=False,
    )
    error = test_error(net, test_x, test_y)
    _sync(dev)
    seconds = time.perf_counter() - start
    return {
        "dataset": dataset,
        "setting": setting,
        "depth": depth,
        "method": method,
        "seed": seed,
        "test_error": error,
        "train_error": test_error(net, train_x, train_y),
        "train_loss": history.train[-1]
        if history.train
        else float("nan"),
        "seconds": seconds,
        "pretrain_seconds": pretrain_seconds if method != "none" else 0.0,
        "hidden": config.hidden,
        "activation": s.activation,
        "optimizer": s.optimizer,
        "pretrain_lr": s.pretrain_lr,
        "finetune_lr": s.finetune_lr,
        "batch_size": s.batch_size,
        "pretrain_epochs": config.pretrain_epochs
        if method != "none"
        else 0,
        "finetune_epochs": config.finetune_epochs,
        "noise": config.noise if method == "dae" else 0.0,
        "train_size": len(train_x),
        "test_size": len(test_x),
        "device": dev.type,
        "train_losses": list(history.train),
    }


COLUMNS = [
    "dataset",
    "setting",
    "depth",
    "method",
    "seed",
    "test_error",
    "train_error",
    "train_loss",
    "seconds",
    "pretrain_seconds",
    "hidden",
    "activation",
    "optimizer",
    "pretrain_lr",
    "finetune_lr",
    "batch_size",
    "pretrain_epochs",
    "finetune_epochs",
    "noise",
    "train_size",
    "test_size",
    "device",
    "train_losses",
]


def run_grid(
    config: Config,
    out: str | Path | None = None,
    device: torch.device | str | None = None,
    log=print,
    progress: bool = False,
    stacks: dict | None = None,
) -> list[dict]:
    """Run every (dataset, setting, method, seed, depth) of ``config``; returns the rows in that order.

    Each (dataset, setting, method, seed) is pretrained once, to the largest depth, and every depth
    fine-tunes a copy of its first layers (see :func:`pretrained_stack`).
    out: a CSV file, written row by row as runs finish (so an interrupted grid keeps what it did).
    log: called with one line per run (``print`` by default; ``None`` for silence).
    progress: a progress bar over the runs. stacks: a dict that receives the pretrained stacks, keyed by
    (dataset, setting, method, seed), to look at afterwards.
    """
    config.check()
    dev = torch.device(device) if device is not None else best_device()
    grid = [
        (st, m, sd)
        for st in config.settings
        for m in config.methods
        for sd in config.seeds
    ]
    total, rows = (
        len(config.datasets) * len(grid) * len(config.depths),
        [],
    )
    handle = open(out, "w", newline="") if out is not None else None
    bar = tqdm(total=total, desc="runs", disable=not progress)
    try:
        writer = (
            csv.DictWriter(handle, fieldnames=COLUMNS) if handle else None
        )
        if writer:
            writer.writeheader()
        for dataset in config.datasets:
            data = load_dataset(
                dataset, config.train_size, config.test_size, dev
            )
            for setting, method, seed in grid:
                bar.set_postfix_str(
                    f"{dataset} {setting} {method} seed={seed}: pretraining"
                    if method != "none"
                    else f"{dataset} {setting} {method} seed={seed}"
                )
                stack, seconds = pretrained_stack(
                    data[0],
                    setting=setting,
                    method=method,
                    seed=seed,
                    depth=max(config.depths),
                    config=config,
                )
                if stacks is not None and stack is not None:
                    stacks[(dataset, setting, method, seed)] = stack
                for depth in config.depths:
                    row = run_one(
                        data,
                        dataset=dataset,
                        setting=setting,
                        depth=depth,
                        method=method,
                        seed=seed,
                        config=config,
                        stack=stack,
                        pretrain_seconds=seconds,
                    )
                    rows.append(row)
                    bar.update()
                    if writer:  # a CSV cell holds one string: the per-epoch losses joined by spaces
                        writer.writerow(
                            {
                                **row,
                                "train_losses": " ".join(
                                    f"{v:.6g}"
                                    for v in row["train_losses"]
                                ),
                            }
                        )
                        handle.flush()
                    if log:
                        log(
                            f"[{len(rows)}/{total}] {dataset} {setting} depth={depth} {method:4s} seed={seed}: "
                            f"test error {100 * row['test_error']:.2f}%  ({row['seconds']:.1f} s)"
                        )
    finally:
        bar.close()
        if handle:
            handle.close()
    return rows


# --- reading and summarising -----------------------------------------------------------------------

_INTS = (
    "depth",
    "seed",
    "hidden",
    "batch_size",
    "pretrain_epochs",
    "finetune_epochs",
    "train_size",
    "test_size",
)
_FLOATS = (
    "test_error",
    "train_error",
    "train_loss",
    "seconds",
    "pretrain_seconds",
    "pretrain_lr",
    "finetune_lr",
    "noise",
)


def read_rows(path: str | Path) -> list[dict]:
    """The rows of a CSV written by :func:`run_grid`, with numbers as numbers."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        for key in _INTS:
            if key in row:
                row[key] = int(row[key])
        for key in _FLOATS:
            if key in row:
                row[key] = float(row[key])
        if "train_losses" in row:
            row["train_losses"] = [
                float(v) for v in row["train_losses"].split()
            ]
    return rows


def summarise(rows, value: str = "test_error") -> list[dict]:
    """Mean ± standard error of ``value`` over seeds, per (dataset, setting, depth, method).

    rows: dicts with those keys and ``value`` (as from :func:`run_grid` or :func:`read_rows`). Returns one
    dict per group, in the order groups first appear, with the four keys plus n (runs), mean and sem =
    s/√n, s the sample standard deviation (n − 1 in the denominator); sem is nan for a single run.
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


def format_summary(
    table: list[dict], percent: bool = True, paper: dict | None = PAPER
) -> str:
    """The table of :func:`summarise` as aligned text: one line per (dataset, setting, depth), one column per
    method, cells "mean ± s.e. over seeds" (errors in % by default).

    paper: the :data:`PAPER` numbers to print in a last column where one exists for the line (era setting);
    their ± is a 95% binomial interval over the paper's test set, not a spread over seeds.
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
    width = 16
    header = f"{'dataset':15s} {'setting':8s} {'depth':>5s} " + " ".join(
        f"{m:>{width}s}" for m in methods
    )
    header += f" {'seeds':>5s}" + (
        "   paper (95% interval)" if paper else ""
    )
    text = [header]
    for (dataset, setting, depth), cells in lines.items():
        line = f"{dataset:15s} {setting:8s} {depth:5d} " + " ".join(
            f"{cells.get(m, '-'):>{width}s}" for m in methods
        )
        line += f" {cells['n']:5d}"
        quoted = [
            f"{m} {paper[(dataset, m, depth)][0]:.2f} ± {paper[(dataset, m, depth)][1]:.2f}"
            for m in methods
            if paper and setting == "era" and (dataset, m, depth) in paper
        ]
        text.append(line + ("   " + ", ".join(quoted) if quoted else ""))
    return "\n".join(text)


# --- figures ---------------------------------------------------------------------------------------

METHOD_LABELS = {
    "none": "no pretraining",
    "ae": "autoencoders",
    "dae": "denoising autoencoders",
}


def plot_summary(table: list[dict], setting: str = "era"):
    """Test error (%) against depth, one panel per data set, one line per method with ± s.e. bars.

    table: from :func:`summarise`; only the rows of ``setting`` are drawn. Returns the Figure.
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
        for method in dict.fromkeys(r["method"] for r in rows):
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
            ax.errorbar(
                depth,
                mean,
                yerr=sem,
                marker="o",
                capsize=3,
                label=METHOD_LABELS.get(method, method),
            )
        ax.set_xticks(sorted({r["depth"] for r in rows}))
        ax.set_xlabel("hidden layers")
        ax.set_ylabel("test error (%)")
        ax.set_title(f"{dataset}, {setting} setting")
    axes[0, 0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_fine_tuning(rows: list[dict], depth: int, setting: str = "era"):
    """Training loss per epoch of fine-tuning, mean over seeds: one panel per data set, one line per method.

    rows: from :func:`run_grid` or :func:`read_rows` (with ``train_losses``). A net that has not started
    to learn sits at ln 10 ≈ 2.30, the loss of guessing uniformly among ten classes (dotted line).
    """
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
        for method in dict.fromkeys(r["method"] for r in rows):
            curves = [
                r["train_losses"]
                for r in rows
                if r["dataset"] == dataset and r["method"] == method
            ]
            mean = [sum(values) / len(values) for values in zip(*curves)]
            ax.plot(
                range(1, len(mean) + 1),
                mean,
                marker="o",
                label=METHOD_LABELS.get(method, method),
            )
        ax.axhline(math.log(10), color="grey", linestyle=":", linewidth=1)
        ax.set_xlabel("fine-tuning epoch")
        ax.set_ylabel("training cross-entropy")
        ax.set_title(f"{dataset}, {depth} hidden layers")
    axes[0, 0].legend(fontsize=8)
    fig.tight_layout()
    return fig


# --- command line ----------------------------------------------------------------------------------


def parse_args(argv=None) -> tuple[Config, argparse.Namespace]:
    defaults = Config()
    p = argparse.ArgumentParser(
        prog="python -m aecourse.experiments.pretraining",
        description=__doc__.split("\n")[0],
    )
    p.add_argument(
        "--out", required=True, help="CSV file to write, one row per run"
    )
    p.add_argument(
        "--datasets",
        nargs="+",
        default=defaults.datasets,
        choices=DATASETS,
    )
    p.add_argument(
        "--settings",
        nargs="+",
        default=defaults.settings,
        choices=list(SETTINGS),
    )
    p.add_argument(
        "--depths", nargs="+", type=int, default=defaults.depths
    )
    p.add_argument(
        "--methods", nargs="+", default=defaults.methods, choices=METHODS
    )
    p.add_argument("--seeds", nargs="+", type=int, default=defaults.seeds)
    p.add_argument(
        "--hidden",
        type=int,
        default=defaults.hidden,
        help="units in every hidden layer",
    )
    p.add_argument("--train-size", type=int, default=defaults.train_size)
    p.add_argument("--test-size", type=int, default=defaults.test_size)
    p.add_argument(
        "--pretrain-epochs",
        type=int,
        default=defaults.pretrain_epochs,
        help="per layer",
    )
    p.add_argument(
        "--finetune-epochs", type=int, default=defaults.finetune_epochs
    )
    p.add_argument(
        "--noise",
        type=float,
        default=defaults.noise,
        help="masking level of the dae method",
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
        help="CPU threads for PyTorch (default: its own choice); 1 is fastest on a small, busy machine",
    )
    args = p.parse_args(argv)
    config = Config(
        datasets=args.datasets,
        settings=args.settings,
        depths=args.depths,
        methods=args.methods,
        seeds=args.seeds,
        hidden=args.hidden,
        train_size=args.train_size,
        test_size=args.test_size,
        pretrain_epochs=args.pretrain_epochs,
        finetune_epochs=args.finetune_epochs,
        noise=args.noise,
    )
    return config, args


def main(argv=None) -> list[dict]:
    config, args = parse_args(argv)
    try:
        config.check()
    except ValueError as err:
        sys.exit(f"error: {err}")
    if args.threads is not None:
        if args.threads < 1:
            sys.exit(
                f"error: --threads must be >= 1, got {args.threads}."
            )
        torch.set_num_threads(args.threads)
    print(f"grid: {asdict(config)}", flush=True)
    rows = run_grid(
        config,
        out=args.out,
        device=args.device,
        log=lambda line: print(line, flush=True),
    )
    print(format_summary(summarise(rows)))
    print(f"wrote {len(rows)} rows to {args.out}")
    return rows


if __name__ == "__main__":
    main()
