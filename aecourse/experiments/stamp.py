"""Stamped results files: what an experiment script measured, with how, where and by which code.

A chapter never retrains a paper-scale grid: an experiment script writes its rows into a JSON file under
``aecourse/experiments/results/`` (shipped with the package, so Colab has it too) and the chapter reads
that file. The file carries a *stamp*:

- ``experiment``: the module that made it (``aecourse.experiments.pretraining``) and ``command``: the
  command line, so anyone can run it again;
- ``config``: the grid and sizes it ran with; a resumed run must use the same;
- ``code_hash``: a hash of the code of that module and of every ``aecourse`` module it imports, directly
  or not. Comments, docstrings and formatting do not count, so only a change that can change a number
  changes the hash. ``tests/test_results.py`` fails when a committed file's hash no longer matches the
  code: the numbers on the page would come from code that is gone;
- ``devices``, ``seconds`` (training time over all sessions), ``sessions`` (one entry per run of the
  script: when, where, how long, how many rows), ``versions`` (Python, torch, aecourse) and
  ``complete`` (whether every run of the grid is in the file).

Runs are written one row at a time, so a script stopped by a time budget or a crash keeps what it did,
and the same command run again resumes with the missing rows (:class:`ResultsFile`).
"""

from __future__ import annotations

import ast
import datetime
import hashlib
import json
import os
import platform
import sys
from pathlib import Path

import torch

import aecourse

# The committed results files, one per experiment and scale, read by the chapters.
RESULTS = Path(__file__).resolve().parent / "results"

_PACKAGE = Path(aecourse.__file__).resolve().parent


def _module_path(name: str) -> Path | None:
    """The file of aecourse module ``name`` ("aecourse.models.vae"), or None if there is none.

    Found from the package's folder, without importing anything.
    """
    parts = name.split(".")
    if parts[0] != "aecourse":
        return None
    base = _PACKAGE.joinpath(*parts[1:])
    for path in (base / "__init__.py", base.with_suffix(".py")):
        if path.is_file():
            return path
    return None


def _dump(node) -> str:
    """A node as text, leaving out empty fields: Python 3.12 added fields (``type_params=[]``) that
    ``ast.dump`` prints, and the hash must be the same on every Python that runs the code."""
    if isinstance(node, ast.AST):
        fields = []
        for name in node._fields:
            value = getattr(node, name, None)
            if value is None or value == []:
                continue
            fields.append(f"{name}={_dump(value)}")
        return f"{type(node).__name__}({', '.join(fields)})"
    if isinstance(node, list):
        return f"[{', '.join(_dump(v) for v in node)}]"
    return repr(node)


def _code(tree: ast.Module) -> str:
    """The code of a parsed module, docstrings dropped; comments and layout are not in the tree."""
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (
            isinstance(
                node,
                ast.Module
                | ast.ClassDef
                | ast.FunctionDef
                | ast.AsyncFunctionDef,
            )
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            node.body = body[1:] or [ast.Pass()]
    return _dump(tree)


def _aecourse_imports(
    tree: ast.Module, name: str, is_package: bool
) -> set[str]:
    """Names of the aecourse modules a module imports anywhere in its file (also inside functions)."""
    package = name if is_package else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                prefix = ".".join(parts[: len(parts) - node.level + 1])
                base = f"{prefix}.{base}" if base else prefix
            # "from aecourse.models import vae" may import the module aecourse.models.vae
            targets = [base] + [f"{base}.{a.name}" for a in node.names]
        else:
            continue
        # "from aecourse.models.pretraining import DeepNet" names no module DeepNet: skipped
        found.update(t for t in targets if _module_path(t) is not None)
    return found


def code_hash(module: str) -> str:
    """SHA-256 (hex, 16 digits) of the code of ``module`` and of every aecourse module it imports.

    module: a dotted name, e.g. "aecourse.experiments.pretraining". The imports are followed through the
    whole package (a module's package ``__init__`` files included); what is hashed is each module's syntax
    tree without docstrings, so editing a comment or a docstring, or reformatting, keeps the hash.
    """
    seen: dict[str, str] = {}
    todo = [module]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        path = _module_path(name)
        if path is None:
            raise ValueError(
                f"{name!r} is not a module of the aecourse package."
            )
        tree = ast.parse(path.read_text(), str(path))
        imports = _aecourse_imports(
            tree, name, path.name == "__init__.py"
        )
        seen[name] = _code(tree)
        # importing a.b.c runs a/__init__.py and a/b/__init__.py first
        parents = {
            name.rsplit(".", k)[0] for k in range(1, name.count(".") + 1)
        }
        todo.extend(sorted(imports | parents))
    digest = hashlib.sha256()
    for name in sorted(seen):
        digest.update(f"{name}\n{seen[name]}\n".encode())
    return digest.hexdigest()[:16]


def versions() -> dict:
    """The versions a result depends on: Python, torch and aecourse."""
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "aecourse": aecourse.__version__,
    }


def device_name(device: torch.device | str) -> str:
    """What ran the runs, in words: the GPU's name, or the CPU with its core count."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{device.type} ({os.cpu_count()} cores, {torch.get_num_threads()} threads)"


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime(
        "%Y-%m-%d %H:%M UTC"
    )


def read_results(path: str | Path) -> tuple[list[dict], dict]:
    """(rows, stamp) of a results file. path: a file, or the name of a committed one ("pretraining")."""
    path = Path(path)
    if not path.suffix and not path.exists():
        path = RESULTS / f"{path}.json"
    if not path.exists():
        raise FileNotFoundError(
            f"No results file {path}: run the experiment script that writes it (see the chapter)."
        )
    data = json.loads(path.read_text())
    if set(data) != {"stamp", "rows"}:
        raise ValueError(
            f"{path} is not a results file: expected the keys 'stamp' and 'rows', got {sorted(data)}."
        )
    return data["rows"], data["stamp"]


def stamp_problems(path: str | Path) -> list[str]:
    """What is wrong with a results file's stamp against the code here; [] when nothing is."""
    rows, stamp = read_results(path)
    problems = []
    for key in (
        "experiment",
        "command",
        "config",
        "code_hash",
        "devices",
        "seconds",
        "sessions",
        "versions",
        "complete",
    ):
        if key not in stamp:
            problems.append(f"the stamp has no {key!r}")
    if "experiment" in stamp and "code_hash" in stamp:
        now = code_hash(stamp["experiment"])
        if now != stamp["code_hash"]:
            problems.append(
                f"code hash {stamp['code_hash']} but the code of {stamp['experiment']} now hashes to {now}: "
                f"run `{' '.join(stamp.get('command', []))}` again"
            )
    if not rows:
        problems.append("no rows")
    return problems


class ResultsFile:
    """A results file being written by an experiment script, one row at a time, resumable.

    path: the JSON file. experiment: the script's module name. config: a JSON-able dict of the grid and
    sizes. key: the names of the columns that identify a run (e.g. ("dataset", "method", "seed")).
    command: the command line to record (default: ``python -m <experiment> <sys.argv[1:]>``).

    If the file exists and ``fresh`` is False, its rows are kept and :meth:`done` says which runs to skip;
    a file made by other code (a different hash) or another config raises ValueError, so rows from two
    versions of an experiment are never mixed.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        experiment: str,
        config: dict,
        key: tuple[str, ...],
        device: torch.device | str,
        command: list[str] | None = None,
        fresh: bool = False,
    ):
        self.path = Path(path)
        self.key = tuple(key)
        config = json.loads(json.dumps(config))  # as it will read back
        code = code_hash(experiment)
        self.stamp = {
            "experiment": experiment,
            "command": command
            or ["python", "-m", experiment, *sys.argv[1:]],
            "config": config,
            "code_hash": code,
            "devices": [],
            "seconds": 0.0,
            "sessions": [],
            "versions": versions(),
            "complete": False,
        }
        self.rows: list[dict] = []
        if self.path.exists() and not fresh:
            rows, old = read_results(self.path)
            if old.get("experiment") != experiment:
                raise ValueError(
                    f"{self.path} was written by {old.get('experiment')}, not {experiment}."
                )
            if old.get("code_hash") != code:
                raise ValueError(
                    f"{self.path} was made by other code (hash {old.get('code_hash')}, now {code}): its rows "
                    "cannot be resumed. Start it afresh (--fresh) or write elsewhere (--out)."
                )
            if old.get("config") != config:
                raise ValueError(
                    f"{self.path} was made with another config ({old.get('config')}); this run has "
                    f"{config}. Use the same arguments to resume, or --fresh to start again."
                )
            self.rows = rows
            self.stamp.update(
                devices=old["devices"],
                seconds=old["seconds"],
                sessions=old["sessions"],
                command=old["command"],
            )
        self._session = {
            "started": _now(),
            "device": device_name(device),
            "seconds": 0.0,
            "rows": 0,
        }
        self.stamp["sessions"].append(self._session)
        if self._session["device"] not in self.stamp["devices"]:
            self.stamp["devices"].append(self._session["device"])

    def _key(self, row: dict) -> tuple:
        return tuple(row[k] for k in self.key)

    def done(self, **key) -> bool:
        """Whether a row with these key values is in the file already."""
        want = tuple(key[k] for k in self.key)
        return any(self._key(r) == want for r in self.rows)

    def add(self, row: dict, seconds: float) -> None:
        """Append one run's row (it must hold every key column) and write the file at once.

        seconds: what the run took, added to the stamp's totals.
        """
        missing = [k for k in self.key if k not in row]
        if missing:
            raise ValueError(f"The row has no key column(s) {missing}.")
        if self.done(**{k: row[k] for k in self.key}):
            raise ValueError(
                f"A row with key {self._key(row)} is in {self.path} already."
            )
        self.rows.append(json.loads(json.dumps(row)))
        self.stamp["seconds"] += seconds
        self._session["seconds"] += seconds
        self._session["rows"] += 1
        self.write()

    def write(self, complete: bool | None = None) -> None:
        """Write the file (atomically: a crash mid-write leaves the old one). complete: set the flag."""
        if complete is not None:
            self.stamp["complete"] = bool(complete)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(
            json.dumps({"stamp": self.stamp, "rows": self.rows}, indent=1)
            + "\n"
        )
        tmp.replace(self.path)


def merge_results(
    paths: list[str | Path], out: str | Path, key: tuple[str, ...]
) -> Path:
    """Merge results files written in parallel (shards of one grid) into ``out``; returns its path.

    Every file must come from the same experiment, code hash and config (shards differ only in their
    command); rows are concatenated, a key seen twice raises ValueError; devices, sessions and seconds
    are summed; ``complete`` is true when every shard finished its part.
    """
    if not paths:
        raise ValueError("merge_results needs at least one results file.")
    merged_rows: list[dict] = []
    merged: dict | None = None
    seen = set()
    for path in paths:
        rows, s = read_results(path)
        if merged is None:
            merged = {**s, "devices": [], "sessions": [], "seconds": 0.0}
            merged["complete"] = True
            merged["command"] = s["command"]
        for field in ("experiment", "code_hash", "config"):
            if s[field] != merged[field]:
                raise ValueError(
                    f"{path} has another {field} ({s[field]}) than {paths[0]} ({merged[field]})."
                )
        for row in rows:
            k = tuple(row[c] for c in key)
            if k in seen:
                raise ValueError(f"The run {k} is in two of the files.")
            seen.add(k)
            merged_rows.append(row)
        merged["devices"] += [
            d for d in s["devices"] if d not in merged["devices"]
        ]
        merged["sessions"] += s["sessions"]
        merged["seconds"] += s["seconds"]
        merged["complete"] = merged["complete"] and s["complete"]
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps({"stamp": merged, "rows": merged_rows}, indent=1)
        + "\n"
    )
    return out
