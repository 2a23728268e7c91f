"""aecourse.ops.rate: the rate of a discrete code and the uniform b-bit quantizer, against hand computations."""

from __future__ import annotations

import math

import pytest
import torch

from aecourse.ops.rate import UniformQuantizer, bits_per_image


def test_bits_per_image_by_hand():
    assert bits_per_image(49, 64) == 294.0  # 7 × 7 codes of 6 bits each
    assert bits_per_image(49, 512) == 49 * 9
    assert bits_per_image(10, 1) == 0.0  # one code names nothing
    assert bits_per_image(3, 10) == pytest.approx(3 * math.log2(10))


@pytest.mark.parametrize(
    "args", [(0, 64), (49, 0), (49.0, 64), (49, 2.5), (True, 4)]
)
def test_bits_per_image_refuses_bad_arguments(args):
    with pytest.raises(ValueError, match="must be an integer"):
        bits_per_image(*args)


def test_uniform_quantizer_by_hand():
    # unit 0 ranges over [0, 4], unit 1 over [-1, 1]; 2 bits -> 4 bins of width 1 and 0.5
    train = torch.tensor([[0.0, -1.0], [4.0, 1.0], [2.0, 0.0]])
    q = UniformQuantizer.fit(train, bits=2)
    assert q.levels == 4 and q.units == 2 and q.rate == 4
    assert torch.equal(q.step, torch.tensor([1.0, 0.5]))
    codes = torch.tensor(
        [[0.2, -1.0], [1.0, -0.2], [3.99, 0.49], [4.0, 1.0], [-1.0, 5.0]]
    )
    # bin index floor((z - low)/Δ), clipped to 0..3: 4.0 and 5 fall in the last bin, -1 in the first
    assert q.encode(codes).tolist() == [
        [0, 0],
        [1, 1],
        [3, 2],
        [3, 3],
        [0, 3],
    ]
    expected = torch.tensor(
        [
            [0.5, -0.75],
            [1.5, -0.25],
            [3.5, 0.25],
            [3.5, 0.75],
            [0.5, 0.75],
        ]
    )
    assert torch.equal(q(codes), expected)


def test_uniform_quantizer_error_is_at_most_half_a_step_inside_the_range():
    g = torch.Generator().manual_seed(0)
    train = torch.randn(500, 6, generator=g) * torch.arange(1.0, 7.0)
    for bits in (1, 3, 8):
        q = UniformQuantizer.fit(train, bits)
        levels = q.encode(train)
        assert levels.dtype == torch.int64
        assert levels.min() >= 0 and levels.max() <= 2**bits - 1
        error = (q(train) - train).abs()
        assert (error <= q.step / 2 + 1e-5).all()
        assert q.rate == 6 * bits
    # more bits, smaller error
    errors = [
        (UniformQuantizer.fit(train, b)(train) - train).pow(2).mean()
        for b in (1, 2, 4, 8)
    ]
    assert all(a > b for a, b in zip(errors, errors[1:]))


def test_a_constant_unit_decodes_to_its_value():
    train = torch.tensor([[1.0, 3.0], [2.0, 3.0]])
    q = UniformQuantizer.fit(train, 3)
    out = q(torch.tensor([[1.5, 3.0], [1.5, 7.0]]))
    assert out[:, 1].tolist() == [3.0, 3.0]
    assert q.encode(torch.tensor([[1.5, 7.0]]))[0, 1] == 0


def test_uniform_quantizer_refuses_bad_input():
    with pytest.raises(ValueError, match=r"codes \(N, units\)"):
        UniformQuantizer.fit(torch.zeros(5), 2)
    with pytest.raises(
        ValueError, match="bits must be an integer from 1 to 24"
    ):
        UniformQuantizer.fit(torch.zeros(5, 2), 0)
    q = UniformQuantizer.fit(torch.rand(5, 2), 2)
    with pytest.raises(ValueError, match="must have 2 units"):
        q(torch.rand(5, 3))
    with pytest.raises(
        ValueError, match="levels must be an integer tensor"
    ):
        q.decode(torch.rand(5, 2))
