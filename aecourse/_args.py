"""Argument checks and conversions that many modules share, written once.

Each check returns the value it was given (converted where it says so) or raises ValueError with one
wording per kind of mistake: the argument's name, what was expected, and what was got. A module that
needs a check of its own, with a message that says more about its argument, keeps it; these are only the
ones that were repeated. This module sits at the bottom of the package: it imports torch, NumPy and the
standard library, nothing from aecourse.
"""

from __future__ import annotations

from numbers import Real

import numpy as np
import torch


def describe(x) -> str:
    """What x is, for a message: "shape (2, 3) dtype torch.float32" for a tensor, else its type's name."""
    if isinstance(x, torch.Tensor):
        return f"shape {tuple(x.shape)} dtype {x.dtype}"
    return type(x).__name__


def integer(
    name: str, value, low: int | None = None, high: int | None = None
) -> int:
    """value itself if it is a Python int (not a bool, not a NumPy integer) with low <= value <= high.

    low, high: the bounds, both included; None leaves that side open. Raises ValueError otherwise:
    "{name} must be an integer >= {low}, got {value!r}." ("an integer from {low} to {high}" with both
    bounds, "an integer" with none).
    """
    if isinstance(value, int) and not isinstance(value, bool):
        if (low is None or value >= low) and (
            high is None or value <= high
        ):
            return value
    if high is not None:
        expected = (
            f"an integer from {low} to {high}"
            if low is not None
            else f"an integer <= {high}"
        )
    else:
        expected = (
            f"an integer >= {low}" if low is not None else "an integer"
        )
    raise ValueError(f"{name} must be {expected}, got {value!r}.")


def probability(name: str, value) -> float:
    """value as a float if it is a real number (a bool is not) in [0, 1], both ends included.

    Python and NumPy ints and floats are real numbers; tensors, strings and NaN are not accepted.
    Raises ValueError "{name} must be a number in [0, 1], got {value!r}." otherwise.
    """
    if (
        isinstance(value, Real)
        and not isinstance(value, bool)
        and 0 <= value <= 1
    ):
        return float(value)
    raise ValueError(f"{name} must be a number in [0, 1], got {value!r}.")


def binary(name: str, x: torch.Tensor, hint: str = "") -> torch.Tensor:
    """x itself if every entry of the tensor x (any shape, any dtype) is 0 or 1.

    Raises ValueError "{name} must hold only 0 and 1, got {first other value}." otherwise, followed by
    ``hint`` (how to fix it) when one is given.
    """
    is_bit = (x == 0) | (x == 1)
    if bool(is_bit.all()):
        return x
    message = (
        f"{name} must hold only 0 and 1, got {x[~is_bit][0].item()!r}."
    )
    raise ValueError(f"{message} {hint}" if hint else message)


def indices(
    name: str, t: torch.Tensor, what: str = "indices"
) -> torch.Tensor:
    """t itself if the tensor t (any shape) has an integer dtype (bool is not one): class labels,
    positions. what: what the integers are, for the message.

    Raises ValueError "{name} must be integer {what}, got dtype {t.dtype}." otherwise.
    """
    dtype = t.dtype
    if not (
        dtype.is_floating_point or dtype.is_complex or dtype == torch.bool
    ):
        return t
    raise ValueError(f"{name} must be integer {what}, got dtype {dtype}.")


def images(name: str, x) -> torch.Tensor:
    """x itself if it is a floating-point tensor of images (N, C, H, W), any N, C, H, W (0 included).

    Raises ValueError "{name} must be a float tensor of images (N, C, H, W), got {describe(x)}." otherwise.
    """
    if (
        isinstance(x, torch.Tensor)
        and x.dtype.is_floating_point
        and x.dim() == 4
    ):
        return x
    raise ValueError(
        f"{name} must be a float tensor of images (N, C, H, W), got {describe(x)}."
    )


def to_numpy(x, dtype=None) -> np.ndarray:
    """A tensor (on any device, with or without grad) or anything NumPy reads -> a NumPy array on the CPU.

    dtype: a NumPy dtype (np.float64, float, bool, ...) to convert to, or None to keep x's own. A tensor
    is detached and converted by torch before NumPy sees it, so bfloat16, which NumPy lacks, works too.
    The array may share memory with a CPU tensor or an array given in the right dtype: copy it to change it.
    """
    if isinstance(x, torch.Tensor):
        target = (
            x.dtype
            if dtype is None
            else torch.from_numpy(np.empty(0, dtype=dtype)).dtype
        )
        x = x.detach().to("cpu", target).numpy()
    return np.asarray(x, dtype=dtype)
