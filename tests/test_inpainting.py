"""aecourse.evaluation.inpainting: patches inside the image and reproducible, errors and the mean-image baseline by
hand on small tensors."""

from __future__ import annotations

import pytest
import torch

from aecourse.evaluation.inpainting import (
    biharmonic_fill,
    hide_patch,
    mean_fill,
    patch_error,
    patch_noise,
)


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_hide_patch_hides_one_square_inside_each_image():
    # no zeros before hiding
    x = 0.5 + 0.5 * torch.rand(300, 3, 7, 9, generator=gen(1))
    out, mask = hide_patch(x, 4, gen(2))
    assert mask.shape == (300, 1, 7, 9) and mask.dtype == torch.bool
    assert torch.equal(mask.flatten(1).sum(1), torch.full((300,), 16))
    for m in mask[:, 0]:
        r, c = m.nonzero(as_tuple=True)
        # a 4 × 4 square: its rows and columns are 4 consecutive indices each, inside the 7 × 9 image
        assert r.max() - r.min() == 3 and c.max() - c.min() == 3
        assert (
            r.min() >= 0
            and r.max() <= 6
            and c.min() >= 0
            and c.max() <= 8
        )
    hidden = mask.expand_as(x)
    assert torch.equal(
        out[hidden], torch.zeros(300 * 3 * 16)
    ) and torch.equal(out[~hidden], x[~hidden])
    # All (7 − 4 + 1) × (9 − 4 + 1) = 24 positions occur among 300 draws (each misses with prob. ~3e-6).
    corners = {
        (int(m.nonzero()[0, 0]), int(m.nonzero()[0, 1]))
        for m in mask[:, 0]
    }
    assert corners == {(r, c) for r in range(4) for c in range(6)}


def test_hide_patch_is_reproducible_and_takes_a_fill():
    x = torch.rand(5, 1, 6, 6, generator=gen(3))
    a, ma = hide_patch(x, 2, gen(4), fill=0.7)
    b, mb = hide_patch(x, 2, gen(4), fill=0.7)
    assert torch.equal(a, b) and torch.equal(ma, mb)
    assert torch.equal(a[ma.expand_as(a)], torch.full((5 * 4,), 0.7))
    # another seed, other patches (seeded: fixed)
    assert not torch.equal(hide_patch(x, 2, gen(5))[1], ma)
    # size = H = W: the whole image
    full, mfull = hide_patch(x, 6, gen(6))
    assert mfull.all() and (full == 0).all()


@pytest.mark.parametrize("size", [0, 7, -1, 2.0, True])
def test_hide_patch_rejects_bad_sizes(size):
    with pytest.raises(
        ValueError,
        match=rf"size must be an integer from 1 to 6, got {size!r}",
    ):
        hide_patch(torch.rand(2, 1, 6, 7), size)


def test_hide_patch_rejects_non_images():
    message = r"x must be a float tensor of images \(N, C, H, W\), got shape \(2, 36\)"
    with pytest.raises(ValueError, match=message):
        hide_patch(torch.rand(2, 36), 2)


def test_patch_error_by_hand():
    x = torch.zeros(2, 1, 2, 2)
    out = torch.tensor(
        [[[[1.0, 2.0], [3.0, 4.0]]], [[[1.0, 1.0], [9.0, 9.0]]]]
    )
    mask = torch.tensor(
        [
            [[[True, True], [False, False]]],
            [[[True, False], [False, False]]],
        ]
    )
    # image 0: (1 + 4) / 2 = 2.5; image 1: 1 / 1 = 1; overall (1 + 4 + 1) / 3 = 2
    assert torch.allclose(
        patch_error(x, out, mask, per_image=True),
        torch.tensor([2.5, 1.0]),
    )
    assert patch_error(x, out, mask).item() == pytest.approx(2.0)
    # Channels: the mask applies to both, and the error is averaged over channels too.
    x2, out2 = (
        torch.zeros(1, 2, 1, 2),
        torch.tensor([[[[3.0, 100.0]], [[1.0, 100.0]]]]),
    )
    assert patch_error(
        x2, out2, torch.tensor([[[[True, False]]]])
    ).item() == pytest.approx(5.0)


def test_patch_error_bad_input():
    x, mask = (
        torch.zeros(2, 1, 3, 3),
        torch.zeros(2, 1, 3, 3, dtype=torch.bool),
    )
    with pytest.raises(ValueError, match="at least one hidden"):
        patch_error(x, x, mask)
    with pytest.raises(ValueError, match="mask must be a bool"):
        patch_error(x, x, mask.float())
    with pytest.raises(ValueError, match="same shape"):
        patch_error(x, torch.zeros(2, 1, 3, 4), mask)


def test_mean_fill_pastes_the_mean_image_into_the_patch_only():
    train = torch.rand(10, 1, 5, 5, generator=gen(7))
    x = torch.rand(4, 1, 5, 5, generator=gen(8))
    hidden, mask = hide_patch(x, 3, gen(9))
    mean = train.mean(0)
    filled = mean_fill(hidden, mask, mean)
    m = mask.expand_as(x)
    assert torch.equal(filled[~m], x[~m])
    assert torch.equal(filled[m], mean.expand_as(x)[m])
    assert torch.equal(mean_fill(hidden, mask, mean[None]), filled)
    # The baseline's error is the mean squared distance of the hidden pixels from the mean image.
    expected = ((x - mean).pow(2)[m]).mean()
    assert patch_error(x, filled, mask).item() == pytest.approx(
        expected.item()
    )
    with pytest.raises(ValueError, match="mean_image must have shape"):
        mean_fill(hidden, mask, torch.zeros(1, 4, 4))


# --- patch_noise ----------------------------------------------------------------------------------------


def test_patch_noise_hides_size_squared_pixels_per_image_as_hide_patch_does():
    # no zeros before hiding
    x = 0.5 + 0.5 * torch.rand(6, 2, 7, 8, generator=gen(10))
    out = patch_noise(3, gen(11))(x)
    assert out.shape == x.shape and out.dtype == x.dtype
    changed = out != x  # (6, 2, 7, 8)
    # the same pixels in every channel
    assert torch.equal(changed[:, 0], changed[:, 1])
    assert torch.equal(
        changed[:, 0].flatten(1).sum(1), torch.full((6,), 9)
    )
    # the same draw as hide_patch, the mask dropped
    assert torch.equal(out, hide_patch(x, 3, gen(11))[0])
    assert torch.equal(
        patch_noise(3, gen(11), fill=0.25)(x)[changed],
        torch.full((6 * 2 * 9,), 0.25),
    )


def test_patch_noise_is_fresh_per_call_and_reproducible():
    x = torch.rand(20, 1, 9, 9, generator=gen(12)) + 0.5
    noise = patch_noise(2, gen(13))
    first, second = noise(x), noise(x)
    # new patches each batch (20 images alike has prob. 64^-20)
    assert not torch.equal(first, second)
    again = patch_noise(2, gen(13))
    assert torch.equal(again(x), first) and torch.equal(again(x), second)


def test_patch_noise_corrupts_the_inputs_fit_sees():
    from torch import nn

    from aecourse.training import fit

    class Recorder(nn.Module):
        def __init__(self):
            super().__init__()
            self.scale = nn.Parameter(torch.ones(()))
            self.seen = []

        def forward(self, xb):
            self.seen.append(xb.detach().clone())
            return self.scale * xb

    x = torch.rand(8, 1, 5, 5, generator=gen(14)) + 0.5
    model = Recorder()
    fit(
        model,
        x,
        epochs=1,
        batch_size=4,
        noise=patch_noise(2, gen(15)),
        progress=False,
    )
    seen = torch.cat(model.seen)
    assert seen.shape == x.shape and torch.equal(
        (seen == 0).flatten(1).sum(1), torch.full((8,), 4)
    )


@pytest.mark.parametrize("size", [0, -1, 2.0, True, None])
def test_patch_noise_rejects_bad_sizes_at_once(size):
    with pytest.raises(
        ValueError, match=rf"size must be an integer >= 1, got {size!r}"
    ):
        patch_noise(size)


def test_patch_noise_too_large_for_the_images_is_refused_when_called():
    noise = patch_noise(7)
    with pytest.raises(
        ValueError, match=r"size must be an integer from 1 to 6, got 7"
    ):
        noise(torch.rand(2, 1, 6, 8))


def test_biharmonic_fill_agrees_with_skimage_and_fills_a_plane_exactly():
    import numpy as np
    from skimage.restoration import inpaint_biharmonic

    g = torch.Generator().manual_seed(0)
    x = torch.rand(3, 1, 12, 12, generator=g)
    hidden, mask = hide_patch(x, 4, torch.Generator().manual_seed(1))
    out = biharmonic_fill(hidden, mask)
    for i in range(3):
        ref = inpaint_biharmonic(
            hidden[i, 0].double().numpy(), mask[i, 0].numpy()
        )
        assert np.allclose(out[i, 0].double().numpy(), ref, atol=1e-6)
    assert torch.equal(out[~mask.expand_as(x)], x[~mask.expand_as(x)])
    # a linear ramp is biharmonic: the hole is filled back exactly
    ramp = torch.linspace(0, 1, 12).expand(1, 1, 12, 12).clone()
    hidden, mask = hide_patch(ramp, 4, torch.Generator().manual_seed(2))
    assert torch.allclose(biharmonic_fill(hidden, mask), ramp, atol=1e-5)
    with pytest.raises(ValueError, match="mask"):
        biharmonic_fill(hidden, mask[:, :, :5])
