"""Sphinx extension of the book: where a chapter page sends a reader to run it (issue 19).

One place for the repository
    The book's repository URL and the ref its launch buttons open (Colab, Binder) are not written in
    ``_config.yml``: they are set here, when Sphinx reads its configuration, from
    :data:`aecourse.REPOSITORY` and :data:`aecourse.BOOK_REF`, the names the chapters' Colab cell
    installs from and the instructor's page links with. A fork changes ``REPOSITORY`` (and a release
    ``__version__``) in ``aecourse/__init__.py`` and nothing else. Jupyter Book 1.x turns
    ``repository: url/branch`` into the theme options ``repository_url`` and ``repository_branch``;
    sphinx-book-theme builds the launch links (and the repository and issue buttons, switched on
    here too) from those.

The student copy under the title
    Every chapter page (a notebook under ``chapters/``) gets, right under its title, a link to its
    student copy on Colab ("Exercises only: open the student copy in Colab"), the link the
    instructor's page gives for it (:func:`aecourse.book.links.colab_url`). The notebooks are not
    changed: the link is added to the page's doctree when it is written. Its look is in
    ``_static/aecourse.css`` (``.aecourse-student-copy``). A chapter without a committed student copy
    (``student/<topic>.ipynb``) gets no link and a warning, which ``jupyter-book build -W`` makes an
    error.
"""

from __future__ import annotations

from pathlib import Path

from docutils import nodes
from sphinx.util import logging

import aecourse

LOGGER = logging.getLogger(__name__)

# the docnames that get a link: the chapter notebooks (their student copies are committed in
# aecourse.book.links.STUDENT_FOLDER, relative to the book's root)
CHAPTERS = "chapters/"
CSS_CLASS = "aecourse-student-copy"
LABEL = "Exercises only:"
TEXT = "open the student copy in Colab"

# The ref the launch buttons open: the release the book was built with, not ``main``. Each chapter's
# first cell installs ``aecourse @ git+REPOSITORY@BOOK_REF``; a notebook opened from the same tag runs
# against exactly the package it was written for, while one opened from ``main`` may call what the
# released package does not have yet. The badge and the instructor's page link the same tag, so a
# reader's three ways into Colab agree. The cost: the tag must be pushed before the book built from
# it is published (README, Releases), and a book built between releases launches the release's
# notebooks, which may be older than the page.
LAUNCH_REF = aecourse.BOOK_REF


def theme_options(options: dict) -> dict:
    """``html_theme_options`` with the repository and the launch buttons' ref taken from
    :mod:`aecourse` (a new dict; the rest is kept)."""
    return {
        **options,
        "repository_url": aecourse.REPOSITORY,
        "repository_branch": LAUNCH_REF,
        # the book is the repository's root (_config.yml sits there)
        "path_to_docs": "",
        # the header's links to the repository and its issues (_config.yml cannot ask for them
        # without naming the repository there)
        "use_repository_button": True,
        "use_issues_button": True,
    }


def set_repository(app, config) -> None:
    """config-inited: the theme reads these when the builder starts (``builder-inited``), later."""
    config.html_theme_options = theme_options(config.html_theme_options)


def topic_of(app, docname: str) -> str | None:
    """The chapter's topic (``"chapters/vae"`` -> ``"vae"``), or None for a page that is not a
    chapter notebook (the landing page, the instructor's page)."""
    if not docname.startswith(CHAPTERS):
        return None
    if Path(app.env.doc2path(docname)).suffix != ".ipynb":
        return None
    return docname.removeprefix(CHAPTERS)


def student_copy_link(url: str, ref: str) -> nodes.paragraph:
    """The paragraph that goes under a chapter's title: one external link to ``url``, the student
    copy at ``ref`` (named in the link's tooltip)."""
    link = nodes.reference(
        "",
        "",
        refuri=url,
        internal=False,
        reftitle=f"The chapter without its solutions and outputs, release {ref}",
    )
    link += nodes.inline("", LABEL, classes=[f"{CSS_CLASS}-label"])
    link += nodes.Text(f" {TEXT}")
    return nodes.paragraph("", "", link, classes=[CSS_CLASS])


def add_student_copy_link(app, doctree, docname: str) -> None:
    """doctree-resolved: the student copy's Colab link under the title of a chapter page (HTML
    builders only: it is styled as a button of the web page; other outputs are left as they were)."""
    topic = topic_of(app, docname)
    if topic is None or app.builder.format != "html":
        return
    # imported here: aecourse.book imports the checkers (and torch), which only this step needs
    from aecourse.book.links import STUDENT_FOLDER, colab_url

    copy = Path(app.srcdir) / STUDENT_FOLDER / f"{topic}.ipynb"
    if not copy.is_file():
        LOGGER.warning(
            f"{docname}: no student copy {STUDENT_FOLDER}/{topic}.ipynb to link: run `python -m "
            f"aecourse.book student chapters/*.ipynb --out {STUDENT_FOLDER}/`",
            location=docname,
        )
        return
    section = doctree.next_node(nodes.section)
    if section is None or not isinstance(section[0], nodes.title):
        LOGGER.warning(
            f"{docname}: no title to put the student copy's link under",
            location=docname,
        )
        return
    # read at call time, not bound at import: the same names as theme_options
    url = colab_url(topic, aecourse.REPOSITORY, LAUNCH_REF)
    section.insert(1, student_copy_link(url, LAUNCH_REF))


def setup(app):
    app.connect("config-inited", set_repository)
    app.connect("doctree-resolved", add_student_copy_link)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
