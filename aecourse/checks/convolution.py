"""Checkers of the convolution chapter's exercises: transposed convolution, max unpooling, output sizes."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from aecourse.checks._verdict import _call, _verdict, exercise


def _overwrite_transpose(
    x: torch.Tensor, kernel: torch.Tensor, s: int
) -> torch.Tensor:
    """The classic slip: each stamp overwrites the output instead of adding to it."""
    (h, w), (kh, kw) = x.shape, kernel.shape
    out = torch.zeros((h - 1) * s + kh, (w - 1) * s + kw, dtype=x.dtype)
    for i in range(h):
        for j in range(w):
            out[i * s : i * s + kh, j * s : j * s + kw] = x[i, j] * kernel
    return out


@exercise("ex-conv-transpose")
def check_conv_transpose2d(fn: Callable) -> bool:
    """fn(x, kernel, stride) -> the transposed convolution of one (H, W) image by one (kH, kW) kernel."""
    g = torch.Generator().manual_seed(3)
    cases = [
        (
            torch.tensor([[1.0, 2.0], [5.0, 9.0]]),
            torch.tensor([[3.0, 4.0], [1.0, 1.0]]),
            2,
        )
    ]
    for h, w, kh, kw, s in (
        (3, 3, 3, 3, 2),
        (2, 4, 2, 3, 1),
        (4, 3, 3, 2, 3),
        (1, 1, 2, 2, 2),
        (5, 5, 4, 4, 2),
    ):
        cases.append(
            (
                torch.randn(h, w, generator=g, dtype=torch.float64),
                torch.randn(kh, kw, generator=g, dtype=torch.float64),
                s,
            )
        )
    for x, kernel, s in cases:
        answer, problem = _call(fn, x.clone(), kernel.clone(), s)
        if problem:
            return _verdict(False, problem)
        expected = F.conv_transpose2d(
            x[None, None], kernel[None, None], stride=s
        )[0, 0].double()
        where = f"for a {tuple(x.shape)} input, a {tuple(kernel.shape)} kernel and stride {s}"
        if not isinstance(answer, torch.Tensor):
            return _verdict(
                False, f"return a tensor, got {type(answer).__name__}."
            )
        if answer.shape != expected.shape:
            return _verdict(
                False,
                f"{where}, the output has shape {tuple(answer.shape)}, expected "
                f"{tuple(expected.shape)} = ((H − 1)·s + kH, (W − 1)·s + kW).",
            )
        if not torch.allclose(
            answer.double(), expected, atol=1e-5, rtol=1e-5
        ):
            overwritten = _overwrite_transpose(x, kernel, s).double()
            if torch.allclose(
                answer.double(), overwritten, atol=1e-5, rtol=1e-5
            ):
                return _verdict(
                    False,
                    f"{where}, your stamps overwrite each other: where they overlap they "
                    "must add up (+=).",
                )
            err = (answer.double() - expected).abs().max().item()
            return _verdict(
                False,
                f"{where}, the output differs from torch's conv_transpose2d by up to "
                f"{err:.3g}.",
            )
    return _verdict(
        True,
        "every input pixel stamps the scaled kernel and overlaps add up, as in torch's "
        "conv_transpose2d.",
    )


@exercise("ex-max-unpool")
def check_max_unpool2d(fn: Callable) -> bool:
    """fn(x, switches, output_size) -> (H, W): each value of x (h, w) put at its switch, zeros elsewhere."""
    g = torch.Generator().manual_seed(4)
    for h, w, p in ((4, 4, 2), (6, 8, 2), (7, 5, 2), (9, 9, 3)):
        image = torch.randn(h, w, generator=g)
        pooled, switches = F.max_pool2d(
            image[None], p, return_indices=True
        )
        pooled, switches = pooled[0], switches[0]
        answer, problem = _call(
            fn, pooled.clone(), switches.clone(), (h, w)
        )
        if problem:
            return _verdict(False, problem)
        expected = F.max_unpool2d(
            pooled[None], switches[None], p, output_size=(h, w)
        )[0]
        where = f"for a {h} × {w} image pooled with {p} × {p} windows"
        if not isinstance(answer, torch.Tensor):
            return _verdict(
                False, f"return a tensor, got {type(answer).__name__}."
            )
        if answer.shape != expected.shape:
            return _verdict(
                False,
                f"{where}, the output has shape {tuple(answer.shape)}, expected {(h, w)}: "
                "use output_size, pooling dropped the rows and columns that did not fill a "
                "window.",
            )
        if torch.allclose(answer.float(), expected, atol=1e-6):
            continue
        nonzero = (answer != 0).sum().item()
        if nonzero > pooled.numel():
            return _verdict(
                False,
                f"{where}, {nonzero} entries are non-zero, but only {pooled.numel()} "
                "values were pooled: put each value only where its maximum was (its switch) and "
                "zeros elsewhere.",
            )
        return _verdict(
            False,
            f"{where}, the values are not at their switches: switch k means row k // W, "
            "column k % W of the output.",
        )
    return _verdict(
        True,
        "each value goes back to where its maximum was, zeros elsewhere, as in torch's "
        "max_unpool2d.",
    )


@exercise("ex-output-size")
def check_transposed_output_size(fn: Callable) -> bool:
    """fn(u, k, s, p, output_padding) -> the length of ConvTranspose2d's output along one dimension."""
    for u, k, s, p, op in (
        (7, 4, 2, 1, 0),
        (7, 3, 2, 1, 1),
        (2, 2, 2, 0, 0),
        (5, 3, 1, 0, 0),
        (5, 3, 2, 0, 0),
        (4, 5, 3, 2, 2),
        (1, 3, 2, 1, 0),
        (10, 2, 1, 0, 0),
    ):
        answer, problem = _call(fn, u, k, s, p, op)
        if problem:
            return _verdict(False, problem)
        layer = torch.nn.ConvTranspose2d(
            1, 1, k, stride=s, padding=p, output_padding=op
        )
        with torch.no_grad():
            expected = layer(torch.zeros(1, 1, u, u)).shape[-1]
        if answer != expected:
            hint = (
                " u·s is only the simple rule; it holds when k + output_padding = s + 2p."
                if answer == u * s
                else ""
            )
            return _verdict(
                False,
                f"for u={u}, k={k}, s={s}, p={p}, output_padding={op} you answered "
                f"{answer}, but ConvTranspose2d gives {expected}.{hint}",
            )
    return _verdict(
        True,
        "(u − 1)·s − 2p + k + output_padding, as ConvTranspose2d computes it.",
    )
