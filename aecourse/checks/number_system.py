"""Checkers of the number system chapter's exercises: binary codes and how many code units they need."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from aecourse.checks._verdict import _call, _close, _verdict


def check_binary_code(fn: Callable) -> bool:
    """fn(codes) -> (n, h) int tensor of 0/1: each code unit thresholded at 0.5."""
    codes = torch.tensor(
        [[0.97, 0.02, 0.51], [0.49, 0.99, 0.03], [0.5, 0.2, 0.8]]
    )
    answer, problem = _call(fn, codes)
    if problem:
        return _verdict(False, problem)
    expected = (codes > 0.5).long()
    if not isinstance(answer, torch.Tensor):
        return _verdict(
            False, f"return a tensor, got {type(answer).__name__}."
        )
    if answer.dtype.is_floating_point:
        return _verdict(
            False, "return integers 0/1 (e.g. with .long()), not floats."
        )
    return _close(
        answer,
        expected,
        "the bits (a value of exactly 0.5 counts as 0)",
        atol=0,
    )


def check_min_code_bits(fn: Callable) -> bool:
    """fn(n) -> the fewest binary code units that give n inputs distinct codes: ⌈log2 n⌉."""
    for n in (2, 3, 8, 9, 16, 17, 1000):
        answer, problem = _call(fn, n)
        if problem:
            return _verdict(False, problem)
        expected = math.ceil(math.log2(n))
        if answer != expected:
            return _verdict(
                False,
                f"for n = {n} you answered {answer}, but {expected} binary units are "
                f"needed: {expected - 1} give only {2 ** (expected - 1)} codes, {expected} give "
                f"{2**expected}.",
            )
    return _verdict(
        True, "⌈log2 n⌉ bits: h bits name at most 2^h inputs."
    )
