"""aecourse.ops.corruptions: noise statistics, reproducibility, PSNR and the classical filters against SciPy.

Rates of corrupted entries are checked against the binomial distribution: with n entries each hit with
probability p, the observed rate has standard deviation sqrt(p(1 − p)/n), and we allow 5 of them (a
false alarm about once in 3.5 million runs). The generators are seeded, so every run is the same anyway.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.ndimage
import torch

from aecourse.ops.corruptions import (
    FILTERS,
    KINDS,
    best_classical,
    classical_candidates,
    corrupt,
    gaussian,
    gaussian_filter,
    mask,
    median_filter,
    psnr,
    psnr_of_set,
    salt_and_pepper,
)

N_SIGMA = 5


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def binomial_tolerance(p: float, n: int) -> float:
    return N_SIGMA * math.sqrt(p * (1 - p) / n)


def nonzero_images(shape=(200, 1, 28, 28), seed: int = 1) -> torch.Tensor:
    """Values in [0.05, 1): no entry is 0 or 1 before corruption, so every 0 or 1 afterwards is noise."""
    return 0.05 + 0.95 * torch.rand(shape, generator=gen(seed))


def blocks(n: int = 12, size: int = 28, seed: int = 2) -> torch.Tensor:
    """(n, 1, size, size) images of a few bright rectangles on black: flat regions and sharp edges."""
    g = gen(seed)
    x = torch.zeros(n, 1, size, size)
    for i in range(n):
        for _ in range(3):
            r, c = torch.randint(0, size - 8, (2,), generator=g).tolist()
            h, w = torch.randint(4, 9, (2,), generator=g).tolist()
            x[i, 0, r : r + h, c : c + w] = 0.5 + 0.5 * torch.rand(
                (), generator=g
            )
    return x


# --- mask ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("nu", [0.1, 0.25, 0.5, 0.9])
def test_mask_zeroes_a_fraction_nu_and_keeps_the_rest(nu):
    x = nonzero_images()
    out = mask(x, nu, generator=gen(3))
    zero = out == 0
    assert abs(zero.double().mean().item() - nu) < binomial_tolerance(
        nu, x.numel()
    )
    # what is not masked is untouched
    assert torch.equal(out[~zero], x[~zero])


def test_mask_hits_every_image_at_about_the_same_rate():
    # Entries are masked independently: no image is spared or wiped out as a whole.
    x, nu = nonzero_images(), 0.3
    rates = (
        (mask(x, nu, generator=gen(4)) == 0).double().flatten(1).mean(1)
    )
    assert (rates - nu).abs().max().item() < binomial_tolerance(nu, 784)


def test_mask_extreme_levels():
    x = nonzero_images((4, 9))
    assert torch.equal(mask(x, 0.0), x)
    assert torch.equal(mask(x, 1), torch.zeros_like(x))


# --- salt and pepper -----------------------------------------------------------------------------


@pytest.mark.parametrize("nu", [0.1, 0.4, 1.0])
def test_salt_and_pepper_proportions(nu):
    x = torch.full((100, 1, 28, 28), 0.5)
    out = salt_and_pepper(x, nu, generator=gen(5))
    n = x.numel()
    for value, p in ((0.0, nu / 2), (1.0, nu / 2), (0.5, 1 - nu)):
        rate = (out == value).double().mean().item()
        assert abs(rate - p) <= binomial_tolerance(p, n) + 1e-12, (
            value,
            rate,
            p,
        )
    assert ((out == 0) | (out == 1) | (out == 0.5)).all()


def test_salt_and_pepper_leaves_the_rest_untouched():
    x = nonzero_images()
    out = salt_and_pepper(x, 0.2, generator=gen(6))
    hit = (out == 0) | (out == 1)
    assert torch.equal(out[~hit], x[~hit])
    assert torch.equal(salt_and_pepper(x, 0.0), x)


# --- gaussian ------------------------------------------------------------------------------------


@pytest.mark.parametrize("sigma", [0.1, 0.5])
def test_gaussian_noise_has_mean_zero_and_std_sigma_before_clipping(
    sigma,
):
    x = torch.full((100, 1, 28, 28), 0.5, dtype=torch.float64)
    noise = gaussian(x, sigma, generator=gen(7), clip=False) - x
    n = noise.numel()
    assert abs(noise.mean().item()) < N_SIGMA * sigma / math.sqrt(n)
    # std of a sample std
    assert abs(noise.std().item() - sigma) < N_SIGMA * sigma / math.sqrt(
        2 * n
    )
    if (
        sigma == 0.5
    ):  # the wide noise does leave [0, 1]: it is the clipping that keeps images images
        assert noise.min() < -0.5 and noise.max() > 0.5


def test_gaussian_clipping_is_the_clamp_of_the_same_noise():
    x = nonzero_images((20, 50))
    raw = gaussian(x, 0.4, generator=gen(8), clip=False)
    clipped = gaussian(x, 0.4, generator=gen(8))
    assert raw.min() < 0 and raw.max() > 1
    assert torch.equal(clipped, raw.clamp(0, 1))
    assert torch.equal(gaussian(x, 0.0), x)


# --- all corruptions -----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_same_generator_state_same_corruption(kind):
    x = nonzero_images((8, 1, 28, 28))
    first, again = (
        corrupt(x, kind, 0.3, generator=gen(9)),
        corrupt(x, kind, 0.3, generator=gen(9)),
    )
    assert torch.equal(first, again)
    assert not torch.equal(
        first, corrupt(x, kind, 0.3, generator=gen(10))
    )
    # The generator, not the global random state, decides.
    torch.manual_seed(123)
    assert torch.equal(corrupt(x, kind, 0.3, generator=gen(9)), first)


@pytest.mark.parametrize("kind", KINDS)
def test_the_same_generator_state_corrupts_float32_and_float64_alike(
    kind,
):
    x = nonzero_images((4, 1, 28, 28), seed=24)
    single = corrupt(x, kind, 0.3, generator=gen(25))
    double = corrupt(x.double(), kind, 0.3, generator=gen(25))
    assert double.dtype == torch.float64
    torch.testing.assert_close(double.float(), single)


def test_masking_rate_is_right_in_half_precision():
    # bfloat16's own uniform numbers have a step of 1/256: u < 0.002 would then hit about twice as often.
    x = nonzero_images().to(torch.bfloat16)
    rate = (mask(x, 0.002, generator=gen(26)) == 0).double().mean().item()
    assert abs(rate - 0.002) < binomial_tolerance(0.002, x.numel())


@pytest.mark.parametrize("kind", KINDS)
def test_without_a_generator_the_global_seed_decides(kind):
    x = nonzero_images((4, 30))
    torch.manual_seed(11)
    first = corrupt(x, kind, 0.3)
    torch.manual_seed(11)
    assert torch.equal(corrupt(x, kind, 0.3), first)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    "shape,dtype",
    [
        ((5,), torch.float32),
        ((3, 784), torch.float64),
        ((2, 1, 28, 28), torch.float32),
        ((2, 3, 4, 5), torch.float16),
    ],
)
def test_corruptions_keep_shape_dtype_and_input(kind, shape, dtype):
    x = nonzero_images(shape).to(dtype)
    before = x.clone()
    out = corrupt(x, kind, 0.3, generator=gen(12))
    assert (
        out.shape == x.shape
        and out.dtype == dtype
        and out.device == x.device
    )
    # the clean images are not corrupted in place
    assert torch.equal(x, before)
    assert out.min() >= 0 and out.max() <= 1


def test_corrupt_dispatches_to_the_named_corruption():
    x = nonzero_images((6, 40))
    assert torch.equal(
        corrupt(x, "mask", 0.2, gen(13)), mask(x, 0.2, gen(13))
    )
    assert torch.equal(
        corrupt(x, "gaussian", 0.2, gen(13)), gaussian(x, 0.2, gen(13))
    )
    assert torch.equal(
        corrupt(x, "salt_and_pepper", 0.2, gen(13)),
        salt_and_pepper(x, 0.2, gen(13)),
    )


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
@pytest.mark.parametrize("kind", KINDS)
def test_a_cpu_generator_gives_the_same_corruption_on_the_gpu(kind):
    x = nonzero_images((4, 1, 28, 28))
    on_cpu = corrupt(x, kind, 0.3, generator=gen(14))
    on_gpu = corrupt(x.cuda(), kind, 0.3, generator=gen(14))
    assert on_gpu.is_cuda
    torch.testing.assert_close(on_gpu.cpu(), on_cpu)


@pytest.mark.parametrize(
    "fn,level,message",
    [
        (mask, -0.1, r"nu must be a number in \[0, 1\], got -0\.1"),
        (mask, 1.5, r"nu must be a number in \[0, 1\], got 1\.5"),
        (mask, float("nan"), r"nu must be a number in \[0, 1\], got nan"),
        (mask, True, r"nu must be a number in \[0, 1\], got True"),
        (mask, "0.3", r"nu must be a number in \[0, 1\], got '0\.3'"),
        (salt_and_pepper, 2, r"nu must be a number in \[0, 1\], got 2"),
        (gaussian, -0.5, r"sigma must be at least 0, got -0\.5"),
        (
            gaussian,
            float("inf"),
            r"sigma must be a finite real number, got inf",
        ),
    ],
)
def test_bad_levels_are_refused(fn, level, message):
    with pytest.raises(ValueError, match=message):
        fn(torch.rand(2, 3), level)


def test_bad_kinds_and_inputs_are_refused():
    with pytest.raises(
        ValueError,
        match=r"Unknown corruption 'blur': expected one of \('mask', 'gaussian', "
        r"'salt_and_pepper'\)",
    ):
        corrupt(torch.rand(2, 3), "blur", 0.1)
    with pytest.raises(
        ValueError,
        match=r"x must be a floating-point tensor with values in \[0, 1\], got dtype "
        r"torch\.uint8",
    ):
        mask(torch.zeros(2, 3, dtype=torch.uint8), 0.1)
    with pytest.raises(
        ValueError, match=r"x must be a torch\.Tensor, got list"
    ):
        gaussian([0.5, 0.5], 0.1)


# --- psnr ----------------------------------------------------------------------------------------


def test_psnr_by_hand():
    x = torch.zeros(3, 4, dtype=torch.float64)
    x_hat = torch.tensor(
        # MSE 1e-4: 40 dB
        [
            [0.1, 0.1, 0.1, 0.1],  # MSE 0.01: 10·log10(1/0.01) = 20 dB
            [0.1, -0.1, 0.2, 0.0],  # MSE (0.01 + 0.01 + 0.04)/4 = 0.015
            [0.01, 0.01, 0.01, 0.01],
        ],
        dtype=torch.float64,
    )
    got = psnr(x_hat, x)
    assert got.shape == (3,)
    torch.testing.assert_close(
        got,
        torch.tensor(
            [20.0, 10 * math.log10(1 / 0.015), 40.0], dtype=torch.float64
        ),
    )
    assert abs(got[1].item() - 18.2391) < 1e-4
    # 8-bit pixels: the same relative error with max_value = 255 gives the same PSNR.
    torch.testing.assert_close(
        psnr(255 * x_hat, 255 * x, max_value=255), got
    )


def test_psnr_matches_the_numpy_formula_per_image():
    g = gen(15)
    x = torch.rand(6, 1, 28, 28, generator=g, dtype=torch.float64)
    x_hat = (
        x + 0.1 * torch.randn(x.shape, generator=g, dtype=torch.float64)
    ).clamp(0, 1)
    a, b = x_hat.numpy(), x.numpy()
    expected = [
        10 * np.log10(1.0 / np.mean((a[i] - b[i]) ** 2))
        for i in range(len(a))
    ]
    np.testing.assert_allclose(
        psnr(x_hat, x).numpy(), expected, rtol=1e-12
    )


def test_psnr_of_an_exact_reconstruction_is_infinite():
    x = torch.rand(3, 5)
    x_hat = x.clone()
    x_hat[1] += 0.1
    got = psnr(x_hat, x)
    assert got[0].item() == math.inf and got[2].item() == math.inf
    assert math.isfinite(got[1].item())
    assert not got.isnan().any()


def test_psnr_of_set_by_hand():
    x = torch.zeros(3, 4, dtype=torch.float64)
    x_hat = torch.tensor(
        [
            [0.1, 0.1, 0.1, 0.1],  # MSE 0.01
            [0.1, -0.1, 0.2, 0.0],  # MSE 0.015
            [0.0, 0.0, 0.0, 0.0],  # untouched: MSE 0, PSNR +inf
        ],
        dtype=torch.float64,
    )
    got = psnr_of_set(x_hat, x)
    assert got.shape == ()
    # mean MSE (0.01 + 0.015 + 0) / 3
    assert got.item() == pytest.approx(10 * math.log10(3 / 0.025))
    # the mean of the per-image values is +inf: that is what it avoids
    assert psnr(x_hat, x).mean().item() == math.inf
    # never above the mean of per-image values (log is concave)
    assert psnr_of_set(x_hat[:2], x[:2]) < psnr(x_hat[:2], x[:2]).mean()
    torch.testing.assert_close(
        psnr_of_set(255 * x_hat, 255 * x, max_value=255), got
    )


def test_psnr_of_set_of_masked_digits_with_untouched_images_is_finite():
    g = gen(16)
    x = torch.zeros(50, 1, 28, 28)
    x[:, :, 10:14, 12:15] = torch.rand(50, 1, 4, 3, generator=g) + 0.1
    noisy = mask(x, 0.05, generator=g)
    untouched = (noisy == x).flatten(1).all(1)
    assert untouched.any() and not untouched.all()
    got = psnr_of_set(noisy, x).item()
    assert math.isfinite(got)
    # 10·log10(1 / mean MSE), by hand with numpy
    a, b = noisy.double().numpy(), x.double().numpy()
    mse = np.mean([np.mean((a[i] - b[i]) ** 2) for i in range(len(a))])
    assert got == pytest.approx(10 * np.log10(1 / mse), rel=1e-5)


def test_psnr_of_set_rejects_bad_arguments():
    with pytest.raises(
        ValueError, match=r"same shape, got \(2, 3\) and \(2, 4\)"
    ):
        psnr_of_set(torch.rand(2, 3), torch.rand(2, 4))
    with pytest.raises(
        ValueError, match=r"max_value must be a positive number .* got -1"
    ):
        psnr_of_set(torch.rand(2, 3), torch.rand(2, 3), max_value=-1)


def test_psnr_rejects_bad_arguments():
    with pytest.raises(
        ValueError, match=r"same shape, got \(2, 3\) and \(2, 4\)"
    ):
        psnr(torch.rand(2, 3), torch.rand(2, 4))
    with pytest.raises(
        ValueError, match=r"max_value must be a positive number .* got 0"
    ):
        psnr(torch.rand(2, 3), torch.rand(2, 3), max_value=0)


# --- classical filters ---------------------------------------------------------------------------


@pytest.mark.parametrize("size", [1, 3, 5])
def test_median_filter_is_scipys_on_each_image(size):
    x = torch.rand(4, 2, 11, 9, generator=gen(17), dtype=torch.float64)
    out = median_filter(x, size)
    assert out.shape == x.shape and out.dtype == torch.float64
    for i in range(4):
        for c in range(
            2
        ):  # each image and channel on its own: nothing leaks between them
            np.testing.assert_array_equal(
                out[i, c].numpy(),
                scipy.ndimage.median_filter(x[i, c].numpy(), size=size),
            )


@pytest.mark.parametrize("sigma", [0.0, 0.5, 1.0, 2.5])
def test_gaussian_filter_is_scipys_on_each_image(sigma):
    x = torch.rand(4, 2, 11, 9, generator=gen(18), dtype=torch.float64)
    out = gaussian_filter(x, sigma)
    assert out.shape == x.shape and out.dtype == torch.float64
    for i in range(4):
        for c in range(2):
            np.testing.assert_allclose(
                out[i, c].numpy(),
                scipy.ndimage.gaussian_filter(
                    x[i, c].numpy(), sigma=sigma
                ),
                rtol=1e-12,
                atol=1e-15,
            )
    if sigma == 0:
        assert torch.equal(out, x)


def test_filters_keep_float32_and_work_on_plain_images():
    x = torch.rand(1, 1, 12, 12, generator=gen(19))
    for out in (median_filter(x), gaussian_filter(x, 1.0)):
        assert (
            out.dtype == torch.float32
            and out.device == x.device
            and out.shape == x.shape
        )
    torch.testing.assert_close(
        median_filter(x[0, 0], 3), median_filter(x, 3)[0, 0]
    )


def test_median_filter_removes_isolated_salt_and_pepper():
    x = torch.full((1, 1, 9, 9), 0.4)
    noisy = x.clone()
    noisy[0, 0, 2, 3], noisy[0, 0, 6, 6] = 1.0, 0.0
    assert torch.equal(median_filter(noisy, 3), x)
    # the blur only spreads them out
    assert not torch.equal(gaussian_filter(noisy, 1.0), x)


def test_filters_reject_bad_arguments():
    for size in (2, 0, 3.0, True):
        with pytest.raises(
            ValueError, match=r"size must be an odd int ≥ 1"
        ):
            median_filter(torch.rand(1, 1, 5, 5), size)
    with pytest.raises(
        ValueError, match=r"sigma must be at least 0, got -1"
    ):
        gaussian_filter(torch.rand(1, 1, 5, 5), -1)
    with pytest.raises(
        ValueError,
        match=r"at least 2 dimension\(s\) \(\.\.\., H, W\), got shape \(5,\)",
    ):
        median_filter(torch.rand(5))


# --- best_classical ------------------------------------------------------------------------------


def check_best(x_noisy, x_clean, **grid):
    name, params, denoised = best_classical(x_noisy, x_clean, **grid)
    scores = {
        (n, tuple(p.items())): psnr_of_set(
            FILTERS[n](x_noisy, **p), x_clean
        ).item()
        for n, p in classical_candidates(**grid)
    }
    assert scores[(name, tuple(params.items()))] == max(scores.values())
    assert torch.equal(denoised, FILTERS[name](x_noisy, **params))
    return name, params


def test_best_classical_picks_the_median_for_salt_and_pepper():
    x = blocks()
    name, params = check_best(
        salt_and_pepper(x, 0.2, generator=gen(20)), x
    )
    assert name == "median"


def test_best_classical_picks_a_blur_for_gaussian_noise_on_smooth_images():
    smooth = gaussian_filter(
        torch.rand(12, 1, 28, 28, generator=gen(21)), 3.0
    )
    smooth = (smooth - smooth.amin((2, 3), keepdim=True)) / (
        smooth.amax((2, 3), keepdim=True)
        - smooth.amin((2, 3), keepdim=True)
    )
    name, params = check_best(
        gaussian(smooth, 0.2, generator=gen(22), clip=False),
        smooth,
        sizes=(3, 5),
        sigmas=(0.5, 1.0, 2.0),
    )
    assert name == "gaussian" and params["sigma"] >= 1.0


def test_best_classical_rejects_bad_arguments():
    x = torch.rand(2, 1, 6, 6)
    with pytest.raises(ValueError, match=r"same shape"):
        best_classical(x, x[:1])
    with pytest.raises(ValueError, match=r"Nothing to try"):
        best_classical(x, x, sizes=(), sigmas=())
