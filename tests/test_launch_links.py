"""The book's Sphinx extension _ext/launch_links.py: the repository and the launch buttons' ref from
aecourse, and the student copy's Colab link under each chapter's title.

A tiny book (three chapter notebooks: one with a student copy, one without, one without a title;
and a landing page) is
built in-process with myst-nb and sphinx-book-theme, as Jupyter Book configures them, once for this
repository and once for a fork; the links are read from its HTML and compared with URLs written out
by hand. tests/test_site.py checks the real book's pages.
"""

from __future__ import annotations

import io
import re
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

import aecourse

ROOT = Path(__file__).resolve().parent.parent
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
sys.path.insert(0, str(ROOT / "_ext"))
import launch_links  # noqa: E402  (the module Sphinx loads by this name)

# What Jupyter Book 1.x puts in html_theme_options when _config.yml names no repository: its own
# defaults (jupyter_book/default_config.yml), which the extension must replace.
JB_DEFAULTS = {
    "repository_url": "https://github.com/executablebooks/jupyter-book",
    "repository_branch": "master",
    "path_to_docs": "",
}
CONF = """
import sys
sys.path.insert(0, {ext!r})
extensions = ["myst_nb", "sphinx_book_theme", "launch_links"]
html_theme = "sphinx_book_theme"
html_theme_options = {options!r}
nb_execution_mode = "off"
exclude_patterns = ["_build", "student"]
"""


def _notebook(title: str) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.cells = [
        nbformat.v4.new_markdown_cell(
            f"# {title}\n\nThe first paragraph."
        ),
        nbformat.v4.new_code_cell("1 + 1"),
    ]
    return nb


def build_tiny_book(folder: Path) -> tuple[Path, str]:
    """Build the tiny book in ``folder``; return its HTML folder and Sphinx's warnings."""
    from sphinx.application import Sphinx
    from sphinx.util.docutils import docutils_namespace

    source = folder / "book"
    (source / "chapters").mkdir(parents=True)
    (source / "student").mkdir()
    options = {
        "launch_buttons": CONFIG["launch_buttons"],
        **JB_DEFAULTS,
    }
    (source / "conf.py").write_text(
        CONF.format(ext=str(ROOT / "_ext"), options=options)
    )
    (source / "index.md").write_text(
        "# A tiny book\n\n```{toctree}\nchapters/hourglass\n"
        "chapters/no_copy\nchapters/untitled\n```\n"
    )
    nbformat.write(
        _notebook("The hourglass"), source / "chapters/hourglass.ipynb"
    )
    nbformat.write(
        _notebook("Nobody's copy"), source / "chapters/no_copy.ipynb"
    )
    nbformat.write(
        _notebook("The hourglass"), source / "student/hourglass.ipynb"
    )
    # a chapter whose first cell has no heading: nothing to put the link under
    untitled = _notebook("")
    untitled.cells[0].source = "No heading, just a paragraph."
    nbformat.write(untitled, source / "chapters/untitled.ipynb")
    nbformat.write(untitled, source / "student/untitled.ipynb")
    warnings = io.StringIO()
    out = folder / "html"
    with docutils_namespace():
        app = Sphinx(
            str(source),
            str(source),
            str(out),
            str(folder / "doctrees"),
            "html",
            status=None,
            warning=warnings,
            freshenv=True,
        )
        app.build()
    return out, warnings.getvalue()


HREF = re.compile(r'href="(https://[^"]+)"')
BADGE = re.compile(
    r'</h1>\s*<p class="aecourse-student-copy"><a [^>]*href="([^"]+)"[^>]*>'
    r'<span class="aecourse-student-copy-label">Exercises only:</span> '
    r"open the student copy in Colab</a></p>"
)


def links(page: Path) -> set[str]:
    return set(HREF.findall(page.read_text()))


@pytest.fixture(scope="module")
def this_book(tmp_path_factory):
    return build_tiny_book(tmp_path_factory.mktemp("this"))


@pytest.fixture(scope="module")
def fork_book(tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            aecourse, "REPOSITORY", "https://github.com/ada/ae-course"
        )
        patch.setattr(launch_links, "LAUNCH_REF", "v1.2.3")
        return build_tiny_book(tmp_path_factory.mktemp("fork"))


def test_the_theme_options_name_the_repository_and_the_release():
    given = {"launch_buttons": {"colab_url": "x"}, **JB_DEFAULTS}
    options = launch_links.theme_options(given)
    assert (
        options["repository_url"]
        == "https://github.com/aecourse/aecourse"
    )
    assert options["repository_url"] == aecourse.REPOSITORY
    # the decision: the launch buttons open the pinned release, the one the Colab cell installs
    assert launch_links.LAUNCH_REF == aecourse.BOOK_REF
    assert options["repository_branch"] == f"v{aecourse.__version__}"
    assert options["launch_buttons"] == {"colab_url": "x"}
    assert options["use_repository_button"] is True
    assert given["repository_url"] == JB_DEFAULTS["repository_url"]


def test_the_config_leaves_the_repository_to_the_extension():
    # one place: a repository in _config.yml would be a second one for a fork to change
    assert "repository" not in CONFIG
    assert CONFIG["sphinx"]["local_extensions"]["launch_links"] == "_ext"
    assert not {"use_repository_button", "use_issues_button"} & set(
        CONFIG["html"]
    )


def test_a_chapter_page_of_this_repository(this_book):
    html, _ = this_book
    page = html / "chapters" / "hourglass.html"
    badge = BADGE.findall(page.read_text())
    ref = aecourse.BOOK_REF
    assert badge == [
        "https://colab.research.google.com/github/aecourse/aecourse/blob/"
        f"{ref}/student/hourglass.ipynb"
    ]
    assert {
        "https://colab.research.google.com/github/aecourse/aecourse/blob/"
        f"{ref}/chapters/hourglass.ipynb",
        "https://mybinder.org/v2/gh/aecourse/aecourse/"
        f"{ref}?urlpath=lab/tree/chapters/hourglass.ipynb",
        "https://github.com/aecourse/aecourse",
    } <= links(page)
    assert not any("executablebooks" in url for url in links(page))
    # the tooltip names the release
    assert (
        f'title="The chapter without its solutions and outputs, release {ref}"'
        in (page.read_text())
    )


def test_a_fork_changes_every_link_with_repository_and_ref(fork_book):
    html, _ = fork_book
    page = html / "chapters" / "hourglass.html"
    assert BADGE.findall(page.read_text()) == [
        "https://colab.research.google.com/github/ada/ae-course/blob/v1.2.3/"
        "student/hourglass.ipynb"
    ]
    found = links(page)
    assert {
        "https://colab.research.google.com/github/ada/ae-course/blob/v1.2.3/"
        "chapters/hourglass.ipynb",
        "https://mybinder.org/v2/gh/ada/ae-course/v1.2.3?urlpath=lab/tree/"
        "chapters/hourglass.ipynb",
        "https://github.com/ada/ae-course",
    } <= found
    assert not any("/aecourse/aecourse" in url for url in found), found


def test_no_link_without_a_student_copy_or_outside_the_chapters(
    this_book,
):
    html, warnings = this_book
    assert (
        BADGE.findall((html / "chapters/no_copy.html").read_text()) == []
    )
    assert "no student copy student/no_copy.ipynb to link" in warnings
    assert "python -m aecourse.book student" in warnings
    assert (
        "aecourse-student-copy" not in (html / "index.html").read_text()
    )
    untitled = (html / "chapters/untitled.html").read_text()
    assert "aecourse-student-copy" not in untitled
    assert (
        "chapters/untitled: no title to put the student copy's link under"
        in warnings
    )
    # no other warning than these two and Sphinx's own about the untitled page
    expected = (
        "no student copy",
        "no title to put",
        "doesn't have a title",
    )
    others = [
        line
        for line in warnings.splitlines()
        if "WARNING" in line and not any(e in line for e in expected)
    ]
    assert others == []
