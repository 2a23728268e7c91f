"""aecourse.checks.mae: each checker of the masked-autoencoder chapter accepts right answers written in
different ways and names each known slip. Stubs and crashes are tested for every checker in
tests/test_checks.py."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

# The checker-test helpers of tests/test_checks.py (tests/ is on sys.path under pytest's default import mode).
from test_checks import assert_right, assert_wrong

from aecourse import checks
from aecourse.models.mae import masked_patch_loss, random_masking
from aecourse.models.transformer import patchify


def test_the_checkers_declare_their_exercises():
    assert checks.check_patchify.label == "ex-mae-patchify"
    assert checks.check_random_masking.label == "ex-mae-random-masking"
    assert checks.check_masked_patch_loss.label == "ex-mae-masked-loss"
    assert checks.check_patchify.__module__ == "aecourse.checks.mae"


# --- patchify -------------------------------------------------------------------------------------


def patchify_by_unfold(x, p):
    n, c = x.shape[:2]
    cols = F.unfold(x, p, stride=p).transpose(1, 2)  # (N, L, C·p·p)
    return cols.reshape(n, -1, c, p, p).permute(0, 1, 3, 4, 2).flatten(2)


def patchify_by_loops(x, p):
    n, c, h, w = x.shape
    rows = [
        x[:, :, i : i + p, j : j + p].permute(0, 2, 3, 1).reshape(n, -1)
        for i in range(0, h, p)
        for j in range(0, w, p)
    ]
    return torch.stack(rows, 1)


@pytest.mark.parametrize(
    "fn", [patchify, patchify_by_unfold, patchify_by_loops]
)
def test_patchify_accepts_right_answers(fn, capsys):
    assert_right(checks.check_patchify, fn, capsys)


def grid(x, p):
    n, c, h, w = x.shape
    return x.reshape(n, c, h // p, p, w // p, p)


@pytest.mark.parametrize(
    "fn, reason",
    [
        (
            lambda x, p: (
                grid(x, p)
                .permute(0, 4, 2, 3, 5, 1)
                .reshape(len(x), -1, p * p * x.shape[1])
            ),
            "column by column over the grid (column-major)",
        ),
        (
            lambda x, p: F.unfold(x, p, stride=p).transpose(1, 2),
            "channel by channel, (C, p, p), as F.unfold",
        ),
        (
            lambda x, p: F.unfold(x, p, stride=p),
            "you returned (N, p·p·C, L) = (2, 48, 6)",
        ),
        (
            lambda x, p: (
                grid(x, p)
                .permute(0, 2, 4, 5, 3, 1)
                .reshape(len(x), -1, p * p * x.shape[1])
            ),
            "inside each patch your pixels go column by column",
        ),
        (
            lambda x, p: x.reshape(len(x), -1, p * p * x.shape[1]),
            "without cutting it into squares",
        ),
        (
            lambda x, p: patchify(x, p)[:, :, :-1],
            "have shape (2, 6, 47), expected (2, 6, 48)",
        ),
        (lambda x, p: patchify(x, p).tolist(), "got list"),
        # right for 3 × 8 × 12 images only
        (
            lambda x, p: patchify(x, p) if p == 4 else patchify(x, 4),
            "and of 28 × 28 grey images with p = 7) have shape (3, 49, 16), expected (3, 16, 49)",
        ),
    ],
)
def test_patchify_names_each_slip(fn, reason, capsys):
    assert_wrong(checks.check_patchify, fn, capsys, reason)


# --- random masking -------------------------------------------------------------------------------


def masking_by_randperm(x, ratio, generator):
    n, length, d = x.shape
    keep = round(length * (1 - ratio))
    ids_shuffle = torch.stack(
        [torch.randperm(length, generator=generator) for _ in range(n)]
    )
    ids_restore = torch.argsort(ids_shuffle, dim=1)
    visible = x.gather(1, ids_shuffle[:, :keep, None].expand(-1, -1, d))
    mask = (ids_restore >= keep).float()
    return visible, mask, ids_restore


@pytest.mark.parametrize(
    "fn",
    [
        random_masking,
        masking_by_randperm,
        lambda x, r, g: list(random_masking(x, r, g)),
        # a bool mask is fine
        lambda x, r, g: (lambda m: (m[0], m[1].bool(), m[2]))(
            random_masking(x, r, g)
        ),
    ],
)
def test_random_masking_accepts_right_answers(fn, capsys):
    assert_right(checks.check_random_masking, fn, capsys)


def masking(
    x,
    ratio,
    generator,
    *,
    keep=None,
    same_noise=False,
    restore=True,
    flip=False,
    global_rng=False,
    gather_wrong=False,
):
    """Random masking with one slip switched on."""
    n, length, d = x.shape
    keep = (
        round(length * (1 - ratio))
        if keep is None
        else keep(length, ratio)
    )
    if global_rng:
        noise = torch.rand(n, length)
    elif same_noise:
        noise = torch.rand(1, length, generator=generator).expand(n, -1)
    else:
        noise = torch.rand(n, length, generator=generator)
    ids_shuffle = noise.argsort(1)
    ids_restore = ids_shuffle.argsort(1) if restore else ids_shuffle
    ids_keep = ids_shuffle[:, :keep]
    if gather_wrong:
        ids_keep = ids_keep.sort(1).values.flip(
            0
        )  # another image's patches
    visible = x.gather(1, ids_keep[..., None].expand(-1, -1, d))
    mask = torch.ones(n, length)
    mask[:, :keep] = 0
    mask = mask.gather(1, ids_shuffle.argsort(1))
    return visible, 1 - mask if flip else mask, ids_restore


@pytest.mark.parametrize(
    "slip, reason",
    [
        (
            dict(keep=lambda length, ratio: round(length * ratio)),
            "you kept round(L·ratio) = 12 patches: ratio is the share hidden, so keep "
            "round(L·(1 − ratio)) = 4",
        ),
        (
            dict(keep=lambda length, ratio: int(length * (1 - ratio))),
            "with L = 49 patches and ratio = 0.6, you kept int(L·(1 − ratio)) = 19 "
            "patches, rounding down: keep round(L·(1 − ratio)) = 20.",
        ),
        (dict(keep=lambda length, ratio: 3), "you kept 3 patches"),
        (dict(same_noise=True), "every sequence got the same mask"),
        (
            dict(restore=False),
            "you returned the shuffle ids_shuffle itself",
        ),
        (dict(flip=True), "your mask is flipped"),
        (
            dict(global_rng=True),
            "two calls with generators of the same seed gave different masks",
        ),
        (
            dict(gather_wrong=True),
            "mask does not match the tokens you kept",
        ),
    ],
)
def test_random_masking_names_each_slip(slip, reason, capsys):
    assert_wrong(
        checks.check_random_masking,
        lambda x, r, g: masking(x, r, g, **slip),
        capsys,
        reason,
    )


def test_random_masking_names_other_mistakes(capsys):
    def first_patches(
        x, ratio, generator
    ):  # no shuffle, the same patches every time
        n, length, _ = x.shape
        keep = round(length * (1 - ratio))
        mask = torch.ones(n, length)
        mask[:, :keep] = 0
        return x[:, :keep], mask, torch.arange(length).expand(n, -1)

    def fixed_seed(x, ratio, generator):
        return random_masking(x, ratio, torch.Generator().manual_seed(0))

    def float_restore(x, ratio, generator):
        v, m, r = random_masking(x, ratio, generator)
        return v, m, r.float()

    def two(x, ratio, generator):
        return random_masking(x, ratio, generator)[:2]

    def zeros(x, ratio, generator):
        v, m, r = random_masking(x, ratio, generator)
        return torch.zeros_like(v), m, r

    check = checks.check_random_masking
    assert_wrong(
        check, first_patches, capsys, "every sequence got the same mask"
    )
    assert_wrong(
        check,
        fixed_seed,
        capsys,
        "a generator with another seed gave the same mask",
    )
    assert_wrong(
        check, float_restore, capsys, "(a permutation, integer dtype)"
    )
    assert_wrong(
        check,
        two,
        capsys,
        "return three tensors (visible, mask, ids_restore), got 2 items",
    )
    assert_wrong(
        check, zeros, capsys, "some rows of visible are not tokens of x"
    )


def test_random_masking_leaves_the_global_random_stream_alone(capsys):
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    checks.check_random_masking(random_masking)
    capsys.readouterr()
    assert torch.equal(torch.rand(3), expected)


# --- the loss on hidden patches -------------------------------------------------------------------


def loss_by_boolean_index(pred, patches, mask):
    hidden = mask.bool()
    return (pred[hidden] - patches[hidden]).pow(2).mean()


def loss_by_mse(pred, patches, mask):
    per_patch = F.mse_loss(pred, patches, reduction="none").mean(-1)
    return (per_patch * mask).sum() / mask.sum()


@pytest.mark.parametrize(
    "fn",
    [
        masked_patch_loss,
        loss_by_boolean_index,
        loss_by_mse,
        lambda p, t, m: loss_by_mse(p.float(), t.float(), m.float()),
    ],
)
def test_masked_loss_accepts_right_answers(fn, capsys):
    assert_right(checks.check_masked_patch_loss, fn, capsys)


def per_patch(pred, patches):
    return (pred - patches).pow(2).mean(-1)


@pytest.mark.parametrize(
    "fn, reason",
    [
        (
            lambda p, t, m: per_patch(p, t).mean(),
            "you averaged over all patches, the visible ones too",
        ),
        (
            lambda p, t, m: F.mse_loss(p, t),
            "you averaged over all patches, the visible ones too",
        ),
        (
            lambda p, t, m: (
                (per_patch(p, t) * (1 - m)).sum() / (1 - m).sum()
            ),
            "you scored the visible patches (mask == 0)",
        ),
        (
            lambda p, t, m: (per_patch(p, t) * m).mean(),
            "you divided by all N·L patches",
        ),
        (
            lambda p, t, m: (per_patch(p, t) * m).sum(),
            "you summed over the hidden patches",
        ),
        (
            lambda p, t, m: ((p - t).pow(2).sum(-1) * m).sum() / m.sum(),
            "you summed the squared errors over the 12 values of each patch",
        ),
        (
            lambda p, t, m: ((p - t).abs().mean(-1) * m).sum() / m.sum(),
            "that is the absolute error",
        ),
        (
            lambda p, t, m: masked_patch_loss(p.detach(), t, m),
            "no gradient flows back to pred",
        ),
        (
            lambda p, t, m: masked_patch_loss(p, t, m).item(),
            "should be a torch.Tensor, got float",
        ),
        (
            lambda p, t, m: per_patch(p, t) * m,
            "has shape (4, 16), expected ()",
        ),
        (
            lambda p, t, m: masked_patch_loss(p, t, m, norm_pix=True),
            "the loss over the hidden patches differs from the reference",
        ),
    ],
)
def test_masked_loss_names_each_slip(fn, reason, capsys):
    assert_wrong(checks.check_masked_patch_loss, fn, capsys, reason)
