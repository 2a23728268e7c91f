"""The toy model of superposition (Elhage et al. 2022): more sparse features than dimensions, and how a
network packs them in (the sparse autoencoder chapter).

n features x ∈ [0, 1]ⁿ, each present with probability 1 − S (S is the *sparsity*) with a value drawn
uniformly from [0, 1], else 0. A linear map squeezes them into m < n dimensions and a ReLU reads them out:

    h = W x,   x̂ = ReLU(Wᵀ h + b),   W: (m, n),

trained on the importance-weighted squared error Σ_i I_i (x_i − x̂_i)². Column i of W is the direction
feature i is written along. With dense features (S = 0) the model keeps the m most important features
on orthogonal directions and drops the rest, like PCA; with sparse features two features are rarely
present together, so the model can store more than m of them on directions that are not orthogonal,
and the ReLU filters out the small interference. :func:`feature_norms` and :func:`interference` read
that geometry off W; :func:`superposed` embeds sparse features in d dimensions along known directions,
the planted ground truth that the chapter's sparse autoencoders must recover.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from aecourse._args import integer, probability
from aecourse.training import History, fit


def sparse_features(
    n_samples: int,
    n_features: int,
    sparsity: float,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Draw sparse feature vectors: each entry is 0 with probability ``sparsity``, else uniform in [0, 1].

    -> (n_samples, n_features), float32, on the CPU (the generator's device). Entries are independent.
    Raises ValueError unless the sizes are positive integers and sparsity is in [0, 1].
    """
    integer("n_samples", n_samples, low=1)
    integer("n_features", n_features, low=1)
    sparsity = probability("sparsity", sparsity)
    shape = (n_samples, n_features)
    present = torch.rand(shape, generator=generator) >= sparsity
    return torch.rand(shape, generator=generator) * present


def importance(n_features: int, decay: float = 0.9) -> torch.Tensor:
    """The importance weights I_i = decay^i, i = 0 … n − 1: feature 0 matters most.

    -> (n_features,). decay = 1 makes every feature equally important. Raises ValueError unless
    n_features is a positive integer and decay is in (0, 1].
    """
    integer("n_features", n_features, low=1)
    if not 0 < probability("decay", decay):
        raise ValueError(f"decay must be in (0, 1], got {decay!r}.")
    return decay ** torch.arange(n_features, dtype=torch.float32)


class ToyModel(nn.Module):
    """h = W x, x̂ = ReLU(Wᵀ h + b): n features through m hidden dimensions and back.

    W: (m, n), initialised like Elhage et al. (Xavier normal); b: (n,), zero. forward: (N, n) -> (N, n);
    hidden: (N, n) -> (N, m). The same W encodes and decodes (tied weights), so a feature's column both
    writes it into h and reads it back out.
    """

    def __init__(self, n_features: int, n_hidden: int):
        super().__init__()
        integer("n_features", n_features, low=1)
        integer("n_hidden", n_hidden, low=1)
        self.W = nn.Parameter(
            nn.init.xavier_normal_(torch.empty(n_hidden, n_features))
        )
        self.b = nn.Parameter(torch.zeros(n_features))

    def _check(self, x: torch.Tensor) -> None:
        n = self.W.shape[1]
        if x.dim() != 2 or x.shape[1] != n:
            raise ValueError(
                f"expected features of shape (N, {n}), got {tuple(x.shape)}."
            )

    def hidden(self, x: torch.Tensor) -> torch.Tensor:
        self._check(x)
        return x @ self.W.T

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.hidden(x) @ self.W + self.b)


def weighted_mse(weights: torch.Tensor):
    """The loss Σ_i I_i (x̂_i − x_i)² per example, averaged over the batch, as a ``loss(x_hat, x)`` for fit.

    weights: (n,) importances I. The returned function takes x_hat, x: (N, n) and returns a scalar.
    With all weights 1 it is :func:`aecourse.ops.losses.reconstruction_loss` with kind "mse".
    Raises ValueError unless weights is one-dimensional.
    """
    if not isinstance(weights, torch.Tensor) or weights.dim() != 1:
        raise ValueError(
            f"weights must be a tensor (n,), got {getattr(weights, 'shape', weights)!r}."
        )

    def loss(x_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        if x_hat.shape != x.shape or x.shape[-1] != len(weights):
            raise ValueError(
                f"x_hat and x must both be (N, {len(weights)}), got {tuple(x_hat.shape)} "
                f"and {tuple(x.shape)}."
            )
        w = weights.to(x.device, x.dtype)
        return ((x_hat - x) ** 2 * w).sum(1).mean()

    return loss


def train_toy_model(
    model: ToyModel,
    sparsity: float,
    weights: torch.Tensor | None = None,
    *,
    n_samples: int = 4096,
    epochs: int = 30,
    batch_size: int = 128,
    lr: float = 3e-2,
    generator: torch.Generator | None = None,
    progress: bool = False,
) -> History:
    """Train ``model`` with :func:`aecourse.training.fit` on n_samples fresh sparse feature vectors.

    sparsity: S, each feature's probability of being 0. weights: (n,) importances (default: all 1).
    generator: draws the data and the shuffle, so that a seeded call repeats. Returns fit's History.
    Elhage et al. draw a fresh batch at every step (10 000 steps at learning rate 1e-3); a fixed set
    of 4096 vectors seen 30 times (960 steps at 3e-2, about a second on a CPU for 5 features) gives
    the same geometry here, and lets the course's one training loop do the training.
    """
    n = model.W.shape[1]
    weights = torch.ones(n) if weights is None else weights
    x = sparse_features(n_samples, n, sparsity, generator)
    x = x.to(model.W.device)
    return fit(
        model,
        x,
        loss=weighted_mse(weights),
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        generator=generator,
        progress=progress,
        desc=f"toy model, S={sparsity:g}",
    )


def _columns(W) -> torch.Tensor:
    """W itself (m, n), or a ToyModel's W: the feature directions as columns."""
    W = W.W if isinstance(W, ToyModel) else W
    if not isinstance(W, torch.Tensor) or W.dim() != 2:
        raise ValueError(
            f"expected a ToyModel or its weights W (m, n), got {getattr(W, 'shape', W)!r}."
        )
    return W.detach()


def feature_directions(W) -> torch.Tensor:
    """The direction each feature is written along in the hidden space: the columns of W.

    W: a ToyModel or a tensor (m, n)  ->  (m, n), detached: column i is W_i. For m = 2, plot each
    column as an arrow from the origin to see how the n features share the plane.
    """
    return _columns(W).clone()


def feature_norms(W) -> torch.Tensor:
    """‖W_i‖ for each feature i: about 1 for a feature the model represents, about 0 for one it drops.

    W: a ToyModel or a tensor (m, n)  ->  (n,).
    """
    return _columns(W).norm(dim=0)


def interference(W) -> torch.Tensor:
    """Σ_{j ≠ i} (Ŵ_i · W_j)² for each feature i, with Ŵ_i = W_i / ‖W_i‖: how much the other features
    project onto feature i's direction (Elhage et al.'s measure of superposition).

    W: a ToyModel or a tensor (m, n)  ->  (n,), ≥ 0. It is 0 for a feature whose direction is orthogonal
    to every other one (no superposition) and grows as features share directions. A feature with
    W_i = 0 has no direction; it gets 0.
    """
    W = _columns(W)
    norms = W.norm(dim=0)
    unit = W / norms.clamp_min(torch.finfo(W.dtype).tiny)
    overlaps = (unit.T @ W) ** 2  # (n, n): (Ŵ_i · W_j)²
    overlaps.fill_diagonal_(0)
    return overlaps.sum(1) * (norms > 0)


def random_directions(
    d: int, n: int, generator: torch.Generator | None = None
) -> torch.Tensor:
    """n random unit vectors in d dimensions, as the columns of a (d, n) matrix.

    Drawn from a standard normal and normalised: uniform on the sphere. For n > d they cannot be
    orthogonal, but in high dimensions they are nearly so (|cos| ≈ 1/√d).
    """
    integer("d", d, low=1)
    integer("n", n, low=1)
    v = torch.randn(d, n, generator=generator)
    return v / v.norm(dim=0)


def superposed(
    n_samples: int,
    directions: torch.Tensor,
    sparsity: float,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Sparse features written along known directions: activations x = Σ_i f_i d_i with a planted truth.

    directions: (d, n), one feature direction per column (e.g. :func:`random_directions`).
    -> (x (n_samples, d), f (n_samples, n)): the activations and the sparse features f of
    :func:`sparse_features` that made them, x = f directionsᵀ. A good dictionary recovers the columns.
    """
    if not isinstance(directions, torch.Tensor) or directions.dim() != 2:
        raise ValueError(
            f"directions must be a tensor (d, n), got {getattr(directions, 'shape', directions)!r}."
        )
    f = sparse_features(
        n_samples, directions.shape[1], sparsity, generator
    )
    return f.to(directions) @ directions.T, f
