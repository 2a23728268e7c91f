"""aecourse.models.mae: masking keeps exactly round(L(1 − ratio)) patches and its indices undo the shuffle,
the loss sees hidden patches only, the normalised target by hand, the encoder reads visible tokens only."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from aecourse.models.mae import (
    MAE,
    PatchClassifier,
    keep_count,
    masked_patch_loss,
    normalize_patches,
    random_masking,
    restore_order,
    train_mae,
)
from aecourse.models.transformer import patchify, unpatchify
from aecourse.training import fit


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def small_mae(**kwargs) -> MAE:
    torch.manual_seed(0)
    settings = dict(
        image_shape=(1, 8, 8),
        patch_size=2,
        dim=16,
        depth=2,
        heads=2,
        decoder_dim=8,
        decoder_depth=1,
        decoder_heads=2,
    )
    return MAE(**(settings | kwargs))


# --- how many patches stay ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "length, ratio, keep",
    [
        (16, 0.75, 4),
        (49, 0.75, 12),
        (49, 0.6, 20),
        (196, 0.75, 49),
        (10, 0.0, 10),
    ],
)
def test_keep_count_rounds_the_visible_share(length, ratio, keep):
    assert (
        keep_count(length, ratio) == keep == round(length * (1 - ratio))
    )


@pytest.mark.parametrize("ratio", [1.0, -0.1, 1.5, True, "0.5", None])
def test_a_ratio_outside_0_1_is_refused(ratio):
    with pytest.raises(
        ValueError, match=r"ratio must be a number in \[0, 1\)"
    ):
        keep_count(16, ratio)
    with pytest.raises(
        ValueError, match=r"ratio must be a number in \[0, 1\)"
    ):
        random_masking(torch.zeros(2, 16, 3), ratio)
    with pytest.raises(
        ValueError, match=r"ratio must be a number in \[0, 1\)"
    ):
        small_mae(mask_ratio=ratio)


def test_numpy_ratios_are_numbers_too():
    assert keep_count(16, np.float32(0.75)) == 4


def test_a_ratio_that_hides_every_patch_is_refused():
    with pytest.raises(ValueError, match="hides all 16 patches"):
        keep_count(16, 0.97)


# --- random masking -------------------------------------------------------------------------------


def sequences(n: int, length: int) -> torch.Tensor:
    """Token l of sequence i is (i, l): each token says where it came from."""
    i, l = torch.meshgrid(
        torch.arange(n), torch.arange(length), indexing="ij"
    )
    return torch.stack([i, l], -1).float()


@pytest.mark.parametrize("ratio", [0.0, 0.25, 0.5, 0.6, 0.75, 0.9])
def test_masking_keeps_exactly_the_requested_share(ratio):
    x = sequences(5, 49)
    visible, mask, ids_restore = random_masking(x, ratio, gen())
    keep = round(49 * (1 - ratio))
    assert visible.shape == (5, keep, 2)
    assert mask.shape == ids_restore.shape == (5, 49)
    assert (mask.sum(1) == 49 - keep).all()
    assert set(mask.unique().tolist()) <= {0.0, 1.0}
    # the visible tokens are the tokens of x where the mask is 0, each once
    for i in range(5):
        kept = sorted(visible[i, :, 1].long().tolist())
        assert kept == torch.nonzero(mask[i] == 0).flatten().tolist()
        assert (visible[i, :, 0] == i).all()


def test_shuffle_then_unshuffle_restores_the_order():
    x = sequences(4, 16)
    visible, mask, ids_restore = random_masking(x, 0.75, gen(1))
    ids_shuffle = ids_restore.argsort(1)
    shuffled = x.gather(1, ids_shuffle[..., None].expand(-1, -1, 2))
    assert torch.equal(
        shuffled[:, :4], visible
    )  # the kept ones come first
    assert torch.equal(restore_order(shuffled, ids_restore), x)
    # the decoder's step: visible tokens then placeholders, put back in place
    filler = torch.full((4, 12, 2), -1.0)
    restored = restore_order(torch.cat([visible, filler], 1), ids_restore)
    hidden = mask.bool()
    assert torch.equal(restored[~hidden], x[~hidden])
    assert (restored[hidden] == -1).all()


def test_masks_differ_between_images_and_follow_the_generator():
    x = sequences(8, 16)
    a = random_masking(x, 0.75, gen(3))
    b = random_masking(x, 0.75, gen(3))
    c = random_masking(x, 0.75, gen(4))
    assert all(torch.equal(s, t) for s, t in zip(a, b))
    assert not torch.equal(a.mask, c.mask)
    assert len({tuple(row.tolist()) for row in a.mask}) == 8


def test_every_patch_is_hidden_equally_often():
    mask = random_masking(torch.zeros(4000, 16, 1), 0.75, gen(5)).mask
    share = mask.mean(0)
    standard_error = math.sqrt(0.75 * 0.25 / 4000)
    assert ((share - 0.75).abs() < 5 * standard_error).all()


# --- the loss -------------------------------------------------------------------------------------


def test_normalised_target_by_hand():
    patches = torch.tensor([[[1.0, 2.0, 3.0, 4.0], [5.0, 5.0, 5.0, 5.0]]])
    # mean 2.5, unbiased variance ((1.5² + 0.5²)·2)/3 = 5/3; a flat patch stays 0
    s = math.sqrt(5 / 3 + 1e-6)
    expected = torch.tensor(
        [[[-1.5 / s, -0.5 / s, 0.5 / s, 1.5 / s], [0.0, 0.0, 0.0, 0.0]]]
    )
    assert torch.allclose(normalize_patches(patches), expected, atol=1e-7)
    assert math.isclose(-1.5 / s, -1.161895, abs_tol=1e-6)


def test_loss_by_hand_and_with_the_normalised_target():
    pred = torch.tensor([[[1.0, 1.0], [0.0, 0.0], [2.0, 0.0]]])
    patches = torch.tensor([[[0.0, 0.0], [3.0, 3.0], [0.0, 0.0]]])
    mask = torch.tensor([[1.0, 0.0, 1.0]])
    # hidden patches 0 and 2: mean squared errors 1 and 2; patch 1 (error 9) is visible
    assert masked_patch_loss(pred, patches, mask).item() == pytest.approx(
        1.5
    )
    target = normalize_patches(patches)  # every patch is flat: all 0
    assert torch.equal(target, torch.zeros_like(patches))
    assert masked_patch_loss(
        pred, patches, mask, norm_pix=True
    ).item() == (pytest.approx(1.5))
    patches = torch.tensor([[[0.0, 2.0], [3.0, 3.0], [4.0, 0.0]]])
    s = math.sqrt(
        2 + 1e-6
    )  # unbiased variance of (0, 2) and of (4, 0) is 2 and 8
    t = math.sqrt(8 + 1e-6)
    by_hand = ((1 + 1 / s) ** 2 + (1 - 1 / s) ** 2) / 2 + (
        (2 - 2 / t) ** 2 + (0 + 2 / t) ** 2
    ) / 2
    assert masked_patch_loss(
        pred, patches, mask, norm_pix=True
    ).item() == (pytest.approx(by_hand / 2))


@pytest.mark.parametrize("norm_pix", [False, True])
def test_the_loss_ignores_the_visible_patches(norm_pix):
    g = gen(7)
    pred = torch.rand(3, 16, 12, generator=g)
    patches = torch.rand(3, 16, 12, generator=g)
    mask = random_masking(patches, 0.75, g).mask
    loss = masked_patch_loss(pred, patches, mask, norm_pix)
    changed = torch.where(mask[..., None].bool(), pred, pred + 5)
    assert masked_patch_loss(changed, patches, mask, norm_pix) == loss
    leaf = pred.clone().requires_grad_()
    masked_patch_loss(leaf, patches, mask, norm_pix).backward()
    assert (leaf.grad[mask == 0] == 0).all()
    assert (leaf.grad[mask == 1] != 0).any(-1).all()


def test_the_loss_refuses_a_mask_without_hidden_patches():
    x = torch.zeros(2, 4, 3)
    with pytest.raises(ValueError, match="hides no patch"):
        masked_patch_loss(x, x, torch.zeros(2, 4))
    with pytest.raises(ValueError, match=r"mask must be \(N, L\)"):
        masked_patch_loss(x, x, torch.zeros(2, 5))


# --- the model ------------------------------------------------------------------------------------


def tokens_seen(module: torch.nn.Module, run) -> list[int]:
    """The sequence lengths the first block of ``module`` receives while ``run()`` runs."""
    seen = []
    hook = module.blocks[0].register_forward_pre_hook(
        lambda _, args: seen.append(args[0].shape[1])
    )
    try:
        run()
    finally:
        hook.remove()
    return seen


@pytest.mark.parametrize("cls_token", [False, True])
def test_the_encoder_reads_the_visible_patches_only(cls_token):
    model = small_mae(cls_token=cls_token)
    x = torch.rand(3, 1, 8, 8)
    extra = int(cls_token)
    # 16 patches: 4 visible at 75%, all 16 at 0%; the decoder always sees all 16
    assert tokens_seen(
        model.encoder.transformer, lambda: model(x, 0.75)
    ) == [4 + extra]
    assert tokens_seen(
        model.encoder.transformer, lambda: model(x, 0.0)
    ) == [16 + extra]
    assert tokens_seen(model.decoder, lambda: model(x, 0.75)) == [16]


def test_the_models_loss_is_the_masked_loss_of_its_prediction():
    model = small_mae()
    x = torch.rand(3, 1, 8, 8)
    out = model(x, generator=gen(2))
    assert out.pred.shape == (3, 16, 4) and (out.mask.sum(1) == 12).all()
    assert torch.equal(
        out.loss, masked_patch_loss(out.pred, patchify(x, 2), out.mask)
    )
    again = model(x, generator=gen(2))
    assert torch.equal(
        again.loss, out.loss
    )  # the same generator, the same masks
    # at ratio 0 nothing is hidden: every patch is scored
    whole = model(x, 0.0)
    assert (whole.mask == 0).all()
    assert torch.allclose(
        whole.loss, (whole.pred - patchify(x, 2)).pow(2).mean()
    )


def test_features_read_every_patch_unmasked():
    model = small_mae(cls_token=True).eval()
    x = torch.rand(5, 1, 8, 8)
    with torch.no_grad():
        latent = model.encoder(x)[0]
        assert torch.equal(model.features(x), latent[:, 1:].mean(1))
        assert torch.equal(model.features(x, "cls"), latent[:, 0])
        # each image's features are its own, whatever the batch
        assert torch.allclose(
            model.features(x[:2]), model.features(x)[:2], atol=1e-6
        )
    with pytest.raises(ValueError, match="cls_token=True"):
        small_mae().features(x, "cls")
    with pytest.raises(ValueError, match="pool must be one of"):
        model.features(x, "max")


def test_the_classifier_fine_tunes_a_copy_of_the_encoder():
    model = small_mae()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    clf = model.classifier(3)
    assert isinstance(clf, PatchClassifier)
    x, y = torch.rand(12, 1, 8, 8), torch.arange(12) % 3
    assert clf(x).shape == (12, 3)
    fit(
        clf,
        x,
        y,
        loss=torch.nn.functional.cross_entropy,
        epochs=2,
        batch_size=4,
        progress=False,
    )
    assert all(
        torch.equal(v, model.state_dict()[k]) for k, v in before.items()
    )
    assert not torch.equal(
        clf.encoder.embed.weight, model.encoder.embed.weight
    )
    with pytest.raises(ValueError, match="must be a PatchEncoder"):
        PatchClassifier(model, 3)


def test_reconstruction_pastes_predictions_into_the_hidden_patches_only():
    model = small_mae()
    x = torch.rand(2, 1, 8, 8)
    r = model.reconstruct(x, generator=gen(4), fill=0.25)
    hidden = r.mask_image.bool()
    assert r.mask_image.mean().item() == 12 / 16
    assert torch.equal(r.masked[~hidden], x[~hidden])
    assert (r.masked[hidden] == 0.25).all()
    assert torch.equal(r.pasted[~hidden], x[~hidden])
    assert torch.equal(r.pasted[hidden], r.predicted[hidden])
    assert not model.training


def test_a_perfect_normalised_prediction_is_drawn_as_the_image(
    monkeypatch,
):
    model = small_mae(norm_pix_loss=True)
    x = torch.rand(2, 1, 8, 8)
    # a decoder that predicts exactly the normalised target of every patch
    monkeypatch.setattr(
        model,
        "decode",
        lambda latent, ids: normalize_patches(patchify(x, 2)),
    )
    r = model.reconstruct(x, generator=gen(0))
    assert torch.allclose(r.predicted, x, atol=1e-5)
    assert torch.allclose(
        unpatchify(patchify(r.pasted, 2), 2, (1, 8, 8)), x, atol=1e-5
    )


def test_pretraining_learns_to_fill_hidden_patches_from_visible_ones():
    # Images of one brightness each: every visible patch tells the hidden ones. Guessing the mean
    # brightness, without reading the visible patches, would score the variance of the brightness.
    x = torch.rand(96, 1, 1, 1, generator=gen(9)).expand(-1, 1, 8, 8)
    x = x.contiguous()
    model = small_mae()
    history = train_mae(
        model,
        x[:64],
        epochs=20,
        batch_size=16,
        lr=3e-3,
        valid=x[64:],
        generator=gen(1),
        progress=False,
    )
    assert len(history.train) == len(history.valid) == 20
    assert history.valid[-1] < 0.25 * x[64:].var().item()
    with pytest.raises(
        ValueError, match=r"x must be images \(N, 1, 8, 8\)"
    ):
        model(torch.rand(2, 1, 28, 28))
