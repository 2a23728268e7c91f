"""The printable edition (aecourse.book.pdf): the whole book as one PDF for instructors.

The checks themselves run everywhere, on small PDFs written here with matplotlib: a whole book
passes, a book missing a chapter, or naming it only in its contents, or with too few pages, fails.
The printed book itself (``_build/aecourse.pdf``, made by ``python -m aecourse.book pdf``, which
``.ci/run`` runs after the site's build) and a print of a tiny page need Chromium: those tests carry
the ``browser`` marker and skip, saying why, where the PDF or the browser is missing; with
``AECOURSE_BROWSER_REQUIRED=1`` (CI) they fail instead.
"""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import nbformat
import pytest
from matplotlib.backends.backend_pdf import PdfPages

from aecourse.book import pdf as book_pdf
from aecourse.book.browser import why_no_browser
from aecourse.book.pdf import (
    check_pages,
    check_pdf,
    page_titles,
    pdf_pages,
    print_problems,
)
from aecourse.book.student import SOLUTION_TAG

ROOT = Path(__file__).resolve().parent.parent
PRINTED = ROOT / book_pdf.DEFAULT_OUT


def write_pdf(path: Path, pages: list[list[str]]) -> Path:
    """A PDF with one A4 page per list of lines, each line drawn as text (TrueType: extractable)."""
    with (
        matplotlib.rc_context({"pdf.fonttype": 42}),
        PdfPages(path) as out,
    ):
        for lines in pages:
            figure = plt.figure(figsize=(8.27, 11.69))
            for i, line in enumerate(lines):
                figure.text(0.1, 0.9 - 0.04 * i, line)
            out.savefig(figure)
            plt.close(figure)
    return path


TITLES = ["A small course", "The hourglass", "Variational autoencoders"]
CONTENTS = [
    "A small course",
    "Contents",
    "1. The hourglass",
    "2. Variational autoencoders",
]
CHAPTER_1 = [
    "1. The hourglass",
    "An autoencoder is two functions.",
    "def f(x): return 2 * x",
]
CHAPTER_2 = ["2. Variational autoencoders", "The ELBO."]


# --- titles --------------------------------------------------------------------------------------


def test_page_titles_follow_the_toc_not_the_file_names(tmp_path):
    (tmp_path / "_toc.yml").write_text(
        "format: jb-book\nroot: intro\nparts:\n  - caption: Part\n    chapters:\n"
        "      - file: chapters/zeta\n      - file: chapters/alpha\n"
    )
    (tmp_path / "intro.md").write_text("# A small course\n\nWelcome.\n")
    (tmp_path / "chapters").mkdir()
    for name, title in [
        ("zeta", "The hourglass"),
        ("alpha", "Variational autoencoders"),
    ]:
        notebook = nbformat.v4.new_notebook()
        notebook.cells = [
            nbformat.v4.new_code_cell("x = 1  # a code cell first"),
            nbformat.v4.new_markdown_cell(
                f"# {title}\n\nWhy it matters.\n## A section"
            ),
        ]
        nbformat.write(notebook, tmp_path / "chapters" / f"{name}.ipynb")
    assert page_titles(tmp_path) == TITLES
    (tmp_path / "intro.md").write_text("Welcome, no title.\n")
    with pytest.raises(ValueError, match="intro.md has no '# ' heading"):
        page_titles(tmp_path)
    (tmp_path / "intro.md").write_text("# A small course\n")
    (tmp_path / "chapters" / "alpha.ipynb").unlink()
    with pytest.raises(
        ValueError, match="no chapters/alpha.ipynb or chapters/alpha.md"
    ):
        page_titles(tmp_path)


def test_the_books_titles_are_its_pages_first_headings():
    titles = page_titles(ROOT)
    assert (
        titles[0] == "Autoencoders: an executable course"
    )  # intro.md's first line
    assert (
        titles[1] == "The hourglass: encoder, code, decoder"
    )  # chapters/structure.ipynb
    assert len(titles) == len(set(titles)) >= 9


# --- the checks, on small PDFs -------------------------------------------------------------------


def test_a_whole_book_passes_the_check(tmp_path):
    path = write_pdf(
        tmp_path / "book.pdf", [CONTENTS, CHAPTER_1, CHAPTER_2]
    )
    assert pdf_pages(path)[1] == " ".join(CHAPTER_1)
    assert check_pdf(path, TITLES, pages_per_title=(1, 2)) == []
    assert (
        check_pdf(path, TITLES, (1, 1), snippets=["def f(x):return 2*x"])
        == []
    )


def test_a_book_missing_a_chapter_fails_the_check(tmp_path):
    contents = [line for line in CONTENTS if "Variational" not in line]
    path = write_pdf(
        tmp_path / "book.pdf",
        [contents, CHAPTER_1, ["More of chapter 1."]],
    )
    assert check_pdf(path, TITLES, pages_per_title=(1, 2)) == [
        "no chapter title 'Variational autoencoders' in the text"
    ]


def test_a_chapter_named_only_in_the_contents_fails_the_check(tmp_path):
    path = write_pdf(
        tmp_path / "book.pdf", [CONTENTS, CHAPTER_1, ["The ELBO."]]
    )
    assert check_pdf(path, TITLES, pages_per_title=(1, 2)) == [
        "no page opens with the title 'Variational autoencoders' "
        "(only the contents or a mention name it)"
    ]


def test_too_few_or_too_many_pages_and_missing_snippets_fail_the_check():
    pages = [" ".join(CONTENTS), " ".join(CHAPTER_1), " ".join(CHAPTER_2)]
    assert check_pages(pages, TITLES, (2, 5)) == [
        "3 pages for 3 titles: expected 6 to 15 (2 to 5 a title)"
    ]
    assert check_pages(pages * 3, TITLES, (1, 2)) == [
        "9 pages for 3 titles: expected 3 to 6 (1 to 2 a title)"
    ]
    assert check_pages(
        pages, TITLES, (1, 1), snippets=["return 3 * x"]
    ) == ["missing from the text: 'return 3 * x'"]
    # ligatures, soft hyphens and line breaks in the PDF's text do not hide a title
    assert (
        check_pages(
            ["\ufb01ne tun\u00ading\nof it"], ["fine tuning"], (1, 1)
        )
        == []
    )
    with pytest.raises(ValueError, match="0 < low <= high"):
        check_pages(pages, TITLES, (3, 2))
    with pytest.raises(ValueError, match="some titles"):
        check_pages(pages, [], (1, 2))


def test_what_would_print_wrongly_is_reported():
    page = {
        "mathjax": "3.2.2",
        "formulas": 2,
        "untypeset": ["\\(x^2\\)"],
        "tex_errors": [],
        "broken_images": ["missing.png"],
        "closed": ["solution-1"],
    }
    assert print_problems(
        page, ["https://cdn.example.org/mathjax.js"]
    ) == [
        "formula not typeset: '\\\\(x^2\\\\)'",
        "image did not load: missing.png",
        "solution box solution-1 stayed closed",
        "request to another host (the print must be offline): https://cdn.example.org/mathjax.js",
    ]
    clean = dict(page, untypeset=[], broken_images=[], closed=[])
    assert print_problems(clean, []) == []
    assert print_problems(dict(clean, mathjax="4.0.0"), []) == [
        "MathJax 4.0.0 typeset the page, not the site's MathJax 3"
    ]


def test_an_unknown_paper_size_is_refused(tmp_path):
    with pytest.raises(
        ValueError,
        match=r"paper must be one of \['a4', 'letter'\], got 'a3'",
    ):
        book_pdf.print_pdf(
            tmp_path / "page.html", tmp_path / "out.pdf", paper="a3"
        )


def test_the_command_says_why_it_printed_nothing(
    tmp_path, monkeypatch, capsys
):
    from aecourse.book.notebooks import main

    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: intro\n")
    monkeypatch.chdir(tmp_path)  # a book, never built
    assert main(["pdf", "--no-build"]) == 1
    assert capsys.readouterr().err == (
        f"no PDF: no {Path('_build/singlehtml/intro.html')}: build it (drop --no-build)\n"
    )
    assert not (tmp_path / "_build" / "aecourse.pdf").exists()


# --- Chromium: the printed book, and a print of a tiny page -------------------------------------


def _skip_or_fail(reason: str | None) -> None:
    if reason is None:
        return
    if os.environ.get("AECOURSE_BROWSER_REQUIRED") == "1":
        pytest.fail(f"AECOURSE_BROWSER_REQUIRED=1 but {reason}")
    pytest.skip(reason)


def solution_first_lines(root: Path) -> list[str]:
    """The first line of every solution cell of the chapters: text that only an open box prints."""
    lines = []
    for path in sorted((root / "chapters").glob("*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            if (
                SOLUTION_TAG in cell.metadata.get("tags", [])
                and cell.source.strip()
            ):
                lines.append(cell.source.strip().splitlines()[0][:40])
    return lines


@pytest.fixture(scope="module")
def printed() -> list[str]:
    """The text of each page of _build/aecourse.pdf (read once: about 20 s of CPU for 300 pages)."""
    if not PRINTED.is_file():
        why = why_no_browser()
        _skip_or_fail(
            f"no {PRINTED.relative_to(ROOT)}: run `python -m aecourse.book pdf`"
            + (f" ({why})" if why else "")
        )
    return pdf_pages(PRINTED)


@pytest.mark.browser
def test_the_printed_book_holds_every_chapter_and_every_solution(printed):
    solutions = solution_first_lines(ROOT)
    assert len(solutions) >= 20  # the chapters' exercises
    assert (
        check_pages(printed, page_titles(ROOT), snippets=solutions) == []
    )


@pytest.mark.browser
def test_the_printed_book_has_page_numbers_and_a4_pages(printed):
    from pypdf import PdfReader

    total = len(printed)
    assert printed[0].endswith(f"1 / {total}"), printed[0][-80:]
    assert printed[-1].endswith(f"{total} / {total}"), printed[-1][-80:]
    box = PdfReader(str(PRINTED)).pages[0].mediabox
    # A4 is 210 x 297 mm: 595.3 x 841.9 points (Chromium rounds to whole points)
    assert abs(float(box.width) - 595.3) < 1, box
    assert abs(float(box.height) - 841.9) < 1, box


def embedded_fonts(path: Path) -> set[str]:
    """The names of the fonts a PDF's pages use: each font's base name (subset prefix such as "ABCDEF+"
    removed) and its descriptor's family, which is all a Type 3 font (a colour emoji's) is known by."""
    from pypdf import PdfReader

    names = set()
    for page in PdfReader(str(path)).pages:
        for ref in page.get("/Resources", {}).get("/Font", {}).values():
            font = ref.get_object()
            names.add(str(font.get("/BaseFont", "")).split("+")[-1])
            descriptor = font.get("/FontDescriptor")
            if descriptor is not None:
                names.add(
                    str(descriptor.get_object().get("/FontFamily", ""))
                )
    return names - {""}


def test_embedded_fonts_tell_a_print_without_an_emoji_font(tmp_path):
    # matplotlib's DejaVu has no ✅: the mark is not drawn in an emoji font, and the check sees that
    fonts = embedded_fonts(
        write_pdf(tmp_path / "t.pdf", [["✅ Correct"]])
    )
    assert any("DejaVu" in name for name in fonts), fonts
    assert not any("Emoji" in name for name in fonts), fonts


@pytest.mark.browser
def test_the_checkers_marks_are_printed_in_an_emoji_font(printed):
    # without one, Chromium prints the verdicts' ✅ and ❌ as empty boxes (.ci/run installs Noto)
    assert any("✅ Correct" in page for page in printed)
    fonts = embedded_fonts(PRINTED)
    assert any("Emoji" in name for name in fonts), sorted(fonts)


# a 1x1 PNG
PIXEL = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk"
    "+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
TINY_PAGE = """<!DOCTYPE html><html><head><meta charset="utf-8"><title>t</title></head>
<body><article class="bd-article">
<h2>1. A tiny chapter</h2><p>Some prose.</p>
<pre style="white-space: pre; overflow-x: auto">{code}</pre>
{extra}
</article></body></html>"""


@pytest.mark.browser
def test_a_tiny_page_prints_and_a_cut_off_line_or_a_cdn_is_refused(
    tmp_path,
):
    _skip_or_fail(why_no_browser())
    (tmp_path / "good.html").write_text(
        TINY_PAGE.format(code="x = 1", extra="")
    )
    made = book_pdf.print_pdf(
        tmp_path / "good.html",
        tmp_path / "good.pdf",
        paper="letter",
        title="Tiny",
    )
    assert (
        made["pages"] == 1
        and made["formulas"] == 0
        and made["solutions"] == 0
    )
    (text,) = pdf_pages(tmp_path / "good.pdf")
    assert text.startswith("1. A tiny chapter Some prose. x = 1"), text
    assert "Tiny" in text and text.endswith("1 / 1")
    bad = TINY_PAGE.format(
        code="y = 2  # " + "far too long for the page " * 12,
        extra=f'<img src="{PIXEL}" alt="a tall figure" style="width: 50px; height: 1500px">'
        '<script src="https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-chtml.js"></script>',
    )
    (tmp_path / "bad.html").write_text(bad)
    with pytest.raises(RuntimeError) as error:
        book_pdf.print_pdf(tmp_path / "bad.html", tmp_path / "bad.pdf")
    message = str(error.value)
    assert (
        "cut off at the page's edge: pre needs" in message
        and "y = 2" in message
    )
    assert (
        "request to another host" in message
        and "cdn.jsdelivr.net" in message
    )
    assert not (tmp_path / "bad.pdf").exists()
