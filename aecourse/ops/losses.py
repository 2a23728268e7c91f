"""Reconstruction losses: squared error for real-valued data, Bernoulli cross-entropy for data in [0, 1],
multinomial cross-entropy for word proportions.

:func:`reconstruction_loss` sums over the features of one example and averages over the batch, exactly as
the structure chapter writes them:
L_SE = ‖x̂ − x‖²  and  L_CE = −Σ_j [x_j log x̂_j + (1 − x_j) log(1 − x̂_j)].
:func:`multinomial_loss` is the document models' loss in the applications chapter:
L = −Σ_v p_v log softmax(a)_v for a document's word proportions p and the decoder's scores a.
:func:`logit_gradient` is what a loss feeds back to a sigmoid output's logits (the structure chapter).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

KINDS = ("mse", "bce")


def reconstruction_loss(
    x_hat: torch.Tensor, x: torch.Tensor, kind: str = "mse"
) -> torch.Tensor:
    """Mean over the batch of the per-example reconstruction loss.

    x_hat, x: (N, ...) of the same shape. kind: "mse" (sum of squared errors per example) or "bce"
    (sum of Bernoulli cross-entropies per example; x_hat must lie in (0, 1), e.g. after a sigmoid).
    Returns a scalar tensor.
    """
    if kind not in KINDS:
        raise ValueError(
            f"Unknown loss kind {kind!r}: expected one of {KINDS}."
        )
    if x_hat.shape != x.shape:
        raise ValueError(
            f"x_hat and x must have the same shape, got {tuple(x_hat.shape)} and {tuple(x.shape)}."
        )
    if kind == "mse":
        per_entry = (x_hat - x) ** 2
    else:
        per_entry = F.binary_cross_entropy(x_hat, x, reduction="none")
    return per_entry.reshape(len(per_entry), -1).sum(1).mean()


def multinomial_loss(
    logits: torch.Tensor, proportions: torch.Tensor
) -> torch.Tensor:
    """Mean over the batch of −Σ_v p_v log softmax(logits)_v: the words' negative log-likelihood, per word.

    logits: (N, V) unnormalised scores of a softmax output layer; proportions: (N, V), each row a
    document's word proportions (non-negative, summing to 1). Returns a scalar tensor.

    A document of n words with proportions p has log-likelihood n Σ_v p_v log q_v under a multinomial with
    word probabilities q = softmax(logits) (up to a constant that does not depend on q), so this is that
    negative log-likelihood divided by n, as in Salakhutdinov & Hinton's document models. It is the
    cross-entropy between p and q with *soft* targets: ``F.cross_entropy(logits, proportions)`` gives the
    same number. log_softmax keeps it finite for large scores. Raises ValueError unless both are (N, V) of
    the same shape.
    """
    if logits.ndim != 2 or logits.shape != proportions.shape:
        raise ValueError(
            f"logits and proportions must both be (N, V) of the same shape, got {tuple(logits.shape)} "
            f"and {tuple(proportions.shape)}."
        )
    return -(proportions * F.log_softmax(logits, dim=1)).sum(1).mean()


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """Map values in [0, 1] back to 8-bit pixels 0..255 (rounded, clipped): what an image file stores."""
    return (x * 255).round().clamp(0, 255).to(torch.uint8)


def logit_gradient(
    x_hat: torch.Tensor, x: torch.Tensor, kind: str = "mse"
) -> torch.Tensor:
    """∂ℓ/∂a for each output unit of a sigmoid output layer, x̂ = sigmoid(a): what a loss feeds back.

    x_hat: (N, ...) outputs strictly inside (0, 1); x: (N, ...) targets of the same shape; kind: "mse" or
    "bce" as for :func:`reconstruction_loss`, whose per-example loss ℓ is differentiated (by autograd,
    in float64) with respect to each logit a = logit(x̂). Returns a tensor like x_hat. By the chain
    rule, squared error gives 2(x̂ − x)·x̂(1 − x̂), which vanishes as the sigmoid saturates even when
    the output is wrong, and cross-entropy gives x̂ − x (the structure chapter plots both).
    Raises ValueError if an output is not strictly inside (0, 1) (its logit is infinite).
    """
    if not bool(((x_hat > 0) & (x_hat < 1)).all()):
        raise ValueError(
            "x_hat must lie strictly inside (0, 1) (sigmoid outputs), got values from "
            f"{x_hat.min().item()!r} to {x_hat.max().item()!r}."
        )
    logits = torch.logit(x_hat.detach().double()).requires_grad_()
    loss = reconstruction_loss(
        torch.sigmoid(logits), x.detach().double(), kind
    )
    (grad,) = torch.autograd.grad(loss, logits)
    # reconstruction_loss averages over the N examples: undo it, one example's loss per row
    return (grad * len(logits)).to(x_hat.dtype)
