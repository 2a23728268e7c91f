"""The table of contents as the book's tooling reads it (aecourse.book.toc)."""

from pathlib import Path

import yaml

from aecourse.book.toc import first_heading, pages

ROOT = Path(__file__).resolve().parent.parent


def test_first_heading_is_the_first_level_one_heading():
    assert (
        first_heading("# The hourglass\n\nWhy.\n# Later")
        == "The hourglass"
    )
    assert (
        first_heading("Text\n## A section\n#  Spaced title  #\n")
        == "Spaced title"
    )
    assert first_heading("## Only a section\n#hashtag") is None


def test_pages_are_the_root_then_every_entry_in_order(tmp_path):
    toc = {
        "format": "jb-book",
        "root": "intro",
        "parts": [
            {"caption": "A", "chapters": [{"file": "chapters/a.ipynb"}]},
            {
                "caption": "B",
                "chapters": [{"file": "chapters/b"}, {"file": "guide"}],
            },
        ],
    }
    (tmp_path / "_toc.yml").write_text(yaml.safe_dump(toc))
    assert pages(tmp_path) == [
        "intro",
        "chapters/a",
        "chapters/b",
        "guide",
    ]
    (tmp_path / "_toc.yml").write_text(
        yaml.safe_dump({"root": "intro", "chapters": [{"file": "only"}]})
    )
    assert pages(tmp_path) == ["intro", "only"]


def test_the_books_pages_start_at_the_landing_page_and_hold_every_chapter():
    found = pages(ROOT)
    assert found[0] == "intro"
    on_disk = {
        f"chapters/{p.stem}" for p in (ROOT / "chapters").glob("*.ipynb")
    }
    assert on_disk <= set(found)
