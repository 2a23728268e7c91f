"""aecourse.grade: a folder of generated submissions of every kind gives the expected gradebook, cell by cell.

The submissions are small fixture notebooks with two exercises checked by REAL checkers of the number
system chapter (cheap ones) and a third exercise without a checker: all correct, all stubs, one wrong
answer per exercise, invalid JSON, a syntax error, a renamed function, an infinite loop and an
exception. The grader runs once for the whole file (a kernel per notebook, two at a time).
"""

from __future__ import annotations

import csv
import json
import re

import nbformat
import pytest
from nbformat.v4 import (
    new_code_cell,
    new_markdown_cell,
    new_notebook,
    new_output,
)

from aecourse import checks, grade

TIMEOUT = 25  # seconds per notebook: a kernel and torch start in ~3-8 s on a busy 2-core machine

EX_BITS = (
    "```{exercise} Threshold the code\n:label: ex-binary-code\n\n"
    "Write `binary_code(code)`: 1 above 0.5, else 0.\n```"
)
EX_COUNT = (
    ":::{exercise} How many units\n:class: note\n:label: ex-min-code-bits\n\n"
    "Write `min_code_bits(n)`.\n:::"
)
EX_FREE = "```{exercise} Think\n:label: ex-32-5-32\n\nNo checker.\n```"

RIGHT_1 = "def binary_code(code):\n    return (code > 0.5).long()"
STUB_1 = "def binary_code(code):\n    raise NotImplementedError"
WRONG_1 = "def binary_code(code):\n    return (code >= 0.5).long()"
RIGHT_2 = "def min_code_bits(n):\n    return (n - 1).bit_length()"
STUB_2 = "def min_code_bits(n):\n    raise NotImplementedError"
WRONG_2 = "def min_code_bits(n):\n    return max(1, n.bit_length() - 1)"


def chapter(answer_1: str, answer_2: str):
    """A tiny chapter: cells 4 and 7 are the answers, cells 5 and 8 call the checkers, 10 ends it."""
    cells = [
        new_markdown_cell("# Codes"),
        new_code_cell("from aecourse import checks"),
        new_markdown_cell(EX_BITS),
        new_code_cell(answer_1),
        new_code_cell("assert checks.check_binary_code(binary_code)"),
        new_markdown_cell(EX_COUNT),
        new_code_cell(answer_2),
        new_code_cell("assert checks.check_min_code_bits(min_code_bits)"),
        new_markdown_cell(EX_FREE),
        new_code_cell("print('the end')"),
    ]
    return new_notebook(cells=cells)


def as_saved(nb):
    """The notebook as a student saves it: every code cell with a count and an output of her own run
    (here an error), which the grader must not take for its own."""
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.execution_count = 99
            cell.outputs = [
                new_output(
                    "error",
                    ename="StaleError",
                    evalue="old",
                    traceback=[],
                )
            ]
    return nb


SUBMISSIONS = {
    "alice": (RIGHT_1, RIGHT_2),  # all correct
    "bob": (STUB_1, STUB_2),  # all stubs
    "carol": (WRONG_1, RIGHT_2),  # wrong answer to the first exercise
    "dave": (RIGHT_1, WRONG_2),  # wrong answer to the second
    "frank": (RIGHT_1.replace("):", ")", 1), RIGHT_2),  # a syntax error
    "grace": (RIGHT_1, RIGHT_2.replace("min_code_bits", "min_bits")),
    "heidi": (
        RIGHT_1,
        "def min_code_bits(n):\n    while True:\n        pass",
    ),
    "ivan": (
        "def binary_code(code):\n    return 1 / 0",
        "bits = {}['bits']\n" + RIGHT_2,  # raises before defining it
    ),
}

STUB_MESSAGE = "the function still raises NotImplementedError: replace the stub with your code."
SLIP_1 = (
    "the value of exactly 0.5 (row 3, unit 1) gave 1, but a value of exactly 0.5 counts as 0: "
    "threshold with >, not >=."
)
RIGHT_MESSAGE_1 = (
    "the bits (a value of exactly 0.5 counts as 0) match the reference."
)
RIGHT_MESSAGE_2 = "⌈log2 n⌉ bits: h bits name at most 2^h inputs."
NOT_JSON = "the notebook is not valid JSON: Expecting value: line 1 column 12 (char 11)"
TIMED_OUT = f"timed out after {TIMEOUT} s while cell 8 was running"

# student -> [(exercise, passed, message)], in the reference's order; a regex where noted
EXPECTED = {
    "alice": [
        ("ex-binary-code", "yes", RIGHT_MESSAGE_1),
        ("ex-min-code-bits", "yes", RIGHT_MESSAGE_2),
    ],
    "bob": [
        ("ex-binary-code", "no", STUB_MESSAGE),
        ("ex-min-code-bits", "no", STUB_MESSAGE),
    ],
    "carol": [
        ("ex-binary-code", "no", SLIP_1),
        ("ex-min-code-bits", "yes", RIGHT_MESSAGE_2),
    ],
    "dave": [
        ("ex-binary-code", "yes", RIGHT_MESSAGE_1),
        (
            "ex-min-code-bits",
            "no",
            "for n = 3 you answered 1, but the fewest is 2: h binary units give 2^h codes, "
            "and 2^1 = 2 < 3 ≤ 2^2 = 4.",
        ),
    ],
    "erin": [
        ("ex-binary-code", "no", NOT_JSON),
        ("ex-min-code-bits", "no", NOT_JSON),
    ],
    "frank": [
        (
            "ex-binary-code",
            "no",
            re.compile(
                r"the checker never ran: SyntaxError: .+ \(line 1\) \(cell 4\)"
            ),
        ),
        ("ex-min-code-bits", "yes", RIGHT_MESSAGE_2),
    ],
    "grace": [
        ("ex-binary-code", "yes", RIGHT_MESSAGE_1),
        (
            "ex-min-code-bits",
            "no",
            "the checker never ran: NameError: name 'min_code_bits' is not defined (cell 8)",
        ),
    ],
    "heidi": [
        ("ex-binary-code", "yes", RIGHT_MESSAGE_1),
        (
            "ex-min-code-bits",
            "no",
            f"the checker never finished: {TIMED_OUT} (the checker's cell)",
        ),
    ],
    "ivan": [
        (
            "ex-binary-code",
            "no",
            "calling it raised ZeroDivisionError: division by zero",
        ),
        (
            "ex-min-code-bits",
            "no",
            "the checker never ran: KeyError: 'bits' (cell 7)",
        ),
    ],
}

# student -> (passed, total, status, detail)
EXPECTED_SUMMARY = {
    "alice": ("2", "2", "ok", ""),
    "bob": ("0", "2", "ok", ""),
    "carol": ("1", "2", "ok", ""),
    "dave": ("1", "2", "ok", ""),
    "erin": ("0", "2", "unreadable", NOT_JSON),
    "frank": (
        "1",
        "2",
        "errors",
        re.compile(
            r"cell 4 raised SyntaxError: .+ \(line 1\) \(and 1 more error\)"
        ),
    ),
    "grace": (
        "1",
        "2",
        "errors",
        "cell 8 raised NameError: name 'min_code_bits' is not defined",
    ),
    "heidi": ("1", "2", "timed out", TIMED_OUT),
    "ivan": (
        "0",
        "2",
        "errors",
        "cell 7 raised KeyError: 'bits' (and 1 more error)",
    ),
}


def read_csv(path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as file:
        return list(csv.reader(file))


def same(got: str, expected) -> bool:
    if isinstance(expected, re.Pattern):
        return expected.fullmatch(got) is not None
    return got == expected


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Write the reference and the submissions, run the grader once: (gradebook rows, summary rows, out)."""
    root = tmp_path_factory.mktemp("grading")
    reference = root / "number_system.ipynb"
    nbformat.write(chapter(RIGHT_1, RIGHT_2), reference)
    folder = root / "submissions"
    folder.mkdir()
    for student, (one, two) in SUBMISSIONS.items():
        nbformat.write(
            as_saved(chapter(one, two)), folder / f"{student}.ipynb"
        )
    (folder / "erin.ipynb").write_text('{"cells": [, "metadata": {}}')
    (folder / "notes.txt").write_text("not a notebook: left alone")
    out = root / "grades.csv"
    status = grade.main(
        [
            str(folder),
            "--out",
            str(out),
            "--reference",
            str(reference),
            "--timeout",
            str(TIMEOUT),
            "--jobs",
            "2",
        ]
    )
    assert status == 0
    return read_csv(out), read_csv(root / "grades_summary.csv"), out


def test_the_gradebook_cell_by_cell(graded):
    rows, _, _ = graded
    assert rows[0] == ["student", "exercise", "passed", "message"]
    expected = [
        [student, label, passed, message]
        for student, verdicts in EXPECTED.items()
        for label, passed, message in verdicts
    ]
    assert [row[:3] for row in rows[1:]] == [e[:3] for e in expected]
    for row, (student, label, _, message) in zip(rows[1:], expected):
        assert same(row[3], message), (student, label, row[3])


def test_the_summary_per_student(graded):
    _, summary, _ = graded
    assert summary[0] == [
        "student",
        "passed",
        "total",
        "status",
        "detail",
        "seconds",
    ]
    assert [row[0] for row in summary[1:]] == list(EXPECTED_SUMMARY)
    for row in summary[1:]:
        expected = EXPECTED_SUMMARY[row[0]]
        assert row[1:4] == list(expected[:3]), row
        assert same(row[4], expected[3]), row
    seconds = {row[0]: float(row[5]) for row in summary[1:]}
    assert seconds["erin"] == 0 and seconds["heidi"] >= TIMEOUT
    assert all(
        0 < seconds[s] < TIMEOUT for s in SUBMISSIONS if s != "heidi"
    )


def test_the_chapter_is_found_without_a_reference(tmp_path):
    (tmp_path / "a.ipynb").write_text(
        nbformat.writes(chapter(STUB_1, STUB_2))
    )
    (tmp_path / "b.ipynb").write_text("not json")
    labels = grade.inferred_exercises(sorted(tmp_path.glob("*.ipynb")))
    # the two the submissions show, in their order, then the chapter's other checkers
    ours = [
        label
        for label, checker in checks.labels().items()
        if checker.__module__ == "aecourse.checks.number_system"
    ]
    assert labels[:2] == ["ex-binary-code", "ex-min-code-bits"]
    assert sorted(labels) == sorted(ours) and len(ours) > 2
    # two chapters' exercises in the submissions: the grader cannot tell, and says so
    mixed = chapter(STUB_1, STUB_2)
    mixed.cells.append(
        new_markdown_cell("```{exercise} Mask\n:label: ex-mask\n\nx\n```")
    )
    (tmp_path / "a.ipynb").write_text(nbformat.writes(mixed))
    with pytest.raises(
        grade.UsageError, match="denoising, number_system"
    ):
        grade.inferred_exercises([tmp_path / "a.ipynb"])


def test_usage_errors_exit_with_status_2(tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        grade.main([str(tmp_path / "missing.ipynb"), "--out", "x.csv"])
    assert stop.value.code == 2
    assert "neither a .ipynb file nor a folder" in capsys.readouterr().err
    with pytest.raises(SystemExit) as stop:
        grade.main([str(tmp_path), "--out", "x.csv"])  # an empty folder
    assert stop.value.code == 2
    assert "no .ipynb submissions" in capsys.readouterr().err


def test_help_says_who_the_student_is_and_that_submissions_are_untrusted(
    capsys,
):
    with pytest.raises(SystemExit):
        grade.main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "the student is the file name's stem" in text
    assert "untrusted code" in text


# --- the verdict record ---------------------------------------------------------------------------


def test_a_checker_writes_its_record_when_the_variable_is_set(
    tmp_path, monkeypatch, capsys
):
    verdicts = tmp_path / "verdicts.jsonl"
    monkeypatch.setenv("AECOURSE_VERDICTS", str(verdicts))
    assert (
        checks.check_min_code_bits(lambda n: (n - 1).bit_length()) is True
    )
    assert checks.check_binary_code(lambda c: 1 / 0) is False
    # the line the notebook shows is unchanged
    assert capsys.readouterr().out == (
        f"✅ Correct: {RIGHT_MESSAGE_2}\n"
        "❌ Not yet: calling it raised ZeroDivisionError: division by zero\n"
    )
    records = [
        json.loads(line) for line in verdicts.read_text().splitlines()
    ]
    assert records == [
        {
            "label": "ex-min-code-bits",
            "passed": True,
            "message": RIGHT_MESSAGE_2,
        },
        {
            "label": "ex-binary-code",
            "passed": False,
            "message": "calling it raised ZeroDivisionError: division by zero",
        },
    ]


def test_nothing_is_written_without_the_variable(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.delenv("AECOURSE_VERDICTS", raising=False)
    monkeypatch.chdir(tmp_path)
    assert checks.check_min_code_bits(lambda n: 1) is False
    assert capsys.readouterr().out.startswith(
        "❌ Not yet: for n = 3 you answered 1"
    )
    assert list(tmp_path.iterdir()) == []


def test_a_checker_that_raises_records_it_and_reraises(
    tmp_path, monkeypatch
):
    from aecourse.checks import _verdict

    verdicts = tmp_path / "verdicts.jsonl"
    monkeypatch.setenv("AECOURSE_VERDICTS", str(verdicts))
    monkeypatch.setattr(
        _verdict, "_LABELS", {}
    )  # a private registry for the fake label

    @_verdict.exercise("ex-test-broken")
    def check_broken(fn):
        raise RuntimeError("a bug in the checker")

    with pytest.raises(RuntimeError):
        check_broken(None)
    assert json.loads(verdicts.read_text()) == {
        "label": "ex-test-broken",
        "passed": False,
        "message": "the checker itself raised RuntimeError: a bug in the checker",
    }
    with pytest.raises(ValueError, match="declared by both"):
        _verdict.exercise("ex-test-broken")(lambda fn: True)
