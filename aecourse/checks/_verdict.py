"""The machinery every chapter's checkers share, written once: the verdict, the call, the comparisons.

Private to :mod:`aecourse.checks`: the chapter modules import from here, notebooks never do.

**The verdict record.** Each checker names the exercise it checks, ``@exercise("ex-mask")`` above
``def check_mask``, with the ``:label:`` of that exercise's ``{exercise}`` box in the chapter (a test
checks that the label exists and that the chapter calls the checker after that exercise's statement and
before the next one). A call of a checker prints its verdict ("✅ Correct: …" / "❌ Not yet: …", one
sentence wrapped at the book's output width) and returns its bool, as it always did, and also makes one record of the verdict::

    {"label": "ex-mask", "passed": false, "message": "the function still raises NotImplementedError: ..."}

``passed`` is the bool the checker returned, ``message`` the text of its line without the "✅ Correct: "
or "❌ Not yet: " prefix. The record is appended, as one JSON line (UTF-8), to the file that the
environment variable ``AECOURSE_VERDICTS`` names, which the grader (:mod:`aecourse.grade`) sets for each
notebook it runs; when the variable is unset or empty nothing is written, so what a notebook shows does
not change. A checker that itself raises records ``passed: false`` with the exception, then re-raises.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import torch

from aecourse.teaching.tables import OUTPUT_CHARS, say

VERDICTS_ENV = "AECOURSE_VERDICTS"  # the file verdict records are appended to (unset: none are)

# The message of the verdict being given, while a checker declared with @exercise runs.
_current: ContextVar[list[str] | None] = ContextVar(
    "aecourse_verdict", default=None
)
# label -> checker, for every checker declared with @exercise (read through checks.labels()).
_LABELS: dict[str, Callable] = {}


def _verdict(ok: bool, message: str) -> bool:
    """Print the verdict and return ``ok``, so that a notebook cell can both show and assert it.

    Inside a checker declared with :func:`exercise`, the message is also kept for its verdict record.
    """
    # Wrapped at the book's output width, continuation lines indented, so that no verdict runs out of
    # its box on the page (one character less: the mark takes two monospace cells); the record keeps
    # the message whole.
    say(
        ("✅ Correct: " if ok else "❌ Not yet: ") + message,
        width=OUTPUT_CHARS - 1,
    )
    given = _current.get()
    if given is not None:
        given.append(message)
    return ok


def _record(label: str, passed: bool, message: str) -> None:
    """Append the verdict record to the file named by ``$AECOURSE_VERDICTS``; nothing when it is unset."""
    path = os.environ.get(VERDICTS_ENV, "").strip()
    if not path:
        return
    line = json.dumps(
        {"label": label, "passed": passed, "message": message},
        ensure_ascii=False,
    )
    with open(path, "a", encoding="utf-8") as file:
        file.write(line + "\n")


def exercise(label: str) -> Callable[[Callable], Callable]:
    """Declare which exercise a checker checks: ``@exercise("ex-mask")`` above ``def check_mask``.

    label: the ``:label:`` of the exercise's ``{exercise}`` box in the chapter, unique across the book.
    The checker keeps its line and its bool; each call also writes a verdict record (the module
    docstring). A checker called from inside another one writes none: the outer call's verdict counts.
    """

    def declare(checker: Callable) -> Callable:
        if label in _LABELS:
            raise ValueError(
                f"the exercise label {label!r} is declared by both "
                f"{_LABELS[label].__name__} and {checker.__name__}"
            )

        @functools.wraps(checker)
        def checked(*args, **kwargs):
            if _current.get() is not None:
                return checker(*args, **kwargs)
            given: list[str] = []
            token = _current.set(given)
            try:
                ok = checker(*args, **kwargs)
            except Exception as err:
                _record(
                    label,
                    False,
                    f"the checker itself raised {type(err).__name__}: {err}",
                )
                raise
            finally:
                _current.reset(token)
            _record(label, bool(ok), given[-1] if given else "")
            return ok

        checked.label = label
        _LABELS[label] = checked
        return checked

    return declare


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
