"""The book's table of contents as the tooling reads it: its pages in order, and a page's title.

``_toc.yml`` is the one place that orders (and so numbers) the chapters; the printed edition
(:mod:`aecourse.book.pdf`) and the instructor's page (:mod:`aecourse.book.instructor`) both read it here.
"""

from __future__ import annotations

import re
from pathlib import Path

HEADING = re.compile(
    r"#\s+(.+?)\s*#*\s*$"
)  # "# Title", closing hashes allowed


def pages(root: str | Path = ".") -> list[str]:
    """The docnames of ``root/_toc.yml`` in its order: the landing page, then every entry of every part
    (``["intro", "chapters/structure", ...]``), without a file suffix."""
    import yaml  # installed with the book's tools (requirements.txt), not with the package

    toc = yaml.safe_load(
        (Path(root) / "_toc.yml").read_text(encoding="utf-8")
    )
    entries = [
        entry
        for part in toc.get("parts", [toc])
        for entry in part.get("chapters", [])
    ]
    return [toc["root"]] + [
        str(e["file"]).removesuffix(".ipynb").removesuffix(".md")
        for e in entries
        if "file" in e
    ]


def first_heading(text: str) -> str | None:
    """The text of the first level-1 Markdown heading ("# Title") in text, None if there is none."""
    for line in text.splitlines():
        match = HEADING.match(line)
        if match:
            return match.group(1)
    return None
