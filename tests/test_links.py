"""The student copy's place and its Colab link (aecourse.book.links)."""

from pathlib import Path

import pytest

from aecourse import BOOK_REF, REPOSITORY
from aecourse.book.links import STUDENT_FOLDER, colab_url


def test_colab_url_of_a_fork():
    assert colab_url(
        "denoising", "https://github.com/ada/ae-course", "v1.2.3"
    ) == (
        "https://colab.research.google.com/github/ada/ae-course/blob/v1.2.3/student/denoising.ipynb"
    )
    assert colab_url(
        "vae", "https://github.com/ada/ae.course.git/", "main"
    ) == (
        "https://colab.research.google.com/github/ada/ae.course/blob/main/student/vae.ipynb"
    )
    github = REPOSITORY.removeprefix("https://github.com/")
    assert colab_url("vae") == (
        f"https://colab.research.google.com/github/{github}/blob/{BOOK_REF}/student/vae.ipynb"
    )
    with pytest.raises(
        ValueError, match="https://github.com/<owner>/<repo>"
    ):
        colab_url("vae", "https://gitlab.com/ada/course")


def test_the_folder_holds_the_committed_copies():
    folder = Path(__file__).resolve().parent.parent / STUDENT_FOLDER
    assert sorted(folder.glob("*.ipynb")), (
        f"no student copies in {folder}"
    )
