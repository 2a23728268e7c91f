"""Hinton & Salakhutdinov's deep autoencoder, 784-1000-500-250-30, with and without pretraining (the
pretraining chapter).

``python -m aecourse.experiments.deep_autoencoder --out FILE.json`` trains, for every seed, the same
sigmoid autoencoder (sigmoid hidden units, a linear 30-unit code, sigmoid outputs) from four starts and
writes a stamped results file (:mod:`aecourse.experiments.stamp`), one row per (init, seed):

- ``"rbm"``: a greedy stack of RBMs trained by CD-1 (:mod:`aecourse.models.rbm`) with the reference
  code's settings, unrolled: the decoder starts from the transposed weights (:func:`~aecourse.models.rbm.unroll`);
- ``"ae"``: a greedy stack of one-hidden-layer autoencoders (the course's greedy module, trained with the
  same schedule as the RBMs), unrolled the same way: encoder layer l from autoencoder l's encoder, the
  mirrored decoder layer from its decoder;
- ``"none"``: the same net from PyTorch's default random weights;
- ``"modern"``: the net of today, ReLU hidden units and Adam, from random weights.

All four are fine-tuned on the Bernoulli cross-entropy (the paper's loss) for the same number of epochs on
mini-batches of ``finetune_batch``: 1000 by default, the paper's conjugate-gradient batches; a CPU run
uses 100, because plain SGD needs more updates than conjugate gradients, which make three line searches
per batch, and a CPU cannot afford the epochs. "none", "ae" and "rbm" with SGD and momentum 0.9,
"modern" with Adam. Every init gets the same tuning budget: each learning rate of its grid
is tried, and the learning rate and the epoch are chosen on a validation split held out of MNIST's 60 000
training images (the model is kept at its best validation epoch); the test images are only used to report.
The results are squared errors per image, Σ_j (x̂_j - x_j)², averaged over the test images, as the paper
reports them, beside PCA with 30 components fitted to the same training images (row init "pca") and the
mean training image (row "mean").

The paper differs: it trained on all 60 000 images, fine-tuned with conjugate gradients (three line searches
per mini-batch of 1000) for 200 epochs, with no validation split. See :data:`PAPER`.
"""

from __future__ import annotations

import argparse
import copy
import math
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import nn

from aecourse.data.images import load_images
from aecourse.evaluation.pca import fit_pca, pca_reconstruct
from aecourse.experiments.stamp import RESULTS, ResultsFile
from aecourse.models.autoencoder import Autoencoder
from aecourse.models.rbm import MOMENTUM_EPOCHS, rbm_stack, unroll
from aecourse.ops.losses import reconstruction_loss
from aecourse.settings import device as best_device
from aecourse.settings import seed_everything
from aecourse.training import evaluate, fit

EXPERIMENT = "aecourse.experiments.deep_autoencoder"

INITS = ("none", "ae", "rbm", "modern")
# rows that are not trained nets: PCA with as many components as the code, and the mean training image
BASELINES = ("pca", "mean")

# Hinton & Salakhutdinov (2006), Science 313:504-507, Fig. 2B and its caption, with the setting of their
# reference code (mnistdeepauto.m, rbm.m, rbmhidlinear.m, backprop.m). Squared error per test image.
PAPER = {
    "citation": "Hinton & Salakhutdinov (2006), Science 313, Fig. 2B",
    "autoencoder": 3.00,
    "logistic PCA": 8.01,
    "PCA": 13.87,
    "setting": (
        "784-1000-500-250-30 autoencoder, trained on the 60 000 MNIST training images, tested on the "
        "10 000 test images; each RBM trained 50 epochs by CD-1 on mini-batches of 100 (learning rate "
        "0.1, 0.001 for the linear code units; momentum 0.5 then 0.9; weight cost 0.0002); unrolled with "
        "the decoder starting at the transposed weights and fine-tuned untied on the cross-entropy with "
        "conjugate gradients (3 line searches per mini-batch of 1000) for 200 epochs"
    ),
}


@dataclass
class Config:
    """The grid and sizes of a run of the experiment (stored in the results file's stamp)."""

    inits: list[str] = field(default_factory=lambda: list(INITS))
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    sizes: list[int] = field(
        default_factory=lambda: [784, 1000, 500, 250, 30]
    )
    # the first train_size MNIST training images; the last valid_size of them are held out for validation
    train_size: int = 60_000
    valid_size: int = 10_000
    test_size: int = 10_000
    # greedy pretraining, as the reference code: SGD, momentum 0.5 then 0.9, weight cost on the weights
    pretrain_epochs: int = 50
    pretrain_batch: int = 100
    rbm_lr: float = 0.1
    rbm_top_lr: float = 0.001
    ae_lr: float = 0.1
    ae_top_lr: float = 0.001
    weight_cost: float = 2e-4
    # fine-tuning
    finetune_epochs: int = 200
    finetune_batch: int = 1000
    # The learning rates tried, two per init, the same two for the three sigmoid starts. Pilots on a GPU
    # (seed 0, 200 epochs, validation squared error at the chosen epoch) found that no one rate suits all:
    # the random start needs a large one (SGD 0.003 / 0.01 / 0.03: 52.19 / 18.87 / 6.51, stuck at the mean
    # image below 0.03), the autoencoder stack a small one (0.003: 4.03; 0.01 and 0.03 threw it onto the
    # mean image within the first epoch), the RBM stack either (0.01 / 0.03: 3.46 / 3.17). Adam for the
    # ReLU net: 1e-4 / 3e-4 / 1e-3 / 3e-3 gave 7.27 / 5.21 / 4.55 / 5.19.
    sgd_lrs: list[float] = field(default_factory=lambda: [0.003, 0.03])
    adam_lrs: list[float] = field(default_factory=lambda: [1e-3, 3e-3])

    def check(self) -> Config:
        bad = [i for i in self.inits if i not in INITS]
        if bad or not self.inits:
            raise ValueError(
                f"inits must be some of {INITS}, got {self.inits}."
            )
        if not self.seeds:
            raise ValueError("seeds must name at least one seed.")
        if len(self.sizes) < 2 or self.sizes[0] != 784:
            raise ValueError(
                f"sizes must be [784, ..., code], got {self.sizes}."
            )
        if not 0 < self.valid_size < self.train_size:
            raise ValueError(
                f"valid_size must be between 0 and train_size={self.train_size}, got {self.valid_size}."
            )
        for name in (
            "test_size",
            "pretrain_epochs",
            "pretrain_batch",
            "finetune_epochs",
            "finetune_batch",
        ):
            if getattr(self, name) < 1:
                raise ValueError(
                    f"{name} must be >= 1, got {getattr(self, name)}."
                )
        if not self.sgd_lrs or not self.adam_lrs:
            raise ValueError("sgd_lrs and adam_lrs need one value each.")
        return self


# --- data and measures ---------------------------------------------------------------------------------


def load_data(config: Config, device) -> dict[str, torch.Tensor]:
    """MNIST as flat (N, 784) tensors on ``device``: {"train", "valid", "test"}.

    The first train_size training images, the last valid_size of them held out as "valid".
    """
    mnist = load_images(
        "mnist",
        train_size=config.train_size,
        test_size=config.test_size,
        device=device,
    )
    x = mnist.train_x.flatten(1)
    n_train = len(x) - config.valid_size
    return {
        "train": x[:n_train],
        "valid": x[n_train:],
        "test": mnist.test_x.flatten(1),
    }


def squared_error(model: nn.Module, x: torch.Tensor) -> float:
    """Σ_j (x̂_j - x_j)² per image, averaged over the images: x (N, 784) -> a float."""
    return evaluate(model, x, loss="mse")


def _losses(model: nn.Module, batch: tuple) -> dict[str, torch.Tensor]:
    """Batch hook for fit: the cross-entropy (trained on) and the squared error (reported), per image."""
    xb = batch[0]
    # a diverged net's NaN outputs would stop the cross-entropy with an error (a device assert on a GPU);
    # fine_tune notices the non-finite weights after the epoch and stops
    out = torch.nan_to_num(model(xb), nan=0.5)
    return {
        "loss": reconstruction_loss(out, xb, "bce"),
        "sq": reconstruction_loss(out.detach(), xb, "mse"),
    }


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# --- the four starts -------------------------------------------------------------------------------------


def _sgd(params_weights, params_biases, lr: float, config: Config):
    return torch.optim.SGD(
        [
            {
                "params": params_weights,
                "weight_decay": config.weight_cost,
            },
            {"params": params_biases},
        ],
        lr=lr,
        momentum=0.5,
    )


def autoencoder_stack(
    x: torch.Tensor, config: Config, progress: bool = False
) -> list[Autoencoder]:
    """The course's greedy stack: one-hidden-layer autoencoders n_in -> n_out -> n_in, layer by layer.

    x: (N, 784) training images in [0, 1]. Autoencoder l is trained on the codes of autoencoder l-1 with the
    RBMs' schedule (SGD on mini-batches of ``pretrain_batch``, momentum 0.5 for 5 epochs then 0.9, weight
    cost on the weights, ``pretrain_epochs`` epochs, ``ae_lr``; ``ae_top_lr`` for the last) on the
    cross-entropy; its code is sigmoid, linear for the last (the 30-unit code layer), its output sigmoid.
    """
    aes, h = [], x
    depth = len(config.sizes) - 1
    for l, (n_in, n_out) in enumerate(
        zip(config.sizes[:-1], config.sizes[1:]), start=1
    ):
        last = l == depth
        ae = Autoencoder(
            [n_in, n_out],
            activation="sigmoid",
            code_activation="linear" if last else "sigmoid",
            output="sigmoid",
        ).to(x.device)
        weights = [
            p for n, p in ae.named_parameters() if n.endswith("weight")
        ]
        biases = [
            p for n, p in ae.named_parameters() if n.endswith("bias")
        ]
        optimizer = _sgd(
            weights,
            biases,
            config.ae_top_lr if last else config.ae_lr,
            config,
        )
        first = min(MOMENTUM_EPOCHS, config.pretrain_epochs)
        for epochs, momentum in (
            (first, 0.5),
            (config.pretrain_epochs - first, 0.9),
        ):
            for group in optimizer.param_groups:
                group["momentum"] = momentum
            fit(
                ae,
                h,
                loss="bce",
                epochs=epochs,
                batch_size=config.pretrain_batch,
                optimizer=optimizer,
                progress=progress,
                desc=f"autoencoder {l}/{depth}",
            )
        ae.eval()
        aes.append(ae)
        if not last:
            with torch.no_grad():
                h = torch.cat([ae.encode(c) for c in h.split(10_000)])
    return aes


def unroll_autoencoders(aes: list[Autoencoder]) -> Autoencoder:
    """The deep autoencoder of a greedy stack: encoder layer l from ae l's encoder, its mirror from ae l's
    decoder. aes: the stack of :func:`autoencoder_stack`; returns an Autoencoder (N, 784) -> (N, 784)."""
    sizes = [aes[0].encoder.sizes[0]] + [ae.code_size for ae in aes]
    code = (
        "linear"
        if not isinstance(aes[-1].encoder.layers[-1], nn.Sigmoid)
        else "sigmoid"
    )
    deep = Autoencoder(
        sizes,
        activation="sigmoid",
        code_activation=code,
        output="sigmoid",
    ).to(aes[0].encoder.layers[0].weight.device)
    encoder = [m for m in deep.encoder.layers if isinstance(m, nn.Linear)]
    decoder = [m for m in deep.decoder.layers if isinstance(m, nn.Linear)]
    with torch.no_grad():
        for ae, enc, dec in zip(aes, encoder, decoder[::-1]):
            enc.load_state_dict(ae.encoder.layers[0].state_dict())
            dec.load_state_dict(ae.decoder.layers[0].state_dict())
    return deep


def starting_net(
    init: str, x: torch.Tensor, config: Config, seed: int
) -> Autoencoder:
    """The autoencoder that fine-tuning starts from, for one init and seed; x: (N, 784) training images."""
    seed_everything(seed)
    if init == "rbm":
        rbms, _ = rbm_stack(
            x,
            config.sizes,
            top="gaussian",
            epochs=config.pretrain_epochs,
            lr=config.rbm_lr,
            top_lr=config.rbm_top_lr,
            batch_size=config.pretrain_batch,
            weight_decay=config.weight_cost,
        )
        return unroll(rbms)
    if init == "ae":
        return unroll_autoencoders(autoencoder_stack(x, config))
    if init in ("none", "modern"):
        return Autoencoder(
            config.sizes,
            activation="sigmoid" if init == "none" else "relu",
            code_activation="linear",
            output="sigmoid",
        ).to(x.device)
    raise ValueError(f"Unknown init {init!r}: expected one of {INITS}.")


# --- fine-tuning, resumable ------------------------------------------------------------------------------


def fine_tune(
    net: Autoencoder,
    data: dict[str, torch.Tensor],
    *,
    optimizer: str,
    lr: float,
    config: Config,
    checkpoint: Path | None = None,
    every: float = 300.0,
) -> dict:
    """Fine-tune ``net`` on the cross-entropy, keeping the epoch with the lowest validation cross-entropy.

    optimizer: "momentum" (SGD, momentum 0.9) or "adam"; lr its learning rate. One epoch at a time through
    :func:`aecourse.training.fit`; with ``checkpoint``, the model, optimizer and curves are saved there every
    ``every`` seconds and a run that finds the file resumes from it. Returns a dict with "valid" (squared
    error per validation image after each epoch), "valid_bce", "train" (mean training cross-entropy per
    epoch), "best_epoch", and "state" (the best weights, also left in ``net``).
    """
    if optimizer == "momentum":
        opt = torch.optim.SGD(net.parameters(), lr=lr, momentum=0.9)
    elif optimizer == "adam":
        opt = torch.optim.Adam(net.parameters(), lr=lr)
    else:
        raise ValueError(
            f"optimizer must be 'momentum' or 'adam', got {optimizer!r}."
        )
    state = {
        "valid": [],
        "valid_bce": [],
        "train": [],
        "best_epoch": 0,
        "best": math.inf,
        "state": copy.deepcopy(net.state_dict()),
    }
    if checkpoint is not None and checkpoint.exists():
        saved = torch.load(
            checkpoint,
            map_location=data["train"].device,
            weights_only=False,
        )
        if saved["config"] == asdict(
            config
        ):  # else another run's: start afresh
            net.load_state_dict(saved["net"])
            opt.load_state_dict(saved["optimizer"])
            state = saved["progress"]

    def save() -> None:
        checkpoint.parent.mkdir(parents=True, exist_ok=True)
        torch.save(
            {
                "net": net.state_dict(),
                "optimizer": opt.state_dict(),
                "progress": state,
                "config": asdict(config),
            },
            checkpoint,
        )

    last_save = time.perf_counter()
    while len(state["train"]) < config.finetune_epochs and not state.get(
        "diverged"
    ):
        history = fit(
            net,
            data["train"],
            batch_loss=_losses,
            epochs=1,
            batch_size=config.finetune_batch,
            optimizer=opt,
            valid=data["valid"],
            progress=False,
        )
        valid_bce = history.valid[-1]
        state["train"].append(history.train[-1])
        state["valid_bce"].append(valid_bce)
        state["valid"].append(history.metrics["valid sq"][-1])
        finite = torch.stack(
            [p.isfinite().all() for p in net.parameters()]
        )
        if not bool(finite.all()) or not math.isfinite(history.train[-1]):
            state["diverged"] = True  # the best epoch so far stands
        elif valid_bce < state["best"]:
            state["best"] = valid_bce
            state["best_epoch"] = len(state["train"])
            state["state"] = copy.deepcopy(net.state_dict())

        if (
            checkpoint is not None
            and time.perf_counter() - last_save > every
        ):
            save()
            last_save = time.perf_counter()
    if checkpoint is not None:
        save()  # finished: a resumed run_one skips it
    net.load_state_dict(state["state"])
    return state


def run_one(
    init: str,
    seed: int,
    data: dict[str, torch.Tensor],
    config: Config,
    checkpoints: Path | None = None,
    log=None,
) -> dict:
    """One row: pretrain (or not) with ``seed``, fine-tune with every learning rate of the init's grid,
    keep the one with the lowest validation cross-entropy, and measure it. data: from :func:`load_data`."""
    dev = data["train"].device
    _sync(dev)
    start = time.perf_counter()
    # the pretrained start is saved too: it is the longest part of a run on a CPU
    start_ckpt = (
        checkpoints / f"{init}-seed{seed}-start.pt"
        if checkpoints is not None
        else None
    )
    net0 = None
    if start_ckpt is not None and start_ckpt.exists():
        saved = torch.load(
            start_ckpt, map_location=dev, weights_only=False
        )
        if saved["config"] == asdict(config):
            net0 = saved["net"]
            pretrain_seconds = saved["seconds"]
    if net0 is None:
        net0 = starting_net(init, data["train"], config, seed)
        _sync(dev)
        pretrain_seconds = time.perf_counter() - start
        if start_ckpt is not None:
            start_ckpt.parent.mkdir(parents=True, exist_ok=True)
            torch.save(
                {
                    "net": net0,
                    "seconds": pretrain_seconds,
                    "config": asdict(config),
                },
                start_ckpt,
            )
    start_error = squared_error(net0, data["test"])
    optimizer = "adam" if init == "modern" else "momentum"
    lrs = config.adam_lrs if init == "modern" else config.sgd_lrs
    tried = []
    for lr in lrs:
        net = copy.deepcopy(net0)
        seed_everything(
            seed
        )  # the same mini-batch order for every init and learning rate
        ckpt = (
            checkpoints / f"{init}-seed{seed}-lr{lr:g}.pt"
            if checkpoints is not None
            else None
        )
        result = fine_tune(
            net,
            data,
            optimizer=optimizer,
            lr=lr,
            config=config,
            checkpoint=ckpt,
        )
        tried.append((result["best"], lr, result, net))
        if log is not None:
            log(
                f"  {init} seed {seed} lr {lr:g}: best epoch {result['best_epoch']}, "
                f"valid {result['valid'][result['best_epoch'] - 1]:.2f} "
                f"({time.perf_counter() - start:.0f} s since start, pretraining "
                f"{pretrain_seconds:.0f} s)"
            )
    best, lr, result, net = min(tried, key=lambda t: t[0])
    _sync(dev)
    row = {
        "init": init,
        "seed": seed,
        "test_error": squared_error(net, data["test"]),
        "valid_error": result["valid"][result["best_epoch"] - 1]
        if result["best_epoch"]
        else squared_error(net, data["valid"]),
        "train_error": squared_error(net, data["train"]),
        "start_test_error": start_error,
        "lr": lr,
        "optimizer": optimizer,
        "best_epoch": result["best_epoch"],
        "epochs": len(result["train"]),
        "valid_curve": result["valid"],
        "train_bce_curve": result["train"],
        "tuning": {f"{t[1]:g}": t[0] for t in tried},
        "pretrain_seconds": pretrain_seconds,
    }
    if checkpoints is not None:  # the row holds what they measured
        for path in checkpoints.glob(f"{init}-seed{seed}-*.pt"):
            path.unlink()
    return row


def baseline_rows(
    data: dict[str, torch.Tensor], config: Config
) -> list[dict]:
    """PCA with as many components as the code, and the mean training image, on the same images."""
    k = config.sizes[-1]
    pca = fit_pca(data["train"].cpu(), k)
    rows = []
    for name, rec in (
        ("pca", lambda x: pca_reconstruct(pca, x.cpu()).to(x.device)),
        ("mean", lambda x: data["train"].mean(0).expand_as(x)),
    ):
        errors = {
            f"{split}_error": evaluate(
                nn.Identity(), rec(data[split]), data[split], loss="mse"
            )
            for split in ("test", "valid", "train")
        }
        rows.append({"init": name, "seed": 0, **errors})
    return rows


# --- the grid ------------------------------------------------------------------------------------------


def units(config: Config, shard: tuple[int, int] = (0, 1)) -> list[tuple]:
    """The runs of the grid, ("pca"/"mean", 0) first, then (init, seed) seed by seed; shard (k, n) keeps
    every n-th run from the k-th on. The expensive runs ("rbm", "ae") are spread over the shards."""
    k, n = shard
    grid = [(b, 0) for b in BASELINES] + [
        (init, seed) for seed in config.seeds for init in config.inits
    ]
    # pretrained inits first, so that n shards each start one of the long runs
    grid.sort(key=lambda u: (u[0] in INITS, u[0] not in ("rbm", "ae")))
    return grid[k::n]


def run_grid(
    config: Config,
    out: str | Path,
    *,
    device=None,
    hours: float | None = None,
    fresh: bool = False,
    shard: tuple[int, int] = (0, 1),
    checkpoints: Path | None = None,
    log=print,
) -> list[dict]:
    """Run every (init, seed) of the grid (this shard's part) not yet in ``out``; returns the file's rows."""
    config.check()
    dev = torch.device(device) if device is not None else best_device()
    f = ResultsFile(
        out,
        experiment=EXPERIMENT,
        config=asdict(config),
        key=("init", "seed"),
        device=dev,
        fresh=fresh,
    )
    todo = units(config, shard)
    started = time.perf_counter()
    data = None
    for init, seed in todo:
        if f.done(init=init, seed=seed):
            continue
        if (
            hours is not None
            and time.perf_counter() - started > hours * 3600
        ):
            log(
                f"time budget of {hours} h used: stopping; run the same command to resume"
            )
            break
        if data is None:
            data = load_data(config, dev)
        t0 = time.perf_counter()
        if init in BASELINES:
            row = next(
                r
                for r in baseline_rows(data, config)
                if r["init"] == init
            )
        else:
            row = run_one(init, seed, data, config, checkpoints, log)
        _sync(dev)
        seconds = time.perf_counter() - t0
        f.add({**row, "seconds": seconds}, seconds=seconds)
        log(
            f"{init:6s} seed {seed}: test {row['test_error']:.2f} "
            f"({seconds:.0f} s)"
        )
    # a shard is complete when its own part is: merge_results calls the merged file complete when all are
    f.write(complete=all(f.done(init=i, seed=s) for i, s in todo))
    return f.rows


# --- reading a results file ------------------------------------------------------------------------------


def summarise(rows: list[dict]) -> list[dict]:
    """Mean and standard error over seeds of each init's test, valid and train error, and its epochs.

    rows: of a results file. Returns one dict per init present, in the order baselines, INITS, with
    "init", "n" (seeds), "<split>_error" and "<split>_se" (standard error; 0 for a single seed),
    "best_epoch" (mean) and "epochs" (the most any seed ran).
    """
    table = []
    for init in BASELINES + INITS:
        rs = [r for r in rows if r["init"] == init]
        if not rs:
            continue
        entry = {"init": init, "n": len(rs)}
        for split in ("test", "valid", "train"):
            v = torch.tensor(
                [r[f"{split}_error"] for r in rs], dtype=torch.float64
            )
            entry[f"{split}_error"] = v.mean().item()
            entry[f"{split}_se"] = (
                (v.std() / math.sqrt(len(v))).item()
                if len(v) > 1
                else 0.0
            )
        if "best_epoch" in rs[0]:
            entry["best_epoch"] = sum(r["best_epoch"] for r in rs) / len(
                rs
            )
            entry["epochs"] = max(r["epochs"] for r in rs)
        table.append(entry)
    return table


LABELS = {
    "mean": "mean training image",
    "pca": "PCA, 30 components",
    "none": "sigmoid AE, random init",
    "ae": "sigmoid AE, autoencoder stack",
    "rbm": "sigmoid AE, RBM stack",
    "modern": "ReLU AE + Adam, random init",
}


def format_summary(table: list[dict]) -> str:
    """The summary as a text table: squared error per image, mean ± s.e. over seeds, and the paper's."""
    paper = {"pca": PAPER["PCA"], "rbm": PAPER["autoencoder"]}
    lines = [
        f"{'':31s} {'test':>14s} {'train':>7s} {'seeds':>5s} {'epoch':>5s} {'paper':>6s}"
    ]
    for e in table:
        test = f"{e['test_error']:.2f} ± {e['test_se']:.2f}"
        epoch = f"{e['best_epoch']:.0f}" if "best_epoch" in e else "-"
        ref = f"{paper[e['init']]:.2f}" if e["init"] in paper else "-"
        lines.append(
            f"{LABELS[e['init']]:31s} {test:>14s} {e['train_error']:7.2f} "
            f"{e['n']:5d} {epoch:>5s} {ref:>6s}"
        )
    return "\n".join(lines)


def curves(rows: list[dict]) -> dict[str, torch.Tensor]:
    """Each trained init's validation squared error per epoch, mean over seeds: {init: (epochs,)}.

    Seeds that stopped early (divergence) are cut to the shortest curve.
    """
    out = {}
    for init in INITS:
        cs = [r["valid_curve"] for r in rows if r["init"] == init]
        if cs:
            n = min(len(c) for c in cs)
            out[init] = torch.tensor([c[:n] for c in cs]).mean(0)
    return out


# --- command line ------------------------------------------------------------------------------------


def parse_args(argv=None) -> tuple[Config, argparse.Namespace]:
    d = Config()
    p = argparse.ArgumentParser(
        prog=f"python -m {EXPERIMENT}",
        description=__doc__.split("\n\n")[0].replace("\n", " "),
    )
    p.add_argument(
        "--out",
        default=str(RESULTS / "deep_autoencoder.json"),
        help="results file to write (resumed if it exists)",
    )
    p.add_argument(
        "--device",
        default=None,
        help="cpu, cuda, ... (default: the best one here)",
    )
    p.add_argument("--seeds", nargs="+", type=int, default=d.seeds)
    p.add_argument("--inits", nargs="+", default=d.inits, choices=INITS)
    p.add_argument(
        "--hours",
        type=float,
        default=None,
        help="stop cleanly between runs after this much wall time",
    )
    p.add_argument(
        "--fresh", action="store_true", help="start the file afresh"
    )
    p.add_argument(
        "--shard",
        default="0/1",
        help="K/N: run every N-th unit of the grid from the K-th",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="CPU threads for PyTorch",
    )
    p.add_argument(
        "--sizes",
        nargs="+",
        type=int,
        default=d.sizes,
        help="the encoder's layer sizes, input first",
    )
    p.add_argument("--train-size", type=int, default=d.train_size)
    p.add_argument("--valid-size", type=int, default=d.valid_size)
    p.add_argument("--test-size", type=int, default=d.test_size)
    p.add_argument(
        "--pretrain-epochs", type=int, default=d.pretrain_epochs
    )
    p.add_argument(
        "--finetune-epochs", type=int, default=d.finetune_epochs
    )
    p.add_argument("--finetune-batch", type=int, default=d.finetune_batch)
    p.add_argument("--sgd-lrs", nargs="+", type=float, default=d.sgd_lrs)
    p.add_argument(
        "--adam-lrs", nargs="+", type=float, default=d.adam_lrs
    )
    p.add_argument(
        "--checkpoints",
        default="data/checkpoints/deep_autoencoder",
        help="folder for fine-tuning checkpoints ('' for none)",
    )
    args = p.parse_args(argv)
    config = Config(
        inits=args.inits,
        seeds=args.seeds,
        sizes=args.sizes,
        train_size=args.train_size,
        valid_size=args.valid_size,
        test_size=args.test_size,
        pretrain_epochs=args.pretrain_epochs,
        finetune_epochs=args.finetune_epochs,
        finetune_batch=args.finetune_batch,
        sgd_lrs=args.sgd_lrs,
        adam_lrs=args.adam_lrs,
    )
    return config, args


def _shard(text: str) -> tuple[int, int]:
    try:
        k, n = (int(s) for s in text.split("/"))
    except ValueError:
        raise ValueError(
            f"--shard must be K/N, e.g. 0/3, got {text!r}."
        ) from None
    if not 0 <= k < n:
        raise ValueError(f"--shard K/N needs 0 <= K < N, got {text!r}.")
    return k, n


def main(argv=None) -> list[dict]:
    config, args = parse_args(argv)
    try:
        config.check()
        shard = _shard(args.shard)
    except ValueError as err:
        sys.exit(f"error: {err}")
    if args.threads is not None:
        torch.set_num_threads(max(1, args.threads))
    if torch.cuda.is_available():
        # full float32 matmuls: the squared errors are compared to two decimals
        torch.backends.cuda.matmul.allow_tf32 = False
    rows = run_grid(
        config,
        args.out,
        device=args.device,
        hours=args.hours,
        fresh=args.fresh,
        shard=shard,
        checkpoints=Path(args.checkpoints)
        / f"shard{shard[0]}of{shard[1]}"
        if args.checkpoints
        else None,
        log=lambda line: print(line, flush=True),
    )
    print(format_summary(summarise(rows)))
    print(f"{len(rows)} rows in {args.out}")
    return rows


if __name__ == "__main__":
    main()
