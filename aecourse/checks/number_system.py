"""Checkers of the number system chapter's exercises: binary codes, their symmetries, and how many code units
they need."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from aecourse._args import integer
from aecourse.checks._verdict import (
    _call,
    _close,
    _known_slip,
    _shape_or_type,
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


# One 8-3-8 binary code: row i is the code of symbol i + 1, every corner of the cube once.
_CODE = torch.tensor(
    [
        [1, 0, 1],
        [0, 0, 0],
        [1, 1, 0],
        [0, 1, 1],
        [1, 0, 0],
        [0, 1, 0],
        [1, 1, 1],
        [0, 0, 1],
    ]
)
# A 6-4-6 code, to try a number of units other than 3.
_CODE_4 = torch.tensor(
    [
        [0, 1, 1, 0],
        [1, 0, 0, 0],
        [1, 1, 0, 1],
        [0, 0, 1, 1],
        [1, 0, 1, 0],
        [0, 1, 0, 1],
    ]
)


def _symmetry_cases() -> list[tuple]:
    """(a, b, the right answer, the message for a wrong one): the code above against relabellings of
    its units (True) and against changes that no relabelling of units makes (False)."""
    a, z = _CODE, _CODE.T  # z[k]: unit k + 1 of every symbol
    one_bit = a.clone()
    one_bit[2, 2] = 1  # symbol 3's code becomes symbol 7's
    swapped = a[[1, 0, *range(2, 8)]]
    z4 = _CODE_4.T
    return [
        (
            a,
            a.clone(),
            True,
            "for b equal to a you returned False: leaving every unit as it is, unflipped, is "
            "one of the symmetries.",
        ),
        (
            a,
            torch.stack([z[2], z[0], z[1]], dim=1),
            True,
            "for b = a with its units reordered as (z3, z1, z2) you returned False: permuting "
            "the units gives the same code, relabelled.",
        ),
        (
            a,
            torch.stack([z[0], 1 - z[1], z[2]], dim=1),
            True,
            "for b = a with unit 2 flipped (0 ↔ 1) you returned False: flipping one unit gives "
            "the same code, relabelled (σ(−a) = 1 − σ(a)); any set of units may be flipped.",
        ),
        (
            a,
            torch.stack([1 - z[1], z[2], z[0]], dim=1),
            True,
            "for b = a with its units reordered as (z2, z3, z1) and the new first unit flipped "
            "you returned False: try every order of the units combined with every set of flips.",
        ),
        (
            a,
            one_bit,
            False,
            "for b = a with one bit of symbol 3's code changed you returned True: a relabelling "
            "of units moves all codes alike and keeps them distinct, but here two symbols share "
            "a code.",
        ),
        (
            a,
            swapped,
            False,
            "for b = a with the codes of symbols 1 and 2 exchanged you returned True: a "
            "relabelling of units keeps each symbol's row in place; compare the rows in order, "
            "not the set of codes.",
        ),
        (
            a,
            torch.stack([z[0], z[0], z[1]], dim=1),
            False,
            "for b whose units 1 and 2 are both copies of unit 1 of a you returned True: each "
            "unit of a must be used exactly once, so match the units through a permutation, not "
            "each unit of b on its own.",
        ),
        (
            _CODE_4,
            torch.stack([z4[3], 1 - z4[0], z4[1], 1 - z4[2]], dim=1),
            True,
            "for a code of 4 units, b = a with its units reordered as (z4, z1, z2, z3) and two of "
            "them flipped, you returned False: your function must work for any number of "
            "units h, trying all h!·2^h relabellings.",
        ),
    ]


@exercise("ex-number-system-symmetry")
def check_same_up_to_symmetry(fn: Callable) -> bool:
    """fn(a, b) -> bool: whether the (n, h) bit table b is a with its h units permuted and some flipped.

    Row i of a table is the code of symbol i; a relabelling of units (a symmetry of the cube: h! orders
    times 2^h flips) changes the columns, never which row belongs to which symbol.
    """
    for a, b, expected, wrong in _symmetry_cases():
        answer, problem = _call(fn, a.clone(), b.clone())
        if problem:
            return _verdict(False, problem)
        if isinstance(answer, torch.Tensor) and answer.numel() == 1:
            answer = answer.item()
        if not isinstance(answer, (bool, np.bool_)):
            return _verdict(
                False,
                f"return True or False, got {_shape_or_type(answer)}.",
            )
        if bool(answer) != expected:
            return _verdict(False, wrong)
    return _verdict(
        True,
        "the same code up to a permutation and flips of its units, the 48 symmetries of the cube "
        "for h = 3.",
    )
