"""Chapter notebooks as book sources: execute and stamp them, check they are fresh, make student copies.

The book is published from notebooks committed with the outputs of a ``full``-profile run. To keep
outputs honest, :func:`execute` records a hash of the code cells it ran (with profile, device, seed and
time); :func:`problems` reports a notebook whose code changed since, or that has no outputs. Solution
code sits in cells tagged ``solution``: the ``student`` command writes each chapter's student copy
(:mod:`aecourse.book.student`), so students and instructors get their copies from the one notebook.

Command line (from the repository root)::

    python -m aecourse.book execute chapters/structure.ipynb   # full profile by default
    python -m aecourse.book check chapters/*.ipynb
    python -m aecourse.book bench chapters/*.ipynb --profile quick   # time without saving
    python -m aecourse.book student chapters/*.ipynb --out student/   # the committed copies
    python -m aecourse.book progress chapters/*.ipynb   # bars' text to their final state, no run
    python -m aecourse.book pdf   # the whole book as one PDF: see aecourse.book.pdf
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import time
from pathlib import Path

import nbformat

from aecourse import BOOK_REF, REPOSITORY
from aecourse.book.progress import final_progress

COLAB_INSTALL = f'"aecourse @ git+{REPOSITORY}@{BOOK_REF}"'
COLAB_GUARD = '"google.colab" in sys.modules'  # the condition every chapter's install cell acts under


def is_colab_install(nb, cell) -> bool:
    """Whether cell is the notebook's Colab install cell: its first code cell, acting only on Colab."""
    first = next((c for c in nb.cells if c.cell_type == "code"), None)
    return cell is first and COLAB_GUARD in cell.source


def source_hash(nb) -> str:
    """sha256 over the sources of the code cells, in order: what the outputs were computed from.

    The Colab install cell is left out: it does nothing outside Colab, so a new release named in it
    (:data:`aecourse.BOOK_REF`) does not make every chapter's outputs stale.
    """
    h = hashlib.sha256()
    for cell in nb.cells:
        if cell.cell_type == "code" and not is_colab_install(nb, cell):
            h.update(cell.source.strip().encode())
            h.update(b"\0")
    return h.hexdigest()


def execute(
    path: str | Path,
    profile: str = "full",
    timeout: int = 1800,
    save: bool = True,
) -> dict:
    """Run a notebook top to bottom in its folder under ``AECOURSE_PROFILE=profile`` and return a stamp
    (source hash, profile, device, seed, seconds). save: write the notebook back with its outputs and the
    stamp in ``metadata.aecourse``; False only measures (the benchmark)."""
    from nbclient import NotebookClient  # only needed to execute

    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    # The kernel inherits this environment: set the profile, and drop a non-interactive MPLBACKEND (CI sets
    # Agg) so that figures are drawn inline into the outputs the book shows. AECOURSE_BOOK=1 turns on
    # the glue records that paste measured numbers into the prose (aecourse.teaching.prose).
    env = dict(os.environ, AECOURSE_PROFILE=profile, AECOURSE_BOOK="1")
    env.pop("MPLBACKEND", None)
    start = time.time()
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute(env=env)
    # tqdm's bars saved a text form from their first moment ("0%"); make it read their last state
    final_progress(nb)
    import torch

    from aecourse.settings import device, seed_from_env

    stamp = {
        "source_hash": source_hash(nb),
        "profile": profile,
        "device": device().type,
        "seed": seed_from_env(),
        "seconds": round(time.time() - start, 1),
        "torch": torch.__version__,
        "executed": time.strftime("%Y-%m-%d"),
    }
    if save:
        nb.metadata["aecourse"] = stamp
        nbformat.write(nb, path)
    return stamp


def problems(nb) -> list[str]:
    """Why a committed notebook is not fit to publish (empty list: it is)."""
    found = []
    stamp = nb.metadata.get("aecourse")
    if not stamp:
        return [
            "it was never executed with `python -m aecourse.book execute` (no metadata.aecourse stamp)"
        ]
    if stamp.get("source_hash") != source_hash(nb):
        found.append(
            "its code cells changed since it was executed: its outputs are stale"
        )
    if stamp.get("profile") != "full":
        found.append(
            f"it was executed in the {stamp.get('profile')!r} profile; the book needs 'full'"
        )
    code = [
        c for c in nb.cells if c.cell_type == "code" and c.source.strip()
    ]
    if not code:
        found.append("it has no code cells")
    unrun = [
        i for i, c in enumerate(code) if c.get("execution_count") is None
    ]
    if unrun:
        found.append(
            f"{len(unrun)} code cells have no execution count (not run)"
        )
    if code and not any(c.get("outputs") for c in code):
        found.append("it has no outputs")
    for c in code:
        for out in c.get("outputs", []):
            if out.get("output_type") == "error":
                found.append(
                    f"a cell raised {out.get('ename')}: {out.get('evalue')}"
                )
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m aecourse.book",
        description=__doc__.split("\n\n")[0],
    )
    sub = parser.add_subparsers(dest="command", required=True)
    ex = sub.add_parser(
        "execute",
        help="run notebooks and save them with outputs and a stamp",
    )
    ex.add_argument("paths", nargs="+")
    ex.add_argument(
        "--profile", default="full", choices=("quick", "full")
    )
    bn = sub.add_parser(
        "bench", help="time each notebook's execution without saving it"
    )
    bn.add_argument("paths", nargs="+")
    bn.add_argument(
        "--profile", default="quick", choices=("quick", "full")
    )
    ck = sub.add_parser(
        "check",
        help="report stale or unexecuted notebooks (exit 1 if any)",
    )
    ck.add_argument("paths", nargs="+")
    st = sub.add_parser(
        "student",
        help="write student copies: exercises unsolved, no solutions, no outputs "
        "(exit 1 if a later cell uses an answer)",
    )
    st.add_argument("paths", nargs="+")
    st.add_argument("--out", default="student")
    pg = sub.add_parser(
        "progress",
        help="set saved progress bars' text to their final state (outputs only, nothing is run)",
    )
    pg.add_argument("paths", nargs="+")
    pd = sub.add_parser(
        "pdf",
        help="print the whole book to one PDF, solutions shown (instructors)",
    )
    pd.add_argument(
        "--out", default=None, help="default _build/aecourse.pdf"
    )
    pd.add_argument("--paper", default="a4", choices=("a4", "letter"))
    pd.add_argument(
        "--no-build",
        action="store_true",
        help="print the single-page build already in _build/singlehtml",
    )
    args = parser.parse_args(argv)
    if args.command == "pdf":
        from aecourse.book.pdf import make_pdf

        try:
            made = make_pdf(
                out=args.out, paper=args.paper, build=not args.no_build
            )
        except RuntimeError as error:  # a failed build or print: say why
            print(f"no PDF: {error}", file=sys.stderr)
            return 1
        print(
            f"{made['out']}: {made['pages']} pages, {made['bytes'] / 1e6:.1f} MB, "
            f"{made['formulas']} formulas, {made['solutions']} solutions shown; "
            f"{made['seconds']:.0f} s ({made['build_seconds']:.0f} s of it the build)"
        )
        return 0

    status = 0
    for p in map(Path, args.paths):
        if args.command in ("execute", "bench"):
            stamp = execute(
                p, profile=args.profile, save=args.command == "execute"
            )
            print(
                f"{p}: {stamp['seconds']:.0f} s, profile={stamp['profile']} device={stamp['device']} seed={stamp['seed']}"
            )
        elif args.command == "check":
            nb = nbformat.read(p, as_version=4)
            found = problems(nb)
            status |= bool(found)
            stamp = nb.metadata.get("aecourse", {})
            cost = (
                f" ({stamp['profile']} profile: {stamp['seconds']:.0f} s on {stamp['device']})"
                if "seconds" in stamp
                else ""
            )
            print(f"{p}: " + ("; ".join(found) if found else "ok" + cost))
        elif args.command == "progress":
            nb = nbformat.read(p, as_version=4)
            changed = final_progress(nb)
            if changed:
                nbformat.write(nb, p)
            print(f"{p}: {changed} progress bars set to their final line")
        else:
            # imported here: it loads the checkers (and torch), which check does not need
            from aecourse.book.student import (
                answer_problems,
                student_copy,
            )

            out = Path(args.out) / p.name
            out.parent.mkdir(parents=True, exist_ok=True)
            nb = nbformat.read(p, as_version=4)
            nbformat.write(student_copy(nb), out)
            print(f"{p} -> {out}")
            # the copy is written anyway; the problems say why it would not run unsolved
            for problem in answer_problems(nb):
                status = 1
                print(f"{p}: {problem}", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
