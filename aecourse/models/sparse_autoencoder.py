"""Sparse autoencoders that learn a dictionary of features from a network's activations, and how they are
scored (the sparse autoencoder chapter).

A sparse autoencoder (SAE) writes an activation vector x ∈ ℝᵈ as a sparse, non-negative combination of
L ≫ d learned directions, the columns of its decoder:

    f = σ(W_enc (x − b_pre) + b_enc),   x̂ = W_dec f + b_pre,   W_dec: (d, L) with unit-norm columns.

b_pre is subtracted before the encoder and added back after the decoder, so the dictionary describes
deviations from a typical activation, not the activation itself. Two ways to make f sparse:

- ReLU with an L1 penalty (Bricken et al. 2023): σ = ReLU, loss ‖x − x̂‖² + λ Σ_j |f_j|;
- TopK (Gao et al. 2024): keep the k largest pre-activations of each example, ReLU them, zero the rest;
  the sparsity is k itself and the loss is ‖x − x̂‖² alone.

Why unit-norm columns: the L1 penalty could otherwise be dodged by shrinking f and growing W_dec by the
same factor, which leaves x̂ unchanged and makes the penalty meaningless. :class:`ConstrainedAdam`
renormalises the columns after every step. Before the step it removes from each column's gradient the
component parallel to the column (:func:`remove_parallel_component`): that component can only change
the column's length, which the renormalisation undoes anyway, but left in it would still enter Adam's
running averages and so distort the steps that do turn the column.

Scores: :func:`fvu` (fraction of variance unexplained), :func:`l0` (active latents per example),
:func:`dead_latents`, :func:`recovered_fraction` (how many planted directions the dictionary found) and
:func:`loss_recovered` (how much of the loss lost by deleting the activations comes back when the SAE's
reconstruction replaces them). The activations are plain tensors (N, d): any model's activations can be fed in, and
:func:`replacement_losses` takes the model's loss as a function of the activations.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from aecourse._args import integer
from aecourse.models.superposition import random_directions
from aecourse.ops.losses import reconstruction_loss
from aecourse.ops.regularizers import l1_penalty
from aecourse.training import History, fit


def _matrix(name: str, t, what: str = "(N, d)") -> torch.Tensor:
    if (
        not isinstance(t, torch.Tensor)
        or t.dim() != 2
        or not t.is_floating_point()
    ):
        shape = tuple(t.shape) if isinstance(t, torch.Tensor) else t
        raise ValueError(
            f"{name} must be a float tensor {what}, got {shape!r}."
        )
    return t


# --- the two activations --------------------------------------------------------------------------


def topk_activation(pre: torch.Tensor, k: int) -> torch.Tensor:
    """Keep the k largest pre-activations of each row, ReLU them, and set every other entry to 0.

    pre: (N, L)  ->  (N, L) with at most k nonzeros per row (exactly k where k entries are positive).
    "Largest" means most positive, not largest in absolute value: a strongly negative pre-activation is
    evidence against a feature, not for it. Gradients reach only the kept entries. Raises ValueError
    unless 1 <= k <= L.
    """
    _matrix("pre", pre, "(N, L)")
    integer("k", k, low=1, high=pre.shape[1])
    values, idx = pre.topk(k, dim=1)
    return torch.zeros_like(pre).scatter(1, idx, F.relu(values))


# --- unit-norm decoder columns ------------------------------------------------------------------


def normalize_columns(W: torch.Tensor) -> torch.Tensor:
    """W with each column divided by its Euclidean norm: W_j / ‖W_j‖.

    W: (d, L)  ->  (d, L), every column of norm 1 (a zero column stays 0). Columns, not rows: column j is
    latent j's direction in activation space.
    """
    _matrix("W", W, "(d, L)")
    return W / W.norm(dim=0, keepdim=True).clamp_min(
        torch.finfo(W.dtype).tiny
    )


def remove_parallel_component(
    grad: torch.Tensor, W: torch.Tensor
) -> torch.Tensor:
    """grad minus, column by column, its component along W's column: g_j − (g_j · Ŵ_j) Ŵ_j.

    grad, W: (d, L)  ->  (d, L), each column orthogonal to the matching column of W. For a column kept
    at unit norm, a step along W_j changes only its length, which the renormalisation undoes; left in,
    that part of the gradient still fills Adam's moment estimates and shrinks the useful steps.
    """
    _matrix("grad", grad, "(d, L)")
    if grad.shape != W.shape:
        raise ValueError(
            f"grad and W must have the same shape, got {tuple(grad.shape)} and {tuple(W.shape)}."
        )
    unit = normalize_columns(W)
    return grad - (grad * unit).sum(0, keepdim=True) * unit


class ConstrainedAdam(torch.optim.Adam):
    """Adam that keeps the columns of some (d, L) matrices at unit norm (Bricken et al. 2023).

    params: all the parameters to train; constrained: those whose columns must keep norm 1 (the
    decoder's W_dec). Each step removes from their gradient the component parallel to each column
    (:func:`remove_parallel_component`), takes Adam's step, then renormalises the columns.
    """

    def __init__(self, params, constrained, lr: float = 1e-3, **kwargs):
        super().__init__(params, lr=lr, **kwargs)
        self.constrained = list(constrained)

    @torch.no_grad()
    def step(self, closure=None):
        for W in self.constrained:
            if W.grad is not None:
                W.grad.copy_(remove_parallel_component(W.grad, W))
        loss = super().step(closure)
        for W in self.constrained:
            W.copy_(normalize_columns(W))
        return loss


# --- the model ------------------------------------------------------------------------------------


class SparseAutoencoder(nn.Module):
    """f = σ(W_enc (x − b_pre) + b_enc), x̂ = W_dec f + b_pre, with L latents for d-dimensional inputs.

    k: None for ReLU latents (train with an L1 penalty), or an int for TopK latents that keep the k
    largest pre-activations of each example. W_dec: (d, L), random unit-norm columns; W_enc: (L, d),
    started as W_decᵀ (so that at first each latent reads along the direction it writes, as in Gao et
    al.); b_enc, b_pre start at 0 (see :meth:`init_pre_bias`).
    encode: (N, d) -> f (N, L); decode: (N, L) -> (N, d); forward: (N, d) -> x̂ (N, d).
    """

    def __init__(self, d: int, n_latents: int, k: int | None = None):
        super().__init__()
        integer("d", d, low=1)
        integer("n_latents", n_latents, low=1)
        if k is not None:
            integer("k", k, low=1, high=n_latents)
        self.k = k
        W_dec = random_directions(d, n_latents)
        self.W_dec = nn.Parameter(W_dec)
        self.W_enc = nn.Parameter(W_dec.T.clone())
        self.b_enc = nn.Parameter(torch.zeros(n_latents))
        self.b_pre = nn.Parameter(torch.zeros(d))

    @property
    def d(self) -> int:
        return self.W_dec.shape[0]

    @property
    def n_latents(self) -> int:
        return self.W_dec.shape[1]

    @torch.no_grad()
    def init_pre_bias(self, x: torch.Tensor) -> None:
        """Set b_pre to the mean of the activations x (N, d), so that training starts centred.

        Bricken et al. start it at the geometric median; the mean is simpler and differs little here.
        """
        self.b_pre.copy_(self._check(x).mean(0))

    def _check(self, x: torch.Tensor) -> torch.Tensor:
        if (
            not isinstance(x, torch.Tensor)
            or x.dim() != 2
            or x.shape[1] != self.d
        ):
            raise ValueError(
                f"expected activations of shape (N, {self.d}), got "
                f"{tuple(x.shape) if isinstance(x, torch.Tensor) else x!r}."
            )
        return x

    def pre_activations(self, x: torch.Tensor) -> torch.Tensor:
        """W_enc (x − b_pre) + b_enc: (N, d) -> (N, L)."""
        return (self._check(x) - self.b_pre) @ self.W_enc.T + self.b_enc

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        pre = self.pre_activations(x)
        return (
            F.relu(pre)
            if self.k is None
            else topk_activation(pre, self.k)
        )

    def decode(self, f: torch.Tensor) -> torch.Tensor:
        if f.dim() != 2 or f.shape[1] != self.n_latents:
            raise ValueError(
                f"expected latents of shape (N, {self.n_latents}), got {tuple(f.shape)}."
            )
        return f @ self.W_dec.T + self.b_pre

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))


def sae_loss(l1_coefficient: float = 0.0):
    """A ``batch_loss`` hook for :func:`aecourse.training.fit`: ‖x − x̂‖² + λ Σ_j |f_j| per example,
    averaged over the batch, with "mse", "l1" and "l0" recorded beside the loss.

    l1_coefficient: λ ≥ 0 (0 for a TopK SAE). With unit-norm decoder columns, Σ_j |f_j| equals Bricken et
    al.'s Σ_j |f_j| ‖W_dec,j‖. The hook takes (model, (x,)) with x: (B, d).
    """
    if not isinstance(l1_coefficient, int | float) or l1_coefficient < 0:
        raise ValueError(
            f"l1_coefficient must be a number >= 0, got {l1_coefficient!r}."
        )

    def batch_loss(model: SparseAutoencoder, batch: tuple) -> dict:
        x = batch[0]
        f = model.encode(x)
        mse = reconstruction_loss(model.decode(f), x)
        l1 = l1_penalty(f)
        return {
            "loss": mse + l1_coefficient * l1,
            "mse": mse,
            "l1": l1,
            "l0": (f != 0).sum(1).float().mean(),
        }

    return batch_loss


def train_sae(
    model: SparseAutoencoder,
    x: torch.Tensor,
    l1_coefficient: float = 0.0,
    *,
    epochs: int = 10,
    batch_size: int = 256,
    lr: float = 1e-3,
    valid: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
    progress: bool = False,
) -> History:
    """Train a sparse autoencoder on activations x (N, d) with the course's :func:`~aecourse.training.fit`.

    Starts b_pre at the mean of x, trains with :class:`ConstrainedAdam` (unit-norm decoder columns)
    on :func:`sae_loss`. History.metrics holds "mse", "l1" and "l0" per epoch (and "valid ..." with
    valid). l1_coefficient: λ for ReLU latents; a TopK model usually trains with 0.
    """
    model.init_pre_bias(x)
    optimizer = ConstrainedAdam(model.parameters(), [model.W_dec], lr=lr)
    return fit(
        model,
        x,
        batch_loss=sae_loss(l1_coefficient),
        optimizer=optimizer,
        epochs=epochs,
        batch_size=batch_size,
        valid=valid,
        generator=generator,
        progress=progress,
        desc="sparse autoencoder",
    )


# --- scores ---------------------------------------------------------------------------------------


def fvu(x: torch.Tensor, x_hat: torch.Tensor) -> float:
    """Fraction of variance unexplained: Σ ‖x − x̂‖² / Σ ‖x − x̄‖², with x̄ the mean of x over the examples.

    x, x_hat: (N, d)  ->  a float ≥ 0: 0 for a perfect reconstruction, 1 for predicting the mean,
    above 1 for worse than that. Raises ValueError for different shapes or an x without variance.
    """
    _matrix("x", x)
    if x_hat.shape != x.shape:
        raise ValueError(
            f"x and x_hat must have the same shape, got {tuple(x.shape)} and {tuple(x_hat.shape)}."
        )
    x, x_hat = x.double(), x_hat.double()
    total = (x - x.mean(0)).pow(2).sum()
    if total == 0:
        raise ValueError("x has no variance: every example is the same.")
    return ((x - x_hat).pow(2).sum() / total).item()


def l0(f: torch.Tensor) -> float:
    """The mean number of nonzero latents per example. f: (N, L)  ->  a float in [0, L]."""
    return (_matrix("f", f, "(N, L)") != 0).sum(1).double().mean().item()


def firing_rates(f: torch.Tensor) -> torch.Tensor:
    """The fraction of examples on which each latent is nonzero. f: (N, L)  ->  (L,) in [0, 1]."""
    return (_matrix("f", f, "(N, L)") != 0).double().mean(0)


def dead_latents(f: torch.Tensor) -> torch.Tensor:
    """Latents that are zero on every example of the set: f (N, L)  ->  (L,) bool.

    Dead over a set means dead as far as that set can tell: use a large one (Bricken et al. count a
    latent dead after ~10⁷ tokens without firing).
    """
    return firing_rates(f) == 0


def max_cosines(
    true_directions: torch.Tensor,
    learned: torch.Tensor,
    absolute: bool = False,
) -> torch.Tensor:
    """For each true direction, its largest cosine similarity with any learned one.

    true_directions: (d, n), learned: (d, L), one direction per column  ->  (n,) in [−1, 1].
    absolute: compare |cos|, for methods whose directions have no sign (PCA components, a dictionary
    whose codes may be negative); an SAE's latents are non-negative, so its sign counts.
    """
    true_directions = normalize_columns(true_directions)
    learned = normalize_columns(learned)
    if learned.shape[0] != true_directions.shape[0]:
        raise ValueError(
            f"both need the same d, got {tuple(true_directions.shape)} and {tuple(learned.shape)}."
        )
    cos = true_directions.double().T @ learned.double()  # (n, L)
    return (cos.abs() if absolute else cos).max(1).values


def recovered_fraction(
    true_directions: torch.Tensor,
    learned: torch.Tensor,
    threshold: float = 0.9,
    absolute: bool = False,
) -> float:
    """The fraction of true directions with a learned column of cosine similarity > threshold.

    true_directions: (d, n), learned: (d, L), e.g. an SAE's ``W_dec``  ->  a float in [0, 1].
    Sharkey et al. (2022) call a feature recovered when its "mean max cosine similarity" is high; 0.9
    means within about 26°. absolute: see :func:`max_cosines`.
    """
    if not -1 <= threshold <= 1:
        raise ValueError(
            f"threshold is a cosine and must be in [-1, 1], got {threshold!r}."
        )
    return (
        (
            max_cosines(true_directions, learned.detach(), absolute)
            > threshold
        )
        .double()
        .mean()
        .item()
    )


def loss_recovered(
    loss_clean: float, loss_sae: float, loss_zero: float
) -> float:
    """(L_zero − L_sae) / (L_zero − L_clean): the share of the loss gap that the SAE closes.

    loss_clean: the network's loss on its own activations; loss_sae: with the activations replaced by
    the SAE's reconstruction; loss_zero: with them replaced by zeros (or their mean). 1 means the SAE
    loses nothing, 0 means it is as bad as deleting the activations. Numbers or 0-d tensors -> a float.
    Raises ValueError when L_zero = L_clean (ablating changes nothing, so there is no gap to close).
    """
    clean, sae, zero = (
        float(v) for v in (loss_clean, loss_sae, loss_zero)
    )
    if zero == clean:
        raise ValueError(
            f"loss_zero equals loss_clean ({clean!r}): ablating the activations does not change the "
            "loss, so there is no gap to recover."
        )
    return (zero - sae) / (zero - clean)


@torch.no_grad()
def replacement_losses(
    loss_fn: Callable[[torch.Tensor], torch.Tensor],
    activations: torch.Tensor,
    reconstruct: Callable[[torch.Tensor], torch.Tensor],
    ablation: str = "zero",
) -> tuple[float, float, float]:
    """The three losses of :func:`loss_recovered`: (L_clean, L_sae, L_zero), each from one call of loss_fn.

    loss_fn: maps activations of the shape of ``activations`` (..., d) to the network's scalar loss, with
    those activations put in place of its own (e.g. a forward hook on one layer). reconstruct: the SAE,
    or any function (N, d) -> (N, d); it is applied to the activations flattened to (N, d).
    ablation: "zero" replaces them by zeros, "mean" by their mean over every position.
    Use as ``loss_recovered(*replacement_losses(loss_fn, acts, sae))``.
    """
    if ablation not in ("zero", "mean"):
        raise ValueError(
            f"ablation must be 'zero' or 'mean', got {ablation!r}."
        )
    if not isinstance(activations, torch.Tensor) or activations.dim() < 2:
        raise ValueError(
            f"activations must be a tensor (..., d), got {getattr(activations, 'shape', activations)!r}."
        )
    flat = activations.reshape(-1, activations.shape[-1])
    replaced = reconstruct(flat).reshape(activations.shape)
    ablated = (
        torch.zeros_like(activations)
        if ablation == "zero"
        else flat.mean(0).expand_as(activations)
    )
    return tuple(
        float(loss_fn(a)) for a in (activations, replaced, ablated)
    )
