"""Where a chapter's student copy lives in the repository, and the Colab link that opens it.

One place for the instructor's page (:mod:`aecourse.book.instructor`) and the link under each chapter's
title (``_ext/launch_links.py``). Imports nothing heavy, so a book build stays light.
"""

from __future__ import annotations

import re

from aecourse import BOOK_REF, REPOSITORY

STUDENT_FOLDER = "student"  # where `python -m aecourse.book student ... --out student/` writes the copies


def colab_url(
    topic: str, repository: str = REPOSITORY, ref: str = BOOK_REF
) -> str:
    """The Colab link of a chapter's student copy: ``https://colab.research.google.com/github/<owner>/<repo>
    /blob/<ref>/student/<topic>.ipynb``, for the repository and release the book names (a fork changes
    :data:`aecourse.REPOSITORY`). Raises ValueError if ``repository`` is not ``https://github.com/<owner>/<repo>``.
    """
    match = re.fullmatch(
        r"https://github\.com/([\w.-]+/[\w.-]+?)(?:\.git)?/?", repository
    )
    if match is None:
        raise ValueError(
            f"repository must be https://github.com/<owner>/<repo> (Colab opens notebooks from GitHub), "
            f"got {repository!r}."
        )
    return (
        f"https://colab.research.google.com/github/{match[1]}/blob/{ref}/"
        f"{STUDENT_FOLDER}/{topic}.ipynb"
    )
