"""The n-h-n encoder of the number-system chapter: n one-hot inputs squeezed through h sigmoid units and
reconstructed.

With n = 8 and h = 3 the hidden units must invent a number system: 8 distinct codes from 3 units, which
training usually makes binary-like. The same functions run 8-2-8, 8-1-8 and 16-4-16 to probe capacity.
"""

from __future__ import annotations

import torch
from scipy.spatial import ConvexHull

from aecourse._args import to_numpy
from aecourse.models.autoencoder import Autoencoder
from aecourse.settings import seed_everything
from aecourse.training import fit, predict


def one_hot(
    n: int, device: torch.device | str | None = None
) -> torch.Tensor:
    """The n one-hot inputs as the rows of the identity: (n, n) float."""
    if n < 2:
        raise ValueError(f"Need at least 2 inputs, got n = {n}.")
    return torch.eye(n, device=device)


def number_system(n: int = 8, hidden: int = 3) -> Autoencoder:
    """An untrained n-h-n autoencoder with sigmoid code and sigmoid outputs (one Bernoulli per output)."""
    if hidden < 1:
        raise ValueError(
            f"Need at least one hidden unit, got hidden = {hidden}."
        )
    return Autoencoder(
        [n, hidden], code_activation="sigmoid", output="sigmoid"
    )


def train_number_system(
    n: int = 8,
    hidden: int = 3,
    *,
    epochs: int = 2000,
    lr: float = 0.05,
    seed: int | None = None,
    device: torch.device | str | None = None,
    progress: bool = True,
) -> Autoencoder:
    """Train an n-h-n autoencoder on the n one-hot inputs with Bernoulli cross-entropy, full batch, Adam.

    seed: reseed all generators first (to compare seeds); None keeps the current random state.
    Returns the trained model in eval mode.
    """
    if seed is not None:
        seed_everything(seed)
    model = number_system(n, hidden).to(device or "cpu")
    x = one_hot(n, device=device)
    fit(
        model,
        x,
        loss="bce",
        epochs=epochs,
        batch_size=n,
        lr=lr,
        progress=progress,
        desc=f"{n}-{hidden}-{n}",
    )
    return model.eval()


def codes(model: Autoencoder) -> torch.Tensor:
    """The code of each one-hot input: (n, hidden), row i is the code of input i."""
    return predict(
        model,
        one_hot(
            model.encoder.sizes[0], device=next(model.parameters()).device
        ),
        method="encode",
    )


def reconstructs_all(model: Autoencoder) -> bool:
    """Whether every one-hot input comes back exactly once the outputs are thresholded at 0.5."""
    return inputs_reconstructed(model) == model.encoder.sizes[0]


def distinct_binary_codes(code: torch.Tensor) -> int:
    """How many different codes remain after thresholding each unit at 0.5. code: (n, hidden)."""
    return len({tuple(row) for row in (code > 0.5).long().tolist()})


def inputs_reconstructed(model: Autoencoder) -> int:
    """How many one-hot inputs come back exactly once the outputs are thresholded at 0.5."""
    x = one_hot(
        model.encoder.sizes[0], device=next(model.parameters()).device
    )
    return int(((predict(model, x) > 0.5).float() == x).all(dim=1).sum())


def hull_vertices(code: torch.Tensor) -> int:
    """How many of the n codes (n, h) are vertices of their convex hull (for h = 1: the two ends).

    All n are exactly when threshold output units can single out every code, i.e. when the decoder can
    reconstruct every input. Needs at least h + 1 codes in general position for h > 1.
    """
    if code.dim() != 2:
        raise ValueError(
            f"Expected codes of shape (n, h); got {tuple(code.shape)}."
        )
    c = to_numpy(code, float)
    if c.shape[1] == 1:
        return len({int(c.argmin()), int(c.argmax())})
    return len(ConvexHull(c).vertices)


def describe(model: Autoencoder) -> dict:
    """The chapter's measures of one trained n-h-n model: reconstruction, bit patterns, geometry."""
    code = codes(model)
    return {
        "all back": reconstructs_all(model),
        "inputs back": inputs_reconstructed(model),
        "bit patterns": distinct_binary_codes(code),
        "hull vertices": hull_vertices(code),
        "closest pair": torch.pdist(code)
        .min()
        .item(),  # smallest distance between two codes
        "least binary": torch.minimum(code, 1 - code)
        .max()
        .item(),  # 0 for a perfectly binary code
    }
