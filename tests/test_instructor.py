"""aecourse.book.instructor: the committed instructor's page is a fresh generation of the book's sources,
every exercise has its concept and minutes, links work from the page; small synthetic books for the
values (run times, prerequisites, exercises) and the errors."""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pytest
import yaml
from nbformat.v4 import new_markdown_cell, new_notebook

from aecourse import checks
from aecourse.book import instructor
from aecourse.book.instructor import (
    EXERCISES,
    PAGE,
    duration,
    read_chapter,
    relink,
    render,
    toc_chapters,
)

ROOT = Path(__file__).resolve().parent.parent


# --- the committed page --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def page() -> str:
    return render(ROOT)


@pytest.fixture(scope="module")
def chapters():
    return [
        read_chapter(ROOT / f"{doc}.ipynb", doc)
        for doc in toc_chapters(ROOT)
    ]


def test_the_committed_page_is_a_fresh_generation(page):
    committed = (ROOT / PAGE).read_text(encoding="utf-8")
    assert committed == page, (
        f"{PAGE} is stale: a chapter, an exercise, a stamp or the timings changed since it was "
        "generated -> run `python -m aecourse.book.instructor` and commit it"
    )


def test_the_page_is_in_the_table_of_contents():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [e["file"] for part in toc["parts"] for e in part["chapters"]]
    assert PAGE.removesuffix(".md") in files
    # after every chapter: the chapters keep their numbers
    last_chapter = max(
        i for i, f in enumerate(files) if f.startswith("chapters/")
    )
    assert files.index(PAGE.removesuffix(".md")) > last_chapter


def test_every_exercise_has_an_entry_and_every_entry_an_exercise(
    chapters,
):
    labels = [label for c in chapters for label, _ in c.exercises]
    assert len(labels) == len(set(labels)), (
        "an exercise label is used twice"
    )
    missing = sorted(set(labels) - set(EXERCISES))
    orphaned = sorted(set(EXERCISES) - set(labels))
    assert not missing, (
        f"exercises without a concept and minutes in EXERCISES: {missing}"
    )
    assert not orphaned, (
        f"EXERCISES entries of no exercise in any chapter: {orphaned}"
    )
    for label, (concept, minutes) in EXERCISES.items():
        assert concept.strip() and "|" not in concept, label
        assert isinstance(minutes, int) and 5 <= minutes <= 120, label


def test_chapters_in_toc_order_with_each_exercise_and_who_grades_it(
    page, chapters
):
    titles = re.findall(r"^## (.+)$", page, re.M)
    assert titles[1:-1] == [c.title for c in chapters]
    assert [c.doc for c in chapters][:2] == [
        "chapters/structure",
        "chapters/number_system",
    ]
    known = checks.labels()
    for c in chapters:
        for label, title in c.exercises:
            (item,) = [
                line
                for line in page.splitlines()
                if line.startswith(f"- **{title}** (`{label}`, ")
            ]
            assert item.endswith(f": tests {EXERCISES[label][0]}.")
            if label in known:
                assert (
                    f"graded by `checks.{known[label].__name__}`" in item
                )
            else:
                assert "an open question, not graded" in item
    # by hand: a checked and an open exercise of the denoising chapter
    assert (
        "- **Masking noise** (`ex-mask`, 15 min, graded by `checks.check_mask`): tests masking "
        "noise: independent corruption that leaves the clean target untouched."
    ) in page
    assert (
        "- **A denoising autoencoder that copies** (`ex-mask-level`, 30 min, an open question, "
        "not graded): tests how the corruption level"
    ) in page


def test_the_pages_links_resolve_from_where_it_is(page):
    docs = re.findall(r"\{doc\}`(?:[^`<]*<)?([^`<>]+)>?`", page)
    assert "chapters/structure" in docs
    for doc in docs:
        assert (ROOT / f"{doc}.ipynb").is_file() or (
            ROOT / f"{doc}.md"
        ).is_file(), doc
    markdown = "\n".join(
        c.source
        for path in (ROOT / "chapters").glob("*.ipynb")
        for c in nbformat.read(path, as_version=4).cells
        if c.cell_type == "markdown"
    )
    refs = re.findall(r"\{ref\}`(?:[^`<]*<)?([^`<>]+)>?`", page)
    assert refs
    for label in refs:
        assert f"({label})=" in markdown, label


def test_run_times_come_from_the_stamps(page, chapters):
    stamp = chapters[0].stamp
    assert stamp["profile"] == "full" and stamp["device"] == "cpu"
    row = next(
        line
        for line in page.splitlines()
        if line.startswith(f"| {{doc}}`{chapters[0].doc}` |")
    )
    assert f"| {duration(stamp['seconds'])} |" in row


# --- pieces, by hand -----------------------------------------------------------------------------


def test_relink_by_hand():
    text = (
        "{doc}`the hourglass chapter <structure>`, {doc}`denoising`, "
        "{doc}`absolute </chapters/vae>`, {ref}`a section <sec-x>`, "
        "[data](../data/README.md), [web](https://example.org/a), [here](#top)"
    )
    assert relink(text, "chapters/vae", "instructor") == (
        "{doc}`the hourglass chapter <chapters/structure>`, {doc}`chapters/denoising`, "
        "{doc}`absolute </chapters/vae>`, {ref}`a section <sec-x>`, "
        "[data](data/README.md), [web](https://example.org/a), [here](#top)"
    )
    # a page one folder down
    assert (
        relink("{doc}`x <structure>`", "chapters/vae", "guide/instructor")
        == "{doc}`x <../chapters/structure>`"
    )


def test_duration_by_hand():
    assert duration(85.0) == "85 s"
    assert duration(99.4) == "99 s"
    assert duration(99.6) == "2 min"
    assert duration(816.1) == "14 min"  # 13.6 min
    assert duration(1407.6) == "23 min"


# --- a synthetic book ----------------------------------------------------------------------------

INTRO = (
    "# A small chapter\n\nWhy it matters.\n\n**You will learn**\n- one thing,\n  over two lines;\n"
    "- another thing.\n\n**Before you start**: {doc}`the other chapter <other>` and\n"
    "[its data](other.ipynb)."
)
MASK = "```{exercise} Masking noise\n:label: ex-mask\n\nWrite it.\n```"
OPEN = "Text.\n\n```{exercise} What the level does\n:label: ex-mask-level\n\nThink.\n```"


def make_book(
    root: Path, cells=(INTRO, MASK, OPEN), stamp=None, timings=None
) -> Path:
    """A book at root: _toc.yml with one chapter (chapters/small) and the instructor's page."""
    (root / "chapters").mkdir(parents=True, exist_ok=True)
    toc = {
        "format": "jb-book",
        "root": "intro",
        "parts": [
            {"caption": "A", "chapters": [{"file": "chapters/small"}]},
            {"caption": "B", "chapters": [{"file": "instructor"}]},
        ],
    }
    (root / "_toc.yml").write_text(yaml.safe_dump(toc))
    nb = new_notebook(cells=[new_markdown_cell(c) for c in cells])
    nb.metadata["aecourse"] = (
        {
            "profile": "full",
            "device": "cpu",
            "seconds": 816.1,
            "torch": "2.9",
            "executed": "2026-01-02",
        }
        if stamp is None
        else stamp
    )
    nbformat.write(nb, root / "chapters" / "small.ipynb")
    if timings is not None:
        (root / "chapters" / "timings.json").write_text(
            json.dumps(timings)
        )
    return root


def glance_row(text: str) -> str:
    return next(
        line
        for line in text.splitlines()
        if line.startswith("| {doc}`chapters/small` |")
    )


def test_a_small_book_by_hand(tmp_path):
    text = render(make_book(tmp_path))
    assert text == render(tmp_path)  # deterministic
    assert str(tmp_path) not in text
    assert "## A small chapter" in text
    assert (
        "**Before you start**: {doc}`the other chapter <chapters/other>` and\n"
        "[its data](chapters/other.ipynb)." in text
    )
    assert "- one thing,\n  over two lines;\n- another thing.\n" in text
    concept, minutes = EXERCISES["ex-mask"]
    assert (
        f"- **Masking noise** (`ex-mask`, {minutes} min, graded by `checks.check_mask`): "
        f"tests {concept}.\n- **What the level does** (`ex-mask-level`, "
        in text
    )
    total = minutes + EXERCISES["ex-mask-level"][1]
    assert f"**Exercises** ({total} minutes in all)" in text
    # the stamp's full-profile CPU run; nothing else measured
    assert glance_row(text) == (
        f"| {{doc}}`chapters/small` | 2 (1 graded) | {total} | not measured | 14 min | not measured |"
    )
    assert (
        "full-profile run on the CPU (14 min, torch 2.9, 2026-01-02)"
        in text
    )
    assert (
        "1 of the book's 2 exercises have a checker and are graded"
        in text
    )
    assert "cannot price a class per chapter" in text


def test_measured_times_fill_the_table_and_price_a_class(tmp_path):
    timings = {
        "small": {
            "quick cpu": {"seconds": 95.0, "threads": 1},
            "full cuda": {"seconds": 240.0},
            "quick cuda": {"seconds": 30.0},
        }
    }
    stamp = {"profile": "full", "device": "cuda", "seconds": 180.0}
    text = render(make_book(tmp_path, stamp=stamp, timings=timings))
    # the stamp wins over the timings file for its own (profile, device); full CPU is not measured
    assert glance_row(text).endswith(
        "| 95 s, 1 thread | not measured | full 3 min (cuda), quick 30 s (cuda) |"
    )
    assert "full-profile run on a GPU (cuda) (3 min" in text
    # 40 students x (95 s + 5 s) / 2 jobs = 2000 s
    assert (
        "a class of 40 graded with two jobs on two cores: {doc}`chapters/small`: about 33 min."
        in text
    )


@pytest.mark.parametrize(
    ("cells", "message"),
    [
        (
            [INTRO.replace("**Before you start**", "Read first"), MASK],
            r"small\.ipynb has no '\*\*Before you start\*\*' paragraph",
        ),
        ([INTRO, "No exercise here."], r"small\.ipynb has no exercise"),
        (
            [INTRO.replace("**You will learn**", "You learn"), MASK],
            r"small\.ipynb has no '\*\*You will learn\*\*' line",
        ),
        ([INTRO.replace("# A small", "A small"), MASK], "has no title"),
        (
            [INTRO, MASK.replace("ex-mask", "ex-brand-new")],
            r"'ex-brand-new' has no entry in EXERCISES",
        ),
    ],
    ids=["no-before", "no-exercise", "no-learn", "no-title", "no-entry"],
)
def test_a_chapter_the_page_cannot_describe_is_named(
    tmp_path, cells, message
):
    with pytest.raises(ValueError, match=message):
        render(make_book(tmp_path, cells=cells))


def test_a_malformed_timings_entry_is_refused(tmp_path):
    make_book(tmp_path, timings={"small": {"quick": {"seconds": 3}}})
    with pytest.raises(ValueError, match="'<profile> <device>'"):
        render(tmp_path)


def test_only_chapters_count_and_toc_order_is_kept(tmp_path):
    make_book(tmp_path)
    toc = yaml.safe_load((tmp_path / "_toc.yml").read_text())
    toc["parts"][0]["chapters"].insert(0, {"file": "chapters/first"})
    (tmp_path / "_toc.yml").write_text(yaml.safe_dump(toc))
    assert toc_chapters(tmp_path) == ["chapters/first", "chapters/small"]
    (tmp_path / "_toc.yml").write_text(
        yaml.safe_dump(
            {"root": "intro", "chapters": [{"file": "instructor"}]}
        )
    )
    with pytest.raises(ValueError, match="lists no chapter"):
        toc_chapters(tmp_path)


# --- the command line ----------------------------------------------------------------------------


def test_check_fails_on_a_stale_page_and_passes_once_written(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(make_book(tmp_path))
    assert instructor.main(["--check"]) == 1  # no page yet
    assert instructor.main([]) == 0
    assert (tmp_path / PAGE).read_text() == render(tmp_path)
    assert instructor.main(["--check"]) == 0
    nb = nbformat.read(
        tmp_path / "chapters" / "small.ipynb", as_version=4
    )
    nb.cells.append(
        new_markdown_cell(MASK.replace("ex-mask", "ex-freeze"))
    )
    nbformat.write(nb, tmp_path / "chapters" / "small.ipynb")
    assert instructor.main(["--check"]) == 1
    assert "stale or missing" in capsys.readouterr().out


def test_time_records_a_run_and_the_page_shows_it(tmp_path, monkeypatch):
    monkeypatch.chdir(make_book(tmp_path))
    ran = []

    def fake_execute(path, profile="full", timeout=1800, save=True):
        ran.append((Path(path).name, profile, save))
        return {
            "seconds": 130.4,
            "device": "cpu",
            "profile": profile,
            "torch": "2.9",
            "executed": "2026-02-03",
        }

    monkeypatch.setattr("aecourse.book.notebooks.execute", fake_execute)
    monkeypatch.setattr("torch.get_num_threads", lambda: 2)
    assert instructor.main(["--time", "chapters/small.ipynb"]) == 0
    assert ran == [("small.ipynb", "quick", False)]  # measured, not saved
    timings = json.loads(
        (tmp_path / "chapters" / "timings.json").read_text()
    )
    assert timings == {
        "small": {
            "quick cpu": {
                "seconds": 130.4,
                "threads": 2,
                "torch": "2.9",
                "executed": "2026-02-03",
            }
        }
    }
    page = (tmp_path / PAGE).read_text()
    assert "| 2 min, 2 threads | 14 min |" in glance_row(page)
    # a time on two threads is shown, but prices no class: the grader's jobs run one thread each
    assert "cannot price a class per chapter" in page
    with pytest.raises(SystemExit):
        instructor.main(["--check", "--time", "chapters/small.ipynb"])
