"""aecourse.book.student: student copies and the answer-dependence check, on small synthetic chapters.

The chapter below has the layout of the real ones (an {exercise} box, a stub cell, a solution region
across cells with the tagged solution cell, a checker cell, a {solution} box), and its expected student
copy is written out by hand, cell by cell.
"""

from __future__ import annotations

import copy

import nbformat
import pytest
from nbformat.v4 import (
    new_code_cell,
    new_markdown_cell,
    new_notebook,
    new_output,
)

from aecourse.book.notebooks import main
from aecourse.book.student import (
    HEADER,
    HEADER_ID,
    SOLUTION_NOTE,
    SOLUTION_TAG,
    answer_problems,
    shown_not_asserted,
    solution_layout,
    student_copy,
)

EXERCISE = (
    "```{exercise} Threshold the code\n:label: ex-binary-code\n\n"
    "Write `binary_code(code)`.\n```"
)
STUB = 'def binary_code(code):\n    """(n, h) -> (n, h) bits."""\n    raise NotImplementedError'
SOLUTION = 'def binary_code(code):\n    """(n, h) -> (n, h) bits."""\n    return (code > 0.5).long()'
CHECK = (
    "# NBVAL_CHECK_OUTPUT\nassert checks.check_binary_code(binary_code)"
)
BOX = (
    "Before the box.\n\n"
    "```{exercise} Think\n:label: ex-32-5-32\n\nWhy?\n```\n\n"
    "```{solution} ex-32-5-32\n:class: dropdown\n\nBecause of the cube.\n```\n\n"
    "## Summary"
)


KERNEL = {"name": "python3", "display_name": "Python 3"}


def chapter(solution=SOLUTION, later="print(torch.ones(2))"):
    """A tiny chapter in the layout of the real ones, with outputs and a stamp as the book commits it."""
    out = [new_output("stream", name="stdout", text="run\n")]
    cells = [
        new_markdown_cell("# Codes\n\nWhy."),
        new_code_cell(
            "import torch\nfrom aecourse import checks", outputs=out
        ),
        new_markdown_cell(EXERCISE),
        new_code_cell(STUB, execution_count=2),
        new_markdown_cell(
            "```{solution-start} ex-binary-code\n:class: dropdown\n```"
        ),
        new_code_cell(
            solution,
            execution_count=3,
            metadata={"tags": [SOLUTION_TAG]},
        ),
        new_markdown_cell(
            "Strict `>`: 0.5 gives 0.\n\n```{solution-end}\n```\n\nAfter."
        ),
        new_code_cell(CHECK, execution_count=4, outputs=out),
        new_code_cell(later, execution_count=5, outputs=out),
        new_markdown_cell(BOX),
    ]
    nb = new_notebook(cells=cells)
    nb.metadata["aecourse"] = {"profile": "full"}
    nb.metadata["widgets"] = {"state": {}}
    nb.metadata["kernelspec"] = KERNEL
    return nb


# --- the student copy ------------------------------------------------------------------------------------


def test_student_copy_of_a_chapter_cell_by_cell():
    nb = chapter()
    original = copy.deepcopy(nb)
    student = student_copy(nb)
    assert nb == original  # the chapter is left alone
    expected = [
        ("markdown", "# Codes\n\nWhy."),
        ("markdown", HEADER),
        ("code", "import torch\nfrom aecourse import checks"),
        ("markdown", EXERCISE),
        ("code", STUB),  # the stub stays: the student writes there
        ("markdown", SOLUTION_NOTE),  # the region began here ...
        (
            "markdown",
            "After.",
        ),  # ... and ended here; the solution cell is gone
        ("code", "checks.check_binary_code(binary_code);"),
        ("code", "print(torch.ones(2))"),
        (
            "markdown",
            "Before the box.\n\n```{exercise} Think\n:label: ex-32-5-32\n\nWhy?\n```\n\n"
            f"{SOLUTION_NOTE}\n\n## Summary",
        ),
    ]
    assert [(c.cell_type, c.source) for c in student.cells] == expected
    code = [c for c in student.cells if c.cell_type == "code"]
    assert all(
        c.outputs == [] and c.execution_count is None for c in code
    )
    assert student.metadata == {"kernelspec": KERNEL}
    assert student.cells[1].id == HEADER_ID
    # the ids the chapter's cells had are kept
    assert student.cells[0].id == nb.cells[0].id
    nbformat.validate(student)


def test_student_copy_is_the_same_every_time():
    """The committed copies are compared with a fresh one: nothing random (cell ids) may enter."""
    nb = chapter()
    assert nbformat.writes(student_copy(nb)) == nbformat.writes(
        student_copy(copy.deepcopy(nb))
    )


def test_a_cell_without_solutions_is_kept_as_it_is():
    nb = chapter()
    nb.cells[0].source = "\n# Codes\n\n\n\nWhy.\n"
    assert student_copy(nb).cells[0].source == nb.cells[0].source


def test_a_tagged_cell_outside_a_region_is_dropped_too():
    nb = chapter()
    del (
        nb.cells[6],
        nb.cells[4],
    )  # no solution region around the tagged cell
    sources = [c.source for c in student_copy(nb).cells]
    assert SOLUTION not in sources and STUB in sources
    assert solution_layout(nb)[0] == {4: "ex-binary-code"}


def test_a_solution_box_may_hold_a_code_block_with_a_longer_fence():
    """````{solution} with ``` inside: the inner fence does not close the box (CommonMark)."""
    nb = chapter()
    nb.cells[
        9
    ].source = "````{solution} ex-32-5-32\n```python\nprint(1)\n```\n````\nAfter."
    assert student_copy(nb).cells[-1].source == f"{SOLUTION_NOTE}\nAfter."
    nb.cells[9].source = ":::{solution} ex-32-5-32\nSecret.\n:::\nAfter."
    assert student_copy(nb).cells[-1].source == f"{SOLUTION_NOTE}\nAfter."


def test_a_box_with_an_inner_fence_as_long_as_its_own_ends_there():
    """As MyST renders it: ```{solution} closes at the first bare ```, what follows is not solution."""
    nb = chapter()
    nb.cells[
        9
    ].source = (
        "```{solution} ex-32-5-32\n```python\nprint(1)\n```\n```\nAfter."
    )
    assert (
        student_copy(nb).cells[-1].source
        == f"{SOLUTION_NOTE}\n```\nAfter."
    )


@pytest.mark.parametrize(
    ("where", "source", "message"),
    [
        (
            6,
            "Text.",
            "the {solution-start} of ex-binary-code has no {solution-end}",
        ),
        (
            4,
            "Text.",
            "cell 6 has a {solution-end} without a {solution-start}",
        ),
        (
            9,
            "```{solution} x\nSecret.",
            "cell 9: a solution fence ``` is not closed",
        ),
    ],
)
def test_malformed_solutions_are_refused(where, source, message):
    nb = chapter()
    nb.cells[where].source = source
    with pytest.raises(ValueError, match=message.replace("{", r"\{")):
        student_copy(nb)


def test_not_a_notebook_is_refused():
    with pytest.raises(
        ValueError, match="nb must be a notebook .* got list"
    ):
        student_copy([])


# --- checker cells: shown, not asserted ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (
            "assert checks.check_mask(my_mask)",
            "checks.check_mask(my_mask);",
        ),
        (
            'assert checks.check_mask(my_mask), "no"  # why\nprint(1)',
            "checks.check_mask(my_mask)  # why\nprint(1)",
        ),
        (
            "x = 1\nassert checks.check_greedy_decode(\n    my_decode, x\n)",
            "x = 1\nchecks.check_greedy_decode(\n    my_decode, x\n);",
        ),
        # left alone: other asserts, asserts inside a block, code that is not Python
        ("assert loss < 1", "assert loss < 1"),
        (
            "for f in fs:\n    assert checks.check_mask(f)",
            "for f in fs:\n    assert checks.check_mask(f)",
        ),
        (
            "%time assert checks.check_mask(f)",
            "%time assert checks.check_mask(f)",
        ),
    ],
)
def test_shown_not_asserted(source, expected):
    assert shown_not_asserted(source) == expected


# --- later cells never use an answer ---------------------------------------------------------------------


def test_a_chapter_whose_later_cells_leave_the_answers_alone():
    assert answer_problems(chapter()) == []
    # a parameter named like an answer is not a use of it
    assert (
        answer_problems(
            chapter(later="def f(binary_code):\n    return binary_code")
        )
        == []
    )
    # nor is a read after a cell the copy keeps has bound the name again
    nb = chapter(later="binary_code = len")
    nb.cells.append(new_code_cell("binary_code([1])"))
    assert answer_problems(nb) == []
    # a read in the same cell as the binding is reported: the order within a cell is not looked at
    assert (
        len(
            answer_problems(
                chapter(later="binary_code = len\nbinary_code([1])")
            )
        )
        == 1
    )


@pytest.mark.parametrize(
    "later",
    [
        "bits = binary_code(torch.rand(4, 3))",
        "def count(x):\n    return binary_code(x).sum()",  # read inside a function: a global
        "[binary_code(x) for x in xs]",
        "assert checks.check_binary_code(binary_code)\nbits = binary_code(x)",
        "checks.check_min_code_bits(binary_code)",  # another exercise's checker
        "%matplotlib inline\nbits = binary_code(x)",  # a magic does not hide it
    ],
)
def test_a_later_cell_that_uses_an_answer_is_found(later):
    (problem,) = answer_problems(chapter(later=later))
    assert problem == (
        "cell 8 uses binary_code, the answer to ex-binary-code (solution cell 5): "
        "in the student copy it is the student's, maybe unsolved"
    )


def test_a_solution_cell_that_does_more_than_define_is_found():
    (problem,) = answer_problems(
        chapter(solution=SOLUTION + "\nmodel.train()")
    )
    assert problem.startswith(
        "cell 5, the solution of ex-binary-code, runs code besides definitions (line 4)"
    )


def test_a_solution_without_a_stub_is_found():
    nb = chapter()
    nb.cells[3].source = "pass"
    (problem,) = answer_problems(nb)
    assert problem == (
        "cell 5, the solution of ex-binary-code, defines binary_code, which no earlier cell "
        "defines as a stub: the student copy has no cell to complete"
    )


# --- the command line ------------------------------------------------------------------------------------


def test_student_command_reports_a_copy_that_uses_an_answer(
    tmp_path, capsys
):
    good, bad = tmp_path / "good.ipynb", tmp_path / "bad.ipynb"
    nbformat.write(chapter(), good)
    nbformat.write(chapter(later="binary_code(x)"), bad)
    out = tmp_path / "student"
    assert main(["student", str(good), "--out", str(out)]) == 0
    assert main(["student", str(good), str(bad), "--out", str(out)]) == 1
    assert "bad.ipynb: cell 8 uses binary_code" in capsys.readouterr().err
    for path in (good, bad):  # written anyway
        written = nbformat.read(out / path.name, as_version=4)
        assert written == student_copy(nbformat.read(path, as_version=4))
