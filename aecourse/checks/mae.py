"""Checkers of the masked-autoencoder chapter's exercises: cutting images into patches, random masking
with a generator, and the loss on the hidden patches only."""

from __future__ import annotations

from collections.abc import Callable

import torch

from aecourse.checks._verdict import (
    _call,
    _close,
    _known_slip,
    _shape_or_type,
    _verdict,
    exercise,
)


@exercise("ex-mae-patchify")
def check_patchify(fn: Callable) -> bool:
    """fn(x, p) -> (N, L, p·p·C): images x (N, C, H, W) cut into p × p patches, row by row over the grid,
    each patch's pixels row by row with each pixel's C channels together, (p, p, C).

    Tried on 3-channel images of 8 × 12 pixels with p = 4 (a 2 × 3 grid that is not square, so that
    rows and columns cannot be confused unseen), then on 1-channel 28 × 28 images with p = 7.
    """
    from aecourse.models.transformer import patchify

    g = torch.Generator().manual_seed(3)
    x = torch.rand(2, 3, 8, 12, generator=g, dtype=torch.float64)
    p = 4
    answer, problem = _call(fn, x.clone(), p)
    if problem:
        return _verdict(False, problem)
    expected = patchify(x, p)
    n, length, size = expected.shape
    if isinstance(answer, torch.Tensor) and answer.shape == (
        n,
        size,
        length,
    ):
        return _verdict(
            False,
            f"you returned (N, p·p·C, L) = {tuple(answer.shape)}, one column per patch (as "
            "F.unfold gives it): transpose to (N, L, p·p·C), one row per patch.",
        )
    if (
        isinstance(answer, torch.Tensor)
        and answer.shape == expected.shape
    ):
        got = answer.detach().double()
        grid = x.reshape(
            n, 3, 2, p, 3, p
        )  # (N, C, grid row, i, grid column, j)
        slips = [
            (
                expected.reshape(n, 2, 3, size)
                .transpose(1, 2)
                .reshape(n, length, size),
                "your patches go column by column over the grid (column-major): number them "
                "row by row, patch l at grid row l // (W/p) and column l % (W/p).",
            ),
            (
                grid.permute(0, 2, 4, 1, 3, 5).reshape(n, length, size),
                "inside each patch your values go channel by channel, (C, p, p), as F.unfold "
                "gives them: keep each pixel's C channels together, (p, p, C), as in He et "
                "al.'s code: permute to (N, grid rows, grid columns, p, p, C).",
            ),
            (
                grid.permute(0, 2, 4, 5, 3, 1).reshape(n, length, size),
                "inside each patch your pixels go column by column: take them row by row, "
                "(p, p, C) with the patch's row index first.",
            ),
            (
                x.reshape(n, length, size),
                "you reshaped x without cutting it into squares: each of your rows is a strip "
                "of consecutive values, not a p × p patch. Split H and W into (H/p, p) and "
                "(W/p, p) and permute before flattening.",
            ),
        ]
        if slip := _known_slip(
            slips, lambda wrong: torch.allclose(got, wrong)
        ):
            return _verdict(False, slip)
    if not (
        isinstance(answer, torch.Tensor)
        and answer.shape == expected.shape
        and torch.allclose(answer.detach().double(), expected)
    ):
        return _close(
            answer.detach()
            if isinstance(answer, torch.Tensor)
            else answer,
            expected,
            "the patches of 3 × 8 × 12 images (p = 4)",
            plural=True,
        )
    grey = torch.rand(3, 1, 28, 28, generator=g)
    answer, problem = _call(fn, grey.clone(), 7)
    if problem:
        return _verdict(
            False, f"with 28 × 28 grey images and p = 7: {problem}"
        )
    return _close(
        answer.detach() if isinstance(answer, torch.Tensor) else answer,
        patchify(grey, 7),
        "the patches (of 3 × 8 × 12 images with p = 4, and of 28 × 28 grey images with p = 7)",
        plural=True,
    )


def _masking_problem(
    result, x: torch.Tensor, ratio: float
) -> tuple[str | None, tuple | None]:
    """What is wrong with one answer of random masking, or None; and the answer's three tensors."""
    from aecourse.models.mae import keep_count

    n, length, dim = x.shape
    keep = keep_count(length, ratio)
    if not (
        isinstance(result, tuple | list)
        and len(result) == 3
        and all(isinstance(t, torch.Tensor) for t in result)
    ):
        return (
            "return three tensors (visible, mask, ids_restore), got "
            f"{_shape_or_type(result) if not isinstance(result, tuple | list) else f'{len(result)} items'}.",
            None,
        )
    visible, mask, ids_restore = (t.detach() for t in result)
    setting = f"with L = {length} patches and ratio = {ratio}"
    if visible.dim() != 3 or visible.shape[::2] != (n, dim):
        return (
            f"{setting}, visible should be (N, K, D) = ({n}, {keep}, {dim}), got "
            f"{tuple(visible.shape)}.",
            None,
        )
    kept = visible.shape[1]
    if kept != keep:
        if kept == round(length * ratio):
            why = (
                f"you kept round(L·ratio) = {kept} patches: ratio is the share hidden, so keep "
                f"round(L·(1 − ratio)) = {keep}."
            )
        elif kept == int(length * (1 - ratio)):
            why = (
                f"you kept int(L·(1 − ratio)) = {kept} patches, rounding down: keep "
                f"round(L·(1 − ratio)) = {keep}."
            )
        else:
            why = f"you kept {kept} patches: keep round(L·(1 − ratio)) = {keep}."
        return f"{setting}, {why}", None
    if mask.shape != (n, length) or ids_restore.shape != (n, length):
        return (
            f"mask and ids_restore should both be (N, L) = ({n}, {length}), got "
            f"{tuple(mask.shape)} and {tuple(ids_restore.shape)}.",
            None,
        )
    if not bool(((mask == 0) | (mask == 1)).all()):
        return "mask should hold only 0 (visible) and 1 (hidden).", None
    hidden = mask.sum(1)
    if bool((hidden == keep).all()) and keep != length - keep:
        return (
            "your mask is flipped: it should be 1 at the hidden patches (the ones the loss "
            "scores) and 0 at the visible ones.",
            None,
        )
    if not bool((hidden == length - keep).all()):
        return (
            f"each row of mask should hide L − K = {length - keep} patches, got "
            f"{sorted(set(hidden.long().tolist()))}.",
            None,
        )
    if ids_restore.dtype.is_floating_point or not torch.equal(
        ids_restore.sort(1).values,
        torch.arange(length).expand(n, -1).to(ids_restore),
    ):
        return (
            "each row of ids_restore should hold every index 0 .. L − 1 once (a permutation, "
            "integer dtype).",
            None,
        )
    # x[i, l, 1] is l: the patch each visible token came from, if it is a token of x
    in_x = (visible[:, :, None, :] == x[:, None, :, :]).all(-1).any(-1)
    if not bool(in_x.all()):
        return (
            "some rows of visible are not tokens of x: gather the kept tokens, "
            "x.gather(1, ids_keep[..., None].expand(-1, -1, D)).",
            None,
        )
    if not bool((mask.gather(1, visible[:, :, 1].long()) == 0).all()):
        return (
            "mask does not match the tokens you kept: it should be 0 exactly at the "
            "patches in visible and 1 at the others.",
            None,
        )
    ids = ids_restore.long()
    # ids_restore puts token l of the original order at place ids_restore[n, l] of the shuffled
    # sequence (visible first): the visible patches at places < K, holding exactly those patches.
    places_visible = (ids < keep) == (mask == 0)
    index = ids.clamp(max=keep - 1)[..., None].expand(-1, -1, dim)
    same_token = (visible.gather(1, index) == x).all(-1) | (mask == 1)
    if bool(places_visible.all() and same_token.all()):
        return None, (visible, mask, ids_restore)
    shuffle_kept = x.gather(1, ids[:, :keep, None].expand(-1, -1, dim))
    if torch.equal(shuffle_kept, visible):
        return (
            "you returned the shuffle ids_shuffle itself (the order that lists the kept "
            "patches first): ids_restore is its inverse, ids_shuffle.argsort(dim=1).",
            None,
        )
    return (
        "ids_restore does not undo the shuffle: gathering [visible, hidden] with it should "
        "put each visible token back at its patch, where mask is 0. Use "
        "ids_restore = ids_shuffle.argsort(dim=1).",
        None,
    )


@exercise("ex-mae-random-masking")
def check_random_masking(fn: Callable) -> bool:
    """fn(x, ratio, generator) -> (visible (N, K, D), mask (N, L), ids_restore (N, L)).

    K = round(L·(1 − ratio)) tokens of each sequence kept at random, a different set per sequence, drawn
    with ``generator``; mask 1 at hidden patches; ids_restore the inverse of the shuffle. Tried with
    L = 16, ratio 0.75 and L = 49, ratio 0.6 (where int() and round() differ), twice with the same seed
    (the same answer) and with another seed (another answer).
    """
    for n, length, dim, ratio in ((6, 16, 3, 0.75), (4, 49, 2, 0.6)):
        # every token different: token l of sequence i is (i, l, 1000 i + l)[:dim]
        i, l = torch.meshgrid(
            torch.arange(n), torch.arange(length), indexing="ij"
        )
        x = torch.stack([i, l, 1000 * i + l], -1)[..., :dim].double()
        first, problem = _call(
            fn, x.clone(), ratio, torch.Generator().manual_seed(11)
        )
        if problem:
            return _verdict(False, problem)
        problem, tensors = _masking_problem(first, x, ratio)
        if problem:
            return _verdict(False, problem)
        visible, mask, ids_restore = tensors
        if bool((mask == mask[:1]).all()):
            return _verdict(
                False,
                "every sequence got the same mask: draw noise of shape (N, L), one number "
                "per patch of each sequence, and sort each row.",
            )
        again, problem = _call(
            fn, x.clone(), ratio, torch.Generator().manual_seed(11)
        )
        if problem:
            return _verdict(False, f"called a second time: {problem}")
        if not (
            isinstance(again, tuple | list)
            and len(again) == 3
            and all(
                isinstance(t, torch.Tensor) and torch.equal(t.detach(), u)
                for t, u in zip(again, tensors)
            )
        ):
            return _verdict(
                False,
                "two calls with generators of the same seed gave different masks: draw the "
                "noise with the generator you are given, torch.rand(N, L, generator=generator).",
            )
        other, problem = _call(
            fn, x.clone(), ratio, torch.Generator().manual_seed(12)
        )
        if not problem:
            problem, others = _masking_problem(other, x, ratio)
        if problem:
            return _verdict(False, f"with another generator: {problem}")
        if torch.equal(others[1], mask):
            return _verdict(
                False,
                "a generator with another seed gave the same mask: draw the noise from the "
                "generator, not from a fixed pattern.",
            )
    return _verdict(
        True,
        "round(L·(1 − ratio)) patches kept at random per sequence (16 → 4 at ratio 0.75, "
        "49 → 20 at ratio 0.6), the mask marks the others, and ids_restore undoes the shuffle.",
    )


@exercise("ex-mae-masked-loss")
def check_masked_patch_loss(fn: Callable) -> bool:
    """fn(pred, patches, mask) -> scalar: the squared error averaged over each patch's values, then over
    the hidden patches only (mask == 1), Σ mask·mean_p (pred − patches)² / Σ mask."""
    from aecourse.models.mae import masked_patch_loss, random_masking

    g = torch.Generator().manual_seed(21)
    n, length, size = 4, 16, 12
    pred = torch.rand(n, length, size, generator=g, dtype=torch.float64)
    patches = torch.rand(
        n, length, size, generator=g, dtype=torch.float64
    )
    mask = random_masking(patches, 0.75, g).mask.double()
    leaf = pred.clone().requires_grad_()
    answer, problem = _call(fn, leaf, patches.clone(), mask.clone())
    if problem:
        return _verdict(False, problem)
    expected = masked_patch_loss(pred, patches, mask)
    if isinstance(answer, torch.Tensor) and answer.shape == ():
        got = answer.detach().double()
        per_value = (pred - patches).pow(2)
        per_patch = per_value.mean(-1)
        slips = [
            (
                per_patch.mean(),
                "you averaged over all patches, the visible ones too: only the hidden patches "
                "(mask == 1) count.",
            ),
            (
                (per_patch * (1 - mask)).sum() / (1 - mask).sum(),
                "you scored the visible patches (mask == 0): the loss is over the hidden ones, "
                "where mask == 1.",
            ),
            (
                (per_patch * mask).mean(),
                "you divided by all N·L patches: divide by the number of hidden ones, mask.sum().",
            ),
            (
                (per_patch * mask).sum(),
                "you summed over the hidden patches: divide by their number, mask.sum().",
            ),
            (
                (per_value.sum(-1) * mask).sum() / mask.sum(),
                f"you summed the squared errors over the {size} values of each patch: average "
                "them, mean over the last dimension.",
            ),
            (
                ((pred - patches).abs().mean(-1) * mask).sum()
                / mask.sum(),
                "that is the absolute error: square the differences.",
            ),
        ]
        if slip := _known_slip(
            slips, lambda wrong: torch.allclose(got, wrong, rtol=1e-6)
        ):
            return _verdict(False, slip)
        if (
            torch.allclose(got, expected, rtol=1e-6)
            and not answer.requires_grad
        ):
            return _verdict(
                False,
                "the value is right, but no gradient flows back to pred: keep it a tensor "
                "computed from pred (no .item(), .detach() or torch.tensor(...)).",
            )
    return _close(
        answer.detach() if isinstance(answer, torch.Tensor) else answer,
        expected,
        "the loss over the hidden patches",
        atol=1e-8,
        rtol=1e-6,
    )
