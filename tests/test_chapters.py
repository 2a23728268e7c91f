"""The committed chapters: fresh full-profile outputs, the pinned Colab install, exercises, the table of contents.

nbval re-executes the chapters (see pyproject.toml); these tests check what the book publishes.
"""

import re
from pathlib import Path

import nbformat
import pytest
import yaml
from markdown_it import MarkdownIt

from aecourse import BOOK_REF
from aecourse.book.notebooks import (
    COLAB_GUARD,
    COLAB_INSTALL,
    problems,
)
from aecourse.book.student import SOLUTION_TAG

ROOT = Path(__file__).resolve().parent.parent
TOC = yaml.safe_load((ROOT / "_toc.yml").read_text())
# The chapters in the order of the table of contents, the one place that numbers them: its entries
# under chapters/ (the instructor's page, instructor.md, is an entry too but not a chapter).
CHAPTERS = [
    ROOT / f"{entry['file']}.ipynb"
    for part in TOC["parts"]
    for entry in part["chapters"]
    if entry["file"].startswith("chapters/")
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


def test_no_cell_shows_the_same_output_twice(chapter):
    """A cell that ends in a call returning what it has just displayed (a table) shows it a second
    time as its result: display helpers return None, as IPython's display does."""
    path, nb = chapter
    for i, cell in enumerate(nb.cells):
        shown = [
            o["data"]["text/html"]
            for o in cell.get("outputs", [])
            if "text/html" in o.get("data", {})
        ]
        assert len(shown) == len(set(shown)), (
            f"{path.name}, cell {i}: the same output is shown twice"
        )


def _printed(out) -> str:
    """The text an output shows: a stream's text, or a result's text/plain."""
    if out.output_type == "stream":
        return out.text
    return out.get("data", {}).get("text/plain", "")


# What a cell shows when it ends in a plotting call: '<matplotlib.legend.Legend at 0x...>',
# '[<matplotlib.lines.Line2D at 0x...>]', "Text(0.5, 1.0, 'title')", '<Figure size ...>'.
STRAY_REPR = re.compile(
    r"at 0x[0-9a-f]+>|^\[?<(matplotlib|Figure|Axes)|^Text\(", re.M
)


def test_no_stray_object_reprs_on_the_page(chapter):
    path, nb = chapter
    for i, cell in enumerate(nb.cells):
        for out in (
            cell.get("outputs", []) if cell.cell_type == "code" else []
        ):
            if "image/png" in out.get("data", {}):
                continue  # a figure's text/plain is its repr; the page shows the image
            text = _printed(out)
            assert not STRAY_REPR.search(text), (
                f"{path.name}, cell {i} shows {text[:60]!r}: end it with ';'"
            )


def test_no_traceback_or_warning_on_the_page(chapter):
    """A published page shows neither an error nor anything printed on stderr (warnings)."""
    path, nb = chapter
    for i, cell in enumerate(nb.cells):
        for out in (
            cell.get("outputs", []) if cell.cell_type == "code" else []
        ):
            assert out.output_type != "error", (
                f"{path.name}, cell {i} raised {out.get('ename')}"
            )
            assert not (
                out.output_type == "stream" and out.name == "stderr"
            ), (
                f"{path.name}, cell {i} printed on stderr: {out.text[:200]!r}"
            )
            assert "Traceback (most recent call last)" not in _printed(
                out
            ), f"{path.name}, cell {i} shows a traceback"


def test_no_empty_markdown_cells(chapter):
    path, nb = chapter
    empty = [
        i
        for i, c in enumerate(nb.cells)
        if c.cell_type == "markdown" and not c.source.strip()
    ]
    assert not empty, f"{path.name}: empty markdown cells {empty}"


def unclosed_fences(markdown: str) -> list[int]:
    """The lines (1-based) where a code fence or directive opens and is never closed.

    A directive whose body holds a code block needs a longer outer fence (````{solution}): with three
    backticks the inner block's closing fence closes the directive, and the directive's own closing
    fence then opens a code block that swallows the rest of the cell.
    """
    lines = markdown.splitlines()
    bad = []
    for token in MarkdownIt("commonmark").parse(markdown):
        if token.type != "fence":
            continue
        start, end = token.map
        last = lines[end - 1].strip() if end - 1 > start else ""
        closed = len(last) >= len(token.markup) and set(last) == {
            token.markup[0]
        }
        if not closed:
            bad.append(start + 1)
    return bad


def test_unclosed_fences_are_found():
    body = ":class: dropdown\n\n```python\nx = 1\n```\n"
    # three backticks: the inner block closes the box, the box's fence opens a block on line 7
    assert unclosed_fences(
        "```{solution} ex-x\n" + body + "```\nrest\n"
    ) == [7]
    assert (
        unclosed_fences("````{solution} ex-x\n" + body + "````\n") == []
    )
    assert unclosed_fences("text\n```python\nx = 1\n```\n") == []


def test_every_fence_and_directive_is_closed(chapter):
    path, nb = chapter
    bad = [
        (i, line)
        for i, c in enumerate(nb.cells)
        if c.cell_type == "markdown"
        for line in unclosed_fences(c.source)
    ]
    assert not bad, f"{path.name}: (cell, line) of unclosed fences {bad}"


def test_each_chapter_ends_with_a_link_to_the_next():
    """The closing cell of a chapter links to the chapter after it in _toc.yml; the last one goes home."""
    for here, after in zip(CHAPTERS, CHAPTERS[1:] + [None]):
        nb = nbformat.read(here, as_version=4)
        last = next(
            c.source
            for c in reversed(nb.cells)
            if c.cell_type == "markdown"
        )
        if after is None:
            assert "last chapter" in last and "intro" in last, (
                f"{here.name} is the last chapter and should say so"
            )
            continue
        links = re.findall(r"\{doc\}`(?:[^`<]*<)?([\w/.]+)>?`", last)
        assert after.stem in links, (
            f"{here.name} should end with **Next:** "
            f"{{doc}}`{after.stem}`, its closing cell links to {links}"
        )
        assert "coming" not in last.lower(), (
            f"{here.name}: stale 'coming next' text"
        )


def _glued(nb) -> dict[int, dict[str, str]]:
    """{cell index: {glue name: glued text}} of a notebook's glue records (aecourse.teaching.prose)."""
    found = {}
    for i, cell in enumerate(nb.cells):
        for out in (
            cell.get("outputs", []) if cell.cell_type == "code" else []
        ):
            meta = out.get("metadata", {}).get("scrapbook")
            if meta:
                key = meta.get("mime_prefix", "") + "text/plain"
                found.setdefault(i, {})[meta["name"]] = out["data"][key]
    return found


GLUE_ROLE = re.compile(r"\{glue(?::\w*)?\}`([^`:]+)")


def test_glued_numbers_are_recorded_once_and_printed_where_glued(
    chapter,
):
    """The prose's {glue} names exist, once each; and a student running the notebook, where the role is
    not rendered, sees every glued text in the printed output of the cell that glued it."""
    path, nb = chapter
    glued = _glued(nb)
    names = [n for per_cell in glued.values() for n in per_cell]
    assert len(names) == len(set(names)), (
        f"{path.name}: a glue name is recorded twice"
    )
    used = {
        name
        for c in nb.cells
        if c.cell_type == "markdown"
        for name in GLUE_ROLE.findall(c.source)
    }
    assert used <= set(names), (
        f"{path.name}: the prose quotes {sorted(used - set(names))}, which no cell glued "
        "(re-execute the chapter)"
    )
    for i, per_cell in glued.items():
        shown = "".join(
            _printed(o)
            for o in nb.cells[i].outputs
            if "scrapbook" not in o.get("metadata", {})
        )
        # whitespace compared loosely: say() (aecourse.teaching.tables) may wrap a printed line
        # between the words of a glued text ("0.792 ± 0.005")
        shown = " ".join(shown.split())
        for name, text in per_cell.items():
            assert " ".join(text.split()) in shown, (
                f"{path.name}, cell {i} glues {name}={text!r} but does not print it"
            )


# A decimal or a percentage in the prose ('14.56', '0.8%', '95 %').
PROSE_NUMBER = re.compile(
    r"(?<![\w.])(\d+\.\d+|\d+(?:\.\d+)?\s?%)(?![\w.])"
)
PACKAGE_SOURCE = "\n".join(
    p.read_text() for p in (ROOT / "aecourse").rglob("*.py")
)


def test_measured_numbers_in_the_prose_are_glued_not_typed(chapter):
    """A number that the prose types and that a cell printed (but no code wrote down, as a setting or a
    paper's figure would be) was copied by hand from a run: glue it, or the next run contradicts it."""
    path, nb = chapter
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    printed = "\n".join(
        _printed(o)
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
    )
    typed = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "markdown":
            continue
        prose = re.sub(r"\$[^$]*\$", "", cell.source)  # not the maths
        for number in PROSE_NUMBER.findall(prose):
            n = number.replace(" ", "")
            if n in code or n in PACKAGE_SOURCE:
                continue
            if re.search(rf"(?<![\w.]){re.escape(n)}(?!\d)", printed):
                typed.append(f"cell {i}: {n}")
    assert not typed, (
        f"{path.name}: measured numbers typed in the prose: {typed}"
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
    assert all(
        part.get("numbered") is True
        for part in TOC["parts"]
        if any(
            e["file"].startswith("chapters/") for e in part["chapters"]
        )
    ), "Jupyter Book numbers the chapters"


def test_book_does_not_reexecute():
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert config["execute"]["execute_notebooks"] == "off"
    assert "sphinx_exercise" in config["sphinx"]["extra_extensions"]
    assert (
        config["launch_buttons"]["colab_url"]
        and config["launch_buttons"]["binderhub_url"]
    )
