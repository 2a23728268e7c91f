"""aecourse.evaluation.features: top contexts, windows and the two concentration scores on hand-built codes,
and the property the chapter leans on: the scores do not change when a unit's activations are rescaled or
shifted, so SAE latents and neurons are compared on the same footing."""

from __future__ import annotations

import math

import pytest
import torch

from aecourse.evaluation.features import (
    concentration,
    contexts,
    mlp_neurons,
    top_activations,
    top_share,
)
from aecourse.models.transformer import CausalLM, causal_mask

# 6 positions, 3 units: unit 0 fires on positions 1, 3, 4; unit 1 is a dense "neuron" (signed);
# unit 2 never fires.
CODES = torch.tensor(
    [
        [0.0, -0.5, 0.0],
        [2.0, 0.3, 0.0],
        [0.0, 1.5, 0.0],
        [5.0, -1.0, 0.0],
        [1.0, 0.9, 0.0],
        [0.0, 0.1, 0.0],
    ]
)
CLASSES = torch.tensor(
    [0, 1, 2, 1, 0, 2]
)  # the token class of each position


def test_top_activations_are_the_positions_of_the_largest_first():
    assert top_activations(CODES, 0, 3).tolist() == [3, 1, 4]
    assert top_activations(CODES, 1, 2).tolist() == [2, 4]
    with pytest.raises(
        ValueError, match="unit must be an integer from 0 to 2"
    ):
        top_activations(CODES, 3, 2)
    with pytest.raises(
        ValueError, match="k must be an integer from 1 to 6"
    ):
        top_activations(CODES, 0, 7)


def test_contexts_are_windows_within_their_own_sequence():
    tokens = torch.tensor(
        [[10, 11, 12, 13], [20, 21, 22, 23]]
    )  # B = 2, T = 4
    # flat positions 5 = (1, 1), 0 = (0, 0), 3 = (0, 3)
    windows = contexts(tokens, torch.tensor([5, 0, 3]), before=2, after=1)
    assert (
        windows.tolist()
        == [
            [
                -1,
                20,
                21,
                22,
            ],  # nothing before the start of sequence 1: not 13 from sequence 0
            [-1, -1, 10, 11],
            [
                11,
                12,
                13,
                -1,
            ],  # nothing after the end of sequence 0: not 20
        ]
    )
    assert contexts(tokens, torch.tensor([6]), before=1).tolist() == [
        [21, 22]
    ]
    with pytest.raises(ValueError, match="positions must lie in 0..7"):
        contexts(tokens, torch.tensor([8]))
    with pytest.raises(ValueError, match="positions must be integer"):
        contexts(tokens, torch.tensor([1.0]))


def test_top_share_by_hand():
    is_one = CLASSES == 1
    share = top_share(CODES, is_one, 3)
    # unit 0: top 3 at positions 3, 1, 4 -> classes 1, 1, 0 -> 2/3
    # unit 1: top 3 at 2, 4, 1 -> classes 2, 0, 1 -> 1/3
    assert share[:2].tolist() == pytest.approx([2 / 3, 1 / 3])
    assert math.isnan(share[2])  # never fires
    # with k = 5 unit 0 still counts only the 3 positions where it fires
    assert top_share(CODES, is_one, 5)[0].item() == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match=r"bool tensor \(6,\)"):
        top_share(CODES, CLASSES, 3)


def test_concentration_by_hand():
    share, best = concentration(CODES, CLASSES, 3)
    assert share[:2].tolist() == pytest.approx([2 / 3, 1 / 3])
    # unit 1's top 3 hold one position of each class: the tie goes to the smallest class id
    assert best.tolist() == [1, 0, -1]
    assert math.isnan(share[2])
    share, best = concentration(CODES, CLASSES, 1)
    assert share[:2].tolist() == [1.0, 1.0] and best[:2].tolist() == [
        1,
        2,
    ]


def test_scores_ignore_the_scale_and_shift_of_a_unit():
    g = torch.Generator().manual_seed(0)
    codes = torch.randn(200, 5, generator=g).relu()
    classes = torch.randint(0, 4, (200,), generator=g)
    share, best = concentration(codes, classes, 20)
    # a neuron-like copy: rescaled per unit and shifted (positive where the original fires)
    neurons = codes * torch.tensor([0.1, 1.0, 3.0, 10.0, 100.0]) + 1e-3
    share2, best2 = concentration(neurons, classes, 20)
    torch.testing.assert_close(share, share2)
    assert torch.equal(best, best2)
    # top_share of the best class is the concentration
    for unit in range(5):
        in_best = classes == best[unit]
        assert top_share(codes, in_best, 20)[
            unit
        ].item() == pytest.approx(share[unit].item())


def test_a_unit_that_fires_only_on_one_class_is_fully_concentrated():
    classes = torch.tensor([0, 1, 2, 3] * 25)
    codes = torch.zeros(100, 2)
    codes[classes == 2, 0] = torch.linspace(1, 2, 25)  # a "digit" latent
    codes[:, 1] = torch.linspace(
        0.1, 1, 100
    )  # fires everywhere, strongest at the end
    share, best = concentration(codes, classes, 10)
    assert share[0] == 1.0 and best[0] == 2
    # its top 8 (the last 8 positions) hold every class twice: 2/8 at best
    assert concentration(codes, classes, 8)[0][1].item() == 0.25
    with pytest.raises(ValueError, match="class ids >= 0"):
        concentration(codes, classes - 1, 10)


def test_mlp_neurons_are_the_blocks_hidden_units_computed_by_hand():
    torch.manual_seed(0)
    model = CausalLM(30, 6, dim=16, depth=2, heads=4).eval()
    idx = torch.randint(0, 30, (3, 6))
    got = mlp_neurons(model, idx, 1)
    # block 1 by hand: x + attention(norm1 x), then GELU(linear1(norm2 .))
    layer = model.blocks.blocks[1]
    with torch.no_grad():
        x = model.residual(idx, 1)
        q = layer.norm1(x)
        mid = (
            x
            + layer.self_attn(
                q, q, q, attn_mask=causal_mask(6), need_weights=False
            )[0]
        )
        want = torch.nn.functional.gelu(layer.linear1(layer.norm2(mid)))
        # and the block's output is mid + linear2 of these neurons
        out = mid + layer.linear2(want)
    assert torch.allclose(out, model.residual(idx, 2), atol=1e-5)
    assert got.shape == (18, 64)
    assert torch.allclose(got, want.reshape(18, 64), atol=1e-6)
    # a position's neurons depend on its own sequence only: row n·T + t
    alone = mlp_neurons(model, idx[1:2], 1)
    assert torch.allclose(got[6:12], alone, atol=1e-5)


def test_mlp_neurons_reject_a_block_outside_the_model():
    model = CausalLM(30, 6, dim=16, depth=2, heads=4)
    idx = torch.zeros(1, 6, dtype=torch.long)
    with pytest.raises(ValueError, match="block"):
        mlp_neurons(model, idx, 2)
    with pytest.raises(ValueError, match="CausalLM"):
        mlp_neurons(torch.nn.Linear(2, 2), idx, 0)
