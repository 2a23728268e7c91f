"""Grade a class's submitted notebooks: run each one, read each exercise's verdict, write a gradebook.

Command line (from a checkout, or wherever aecourse is installed)::

    python -m aecourse.grade submissions/ --out grades.csv
    python -m aecourse.grade ada.ipynb bob.ipynb --out grades.csv \\
        --reference chapters/denoising.ipynb --timeout 600 --jobs 2

SUBMISSIONS are ``.ipynb`` files or folders of them (a folder's ``*.ipynb``, not its subfolders); the
student is the file name's stem (``submissions/ada.ipynb`` is ``ada``), so two submissions may not share
a stem. **Submissions are untrusted code**: the grader runs whatever they contain with the grader's
rights, so run it in a container or a throwaway account with nothing else to lose. The verdict records
come from the student's own kernel, so a student who reads this package can forge them: the gradebook
is feedback for honest work, not proof.

Each submission runs in a fresh ``python3`` kernel (nbclient), in a fresh temporary folder, with
``AECOURSE_PROFILE=quick``, CUDA hidden (``CUDA_VISIBLE_DEVICES`` empty), ``MPLBACKEND=Agg``,
``OMP_NUM_THREADS`` = cores / jobs unless set, the ``aecourse`` the grader itself imports first on
``PYTHONPATH`` (``AECOURSE_DATA`` and ``AECOURSE_SEED`` pass through), and ``AECOURSE_VERDICTS`` naming a file where every checker the notebook calls appends
its verdict record ``{label, passed, message}`` (:mod:`aecourse.checks._verdict`). A cell that raises
does not stop the run (``allow_errors``), so one failing cell does not hide the exercises after it;
the whole run, kernel start included, has ``--timeout`` seconds (default 600), after which its kernel is
killed. ``--jobs`` submissions run at once (default: min(2, cores)).

Which exercises are graded: with ``--reference``, the ``{exercise}`` labels of that chapter notebook
that a checker declares (``@exercise``), in the chapter's order. Without it, the chapter is found from
the submissions: the ``{exercise}`` labels in their markdown that a checker declares must all belong
to one chapter's checkers module (``aecourse/checks/<chapter>.py``), and every checker of that module is
graded (ordered as the submissions show them); otherwise the grader stops with a usage error that asks
for ``--reference``. A student who deleted an exercise's text is still graded on it.

Outputs, both CSV (UTF-8, a header row):

* ``--out`` (the gradebook): one row per student and exercise: ``student, exercise, passed, message``;
  passed is ``yes`` or ``no``; message is the checker's (its line without "✅ Correct: " / "❌ Not
  yet: "), or why there is no verdict: "the notebook is not valid JSON: …", "timed out after N s …",
  "the checker never ran: NameError: name 'f' is not defined (cell 8)", "no cell calls
  checks.check_f" (cells are numbered from 1, markdown included, as they are in the file).
* ``--summary`` (default: the ``--out`` name with ``_summary`` before ``.csv``): one row per student:
  ``student, passed, total, status, detail, seconds``. status is ``ok`` (ran to the end; the only
  errors, if any, are the ``assert`` of a checker that said "not yet"), ``errors`` (some other cell
  raised, or the kernel died: detail says the first), ``timed out`` or ``unreadable`` (not a notebook:
  detail says why).

A broken submission never stops the batch: the exit status is 0 when every submission got its rows
(failures included) and 2 for a usage error (no submissions, an unknown path, a reference without
checked exercises, a chapter that cannot be told).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

import aecourse
from aecourse import checks
from aecourse.checks._verdict import VERDICTS_ENV

# The label of an {exercise} box: ```{exercise} or :::{exercise}, its options, then :label: ex-...
EXERCISE_LABEL = re.compile(
    r"^[ \t]*(?:`{3,}|:{3,})\{exercise\}[^\n]*\n"
    r"(?:[ \t]*:[\w-]+:[^\n]*\n)*?[ \t]*:label:[ \t]*(\S+)",
    re.M,
)
DEFAULT_TIMEOUT = 600


class UsageError(Exception):
    """A mistake in the command line: reported with the usage, exit status 2."""


@dataclass
class Outcome:
    """What running one submission gave: its status, the verdict records (by label), the executed cells."""

    student: str
    status: str = "ok"  # ok / errors / timed out / unreadable
    detail: str = ""
    records: dict[str, dict] = field(default_factory=dict)
    nb: object = None  # the executed notebook, None if unreadable
    running: int | None = (
        None  # index of the cell running at the time limit
    )
    seconds: float = 0.0


def exercise_labels(nb) -> list[str]:
    """The ``:label:`` of every ``{exercise}`` box in the notebook's markdown cells, in order."""
    return [
        label
        for cell in nb.cells
        if cell.get("cell_type") == "markdown"
        for label in EXERCISE_LABEL.findall(str(cell.get("source", "")))
    ]


def chapter_of(label: str) -> str:
    """The chapter (topic) whose checkers module declares the label: ``ex-mask`` -> ``denoising``."""
    return checks.labels()[label].__module__.rpartition(".")[2]


def reference_exercises(path: Path) -> list[str]:
    """The graded exercises of a reference chapter: its labels that a checker declares, in order."""
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception as err:
        raise UsageError(
            f"cannot read the reference {path}: {err}"
        ) from err
    known = checks.labels()
    found = [label for label in exercise_labels(nb) if label in known]
    if not found:
        raise UsageError(
            f"the reference {path} has no {{exercise}} whose label a checker declares"
        )
    return found


def inferred_exercises(paths: list[Path]) -> list[str]:
    """The graded exercises when no reference is given: every checker of the one chapter the
    submissions' exercise labels belong to, in the order the submissions show them."""
    known = checks.labels()
    seen: dict[str, int] = {}
    for path in paths:
        try:
            nb = nbformat.reads(
                path.read_text(encoding="utf-8"), as_version=4
            )
            labels = exercise_labels(nb)
        except Exception:  # an unreadable submission says nothing
            continue
        for label in labels:
            if label in known:
                seen.setdefault(label, len(seen))
    chapters = Counter(chapter_of(label) for label in seen)
    if len(chapters) != 1:
        found = ", ".join(sorted(chapters)) or "none"
        raise UsageError(
            "cannot tell which chapter the submissions are from (chapters whose "
            f"exercises they show: {found}); name it with --reference chapters/<topic>.ipynb"
        )
    (chapter,) = chapters
    ours = [label for label in known if chapter_of(label) == chapter]
    return sorted(ours, key=lambda label: seen.get(label, len(seen)))


def submissions(args: list[str]) -> dict[str, Path]:
    """student -> notebook path, from files and folders (a folder's ``*.ipynb``)."""
    found: dict[str, Path] = {}
    for arg in args:
        path = Path(arg)
        if path.is_dir():
            paths = sorted(path.glob("*.ipynb"))
        elif path.is_file() and path.suffix == ".ipynb":
            paths = [path]
        else:
            raise UsageError(
                f"{arg} is neither a .ipynb file nor a folder"
            )
        for p in paths:
            if p.stem in found and found[p.stem] != p:
                raise UsageError(
                    f"two submissions are both student {p.stem!r}: {found[p.stem]} and {p}"
                )
            found[p.stem] = p
    if not found:
        raise UsageError(
            "no .ipynb submissions found in " + " ".join(args)
        )
    return dict(sorted(found.items()))


def kernel_env(verdicts: Path, jobs: int) -> dict[str, str]:
    """The environment of a submission's kernel (see the module docstring)."""
    env = dict(os.environ)
    env.pop("AECOURSE_BOOK", None)  # no glue records
    env.update(
        AECOURSE_PROFILE="quick",
        CUDA_VISIBLE_DEVICES="",
        MPLBACKEND="Agg",
        PYDEVD_DISABLE_FILE_VALIDATION="1",
        **{VERDICTS_ENV: str(verdicts)},
    )
    env.setdefault(
        "OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // jobs))
    )
    package_root = str(Path(aecourse.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (package_root, env.get("PYTHONPATH", "")) if p
    )
    return env


def read_submission(path: Path):
    """The notebook, or a message saying why it cannot be run."""
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as err:
        return None, f"the notebook is not UTF-8 text: {err}"
    try:
        json.loads(text)
    except json.JSONDecodeError as err:
        return None, f"the notebook is not valid JSON: {err}"
    try:
        nb = nbformat.reads(text, as_version=4)
        nbformat.validate(nb)
    except Exception as err:
        first = (
            str(err).strip().splitlines()[0] if str(err).strip() else ""
        )
        return (
            None,
            f"the file is not a Jupyter notebook: {type(err).__name__}: {first}",
        )
    return nb, ""


def read_records(path: Path) -> dict[str, dict]:
    """label -> the last verdict record written for it (lines that are not records are skipped)."""
    records: dict[str, dict] = {}
    if not path.is_file():
        return records
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
            records[str(record["label"])] = {
                "passed": record["passed"] is True,
                "message": str(record["message"]),
            }
        except (ValueError, KeyError, TypeError):
            continue
    return records


# IPython names a cell's code "<digits>.py" in a SyntaxError: "(3366549170.py, line 1)" -> "(line 1)"
CELL_FILE = re.compile(r"\(\d+\.py, (line \d+)\)")


def errors(nb) -> list[tuple[int, str]]:
    """(cell index, "Name: value") of every error output of the executed notebook, in order."""
    return [
        (
            i,
            CELL_FILE.sub(
                r"(\1)", f"{out.get('ename')}: {out.get('evalue')}"
            ),
        )
        for i, cell in enumerate(nb.cells)
        if cell.get("cell_type") == "code"
        for out in cell.get("outputs", [])
        if out.get("output_type") == "error"
    ]


async def execute(client, env: dict[str, str], timeout: float) -> bool:
    """Run the client's notebook in a new kernel; False if it was stopped (and its kernel killed) at the
    time limit. Raises what the run raised otherwise (e.g. DeadKernelError)."""
    from jupyter_client.utils import ensure_async

    run = asyncio.ensure_future(
        client.async_execute(
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
    )
    done, _ = await asyncio.wait({run}, timeout=timeout)
    if run in done:
        run.result()
        return True
    run.cancel()  # nbclient shuts the kernel down as it unwinds ...
    try:
        await run
    # the cancellation, or the death of the kernel that it causes
    except BaseException:
        pass
    km = client.km  # ... and if it could not, the kernel is killed here
    if km is not None and await ensure_async(km.is_alive()):
        await ensure_async(km.shutdown_kernel(now=True))
    return False


async def run_one(
    student: str,
    path: Path,
    timeout: float,
    jobs: int,
    slots: asyncio.Semaphore,
) -> Outcome:
    """Run one submission in a fresh kernel and collect its verdict records."""
    from nbclient import NotebookClient

    outcome = Outcome(student)
    nb, problem = read_submission(path)
    if nb is None:
        outcome.status, outcome.detail = "unreadable", problem
        return outcome
    for (
        cell
    ) in nb.cells:  # what the student's own run left is not evidence
        if cell.get("cell_type") == "code":
            cell.outputs, cell.execution_count = [], None
    outcome.nb = nb
    async with slots:
        start = time.monotonic()
        folder = Path(tempfile.mkdtemp(prefix="aecourse-grade-"))
        verdicts = folder / ".verdicts.jsonl"
        client = NotebookClient(
            nb,
            timeout=timeout + 60,  # the whole run's limit comes first
            kernel_name="python3",
            allow_errors=True,
            shutdown_kernel="immediate",
            resources={"metadata": {"path": str(folder)}},
        )
        try:
            finished = await execute(
                client, kernel_env(verdicts, jobs), timeout
            )
            if not finished:
                ran = [
                    i
                    for i, c in enumerate(nb.cells)
                    if c.get("cell_type") == "code"
                    and c.get("execution_count") is not None
                ]
                outcome.running = ran[-1] if ran else None
                outcome.status = "timed out"
                outcome.detail = f"timed out after {timeout:g} s" + (
                    f" while cell {outcome.running + 1} was running"
                    if ran
                    else " before its first cell ran"
                )
        except Exception as err:  # the kernel died, or did not start
            outcome.status = "errors"
            outcome.detail = f"the run stopped: {type(err).__name__}: {str(err).strip().splitlines()[0] if str(err).strip() else ''}"
        outcome.seconds = round(time.monotonic() - start, 1)
        outcome.records = read_records(verdicts)
        shutil.rmtree(folder, ignore_errors=True)
    if outcome.status == "ok":
        failed_checks = {
            i
            for i, cell in enumerate(nb.cells)
            if any(
                f"checks.{checks.labels()[label].__name__}("
                in cell.source
                for label in outcome.records
                if label in checks.labels()
            )
        }
        other = [
            (i, e)
            for i, e in errors(nb)
            if not (i in failed_checks and e.startswith("AssertionError"))
        ]
        if other:
            outcome.status = "errors"
            more = (
                f" (and {len(other) - 1} more error{'s' if len(other) > 2 else ''})"
                if len(other) > 1
                else ""
            )
            outcome.detail = (
                f"cell {other[0][0] + 1} raised {other[0][1]}{more}"
            )
    return outcome


def verdict_row(outcome: Outcome, label: str) -> tuple[bool, str]:
    """(passed, message) for one student and exercise: the checker's verdict, or why there is none."""
    if outcome.status == "unreadable":
        return False, outcome.detail
    if label in outcome.records:
        record = outcome.records[label]
        return record["passed"], record["message"]
    name = checks.labels()[label].__name__
    cells = outcome.nb.cells
    calls = [
        i
        for i, c in enumerate(cells)
        if c.get("cell_type") == "code"
        and re.search(rf"\b{name}\s*\(", c.source)
    ]
    if not calls:
        return (
            False,
            f"the checker never ran: no cell calls checks.{name}",
        )
    call = calls[0]
    if outcome.status == "timed out" and (
        outcome.running is None or outcome.running >= call
    ):
        if outcome.running == call:
            return (
                False,
                f"the checker never finished: {outcome.detail} (the checker's cell)",
            )
        return (
            False,
            f"the checker never ran: {outcome.detail}, before the checker's cell "
            f"(cell {call + 1})",
        )
    # the first error of this exercise (from its statement to the checker's cell), else any before it
    statement = next(
        (
            i
            for i, c in enumerate(cells[: call + 1])
            if c.get("cell_type") == "markdown"
            and label in EXERCISE_LABEL.findall(str(c.source))
        ),
        0,
    )
    found = [(i, e) for i, e in errors(outcome.nb) if i <= call]
    found = [x for x in found if x[0] >= statement] or found
    if found:
        i, error = found[0]
        return False, f"the checker never ran: {error} (cell {i + 1})"
    if outcome.status == "errors":
        return False, f"the checker never ran: {outcome.detail}"
    return (
        False,
        f"the checker never ran: its cell (cell {call + 1}) did not call it",
    )


async def run_all(
    paths: dict[str, Path], timeout: float, jobs: int
) -> list[Outcome]:
    slots = asyncio.Semaphore(jobs)

    async def one(student: str, path: Path) -> Outcome:
        try:
            outcome = await run_one(student, path, timeout, jobs, slots)
        except (
            Exception
        ) as err:  # never let one submission stop the batch
            outcome = Outcome(
                student,
                status="errors",
                detail=f"the grader failed on it: {type(err).__name__}: {err}",
            )
        print(
            f"{student}: {outcome.status}"
            + (f" ({outcome.detail})" if outcome.detail else "")
            + f", {outcome.seconds:.0f} s",
            flush=True,
        )
        return outcome

    return list(
        await asyncio.gather(*(one(s, p) for s, p in paths.items()))
    )


def summary_path(out: Path) -> Path:
    return out.with_name(out.stem + "_summary" + (out.suffix or ".csv"))


def write_gradebook(
    outcomes: list[Outcome], labels: list[str], out: Path, summary: Path
) -> None:
    """Write the gradebook (one row per student and exercise) and the summary (one row per student)."""
    rows, totals = [], []
    for outcome in outcomes:
        passed = 0
        for label in labels:
            if outcome.nb is None and outcome.status != "unreadable":
                ok, message = (
                    False,
                    f"the checker never ran: {outcome.detail}",
                )
            else:
                ok, message = verdict_row(outcome, label)
            passed += ok
            rows.append(
                [outcome.student, label, "yes" if ok else "no", message]
            )
        totals.append(
            [
                outcome.student,
                passed,
                len(labels),
                outcome.status,
                outcome.detail,
                outcome.seconds,
            ]
        )
    for path, header, body in (
        (out, ["student", "exercise", "passed", "message"], rows),
        (
            summary,
            ["student", "passed", "total", "status", "detail", "seconds"],
            totals,
        ),
    ):
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", newline="", encoding="utf-8") as file:
            writer = csv.writer(file)
            writer.writerow(header)
            writer.writerows(body)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m aecourse.grade",
        description=__doc__.split("\n\n")[0]
        + " Submissions are untrusted code: run this in a container or a throwaway account.",
    )
    parser.add_argument(
        "submissions",
        nargs="+",
        metavar="SUBMISSIONS",
        help=".ipynb files or folders of them; the student is the file name's stem "
        "(submissions/ada.ipynb is student ada)",
    )
    parser.add_argument(
        "--out", required=True, help="the gradebook CSV to write"
    )
    parser.add_argument(
        "--summary",
        help="the per-student summary CSV (default: OUT with _summary before .csv)",
    )
    parser.add_argument(
        "--reference",
        help="the chapter notebook whose checked exercises are graded (default: the one "
        "chapter whose exercise labels the submissions show)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        help=f"seconds each notebook may run, kernel start included (default {DEFAULT_TIMEOUT})",
    )
    cores = os.cpu_count() or 1
    parser.add_argument(
        "--jobs",
        type=int,
        default=min(2, cores),
        help=f"notebooks run at once (default min(2, cores) = {min(2, cores)})",
    )
    args = parser.parse_args(argv)
    if args.timeout <= 0 or args.jobs < 1:
        parser.error("--timeout must be > 0 and --jobs >= 1")
    try:
        paths = submissions(args.submissions)
        labels = (
            reference_exercises(Path(args.reference))
            if args.reference
            else inferred_exercises(list(paths.values()))
        )
    except UsageError as err:
        parser.error(str(err))
    out = Path(args.out)
    summary = Path(args.summary) if args.summary else summary_path(out)
    print(
        f"grading {len(paths)} submissions on {len(labels)} exercises "
        f"({', '.join(labels)}), {args.jobs} at a time, {args.timeout:g} s each",
        flush=True,
    )
    outcomes = asyncio.run(run_all(paths, args.timeout, args.jobs))
    write_gradebook(outcomes, labels, out, summary)
    print(f"wrote {out} and {summary}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
