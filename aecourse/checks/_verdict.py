"""The machinery every chapter's checkers share, written once: the verdict, the call, the comparisons.

Private to :mod:`aecourse.checks`: the chapter modules import from here, notebooks never do.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

import torch


def _verdict(ok: bool, message: str) -> bool:
    """Print the one-line verdict and return ``ok``, so that a notebook cell can both show and assert it."""
    print(("✅ Correct: " if ok else "❌ Not yet: ") + message)
    return ok


def _call(fn: Callable, *args):
    """Run the student's function; return (result, None) or (None, a message saying what went wrong)."""
    try:
        return fn(*args), None
    except NotImplementedError:
        return (
            None,
            "the function still raises NotImplementedError: replace the stub with your code.",
        )
    except Exception as err:  # a student's bug: report it in one line
        return None, f"calling it raised {type(err).__name__}: {err}"


def _close(
    answer,
    expected: torch.Tensor,
    what: str,
    atol: float = 1e-4,
    rtol: float = 1e-4,
    *,
    plural: bool = False,
) -> bool:
    """The verdict on a tensor answer compared with the reference: its type, its shape, then its values.

    what: the answer's name in the message ("the loss"); plural=True when it is a plural noun ("the
    bits"), so that its verbs agree ("the bits match", not "the bits matches").
    """
    has, differs, matches = (
        ("have", "differ", "match")
        if plural
        else ("has", "differs", "matches")
    )
    if not isinstance(answer, torch.Tensor):
        return _verdict(
            False,
            f"{what} should be a torch.Tensor, got {type(answer).__name__}.",
        )
    if answer.shape != expected.shape:
        return _verdict(
            False,
            f"{what} {has} shape {tuple(answer.shape)}, expected {tuple(expected.shape)}.",
        )
    if not torch.allclose(
        answer.double(), expected.double(), atol=atol, rtol=rtol
    ):
        err = (answer.double() - expected.double()).abs().max().item()
        return _verdict(
            False,
            f"{what} {differs} from the reference by up to {err:.3g}.",
        )
    return _verdict(True, f"{what} {matches} the reference.")


def _known_slip(
    slips: Iterable[tuple[object, str]],
    matches: Callable[[object], object],
) -> str | None:
    """Known-mistake matching: the message of the first slip the student's answer matches, or None.

    ``slips`` holds (the answer a known slip gives, the message that names the slip) pairs, in the order
    they are tried; ``matches(wrong)`` says whether the student's answer is that wrong answer. A checker
    returns ``_verdict(False, message)`` when a slip matches, and its general message otherwise.
    """
    return next(
        (message for wrong, message in slips if matches(wrong)), None
    )


@contextmanager
def _seeded(seed: int) -> Iterator[None]:
    """Seed the global random generator for a repeatable verdict, leaving the notebook's stream alone.

    For checks whose inputs, or whose student's function, draw from the global generator: they run inside
    ``torch.random.fork_rng``, so that the notebook's own random stream is left as it was.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def _shape_or_type(answer) -> str:
    """What a wrong answer is, for a message: a tensor's shape, or the name of any other object's type."""
    return (
        str(tuple(answer.shape))
        if isinstance(answer, torch.Tensor)
        else type(answer).__name__
    )


def _count(n: int, noun: str) -> str:
    """'1 token', '3 tokens': a count with its noun in the right number, for a message."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
