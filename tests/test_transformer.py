"""aecourse.models.transformer: patches against F.unfold and a hand-made grid, He et al.'s position codes,
pre-norm blocks against a hand-written block, and the causal language model's mask and splicing."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from aecourse.models.transformer import (
    CausalLM,
    TransformerEncoder,
    causal_mask,
    next_token_loss,
    patchify,
    sincos_position_embedding,
    unpatchify,
)
from aecourse.training import fit

# --- patches ---------------------------------------------------------------------------------------


def test_patchify_by_hand():
    x = torch.arange(16.0).reshape(1, 1, 4, 4)
    assert patchify(x, 2).tolist() == [
        [
            [0, 1, 4, 5],  # top left
            [2, 3, 6, 7],  # top right: the grid goes row by row
            [8, 9, 12, 13],
            [10, 11, 14, 15],
        ]
    ]


def test_patchify_keeps_a_pixels_channels_together():
    # channel c of pixel (i, j) holds 100 c + 10 i + j
    c, i, j = torch.meshgrid(
        torch.arange(2), torch.arange(2), torch.arange(2), indexing="ij"
    )
    x = (100 * c + 10 * i + j).double()[None]
    assert patchify(x, 2).tolist() == [
        [[0, 100, 1, 101, 10, 110, 11, 111]]
    ]


@pytest.mark.parametrize(
    "shape, p",
    [((2, 3, 8, 12), 4), ((3, 1, 28, 28), 7), ((1, 2, 6, 6), 1)],
)
def test_patchify_agrees_with_unfold_and_unpatchify_inverts_it(shape, p):
    x = torch.rand(*shape, generator=torch.Generator().manual_seed(0))
    n, c, h, w = shape
    patches = patchify(x, p)
    assert patches.shape == (n, (h // p) * (w // p), p * p * c)
    # F.unfold gives each patch as a column, channel by channel (C, p, p); reorder to (p, p, C)
    unfolded = F.unfold(x, p, stride=p).transpose(1, 2)
    reference = (
        unfolded.reshape(n, -1, c, p, p).permute(0, 1, 3, 4, 2).flatten(2)
    )
    assert torch.equal(patches, reference)
    assert torch.equal(unpatchify(patches, p, (c, h, w)), x)
    assert torch.equal(
        patchify(unpatchify(patches, p, (c, h, w)), p), patches
    )


def test_patch_functions_refuse_what_does_not_fit():
    with pytest.raises(ValueError, match="must divide the image height"):
        patchify(torch.rand(1, 1, 28, 28), 5)
    with pytest.raises(
        ValueError, match=r"tensor of images \(N, C, H, W\)"
    ):
        patchify(torch.rand(28, 28), 4)
    with pytest.raises(
        ValueError, match="patch_size must be an integer >= 1"
    ):
        patchify(torch.rand(1, 1, 28, 28), 0)
    with pytest.raises(ValueError, match=r"must be \(N, 49, 16\)"):
        unpatchify(torch.rand(2, 49, 8), 4, (1, 28, 28))


# --- position codes --------------------------------------------------------------------------------


def he_et_al_2d_sincos(embed_dim: int, grid_size: int) -> np.ndarray:
    """get_2d_sincos_pos_embed of He et al.'s code (facebookresearch/mae, util/pos_embed.py), copied."""

    def one_d(dim, pos):
        omega = np.arange(dim // 2, dtype=np.float64) / (dim / 2.0)
        omega = 1.0 / 10000**omega
        out = np.einsum("m,d->md", pos.reshape(-1), omega)
        return np.concatenate([np.sin(out), np.cos(out)], axis=1)

    grid_h = np.arange(grid_size, dtype=np.float32)
    grid_w = np.arange(grid_size, dtype=np.float32)
    grid = np.stack(np.meshgrid(grid_w, grid_h), axis=0)
    grid = grid.reshape([2, 1, grid_size, grid_size])
    emb_h = one_d(embed_dim // 2, grid[0])
    emb_w = one_d(embed_dim // 2, grid[1])
    return np.concatenate([emb_h, emb_w], axis=1)


@pytest.mark.parametrize("dim, grid", [(16, 7), (64, 14), (8, 1)])
def test_position_codes_are_he_et_al_s(dim, grid):
    ours = sincos_position_embedding(dim, grid)
    assert (
        ours.shape == (grid * grid, dim) and ours.dtype == torch.float32
    )
    np.testing.assert_allclose(
        ours.numpy(), he_et_al_2d_sincos(dim, grid), atol=1e-6
    )


def test_position_codes_of_a_rectangular_grid_by_hand():
    codes = sincos_position_embedding(4, (2, 3)).double()
    # dim 4: one frequency (ω = 1) per axis: [sin col, cos col, sin row, cos row]
    expected = [
        [math.sin(c), math.cos(c), math.sin(r), math.cos(r)]
        for r in range(2)
        for c in range(3)
    ]
    assert torch.allclose(
        codes, torch.tensor(expected, dtype=torch.float64), atol=1e-6
    )
    with pytest.raises(ValueError, match="multiple of 4"):
        sincos_position_embedding(6, 3)


# --- blocks ----------------------------------------------------------------------------------------


def test_causal_mask_by_hand():
    inf = float("-inf")
    assert causal_mask(3).tolist() == [
        [0, inf, inf],
        [0, 0, inf],
        [0, 0, 0],
    ]


def test_a_block_is_pre_norm_attention_then_gelu_mlp():
    torch.manual_seed(0)
    stack = TransformerEncoder(dim=8, depth=1, heads=2).double()
    block = stack.blocks[0]
    x = torch.randn(3, 5, 8, dtype=torch.float64)
    a = block.norm1(x)
    h = x + block.self_attn(a, a, a, need_weights=False)[0]
    h = h + block.linear2(F.gelu(block.linear1(block.norm2(h))))
    assert torch.allclose(stack.run(x), h, atol=1e-12)
    assert torch.allclose(
        stack(x),
        F.layer_norm(h, (8,), stack.norm.weight, stack.norm.bias),
    )
    assert block.linear1.out_features == 32  # mlp_ratio 4


def test_encoder_settings_are_checked():
    with pytest.raises(ValueError, match="heads must divide dim"):
        TransformerEncoder(dim=10, depth=1, heads=4)
    stack = TransformerEncoder(dim=8, depth=2, heads=2)
    with pytest.raises(
        ValueError, match="stop must be an integer from 0 to 2"
    ):
        stack.run(torch.zeros(1, 3, 8), 0, 3)
    with pytest.raises(ValueError, match=r"h must be \(N, T, 8\)"):
        stack.run(torch.zeros(1, 3, 4))


# --- the causal language model ---------------------------------------------------------------------


@pytest.fixture
def lm() -> CausalLM:
    torch.manual_seed(0)
    return CausalLM(vocab_size=11, context=8, dim=16, depth=3, heads=2)


def tokens(n: int = 3, t: int = 8, seed: int = 0) -> torch.Tensor:
    return torch.randint(
        0, 11, (n, t), generator=torch.Generator().manual_seed(seed)
    )


@pytest.mark.parametrize("mode", ["eval", "train"])
def test_the_output_at_t_ignores_the_tokens_after_t(lm, mode):
    lm.train(mode == "train")
    idx = tokens()
    with torch.no_grad():
        logits = lm(idx)
        for t in range(7):
            changed = idx.clone()
            changed[:, t + 1 :] = (changed[:, t + 1 :] + 1) % 11
            other = lm(changed)
            assert torch.allclose(
                other[:, : t + 1], logits[:, : t + 1], atol=1e-6
            )
            assert not torch.allclose(
                other[:, t + 1 :], logits[:, t + 1 :]
            )


def test_the_gradient_of_output_t_is_zero_on_later_positions(lm):
    h = lm.residual(tokens(), 0).detach().requires_grad_()
    t = 4
    lm.logits_from(h, 0)[:, t].sum().backward()
    size = h.grad.abs().sum(dim=(0, 2))
    assert (size[t + 1 :] == 0).all()
    assert (size[: t + 1] > 0).all()


@pytest.mark.parametrize("grad", [False, True])
def test_splicing_the_unchanged_stream_back_gives_the_same_logits(
    lm, grad
):
    lm.eval()
    idx = tokens()
    with torch.set_grad_enabled(grad):
        logits = lm(idx)
        for after in range(lm.depth + 1):
            h = lm.residual(idx, after)
            assert h.shape == (3, 8, 16)
            assert torch.equal(lm.logits_from(h, after), logits)


def test_a_replaced_stream_changes_the_logits_from_its_position_on(lm):
    lm.eval()
    idx = tokens()
    with torch.no_grad():
        logits = lm(idx)
        h = lm.residual(idx, 2)
        h[:, 5] = 0  # e.g. a poor reconstruction at position 5
        spliced = lm.logits_from(h, 2)
    assert torch.equal(spliced[:, :5], logits[:, :5])
    assert not torch.allclose(spliced[:, 5:], logits[:, 5:])


def test_the_language_model_refuses_what_it_cannot_read(lm):
    with pytest.raises(
        ValueError, match=r"token indices must lie in 0\.\.10"
    ):
        lm(torch.tensor([[3, 11]]))
    with pytest.raises(ValueError, match="1 to 8 tokens"):
        lm(torch.zeros(1, 9, dtype=torch.long))
    with pytest.raises(ValueError, match="integer token indices"):
        lm(torch.zeros(1, 4))
    with pytest.raises(
        ValueError, match="after must be an integer from 0 to 3"
    ):
        lm.residual(tokens(), 4)


def test_next_token_loss_is_the_cross_entropy_of_the_shifted_tokens(lm):
    windows = tokens(4, 9)
    logits = lm(windows[:, :-1])
    expected = F.cross_entropy(
        logits.reshape(-1, 11), windows[:, 1:].reshape(-1)
    )
    assert torch.allclose(next_token_loss(lm, (windows,)), expected)
    with pytest.raises(ValueError, match="at least 2 tokens"):
        next_token_loss(lm, (windows[:, :1],))


def test_the_language_model_learns_a_repeating_sequence():
    torch.manual_seed(0)
    stream = (
        torch.arange(400) % 5
    )  # 0 1 2 3 4 0 1 ...: the next token is always known
    windows = stream.unfold(0, 9, 3)  # (131, 9)
    lm = CausalLM(vocab_size=5, context=8, dim=16, depth=1, heads=2)
    history = fit(
        lm,
        windows,
        batch_loss=next_token_loss,
        epochs=6,
        batch_size=32,
        lr=1e-2,
        progress=False,
    )
    assert history.train[0] > 1.0  # about log 5 = 1.61 at the start
    assert history.train[-1] < 0.1
