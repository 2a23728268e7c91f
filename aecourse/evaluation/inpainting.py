"""Inpainting: hide a square patch of each image and measure how well it is filled back (the
applications chapter).

A denoising autoencoder trained to undo a *structured* corruption, a missing square rather than scattered
pixels, learns to fill holes from the context around them (the idea behind context encoders, Pathak et
al. 2016). The applications chapter hides one random patch per image with :func:`hide_patch`, lets a
model fill it, scores the result on the hidden pixels only with :func:`patch_error`, and compares with the
simplest baseline, :func:`mean_fill`: the training set's mean image pasted into the hole, and with a
library method that learns nothing, :func:`biharmonic_fill`: scikit-image's biharmonic inpainting,
which continues the pixels around the hole smoothly into it. To train a
model to fill holes, :func:`patch_noise` is the corruption handed to
``aecourse.training.fit(..., noise=...)``.

Images are float tensors (N, C, H, W); masks are bool (N, 1, H, W), True on hidden pixels, the same for
every channel. Random functions take an optional ``torch.Generator``: the same generator state gives the
same patches, and a CPU generator gives the same patches whatever device x is on.
"""

from __future__ import annotations

import torch

from aecourse._args import describe, images, integer


def _check_mask(mask, x: torch.Tensor) -> torch.Tensor:
    n, _, h, w = x.shape
    if (
        not isinstance(mask, torch.Tensor)
        or mask.dtype != torch.bool
        or tuple(mask.shape) != (n, 1, h, w)
    ):
        raise ValueError(
            f"mask must be a bool tensor of shape ({n}, 1, {h}, {w}), got {describe(mask)}."
        )
    return mask


def hide_patch(
    x: torch.Tensor,
    size: int,
    generator: torch.Generator | None = None,
    fill: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Hide one size × size square per image, at a uniformly random position fully inside the image.

    x: (N, C, H, W) floats  ->  (x_hidden, mask): x_hidden a copy of x with the patch set to ``fill`` in
    every channel, mask (N, 1, H, W) bool, True on the size² hidden pixels of each image. The top-left
    corner is drawn uniformly from the (H − size + 1) × (W − size + 1) positions that keep the square
    inside. Raises ValueError if size is not an int in [1, min(H, W)] or x is not (N, C, H, W) floats.
    """
    x = images("x", x)
    n, _, h, w = x.shape
    integer("size", size, 1, min(h, w))
    where = generator.device if generator is not None else x.device
    top = torch.randint(
        0, h - size + 1, (n,), generator=generator, device=where
    ).to(x.device)
    left = torch.randint(
        0, w - size + 1, (n,), generator=generator, device=where
    ).to(x.device)
    rows, cols = (
        torch.arange(h, device=x.device),
        torch.arange(w, device=x.device),
    )
    # (N, H)
    in_rows = (rows >= top[:, None]) & (rows < top[:, None] + size)
    # (N, W)
    in_cols = (cols >= left[:, None]) & (cols < left[:, None] + size)
    # (N, 1, H, W)
    mask = (in_rows[:, :, None] & in_cols[:, None, :])[:, None]
    return x.masked_fill(mask, fill), mask


def patch_noise(
    size: int, generator: torch.Generator | None = None, fill: float = 0.0
):
    """The corruption for training an inpainting autoencoder: ``fit(model, x, noise=patch_noise(8))``.

    Returns noise(xb): (B, C, H, W) floats  ->  the same shape, a copy of xb with one fresh random
    size × size patch per image set to ``fill`` (:func:`hide_patch`, whose mask is dropped). Each call
    draws new patches from ``generator`` (the global one if None), so a seeded generator gives the same
    sequence of patches. Raises ValueError at once if size is not a positive int; size > min(H, W) is
    refused by hide_patch when a batch comes.
    """
    integer("size", size, low=1)

    def noise(xb: torch.Tensor) -> torch.Tensor:
        return hide_patch(xb, size, generator, fill)[0]

    return noise


def patch_error(
    x_true: torch.Tensor,
    x_out: torch.Tensor,
    mask: torch.Tensor,
    per_image: bool = False,
) -> torch.Tensor:
    """Mean squared error over the hidden pixels only (all channels), the rest of the image ignored.

    x_true, x_out: (N, C, H, W); mask: (N, 1, H, W) bool  ->  a scalar tensor, the mean over every hidden
    entry of every image, or with ``per_image`` an (N,) tensor, each image's mean over its own hidden
    entries. Raises ValueError for shapes that differ, a bad mask, or an image with no hidden pixel.
    """
    x_true, x_out = images("x_true", x_true), images("x_out", x_out)
    if x_true.shape != x_out.shape:
        raise ValueError(
            f"x_true and x_out must have the same shape, got {tuple(x_true.shape)} and "
            f"{tuple(x_out.shape)}."
        )
    mask = _check_mask(mask, x_true)
    # hidden entries per image
    counts = mask.flatten(1).sum(1) * x_true.shape[1]
    if bool((counts == 0).any()):
        raise ValueError(
            "Every image must have at least one hidden pixel (mask all False for some image)."
        )
    sums = ((x_out - x_true).pow(2) * mask).flatten(1).sum(1)
    return sums / counts if per_image else sums.sum() / counts.sum()


def mean_fill(
    x_hidden: torch.Tensor, mask: torch.Tensor, mean_image: torch.Tensor
) -> torch.Tensor:
    """The baseline: paste the training set's mean image into each hidden patch, keep the rest.

    x_hidden: (N, C, H, W); mask: (N, 1, H, W) bool; mean_image: (C, H, W) or (1, C, H, W), e.g.
    ``train_x.mean(0)``  ->  (N, C, H, W). Raises ValueError if mean_image does not match one image.
    """
    x_hidden = images("x_hidden", x_hidden)
    mask = _check_mask(mask, x_hidden)
    if (
        not isinstance(mean_image, torch.Tensor)
        or mean_image.shape[-3:] != x_hidden.shape[1:]
        or mean_image.ndim not in (3, 4)
        or (mean_image.ndim == 4 and len(mean_image) != 1)
    ):
        got = (
            tuple(mean_image.shape)
            if isinstance(mean_image, torch.Tensor)
            else type(mean_image).__name__
        )
        raise ValueError(
            f"mean_image must have shape {tuple(x_hidden.shape[1:])} (one image), got {got}."
        )
    mean_image = mean_image.reshape(1, *x_hidden.shape[1:]).to(
        x_hidden.device, x_hidden.dtype
    )
    return torch.where(mask, mean_image, x_hidden)


def biharmonic_fill(
    x_hidden: torch.Tensor, mask: torch.Tensor
) -> torch.Tensor:
    """A library baseline: scikit-image's ``inpaint_biharmonic``, one image at a time.

    Each hidden pixel gets the value of the smoothest surface (a solution of the biharmonic equation)
    that agrees with the visible pixels around the hole: the strokes are continued, but nothing is known
    about digits. x_hidden: (N, C, H, W); mask: (N, 1, H, W) bool, True on hidden pixels  ->  (N, C, H, W)
    on x_hidden's device and dtype, visible pixels unchanged (computed on the CPU in float64; about 2 ms
    per 28 × 28 image with a 10 × 10 hole). Raises ValueError for a bad mask.
    """
    import numpy as np
    from skimage.restoration import inpaint_biharmonic

    x_hidden = images("x_hidden", x_hidden)
    mask = _check_mask(mask, x_hidden)
    pixels = x_hidden.detach().cpu().double().numpy()
    holes = mask.cpu().numpy()[:, 0]
    filled = np.stack(
        [
            inpaint_biharmonic(
                np.moveaxis(image, 0, -1), hole, channel_axis=-1
            )
            for image, hole in zip(pixels, holes)
        ]
    )
    out = torch.from_numpy(np.moveaxis(filled, -1, 1)).to(
        x_hidden.device, x_hidden.dtype
    )
    return torch.where(mask, out, x_hidden)
