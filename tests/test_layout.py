"""The package's shape: every module sits in a layer, imports only its own layer or those below, and the
import graph has no cycles. A new subpackage must be given its place in LAYERS on purpose."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "aecourse"

# Bottom to top. A module may import from its own layer or any layer below it, never above.
LAYERS = [
    # "" is aecourse/__init__.py: the version and the release the book installs
    {"", "_args", "settings"},
    {"data"},  # data sets as tensors
    {"ops"},  # losses, convolution by hand, corruptions, regularizers
    {"training"},  # the one training loop
    {"models"},
    {"evaluation"},  # what codes are good for, and the baselines
    {"teaching"},  # plots and widgets
    {"checks"},  # exercise checkers
    # long runs behind a chapter's table; executing and checking the notebooks; grading submissions
    {"experiments", "book", "grade"},
]


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, name: str, known: set[str]) -> set[str]:
    """The aecourse modules a file imports anywhere (also inside functions), resolved to module names."""
    package = (
        name if path.name == "__init__.py" else name.rpartition(".")[0]
    )
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[
                    : len(package.split(".")) - node.level + 1
                ]
                target = ".".join(
                    [*base, node.module] if node.module else base
                )
            else:
                target = node.module or ""
            # "from aecourse.models import vae" imports the module aecourse.models.vae
            candidates = [
                f"{target}.{alias.name}" for alias in node.names
            ] + [target]
        else:
            continue
        for candidate in candidates:
            while candidate and candidate not in known:
                candidate = candidate.rpartition(".")[0]
            if candidate and candidate != name:
                found.add(candidate)
    return found


def layer_of(module: str) -> int:
    key = module.split(".")[1] if "." in module else ""
    for rank, layer in enumerate(LAYERS):
        if key in layer:
            return rank
    raise KeyError(module)


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    files = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    assert len(files) > 30, "the package was not found"
    return {
        name: imported_modules(path, name, set(files))
        for name, path in files.items()
    }


def test_every_module_has_a_layer(graph):
    unplaced = []
    for module in graph:
        try:
            layer_of(module)
        except KeyError:
            unplaced.append(module)
    assert not unplaced, f"give these a place in LAYERS: {unplaced}"


def test_no_module_imports_from_a_layer_above_its_own(graph):
    upward = [
        f"{a} -> {b}"
        for a, targets in graph.items()
        for b in targets
        if layer_of(b) > layer_of(a)
    ]
    assert not upward, "upward imports: " + ", ".join(sorted(upward))


def test_the_import_graph_has_no_cycles(graph):
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for target in sorted(graph[module]):
            if state.get(target) == 1:
                cycle = path[path.index(target) :] + [target]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if target not in state:
                visit(target, [*path, target])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])


def test_the_checker_detects_an_upward_import(tmp_path):
    """The test can fail: a module of ops importing the training loop is found."""
    fake = tmp_path / "aecourse" / "ops"
    fake.mkdir(parents=True)
    (fake / "bad.py").write_text("from aecourse.training import fit\n")
    found = imported_modules(
        fake / "bad.py",
        "aecourse.ops.bad",
        {"aecourse.training", "aecourse.ops.bad"},
    )
    assert found == {"aecourse.training"} and layer_of(
        "aecourse.training"
    ) > layer_of("aecourse.ops.bad")
