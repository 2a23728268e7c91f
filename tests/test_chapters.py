"""The committed chapters: fresh full-profile outputs, the pinned Colab install, exercises, the table of contents.

nbval re-executes the chapters (see pyproject.toml); these tests check what the book publishes.
"""

from pathlib import Path

import nbformat
import pytest
import yaml

from aecourse import BOOK_REF
from aecourse.book.notebooks import (
    COLAB_GUARD,
    COLAB_INSTALL,
    SOLUTION_TAG,
    STUDENT_STUB,
    problems,
    student_copy,
)

ROOT = Path(__file__).resolve().parent.parent
TOC = yaml.safe_load((ROOT / "_toc.yml").read_text())
# The chapters in the order of the table of contents, the one place that numbers them.
CHAPTERS = [
    ROOT / f"{entry['file']}.ipynb"
    for part in TOC["parts"]
    for entry in part["chapters"]
]


def test_the_chapters_are_found_and_named_by_topic():
    names = [p.stem for p in CHAPTERS]
    assert len(names) >= 8
    assert {"structure", "number_system", "applications"} <= set(names)
    assert all(p.is_file() for p in CHAPTERS), [
        p.name for p in CHAPTERS if not p.is_file()
    ]
    assert not any(name[:1].isdigit() for name in names), (
        "chapter files are named by topic, not number"
    )


def test_every_chapter_notebook_is_in_the_toc():
    on_disk = sorted((ROOT / "chapters").glob("*.ipynb"))
    assert on_disk and sorted(CHAPTERS) == on_disk


@pytest.fixture(params=CHAPTERS, ids=lambda p: p.stem)
def chapter(request):
    return request.param, nbformat.read(request.param, as_version=4)


def test_outputs_are_fresh_and_from_the_full_profile(chapter):
    path, nb = chapter
    found = problems(nb)
    assert not found, (
        f"{path.name}: "
        + "; ".join(found)
        + " -> run `python -m aecourse.book execute "
        f"chapters/{path.name}`"
    )


def test_first_code_cell_installs_the_pinned_release_on_colab_only(
    chapter,
):
    path, nb = chapter
    first = next(c for c in nb.cells if c.cell_type == "code")
    assert COLAB_GUARD in first.source, (
        f"{path.name}: the first code cell must only act on Colab"
    )
    assert COLAB_INSTALL in first.source, (
        f"{path.name}: the Colab cell must install {COLAB_INSTALL} (BOOK_REF={BOOK_REF})"
    )


def test_setup_prints_profile_device_and_seed(chapter):
    path, nb = chapter
    texts = [
        "".join(o.get("text", ""))
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
    ]
    assert any(
        t.startswith("profile=full device=") and " seed=" in t
        for t in texts
    ), path.name


def test_at_least_two_exercises_with_hidden_checked_solutions(chapter):
    path, nb = chapter
    markdown = "\n".join(
        c.source for c in nb.cells if c.cell_type == "markdown"
    )
    assert markdown.count("```{exercise}") >= 2, path.name
    assert (
        markdown.count("{solution-start}")
        == markdown.count("{solution-end}")
        >= 1
    )
    solutions = [
        c for c in nb.cells if SOLUTION_TAG in c.metadata.get("tags", [])
    ]
    assert solutions, (
        f"{path.name}: solution code must be in cells tagged {SOLUTION_TAG!r}"
    )
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert "checks.check_" in code, (
        f"{path.name}: exercises must be checked by aecourse.checks"
    )


def test_student_copy_has_no_solution_code(chapter):
    path, nb = chapter
    student = student_copy(nb)
    solution_sources = {
        c.source
        for c in nb.cells
        if SOLUTION_TAG in c.metadata.get("tags", [])
    }
    assert all(
        c.source not in solution_sources
        for c in student.cells
        if c.cell_type == "code"
    )
    assert sum(c.source == STUDENT_STUB for c in student.cells) == len(
        solution_sources
    )
    assert not any(
        c.get("outputs") for c in student.cells if c.cell_type == "code"
    )


def test_checked_cells_print_and_draw_nothing(chapter):
    """nbval compares the outputs of `# NBVAL_CHECK_OUTPUT` cells; CI runs with MPLBACKEND=Agg, where a figure
    is not displayed, so such a cell may only print text (draw its figure in the next cell)."""
    path, nb = chapter
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and cell.source.startswith(
            "# NBVAL_CHECK_OUTPUT"
        ):
            kinds = {o.output_type for o in cell.get("outputs", [])}
            assert kinds <= {"stream"}, (
                f"{path.name}, cell {i}: a checked cell has outputs {sorted(kinds)}"
            )


def test_no_stray_object_reprs_on_the_page(chapter):
    """A cell that ends in e.g. ax.legend() shows '<matplotlib.legend.Legend at 0x...>' on the published page."""
    path, nb = chapter
    for i, cell in enumerate(nb.cells):
        for out in (
            cell.get("outputs", []) if cell.cell_type == "code" else []
        ):
            text = (
                out.get("data", {}).get("text/plain", "")
                if out.output_type == "execute_result"
                else ""
            )
            assert not text.startswith("<matplotlib"), (
                f"{path.name}, cell {i} shows {text[:60]!r}: end it with ';'"
            )


def test_cells_assert_that_learning_happened(chapter):
    path, nb = chapter
    asserts = sum(
        "assert " in c.source for c in nb.cells if c.cell_type == "code"
    )
    assert asserts >= 4, (
        f"{path.name}: only {asserts} code cells assert anything"
    )


def test_toc_numbers_the_chapters():
    assert TOC["format"] == "jb-book" and TOC["parts"]
    assert all(part.get("numbered") is True for part in TOC["parts"]), (
        "Jupyter Book numbers the chapters"
    )


def test_book_does_not_reexecute():
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert config["execute"]["execute_notebooks"] == "off"
    assert "sphinx_exercise" in config["sphinx"]["extra_extensions"]
    assert (
        config["launch_buttons"]["colab_url"]
        and config["launch_buttons"]["binderhub_url"]
    )
