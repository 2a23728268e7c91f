"""Checkers of the number system chapter's exercises: binary codes and how many code units they need."""

from __future__ import annotations

from collections.abc import Callable

import torch

from aecourse._args import integer
from aecourse.checks._verdict import (
    _call,
    _close,
    _known_slip,
    _verdict,
    exercise,
)


@exercise("ex-binary-code")
def check_binary_code(fn: Callable) -> bool:
    """fn(codes) -> (n, h) int tensor of 0/1: each code unit thresholded at 0.5 (exactly 0.5 gives 0)."""
    # (3, 3); the tie at exactly 0.5 is row 3, unit 1
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
    if answer.dtype == torch.bool:
        return _verdict(
            False,
            "return integers 0/1 (e.g. with .long()), not booleans.",
        )
    if answer.dtype.is_floating_point:
        return _verdict(
            False, "return integers 0/1 (e.g. with .long()), not floats."
        )
    flipped = (
        "your bits are flipped: 1 where the value is above 0.5, "
        "0 where it is not."
    )
    slip = _known_slip(
        [
            (
                (codes >= 0.5).long(),
                "the value of exactly 0.5 (row 3, unit 1) gave 1, but a "
                "value of exactly 0.5 counts as 0: threshold with >, "
                "not >=.",
            ),
            ((codes <= 0.5).long(), flipped),
            ((codes < 0.5).long(), flipped),
        ],
        lambda wrong: (
            answer.shape == wrong.shape
            and torch.equal(answer.long(), wrong)
        ),
    )
    if slip:
        return _verdict(False, slip)
    return _close(
        answer,
        expected,
        "the bits (a value of exactly 0.5 counts as 0)",
        atol=0,
        plural=True,
    )


@exercise("ex-min-code-bits")
def check_min_code_bits(fn: Callable) -> bool:
    """fn(n) -> the fewest binary code units that give n inputs distinct codes: ⌈log2 n⌉, an int.

    The last n, 2^60 + 1, is one whose floating-point log2 is exactly 60.0 (the first such is 2^49 + 1).
    """
    for n in (2, 3, 8, 9, 16, 17, 1000, 2**60 + 1):
        answer, problem = _call(fn, n)
        if problem:
            return _verdict(False, problem)
        try:
            integer("the number of units", answer)
        except ValueError as err:
            return _verdict(
                False,
                f"for n = {n}, {str(err).rstrip('.')}: return a Python "
                "int (math.ceil and int.bit_length return one).",
            )
        expected = (n - 1).bit_length()  # exact for every n
        if answer == expected - 1 and n > 2**53:
            return _verdict(
                False,
                f"for n = 2^{expected - 1} + 1 you answered {answer}: in "
                f"floating point, math.log2(n) comes out as exactly "
                f"{expected - 1}.0, so its ceiling is one short. Count with "
                "integers instead, e.g. (n - 1).bit_length().",
            )
        if answer != expected:
            return _verdict(
                False,
                f"for n = {n} you answered {answer}, but the fewest is "
                f"{expected}: h binary units give 2^h codes, and "
                f"2^{expected - 1} = {2 ** (expected - 1)} < {n} ≤ "
                f"2^{expected} = {2**expected}.",
            )
    return _verdict(
        True, "⌈log2 n⌉ bits: h bits name at most 2^h inputs."
    )
