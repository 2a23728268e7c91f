"""Student copies of the chapters: every exercise unsolved, no solution, no output (``student/<topic>.ipynb``).

A chapter lays out each exercise as: the ``{exercise}`` box; a *stub* cell that defines the function with
its signature and docstring and ``raise NotImplementedError``; a ``{solution-start}`` ... ``{solution-end}``
region (the book shows it folded) holding the *solution* cell, tagged ``solution``, which redefines the
function, and the explanation; then the *checker* cell, ``assert checks.check_x(my_x)``. In the chapter the
``assert`` stays, so a wrong reference solution fails CI. :func:`student_copy` makes the student's copy:

* the whole solution region goes, its markdown and its code (a code cell inside the region, or one tagged
  ``solution`` anywhere), and so does a ``{solution}`` box; in their place one line says that the solution
  is on the chapter's page of the book. The stub cell stays: that is where the student writes.
* each checker cell's ``assert checks.check_x(...)`` becomes ``checks.check_x(...);``: the checker prints
  its verdict ("✅ Correct: ..." / "❌ Not yet: ...") and records it for the grader
  (:mod:`aecourse.checks._verdict`), and the chapter goes on either way (``;`` keeps the bool from being
  shown a second time).
* outputs, execution counts, the ``# NBVAL_CHECK_OUTPUT`` markers (there is no output left to compare
  with), the execution stamp and the saved widget state are cleared; a short note after the title says
  how to use the copy.

For the copy to run top to bottom with every exercise unsolved, no later cell may use a student's answer:
:func:`answer_problems` finds, statically, every name a solution cell defines and each later code cell
that reads it, other than in the call of that exercise's own checker. Every chapter with exercises has
its copy: students work in it, and the grader (:mod:`aecourse.grade`) runs it once they have filled it in.

Command line: ``python -m aecourse.book student chapters/*.ipynb --out student/`` (the committed copies).
"""

from __future__ import annotations

import ast
import copy
import re
import symtable

import nbformat

from aecourse import checks
from aecourse._args import describe
from aecourse.grade import EXERCISE_LABEL

SOLUTION_TAG = "solution"

# The opening line of a solution directive: ```{solution} (a box), ```{solution-start} or
# ```{solution-end} (a region spanning cells), fenced by 3 or more backticks or colons.
SOLUTION_FENCE = re.compile(
    r"^[ \t]*(?P<fence>`{3,}|:{3,})"
    r"\{(?P<kind>solution-start|solution-end|solution)\}[ \t]*(?P<label>\S*)"
)
NBVAL_MARKER = "# NBVAL_CHECK_OUTPUT"

SOLUTION_NOTE = (
    "*The solution is on this chapter's page of the book, folded under "
    "the exercise: try first, then compare.*"
)
HEADER = (
    "**Student copy.** Every exercise is unsolved. Write your code in the cell "
    "that raises `NotImplementedError` below each exercise and run it, then run "
    "the checker cell after it: it says ✅ Correct or ❌ Not yet, and the chapter "
    "goes on either way. Nothing later in the chapter uses your answers. The "
    "solutions and their explanations are on this chapter's page of the book."
)
HEADER_ID = "student-copy-note"  # a fixed cell id: regenerating gives the same file

# Statements a solution cell may hold: definitions only, so dropping it removes nothing but the answer.
DEFINITIONS = (
    ast.FunctionDef,
    ast.AsyncFunctionDef,
    ast.ClassDef,
    ast.Import,
    ast.ImportFrom,
)


def _cells(nb) -> list:
    """nb's cells, or a ValueError if nb is not a notebook."""
    cells = nb.get("cells") if isinstance(nb, dict) else None
    if not isinstance(cells, list):
        raise ValueError(
            f"nb must be a notebook (nbformat v4, with cells), got {describe(nb)}."
        )
    return cells


def _closes(line: str, fence: str) -> bool:
    """Whether line closes a block opened by fence: the same character, at least as many, nothing else.

    As in CommonMark: a line such as ```python inside a ``` block does not close it, a bare ``` does.
    """
    return (
        re.fullmatch(
            rf"[ \t]*{re.escape(fence[0])}{{{len(fence)},}}[ \t]*", line
        )
        is not None
    )


def _tidy(lines: list[str]) -> str:
    """Join markdown lines, with no blank line at either end and never two in a row."""
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines))
    return text.strip("\n")


def solution_layout(nb) -> tuple[dict[int, str], dict[int, str]]:
    """Where a notebook's solutions are: (solution code cells, markdown without its solutions).

    Returns ``code``: {cell index: exercise label} of every code cell inside a solution region, or tagged
    ``solution`` (its label: the region's, else that of the last ``{exercise}`` box above it); and
    ``markdown``: {cell index: its text without solutions} of every markdown cell, "" for one that was all
    solution. A removed region or ``{solution}`` box leaves :data:`SOLUTION_NOTE` where it began.
    Cell indices count from 0, markdown included. Raises ValueError for a ``{solution-start}`` without its
    ``{solution-end}`` (or the reverse), and for a solution fence not closed in its own cell.
    """
    code: dict[int, str] = {}
    markdown: dict[int, str] = {}
    region = None  # the label of the open {solution-start} region
    region_cell = -1
    exercise = ""  # the label of the last {exercise} box seen
    for i, cell in enumerate(_cells(nb)):
        if cell.get("cell_type") == "code":
            if region is not None:
                code[i] = region
            elif SOLUTION_TAG in cell.get("metadata", {}).get("tags", []):
                code[i] = exercise
            continue
        if cell.get("cell_type") != "markdown":
            continue
        kept: list[str] = []
        fence = None  # the fence of an open {solution} box or {solution-end} directive
        source = str(cell.get("source", ""))
        for line in source.split("\n"):
            if fence is not None:
                if _closes(line, fence):
                    fence = None
                continue
            opened = SOLUTION_FENCE.match(line)
            kind = opened and opened["kind"]
            if region is not None:
                if kind == "solution-end":
                    fence, region = opened["fence"], None
                continue
            if kind == "solution-end":
                raise ValueError(
                    f"cell {i} has a {{solution-end}} without a {{solution-start}} before it."
                )
            if kind in ("solution-start", "solution"):
                kept.append(SOLUTION_NOTE)
                if kind == "solution-start":
                    region, region_cell = opened["label"] or exercise, i
                else:
                    fence = opened["fence"]
                continue
            kept.append(line)
        if fence is not None:
            raise ValueError(
                f"cell {i}: a solution fence {fence} is not closed in its cell."
            )
        # a cell without solutions is kept exactly as it is
        untouched = kept == source.split("\n")
        markdown[i] = source if untouched else _tidy(kept)
        exercise = (EXERCISE_LABEL.findall(markdown[i]) or [exercise])[-1]
    if region is not None:
        raise ValueError(
            f"cell {region_cell}: the {{solution-start}} of {region} has no {{solution-end}}."
        )
    return code, markdown


def _is_checker_call(node: ast.AST) -> bool:
    """Whether node is ``checks.check_*(...)``."""
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == "checks"
        and node.func.attr.startswith("check_")
    )


def shown_not_asserted(source: str) -> str:
    """A code cell's source with each top-level ``assert checks.check_x(...)`` turned into the bare call.

    The call keeps its arguments and any comment after it; an assert's message is dropped; the call gets
    a ``;`` when it is the cell's last statement, so the cell shows the checker's line and not also its
    bool. Any other statement, and a source that is not plain Python, is left as it is.
    """
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return source
    lines = source.split("\n")
    for node in reversed(tree.body):
        if not (
            isinstance(node, ast.Assert)
            and node.col_offset == 0
            and _is_checker_call(node.test)
        ):
            continue
        call = ast.get_source_segment(source, node.test)
        after = lines[node.end_lineno - 1][node.end_col_offset :]
        end = ";" if node is tree.body[-1] else ""
        lines[node.lineno - 1 : node.end_lineno] = (
            call + end + after
        ).split("\n")
    return "\n".join(lines)


def student_copy(nb):
    """The student's copy of a chapter notebook (the module docstring says what changes); nb is left alone.

    nb: an nbformat v4 notebook. Raises ValueError if it is not one, or if its solution regions are
    malformed (:func:`solution_layout`).
    """
    code, markdown = solution_layout(nb)
    nb = copy.deepcopy(nb)
    cells = []
    for i, cell in enumerate(nb.cells):
        if i in code:
            continue
        if cell.cell_type == "markdown":
            if not markdown[i]:
                continue
            cell.source = markdown[i]
        elif cell.cell_type == "code":
            kept = [
                line
                for line in cell.source.split("\n")
                if line.strip() != NBVAL_MARKER
            ]
            cell.source = shown_not_asserted("\n".join(kept))
            cell.outputs = []
            cell.execution_count = None
            # the run's timings (nbclient's iopub times) say nothing to a student
            cell.metadata.pop("execution", None)
        cells.append(cell)
    if cells and cells[0].cell_type == "markdown":  # after the title
        header = nbformat.v4.new_markdown_cell(HEADER)
        header.pop("id", None)
        if "id" in cells[0]:  # nbformat >= 4.5: every cell has an id
            header.id = HEADER_ID
        cells.insert(1, header)
    nb.cells = cells
    for key in (
        "aecourse",
        "widgets",
    ):  # the run's stamp and widget state
        nb.metadata.pop(key, None)
    return nb


def _python(source: str) -> ast.Module:
    """A code cell's source as Python: IPython's magics (``%time``, ``!pip``) turned into calls."""
    try:
        return ast.parse(source)
    except SyntaxError:
        from IPython.core.inputtransformer2 import TransformerManager

        return ast.parse(TransformerManager().transform_cell(source))


def _reads_and_binds(tree: ast.Module) -> tuple[set[str], set[str]]:
    """(global names the code reads, names it binds at the top level), scopes resolved by symtable.

    A name read inside a function counts only where it is global there: a parameter of the same name
    (``def f(output_size)``) is not a read of the global ``output_size``.
    """
    table = symtable.symtable(ast.unparse(tree), "<cell>", "exec")
    top = table.get_symbols()
    reads = {s.get_name() for s in top if s.is_referenced()}
    binds = {
        s.get_name() for s in top if s.is_assigned() or s.is_imported()
    }
    scopes = list(table.get_children())
    while scopes:
        scope = scopes.pop()
        scopes.extend(scope.get_children())
        reads |= {
            s.get_name()
            for s in scope.get_symbols()
            if s.is_referenced() and s.is_global()
        }
    return reads, binds


class _Blank(ast.NodeTransformer):
    """Replace the calls of one checker (``checks.<name>(...)``) by None: what is left is the rest."""

    def __init__(self, name: str):
        self.name = name

    def visit_Call(self, node: ast.Call) -> ast.AST:
        if _is_checker_call(node) and node.func.attr == self.name:
            return ast.copy_location(ast.Constant(None), node)
        return self.generic_visit(node)


def answer_problems(nb) -> list[str]:
    """Why the notebook's student copy would not run top to bottom with every exercise unsolved.

    Empty when it would. Found statically (ast and symtable), for each solution cell: statements other
    than definitions (def, class, import), whose effect the copy would lose; a name it defines that no
    earlier code cell defines as the stub (the copy would have none); and every later code cell that reads
    a name it defines, other than as an argument of that exercise's own checker
    (``checks.check_x(my_x)``), until a later cell other than a solution binds the name again (a cell that
    both binds and reads it is reported: the order within a cell is not looked at). A name hidden in a
    string (``eval``, a ``%time`` line) is not seen. Cells are numbered from 0, markdown included.
    Raises ValueError as :func:`solution_layout` does.
    """
    solutions, _ = solution_layout(nb)
    checker_of = {
        label: fn.__name__ for label, fn in checks.labels().items()
    }
    found: list[str] = []
    answers: dict[
        str, tuple[int, str]
    ] = {}  # name -> (its solution cell, label)
    bound: set[str] = set()  # names bound so far by cells the copy keeps
    for i, cell in enumerate(_cells(nb)):
        if cell.get("cell_type") != "code":
            continue
        try:
            tree = _python(str(cell.get("source", "")))
        except SyntaxError as err:
            found.append(f"cell {i} is not valid Python: {err}")
            continue
        if i in solutions:
            label = solutions[i]
            for node in tree.body:
                if not isinstance(node, DEFINITIONS) and not (
                    isinstance(node, ast.Expr)
                    and isinstance(node.value, ast.Constant)
                ):
                    found.append(
                        f"cell {i}, the solution of {label}, runs code besides definitions "
                        f"(line {node.lineno}): the student copy drops it, so what it does is lost"
                    )
                    break
            _, defined = _reads_and_binds(tree)
            for name in sorted(defined - bound):
                found.append(
                    f"cell {i}, the solution of {label}, defines {name}, which no earlier "
                    "cell defines as a stub: the student copy has no cell to complete"
                )
            answers.update({name: (i, label) for name in defined})
            continue
        by_label: dict[str, set[str]] = {}
        for name, (_, label) in answers.items():
            by_label.setdefault(label, set()).add(name)
        for label, names in sorted(by_label.items()):
            rest = _Blank(checker_of.get(label, "")).visit(
                copy.deepcopy(tree)
            )
            for name in sorted(names & _reads_and_binds(rest)[0]):
                where = answers[name][0]
                found.append(
                    f"cell {i} uses {name}, the answer to {label} (solution cell {where}): "
                    "in the student copy it is the student's, maybe unsolved"
                )
        _, binds = _reads_and_binds(tree)
        bound |= binds
        for name in binds:
            answers.pop(name, None)
    return found
