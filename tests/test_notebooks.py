"""aecourse.book.notebooks: the source hash, problems(), the student command (synthetic notebooks) and execute (one kernel).

The student copies themselves are tested in test_student.py."""

from __future__ import annotations

import copy
import hashlib

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_output

from aecourse import BOOK_REF, REPOSITORY, __version__
from aecourse.book.notebooks import (
    COLAB_INSTALL,
    main,
    problems,
    source_hash,
)
from aecourse.book.student import student_copy


def restamp(nb):
    nb.metadata["aecourse"]["source_hash"] = source_hash(nb)
    return nb


# --- source_hash ---------------------------------------------------------------------------------------


def test_source_hash_by_hand(good_notebook):
    code = [
        c.source for c in good_notebook.cells if c.cell_type == "code"
    ]
    expected = hashlib.sha256(
        b"".join(s.strip().encode() + b"\0" for s in code)
    ).hexdigest()
    assert source_hash(good_notebook) == expected


def test_source_hash_changes_with_code_only(good_notebook):
    before = source_hash(good_notebook)
    nb = copy.deepcopy(good_notebook)
    nb.cells[0].source = "# A different title\nOther prose."
    nb.cells.append(new_markdown_cell("More text"))
    assert source_hash(nb) == before  # markdown does not count
    nb.cells[1].outputs = []
    nb.cells[1].execution_count = None
    assert source_hash(nb) == before  # neither do outputs
    nb.cells[4].source = "f(2)\n\n"
    assert source_hash(nb) == before  # nor surrounding white space
    nb.cells[4].source = "f(3)"
    assert source_hash(nb) != before
    nb = copy.deepcopy(good_notebook)
    nb.cells.append(new_code_cell("print('new')"))
    assert source_hash(nb) != before
    nb = copy.deepcopy(good_notebook)
    nb.cells[3], nb.cells[4] = nb.cells[4], nb.cells[3]
    assert source_hash(nb) != before  # order matters
    nb = copy.deepcopy(good_notebook)
    nb.cells[2].source, nb.cells[3].source = (
        nb.cells[2].source + nb.cells[3].source,
        "",
    )
    assert source_hash(nb) != before  # moving code between cells matters


def test_a_new_release_in_the_colab_cell_leaves_the_hash_alone(
    good_notebook,
):
    """Bumping the release the Colab cell installs must not make every chapter stale; any other code must."""
    install = 'import subprocess, sys\nif "google.colab" in sys.modules:\n    subprocess.run(["pip", "install", {}])'
    nb = copy.deepcopy(good_notebook)
    nb.cells.insert(
        1, new_code_cell(install.format('"aecourse @ git+x@v0.1.0"'))
    )
    before = source_hash(nb)
    assert before == source_hash(good_notebook)
    nb.cells[1].source = install.format('"aecourse @ git+x@v0.2.0"')
    assert source_hash(nb) == before
    nb.cells[2].source += "\nprint(1)"
    assert source_hash(nb) != before  # the next cell still counts
    later = copy.deepcopy(good_notebook)
    later.cells.append(new_code_cell(install.format('"aecourse"')))
    # only the first code cell is the install cell
    assert source_hash(later) != source_hash(good_notebook)


# --- problems -------------------------------------------------------------------------------------------


def test_a_fresh_full_profile_notebook_has_no_problems(good_notebook):
    assert problems(good_notebook) == []


def test_unstamped_notebook(good_notebook):
    del good_notebook.metadata["aecourse"]
    (found,) = problems(good_notebook)
    assert (
        "never executed" in found
        and "python -m aecourse.book execute" in found
    )


def test_stale_notebook(good_notebook):
    good_notebook.cells[4].source = "f(5)"
    found = problems(good_notebook)
    assert any(
        "changed since it was executed" in p and "stale" in p
        for p in found
    )
    good_notebook.cells[0].source = "# Only the prose changed"
    good_notebook.cells[4].source = "f(2)"
    assert problems(good_notebook) == []


@pytest.mark.parametrize("profile", ["quick", None])
def test_notebook_not_run_in_the_full_profile(good_notebook, profile):
    good_notebook.metadata["aecourse"]["profile"] = profile
    assert problems(good_notebook) == [
        f"it was executed in the {profile!r} profile; the book needs 'full'"
    ]


def test_notebook_without_outputs(good_notebook):
    for cell in good_notebook.cells:
        if cell.cell_type == "code":
            cell.outputs = []
    assert problems(good_notebook) == ["it has no outputs"]


def test_notebook_with_unrun_cells(good_notebook):
    good_notebook.cells[2].execution_count = None
    good_notebook.cells[3].execution_count = None
    assert problems(good_notebook) == [
        "2 code cells have no execution count (not run)"
    ]


def test_empty_code_cells_are_ignored(good_notebook):
    # never run, but empty
    good_notebook.cells.append(new_code_cell("   \n"))
    restamp(good_notebook)
    assert problems(good_notebook) == []


def test_notebook_with_an_error_output(good_notebook):
    good_notebook.cells[4].outputs.append(
        new_output(
            "error",
            ename="AssertionError",
            evalue="the loss did not fall",
            traceback=[],
        )
    )
    assert problems(good_notebook) == [
        "a cell raised AssertionError: the loss did not fall"
    ]


def test_notebook_without_code(good_notebook):
    good_notebook.cells = [
        c for c in good_notebook.cells if c.cell_type == "markdown"
    ]
    restamp(good_notebook)
    assert "it has no code cells" in problems(good_notebook)


def test_several_problems_are_all_reported(good_notebook):
    good_notebook.metadata["aecourse"]["profile"] = "quick"
    good_notebook.cells[1].source = "print('changed')"
    good_notebook.cells[1].execution_count = None
    found = problems(good_notebook)
    assert len(found) == 3


# --- command line and the pinned install ------------------------------------------------------------------


def test_check_command_exit_status(good_notebook, tmp_path, capsys):
    ok, stale = tmp_path / "ok.ipynb", tmp_path / "stale.ipynb"
    nbformat.write(good_notebook, ok)
    good_notebook.cells[4].source = "f(9)"
    nbformat.write(good_notebook, stale)
    assert main(["check", str(ok)]) == 0
    assert capsys.readouterr().out == f"{ok}: ok\n"
    assert main(["check", str(ok), str(stale)]) == 1
    assert "stale" in capsys.readouterr().out


def test_student_command_writes_copies(good_notebook, tmp_path):
    path = tmp_path / "ch.ipynb"
    nbformat.write(good_notebook, path)
    out = tmp_path / "student"
    # 1: its last cell, f(2), uses the answer f (reported on stderr); the copy is written anyway
    assert main(["student", str(path), "--out", str(out)]) == 1
    written = nbformat.read(out / "ch.ipynb", as_version=4)
    assert written == student_copy(nbformat.read(path, as_version=4))
    # the chapter itself is unchanged
    assert nbformat.read(path, as_version=4) == good_notebook


def test_colab_install_pins_this_release():
    assert BOOK_REF == f"v{__version__}"
    assert (
        COLAB_INSTALL == f'"aecourse @ git+{REPOSITORY}@v{__version__}"'
    )


# --- execute (one real kernel) -------------------------------------------------------------------------


def test_execute_runs_in_the_profile_stamps_and_draws_figures_inline(
    tmp_path, monkeypatch
):
    """The book's outputs come from execute(): profile passed to the kernel, stamp written, figures kept
    even when the caller's environment says MPLBACKEND=Agg (as CI does)."""
    from nbformat.v4 import new_notebook

    from aecourse.book.notebooks import execute

    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("AECOURSE_SEED", "3")
    nb = new_notebook(
        cells=[
            new_code_cell(
                "import os\nprint(os.environ['AECOURSE_PROFILE'], os.environ['AECOURSE_SEED'])"
            ),
            new_code_cell(
                "import matplotlib.pyplot as plt\nfig, ax = plt.subplots()\nax.plot([0, 1], [1, 0])"
            ),
            new_code_cell(
                "from aecourse.teaching.prose import glue\nprint(glue('demo-x', 0.12345, '{:.2f}'))"
            ),
        ]
    )
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    path = tmp_path / "chapter.ipynb"
    nbformat.write(nb, path)

    stamp = execute(path, profile="full")
    ran = nbformat.read(path, as_version=4)
    assert ran.metadata["aecourse"] == stamp
    assert (
        stamp["profile"] == "full"
        and stamp["seed"] == 3
        and stamp["source_hash"] == source_hash(ran)
    )
    assert problems(ran) == []
    assert ran.cells[0].outputs[0]["text"] == "full 3\n"
    assert any(
        "image/png" in out.get("data", {}) for out in ran.cells[1].outputs
    ), "the figure must be inline"
    # the glue record that myst-nb pastes into the prose, beside the printed number
    from myst_nb.ext.glue import extract_glue_data_cell

    glued = dict(extract_glue_data_cell(copy.deepcopy(ran.cells[2])))
    assert glued["demo-x"]["data"]["text/plain"] == "0.12"
    printed = [
        o for o in ran.cells[2].outputs if o.output_type == "stream"
    ]
    assert printed[0]["text"] == "0.12\n"


def test_bench_measures_without_saving(tmp_path):
    from nbformat.v4 import new_notebook

    from aecourse.book.notebooks import execute

    nb = new_notebook(cells=[new_code_cell("x = 1")])
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    path = tmp_path / "chapter.ipynb"
    nbformat.write(nb, path)
    before = path.read_bytes()
    stamp = execute(path, profile="quick", save=False)
    assert stamp["profile"] == "quick" and stamp["seconds"] >= 0
    assert path.read_bytes() == before
