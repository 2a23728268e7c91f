"""Denoising corruptions and the measures and classical filters they are judged by (the denoising chapter).

A denoising autoencoder (Vincent et al., 2008) sees a corrupted x̃ and is trained to give back the clean
x. The denoising chapter uses three corruptions, each with one level:

- :func:`mask`: masking noise, each entry set to 0 with probability ν (the one Vincent et al. used);
- :func:`gaussian`: additive N(0, σ²) noise, clipped back to [0, 1];
- :func:`salt_and_pepper`: each entry with probability ν replaced by 0 or 1, equally often;

and :func:`corrupt` picks one by name. :func:`psnr` measures how close a denoised image is to the clean
one and :func:`psnr_of_set` how close a set of them is, and :func:`median_filter` and :func:`gaussian_filter` are the classical denoisers an autoencoder has
to beat; :func:`best_classical` tunes them on validation images so the comparison is fair to them.

Images are float tensors in [0, 1], (N, ...) for the corruptions and (N, C, H, W) (or any (..., H, W))
for the filters. Every random function takes an optional ``torch.Generator``: the same generator state
gives the same corruption, and a CPU generator gives the same corruption whatever device x is on.
"""

from __future__ import annotations

import math
from numbers import Real

import numpy as np
import scipy.ndimage
import torch

from aecourse._args import probability, to_numpy

KINDS = ("mask", "gaussian", "salt_and_pepper")


def _check_images(x, name: str = "x", min_dims: int = 1) -> torch.Tensor:
    """x itself if it is a floating-point tensor with at least ``min_dims`` dimensions."""
    if not isinstance(x, torch.Tensor):
        raise ValueError(
            f"{name} must be a torch.Tensor, got {type(x).__name__}."
        )
    if not x.dtype.is_floating_point:
        raise ValueError(
            f"{name} must be a floating-point tensor with values in [0, 1], got dtype {x.dtype}."
        )
    if x.ndim < min_dims:
        shape = "(N, ...)" if min_dims == 1 else "(..., H, W)"
        raise ValueError(
            f"{name} must have at least {min_dims} dimension(s) {shape}, got shape {tuple(x.shape)}."
        )
    return x


def _sigma(value, name: str = "sigma") -> float:
    """value as a float if it is a finite real number of at least 0 (bools are not levels)."""
    if (
        not isinstance(value, Real)
        or isinstance(value, bool)
        or not math.isfinite(value)
    ):
        raise ValueError(
            f"{name} must be a finite real number, got {value!r}."
        )
    if value < 0:
        raise ValueError(f"{name} must be at least 0, got {value!r}.")
    return float(value)


def _draw(
    sample, x: torch.Tensor, generator: torch.Generator | None
) -> torch.Tensor:
    """``sample(shape, generator, device, dtype)`` drawn in float32 where the generator lives, moved to x's device.

    Drawing on the generator's device makes a CPU generator give the same corruption on the CPU and on a
    GPU, and drawing in float32 whatever x's dtype makes it the same for float32 and float64 images (and
    keeps probabilities exact enough for half precision, whose uniform numbers have only 8 to 11 bits).
    """
    where = generator.device if generator is not None else x.device
    return sample(
        x.shape, generator=generator, device=where, dtype=torch.float32
    ).to(x.device)


def _uniform(
    x: torch.Tensor, generator: torch.Generator | None
) -> torch.Tensor:
    """Uniform numbers in [0, 1), float32, of x's shape on x's device."""
    return _draw(torch.rand, x, generator)


def _normal(
    x: torch.Tensor, generator: torch.Generator | None
) -> torch.Tensor:
    """Standard normal numbers of x's shape, dtype and device."""
    return _draw(torch.randn, x, generator).to(x.dtype)


# --- corruptions ---------------------------------------------------------------------------------


def mask(
    x: torch.Tensor, nu: float, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Masking noise: set each entry of x to 0 with probability nu, independently.

    x: (N, ...) floats in [0, 1]  ->  same shape, dtype and device; x is not changed. nu = 0 returns a
    copy of x, nu = 1 all zeros. Raises ValueError if nu is outside [0, 1] or x is not a float tensor.
    """
    x, nu = _check_images(x), probability("nu", nu)
    # uniform on [0, 1): P(u < ν) = ν exactly, and ν = 1 drops all
    dropped = _uniform(x, generator) < nu
    return x.masked_fill(dropped, 0.0)


def gaussian(
    x: torch.Tensor,
    sigma: float,
    generator: torch.Generator | None = None,
    clip: bool = True,
) -> torch.Tensor:
    """Additive Gaussian noise: x + ε with ε ~ N(0, sigma²) drawn for each entry independently.

    x: (N, ...) floats in [0, 1]  ->  same shape, dtype and device. With clip (the default) the result is
    clipped to [0, 1] so that it is an image again; clipping pulls the noise of dark and bright pixels
    towards zero, so its mean and spread are those of N(0, σ²) only before clipping.
    Raises ValueError if sigma is negative or not finite, or x is not a float tensor.
    """
    x, sigma = _check_images(x), _sigma(sigma)
    noisy = x + sigma * _normal(x, generator)
    return noisy.clamp(0.0, 1.0) if clip else noisy


def salt_and_pepper(
    x: torch.Tensor, nu: float, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Salt-and-pepper noise: each entry with probability nu replaced by 0 or 1, each with probability 1/2.

    x: (N, ...) floats in [0, 1]  ->  same shape, dtype and device. So an entry becomes 0 (pepper) with
    probability ν/2, 1 (salt) with probability ν/2, and stays as it was otherwise (an entry that already
    was 0 or 1 may be "replaced" by the same value). Raises ValueError if nu is outside [0, 1].
    """
    x, nu = _check_images(x), probability("nu", nu)
    # One uniform number per entry decides both whether it is hit and by what: [0, ν/2) is pepper,
    # [ν/2, ν) salt, [ν, 1) untouched.
    u = _uniform(x, generator)
    out = x.masked_fill(u < nu / 2, 0.0)
    return out.masked_fill((u >= nu / 2) & (u < nu), 1.0)


CORRUPTIONS = {
    "mask": mask,
    "gaussian": gaussian,
    "salt_and_pepper": salt_and_pepper,
}


def corrupt(
    x: torch.Tensor,
    kind: str,
    level: float,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Corrupt x with the corruption named ``kind`` at ``level``: ν for "mask" and "salt_and_pepper",
    σ for "gaussian" (clipped to [0, 1]).

    x: (N, ...) floats in [0, 1]  ->  same shape. Raises ValueError for a kind not in KINDS or a bad level.
    """
    if kind not in CORRUPTIONS:
        raise ValueError(
            f"Unknown corruption {kind!r}: expected one of {KINDS}."
        )
    return CORRUPTIONS[kind](x, level, generator=generator)


# --- measuring -----------------------------------------------------------------------------------


def _mse_per_image(
    x_hat: torch.Tensor, x: torch.Tensor, max_value: float
) -> torch.Tensor:
    """(N,): the mean of (x̂ − x)² over all entries of each image, after checking the arguments."""
    _check_images(x_hat, "x_hat"), _check_images(x, "x")
    if x_hat.shape != x.shape:
        raise ValueError(
            f"x_hat and x must have the same shape, got {tuple(x_hat.shape)} and {tuple(x.shape)}."
        )
    if (
        not isinstance(max_value, Real)
        or isinstance(max_value, bool)
        or not 0 < max_value < math.inf
    ):
        raise ValueError(
            f"max_value must be a positive number (1 for images in [0, 1]), got {max_value!r}."
        )
    return (x_hat - x).pow(2).reshape(len(x), -1).mean(1)


def psnr(
    x_hat: torch.Tensor, x: torch.Tensor, max_value: float = 1.0
) -> torch.Tensor:
    """Peak signal-to-noise ratio of each image in decibels: 10·log10(max_value² / MSE).

    x_hat, x: (N, ...) of the same shape  ->  (N,). MSE is the mean of (x̂ − x)² over all entries of one
    image, as scikit-image's ``peak_signal_noise_ratio`` computes it with ``data_range=max_value``
    (max_value = 1 for images in [0, 1], 255 for 8-bit pixels). Higher is better; +10 dB is a tenfold
    smaller MSE. An image reconstructed exactly has MSE 0 and PSNR +inf.

    Do not average these values to summarise a set of images: one image left untouched (at weak noise,
    a few test digits receive no corruption at all) has PSNR +inf and makes the mean +inf. Use
    :func:`psnr_of_set`, the PSNR of the mean MSE, which stays finite.
    Raises ValueError for shapes that differ, non-float tensors or a max_value that is not positive.
    """
    mse = _mse_per_image(x_hat, x, max_value)
    # max²/0 = +inf and log10(+inf) = +inf: an exact reconstruction gets +inf without a warning.
    return 10 * torch.log10(max_value**2 / mse)


def psnr_of_set(
    x_hat: torch.Tensor, x: torch.Tensor, max_value: float = 1.0
) -> torch.Tensor:
    """The PSNR of a set of images: 10·log10(max_value² / mean MSE), the MSE of each image averaged
    over the set first.

    x_hat, x: (N, ...) of the same shape  ->  scalar tensor (dB). This is how the denoising chapter
    summarises a test set. Unlike the mean of the per-image :func:`psnr`, it is finite whenever some
    image differs at all: an image reconstructed exactly adds 0 to the mean MSE instead of +inf to a mean
    of decibels. It is never above that mean (log is concave), and weights the worst images more.
    Raises ValueError as :func:`psnr` does.
    """
    mse = _mse_per_image(x_hat, x, max_value).mean()
    return 10 * torch.log10(max_value**2 / mse)


# --- classical denoisers -------------------------------------------------------------------------


def _plane_only(x: torch.Tensor, value, identity) -> tuple:
    """A per-axis size or sigma for scipy.ndimage: ``identity`` along the leading axes, ``value`` on H, W.

    A size of 1 or a sigma of 0 along the batch and channel axes means neighbouring images and channels
    are never mixed: each (H, W) plane is filtered on its own.
    """
    return (identity,) * (x.ndim - 2) + (value, value)


def _to_numpy(x: torch.Tensor) -> np.ndarray:
    # SciPy has no half precision: float64 stays float64, every other float dtype is filtered in float32.
    return to_numpy(
        x, np.float64 if x.dtype == torch.float64 else np.float32
    )


def _like(array: np.ndarray, x: torch.Tensor) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(array)).to(
        device=x.device, dtype=x.dtype
    )


def median_filter(x: torch.Tensor, size: int = 3) -> torch.Tensor:
    """Replace each pixel by the median of the size × size window around it, image by image.

    x: (N, C, H, W), or any (..., H, W)  ->  same shape, dtype and device (computed on the CPU by
    ``scipy.ndimage.median_filter``; edges are mirrored, SciPy's default ``mode="reflect"``). The classical
    answer to salt-and-pepper noise: an isolated 0 or 1 is never the median of its window.
    Raises ValueError if size is not an odd int ≥ 1 (an even window has no centre pixel) or x is not a
    float tensor with at least 2 dimensions.
    """
    x = _check_images(x, min_dims=2)
    if (
        not isinstance(size, int)
        or isinstance(size, bool)
        or size < 1
        or size % 2 == 0
    ):
        raise ValueError(
            f"size must be an odd int ≥ 1 (3, 5, ...), got {size!r}."
        )
    return _like(
        scipy.ndimage.median_filter(
            _to_numpy(x), size=_plane_only(x, size, 1)
        ),
        x,
    )


def gaussian_filter(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Blur each image with a Gaussian kernel of standard deviation sigma pixels.

    x: (N, C, H, W), or any (..., H, W)  ->  same shape, dtype and device (computed on the CPU by
    ``scipy.ndimage.gaussian_filter``: kernel truncated at 4σ, edges mirrored with ``mode="reflect"``).
    sigma = 0 returns x unchanged. The classical answer to Gaussian noise: averaging k pixels divides the
    noise variance by up to k, at the price of blurring edges.
    Raises ValueError if sigma is negative or not finite, or x is not a float tensor with at least 2
    dimensions.
    """
    x, sigma = _check_images(x, min_dims=2), _sigma(sigma)
    return _like(
        scipy.ndimage.gaussian_filter(
            _to_numpy(x), sigma=_plane_only(x, sigma, 0.0)
        ),
        x,
    )


FILTERS = {"median": median_filter, "gaussian": gaussian_filter}


def classical_candidates(
    sizes=(3, 5, 7), sigmas=(0.5, 0.75, 1.0, 1.5, 2.0)
) -> list[tuple[str, dict]]:
    """The (name, params) pairs :func:`best_classical` tries: a median filter for each size, then a
    Gaussian filter for each sigma. ``FILTERS[name](x, **params)`` applies one."""
    return [("median", {"size": s}) for s in sizes] + [
        ("gaussian", {"sigma": s}) for s in sigmas
    ]


def best_classical(
    x_noisy: torch.Tensor,
    x_clean: torch.Tensor,
    sizes=(3, 5, 7),
    sigmas=(0.5, 0.75, 1.0, 1.5, 2.0),
) -> tuple[str, dict, torch.Tensor]:
    """The classical filter that denoises x_noisy best: the highest :func:`psnr_of_set` against x_clean.

    x_noisy, x_clean: (N, C, H, W), or any (..., H, W) with N images first  ->  (name, params, denoised)
    with name "median" or "gaussian", params {"size": s} or {"sigma": σ}, and denoised = the chosen
    filter applied to x_noisy, shape of x_noisy. Tries every candidate of :func:`classical_candidates`
    (median sizes, then Gaussian sigmas); on a tie the first in that order wins.

    Tune on validation images, never on the test images the autoencoder is compared on, then apply
    ``FILTERS[name](x_test_noisy, **params)`` to the test images: the baseline gets its best shot and
    the comparison stays fair. Raises ValueError if the shapes differ or there is nothing to try.
    """
    (
        _check_images(x_noisy, "x_noisy", min_dims=2),
        _check_images(x_clean, "x_clean", min_dims=2),
    )
    if x_noisy.shape != x_clean.shape:
        raise ValueError(
            f"x_noisy and x_clean must have the same shape, got {tuple(x_noisy.shape)} and "
            f"{tuple(x_clean.shape)}."
        )
    candidates = classical_candidates(sizes, sigmas)
    if not candidates:
        raise ValueError(
            "Nothing to try: give at least one median size or one Gaussian sigma."
        )
    best = None
    for name, params in candidates:
        denoised = FILTERS[name](x_noisy, **params)
        score = psnr_of_set(denoised, x_clean).item()
        if (
            best is None or score > best[0]
        ):  # strictly better: ties keep the earlier candidate
            best = (score, name, params, denoised)
    return best[1:]
