"""Exercise checkers: each one runs a student's answer on fresh inputs and says right or wrong, and why.

The verdict convention: a checker prints one verdict, "✅ Correct: …" or "❌ Not yet: …" (one sentence,
wrapped at the book's output width), and returns True or False, so that a notebook cell can both show it and ``assert`` it. A stub that still
raises ``NotImplementedError`` gets "not done yet", a crash a one-line reason, never a stack trace.

One module per chapter, named as the chapter's notebook (``checks/denoising.py`` for
``chapters/denoising.ipynb``), holding that chapter's ``check_*`` functions; the machinery they share
(the verdict, calling the student's function, comparing with a reference, naming a known slip, seeding
without disturbing the notebook's random stream) is in the private :mod:`aecourse.checks._verdict`.
Notebooks use ``from aecourse import checks`` and then ``assert checks.check_auroc(my_auroc)``: every
``check_*`` function of every chapter module is gathered here, so adding a chapter's checkers means
adding its module and nothing else. Importing the checkers stays cheap: a checker that needs a model of
the course imports it when it runs.

Each checker declares the label of the exercise it checks (``@exercise("ex-mask")``), and each of its
calls also leaves a verdict record ``{label, passed, message}`` where the grader can read it (the file
``$AECOURSE_VERDICTS``; see :mod:`aecourse.checks._verdict`). :func:`labels` maps every declared label
to its checker.
"""

import importlib
import pkgutil
from collections.abc import Callable

from aecourse.checks._verdict import _LABELS

__all__ = []
for _info in pkgutil.iter_modules(__path__):
    if not _info.name.startswith("_"):
        _module = importlib.import_module(f"{__name__}.{_info.name}")
        for _name, _value in vars(_module).items():
            if (
                _name.startswith("check_")
                and getattr(_value, "__module__", None)
                == _module.__name__
            ):
                globals()[_name] = _value
                __all__.append(_name)


def labels() -> dict[str, Callable]:
    """Every exercise label a checker declares, with its checker (chapter modules in alphabetical order).

    The chapter of a label is the checker's module: ``labels()["ex-mask"].__module__`` is
    ``"aecourse.checks.denoising"``.
    """
    return dict(_LABELS)
