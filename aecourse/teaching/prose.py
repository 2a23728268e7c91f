"""Numbers in the prose: the sentences of a chapter quote the values its cells measured.

A cell computes a number, prints it, and glues it under a name::

    gap = glue("structure-gap-k8", gap_k8, "{:.4f}")   # returns the text "0.0123"

and the chapter's markdown says ``the gap is {glue:text}`structure-gap-k8```. The book (myst-nb) pastes
the recorded text there, so the sentence can never disagree with the run that made the page; the
build fails when a glued name is missing.

The record is written only when the notebook is executed for the book (``python -m aecourse.book
execute``, which sets ``AECOURSE_BOOK=1``): a live notebook frontend (JupyterLab, VS Code) shows
an output of the record's MIME type as "No renderer could be found". Where a student runs the
notebook, the role is not rendered, so a cell that glues a number must also print it; a test of
the committed chapters checks that the glued text appears in that cell's printed output.
"""

from __future__ import annotations

import os

# myst-nb reads glue records in the scrapbook format: the value's MIME bundle under this prefix
# (so that the cell shows nothing) and the name in the output's metadata.
GLUE_PREFIX = "application/papermill.record/"


def glue(name: str, value, fmt: str = "{}") -> str:
    """Format `value` with `fmt` (e.g. ``"{:.2f}"``, ``"{:.1%}"``), record the text as `name`
    for the book's ``{glue:text}`name``` role, and return the text (to print it).

    Raises ValueError for an empty name or one with spaces (the role could not quote it).
    """
    if (
        not isinstance(name, str)
        or not name
        or any(c.isspace() for c in name)
    ):
        raise ValueError(
            f"a glue name is a non-empty string without spaces, got {name!r}"
        )
    text = fmt.format(value)
    if os.environ.get("AECOURSE_BOOK") == "1":
        from IPython.display import display

        display(
            {GLUE_PREFIX + "text/plain": text},
            raw=True,
            metadata={
                "scrapbook": {"name": name, "mime_prefix": GLUE_PREFIX}
            },
        )
    return text
