"""Vector quantization: a codebook layer, its straight-through gradient and losses, and a small VQ-VAE
for 28×28 images (the vector-quantization chapter, discrete codes and two-stage generation).

A VQ-VAE (van den Oord, Vinyals & Kavukcuoglu 2017, "Neural Discrete Representation Learning") puts a
codebook of K vectors e_1 … e_K ∈ ℝ^D between encoder and decoder. At every position of the encoder's
output z_e the vector is replaced by its nearest codebook vector, z_q = e_k with
k = argmin_j ‖z_e − e_j‖², so an image becomes a grid of integers, its *codes*. Three things make it
trainable:

- the **straight-through estimator** (:func:`straight_through`): argmin has no gradient, so the forward
  pass uses z_q but the backward pass copies the decoder's gradient ∂L/∂z_q to z_e unchanged, written
  z_e + sg[z_q − z_e] (sg = stop-gradient, ``.detach()``);
- the **codebook loss** ‖sg[z_e] − e‖², which moves only the codebook vectors towards the encoder
  outputs assigned to them;
- the **commitment loss** β‖z_e − sg[e]‖², which moves only the encoder, towards its codes, so that its
  outputs do not drift away from the codebook (the paper uses β = 0.25).

Each term is summed over the code positions and dimensions of one image and averaged over the batch,
like the reconstruction losses of :mod:`aecourse.ops.losses`, so the three add up as the paper's
equation (3) writes them. The codebook term can be replaced by exponential moving averages
(``VectorQuantizer(..., ema=True)``, the paper's appendix A.1 and Sonnet's ``VectorQuantizerEMA``):
online k-means, with each codebook vector the running mean of the encoder outputs assigned to it.

The failure to watch is **codebook collapse**: codes that no encoder output is ever nearest to get no
codebook gradient and stay unused ("dead"), so the model uses fewer than K codes.
:func:`perplexity` of the assignments measures how many codes are in effective use (K for uniform use,
1 for a single code), :func:`dead_codes` finds the unused ones, and two fixes are here: starting the
codebook from k-means of encoder outputs (:meth:`VQVAE.kmeans_init`, :func:`kmeans`), and restarting
dead codes at randomly chosen encoder outputs (:meth:`VectorQuantizer.restart_dead_codes`, or
automatically with ``restart_every``).

:class:`VQVAE` is the convolution chapter's encoder and decoder (:mod:`aecourse.models.conv_autoencoder`)
with a quantizer between them: 28×28 → a 7 × 7 grid of codes → 28×28, and :func:`train_vqvae` trains it
with :func:`aecourse.training.fit`.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from aecourse._args import describe, indices, integer, probability
from aecourse.models.conv_autoencoder import (
    CODE_SIZE,
    ConvEncoder,
    check_images,
    make_decoder,
)
from aecourse.ops.losses import KINDS, reconstruction_loss
from aecourse.ops.rate import bits_per_image
from aecourse.training import History, fit

# --- the layout: vectors (M, D), or conv feature maps (N, D, H, W) ------------------------------------


def _check_codebook(codebook) -> torch.Tensor:
    if (
        not isinstance(codebook, torch.Tensor)
        or not codebook.dtype.is_floating_point
        or codebook.dim() != 2
        or len(codebook) == 0
    ):
        raise ValueError(
            f"codebook must be a float tensor (K, D) with K ≥ 1, got {describe(codebook)}."
        )
    return codebook


def _check_z(z, dim: int, name: str = "z_e") -> torch.Tensor:
    """z itself if it is (N, D) vectors or an (N, D, H, W) feature map with D = dim."""
    if (
        not isinstance(z, torch.Tensor)
        or not z.dtype.is_floating_point
        or z.dim() not in (2, 4)
        or z.shape[1] != dim
    ):
        raise ValueError(
            f"{name} must be a float tensor of vectors (N, {dim}) or a feature map (N, {dim}, H, W) "
            f"with the codebook's dimension D = {dim} on axis 1, got {describe(z)}."
        )
    return z


def _as_vectors(z: torch.Tensor) -> torch.Tensor:
    """(N, D) -> itself; (N, D, H, W) -> (N·H·W, D), one row per code position (row-major per image)."""
    if z.dim() == 2:
        return z
    return z.permute(0, 2, 3, 1).reshape(-1, z.shape[1])


def _positions(z: torch.Tensor) -> tuple[int, ...]:
    """The shape of the codes of z: (N,) for vectors, (N, H, W) for a feature map."""
    return (len(z),) if z.dim() == 2 else (len(z), *z.shape[2:])


# --- the quantizer's parts, one function each -----------------------------------------------------------


def squared_distances(
    vectors: torch.Tensor, codebook: torch.Tensor
) -> torch.Tensor:
    """‖v_m − e_k‖² for every vector and code: vectors (M, D), codebook (K, D) -> (M, K).

    Expanded as ‖v‖² − 2 v·e + ‖e‖², one matrix product instead of an (M, K, D) tensor of differences.
    Raises ValueError unless both are float (·, D) with the same D.
    """
    codebook = _check_codebook(codebook)
    vectors = _check_z(vectors, codebook.shape[1], "vectors")
    if vectors.dim() != 2:
        raise ValueError(
            f"vectors must be (M, D), got {describe(vectors)}."
        )
    return (
        vectors.pow(2).sum(1, keepdim=True)
        - 2 * vectors @ codebook.T
        + codebook.pow(2).sum(1)
    )


def nearest_codes(
    z: torch.Tensor, codebook: torch.Tensor
) -> torch.Tensor:
    """The index of the nearest codebook vector (squared Euclidean distance) at every position of z.

    z: vectors (N, D) -> codes (N,); or a conv feature map (N, D, H, W), a D-vector at each of the H·W
    positions -> codes (N, H, W). codebook: (K, D). Codes are int64 in 0 .. K−1; a tie goes to the lower
    index. Raises ValueError for other shapes or a D that is not the codebook's.
    """
    codebook = _check_codebook(codebook)
    z = _check_z(z, codebook.shape[1])
    distances = squared_distances(_as_vectors(z), codebook)
    return distances.argmin(1).reshape(_positions(z))


def lookup(codes: torch.Tensor, codebook: torch.Tensor) -> torch.Tensor:
    """The codebook vectors the codes name, in the layout the codes came from.

    codes: (N,) -> (N, D); or (N, H, W) -> (N, D, H, W), integers in 0 .. K−1. codebook: (K, D).
    Differentiable with respect to the codebook (it is an embedding lookup).
    """
    codebook = _check_codebook(codebook)
    if not isinstance(codes, torch.Tensor) or codes.dim() not in (1, 3):
        raise ValueError(
            f"codes must be a tensor (N,) or a grid (N, H, W), got {describe(codes)}."
        )
    indices("codes", codes, "code indices")
    if codes.numel() and (
        codes.min() < 0 or codes.max() >= len(codebook)
    ):
        raise ValueError(
            f"codes must lie in 0 .. {len(codebook) - 1} (K = {len(codebook)}), got values from "
            f"{int(codes.min())} to {int(codes.max())}."
        )
    vectors = F.embedding(codes, codebook)  # (..., D)
    return vectors if codes.dim() == 1 else vectors.permute(0, 3, 1, 2)


def straight_through(
    z_e: torch.Tensor, z_q: torch.Tensor
) -> torch.Tensor:
    """z_e + sg[z_q − z_e]: the value of z_q, the gradient of the identity to z_e (and none to z_q).

    z_e, z_q: any two equal shapes -> that shape. The decoder's gradient ∂L/∂z_q arrives at z_e unchanged
    (Bengio, Léonard & Courville 2013's straight-through estimator), as if quantization were the identity.
    """
    if z_e.shape != z_q.shape:
        raise ValueError(
            f"z_e and z_q must have the same shape, got {tuple(z_e.shape)} and {tuple(z_q.shape)}."
        )
    return z_e + (z_q - z_e).detach()


def _per_image(squares: torch.Tensor) -> torch.Tensor:
    """(N, ...) -> scalar: summed over everything but the batch, averaged over the batch."""
    return squares.reshape(len(squares), -1).sum(1).mean()


def vq_losses(
    z_e: torch.Tensor, z_q: torch.Tensor, beta: float = 0.25
) -> tuple[torch.Tensor, torch.Tensor]:
    """The VQ-VAE's two codebook terms: (‖sg[z_e] − z_q‖², β‖z_e − sg[z_q]‖²).

    z_e: the encoder's output, (N, D) or (N, D, H, W); z_q: the looked-up codebook vectors of the same
    shape (from :func:`lookup`, *not* the straight-through output, so that the codebook term can reach
    the codebook). beta: the commitment weight β ≥ 0. Each is summed over the positions and dimensions
    of an image and averaged over the batch: two scalars with equal values up to the factor β, but the
    first has gradient only for the codebook and the second only for the encoder.
    """
    if z_e.shape != z_q.shape or z_e.dim() < 1 or len(z_e) == 0:
        raise ValueError(
            f"z_e and z_q must have the same shape (N, ...) with N ≥ 1, got {tuple(z_e.shape)} and "
            f"{tuple(z_q.shape)}."
        )
    if not (isinstance(beta, int | float) and beta >= 0):
        raise ValueError(f"beta must be a number ≥ 0, got {beta!r}.")
    codebook_term = _per_image((z_e.detach() - z_q) ** 2)
    commitment_term = beta * _per_image((z_e - z_q.detach()) ** 2)
    return codebook_term, commitment_term


# --- how the codes are used -------------------------------------------------------------------------------


def _check_assignments(codes, num_codes) -> torch.Tensor:
    integer("num_codes", num_codes, low=1)
    if not isinstance(codes, torch.Tensor) or codes.numel() == 0:
        raise ValueError(
            f"codes must be a non-empty tensor of code indices, got {describe(codes)}."
        )
    indices("codes", codes, "code indices")
    if codes.min() < 0 or codes.max() >= num_codes:
        raise ValueError(
            f"codes must lie in 0 .. {num_codes - 1}, got values from {int(codes.min())} to "
            f"{int(codes.max())}."
        )
    return codes.reshape(-1)


def code_usage(codes: torch.Tensor, num_codes: int) -> torch.Tensor:
    """How often each code was assigned: codes (any shape, integers in 0 .. K−1) -> counts (K,) int64."""
    codes = _check_assignments(codes, num_codes)
    return torch.bincount(codes, minlength=num_codes)


def perplexity(codes: torch.Tensor, num_codes: int) -> torch.Tensor:
    """exp(H) of the codes' frequencies p_k, H = −Σ_k p_k ln p_k: the number of codes in effective use.

    codes: any shape, integers in 0 .. K−1 -> a scalar float64 tensor in [1, K]: K when every code is
    used equally often, 1 when a single one is; exp of the entropy in nats equals 2 to the entropy in
    bits. Unused codes add nothing (0 · ln 0 = 0).
    """
    counts = code_usage(codes, num_codes).double()
    p = counts[counts > 0] / counts.sum()
    return torch.exp(-(p * p.log()).sum())


def dead_codes(
    codes: torch.Tensor, num_codes: int, min_count: int = 1
) -> torch.Tensor:
    """Which codes were assigned fewer than min_count times: codes (any shape) -> (K,) bool.

    With the codes of a whole data set (or of many batches) and min_count = 1, the codes no encoder
    output is nearest to: they get no codebook gradient and stay where they are.
    """
    integer("min_count", min_count, low=1)
    return code_usage(codes, num_codes) < min_count


def _random_rows(
    vectors: torch.Tensor, n: int, generator: torch.Generator | None
) -> torch.Tensor:
    """n rows of vectors (M, D), distinct ones when M ≥ n. A CPU generator gives the same rows on any
    device."""
    if len(vectors) >= n:
        order = torch.randperm(len(vectors), generator=generator)[:n]
    else:
        order = torch.randint(len(vectors), (n,), generator=generator)
    return vectors[order.to(vectors.device)]


def kmeans(
    vectors: torch.Tensor,
    k: int,
    iterations: int = 20,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """k-means (Lloyd's algorithm) on vectors (M, D) -> k centres (k, D), on the vectors' device.

    Starts from k distinct random rows, then alternates assigning every vector to its nearest centre
    (:func:`nearest_codes`, the quantizer's own step) and moving every centre to the mean of its
    vectors; a centre left with no vectors stays where it was. Stops after ``iterations`` rounds or when
    no assignment changes. Raises ValueError if there are fewer than k vectors.
    """
    integer("k", k, low=1)
    integer("iterations", iterations, low=0)
    if (
        not isinstance(vectors, torch.Tensor)
        or not vectors.dtype.is_floating_point
        or vectors.dim() != 2
    ):
        raise ValueError(
            f"vectors must be a float tensor (M, D), got {describe(vectors)}."
        )
    if len(vectors) < k:
        raise ValueError(
            f"k-means needs at least k = {k} vectors, got {len(vectors)}."
        )
    vectors = vectors.detach()
    centres = _random_rows(vectors, k, generator).clone()
    assigned = None
    for _ in range(iterations):
        new = nearest_codes(vectors, centres)
        if assigned is not None and torch.equal(new, assigned):
            break
        assigned = new
        counts = torch.bincount(assigned, minlength=k)
        sums = torch.zeros_like(centres).index_add_(0, assigned, vectors)
        used = counts > 0
        centres[used] = sums[used] / counts[used].unsqueeze(1).to(sums)
    return centres


# --- the layer --------------------------------------------------------------------------------------------


class VQOutput(NamedTuple):
    """What :class:`VectorQuantizer` returns.

    quantized: the straight-through output, shaped like z_e, with the value of the codebook vectors;
    codes: (N,) or (N, H, W) int64; codebook_loss: ‖sg[z_e] − e‖²; commitment_loss: β‖z_e − sg[e]‖²
    (both scalars, per image; see :func:`vq_losses`).
    """

    quantized: torch.Tensor
    codes: torch.Tensor
    codebook_loss: torch.Tensor
    commitment_loss: torch.Tensor


class VectorQuantizer(nn.Module):
    """A codebook of K vectors in ℝ^D: z_e (N, D) or (N, D, H, W) -> :class:`VQOutput`.

    num_codes: K; code_dim: D; beta: the commitment weight β. The codebook starts uniform in ±1/K, as in
    common VQ-VAE code, small next to a fresh encoder's outputs: exactly the start where codes die.

    ema=False: the codebook is a parameter, moved by the codebook loss through the optimizer.
    ema=True: the codebook is a buffer, moved at every training forward pass by exponential moving
    averages with ``decay`` γ (:meth:`ema_update`); the codebook loss is still returned, for display, but
    has no gradient. Each code starts with a pseudo-count of one vector sitting at its initial position,
    so the codebook starts where it was put, and a code nobody uses stays there.

    restart_every: None, or every that many training forward passes, the codes assigned to no vector in
    those passes are restarted at random encoder outputs of the current batch
    (:meth:`restart_dead_codes`), before the batch is quantized. ``generator``: a CPU generator for the
    restarts' draws (None: the global one).

    Buffers: ``usage`` (K,), the assignments counted in training since the last restart.
    """

    def __init__(
        self,
        num_codes: int,
        code_dim: int,
        beta: float = 0.25,
        *,
        ema: bool = False,
        decay: float = 0.99,
        epsilon: float = 1e-5,
        restart_every: int | None = None,
        generator: torch.Generator | None = None,
    ):
        super().__init__()
        self.num_codes = integer("num_codes", num_codes, low=1)
        self.code_dim = integer("code_dim", code_dim, low=1)
        if not (isinstance(beta, int | float) and beta >= 0):
            raise ValueError(f"beta must be a number ≥ 0, got {beta!r}.")
        self.beta = float(beta)
        self.ema = bool(ema)
        self.decay = probability("decay", decay)
        if not (isinstance(epsilon, int | float) and epsilon > 0):
            raise ValueError(
                f"epsilon must be a small number > 0, got {epsilon!r}."
            )
        self.epsilon = float(epsilon)
        if restart_every is not None:
            integer("restart_every", restart_every, low=1)
        self.restart_every = restart_every
        self.generator = generator
        self._steps = 0
        init = torch.empty(num_codes, code_dim).uniform_(
            -1 / num_codes, 1 / num_codes
        )
        if self.ema:
            self.register_buffer("codebook", init)
            # N_k and m_k of the EMA: a pseudo-count of one vector at each code's starting position
            self.register_buffer("cluster_size", torch.ones(num_codes))
            self.register_buffer("code_sum", init.clone())
        else:
            self.codebook = nn.Parameter(init)
        self.register_buffer(
            "usage", torch.zeros(num_codes, dtype=torch.long)
        )

    def forward(self, z_e: torch.Tensor) -> VQOutput:
        z_e = _check_z(z_e, self.code_dim)
        if self.training and self.restart_every is not None:
            self._steps += 1
            if self._steps % self.restart_every == 0:
                self.restart_dead_codes(z_e)
        codes = nearest_codes(z_e.detach(), self.codebook.detach())
        z_q = lookup(codes, self.codebook)
        codebook_loss, commitment_loss = vq_losses(z_e, z_q, self.beta)
        if self.training:
            with torch.no_grad():
                self.usage += torch.bincount(
                    codes.reshape(-1), minlength=self.num_codes
                )
                if self.ema:
                    self.ema_update(_as_vectors(z_e), codes.reshape(-1))
        return VQOutput(
            straight_through(z_e, z_q),
            codes,
            codebook_loss,
            commitment_loss,
        )

    @torch.no_grad()
    def ema_update(
        self, vectors: torch.Tensor, codes: torch.Tensor
    ) -> None:
        """One EMA step of the codebook from vectors (M, D) and their codes (M,) (ema=True only).

        With n_k the number of vectors assigned to code k and s_k their sum:
            N_k ← γ N_k + (1 − γ) n_k,   m_k ← γ m_k + (1 − γ) s_k,
            Ñ_k = (N_k + ε) / (Σ_j N_j + K ε) · Σ_j N_j   (Laplace smoothing: no Ñ_k is 0),
            e_k = m_k / Ñ_k.
        """
        if not self.ema:
            raise ValueError(
                "ema_update is for a quantizer built with ema=True; this one learns its codebook "
                "by gradient descent on the codebook loss."
            )
        vectors = _check_z(vectors.detach(), self.code_dim, "vectors")
        codes = _check_assignments(codes, self.num_codes)
        if vectors.dim() != 2 or len(vectors) != len(codes):
            raise ValueError(
                f"vectors (M, D) and codes (M,) must have the same M, got {describe(vectors)} and "
                f"{describe(codes)}."
            )
        gamma, k = self.decay, self.num_codes
        counts = torch.bincount(codes, minlength=k).to(vectors.dtype)
        sums = torch.zeros_like(self.code_sum).index_add_(
            0, codes, vectors.to(self.code_sum.dtype)
        )
        self.cluster_size.mul_(gamma).add_(counts, alpha=1 - gamma)
        self.code_sum.mul_(gamma).add_(sums, alpha=1 - gamma)
        total = self.cluster_size.sum()
        smoothed = (
            (self.cluster_size + self.epsilon)
            / (total + k * self.epsilon)
            * total
        )
        self.codebook.copy_(self.code_sum / smoothed.unsqueeze(1))

    @torch.no_grad()
    def set_codes(
        self, which: torch.Tensor, vectors: torch.Tensor
    ) -> None:
        """Put codes ``which`` (n,) at vectors (n, D); with ema=True, as a fresh pseudo-count of one."""
        which = torch.as_tensor(which, device=self.codebook.device)
        vectors = vectors.detach().to(self.codebook)
        self.codebook[which] = vectors
        if self.ema:
            self.code_sum[which] = vectors
            self.cluster_size[which] = 1.0

    def load_codebook(self, vectors: torch.Tensor) -> None:
        """Replace the whole codebook by vectors (K, D), e.g. k-means centres of encoder outputs."""
        if not isinstance(vectors, torch.Tensor) or tuple(
            vectors.shape
        ) != (self.num_codes, self.code_dim):
            raise ValueError(
                f"vectors must be ({self.num_codes}, {self.code_dim}), one per code, got "
                f"{describe(vectors)}."
            )
        self.set_codes(
            torch.arange(self.num_codes, device=self.codebook.device),
            vectors,
        )
        self.usage.zero_()

    @torch.no_grad()
    def restart_dead_codes(
        self,
        z_e: torch.Tensor,
        dead: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Move every dead code onto a randomly chosen encoder output; leave the other codes alone.

        z_e: encoder outputs (N, D) or (N, D, H, W), every position a candidate. dead: (K,) bool, the
        codes to restart; None: those with ``usage`` 0, assigned nothing since the last restart.
        generator: for the draw (default: the quantizer's own). The chosen outputs are distinct when
        there are enough. Resets ``usage`` and returns the restarted codes' indices, int64.
        """
        vectors = _as_vectors(_check_z(z_e, self.code_dim).detach())
        if dead is None:
            dead = self.usage == 0
        if (
            not isinstance(dead, torch.Tensor)
            or dead.dtype != torch.bool
            or dead.shape != (self.num_codes,)
        ):
            raise ValueError(
                f"dead must be a bool tensor ({self.num_codes},), got {describe(dead)}."
            )
        which = dead.to(self.codebook.device).nonzero().flatten()
        if len(which):
            chosen = _random_rows(
                vectors, len(which), generator or self.generator
            )
            self.set_codes(which, chosen)
        self.usage.zero_()
        return which


# --- the model --------------------------------------------------------------------------------------------


class VQVAEOutput(NamedTuple):
    """What :class:`VQVAE` returns: reconstruction (N, 1, 28, 28) in [0, 1], codes (N, 7, 7) int64, and the
    two scalar loss terms of :class:`VQOutput`."""

    reconstruction: torch.Tensor
    codes: torch.Tensor
    codebook_loss: torch.Tensor
    commitment_loss: torch.Tensor


class VQVAE(nn.Module):
    """x (N, 1, 28, 28) -> ConvEncoder -> z_e (N, D, 7, 7) -> VectorQuantizer -> decoder -> x̂ (N, 1, 28, 28).

    num_codes: K; code_dim: D, the encoder's code channels; channels: the encoder's (c₁, c₂);
    decoder: "transposed" or "resize" (see :mod:`aecourse.models.conv_autoencoder`); "unpool" is refused,
    since its pooling switches would carry information around the discrete code. beta, ema, decay,
    restart_every, generator: the quantizer's (:class:`VectorQuantizer`).
    forward -> :class:`VQVAEOutput` (reconstruction, codes, codebook_loss, commitment_loss).
    """

    def __init__(
        self,
        num_codes: int = 64,
        code_dim: int = 8,
        channels=(16, 32),
        decoder: str = "transposed",
        beta: float = 0.25,
        *,
        ema: bool = False,
        decay: float = 0.99,
        restart_every: int | None = None,
        generator: torch.Generator | None = None,
    ):
        super().__init__()
        if decoder == "unpool":
            raise ValueError(
                "A VQ-VAE cannot use the 'unpool' decoder: the encoder's pooling switches would reach "
                "the decoder around the discrete code. Use 'transposed' or 'resize'."
            )
        self.encoder = ConvEncoder(channels, code_dim)
        self.quantizer = VectorQuantizer(
            num_codes,
            code_dim,
            beta,
            ema=ema,
            decay=decay,
            restart_every=restart_every,
            generator=generator,
        )
        self.decoder = make_decoder(decoder, channels, code_dim)

    @property
    def num_codes(self) -> int:
        return self.quantizer.num_codes

    @property
    def grid_shape(self) -> tuple[int, int]:
        """The codes of one image: (7, 7)."""
        return (CODE_SIZE, CODE_SIZE)

    @property
    def bits_per_image(self) -> float:
        """49 · log₂ K: the fixed-length rate of the code grid (:func:`aecourse.ops.rate.bits_per_image`)."""
        return bits_per_image(CODE_SIZE * CODE_SIZE, self.num_codes)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """x (N, 1, 28, 28) -> z_e (N, D, 7, 7), the encoder's output before quantization."""
        return self.encoder(check_images(x))

    @torch.no_grad()
    def codes(self, x: torch.Tensor) -> torch.Tensor:
        """x (N, 1, 28, 28) -> codes (N, 7, 7) int64, without gradients and without touching the codebook."""
        return nearest_codes(self.encode(x), self.quantizer.codebook)

    def decode_codes(self, codes: torch.Tensor) -> torch.Tensor:
        """codes (N, 7, 7) integers in 0 .. K−1 -> images (N, 1, 28, 28) in [0, 1]: the decoder's half of
        the model, the second stage of two-stage generation."""
        if (
            not isinstance(codes, torch.Tensor)
            or tuple(codes.shape[1:]) != self.grid_shape
            or codes.dim() != 3
        ):
            raise ValueError(
                f"codes must be a grid (N, {CODE_SIZE}, {CODE_SIZE}), got {describe(codes)}."
            )
        return self.decoder(lookup(codes, self.quantizer.codebook))

    def forward(self, x: torch.Tensor) -> VQVAEOutput:
        q = self.quantizer(self.encode(x))
        return VQVAEOutput(
            self.decoder(q.quantized),
            q.codes,
            q.codebook_loss,
            q.commitment_loss,
        )

    @torch.no_grad()
    def kmeans_init(
        self,
        x: torch.Tensor,
        iterations: int = 20,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Start the codebook at the k-means centres of the encoder's outputs on images x (N, 1, 28, 28).

        Every code then begins where encoder outputs are, so none starts dead (a fix for codebook
        collapse). Returns the new codebook (K, D) and leaves the model in eval mode. Needs N·49 ≥ K.
        """
        self.eval()
        vectors = _as_vectors(self.encode(x))
        centres = kmeans(vectors, self.num_codes, iterations, generator)
        self.quantizer.load_codebook(centres)
        return centres


def vqvae_loss(
    model: VQVAE, x: torch.Tensor, kind: str = "mse"
) -> dict[str, torch.Tensor]:
    """The VQ-VAE objective on images x (N, 1, 28, 28), for :func:`aecourse.training.fit`'s batch hook.

    Returns {"loss": reconstruction + codebook + commitment, "reconstruction", "codebook", "commitment",
    "perplexity"}: the reconstruction loss of kind "mse" or "bce" (:mod:`aecourse.ops.losses`), the two
    terms of :func:`vq_losses`, all per image, and the perplexity of this batch's codes.
    """
    if kind not in KINDS:
        raise ValueError(
            f"Unknown loss kind {kind!r}: expected one of {KINDS}."
        )
    out = model(x)
    reconstruction = reconstruction_loss(out.reconstruction, x, kind)
    return {
        "loss": reconstruction + out.codebook_loss + out.commitment_loss,
        "reconstruction": reconstruction.detach(),
        "codebook": out.codebook_loss.detach(),
        "commitment": out.commitment_loss.detach(),
        "perplexity": perplexity(out.codes, model.num_codes).to(x.dtype),
    }


def train_vqvae(
    model: VQVAE,
    x: torch.Tensor,
    *,
    epochs: int = 10,
    batch_size: int = 128,
    lr: float = 1e-3,
    loss: str = "mse",
    test: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
    progress: bool = True,
    desc: str = "training",
) -> History:
    """Train a VQ-VAE on images x (N, 1, 28, 28) with Adam through :func:`aecourse.training.fit`.

    loss: the reconstruction loss, "mse" or "bce". test: held-out images, evaluated after every epoch
    (in eval mode: the codebook does not move). generator: a CPU generator for the shuffle.
    ``history.train`` holds the whole loss per image; ``history.metrics`` its parts "reconstruction",
    "codebook", "commitment" and the mean batch "perplexity" (also as "test ...").
    """
    if loss not in KINDS:
        raise ValueError(
            f"Unknown loss kind {loss!r}: expected one of {KINDS}."
        )
    return fit(
        model,
        x,
        batch_loss=lambda m, batch: vqvae_loss(m, batch[0], loss),
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        test=test,
        generator=generator,
        progress=progress,
        desc=desc,
    )
