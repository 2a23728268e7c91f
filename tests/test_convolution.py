"""aecourse.ops.convolution: the hand-written operations of the convolution chapter against PyTorch and the
worked examples.

Random configurations (batch, channels, sizes, kernels, strides 1–3, paddings 0–2, output_paddings) are
drawn from fixed seeds, in float64 so that only the order of the additions differs from PyTorch's.
"""

from __future__ import annotations

import doctest
import math
import random

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import aecourse.ops.convolution
from aecourse.ops.convolution import (
    average_unpool2d,
    conv2d_matrix,
    conv_output_size,
    conv_transpose2d,
    conv_transpose2d_by_zero_insertion,
    insert_zeros,
    max_pool2d_with_switches,
    max_unpool2d,
    phase_means,
    switch_entropy,
    transposed_output_size,
)

# float64: only rounding from a different order of additions
TIGHT = dict(rtol=1e-12, atol=1e-12)

# The chapter's worked example of a convolution as a matrix.
KERNEL_3X3 = [[1, 2, 3], [4, 5, 6], [7, 8, 9]]
INPUT_4X4 = [[2, 1, 0, 3], [0, 0, 1, 2], [3, 1, 2, 0], [0, 2, 2, 1]]
# Cᵀ @ [1, 0, 2, 1], 4 × 4
CT_RESULT = [
    [1, 2, 3, 0],
    [6, 10, 14, 3],
    [15, 22, 26, 6],
    [14, 23, 26, 9],
]


def transposed_configs(count: int, seed: int) -> list[dict]:
    """Random conv_transpose2d settings whose output is at least 1 × 1; some with (rows, columns) pairs."""
    rng = random.Random(seed)
    configs = []
    while len(configs) < count:
        s = (
            (rng.randint(1, 3), rng.randint(1, 3))
            if rng.random() < 0.2
            else rng.randint(1, 3)
        )
        sh, sw = (s, s) if isinstance(s, int) else s
        c = dict(
            n=rng.randint(1, 3),
            c_in=rng.randint(1, 3),
            c_out=rng.randint(1, 3),
            h=rng.randint(1, 5),
            w=rng.randint(1, 5),
            kh=rng.randint(1, 4),
            kw=rng.randint(1, 4),
            stride=s,
            padding=rng.randint(0, 2),
        )
        if rng.random() < 0.2:
            c["output_padding"] = (rng.randrange(sh), rng.randrange(sw))
        else:
            c["output_padding"] = rng.randrange(min(sh, sw))
        oph, opw = (
            (c["output_padding"],) * 2
            if isinstance(c["output_padding"], int)
            else c["output_padding"]
        )
        h_out = (c["h"] - 1) * sh - 2 * c["padding"] + c["kh"] + oph
        w_out = (c["w"] - 1) * sw - 2 * c["padding"] + c["kw"] + opw
        if h_out >= 1 and w_out >= 1:
            c["seed"] = seed * 1000 + len(configs)
            configs.append(c)
    return configs


def config_id(c: dict) -> str:
    return "n{n}-c{c_in}to{c_out}-{h}x{w}-k{kh}x{kw}-s{stride}-p{padding}-op{output_padding}".format(
        **c
    ).replace(" ", "")


# --- conv_transpose2d ----------------------------------------------------------------------------


def test_transposed_worked_example_exactly():
    kernel, x = [[3, 4], [1, 1]], [[1, 2], [5, 9]]
    expected = [
        [3, 4, 6, 8],
        [1, 1, 2, 2],
        [15, 20, 27, 36],
        [5, 5, 9, 9],
    ]
    out = conv_transpose2d(x, kernel, stride=2)
    assert out.tolist() == expected  # integers in, integers out: exact
    # The same numbers as PyTorch, and as float tensors.
    xt, kt = (
        torch.tensor(x, dtype=torch.float64),
        torch.tensor(kernel, dtype=torch.float64),
    )
    assert conv_transpose2d(xt, kt, stride=2).tolist() == expected
    assert (
        F.conv_transpose2d(xt[None, None], kt[None, None], stride=2)[
            0, 0
        ].tolist()
        == expected
    )


def test_each_input_pixel_stamps_the_scaled_kernel():
    kernel = torch.tensor(
        [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], dtype=torch.float64
    )
    x = torch.zeros(3, 4, dtype=torch.float64)
    x[1, 2] = -2.5
    out = conv_transpose2d(x, kernel, stride=3)
    assert out.shape == (2 * 3 + 2, 3 * 3 + 3)
    expected = torch.zeros_like(out)
    # the stamp lands at (i·s, j·s) = (3, 6)
    expected[3:5, 6:9] = -2.5 * kernel
    assert torch.equal(out, expected)


def test_overlapping_stamps_add_up():
    # stride 1, two pixels of 1 side by side, kernel of ones: the middle column is covered twice.
    out = conv_transpose2d(torch.tensor([[1.0, 1.0]]), torch.ones(2, 2))
    assert out.tolist() == [[1, 2, 1], [1, 2, 1]]


def test_padding_crops_each_side_and_output_padding_adds_at_the_end():
    x, kernel = (
        torch.arange(1.0, 7.0).reshape(2, 3),
        torch.arange(1.0, 10.0).reshape(3, 3),
    )
    full = conv_transpose2d(x, kernel, stride=2)  # 5 × 7
    assert full.shape == (5, 7)
    assert torch.equal(
        conv_transpose2d(x, kernel, stride=2, padding=1), full[1:-1, 1:-1]
    )
    extra = conv_transpose2d(x, kernel, stride=2, output_padding=1)
    assert extra.shape == (6, 8)
    assert (
        torch.equal(extra[:5, :7], full)
        and not extra[5].any()
        and not extra[:, 7].any()
    )


def transposed_case(c):
    """The random input, kernel (float64) and keyword arguments of one transposed_configs setting."""
    g = torch.Generator().manual_seed(c["seed"])
    x = torch.randn(
        c["n"],
        c["c_in"],
        c["h"],
        c["w"],
        generator=g,
        dtype=torch.float64,
    )
    weight = torch.randn(
        c["c_in"],
        c["c_out"],
        c["kh"],
        c["kw"],
        generator=g,
        dtype=torch.float64,
    )
    args = dict(
        stride=c["stride"],
        padding=c["padding"],
        output_padding=c["output_padding"],
    )
    return x, weight, args


@pytest.mark.parametrize(
    "c", transposed_configs(30, seed=3), ids=config_id
)
def test_conv_transpose2d_matches_torch(c):
    x, weight, args = transposed_case(c)
    ours, theirs = (
        conv_transpose2d(x, weight, **args),
        F.conv_transpose2d(x, weight, **args),
    )
    assert ours.shape == theirs.shape
    torch.testing.assert_close(ours, theirs, **TIGHT)
    if isinstance(c["stride"], int) and isinstance(
        c["output_padding"], int
    ):
        assert ours.shape[2:] == (
            transposed_output_size(
                c["h"],
                c["kh"],
                c["stride"],
                c["padding"],
                c["output_padding"],
            ),
            transposed_output_size(
                c["w"],
                c["kw"],
                c["stride"],
                c["padding"],
                c["output_padding"],
            ),
        )


def test_conv_transpose2d_matches_the_module_and_keeps_float32():
    layer = nn.ConvTranspose2d(
        3, 2, kernel_size=4, stride=2, padding=1, bias=False
    )
    x = torch.randn(5, 3, 7, 7)
    out = conv_transpose2d(x, layer.weight.detach(), stride=2, padding=1)
    assert out.dtype == torch.float32 and out.shape == (5, 2, 14, 14)
    torch.testing.assert_close(out, layer(x).detach())


def test_2d_input_is_one_image_with_one_channel():
    g = torch.Generator().manual_seed(7)
    x, kernel = (
        torch.randn(4, 3, generator=g, dtype=torch.float64),
        torch.randn(3, 2, generator=g, dtype=torch.float64),
    )
    out = conv_transpose2d(
        x, kernel, stride=2, padding=1, output_padding=1
    )
    assert out.ndim == 2
    torch.testing.assert_close(
        out,
        conv_transpose2d(x[None, None], kernel[None, None], 2, 1, 1)[
            0, 0
        ],
        **TIGHT,
    )


@pytest.mark.parametrize(
    "stride,padding", [(1, 0), (2, 0), (2, 1), (3, 2), (3, 1)]
)
def test_transposed_convolution_is_the_adjoint_of_convolution(
    stride, padding
):
    # <conv2d(z), y> = <z, conv_transpose2d(y)>: the transposed convolution is multiplication by Cᵀ, which
    # is also why it is the gradient of a convolution with respect to its input.
    g = torch.Generator().manual_seed(stride * 10 + padding)
    z = torch.randn(2, 3, 9, 8, generator=g, dtype=torch.float64)
    # conv2d: (C_out, C_in, kH, kW)
    weight = torch.randn(4, 3, 3, 3, generator=g, dtype=torch.float64)
    y = torch.randn_like(
        F.conv2d(z, weight, stride=stride, padding=padding)
    )
    # output_padding makes the transposed output exactly the size of z again.
    op = [(n + 2 * padding - 3) % stride for n in z.shape[2:]]
    back = conv_transpose2d(
        y,
        weight,
        stride=stride,
        padding=padding,
        output_padding=tuple(op),
    )
    assert back.shape == z.shape
    torch.testing.assert_close(
        (F.conv2d(z, weight, stride=stride, padding=padding) * y).sum(),
        (z * back).sum(),
        **TIGHT,
    )


# --- conv2d_matrix -------------------------------------------------------------------------------


def test_conv2d_matrix_worked_example():
    kernel, x = torch.tensor(KERNEL_3X3), torch.tensor(INPUT_4X4)
    # By hand: the kernel over the top-left 3 × 3 patch of the input.
    assert (
        2 * 1
        + 1 * 2
        + 0 * 3
        + 0 * 4
        + 0 * 5
        + 1 * 6
        + 3 * 7
        + 1 * 8
        + 2 * 9
        == 57
    )
    C = conv2d_matrix(kernel, (4, 4))
    assert C.shape == (4, 16)
    # Row 0 is the kernel laid over input pixels (0..2, 0..2), i.e. flat positions 0 1 2, 4 5 6, 8 9 10.
    assert C[0].tolist() == [
        1,
        2,
        3,
        0,
        4,
        5,
        6,
        0,
        7,
        8,
        9,
        0,
        0,
        0,
        0,
        0,
    ]
    # Row 3 (output (1, 1)) is the same row shifted by one row and one column of the input: 4 + 1 = 5.
    assert torch.equal(C[3], C[0].roll(5))
    assert (C @ x.flatten()).reshape(2, 2).tolist() == [
        [57, 50],
        [66, 61],
    ]
    assert F.conv2d(x[None, None].double(), kernel[None, None].double())[
        0, 0
    ].tolist() == [[57, 50], [66, 61]]


def test_multiplying_by_c_transposed_is_the_transposed_convolution():
    kernel, y = torch.tensor(KERNEL_3X3), torch.tensor([[1, 0], [2, 1]])
    C = conv2d_matrix(kernel, (4, 4))
    back = (C.T @ torch.tensor([1, 0, 2, 1])).reshape(4, 4)
    assert back.tolist() == CT_RESULT
    assert (
        F.conv_transpose2d(
            y[None, None].double(), kernel[None, None].double()
        )[0, 0].tolist()
        == CT_RESULT
    )
    assert conv_transpose2d(y, kernel).tolist() == CT_RESULT
    # and the docstring shows the same 4 × 4 result
    doc = conv2d_matrix.__doc__
    for row in CT_RESULT:
        assert "[" + ", ".join(f"{v:2d}" for v in row) + "]" in doc


@pytest.mark.parametrize(
    "kh,kw,h,w",
    [
        (1, 1, 3, 2),
        (2, 3, 4, 5),
        (3, 3, 3, 3),
        (3, 2, 6, 4),
        (4, 1, 5, 7),
    ],
)
def test_conv2d_matrix_matches_torch(kh, kw, h, w):
    g = torch.Generator().manual_seed(kh * 100 + kw * 10 + h)
    kernel = torch.randn(kh, kw, generator=g, dtype=torch.float64)
    x = torch.randn(h, w, generator=g, dtype=torch.float64)
    C = conv2d_matrix(kernel, (h, w))
    out_h, out_w = h - kh + 1, w - kw + 1
    assert C.shape == (out_h * out_w, h * w)
    # sparse: one kernel per row
    assert (C != 0).sum(1).tolist() == [kh * kw] * (out_h * out_w)
    torch.testing.assert_close(
        (C @ x.flatten()).reshape(out_h, out_w),
        F.conv2d(x[None, None], kernel[None, None])[0, 0],
        **TIGHT,
    )
    y = torch.randn(out_h, out_w, generator=g, dtype=torch.float64)
    torch.testing.assert_close(
        (C.T @ y.flatten()).reshape(h, w),
        F.conv_transpose2d(y[None, None], kernel[None, None])[0, 0],
        **TIGHT,
    )


# --- sizes ---------------------------------------------------------------------------------------


def size_configs():
    return [
        (u, k, s, p, op)
        for u in (1, 2, 5, 7)
        for k in (1, 2, 3, 4, 5)
        for s in (1, 2, 3)
        for p in (0, 1, 2)
        for op in range(s)
        if (u - 1) * s - 2 * p + k + op >= 1
    ]


def test_transposed_output_size_matches_conv_transpose2d_modules():
    x_cache = {}
    for u, k, s, p, op in size_configs():
        layer = nn.ConvTranspose2d(
            1,
            1,
            kernel_size=k,
            stride=s,
            padding=p,
            output_padding=op,
            bias=False,
        )
        x = x_cache.setdefault(u, torch.zeros(1, 1, u, u + 1))
        with torch.no_grad():
            out = layer(x)
        assert out.shape[2:] == (
            transposed_output_size(u, k, s, p, op),
            transposed_output_size(u + 1, k, s, p, op),
        )


def test_transposed_output_size_is_u_times_s_exactly_when_k_plus_op_is_s_plus_2p():
    seen = set()
    for u, k, s, p, op in size_configs():
        doubles = transposed_output_size(u, k, s, p, op) == u * s
        assert doubles == (k + op == s + 2 * p), (u, k, s, p, op)
        seen.add(doubles)
    assert seen == {True, False}
    # The three cases the docstring names.
    assert transposed_output_size(7, 2, 2) == 14
    assert transposed_output_size(7, 4, 2, 1) == 14
    assert transposed_output_size(7, 3, 2, 1, 1) == 14
    # without output_padding, one short
    assert transposed_output_size(7, 3, 2, 1) == 13


def test_conv_output_size_matches_conv2d_and_is_undone_by_the_transposed_size():
    for u, k, s, p, op in size_configs():
        n = transposed_output_size(u, k, s, p, op)
        if n + 2 * p < k:
            continue
        assert conv_output_size(n, k, s, p) == u, (u, k, s, p, op)
        conv = nn.Conv2d(
            1, 1, kernel_size=k, stride=s, padding=p, bias=False
        )
        with torch.no_grad():
            assert conv(torch.zeros(1, 1, n, n)).shape[
                -1
            ] == conv_output_size(n, k, s, p)
    # why output_padding exists
    assert (
        conv_output_size(28, 3, 2, 1)
        == conv_output_size(27, 3, 2, 1)
        == 14
    )


# --- average unpooling ---------------------------------------------------------------------------


def test_average_unpool_worked_example():
    out = average_unpool2d(torch.tensor([[2, 0.5], [1.5, 0]]), 2)
    assert out.tolist() == [
        [2, 2, 0.5, 0.5],
        [2, 2, 0.5, 0.5],
        [1.5, 1.5, 0, 0],
        [1.5, 1.5, 0, 0],
    ]


@pytest.mark.parametrize(
    "shape,p",
    [
        ((2, 3, 4, 5), 2),
        ((1, 1, 3, 3), 3),
        ((3, 2, 1, 6), 4),
        ((2, 1, 5, 2), 1),
    ],
)
def test_average_unpool_is_nearest_upsampling_and_inverts_average_pooling(
    shape, p
):
    x = torch.randn(*shape, dtype=torch.float64)
    out = average_unpool2d(x, p)
    assert out.shape == (*shape[:2], p * shape[2], p * shape[3])
    assert torch.equal(
        out, F.interpolate(x, scale_factor=p, mode="nearest")
    )
    assert torch.equal(out, nn.Upsample(scale_factor=p)(x))
    torch.testing.assert_close(F.avg_pool2d(out, p), x, **TIGHT)


def test_average_unpool_works_on_any_leading_dimensions():
    x = torch.randn(3, 2, 4)
    assert torch.equal(
        average_unpool2d(x, 2),
        F.interpolate(x[None], scale_factor=2, mode="nearest")[0],
    )


# --- max pooling with switches, max unpooling ----------------------------------------------------


def pool_configs(count: int, seed: int) -> list[tuple]:
    """(N, C, H, W, p, ties): H, W at least p and not always multiples of p."""
    rng = random.Random(seed)
    configs = []
    for i in range(count):
        p = rng.choice((2, 3))
        configs.append(
            (
                rng.randint(1, 3),
                rng.randint(1, 3),
                rng.randint(p, 10),
                rng.randint(p, 10),
                p,
                i % 2 == 0,
            )
        )
    return configs


def pool_input(n, c, h, w, ties, seed):
    g = torch.Generator().manual_seed(seed)
    if ties:  # few distinct values: windows often hold their maximum two or more times
        return torch.randint(0, 3, (n, c, h, w), generator=g).double()
    return torch.randn(n, c, h, w, generator=g, dtype=torch.float64)


def test_max_pool_with_switches_by_hand():
    # last row and column do not fill a 2 × 2 window
    x = torch.tensor(
        [
            [1.0, 5.0, 0.0, 2.0, 9.0],
            [3.0, 2.0, 7.0, 7.0, 9.0],
            [4.0, 4.0, 1.0, 0.0, 9.0],
        ]
    )
    pooled, switches = max_pool2d_with_switches(x, 2)
    assert pooled.tolist() == [[5.0, 7.0]]
    # the first of the two 7s, in reading order
    assert switches.tolist() == [[1, 1 * 5 + 2]]
    assert switches.dtype == torch.int64
    back = max_unpool2d(pooled, switches, (3, 5))
    assert back.tolist() == [
        [0, 5, 0, 0, 0],
        [0, 0, 7, 0, 0],
        [0, 0, 0, 0, 0],
    ]


@pytest.mark.parametrize("n,c,h,w,p,ties", pool_configs(30, seed=5))
def test_max_pool_switches_match_torch(n, c, h, w, p, ties):
    x = pool_input(n, c, h, w, ties, seed=n * 1000 + c * 100 + h * 10 + w)
    pooled, switches = max_pool2d_with_switches(x, p)
    expected, indices = F.max_pool2d(x, p, return_indices=True)
    assert torch.equal(pooled, expected)
    assert torch.equal(switches, indices)


@pytest.mark.parametrize("n,c,h,w,p,ties", pool_configs(30, seed=6))
def test_max_unpool_matches_torch(n, c, h, w, p, ties):
    x = pool_input(
        n, c, h, w, ties, seed=n * 1000 + c * 100 + h * 10 + w + 1
    )
    pooled, switches = max_pool2d_with_switches(x, p)
    ours = max_unpool2d(pooled, switches, (h, w))
    assert ours.shape == x.shape
    assert torch.equal(
        ours, F.max_unpool2d(pooled, switches, p, output_size=(h, w))
    )
    assert torch.equal(
        ours,
        nn.MaxUnpool2d(p)(pooled, switches, output_size=(n, c, h, w)),
    )
    # Each maximum is back where it was, every other pixel is zero.
    kept = ours != 0
    assert torch.equal(ours[kept], x[kept])
    assert int(kept.sum()) <= pooled.numel()
    # Pooling again gives the same maxima wherever they were not negative (zeros elsewhere can win).
    again, _ = max_pool2d_with_switches(ours, p)
    assert torch.equal(again, pooled.clamp(min=0))


def test_max_unpool_with_torch_indices_and_2d_planes():
    x = torch.randn(2, 3, 6, 6)
    pooled, indices = F.max_pool2d(x, 3, return_indices=True)
    assert torch.equal(
        max_unpool2d(pooled, indices, (6, 6)),
        F.max_unpool2d(pooled, indices, 3),
    )
    plane = x[0, 0]
    p2, s2 = max_pool2d_with_switches(plane, 2)
    assert p2.shape == s2.shape == (3, 3)
    assert torch.equal(
        max_unpool2d(p2, s2, (6, 6)),
        F.max_unpool2d(p2[None], s2[None], 2)[0],
    )


# --- docstrings and errors -----------------------------------------------------------------------


def test_docstring_examples_hold():
    result = doctest.testmod(aecourse.ops.convolution)
    assert result.attempted >= 2 and result.failed == 0


def test_conv_transpose2d_rejects_bad_shapes():
    with pytest.raises(
        ValueError,
        match=r"Expected x \(N, C_in, H, W\).*got x \(2, 3\) and weight \(1, 1, 2, 2\)",
    ):
        conv_transpose2d(torch.zeros(2, 3), torch.zeros(1, 1, 2, 2))
    with pytest.raises(
        ValueError, match=r"got x \(1, 2, 3\) and weight \(2, 1, 2, 2\)"
    ):
        conv_transpose2d(torch.zeros(1, 2, 3), torch.zeros(2, 1, 2, 2))
    with pytest.raises(
        ValueError, match=r"x has C_in = 3 channels but weight has 2"
    ):
        conv_transpose2d(torch.zeros(1, 3, 4, 4), torch.zeros(2, 3, 2, 2))


@pytest.mark.parametrize(
    "kwargs,message",
    [
        (dict(stride=0), r"stride must be at least 1, got 0"),
        (
            dict(stride=(2, -1)),
            r"stride must be at least 1, got \(2, -1\)",
        ),
        (
            dict(stride=1.5),
            r"stride must be an int or a pair of ints, got 1\.5",
        ),
        (dict(padding=-1), r"padding must be at least 0, got -1"),
        (
            dict(padding=(1, 2, 3)),
            r"padding must be an int or a pair of ints",
        ),
        (
            dict(stride=2, output_padding=2),
            r"output_padding must be smaller than stride, got output_padding = 2 "
            r"and stride = 2",
        ),
        (
            dict(output_padding=1),
            r"output_padding must be smaller than stride",
        ),
        (
            dict(stride=(2, 3), output_padding=(1, 3)),
            r"output_padding must be smaller than stride",
        ),
        (
            dict(padding=2),
            r"padding = 2 crops away the whole output: it would be 0 × 0",
        ),
    ],
)
def test_conv_transpose2d_rejects_bad_arguments(kwargs, message):
    x, weight = torch.zeros(1, 1, 2, 3), torch.zeros(1, 1, 3, 2)
    with pytest.raises(ValueError, match=message):
        conv_transpose2d(x, weight, **kwargs)


def test_torch_has_the_same_output_padding_rule():
    with pytest.raises(
        RuntimeError,
        match="output padding must be smaller than either stride or dilation",
    ):
        F.conv_transpose2d(
            torch.zeros(1, 1, 2, 2),
            torch.zeros(1, 1, 2, 2),
            stride=2,
            output_padding=2,
        )


@pytest.mark.parametrize(
    "args,message",
    [
        ((0, 3), r"u must be an integer >= 1, got 0"),
        ((4, 0), r"kernel must be an integer >= 1, got 0"),
        ((4, 3, 0), r"stride must be an integer >= 1, got 0"),
        ((4, 3, 2, -1), r"padding must be an integer >= 0, got -1"),
        (
            (4, 3, 2, 0, 2),
            r"output_padding must be smaller than stride, got output_padding = 2 and stride = 2",
        ),
        ((4, 3.0), r"kernel must be an integer >= 1, got 3\.0"),
        (
            (1, 1, 1, 1),
            r"padding = 1 crops away the whole output: .* = -1",
        ),
    ],
)
def test_transposed_output_size_rejects_bad_arguments(args, message):
    with pytest.raises(ValueError, match=message):
        transposed_output_size(*args)


def test_conv_output_size_rejects_a_kernel_that_does_not_fit():
    with pytest.raises(
        ValueError,
        match=r"A kernel of size 5 does not fit an input of size 2 padded by 1",
    ):
        conv_output_size(2, 5, 1, 1)
    with pytest.raises(
        ValueError, match=r"stride must be an integer >= 1, got 0"
    ):
        conv_output_size(4, 3, 0)


def test_conv2d_matrix_rejects_bad_arguments():
    with pytest.raises(
        ValueError,
        match=r"kernel must be 2-D \(kH, kW\), got shape \(1, 3, 3\)",
    ):
        conv2d_matrix(torch.zeros(1, 3, 3), (4, 4))
    with pytest.raises(
        ValueError,
        match=r"A 3 × 3 kernel does not fit inside a 2 × 4 input",
    ):
        conv2d_matrix(torch.zeros(3, 3), (2, 4))
    with pytest.raises(
        ValueError,
        match=r"input_shape must be an int or a pair of ints, got \(4, 4, 1\)",
    ):
        conv2d_matrix(torch.zeros(3, 3), (4, 4, 1))
    with pytest.raises(
        ValueError, match=r"input_shape must be at least 1, got \(0, 4\)"
    ):
        conv2d_matrix(torch.zeros(1, 1), (0, 4))


def test_unpooling_rejects_bad_arguments():
    with pytest.raises(
        ValueError, match=r"p must be an integer >= 1, got 0"
    ):
        average_unpool2d(torch.zeros(2, 2), 0)
    with pytest.raises(
        ValueError, match=r"p must be an integer >= 1, got 2\.0"
    ):
        average_unpool2d(torch.zeros(2, 2), 2.0)
    with pytest.raises(
        ValueError,
        match=r"x must have at least 2 dimensions \(\.\.\., H, W\), got shape \(4,\)",
    ):
        average_unpool2d(torch.zeros(4), 2)
    with pytest.raises(
        ValueError,
        match=r"A 3 × 3 window does not fit inside a 2 × 5 input",
    ):
        max_pool2d_with_switches(torch.zeros(1, 1, 2, 5), 3)
    with pytest.raises(
        ValueError, match=r"p must be an integer >= 1, got -2"
    ):
        max_pool2d_with_switches(torch.zeros(4, 4), -2)


def test_max_unpool_rejects_bad_switches():
    pooled, switches = max_pool2d_with_switches(
        torch.randn(1, 2, 4, 4), 2
    )
    with pytest.raises(
        ValueError,
        match=r"same shape, got \(1, 2, 2, 2\) and \(1, 2, 2, 1\)",
    ):
        max_unpool2d(pooled, switches[..., :1], (4, 4))
    with pytest.raises(
        ValueError,
        match=r"switches must be integer indices, got dtype torch\.float32",
    ):
        max_unpool2d(pooled, switches.float(), (4, 4))
    with pytest.raises(
        ValueError,
        match=r"switches must index an output_size = 3 × 3 plane \(0 to 8\)",
    ):
        max_unpool2d(pooled, switches + 9, (3, 3))
    with pytest.raises(ValueError, match=r"got values from -1"):
        max_unpool2d(pooled, switches - switches.max() - 1, (4, 4))
    with pytest.raises(
        ValueError,
        match=r"output_size must be an int or a pair of ints, got \(1, 2, 4, 4\)",
    ):
        max_unpool2d(pooled, switches, (1, 2, 4, 4))


# --- phase_means ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "shape, s",
    [((28, 28), 2), ((3, 5, 7, 9), 2), ((2, 12, 10), 3), ((4, 4), 1)],
)
def test_phase_means_average_each_residue_class(shape, s):
    x = torch.randn(
        *shape, generator=torch.Generator().manual_seed(sum(shape))
    )
    got = phase_means(x, s)
    assert got.shape == (*shape[:-2], s, s)
    for a in range(s):
        for b in range(s):
            rows = [i for i in range(shape[-2]) if i % s == a]
            cols = [j for j in range(shape[-1]) if j % s == b]
            expected = x[..., rows, :][..., :, cols].flatten(-2).mean(-1)
            torch.testing.assert_close(got[..., a, b], expected)


def test_phase_means_are_equal_for_a_flat_image_and_for_nearest_upsampling():
    assert torch.equal(
        phase_means(torch.full((6, 8), 0.3), 2), torch.full((2, 2), 0.3)
    )
    # Nearest upsampling then averaging over phases: each phase sees every input pixel exactly once.
    x = torch.rand(7, 7, dtype=torch.float64)
    up = average_unpool2d(x, 2)
    torch.testing.assert_close(
        phase_means(up, 2),
        torch.full((2, 2), x.mean().item(), dtype=torch.float64),
    )


def test_a_strided_transposed_convolution_of_a_constant_is_a_checkerboard():
    # Kernel 3, stride 2: the interior's even rows/columns get 2 stamps per direction, odd ones 1.
    counts = conv_transpose2d(
        torch.ones(6, 6), torch.ones(3, 3), stride=2
    )
    inner = counts[2:-2, 2:-2]
    assert phase_means(inner, 2).tolist() == [[4.0, 2.0], [2.0, 1.0]]
    # Kernel 4, stride 2: every interior pixel gets the same number of stamps, so all phases agree.
    even = conv_transpose2d(
        torch.ones(6, 6), torch.ones(4, 4), stride=2, padding=1
    )[2:-2, 2:-2]
    assert phase_means(even, 2).tolist() == [[4.0, 4.0], [4.0, 4.0]]


def test_phase_means_keeps_integer_input_exact():
    got = phase_means(torch.tensor([[1, 2], [3, 4]]), 2)
    assert got.dtype == torch.float64 and got.tolist() == [
        [1.0, 2.0],
        [3.0, 4.0],
    ]


def test_phase_means_rejects_bad_arguments():
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        phase_means(torch.ones(5), 2)
    with pytest.raises(ValueError, match="s must be an integer >= 1"):
        phase_means(torch.ones(4, 4), 0)
    with pytest.raises(ValueError, match="do not fit"):
        phase_means(torch.ones(4, 2), 3)


# --- the zero-insertion view ---------------------------------------------------------------------


def test_insert_zeros_by_hand():
    assert insert_zeros(torch.tensor([[1, 2], [5, 9]]), 2).tolist() == [
        [1, 0, 2],
        [0, 0, 0],
        [5, 0, 9],
    ]
    assert insert_zeros(torch.ones(1, 2, 2, 3), (1, 3)).shape == (
        1,
        2,
        2,
        7,
    )
    assert torch.equal(
        insert_zeros(torch.arange(6.0).view(2, 3), 1),
        torch.arange(6.0).view(2, 3),
    )


def test_zero_insertion_worked_examples():
    # the stamp example (k = s = 2) and the matrix example (k = 3, s = 1, overlapping stamps)
    assert conv_transpose2d_by_zero_insertion(
        torch.tensor([[1.0, 2], [5, 9]]),
        torch.tensor([[3.0, 4], [1, 1]]),
        2,
    ).tolist() == [
        [3, 4, 6, 8],
        [1, 1, 2, 2],
        [15, 20, 27, 36],
        [5, 5, 9, 9],
    ]
    y = torch.tensor([[1.0, 0], [2, 1]])
    assert (
        conv_transpose2d_by_zero_insertion(
            y, torch.tensor(KERNEL_3X3, dtype=torch.float32)
        ).tolist()
        == CT_RESULT
    )


@pytest.mark.parametrize(
    "c", transposed_configs(40, seed=11), ids=config_id
)
def test_zero_insertion_matches_torch_and_the_stamps(c):
    x, weight, args = transposed_case(c)
    ours = conv_transpose2d_by_zero_insertion(x, weight, **args)
    torch.testing.assert_close(
        ours, F.conv_transpose2d(x, weight, **args), **TIGHT
    )
    torch.testing.assert_close(
        ours, conv_transpose2d(x, weight, **args), **TIGHT
    )


def test_zero_insertion_rejects_what_the_stamps_reject():
    with pytest.raises(ValueError, match="weight must be"):
        conv_transpose2d_by_zero_insertion(
            torch.zeros(1, 2, 3, 3), torch.zeros(3, 1, 2, 2)
        )
    with pytest.raises(
        ValueError, match="output_padding must be smaller than stride"
    ):
        conv_transpose2d_by_zero_insertion(
            torch.zeros(3, 3),
            torch.zeros(2, 2),
            stride=2,
            output_padding=2,
        )
    with pytest.raises(ValueError, match="crops away the whole output"):
        conv_transpose2d_by_zero_insertion(
            torch.zeros(1, 1), torch.zeros(1, 1), padding=1
        )
    with pytest.raises(ValueError, match="stride must be at least 1"):
        insert_zeros(torch.zeros(2, 2), 0)


# --- how much the switches carry -----------------------------------------------------------------


def test_switch_entropy_by_hand():
    # 4 images, one 4 × 4 plane, 2 × 2 windows: window 0 always picks position 0, window 1 picks
    # positions 0, 1, 2, 3 once each (2 bits), window 2 picks 0, 0, 3, 3 (1 bit), window 3 always 3.
    planes = torch.zeros(4, 4, 4)
    for n, (a, b) in enumerate([(0, 0), (0, 1), (1, 0), (1, 1)]):
        planes[n, a, 2 + b] = 1  # window (0, 1)
        planes[n, 2 + int(n >= 2), int(n >= 2)] = 1  # window (1, 0)
        planes[n, 3, 3] = 1  # window (1, 1)
    _, switches = max_pool2d_with_switches(planes[:, None], 2)
    assert switch_entropy(switches, width=4) == pytest.approx(
        0 + 2 + 1 + 0
    )


def test_switch_entropy_bounds():
    g = torch.Generator().manual_seed(0)
    _, flat = max_pool2d_with_switches(torch.zeros(10, 3, 6, 6), 2)
    assert switch_entropy(flat, 6) == 0.0  # ties: always position 0
    _, noise = F.max_pool2d(
        torch.rand(4000, 2, 6, 6, generator=g), 2, return_indices=True
    )
    bits = switch_entropy(noise, 6)
    assert bits <= 2 * 9 * 2 and bits == pytest.approx(36, abs=0.1)
    _, wide = F.max_pool2d(
        torch.rand(4000, 1, 6, 6, generator=g), 3, return_indices=True
    )
    assert switch_entropy(wide, 6, p=3) == pytest.approx(
        4 * math.log2(9), abs=0.1
    )


def test_switch_entropy_rejects_bad_arguments():
    with pytest.raises(ValueError, match="switches"):
        switch_entropy(torch.zeros(2, 2, 2), 4)
    with pytest.raises(ValueError, match=r"\(N, \.\.\., h, w\)"):
        switch_entropy(torch.zeros(2, 2, dtype=torch.int64), 4)
    with pytest.raises(ValueError, match="width"):
        switch_entropy(torch.zeros(2, 2, 2, dtype=torch.int64), 0)
