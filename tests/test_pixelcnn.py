"""aecourse.models.pixelcnn: the masks by hand, causality by gradient, the loss against cross-entropy,
reproducible sampling, and a tiny prior that learns a deterministic pattern."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from aecourse.models.pixelcnn import (
    MaskedConv2d,
    PixelCNN,
    causal_mask,
    prior_loss,
    train_prior,
)


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_masks_by_hand():
    assert causal_mask(3, "A").tolist() == [
        [1, 1, 1],
        [1, 0, 0],
        [0, 0, 0],
    ]
    assert causal_mask(3, "B").tolist() == [
        [1, 1, 1],
        [1, 1, 0],
        [0, 0, 0],
    ]
    assert causal_mask(1, "A").tolist() == [[0]]
    # two full rows and the centre row up to the centre
    assert causal_mask(5, "B").sum() == 13
    with pytest.raises(ValueError, match="kernel_size must be odd"):
        causal_mask(4, "A")
    with pytest.raises(ValueError, match="mask_type must be one of"):
        causal_mask(3, "C")


def test_the_mask_holds_after_an_optimizer_step():
    torch.manual_seed(0)
    conv = MaskedConv2d(2, 2, 3, "A")
    opt = torch.optim.SGD(conv.parameters(), lr=1.0)
    x = torch.randn(4, 2, 5, 5, requires_grad=True)
    conv(x).sum().backward()
    opt.step()
    (grad,) = torch.autograd.grad(conv(x)[0, :, 2, 2].sum(), x)
    # the output at (2, 2) sees only (1, 1..3) and (2, 1)
    seen = grad.abs().sum((0, 1)) > 0
    assert seen.nonzero().tolist() == [[1, 1], [1, 2], [1, 3], [2, 1]]


def test_first_layer_is_mask_a_and_the_rest_mask_b():
    model = PixelCNN(5, channels=8, layers=3)
    assert model.first.mask_type == "A"
    assert [b.mask_type for b in model.blocks] == ["B", "B", "B"]


@pytest.mark.parametrize("first_kernel", [3, 5])
def test_each_output_depends_only_on_earlier_positions(first_kernel):
    """∂ logits[r, c] / ∂ input is exactly 0 at (r, c) and every later position in raster order."""
    torch.manual_seed(1)
    k, h, w = 4, 5, 6
    model = PixelCNN(
        k, channels=8, layers=3, first_kernel=first_kernel
    ).double()
    x = torch.rand(1, k, h, w, dtype=torch.float64, requires_grad=True)
    logits = model.logits(x)
    for i in range(h * w):
        r, c = divmod(i, w)
        (grad,) = torch.autograd.grad(
            logits[0, :, r, c].sum(), x, retain_graph=True
        )
        # (H·W,) in raster order
        influence = grad.abs().sum((0, 1)).flatten()
        assert torch.equal(
            influence[i:], torch.zeros_like(influence[i:])
        ), (r, c)
        # and it does see its neighbours before it: left, and above
        if c > 0:
            assert influence[i - 1] > 0
        if r > 0:
            assert influence[i - w] > 0


def test_nll_is_the_summed_cross_entropy():
    torch.manual_seed(2)
    model = PixelCNN(6, channels=8, layers=1)
    codes = torch.randint(6, (3, 4, 4), generator=gen(0))
    logits = model(codes)
    assert logits.shape == (3, 6, 4, 4)
    per_grid = torch.stack(
        [
            F.cross_entropy(
                logits[n].reshape(6, -1).T,
                codes[n].flatten(),
                reduction="sum",
            )
            for n in range(3)
        ]
    )
    assert torch.allclose(model.nll(codes), per_grid)
    values = prior_loss(model, codes)
    assert values["loss"].item() == pytest.approx(
        per_grid.mean().item(), rel=1e-6
    )
    assert values["bits"].item() == pytest.approx(
        per_grid.mean().item() / math.log(2), rel=1e-6
    )


def test_sampling_shape_range_and_reproducibility():
    torch.manual_seed(3)
    model = PixelCNN(5, channels=8, layers=1)
    a = model.sample(4, (3, 4), generator=gen(7))
    b = model.sample(4, (3, 4), generator=gen(7))
    c = model.sample(4, (3, 4), generator=gen(8))
    assert a.shape == (4, 3, 4) and a.dtype == torch.int64
    assert a.min() >= 0 and a.max() <= 4
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    assert not model.training
    with pytest.raises(ValueError, match="temperature must be > 0"):
        model.sample(1, generator=gen(0), temperature=0)


def stripes(n: int, k: int, generator) -> torch.Tensor:
    """Grids (n, 4, 4) with code (s + r + c) mod k at row r, column c: only the first code s is random."""
    s = torch.randint(k, (n, 1, 1), generator=generator)
    r = torch.arange(4).view(1, 4, 1)
    c = torch.arange(4).view(1, 1, 4)
    return (s + r + c) % k


def test_a_tiny_prior_learns_a_deterministic_pattern():
    torch.manual_seed(4)
    k = 4
    codes = stripes(256, k, gen(0))
    model = PixelCNN(k, channels=16, layers=1, first_kernel=3)
    history = train_prior(
        model,
        codes,
        epochs=8,
        batch_size=32,
        lr=1e-2,
        generator=gen(1),
        progress=False,
    )
    # 64 Adam steps: every grid costs about log2 k bits, its random first code, and nothing more
    assert history.metrics["bits"][-1] < history.metrics["bits"][0]
    assert (
        model.nll(codes).mean().item() / math.log(2) < math.log2(k) + 0.3
    )
    samples = model.sample(32, (4, 4), generator=gen(2))
    assert torch.equal(samples, stripes_from(samples[:, 0, 0], k))
    # the first code is still drawn, not fixed
    assert len(samples[:, 0, 0].unique()) > 1


def stripes_from(first: torch.Tensor, k: int) -> torch.Tensor:
    r = torch.arange(4).view(1, 4, 1)
    c = torch.arange(4).view(1, 1, 4)
    return (first.view(-1, 1, 1) + r + c) % k


def test_bad_codes_are_refused():
    model = PixelCNN(4, channels=4, layers=0)
    with pytest.raises(ValueError, match=r"codes must lie in 0 \.\. 3"):
        model(torch.full((1, 2, 2), 4))
    with pytest.raises(ValueError, match=r"grids \(N, H, W\)"):
        model(torch.zeros(2, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="integer code indices"):
        model(torch.zeros(1, 2, 2))
