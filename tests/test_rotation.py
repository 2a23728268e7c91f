"""aecourse.data.rotation: rotations checked against exact pixel moves (torch.rot90, flips), MNIST-rotation's seed.

A quarter or half turn of a square image maps pixel centres onto pixel centres, so bilinear interpolation
must reproduce torch.rot90 up to float rounding; that pins both the geometry and the direction.
"""

from __future__ import annotations

import math

import pytest
import torch

from aecourse.data.rotation import random_angles, rotate, rotated_mnist

ATOL = 1e-5  # float32 rounding of the sampling grid, far below one grey level (1/255)


@pytest.fixture
def images():
    return torch.rand(
        3, 1, 28, 28, generator=torch.Generator().manual_seed(0)
    )


def blob(size: int = 28, sigma: float = 4.0) -> torch.Tensor:
    """A smooth centred Gaussian bump in a (1, 1, size, size) image: bilinear interpolation is nearly exact on it."""
    r = torch.arange(size, dtype=torch.float32) - (size - 1) / 2
    return torch.exp(
        -(r[:, None] ** 2 + r[None, :] ** 2) / (2 * sigma**2)
    )[None, None]


def test_rotating_by_zero_and_by_a_full_turn_gives_the_image_back(images):
    assert torch.allclose(rotate(images, 0.0), images, atol=ATOL)
    assert torch.allclose(rotate(images, 2 * math.pi), images, atol=1e-4)
    assert (
        rotate(images, 0.0).shape == images.shape
        and rotate(images, 0.0).dtype == images.dtype
    )


def test_a_quarter_turn_is_rot90_counter_clockwise(images):
    turned = rotate(images, math.pi / 2)
    assert torch.allclose(
        turned, torch.rot90(images, 1, dims=(-2, -1)), atol=ATOL
    )
    # not clockwise
    assert not torch.allclose(
        turned, torch.rot90(images, -1, dims=(-2, -1)), atol=0.1
    )
    assert torch.allclose(
        rotate(images, -math.pi / 2),
        torch.rot90(images, -1, dims=(-2, -1)),
        atol=ATOL,
    )
    assert torch.allclose(
        rotate(images, math.pi), images.flip(-2, -1), atol=ATOL
    )


def test_direction_on_screen_a_pixel_right_of_centre_moves_up():
    """Row 0 is the top of the picture, as imshow shows it: counter-clockwise takes 'right' to 'up'."""
    x = torch.zeros(1, 1, 29, 29)
    x[0, 0, 14, 20] = 1.0  # 6 pixels right of the centre (14, 14)
    turned = rotate(x, math.pi / 2)[0, 0]
    # 6 pixels above it
    assert turned[8, 14] == pytest.approx(1.0, abs=ATOL)
    assert turned.sum() == pytest.approx(1.0, abs=1e-4)


def test_non_square_images_keep_their_geometry():
    """The aspect ratio is taken into account: a quarter turn moves a pixel by whole pixels, not stretched."""
    x = torch.zeros(1, 1, 21, 31)
    x[0, 0, 10, 19] = 1.0  # centre is (10, 15): 4 pixels to the right
    turned = rotate(x, math.pi / 2)[0, 0]
    assert turned[6, 15] == pytest.approx(1.0, abs=ATOL)
    assert turned.sum() == pytest.approx(1.0, abs=1e-4)


def test_each_image_gets_its_own_angle(images):
    turned = rotate(images, torch.tensor([0.0, math.pi / 2, math.pi]))
    assert torch.allclose(turned[0], images[0], atol=ATOL)
    assert torch.allclose(
        turned[1], torch.rot90(images[1], 1, dims=(-2, -1)), atol=ATOL
    )
    assert torch.allclose(turned[2], images[2].flip(-2, -1), atol=ATOL)


def test_batches_give_the_same_result_as_one_pass(images):
    angles = torch.tensor([0.3, 1.7, 4.0])
    assert torch.equal(
        rotate(images, angles, batch_size=2), rotate(images, angles)
    )


def test_rotations_compose_and_pad_with_zeros():
    b = blob()
    assert torch.allclose(
        rotate(rotate(b, 0.4), 0.9), rotate(b, 1.3), atol=0.02
    )
    # a round bump looks the same at any angle
    assert torch.allclose(rotate(b, 1.0), b, atol=0.02)
    ones = torch.ones(1, 1, 28, 28)
    turned = rotate(ones, math.pi / 4)[0, 0]
    # corners come from outside the frame: black
    assert turned[0, 0] == 0 and turned[-1, -1] == 0
    assert turned[14, 14] == pytest.approx(1.0)
    # bilinear: a convex mix of pixels and zeros
    assert turned.min() >= 0 and turned.max() <= 1 + 1e-6


def test_rotate_rejects_bad_input(images):
    with pytest.raises(
        ValueError,
        match=r"images must be a float tensor of images \(N, C, H, W\)",
    ):
        rotate(images[0], 1.0)
    with pytest.raises(
        ValueError,
        match=r"images must be a float tensor .* dtype torch\.uint8",
    ):
        rotate(torch.zeros(2, 1, 4, 4, dtype=torch.uint8), 1.0)
    with pytest.raises(ValueError, match="one per image"):
        rotate(images, torch.zeros(2))
    with pytest.raises(ValueError, match="finite"):
        rotate(images, float("nan"))


def test_rotated_mnist_is_a_function_of_the_images_and_the_seed(images):
    a, angles_a = rotated_mnist(images, seed=3)
    b, angles_b = rotated_mnist(images, seed=3)
    c, angles_c = rotated_mnist(images, seed=4)
    assert torch.equal(a, b) and torch.equal(angles_a, angles_b)
    assert not torch.equal(angles_a, angles_c)
    assert torch.equal(a, rotate(images, angles_a))
    assert angles_a.shape == (3,) and angles_a.dtype == torch.float32
    # Pinned: if PyTorch's CPU generator ever changed, the data set would change, and this says so.
    assert random_angles(3, seed=0).tolist() == pytest.approx(
        [3.118072, 4.826880, 0.555920], abs=1e-5
    )


def test_angles_are_uniform_on_zero_to_two_pi():
    n = 200_000
    angles = random_angles(n, seed=0).double()
    assert angles.min() >= 0 and angles.max() < 2 * math.pi
    # the uniform's sd is width/√12
    sd_of_mean = (2 * math.pi / math.sqrt(12)) / math.sqrt(n)
    assert abs(angles.mean().item() - math.pi) < 5 * sd_of_mean
    # each eighth of the circle ≈ 1/8
    counts = torch.histc(angles, bins=8, min=0, max=2 * math.pi) / n
    assert torch.allclose(
        counts,
        torch.full((8,), 1 / 8, dtype=counts.dtype),
        atol=5 * math.sqrt(1 / 8 * 7 / 8 / n),
    )


def test_random_angles_rejects_bad_arguments():
    with pytest.raises(ValueError, match="seed"):
        random_angles(3, seed=1.5)
    with pytest.raises(ValueError, match="n must"):
        random_angles(-1, seed=0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_the_same_seed_gives_the_same_data_set_on_the_gpu(images):
    cpu, angles = rotated_mnist(images, seed=7)
    gpu, angles_gpu = rotated_mnist(images.cuda(), seed=7)
    assert torch.equal(angles_gpu.cpu(), angles)
    assert torch.allclose(gpu.cpu(), cpu, atol=ATOL)
