"""Convolution, unpooling and transposed convolution written out by hand (the convolution chapter).

A convolutional decoder has to make images larger again. The convolution chapter builds the three ways of
doing it from nothing and checks each against PyTorch:

- :func:`average_unpool2d` copies each value into its p×p patch (PyTorch's nearest upsampling);
- :func:`max_pool2d_with_switches` remembers where each maximum was, and :func:`max_unpool2d` puts the
  values back there, zeros elsewhere (Zeiler & Fergus' "switches", PyTorch's ``MaxUnpool2d``);
- :func:`conv_transpose2d` lets each input pixel stamp the kernel, scaled by its value, onto a larger
  output: PyTorch's ``conv_transpose2d``; :func:`conv_transpose2d_by_zero_insertion` computes the same
  as an ordinary convolution of the input spread out with zeros (:func:`insert_zeros`), with the kernel
  flipped: the "fractionally-strided" view.

:func:`conv2d_matrix` shows where the name "transposed" comes from: a convolution is a multiplication by
a sparse matrix C, and multiplying by Cᵀ is the transposed convolution. :func:`transposed_output_size`
(and :func:`conv_output_size` for the convolution it undoes) give the sizes without running anything.
:func:`phase_means` measures the checkerboard that uneven stamps leave behind, and :func:`switch_entropy`
how many bits max-pooling switches carry on real images.

These are the readable versions, with loops where the loop is the idea; the chapter's models use
``torch.nn``. Everything works on the last two dimensions (rows, columns) of a tensor.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from aecourse._args import indices, integer


def _pair(value, name: str, minimum: int) -> tuple[int, int]:
    """An int or a pair of ints (rows, columns), each at least ``minimum``, as a pair."""
    try:
        pair = (value, value) if isinstance(value, int) else tuple(value)
    except TypeError:
        pair = ()
    if len(pair) != 2 or not all(
        isinstance(v, int) and not isinstance(v, bool) for v in pair
    ):
        raise ValueError(
            f"{name} must be an int or a pair of ints, got {value!r}."
        )
    if min(pair) < minimum:
        raise ValueError(
            f"{name} must be at least {minimum}, got {value!r}."
        )
    return pair


# --- sizes ---------------------------------------------------------------------------------------


def transposed_output_size(
    u: int,
    kernel: int,
    stride: int = 1,
    padding: int = 0,
    output_padding: int = 0,
) -> int:
    """Length of a transposed convolution's output along one dimension of input length u.

    (u − 1)·s − 2p + k + output_padding: the last input pixel's stamp starts at (u − 1)·s and is k long;
    p is cropped from each end and output_padding added at the far end. This equals u·s (exact
    "upsampling by s") exactly when k + output_padding = s + 2p, for example

    - k = s, p = 0: non-overlapping stamps, like the worked example (k = s = 2);
    - k = 4, s = 2, p = 1: the DCGAN decoder layer (overlapping stamps, no odd sizes);
    - k = 3, s = 2, p = 1, output_padding = 1: a 3×3 kernel that still exactly doubles.

    Raises ValueError for u, k or s below 1, negative p, output_padding not smaller than s (as PyTorch
    requires) or a result below 1.
    """
    for name, value, minimum in (
        ("u", u, 1),
        ("kernel", kernel, 1),
        ("stride", stride, 1),
        ("padding", padding, 0),
        ("output_padding", output_padding, 0),
    ):
        integer(name, value, low=minimum)
    if output_padding >= stride:
        raise ValueError(
            f"output_padding must be smaller than stride, got output_padding = {output_padding} "
            f"and stride = {stride}."
        )
    size = (u - 1) * stride - 2 * padding + kernel + output_padding
    if size < 1:
        raise ValueError(
            f"padding = {padding} crops away the whole output: (u − 1)·s − 2p + k + output_padding "
            f"= {size}."
        )
    return size


def conv_output_size(
    n: int, kernel: int, stride: int = 1, padding: int = 0
) -> int:
    """Length of a convolution's output along one dimension of input length n: ⌊(n + 2p − k) / s⌋ + 1.

    The transposed convolution with the same k, s, p maps that length back:
    ``conv_output_size(transposed_output_size(u, k, s, p, op), k, s, p) == u`` for every op < s. The
    floor is why output_padding exists: with s > 1 several n give the same output length, and
    output_padding picks which one to return to. Raises ValueError if the kernel does not fit.
    """
    for name, value, minimum in (
        ("n", n, 1),
        ("kernel", kernel, 1),
        ("stride", stride, 1),
        ("padding", padding, 0),
    ):
        integer(name, value, low=minimum)
    if n + 2 * padding < kernel:
        raise ValueError(
            f"A kernel of size {kernel} does not fit an input of size {n} padded by {padding}."
        )
    return (n + 2 * padding - kernel) // stride + 1


# --- transposed convolution ----------------------------------------------------------------------


def _transposed_setting(x, weight, stride, padding, output_padding):
    """Check a transposed convolution's arguments (x: (N, C_in, H, W), weight: (C_in, C_out, kH, kW))
    and return the pairs (stride, padding, output_padding) and the output size (H_out, W_out)."""
    if x.ndim != 4 or weight.ndim != 4:
        raise ValueError(
            f"Expected x (N, C_in, H, W) with weight (C_in, C_out, kH, kW), or x (H, W) with "
            f"weight (kH, kW); got x {tuple(x.shape)} and weight {tuple(weight.shape)}."
        )
    if x.shape[1] != weight.shape[0]:
        raise ValueError(
            f"x has C_in = {x.shape[1]} channels but weight has {weight.shape[0]}: weight must be "
            f"(C_in, C_out, kH, kW), as for torch's conv_transpose2d."
        )
    (sh, sw), (ph, pw), (oph, opw) = (
        _pair(stride, "stride", 1),
        _pair(padding, "padding", 0),
        _pair(output_padding, "output_padding", 0),
    )
    if oph >= sh or opw >= sw:
        raise ValueError(
            f"output_padding must be smaller than stride, got output_padding = {output_padding!r} "
            f"and stride = {stride!r}."
        )
    (h, w), (kh, kw) = x.shape[-2:], weight.shape[-2:]
    h_out, w_out = (
        (h - 1) * sh - 2 * ph + kh + oph,
        (w - 1) * sw - 2 * pw + kw + opw,
    )
    if h_out < 1 or w_out < 1:
        raise ValueError(
            f"padding = {padding!r} crops away the whole output: it would be {h_out} × {w_out}."
        )
    return (sh, sw), (ph, pw), (oph, opw), (h_out, w_out)


def conv_transpose2d(
    x, weight, stride=1, padding=0, output_padding=0
) -> torch.Tensor:
    """Transposed convolution by scatter-add, as ``torch.nn.functional.conv_transpose2d`` (no bias).

    x: (N, C_in, H, W), weight: (C_in, C_out, kH, kW)  ->  (N, C_out, H_out, W_out), or for worked
    examples x: (H, W) and weight: (kH, kW)  ->  (H_out, W_out). Lists are accepted as well as tensors.
    stride, padding, output_padding: an int or a pair (rows, columns).
    H_out = (H − 1)·s − 2p + kH + output_padding (see :func:`transposed_output_size`), likewise W_out.

    Input pixel (i, j) stamps the kernel, scaled by its value, onto the output at (i·s, j·s); where
    stamps overlap they add up. Then p rows and columns are cropped from each side.

    >>> conv_transpose2d([[1, 2], [5, 9]], [[3, 4], [1, 1]], stride=2).tolist()
    [[3, 4, 6, 8], [1, 1, 2, 2], [15, 20, 27, 36], [5, 5, 9, 9]]

    Raises ValueError for other shapes, channel counts that differ, a stride below 1, negative padding,
    output_padding not smaller than the stride (as PyTorch requires), or padding that crops everything.
    """
    x, weight = torch.as_tensor(x), torch.as_tensor(weight)
    if x.ndim == weight.ndim == 2:
        # A worked example: one image, one channel in and out.
        return conv_transpose2d(
            x[None, None],
            weight[None, None],
            stride,
            padding,
            output_padding,
        )[0, 0]
    (sh, sw), (ph, pw), (oph, opw), (h_out, w_out) = _transposed_setting(
        x, weight, stride, padding, output_padding
    )
    n, _, h, w = x.shape
    c_out, kh, kw = weight.shape[1:]

    dtype = torch.result_type(x, weight)
    x, weight = x.to(dtype), weight.to(device=x.device, dtype=dtype)
    # The full canvas before cropping: every stamp fits, plus output_padding more rows and columns at the
    # far end (no stamp reaches them), so that cropping p from each side leaves exactly H_out × W_out.
    full = torch.zeros(
        n,
        c_out,
        (h - 1) * sh + kh + oph,
        (w - 1) * sw + kw + opw,
        dtype=dtype,
        device=x.device,
    )
    for i in range(h):
        for j in range(w):
            # Pixel (i, j) of every image and input channel: (N, C_in). Each input channel's value scales
            # its kernel, and the stamps of all input channels add up: (N, C_out, kH, kW).
            stamp = torch.einsum("nc,cokl->nokl", x[:, :, i, j], weight)
            full[:, :, i * sh : i * sh + kh, j * sw : j * sw + kw] += (
                stamp
            )
    return full[:, :, ph : ph + h_out, pw : pw + w_out]


def insert_zeros(x, stride) -> torch.Tensor:
    """Put s − 1 zeros between neighbouring pixels: the input of the zero-insertion view.

    x: (..., H, W)  ->  (..., (H − 1)·s_H + 1, (W − 1)·s_W + 1), x[..., i, j] at (i·s_H, j·s_W), zeros
    elsewhere. stride: an int or a pair (rows, columns).

    >>> insert_zeros([[1, 2], [5, 9]], 2).tolist()
    [[1, 0, 2], [0, 0, 0], [5, 0, 9]]

    Raises ValueError if x has fewer than 2 dimensions or the stride is below 1.
    """
    x = _check_planes(x, "x")
    sh, sw = _pair(stride, "stride", 1)
    h, w = x.shape[-2:]
    out = x.new_zeros(*x.shape[:-2], (h - 1) * sh + 1, (w - 1) * sw + 1)
    out[..., ::sh, ::sw] = x
    return out


def conv_transpose2d_by_zero_insertion(
    x, weight, stride=1, padding=0, output_padding=0
) -> torch.Tensor:
    """The transposed convolution as an ordinary convolution: the "fractionally-strided" view.

    Same arguments, shapes and result as :func:`conv_transpose2d`: x (N, C_in, H, W) or (H, W),
    weight (C_in, C_out, kH, kW) or (kH, kW). Three steps (Dumoulin & Visin 2016):

    1. insert s − 1 zeros between neighbouring inputs (:func:`insert_zeros`);
    2. pad with k − 1 − p zeros on each side, plus output_padding more at the far end (where
       k − 1 − p is negative, crop instead);
    3. convolve (stride 1, a cross-correlation as in ``F.conv2d``) with the kernel flipped in both
       directions and its input and output channels swapped.

    The stride of the transposed convolution has become zeros between the inputs: a convolution that
    moves 1/s of an input pixel per output pixel, hence "fractionally strided".

    >>> conv_transpose2d_by_zero_insertion([[1, 2], [5, 9]], [[3, 4], [1, 1]], 2).tolist()
    [[3, 4, 6, 8], [1, 1, 2, 2], [15, 20, 27, 36], [5, 5, 9, 9]]

    Raises ValueError as :func:`conv_transpose2d` does.
    """
    x, weight = torch.as_tensor(x), torch.as_tensor(weight)
    if x.ndim == weight.ndim == 2:
        return conv_transpose2d_by_zero_insertion(
            x[None, None],
            weight[None, None],
            stride,
            padding,
            output_padding,
        )[0, 0]
    (sh, sw), (ph, pw), (oph, opw), _ = _transposed_setting(
        x, weight, stride, padding, output_padding
    )
    dtype = torch.result_type(x, weight)
    x, weight = x.to(dtype), weight.to(device=x.device, dtype=dtype)
    kh, kw = weight.shape[-2:]
    spread = insert_zeros(x, (sh, sw))  # (N, C_in, (H − 1)·s + 1, ...)
    # F.pad takes (left, right, top, bottom); a negative amount crops
    top, left = kh - 1 - ph, kw - 1 - pw
    padded = F.pad(spread, (left, left + opw, top, top + oph))
    # (C_in, C_out, kH, kW) -> flipped, (C_out, C_in, kH, kW) as conv2d wants
    flipped = weight.flip(-2, -1).transpose(0, 1)
    return F.conv2d(padded, flipped)


def conv2d_matrix(kernel, input_shape) -> torch.Tensor:
    """The matrix C of a 'valid', stride-1 convolution, so convolving is multiplying by C.

    kernel: (kH, kW); input_shape: (H, W)  ->  C: (oH·oW, H·W) with oH = H − kH + 1, oW = W − kW + 1, so
    ``F.conv2d(x[None, None], kernel[None, None])[0, 0] == (C @ x.flatten()).reshape(oH, oW)`` for any
    x of shape (H, W). Like PyTorch's conv2d this is a cross-correlation (the kernel is not flipped).
    Row r·oW + c of C holds the kernel laid over the input at (r, c), everything else zero.

    Multiplying by Cᵀ goes the other way, (oH·oW) -> (H·W), and is the transposed convolution with the
    same kernel: ``(C.T @ y.flatten()).reshape(H, W) == conv_transpose2d(y, kernel)``. With the
    chapter's kernel [[1, 2, 3], [4, 5, 6], [7, 8, 9]] on a 4 × 4 input, C is 4 × 16, and
    y = [[1, 0], [2, 1]] gives

        Cᵀ @ [1, 0, 2, 1]  =  [[ 1,  2,  3,  0],
                               [ 6, 10, 14,  3],
                               [15, 22, 26,  6],
                               [14, 23, 26,  9]]    (reshaped to 4 × 4)

    Raises ValueError if kernel is not 2-D, input_shape is not two positive ints, or the kernel does not
    fit inside the input.
    """
    kernel = torch.as_tensor(kernel)
    if kernel.ndim != 2:
        raise ValueError(
            f"kernel must be 2-D (kH, kW), got shape {tuple(kernel.shape)}."
        )
    in_h, in_w = _pair(input_shape, "input_shape", 1)
    kh, kw = kernel.shape
    if kh > in_h or kw > in_w:
        raise ValueError(
            f"A {kh} × {kw} kernel does not fit inside a {in_h} × {in_w} input."
        )
    out_h, out_w = in_h - kh + 1, in_w - kw + 1
    matrix = torch.zeros(
        out_h * out_w,
        in_h * in_w,
        dtype=kernel.dtype,
        device=kernel.device,
    )
    for r in range(out_h):
        for c in range(out_w):
            for a in range(kh):
                for b in range(kw):
                    # Output (r, c) sees input pixel (r + a, c + b) through kernel entry (a, b); pixels
                    # are numbered row by row, as flatten() numbers them.
                    matrix[r * out_w + c, (r + a) * in_w + (c + b)] = (
                        kernel[a, b]
                    )
    return matrix


# --- unpooling -----------------------------------------------------------------------------------


def _check_planes(x, name: str) -> torch.Tensor:
    x = torch.as_tensor(x)
    if x.ndim < 2:
        raise ValueError(
            f"{name} must have at least 2 dimensions (..., H, W), got shape {tuple(x.shape)}."
        )
    return x


def average_unpool2d(x, p: int) -> torch.Tensor:
    """Undo average pooling as well as it can be undone: copy each value into its p×p patch.

    x: (N, C, H, W), or any (..., H, W) such as a plain (H, W)  ->  (..., p·H, p·W). Average-pooling the
    result with window p gives x back. The same as ``F.interpolate(x, scale_factor=p, mode="nearest")``.

    >>> average_unpool2d([[2, 0.5], [1.5, 0]], 2).tolist()[0]
    [2.0, 2.0, 0.5, 0.5]

    Raises ValueError if x has fewer than 2 dimensions or p is not a positive int.
    """
    x = _check_planes(x, "x")
    integer("p", p, low=1)
    out = x.new_empty(*x.shape[:-2], p * x.shape[-2], p * x.shape[-1])
    # Position (a, b) of every patch is one strided slice of the output, and it gets all of x at once.
    for a in range(p):
        for b in range(p):
            out[..., a::p, b::p] = x
    return out


def max_pool2d_with_switches(
    x, p: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Max pooling over non-overlapping p×p windows that also records where each maximum was.

    x: (N, C, H, W), or any (..., H, W)  ->  (pooled, switches), both (..., ⌊H/p⌋, ⌊W/p⌋); rows and
    columns that do not fill a whole window are dropped, as in PyTorch. switches (int64) are flat indices
    into each H × W plane, row·W + column, the convention of ``F.max_pool2d(..., return_indices=True)``;
    where a window holds the maximum more than once, the first in reading order wins, as in PyTorch.

    Raises ValueError if x has fewer than 2 dimensions, p is not a positive int or p is larger than H or W.
    """
    x = _check_planes(x, "x")
    integer("p", p, low=1)
    h, w = x.shape[-2:]
    if p > h or p > w:
        raise ValueError(
            f"A {p} × {p} window does not fit inside a {h} × {w} input."
        )
    out_h, out_w = h // p, w // p
    pooled = x.new_empty(*x.shape[:-2], out_h, out_w)
    switches = torch.empty(
        *x.shape[:-2], out_h, out_w, dtype=torch.int64, device=x.device
    )
    for i in range(out_h):
        for j in range(out_w):
            window = x[
                ..., i * p : (i + 1) * p, j * p : (j + 1) * p
            ].flatten(-2)  # (..., p·p) in reading order
            # argmax returns the first of equal maxima
            k = window.argmax(-1)
            pooled[..., i, j] = window.gather(-1, k[..., None])[..., 0]
            # back to row·W + column in x
            switches[..., i, j] = (i * p + k // p) * w + (j * p + k % p)
    return pooled, switches


def max_unpool2d(x, switches, output_size) -> torch.Tensor:
    """Put each pooled value back where its maximum came from; zeros everywhere else.

    x: pooled values (..., h, w); switches: (..., h, w) int64 flat indices row·W + column into each
    H × W plane, as returned by :func:`max_pool2d_with_switches` or ``F.max_pool2d(..., return_indices=
    True)``; output_size: (H, W), needed because pooling dropped any rows and columns that did not fill a
    window  ->  (..., H, W). The same as ``F.max_unpool2d(x, switches, p, output_size=output_size)``.

    Raises ValueError if x and switches differ in shape, switches are not integers or point outside the
    H × W plane, or output_size is not two positive ints.
    """
    x, switches = _check_planes(x, "x"), torch.as_tensor(switches)
    if switches.shape != x.shape:
        raise ValueError(
            f"x and switches must have the same shape, got {tuple(x.shape)} and "
            f"{tuple(switches.shape)}."
        )
    indices("switches", switches)
    out_h, out_w = _pair(output_size, "output_size", 1)
    if switches.numel() and (
        switches.min() < 0 or switches.max() >= out_h * out_w
    ):
        raise ValueError(
            f"switches must index an output_size = {out_h} × {out_w} plane (0 to {out_h * out_w - 1}), "
            f"got values from {int(switches.min())} to {int(switches.max())}."
        )
    out = x.new_zeros(*x.shape[:-2], out_h * out_w)
    # Along each flattened plane, value k goes to position switches[k]: a scatter, the inverse of gather.
    out.scatter_(-1, switches.flatten(-2).long(), x.flatten(-2))
    return out.reshape(*x.shape[:-2], out_h, out_w)


def switch_entropy(switches, width: int, p: int = 2) -> float:
    """Bits that max-pooling switches carry per image, measured: the empirical entropy of each window's
    switch position over a set of images, summed over windows.

    switches: (N, ..., h, w) int64 flat indices row·W + column into planes of width ``width`` = W, from
    p×p max pooling (:func:`max_pool2d_with_switches`, ``F.max_pool2d(..., return_indices=True)``); N
    images. Each switch is reduced to its position in its window, 0 to p² − 1 in reading order; for
    each window (every entry of the trailing dimensions) the entropy −Σ f log₂ f of that position's
    frequencies f over the N images is computed, and the entropies of all windows are added. The result
    lies between 0 (every window always picks the same position, as a flat background does: ties go to
    position 0) and windows × log₂(p²), the bound reached only if all p² positions are equally likely.
    Dependence between windows is ignored, so this still over-counts what the switches carry jointly.

    >>> switch_entropy(torch.tensor([[[[0]]], [[[1]]]]), width=2)   # one window, 2 positions, 50/50
    1.0

    Raises ValueError if switches are not integers, have fewer than 3 dimensions or width or p are not
    positive ints.
    """
    switches = torch.as_tensor(switches)
    indices("switches", switches)
    integer("width", width, low=1)
    integer("p", p, low=1)
    if switches.ndim < 3:
        raise ValueError(
            f"switches must be (N, ..., h, w): one set of windows per image, got shape "
            f"{tuple(switches.shape)}."
        )
    row, col = switches // width, switches % width
    position = (row % p) * p + col % p  # (N, ..., h, w), 0 .. p² − 1
    counts = F.one_hot(position.flatten(1).long(), p * p).sum(
        0
    )  # (windows, p²)
    f = counts.double() / switches.shape[0]
    return float(-(f * torch.log2(f.clamp_min(1e-300))).sum())


# --- checkerboard artifacts ----------------------------------------------------------------------


def phase_means(x, s: int = 2) -> torch.Tensor:
    """The mean of x over each of the s×s pixel phases: a checkerboard shows up as unequal means.

    x: (..., H, W)  ->  (..., s, s), entry (a, b) the mean of the pixels x[..., i, j] with i ≡ a and
    j ≡ b (mod s), that is ``x[..., a::s, b::s].mean()``. A stride-s transposed convolution builds phase
    (a, b) of its output from its own subset of kernel weights, so even a constant input can come out
    with s×s different values, the checkerboard of Odena, Dumoulin & Olah (2016); nearest upsampling
    followed by a convolution gives every phase the same weights. For a flat image all s² means are equal.

    >>> phase_means(torch.tensor([[1., 2., 1., 2.], [3., 4., 3., 4.]])).tolist()
    [[1.0, 2.0], [3.0, 4.0]]

    Raises ValueError if x has fewer than 2 dimensions, s is not a positive int or s is larger than H or W.
    """
    x = _check_planes(x, "x")
    integer("s", s, low=1)
    h, w = x.shape[-2:]
    if s > h or s > w:
        raise ValueError(
            f"s = {s} phases do not fit inside a {h} × {w} input."
        )
    x = x if x.dtype.is_floating_point else x.double()
    rows = [
        torch.stack(
            [x[..., a::s, b::s].mean((-2, -1)) for b in range(s)], -1
        )
        for a in range(s)
    ]
    return torch.stack(rows, -2)
