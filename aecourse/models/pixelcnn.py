"""PixelCNN: an autoregressive prior over a grid of discrete codes, trained by cross-entropy and sampled
one position at a time (the vector-quantization chapter: the second stage of two-stage generation).

A VQ-VAE turns an image into a grid of codes but gives no way to draw new grids: its codes are not
independent, so drawing each uniformly gives noise. A prior p(c) = Π_i p(c_i | c_1 … c_{i−1}) over
the grid, in raster order (row by row, left to right), does: draw c_1, then c_2 given c_1, and so on,
then decode the grid with the VQ-VAE's decoder. PixelCNN (van den Oord, Kalchbrenner & Kavukcuoglu 2016,
"Pixel Recurrent Neural Networks") computes all the conditionals in one pass of convolutions whose
kernels are *masked* so that no output sees its own position or any later one:

- mask **A** (the first layer) zeroes the kernel at the centre and after it: the output at position i
  sees only positions before i;
- mask **B** (every later layer) keeps the centre: a feature at i may use the feature at i, which
  already depends only on positions before i.

Training is cross-entropy against the grid itself (teacher forcing, all positions at once); sampling
needs one pass per position. The stacked masked convolutions have a blind spot above and to the right
(van den Oord et al. 2016, "Conditional Image Generation with PixelCNN Decoders", fix it with separate
vertical and horizontal stacks); on a 7 × 7 grid of codes it is small, and the plain version is kept
for being readable. The input is one-hot: a first convolution on one-hot vectors is an embedding
followed by a convolution, and a float input lets the tests check causality by gradient.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from aecourse._args import describe, indices, integer
from aecourse.training import History, fit

MASK_TYPES = ("A", "B")


def causal_mask(kernel_size: int, mask_type: str) -> torch.Tensor:
    """The (k, k) 0/1 mask of a masked convolution: 1 on the kernel entries that look at earlier positions.

    Rows above the centre are kept; in the centre row, the entries left of the centre, and the centre
    itself for type "B"; everything below is zeroed. kernel_size: an odd k ≥ 1.
    """
    integer("kernel_size", kernel_size, low=1)
    if kernel_size % 2 == 0:
        raise ValueError(
            f"kernel_size must be odd, so that the kernel has a centre, got {kernel_size}."
        )
    if mask_type not in MASK_TYPES:
        raise ValueError(
            f"mask_type must be one of {MASK_TYPES}, got {mask_type!r}."
        )
    centre = kernel_size // 2
    mask = torch.ones(kernel_size, kernel_size)
    mask[centre, centre + (mask_type == "B") :] = 0
    mask[centre + 1 :] = 0
    return mask


class MaskedConv2d(nn.Conv2d):
    """A k × k convolution with padding k // 2 (same size out) whose kernel is multiplied by
    :func:`causal_mask` on every call. Input (N, C_in, H, W) -> (N, C_out, H, W)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        mask_type: str,
    ):
        mask = causal_mask(kernel_size, mask_type)
        super().__init__(
            in_channels,
            out_channels,
            kernel_size,
            padding=kernel_size // 2,
        )
        self.mask_type = mask_type
        self.register_buffer("mask", mask)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # masked on every call, not once: the optimizer's steps would otherwise refill the zeros
        return F.conv2d(
            x, self.weight * self.mask, self.bias, padding=self.padding
        )


class PixelCNN(nn.Module):
    """An autoregressive prior over (H, W) grids of codes in 0 .. K−1.

    num_codes: K; channels: feature maps of every layer; layers: residual blocks of a ReLU and a 3 × 3
    mask-B convolution after the first, mask-A, layer of size first_kernel (7 in the paper).
    forward: codes (N, H, W) int -> logits (N, K, H, W), where logits[:, :, r, c] depends only on the
    codes before (r, c) in raster order. :meth:`logits` does the same from one-hot (or any float)
    input (N, K, H, W).
    """

    def __init__(
        self,
        num_codes: int,
        channels: int = 64,
        layers: int = 4,
        first_kernel: int = 7,
    ):
        super().__init__()
        self.num_codes = integer("num_codes", num_codes, low=2)
        integer("channels", channels, low=1)
        integer("layers", layers, low=0)
        self.first = MaskedConv2d(num_codes, channels, first_kernel, "A")
        self.blocks = nn.ModuleList(
            MaskedConv2d(channels, channels, 3, "B")
            for _ in range(layers)
        )
        # 1 × 1 convolutions look at one position only, so they need no mask
        self.head = nn.Sequential(
            nn.ReLU(),
            nn.Conv2d(channels, channels, 1),
            nn.ReLU(),
            nn.Conv2d(channels, num_codes, 1),
        )

    def _check_codes(self, codes) -> torch.Tensor:
        if not isinstance(codes, torch.Tensor) or codes.dim() != 3:
            raise ValueError(
                f"codes must be grids (N, H, W) of code indices, got {describe(codes)}."
            )
        indices("codes", codes, "code indices")
        if codes.numel() and (
            codes.min() < 0 or codes.max() >= self.num_codes
        ):
            raise ValueError(
                f"codes must lie in 0 .. {self.num_codes - 1}, got values from {int(codes.min())} "
                f"to {int(codes.max())}."
            )
        return codes

    def logits(self, onehot: torch.Tensor) -> torch.Tensor:
        """onehot (N, K, H, W) float -> logits (N, K, H, W) of p(c_i | earlier codes) at every position."""
        if (
            not isinstance(onehot, torch.Tensor)
            or not onehot.dtype.is_floating_point
            or onehot.dim() != 4
            or onehot.shape[1] != self.num_codes
        ):
            raise ValueError(
                f"onehot must be a float tensor (N, {self.num_codes}, H, W), got {describe(onehot)}."
            )
        h = self.first(onehot)
        for block in self.blocks:
            # residual: adding a mask-B output keeps the mask-A layer's causality
            h = h + block(torch.relu(h))
        return self.head(h)

    def forward(self, codes: torch.Tensor) -> torch.Tensor:
        codes = self._check_codes(codes)
        onehot = F.one_hot(codes.long(), self.num_codes)  # (N, H, W, K)
        dtype = self.first.weight.dtype
        return self.logits(onehot.permute(0, 3, 1, 2).to(dtype))

    def nll(self, codes: torch.Tensor) -> torch.Tensor:
        """−log p(codes) in nats, one value per grid: codes (N, H, W) -> (N,). Divide by ln 2 for bits."""
        return F.cross_entropy(
            self(codes), codes.long(), reduction="none"
        ).sum((1, 2))

    @torch.no_grad()
    def sample(
        self,
        n: int,
        shape: tuple[int, int] = (7, 7),
        generator: torch.Generator | None = None,
        temperature: float = 1.0,
    ) -> torch.Tensor:
        """n grids of codes drawn position by position in raster order: (n, H, W) int64 in 0 .. K−1.

        Each position is drawn from softmax(logits / temperature) given the codes drawn so far (one
        forward pass per position; the positions not drawn yet hold 0, which the masks hide).
        generator: the same generator state gives the same grids (drawn on the generator's device, so a
        CPU generator gives the same grids on any device). Leaves the model in eval mode.
        """
        integer("n", n, low=1)
        if len(shape) != 2:
            raise ValueError(f"shape must be (H, W), got {shape!r}.")
        height, width = (
            integer("shape[0]", shape[0], low=1),
            integer("shape[1]", shape[1], low=1),
        )
        if not temperature > 0:
            raise ValueError(
                f"temperature must be > 0, got {temperature!r}."
            )
        self.eval()
        device = self.first.weight.device
        draw_on = generator.device if generator is not None else device
        codes = torch.zeros(
            n, height, width, dtype=torch.long, device=device
        )
        for r in range(height):
            for c in range(width):
                logits = self(codes)[:, :, r, c] / temperature  # (n, K)
                probs = torch.softmax(logits.double(), 1).to(draw_on)
                codes[:, r, c] = (
                    torch.multinomial(probs, 1, generator=generator)
                    .squeeze(1)
                    .to(device)
                )
        return codes


def prior_loss(
    model: PixelCNN, codes: torch.Tensor
) -> dict[str, torch.Tensor]:
    """The prior's batch loss for :func:`aecourse.training.fit`: codes (N, H, W) ->
    {"loss": mean −log p(codes) in nats per grid, "bits": the same in bits per grid}."""
    nats = model.nll(codes).mean()
    return {"loss": nats, "bits": nats.detach() / math.log(2)}


def train_prior(
    model: PixelCNN,
    codes: torch.Tensor,
    *,
    epochs: int = 10,
    batch_size: int = 128,
    lr: float = 1e-3,
    test: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
    progress: bool = True,
    desc: str = "training the prior",
) -> History:
    """Fit the prior to grids of codes (N, H, W) by cross-entropy with Adam through :func:`aecourse.training.fit`.

    test: held-out grids. ``history.train`` / ``history.test`` hold nats per grid; ``history.metrics``
    "bits" (and "test bits") the same in bits, to set beside the fixed rate H·W·log₂ K.
    """
    model._check_codes(codes)
    return fit(
        model,
        codes,
        batch_loss=lambda m, batch: prior_loss(m, batch[0]),
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        test=test,
        generator=generator,
        progress=progress,
        desc=desc,
    )
