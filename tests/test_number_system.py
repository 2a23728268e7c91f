"""aecourse.models.number_system: the 8-3-8 encoder learns to reconstruct every input, whatever the seed."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from aecourse.models.autoencoder import Autoencoder
from aecourse.models.number_system import (
    codes,
    describe,
    distinct_binary_codes,
    hull_vertices,
    inputs_reconstructed,
    number_system,
    one_hot,
    reconstructs_all,
    train_number_system,
)


def bits(n: int, width: int) -> torch.Tensor:
    """Rows are the binary numbers 0..n-1 with `width` digits: (n, width) of 0/1."""
    return torch.tensor(
        [
            [(i >> k) & 1 for k in reversed(range(width))]
            for i in range(n)
        ],
        dtype=torch.float32,
    )


def binary_8_3_8() -> Autoencoder:
    """An 8-3-8 network set by hand to use the binary number system.

    Encoder: input i -> code ≈ bits(i). Decoder: output j gets 20 * (0.5 - Hamming(code, bits(j))),
    positive only for j = i, so thresholding at 0.5 gives input i back.
    """
    model = number_system(8, 3)
    b = bits(8, 3)
    enc, dec = model.encoder.layers[0], model.decoder.layers[0]
    with torch.no_grad():
        # column i is ±10 by the bits of i
        enc.weight.copy_(10 * (2 * b.T - 1))
        enc.bias.zero_()
        dec.weight.copy_(20 * (2 * b - 1))
        dec.bias.copy_(-20 * (b.sum(1) - 0.5))
    return model.eval()


def test_one_hot_is_the_identity():
    assert torch.equal(one_hot(4), torch.eye(4))
    assert (
        one_hot(8).shape == (8, 8) and one_hot(8).dtype == torch.float32
    )
    assert one_hot(3, device="cpu").device.type == "cpu"


@pytest.mark.parametrize("n", [1, 0, -2])
def test_one_hot_needs_two_inputs(n):
    with pytest.raises(
        ValueError, match=f"Need at least 2 inputs, got n = {n}"
    ):
        one_hot(n)


def test_number_system_architecture():
    model = number_system(8, 3)
    assert [type(m) for m in model.encoder.layers] == [
        nn.Linear,
        nn.Sigmoid,
    ]
    assert [type(m) for m in model.decoder.layers] == [
        nn.Linear,
        nn.Sigmoid,
    ]
    assert (
        model.encoder.layers[0].in_features,
        model.encoder.layers[0].out_features,
    ) == (8, 3)
    assert model.code_size == 3 and model.code_noise == 0
    assert number_system(16, 4).code_size == 4
    with pytest.raises(
        ValueError, match="Need at least one hidden unit, got hidden = 0"
    ):
        number_system(8, 0)


def test_hand_built_binary_code_reconstructs_all():
    model = binary_8_3_8()
    c = codes(model)
    assert c.shape == (8, 3)
    torch.testing.assert_close(c, bits(8, 3), atol=1e-4, rtol=0)
    assert distinct_binary_codes(c) == 8
    assert reconstructs_all(model)


def test_reconstructs_all_detects_failures():
    model = binary_8_3_8()
    with torch.no_grad():
        model.decoder.layers[0].bias[5] -= (
            100  # output 5 can never switch on
        )
    assert not reconstructs_all(model)
    model = binary_8_3_8()
    with torch.no_grad():
        model.encoder.layers[0].weight[:, 6] = model.encoder.layers[
            0
        ].weight[:, 7]  # inputs 6, 7 share a code
    assert distinct_binary_codes(codes(model)) == 7
    assert not reconstructs_all(model)


def test_codes_are_the_encodings_of_the_one_hot_inputs():
    model = number_system(5, 2)
    torch.testing.assert_close(codes(model), model.encode(torch.eye(5)))


def test_distinct_binary_codes_by_hand():
    assert (
        distinct_binary_codes(
            torch.tensor([[0.9, 0.1], [0.8, 0.2], [0.1, 0.9]])
        )
        == 2
    )
    # exactly 0.5 counts as 0
    assert (
        distinct_binary_codes(torch.tensor([[0.5], [0.4], [0.51]])) == 2
    )
    assert distinct_binary_codes(bits(8, 3)) == 8
    assert distinct_binary_codes(torch.full((8, 3), 0.7)) == 1


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_8_3_8_learns_to_reconstruct_every_input(seed):
    model = train_number_system(
        8, 3, epochs=1500, seed=seed, progress=False
    )
    assert not model.training
    assert reconstructs_all(model)
    assert codes(model).shape == (8, 3)


def test_training_repeats_under_a_seed():
    a = train_number_system(8, 3, epochs=20, seed=7, progress=False)
    b = train_number_system(8, 3, epochs=20, seed=7, progress=False)
    c = train_number_system(8, 3, epochs=20, seed=8, progress=False)
    assert all(
        torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters())
    )
    assert not torch.equal(codes(a), codes(c))


def test_a_single_hidden_unit_cannot_reconstruct_eight_inputs():
    """With one code unit c, each output is a monotonic function of c, so it is on for a half-line of codes;
    the input with the middle code shares that half-line with an extreme one: 8-1-8 must fail, however trained."""
    model = train_number_system(8, 1, epochs=200, seed=0, progress=False)
    assert codes(model).shape == (8, 1)
    assert not reconstructs_all(model)


def test_hull_vertices_by_hand():
    corners = bits(8, 3)
    # the centre lies inside the other corners' hull
    centre = torch.cat([corners[:7], torch.full((1, 3), 0.5)])
    assert hull_vertices(corners) == 8
    assert hull_vertices(centre) == 7
    square_and_midpoint = torch.tensor(
        [[0.0, 0], [1, 0], [1, 1], [0, 1], [0.5, 0.5]]
    )
    assert hull_vertices(square_and_midpoint) == 4
    # on a line only the two ends
    assert hull_vertices(torch.tensor([[0.2], [0.9], [0.5], [0.1]])) == 2
    with pytest.raises(ValueError, match=r"shape \(n, h\)"):
        hull_vertices(torch.rand(8))


def test_inputs_reconstructed_counts_each_input():
    model = binary_8_3_8()
    assert inputs_reconstructed(model) == 8
    with torch.no_grad():
        model.decoder.layers[0].bias[0] -= (
            100  # output 1 can no longer switch on: input 1 is lost
        )
    assert inputs_reconstructed(model) == 7 and not reconstructs_all(
        model
    )


def test_describe_the_hand_built_binary_code():
    stats = describe(binary_8_3_8())
    assert stats["all back"] and stats["inputs back"] == 8
    assert stats["bit patterns"] == 8 and stats["hull vertices"] == 8
    # neighbouring corners, saturated sigmoids
    assert stats["closest pair"] == pytest.approx(1.0, abs=1e-3)
    assert stats["least binary"] < 1e-3
