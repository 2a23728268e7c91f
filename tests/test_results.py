"""Stamped results files (aecourse.experiments.stamp): the hash of the code that made them, resuming
a grid, and every committed results file still matching the code the chapters now run."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from aecourse.experiments import stamp
from aecourse.experiments.stamp import RESULTS, ResultsFile

COMMITTED = sorted(RESULTS.glob("*.json"))


@pytest.mark.parametrize("path", COMMITTED, ids=lambda p: p.stem)
def test_committed_results_match_the_code(path):
    assert stamp.stamp_problems(path) == []


def chapter_results() -> set[str]:
    """The names of the results files the chapters read: read_results("x") or report.read("x", ...)."""
    names = set()
    for notebook in (Path(__file__).parents[1] / "chapters").glob(
        "*.ipynb"
    ):
        cells = json.loads(notebook.read_text())["cells"]
        code = "\n".join(
            "".join(c["source"])
            for c in cells
            if c["cell_type"] == "code"
        )
        names |= set(re.findall(r"read(?:_results)?\(\s*\"(\w+)\"", code))
    return names


def test_every_results_file_a_chapter_reads_is_committed():
    names = chapter_results()
    assert names, (
        "no chapter reads a results file: the pattern above no longer matches"
    )
    assert names <= {p.stem for p in COMMITTED}, names - {
        p.stem for p in COMMITTED
    }


def test_code_hash_follows_imports_and_ignores_comments(
    tmp_path, monkeypatch
):
    copy = tmp_path / "aecourse"
    shutil.copytree(stamp._PACKAGE, copy)
    monkeypatch.setattr(stamp, "_PACKAGE", copy)
    module = "aecourse.experiments.pretraining"
    before = stamp.code_hash(module)
    deep = (
        copy / "ops" / "losses.py"
    )  # imported by pretraining through models
    text = deep.read_text()
    deep.write_text(text + "\n# a comment changes nothing\n")
    assert stamp.code_hash(module) == before
    deep.write_text(
        text.replace('"""', '"""A docstring changes nothing. ', 1)
    )
    assert stamp.code_hash(module) == before
    deep.write_text(text + "\nCHANGED = 1\n")
    assert stamp.code_hash(module) != before
    # a module pretraining does not import does not count
    deep.write_text(text)
    (copy / "evaluation" / "pca.py").write_text("X = 2\n")
    assert stamp.code_hash(module) == before


def test_code_hash_rejects_modules_outside_the_package():
    with pytest.raises(ValueError, match="not a module of the aecourse"):
        stamp.code_hash("json")
    with pytest.raises(ValueError, match="not a module of the aecourse"):
        stamp.code_hash("aecourse.no_such_module")


def new_file(path, **changes):
    args = dict(
        experiment="aecourse.experiments.pretraining",
        config={"seeds": [0, 1]},
        key=("seed",),
        device="cpu",
        command=["python", "-m", "aecourse.experiments.pretraining"],
    )
    args.update(changes)
    return ResultsFile(path, **args)


def test_results_file_writes_every_row_and_resumes(tmp_path):
    path = tmp_path / "r.json"
    f = new_file(path)
    assert not f.done(seed=0)
    f.add({"seed": 0, "error": 0.1}, seconds=2.0)
    rows, s = stamp.read_results(path)  # on disk after one row
    assert rows == [{"seed": 0, "error": 0.1}]
    assert s["seconds"] == 2.0 and s["complete"] is False
    assert s["code_hash"] == stamp.code_hash(
        "aecourse.experiments.pretraining"
    )
    with pytest.raises(ValueError, match="already"):
        f.add({"seed": 0, "error": 0.2}, seconds=1.0)
    with pytest.raises(ValueError, match="key column"):
        f.add({"error": 0.2}, seconds=1.0)
    again = new_file(path)  # the next session
    assert again.done(seed=0) and not again.done(seed=1)
    again.add({"seed": 1, "error": 0.3}, seconds=3.0)
    again.write(complete=True)
    rows, s = stamp.read_results(path)
    assert [r["seed"] for r in rows] == [0, 1]
    assert s["seconds"] == 5.0 and s["complete"] is True
    assert [x["rows"] for x in s["sessions"]] == [1, 1]
    assert stamp.stamp_problems(path) == []


def test_results_file_refuses_to_mix_configs_or_code(tmp_path):
    path = tmp_path / "r.json"
    new_file(path).add({"seed": 0}, seconds=1.0)
    with pytest.raises(ValueError, match="another config"):
        new_file(path, config={"seeds": [0, 1, 2]})
    data = json.loads(path.read_text())
    data["stamp"]["code_hash"] = "0" * 16
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="other code"):
        new_file(path)
    assert "now hashes to" in stamp.stamp_problems(path)[0]
    assert new_file(path, fresh=True).rows == []


def test_read_results_says_what_is_wrong(tmp_path):
    with pytest.raises(FileNotFoundError, match="experiment script"):
        stamp.read_results(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text('{"rows": []}')
    with pytest.raises(ValueError, match="not a results file"):
        stamp.read_results(bad)


def test_merge_results_of_shards(tmp_path):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    new_file(a).add({"seed": 0, "error": 0.1}, seconds=1.0)
    fb = new_file(b, device="cpu")
    fb.add({"seed": 1, "error": 0.2}, seconds=2.0)
    fb.write(complete=True)
    out = stamp.merge_results([a, b], tmp_path / "m.json", key=("seed",))
    rows, s = stamp.read_results(out)
    assert [r["seed"] for r in rows] == [0, 1]
    assert s["seconds"] == 3.0 and len(s["sessions"]) == 2
    assert s["complete"] is False  # shard a never finished
    assert stamp.stamp_problems(out) == []
    with pytest.raises(ValueError, match="two of the files"):
        stamp.merge_results([a, a], tmp_path / "m2.json", key=("seed",))
    c = tmp_path / "c.json"
    new_file(c, config={"seeds": [5]}).add({"seed": 5}, seconds=1.0)
    with pytest.raises(ValueError, match="another config"):
        stamp.merge_results([a, c], tmp_path / "m3.json", key=("seed",))
