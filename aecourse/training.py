"""A plain training loop: ``fit`` a model on tensors, with a progress bar and a loss history.

Written to be read: one loop over epochs, one over mini-batches, forward, loss, backward, step.
It trains autoencoders (the target is the input) and, given targets, any supervised model. It runs on
whatever device the model and the data are on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import nn
from tqdm.auto import tqdm

from .data import batches
from .losses import KINDS, reconstruction_loss

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass
class History:
    """Mean loss per epoch on the training data and, when given, on the test data."""

    train: list[float] = field(default_factory=list)
    test: list[float] = field(default_factory=list)


def _loss_fn(loss: str | LossFn) -> LossFn:
    if callable(loss):
        return loss
    if loss not in KINDS:
        raise ValueError(f"loss must be one of {KINDS} or a function loss(output, target); got {loss!r}.")
    return lambda output, target: reconstruction_loss(output, target, kind=loss)


@torch.no_grad()
def evaluate(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor | None = None,
    loss: str | LossFn = "mse",
    batch_size: int = 1024,
) -> float:
    """Mean loss of ``model`` over (x, y); y defaults to x (reconstruction). x: (N, ...)."""
    loss_fn = _loss_fn(loss)
    model.eval()
    y = x if y is None else y
    total = torch.zeros((), device=x.device)  # summed on the device: one GPU sync, not one per batch
    for xb, yb in batches(x, y, batch_size=batch_size, shuffle=False):
        total += loss_fn(model(xb), yb) * len(xb)
    return total.item() / len(x)


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor, batch_size: int = 1024, method: str = "forward") -> torch.Tensor:
    """Apply ``model`` (or one of its methods, e.g. ``"encode"``) to x in batches: (N, ...) -> (N, ...)."""
    model.eval()
    fn = getattr(model, method) if method != "forward" else model
    return torch.cat([fn(xb) for (xb,) in batches(x, batch_size=batch_size, shuffle=False)])


def fit(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor | None = None,
    *,
    loss: str | LossFn = "mse",
    epochs: int = 10,
    batch_size: int = 128,
    lr: float = 1e-3,
    optimizer: torch.optim.Optimizer | None = None,
    test: tuple[torch.Tensor, torch.Tensor | None] | torch.Tensor | None = None,
    progress: bool = True,
    desc: str = "training",
    noise: Callable[[torch.Tensor], torch.Tensor] | None = None,
    penalty: Callable[[nn.Module, torch.Tensor], torch.Tensor] | None = None,
) -> History:
    """Train ``model`` on (x, y) with mini-batch gradient descent and return the loss history.

    x: (N, ...) inputs; y: (N, ...) targets, or None to reconstruct x (an autoencoder).
    loss: "mse" or "bce" (see :func:`aecourse.losses.reconstruction_loss`) or a function
    ``loss(output, target) -> scalar``. optimizer: defaults to Adam with learning rate ``lr``.
    test: held-out x (or (x, y)) evaluated after every epoch into ``history.test`` (the loss alone).
    noise: corrupts each input batch, ``noise(xb) -> x̃b`` of the same shape, drawn afresh every time;
    the model sees x̃ and the loss compares its output with the clean target (a denoising autoencoder).
    penalty: ``penalty(model, model_input) -> scalar`` added to the loss, e.g. λ·Ω of the code for a
    sparse or contractive autoencoder; ``history.train`` then holds loss + penalty.
    """
    if epochs < 0:
        raise ValueError(f"epochs must be >= 0, got {epochs}.")
    loss_fn = _loss_fn(loss)
    y = x if y is None else y
    if len(y) != len(x):
        raise ValueError(f"x and y must have the same length, got {len(x)} and {len(y)}.")
    if isinstance(test, torch.Tensor):
        test = (test, None)
    optimizer = optimizer or torch.optim.Adam(model.parameters(), lr=lr)
    history = History()
    bar = tqdm(range(epochs), desc=desc, disable=not progress, leave=True)
    for _epoch in bar:
        model.train()
        total = torch.zeros((), device=x.device)  # summed on the device: no GPU sync per batch
        for xb, yb in batches(x, y, batch_size=batch_size):
            if noise is not None:
                xb = noise(xb)  # the target yb stays clean
            batch_loss = loss_fn(model(xb), yb)
            if penalty is not None:
                batch_loss = batch_loss + penalty(model, xb)
            optimizer.zero_grad()
            batch_loss.backward()
            optimizer.step()
            total += batch_loss.detach() * len(xb)
        history.train.append(total.item() / len(x))
        postfix = {"train": f"{history.train[-1]:.4g}"}
        if test is not None:
            history.test.append(evaluate(model, test[0], test[1], loss=loss_fn))
            postfix["test"] = f"{history.test[-1]:.4g}"
        bar.set_postfix(postfix)
    return history
