"""Penalties that regularize an autoencoder's code instead of narrowing it (the denoising chapter).

An overcomplete autoencoder (more code units than inputs) can learn the identity. The denoising chapter
adds a penalty Ω to the reconstruction loss, L + λ·Ω, that makes the identity expensive:

- :func:`l1_penalty`: Σ_j |h_j|, a sparse code (few units active per example);
- :func:`kl_sparsity`: Σ_j KL(ρ ‖ ρ̂_j), each sigmoid unit active on a fraction ρ of examples
  on average (Ng's sparse autoencoder notes, 2011);
- :func:`contractive_penalty`: ‖∂h/∂x‖²_F, a code that changes little when the input moves (Rifai et
  al., 2011), in closed form for one sigmoid layer, and :func:`jacobian_frobenius`, the same quantity for
  any encoder by automatic differentiation, which the closed form is tested against.

Each returns a scalar: the penalty of one example, averaged over the batch, like the reconstruction
losses of :mod:`aecourse.ops.losses`, so λ means the same whatever the batch size.
"""

from __future__ import annotations

from collections.abc import Callable
from numbers import Real

import torch
from torch.func import jacrev, vmap


def _check_code(code, name: str = "code") -> torch.Tensor:
    """code itself if it is a floating-point tensor (N, h) or (N, ...) with at least one example."""
    if (
        not isinstance(code, torch.Tensor)
        or not code.dtype.is_floating_point
    ):
        raise ValueError(
            f"{name} must be a floating-point tensor, got {getattr(code, 'dtype', type(code).__name__)}."
        )
    if code.ndim < 2 or len(code) == 0:
        raise ValueError(
            f"{name} must be a batch (N, h) with N ≥ 1, got shape {tuple(code.shape)}."
        )
    return code


def l1_penalty(code: torch.Tensor) -> torch.Tensor:
    """Σ_j |h_j| for each example, averaged over the batch: the L1 sparsity penalty.

    code: (N, h), or (N, ...) summed over everything but the batch  ->  scalar tensor.
    Raises ValueError if code is not a float tensor with a batch dimension.
    """
    code = _check_code(code)
    return code.abs().reshape(len(code), -1).sum(1).mean()


def kl_sparsity(code: torch.Tensor, rho: float) -> torch.Tensor:
    """Σ_j KL(ρ ‖ ρ̂_j): how far each unit's mean activation ρ̂_j is from the target ρ, summed over units.

    code: (N, h) sigmoid activations in (0, 1) (or (N, ...), one unit per entry)  ->  scalar tensor.
    ρ̂_j is the mean of unit j over the batch and
        KL(ρ ‖ ρ̂) = ρ·log(ρ/ρ̂) + (1 − ρ)·log((1 − ρ)/(1 − ρ̂)),
    the KL divergence between Bernoulli(ρ) and Bernoulli(ρ̂): 0 when ρ̂ = ρ, growing without bound as ρ̂
    goes to 0 or 1. Unlike :func:`l1_penalty` it constrains each unit over the batch, not each example,
    so the batch must be large enough for ρ̂ to mean something.
    Raises ValueError if rho is not strictly between 0 and 1 or code is not a batch of floats.
    """
    code = _check_code(code)
    if (
        not isinstance(rho, Real)
        or isinstance(rho, bool)
        or not 0 < rho < 1
    ):
        raise ValueError(
            f"rho must be a target activation strictly between 0 and 1 (e.g. 0.05), got {rho!r}."
        )
    # A unit that is always off (or always on) in this batch has ρ̂ = 0 (or 1) and an infinite KL; keeping
    # ρ̂ one machine epsilon inside (0, 1) gives a large finite penalty instead of inf or nan.
    eps = torch.finfo(code.dtype).eps
    rho_hat = code.reshape(len(code), -1).mean(0).clamp(eps, 1 - eps)
    kl = rho * torch.log(rho / rho_hat) + (1 - rho) * torch.log(
        (1 - rho) / (1 - rho_hat)
    )
    return kl.sum()


def contractive_penalty(
    x: torch.Tensor, W: torch.Tensor, b: torch.Tensor
) -> torch.Tensor:
    """‖J‖²_F of the sigmoid layer h = sigmoid(x Wᵀ + b) at each example, averaged over the batch.

    x: (N, d), W: (h, d), b: (h,)  ->  scalar tensor. The Jacobian of one example is
    J_ij = ∂h_i/∂x_j = h_i(1 − h_i)·W_ij, so its squared Frobenius norm needs no Jacobian at all:
        ‖J‖²_F = Σ_i (h_i(1 − h_i))² · Σ_j W_ij²,
    O(h·d) per example instead of building h × d numbers. Rifai et al. (2011) use exactly this form.
    :func:`jacobian_frobenius` computes the same number for any encoder.
    Raises ValueError for shapes that do not fit together.
    """
    x, W, b = _check_code(x, "x"), torch.as_tensor(W), torch.as_tensor(b)
    if (
        x.ndim != 2
        or W.ndim != 2
        or b.ndim != 1
        or W.shape != (len(b), x.shape[1])
    ):
        raise ValueError(
            f"Expected x (N, d), W (h, d) and b (h,), got x {tuple(x.shape)}, W {tuple(W.shape)} and "
            f"b {tuple(b.shape)}."
        )
    h = torch.sigmoid(x @ W.T + b)  # (N, h)
    slope = (
        h * (1 - h)
    ) ** 2  # (N, h): the squared derivative of each unit's sigmoid
    return (
        slope @ W.pow(2).sum(1)
    ).mean()  # W.pow(2).sum(1): (h,), the squared norm of each unit's row


def jacobian_frobenius(
    encoder: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor
) -> torch.Tensor:
    """‖∂𝓔(x)/∂x‖²_F at each example, averaged over the batch, by automatic differentiation.

    encoder: a function or module mapping a batch (N, ...) to codes (N, ...); it must treat examples
    independently (no batch norm in training mode). x: (N, ...)  ->  scalar tensor. The Jacobian of each
    example (code entries × input entries) is built with ``torch.func.jacrev`` and ``vmap``; the result
    can be backpropagated into the encoder's parameters, so it trains a contractive autoencoder of any
    depth, at the cost of a full Jacobian per example. For one sigmoid layer it equals
    :func:`contractive_penalty`.
    Raises ValueError if x is not a float batch.
    """
    x = _check_code(x, "x")

    def one_example(xi: torch.Tensor) -> torch.Tensor:
        return encoder(xi[None])[0]

    # (N, *code_shape, *input_shape)
    jacobians = vmap(jacrev(one_example))(x)
    return jacobians.pow(2).reshape(len(x), -1).sum(1).mean()
