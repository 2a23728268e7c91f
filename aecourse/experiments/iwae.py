"""Burda et al.'s one-stochastic-layer VAE on MNIST, trained on their schedule: the test bound against passes.

The VAE chapter quotes Burda, Grosse & Salakhutdinov (2016), "Importance weighted autoencoders" (ICLR):
a VAE with one stochastic layer, trained with the ordinary (k = 1) ELBO, reaches a test log-likelihood
of −86.76 nats, estimated with the k = 5000 importance-weighted bound on all 10 000 MNIST test images,
after 3 280 passes over the training data. This script trains that model with their protocol and writes
the test bound at the end of every stage of the schedule (and twice inside the longer stages), so the
chapter can show how far a run got and how the bound was still moving, without extrapolating::

    python -m aecourse.experiments.iwae --out iwae.json --device cuda --seeds 0 1 2 --hours 0.1

Their protocol, as in their published code (github.com/yburda/iwae, ``experiments.py``, ``iwae.py``,
``datasets.py``) and the paper:

- data: MNIST grey levels, the first 59 600 training images for training (the last 400 held out), each
  mini-batch binarized afresh (pixel ~ Bernoulli(grey level)); the 10 000 test images, binarized once;
- model: encoder 784 → 200 → 200 (tanh) → μ and log σ of 50 Gaussian units (two linear heads); decoder
  50 → 200 → 200 (tanh) → 784 Bernoulli logits, the output bias set to the logit of the mean training
  image; weights uniform in ±√(6/(fan-in + fan-out)) (Glorot & Bengio 2010), biases 0;
- objective: the sampled log weight log p(x|z) + log p(z) − log q(z|x) with one z per image (the k = 1
  bound, its KL estimated by the sample, as their code does), summed over the mini-batch;
- optimiser: Adam with β1 = 0.9, β2 = 0.999, ε = 10⁻⁴ (the paper's values) on mini-batches of 20; stage
  i = 0..7 runs 3^i passes at learning rate 0.001·10^(−i/7): 1 + 3 + ... + 2187 = 3 280 passes;
- evaluation: the mean over the test images of L_k = log (1/k) Σ_i w_i with k = 5000.

What we do differently, and say on the page: the mini-batches are drawn in a fresh random order every
pass (their code walks the training set in a fixed order); their code's Adam differs from the paper's
text (β1 = 0.99 and the second-moment estimate started at 1): we follow the text, with torch's Adam;
several seeds train side by side in one process (their weights stacked, so each step is a batched
matrix product), each with its own initial weights, all drawing mini-batches, binarizations and noise
from one random stream; and a run stops when its time budget (``--hours``) is spent and resumes from
its checkpoint with the same command, so the file may end before 3 280 passes: its rows say how far it got.

Speed: on a GPU the training steps of a stretch of mini-batches are recorded once as a CUDA graph and
replayed (a mini-batch of 20 is far too small to keep a GPU busy; launching its hundred small kernels one
by one from Python would take longer than running them). Nothing is tuned, so there is no validation
split to tune on: every setting is the paper's.
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

import torch
import torch.nn.functional as F
from torch import nn

from aecourse.data.images import load_images
from aecourse.experiments.stamp import ResultsFile
from aecourse.settings import device as best_device

EXPERIMENT = "aecourse.experiments.iwae"

# What the chapter prints beside our curve: typed from the sources, never measured here.
PAPER = {
    "source": "Burda, Grosse & Salakhutdinov (2016), Importance weighted autoencoders, ICLR, Table 1",
    # MNIST, one stochastic layer, VAE trained with k = 1: the test NLL in nats, −L_5000 averaged over
    # the 10 000 test images (the same entry as IWAE with k = 1, which is the same objective), and the
    # number of active units of its 50 (Cov_x(E_q[z]) > 10⁻², their activity criterion). The two
    # numbers are the entry as the course's notes quote it; the table itself could not be opened from
    # here, while the protocol below was read in their published code, which their README says made the
    # paper's second-version numbers.
    "nll": 86.76,
    "active_units": 19,
    "k": 5000,
    "test_images": 10_000,
    "passes": 3280,
    "train_images": 59_600,
    "batch_size": 20,
    "architecture": "784-200-200-50 tanh encoder, 50-200-200-784 tanh decoder, Bernoulli pixels",
    "binarization": "dynamic (a fresh Bernoulli draw of the grey levels every time), per their code",
}

# Their activity criterion: a code unit is active if its posterior mean varies over the data by more
# than this (the variance over images of E_q[z_j | x]).
ACTIVE = 1e-2

LOG_2PI = math.log(2 * math.pi)


@dataclass
class Config:
    """The run's sizes; the defaults are Burda et al.'s (see the module docstring)."""

    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    train_size: int = 59_600
    test_size: int = 10_000
    hidden: int = 200
    latent: int = 50
    batch_size: int = 20
    stages: int = 8  # stage i runs 3**i passes: 8 stages are 3 280 passes
    lr: float = 1e-3  # at stage 0; stage i: lr · 10**(−i/7)
    eval_k: int = 5000
    eval_chunk: int = (
        400_000  # samples (seeds × images × k) decoded at once
    )

    def check(self) -> None:
        """Raise ValueError for a size that cannot run."""
        for name in (
            "train_size",
            "test_size",
            "hidden",
            "latent",
            "batch_size",
            "stages",
            "eval_k",
            "eval_chunk",
        ):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(
                    f"{name} must be a positive integer, got {value!r}."
                )
        if self.train_size < self.batch_size:
            raise ValueError(
                f"train_size ({self.train_size}) must hold at least one mini-batch of {self.batch_size}."
            )
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise ValueError(
                f"seeds must be distinct and at least one, got {self.seeds}."
            )
        if not self.lr > 0:
            raise ValueError(f"lr must be positive, got {self.lr}.")


def schedule(stages: int, lr: float = 1e-3) -> list[tuple[int, float]]:
    """(passes, learning rate) of each stage i = 0..stages−1: (3**i, lr · 10**(−i/7))."""
    if stages < 1:
        raise ValueError(f"stages must be at least 1, got {stages}.")
    return [(3**i, lr * 10 ** (-i / 7)) for i in range(stages)]


def eval_points(stages: int) -> list[int]:
    """The pass counts after which the test bound is measured: the end of every stage (1, 4, 13, 40, 121,
    364, 1093, 3280) and, in the stages of 81 passes or more, after their first and second thirds."""
    points, done = [], 0
    for passes, _ in schedule(stages):
        if passes >= 81:
            points += [done + passes // 3, done + 2 * passes // 3]
        done += passes
        points.append(done)
    return points


def log_mean_exp(log_w: torch.Tensor, dim: int) -> torch.Tensor:
    """log (1/k) Σ_i exp(log_w_i) along ``dim`` (of size k), without overflow: the IWAE bound from log weights.

    The same estimator as :func:`aecourse.models.vae.iwae_bound` (the tests check they agree).
    """
    return torch.logsumexp(log_w, dim) - math.log(log_w.shape[dim])


class StackedVAE(nn.Module):
    """S independent VAEs of Burda et al.'s one-stochastic-layer architecture, their weights stacked.

    Every weight is (S, fan-in, fan-out) and every bias (S, 1, fan-out), so one batched matrix product
    runs all S networks. seeds: one per network, fixing its initial weights. sizes: (784, 200, 50).
    output_bias: (784,), the decoder's initial output bias (the logit of the mean training image).
    """

    def __init__(
        self,
        seeds: list[int],
        input_size: int = 784,
        hidden: int = 200,
        latent: int = 50,
        output_bias: torch.Tensor | None = None,
    ):
        super().__init__()
        self.n, self.latent = len(seeds), latent
        shapes = {
            "enc1": (input_size, hidden),
            "enc2": (hidden, hidden),
            "mu": (hidden, latent),
            "log_sigma": (hidden, latent),
            "dec1": (latent, hidden),
            "dec2": (hidden, hidden),
            "out": (hidden, input_size),
        }
        weights = {name: [] for name in shapes}
        for seed in seeds:
            g = torch.Generator().manual_seed(seed)
            for name, (fan_in, fan_out) in shapes.items():
                scale = math.sqrt(6 / (fan_in + fan_out))
                weights[name].append(
                    (torch.rand(fan_in, fan_out, generator=g) * 2 - 1)
                    * scale
                )
        self.w = nn.ParameterDict(
            {k: nn.Parameter(torch.stack(v)) for k, v in weights.items()}
        )
        self.b = nn.ParameterDict(
            {
                k: nn.Parameter(torch.zeros(self.n, 1, fan_out))
                for k, (_, fan_out) in shapes.items()
            }
        )
        if output_bias is not None:
            with torch.no_grad():
                self.b["out"].copy_(
                    output_bias.reshape(1, 1, -1).expand_as(self.b["out"])
                )

    def _layer(self, name: str, h: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(self.b[name], h, self.w[name])

    def encode(
        self, x: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """x (S, N, 784) binary  ->  μ, log σ of q(z|x), each (S, N, latent)."""
        h = torch.tanh(self._layer("enc1", x))
        h = torch.tanh(self._layer("enc2", h))
        return self._layer("mu", h), self._layer("log_sigma", h)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """z (S, M, latent)  ->  logits (S, M, 784) of p(x|z)."""
        h = torch.tanh(self._layer("dec1", z))
        h = torch.tanh(self._layer("dec2", h))
        return self._layer("out", h)

    def log_weights(
        self,
        x: torch.Tensor,
        k: int,
        eps: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """log w = log p(x|z) + log p(z) − log q(z|x) for k draws z ~ q(z|x) of each image.

        x: (S, N, 784) binary  ->  (S, k, N). eps: (S, k, N, latent), the standard normal noise of
        z = μ + σ ⊙ ε (drawn here when None, from ``generator``).
        """
        mu, log_sigma = self.encode(x)
        s, n, d = x.shape
        if eps is None:
            eps = torch.randn(
                s,
                k,
                n,
                self.latent,
                device=x.device,
                dtype=x.dtype,
                generator=generator,
            )
        z = mu[:, None] + log_sigma.exp()[:, None] * eps
        logits = self.decode(z.reshape(s, k * n, self.latent)).reshape(
            s, k, n, d
        )
        # Bernoulli log-likelihood from logits: Σ_j x_j l_j − softplus(l_j)
        log_px_z = (logits * x[:, None]).sum(-1) - F.softplus(logits).sum(
            -1
        )
        log_pz = -0.5 * (z.pow(2) + LOG_2PI).sum(-1)
        # (z − μ)/σ is ε itself
        log_qz_x = (
            -0.5 * (eps.pow(2) + LOG_2PI).sum(-1)
            - log_sigma.sum(-1)[:, None]
        )
        return log_px_z + log_pz - log_qz_x


@torch.no_grad()
def evaluate(
    model: StackedVAE,
    x: torch.Tensor,
    k: int,
    chunk: int,
    generator: torch.Generator | None = None,
) -> dict[str, torch.Tensor]:
    """The test bounds of each network, averaged over the images x (N, 784) binary.

    Returns (S,) tensors: "bound", the mean of L_k = log (1/k) Σ_i w_i; "elbo", the mean of the k log
    weights themselves (an estimate of the ELBO, L_1); and "active", the number of active code units
    (variance over the images of μ above :data:`ACTIVE`). chunk: samples decoded at once, S·k·images;
    past it one image's k samples are split.
    """
    model.eval()
    s = model.n
    bound = torch.zeros(s, device=x.device, dtype=torch.float64)
    elbo = torch.zeros_like(bound)
    per_image = max(1, chunk // (s * k))
    k_part = min(k, max(1, chunk // s))
    for start in range(0, len(x), per_image):
        xb = x[start : start + per_image].expand(s, -1, -1)
        log_w = torch.cat(
            [
                model.log_weights(
                    xb, min(k_part, k - j), generator=generator
                )
                for j in range(0, k, k_part)
            ],
            1,
        )  # (S, k, n)
        bound += log_mean_exp(log_w, 1).double().sum(1)
        elbo += log_w.double().mean(1).sum(1)
    mu = torch.cat(
        [model.encode(xb.expand(s, -1, -1))[0] for xb in x.split(4096)], 1
    )
    active = (mu.double().var(1, unbiased=False) > ACTIVE).sum(1)
    model.train()
    return {
        "bound": bound / len(x),
        "elbo": elbo / len(x),
        "active": active,
    }


class Trainer:
    """Adam on the k = 1 bound, one mini-batch per step, for S stacked networks at once.

    x_train: (N, 784) grey levels on the device. ``run_pass()`` trains one pass over the first
    (N // batch) · batch images in a fresh random order (a different one per network), binarizing every
    mini-batch afresh; ``train_elbo`` then holds each network's mean log weight over that pass, (S,).
    On CUDA (and unless graphs=False) the steps of a stretch of mini-batches are captured once in a CUDA
    graph and replayed; on a CPU they run one by one. Both run the same :meth:`_steps`.
    """

    def __init__(
        self,
        model: StackedVAE,
        x_train: torch.Tensor,
        batch_size: int,
        lr: float,
        graphs: bool = True,
    ):
        self.model, self.x, self.b = model, x_train, batch_size
        self.steps = len(x_train) // batch_size
        # the stretch of steps one graph replays: the largest divisor of a pass up to 150
        self.chunk = max(d for d in range(1, 151) if self.steps % d == 0)
        dev = x_train.device
        self.opt = torch.optim.Adam(
            model.parameters(),
            lr=torch.tensor(lr, device=dev),
            betas=(0.9, 0.999),
            eps=1e-4,
            fused=True,
            capturable=dev.type == "cuda",
        )
        self.elbo_sum = torch.zeros(model.n, device=dev)
        self.graphs = graphs and dev.type == "cuda"
        self._graph = None
        self._idx = torch.zeros(
            self.chunk, model.n, batch_size, dtype=torch.long, device=dev
        )

    def set_lr(self, lr: float) -> None:
        self.opt.param_groups[0]["lr"].fill_(lr)

    def _steps(self, idx: torch.Tensor) -> None:
        """One optimiser step per row of idx (C, S, B): indices of the training images of each network."""
        for j in range(len(idx)):
            x = self.x[idx[j]]  # (S, B, 784)
            x = (torch.rand_like(x) < x).to(
                x.dtype
            )  # dynamic binarization
            log_w = self.model.log_weights(x, 1)  # (S, 1, B)
            self.opt.zero_grad(set_to_none=False)
            # their code ascends the sum over the mini-batch
            (-log_w.sum()).backward()
            self.opt.step()
            self.elbo_sum += log_w.detach().sum((1, 2))

    def _capture(self) -> None:
        """Record :meth:`_steps` on the static index buffer; the warm-up's changes are undone first."""
        params = [p.detach().clone() for p in self.model.parameters()]
        fresh = not self.opt.state
        saved = {
            id(p): {k: v.clone() for k, v in st.items()}
            for p, st in self.opt.state.items()
        }
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            self._steps(self._idx[:3])
        torch.cuda.current_stream().wait_stream(side)
        with torch.no_grad():
            for p, v in zip(self.model.parameters(), params):
                p.copy_(v)
            for p, st in self.opt.state.items():
                for k, v in st.items():
                    v.copy_(
                        torch.zeros_like(v) if fresh else saved[id(p)][k]
                    )
        self._graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self._graph):
            self._steps(self._idx)

    def run_pass(self) -> None:
        s, n = self.model.n, self.steps * self.b
        order = torch.argsort(
            torch.rand(s, len(self.x), device=self.x.device), dim=1
        )[:, :n]
        chunks = order.reshape(s, -1, self.chunk, self.b).permute(
            1, 2, 0, 3
        )
        self.elbo_sum.zero_()
        if self.graphs and self._graph is None:
            self._capture()
            self.elbo_sum.zero_()
        for c in chunks:  # (C, S, B)
            if self._graph is not None:
                self._idx.copy_(c)
                self._graph.replay()
            else:
                self._steps(c)

    @property
    def train_elbo(self) -> torch.Tensor:
        return self.elbo_sum / (self.steps * self.b)

    def state(self) -> dict:
        return {
            "model": self.model.state_dict(),
            "opt": self.opt.state_dict(),
        }

    def load(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.opt.load_state_dict(state["opt"])


def _rng_state(dev: torch.device) -> dict:
    state = {"cpu": torch.get_rng_state()}
    if dev.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(dev)
    return state


def _set_rng_state(state: dict, dev: torch.device) -> None:
    torch.set_rng_state(state["cpu"])
    if dev.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], dev)


def checkpoint_path(folder: Path, config: Config, code: str) -> Path:
    """The checkpoint of this config and code: data/checkpoints/iwae-<digest>.pt (git ignores data/)."""
    digest = hashlib.sha256(
        (json.dumps(asdict(config), sort_keys=True) + code).encode()
    ).hexdigest()[:12]
    return Path(folder) / f"iwae-{digest}.pt"


def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def run(
    config: Config,
    out: str | Path,
    device: str | None = None,
    hours: float | None = None,
    fresh: bool = False,
    checkpoints: str | Path = "data/checkpoints",
    checkpoint_minutes: float = 3.0,
    stop_after: int | None = None,
    graphs: bool = True,
    log=print,
) -> ResultsFile:
    """Train (or resume) the stacked networks on the schedule, writing a row per seed at every
    evaluation point; stop after ``hours`` of wall time (or ``stop_after`` passes) at a pass boundary,
    measuring the bound where it stopped. Returns the results file."""
    config.check()
    started = time.perf_counter()
    dev = torch.device(device) if device else best_device()
    f = ResultsFile(
        out,
        experiment=EXPERIMENT,
        config=asdict(config),
        key=("seed", "passes"),
        device=dev,
        fresh=fresh,
    )
    plan = schedule(config.stages, config.lr)
    total = sum(p for p, _ in plan)
    points = eval_points(config.stages)
    path = checkpoint_path(checkpoints, config, f.stamp["code_hash"])
    if all(f.done(seed=s, passes=total) for s in config.seeds):
        log(f"{out}: all {total} passes done already")
        f.write(complete=True)
        return f

    data = load_images(
        "mnist",
        train_size=config.train_size,
        test_size=config.test_size,
        device=dev,
    )
    x_train = data.train_x.flatten(1)
    g = torch.Generator().manual_seed(0)  # the test set, binarized once
    x_test = (
        (torch.rand(data.test_x.shape, generator=g) < data.test_x.cpu())
        .float()
        .flatten(1)
        .to(dev)
    )
    mean = x_train.mean(0).clamp(0.001, 0.999)
    torch.manual_seed(config.seeds[0])
    model = StackedVAE(
        config.seeds,
        x_train.shape[1],
        config.hidden,
        config.latent,
        output_bias=torch.log(mean / (1 - mean)),
    ).to(dev)
    trainer = Trainer(
        model, x_train, config.batch_size, config.lr, graphs=graphs
    )
    done, seconds = 0, 0.0
    if path.exists() and not fresh:
        state = torch.load(path, map_location=dev, weights_only=False)
        trainer.load(state["trainer"])
        _set_rng_state(state["rng"], dev)
        done, seconds = state["passes"], state["seconds"]
        log(f"resumed from {path} after {done} passes")

    def save() -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        torch.save(
            {
                "trainer": trainer.state(),
                "rng": _rng_state(dev),
                "passes": done,
                "seconds": seconds,
            },
            tmp,
        )
        tmp.replace(path)

    def measure(stage: int, lr: float) -> float:
        """Evaluate, add one row per seed; returns the seconds it took."""
        t0 = time.perf_counter()
        gen = torch.Generator(device=dev).manual_seed(10_000 + done)
        result = evaluate(
            model, x_test, config.eval_k, config.eval_chunk, gen
        )
        train_elbo = trainer.train_elbo.tolist()
        bound, elbo = result["bound"].tolist(), result["elbo"].tolist()
        active = result["active"].tolist()
        took = time.perf_counter() - t0
        for i, seed in enumerate(config.seeds):
            if f.done(seed=seed, passes=done):
                continue
            f.add(
                {
                    "seed": seed,
                    "passes": done,
                    "stage": stage,
                    "lr": lr,
                    "test_nll": -bound[i],
                    "test_neg_elbo": -elbo[i],
                    "train_neg_elbo": -train_elbo[i],
                    "active_units": active[i],
                    "train_seconds": seconds,
                    "eval_seconds": took,
                },
                seconds=(took + unreported[0]) / len(config.seeds),
            )
        unreported[0] = 0.0
        log(
            f"passes {done:5d}: test −L_{config.eval_k} "
            + ", ".join(f"{-b:.2f}" for b in bound)
            + f" nats ({took:.1f} s to measure; {seconds:.0f} s of training)"
        )
        return took

    unreported = [0.0]  # training seconds not yet in a row
    budget = None if hours is None else hours * 3600
    last_pass, last_eval = 0.0, 0.0
    stopped = False
    session_passes = 0
    start = 0
    last_save = time.perf_counter()
    for stage, (passes, lr) in enumerate(plan):
        end = start + passes
        if end <= done:
            start = end
            continue
        trainer.set_lr(lr)
        while done < end:
            elapsed = time.perf_counter() - started
            over_time = (
                budget is not None
                and elapsed + last_pass + last_eval > budget
            )
            if over_time or (
                stop_after is not None and done >= stop_after
            ):
                stopped = True
                break
            t0 = time.perf_counter()
            trainer.run_pass()
            _sync(dev)
            last_pass = time.perf_counter() - t0
            seconds += last_pass
            unreported[0] += last_pass
            done += 1
            session_passes += 1
            if done in points:
                last_eval = max(last_eval, measure(stage, lr))
            if time.perf_counter() - last_save > 60 * checkpoint_minutes:
                save()
                last_save = time.perf_counter()
        if stopped:
            break
        start = end
    save()
    if stopped and session_passes and done not in points:
        measure(stage, lr)  # where this session stopped
    complete = all(f.done(seed=s, passes=total) for s in config.seeds)
    f.write(complete=complete)
    log(
        f"{'complete' if complete else 'stopped'} after {done} of {total} passes "
        f"({seconds:.0f} s of training in all); wrote {out}"
    )
    return f


# --- reading a results file -----------------------------------------------------------------------


def summarise(rows: list[dict]) -> list[dict]:
    """Mean and standard error over seeds at each pass count measured for every seed.

    rows: a results file's rows  ->  one dict per pass count, in order: passes, seeds (how many),
    nll / nll_se (−L_k), neg_elbo / neg_elbo_se (test −ELBO), train_neg_elbo (mean over the last pass's
    mini-batches), active (mean number of active units) and hours (training wall time to get there, mean
    over the seeds' rows). The standard error is the sample standard deviation over seeds / √seeds
    (nan for one seed). Pass counts some seed lacks are left out.
    """
    seeds = {r["seed"] for r in rows}
    by_passes: dict[int, list[dict]] = {}
    for r in rows:
        by_passes.setdefault(r["passes"], []).append(r)

    def mean_se(values: list[float]) -> tuple[float, float]:
        n = len(values)
        mean = sum(values) / n
        if n < 2:
            return mean, math.nan
        var = sum((v - mean) ** 2 for v in values) / (n - 1)
        return mean, math.sqrt(var / n)

    out = []
    for passes in sorted(by_passes):
        group = by_passes[passes]
        if {r["seed"] for r in group} != seeds:
            continue
        nll, nll_se = mean_se([r["test_nll"] for r in group])
        elbo, elbo_se = mean_se([r["test_neg_elbo"] for r in group])
        out.append(
            {
                "passes": passes,
                "seeds": len(group),
                "nll": nll,
                "nll_se": nll_se,
                "neg_elbo": elbo,
                "neg_elbo_se": elbo_se,
                "train_neg_elbo": mean_se(
                    [r["train_neg_elbo"] for r in group]
                )[0],
                "active": mean_se([r["active_units"] for r in group])[0],
                "hours": mean_se([r["train_seconds"] for r in group])[0]
                / 3600,
            }
        )
    return out


def format_summary(summary: list[dict], k: int) -> str:
    """The summary as a text table, one line per pass count (nats per test image, mean ± s.e. over seeds)."""
    lines = [
        f"{'passes':>6}  {'−L_' + str(k) + ' (test)':>16}  {'−ELBO (test)':>16}  "
        f"{'−ELBO (train)':>13}  {'active units':>12}"
    ]
    for r in summary:
        lines.append(
            f"{r['passes']:>6}  {r['nll']:>8.2f} ± {r['nll_se']:<5.2f}  "
            f"{r['neg_elbo']:>8.2f} ± {r['neg_elbo_se']:<5.2f}  "
            f"{r['train_neg_elbo']:>13.2f}  {r['active']:>12.1f}"
        )
    return "\n".join(lines)


def plot_summary(summary: list[dict], k: int, stages: int):
    """The test −L_k and −ELBO against passes (log scale), mean ± s.e. over seeds, with the paper's
    86.76 nats at 3 280 passes and the learning-rate stages marked. Returns the figure."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    passes = [r["passes"] for r in summary]
    for key, label, style in (
        ("neg_elbo", "our −ELBO (test)", "s--"),
        ("nll", f"our −L_{k} (test)", "o-"),
    ):
        mean = [r[key] for r in summary]
        se = [
            0.0 if math.isnan(r[key + "_se"]) else r[key + "_se"]
            for r in summary
        ]
        ax.errorbar(
            passes, mean, yerr=se, fmt=style, ms=4, capsize=2, label=label
        )
    ax.plot(
        [PAPER["passes"]],
        [PAPER["nll"]],
        "k*",
        ms=12,
        label=f"Burda et al. (2016): {PAPER['nll']} (−L_{PAPER['k']})",
    )
    done = 0
    for stage_passes, _ in schedule(stages):
        done += stage_passes
        ax.axvline(done, color="grey", linewidth=0.5, linestyle=":")
    ax.set_xscale("log")
    ax.set(
        xlabel="passes over the 59 600 training images (log scale; dotted: ends of the stages)",
        ylabel="nats per test image",
        title="Burda et al.'s one-layer VAE on their schedule: test bound against training",
    )
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def parse_args(argv=None) -> tuple[Config, argparse.Namespace]:
    d = Config()
    p = argparse.ArgumentParser(
        prog=f"python -m {EXPERIMENT}",
        description=__doc__.split("\n")[0],
    )
    p.add_argument("--out", required=True, help="the results file (JSON)")
    p.add_argument("--device", default=None, help="cpu, cuda, ...")
    p.add_argument("--seeds", nargs="+", type=int, default=d.seeds)
    p.add_argument(
        "--hours",
        type=float,
        default=None,
        help="stop (at a pass boundary, after measuring) before this much wall time; "
        "the same command resumes",
    )
    p.add_argument(
        "--stop-after",
        type=int,
        default=None,
        help="stop this session after this many passes in all",
    )
    p.add_argument(
        "--fresh",
        action="store_true",
        help="ignore an existing file and checkpoint",
    )
    p.add_argument("--train-size", type=int, default=d.train_size)
    p.add_argument("--test-size", type=int, default=d.test_size)
    p.add_argument("--hidden", type=int, default=d.hidden)
    p.add_argument("--latent", type=int, default=d.latent)
    p.add_argument("--stages", type=int, default=d.stages)
    p.add_argument("--eval-k", type=int, default=d.eval_k)
    p.add_argument("--eval-chunk", type=int, default=d.eval_chunk)
    p.add_argument(
        "--checkpoints",
        default="data/checkpoints",
        help="folder of the checkpoint",
    )
    p.add_argument(
        "--checkpoint-minutes",
        type=float,
        default=3.0,
        help="save a checkpoint this often",
    )
    p.add_argument(
        "--no-graphs",
        action="store_true",
        help="run the steps one by one on CUDA too",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="CPU threads for PyTorch",
    )
    args = p.parse_args(argv)
    config = Config(
        seeds=args.seeds,
        train_size=args.train_size,
        test_size=args.test_size,
        hidden=args.hidden,
        latent=args.latent,
        stages=args.stages,
        eval_k=args.eval_k,
        eval_chunk=args.eval_chunk,
    )
    return config, args


def main(argv=None) -> list[dict]:
    config, args = parse_args(argv)
    try:
        config.check()
    except ValueError as err:
        sys.exit(f"error: {err}")
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    f = run(
        config,
        args.out,
        device=args.device,
        hours=args.hours,
        fresh=args.fresh,
        checkpoints=args.checkpoints,
        checkpoint_minutes=args.checkpoint_minutes,
        stop_after=args.stop_after,
        graphs=not args.no_graphs,
        log=lambda line: print(line, flush=True),
    )
    return f.rows


if __name__ == "__main__":
    main()
