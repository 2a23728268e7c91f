"""The course's one training loop: ``fit`` a model on tensors, with a progress bar and a history.

Written to be read: one loop over epochs, one over mini-batches, forward, loss, backward, step. Every
model of the course trains through it. By default it trains autoencoders (the target is the input) and,
given targets, any supervised model; a ``batch_loss`` hook turns a batch into a loss for everything
else (the ELBO of a VAE, teacher forcing with a masked loss, a probe), and may name further metrics.
It runs on whatever device the model and the data are on: the data stay there as tensors and are
batched by indexing, which on a GPU is far faster than a per-sample ``DataLoader``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn
from tqdm.auto import tqdm

from aecourse.ops.losses import KINDS, reconstruction_loss

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
# batch_loss(model, batch) -> a scalar loss, or {"loss": scalar, "<metric>": scalar, ..., "count": n}
BatchLoss = Callable[
    [nn.Module, tuple], "torch.Tensor | dict[str, torch.Tensor]"
]

EVAL_BATCH = 1024  # held-out data are evaluated in batches of at least this size (no gradients to keep)


def batches(
    *tensors: torch.Tensor,
    batch_size: int,
    shuffle: bool = True,
    generator: torch.Generator | None = None,
):
    """Yield mini-batches of equal-length tensors by (shuffled) indexing, on their own device.

    tensors: each (N, ...). Yields tuples of (B, ...) slices, the last batch possibly smaller.
    The shuffle uses PyTorch's global generator, so it repeats under :func:`aecourse.settings.setup`;
    a CPU ``generator`` makes the order independent of the global random state instead.
    """
    if not tensors:
        raise ValueError("batches() needs at least one tensor.")
    n = len(tensors[0])
    if any(len(t) != n for t in tensors):
        raise ValueError(
            f"All tensors must have the same length, got {[len(t) for t in tensors]}."
        )
    if batch_size <= 0:
        raise ValueError(
            f"batch_size must be positive, got {batch_size}."
        )
    device = tensors[0].device
    if not shuffle:
        order = torch.arange(n, device=device)
    elif generator is not None:
        order = torch.randperm(n, generator=generator).to(device)
    else:
        order = torch.randperm(n, device=device)
    for start in range(0, n, batch_size):
        idx = order[start : start + batch_size]
        yield tuple(t[idx] for t in tensors)


@dataclass
class History:
    """What ``fit`` measured, one value per epoch.

    train: mean loss over the training batches as they were trained on (loss + penalty, if any);
    valid, test: mean loss on the held-out sets after each epoch (empty when not given);
    metrics: the further named values of a ``batch_loss`` hook, e.g. ``"kl"`` on the training batches
    and ``"valid kl"`` / ``"test kl"`` on the held-out sets;
    best_epoch: with ``keep_best``, the epoch (1, 2, ...) whose weights the model was left with.
    """

    train: list[float] = field(default_factory=list)
    valid: list[float] = field(default_factory=list)
    test: list[float] = field(default_factory=list)
    metrics: dict[str, list[float]] = field(default_factory=dict)
    best_epoch: int | None = None


def _loss_fn(loss: str | LossFn) -> LossFn:
    if callable(loss):
        return loss
    if loss not in KINDS:
        raise ValueError(
            f"loss must be one of {KINDS} or a function loss(output, target); got {loss!r}."
        )
    return lambda output, target: reconstruction_loss(
        output, target, kind=loss
    )


def _as_tuple(data) -> tuple[torch.Tensor, ...]:
    """A tensor, or a tuple of tensors where None stands for 'reconstruct the input' -> a tuple of tensors."""
    if isinstance(data, torch.Tensor):
        return (data,)
    return tuple(t for t in data if t is not None)


def _supervised(loss_fn: LossFn, noise=None, penalty=None) -> BatchLoss:
    """The default batch loss: loss(model(x̃), y), with x̃ = noise(x) and y = x unless targets are given."""

    def batch_loss(model: nn.Module, batch: tuple) -> torch.Tensor:
        # A batch of one tensor is its own target.
        xb, yb = batch[0], batch[-1]
        if noise is not None:
            xb = noise(xb)  # the target yb stays clean
        value = loss_fn(model(xb), yb)
        if penalty is not None:
            value = value + penalty(model, xb)
        return value

    return batch_loss


def _epoch(
    model: nn.Module,
    batch_loss: BatchLoss,
    data: tuple,
    batch_size: int,
    *,
    optimizer: torch.optim.Optimizer | None = None,
    clip: float | None = None,
    generator: torch.Generator | None = None,
) -> dict[str, float]:
    """One pass over data: training (shuffled, one step per batch) when an optimizer is given, else
    evaluation (in order, eval mode, no gradients). Returns each named value's mean over the items,
    a batch weighted by its ``count`` (default: its length)."""
    training = optimizer is not None
    model.train(training)
    # Summed on the device: one GPU sync per epoch, not one per batch.
    totals: dict[str, torch.Tensor] = {}
    items = torch.zeros((), device=data[0].device)
    with torch.set_grad_enabled(training):
        for batch in batches(
            *data,
            batch_size=batch_size,
            shuffle=training,
            generator=generator,
        ):
            values = batch_loss(model, batch)
            if not isinstance(values, dict):
                values = {"loss": values}
            values = dict(values)  # the hook's own dict stays as it was
            count = values.pop("count", len(batch[0]))
            if training:
                optimizer.zero_grad()
                values["loss"].backward()
                if clip:
                    nn.utils.clip_grad_norm_(model.parameters(), clip)
                optimizer.step()
            for name, value in values.items():
                totals[name] = (
                    totals.get(name, 0) + value.detach() * count
                )
            items += count
    n = items.item()
    return {name: total.item() / n for name, total in totals.items()}


@torch.no_grad()
def evaluate(
    model: nn.Module,
    x: torch.Tensor | tuple,
    y: torch.Tensor | None = None,
    loss: str | LossFn = "mse",
    batch_size: int = EVAL_BATCH,
    batch_loss: BatchLoss | None = None,
) -> float:
    """Mean loss of ``model`` over (x, y) in eval mode; y defaults to x (reconstruction). x: (N, ...).

    batch_loss: a hook as for :func:`fit` (then x may be a tuple of tensors and ``loss`` is unused).
    """
    data = _as_tuple(x) + _as_tuple((y,))
    return _epoch(
        model, batch_loss or _supervised(_loss_fn(loss)), data, batch_size
    )["loss"]


@torch.no_grad()
def predict(
    model: nn.Module,
    x: torch.Tensor,
    batch_size: int = EVAL_BATCH,
    method: str = "forward",
) -> torch.Tensor:
    """Apply ``model`` (or one of its methods, e.g. ``"encode"``) to x in batches: (N, ...) -> (N, ...)."""
    model.eval()
    fn = getattr(model, method) if method != "forward" else model
    return torch.cat(
        [
            fn(xb)
            for (xb,) in batches(x, batch_size=batch_size, shuffle=False)
        ]
    )


def fit(
    model: nn.Module,
    x: torch.Tensor | tuple,
    y: torch.Tensor | None = None,
    *,
    loss: str | LossFn = "mse",
    epochs: int = 10,
    batch_size: int = 128,
    lr: float = 1e-3,
    optimizer: torch.optim.Optimizer | None = None,
    batch_loss: BatchLoss | None = None,
    valid=None,
    test=None,
    keep_best: bool = False,
    clip: float | None = None,
    noise: Callable[[torch.Tensor], torch.Tensor] | None = None,
    penalty: Callable[[nn.Module, torch.Tensor], torch.Tensor]
    | None = None,
    generator: torch.Generator | None = None,
    progress: bool = True,
    desc: str = "training",
) -> History:
    """Train ``model`` on (x, y) with mini-batch gradient descent and return its :class:`History`.

    x: (N, ...) inputs; y: (N, ...) targets, or None to reconstruct x (an autoencoder).
    loss: "mse" or "bce" (see :func:`aecourse.ops.losses.reconstruction_loss`) or a function
    ``loss(output, target) -> scalar``. optimizer: defaults to Adam with learning rate ``lr``.
    noise: corrupts each input batch, ``noise(xb) -> x̃b`` of the same shape, drawn afresh every time;
    the model sees x̃ and the loss compares its output with the clean target (a denoising autoencoder).
    penalty: ``penalty(model, model_input) -> scalar`` added to the loss, e.g. λ·Ω of the code for a
    sparse or contractive autoencoder; ``history.train`` then holds loss + penalty.

    batch_loss: instead of loss/noise/penalty, a hook ``batch_loss(model, batch)`` that turns a batch
    (a tuple of (B, ...) slices of x's tensors, then y's) into a scalar loss, or into a dict with the
    loss under ``"loss"``, further metrics to record by name, and optionally ``"count"``: how many items
    the batch's loss averages over (e.g. target tokens), which weighs it in the epoch's mean. With a hook,
    x may be a tuple of tensors. The hook can tell training from evaluation by ``model.training``.

    valid, test: held-out data like x (a tensor, or a tuple (x, y)), evaluated after every epoch without
    noise or penalty into ``history.valid`` / ``history.test``. keep_best: leave the model with the
    weights of the epoch with the lowest validation loss (needs ``valid``: a validation split, never the
    test set, since it chooses). clip: the largest gradient norm, or None. generator: a CPU generator
    for the shuffle, to make it independent of the global random state.
    """
    if epochs < 0:
        raise ValueError(f"epochs must be >= 0, got {epochs}.")
    if batch_loss is not None and (
        noise is not None or penalty is not None or loss != "mse"
    ):
        raise ValueError(
            "noise, penalty and loss shape the default batch loss; with batch_loss, do them in the hook."
        )
    if keep_best and valid is None:
        raise ValueError(
            "keep_best chooses the epoch on validation data: pass valid=."
        )
    data = _as_tuple(x) + _as_tuple((y,))
    if y is not None and len(y) != len(data[0]):
        raise ValueError(
            f"x and y must have the same length, got {len(data[0])} and {len(y)}."
        )
    if batch_loss is None:
        train_loss, held_out_loss = (
            _supervised(_loss_fn(loss), noise, penalty),
            _supervised(_loss_fn(loss)),
        )
    else:
        train_loss = held_out_loss = batch_loss
    held_out = {
        name: _as_tuple(d)
        for name, d in (("valid", valid), ("test", test))
        if d is not None
    }
    optimizer = optimizer or torch.optim.Adam(model.parameters(), lr=lr)
    history, best, best_state = History(), float("inf"), None
    bar = tqdm(range(epochs), desc=desc, disable=not progress, leave=True)
    for epoch in bar:
        means = {
            "train": _epoch(
                model,
                train_loss,
                data,
                batch_size,
                optimizer=optimizer,
                clip=clip,
                generator=generator,
            )
        }
        for split, d in held_out.items():
            eval_batch = max(batch_size, EVAL_BATCH)
            means[split] = _epoch(model, held_out_loss, d, eval_batch)
        for split, values in means.items():
            getattr(history, split).append(values.pop("loss"))
            for metric, value in values.items():
                # "kl" on the training batches, "valid kl" on held-out data
                key = metric if split == "train" else f"{split} {metric}"
                history.metrics.setdefault(key, []).append(value)
        if keep_best and history.valid[-1] < best:
            best, history.best_epoch = history.valid[-1], epoch + 1
            best_state = copy.deepcopy(model.state_dict())
        shown = {s: f"{getattr(history, s)[-1]:.4g}" for s in means}
        bar.set_postfix(shown)
    if best_state is not None:
        model.load_state_dict(best_state)
    return history
