"""MNIST-rotation, generated reproducibly: digits turned by a random angle (the pretraining chapter).

The pretraining chapter leans on this module for its second data set. Larochelle et al. (2007) built
MNIST-rotation by turning each MNIST digit by an angle drawn uniformly in [0, 2π): the classes stay the
same but every class now comes in every orientation, a factor of variation a classifier must learn to
ignore. We regenerate it rather than download it: :func:`rotated_mnist` draws the angles from a
``torch.Generator`` seeded with ``seed`` on the CPU, so the same seed gives the same data set on any
machine and device.

:func:`rotate` turns images with bilinear interpolation (``torch.nn.functional.affine_grid`` and
``grid_sample``); pixels that come from outside the frame are black (zero padding). A positive angle turns
the picture **counter-clockwise as displayed** (row 0 at the top, as ``plt.imshow`` shows it), the same
direction as ``torch.rot90(images, 1, dims=(-2, -1))``, which a quarter turn reproduces.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

# _args.images, not images: here that name is the argument the check is applied to.
from aecourse import _args


def rotate(
    images: torch.Tensor, angles, batch_size: int = 4096
) -> torch.Tensor:
    """Turn each image about its centre by its angle, in radians, counter-clockwise as displayed.

    images: (N, C, H, W) floats; angles: (N,) one per image, or a single number for all  ->  (N, C, H, W)
    of the same dtype and device. Bilinear interpolation, black (zero) outside the frame, pixel centres
    as in ``align_corners=False`` (so the centre of the frame, not of pixel (0, 0), is fixed). An angle of 0
    (or 2π) gives the image back up to rounding; π/2 gives ``torch.rot90(images, 1, dims=(-2, -1))`` for a
    square image. Corners leave the frame at angles that are not multiples of π/2 and are lost.
    Works in batches of ``batch_size`` images, to bound the memory of the sampling grid.
    Raises ValueError for images that are not (N, C, H, W) floats or angles of the wrong shape.
    """
    images = _args.images("images", images)
    n, _, height, width = images.shape
    angles = torch.as_tensor(angles, dtype=torch.float64)
    if angles.dim() == 0:
        angles = angles.expand(n)
    if angles.shape != (n,):
        raise ValueError(
            f"angles must be one number or one per image, shape ({n},); got {tuple(angles.shape)}."
        )
    if not torch.isfinite(angles).all():
        raise ValueError("angles must be finite numbers of radians.")
    # affine_grid maps each *output* pixel to the point of the input it samples. To turn the picture by +θ
    # (counter-clockwise on screen, where y points down) an output pixel at u samples the input at R u, with
    # R = [[cos θ, -sin θ], [sin θ, cos θ]] in pixel units. The grid works in coordinates normalised to
    # [-1, 1] along each side, so a non-square frame needs the aspect ratio around R (S⁻¹ R S).
    cos, sin = torch.cos(angles), torch.sin(angles)
    zero = torch.zeros_like(cos)
    # (N, 2, 3); cos and sin taken in float64
    theta = torch.stack(
        [
            torch.stack([cos, -sin * height / width, zero], dim=1),
            torch.stack([sin * width / height, cos, zero], dim=1),
        ],
        dim=1,
    ).to(device=images.device, dtype=images.dtype)
    out = []
    for start in range(0, n, batch_size):
        chunk, th = (
            images[start : start + batch_size],
            theta[start : start + batch_size],
        )
        grid = F.affine_grid(th, list(chunk.shape), align_corners=False)
        out.append(
            F.grid_sample(
                chunk,
                grid,
                mode="bilinear",
                padding_mode="zeros",
                align_corners=False,
            )
        )
    return torch.cat(out) if out else images.clone()


def random_angles(n: int, seed: int) -> torch.Tensor:
    """n angles drawn uniformly in [0, 2π) from a CPU ``torch.Generator`` seeded with seed: (n,) float32.

    The same (n, seed) gives the same angles on every machine, whatever device they are used on later.
    """
    if not isinstance(n, int) or n < 0:
        raise ValueError(f"n must be a number of angles >= 0, got {n!r}.")
    _args.integer("seed", seed)
    generator = torch.Generator(device="cpu").manual_seed(seed)
    # rand is in [0, 1), so angles are in [0, 2π)
    return torch.rand(n, generator=generator) * (2 * math.pi)


def rotated_mnist(
    images: torch.Tensor, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """MNIST-rotation from MNIST images: each one turned by its own angle, uniform in [0, 2π).

    images: (N, 1, 28, 28) (any (N, C, H, W) works) in [0, 1]  ->  (rotated (N, C, H, W) on images' device,
    angles (N,) float32 in radians on the same device). The angles come from :func:`random_angles` with
    ``seed``, so the data set is a function of the images and the seed alone. Labels are unchanged: pass
    the same labels along. Use different seeds for the training and the test images.
    """
    images = _args.images("images", images)
    angles = random_angles(len(images), seed).to(images.device)
    return rotate(images, angles), angles
