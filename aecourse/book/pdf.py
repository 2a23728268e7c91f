"""The printable edition: the whole book as one PDF, for instructors who print or annotate it.

Command line (from the repository root)::

    python -m aecourse.book pdf                  # -> _build/aecourse.pdf (A4)
    python -m aecourse.book pdf --paper letter --out book.pdf
    python -m aecourse.book pdf --no-build       # print the single-page build already made

How. Jupyter Book's ``singlehtml`` builder writes every page of ``_toc.yml`` into one HTML file
(``_build/singlehtml/intro.html``), offline like the site (MathJax 3 from the site's own files,
widgets as static HTML: ``_ext/offline_site.py``). Headless Chromium opens it from a server on
127.0.0.1 with every other host unknown, waits until MathJax has typeset every formula and every
image has loaded (as ``tests/test_site.py`` does), opens the solution boxes, checks that nothing is
left raw, closed or fetched from elsewhere, and prints with DevTools' ``Page.printToPDF``: page
numbers in the footer, the headings as PDF bookmarks. The print styles (``@media print`` in
``_static/aecourse.css``) hide the sidebars, buttons and navigation, start each chapter on a new
page, and wrap long code and output lines instead of cutting them off.

Solutions are printed open, each in a box headed "Solution to Exercise n.m": the printout is the
instructor's copy, to prepare a class or mark work from, and a closed box cannot be opened on paper.
Students' copies, without solutions, are the ones in ``student/`` (:mod:`aecourse.book.student`).

:func:`check_pdf` is what CI asks of the result (``tests/test_pdf.py``): every page title of the
table of contents opening a page, and a plausible page count.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
import time
import unicodedata
import urllib.parse
from pathlib import Path

from aecourse.book.browser import Server, start_browser
from aecourse.book.toc import first_heading, pages

# Paper sizes and margins in inches, as Page.printToPDF takes them (top and bottom leave room for the
# running head and the page number).
PAPER = {"a4": (210 / 25.4, 297 / 25.4), "letter": (8.5, 11.0)}
MARGINS = {
    "marginTop": 0.6,
    "marginBottom": 0.6,
    "marginLeft": 0.5,
    "marginRight": 0.5,
}
# A plausible number of pages per page of the table of contents (the landing page and the chapters):
# fewer means content is missing (a page printed blank, the print cut short), more that the layout
# broke (a figure or a line per page). When this was written the book printed 274 A4 pages for 10
# titles: 4 for the landing page, 26 to 43 a chapter, 13 for the instructors' page.
PAGES_PER_TITLE = (10, 60)
SINGLEHTML = (
    Path("_build") / "singlehtml"
)  # where jupyter-book's singlehtml builder writes
DEFAULT_OUT = Path("_build") / "aecourse.pdf"


# --- what the book holds ---------------------------------------------------------------------------


def page_titles(root: str | Path = ".") -> list[str]:
    """The title of every page of ``root/_toc.yml``, in its order: the landing page, then the chapters.

    A title is its page's first "# " heading (a notebook's first markdown cell, a Markdown file's first
    line of that form). Raises ValueError for a page of the table of contents that has no such heading.
    """
    import nbformat  # the package's dependency

    root = Path(root)
    files = pages(root)
    titles = []
    for name in files:
        path = next(
            (
                root / f"{name}{ext}"
                for ext in (".ipynb", ".md")
                if (root / f"{name}{ext}").is_file()
            ),
            None,
        )
        if path is None:
            raise ValueError(
                f"_toc.yml names {name!r}, but there is no {name}.ipynb or {name}.md"
            )
        if path.suffix == ".ipynb":
            notebook = nbformat.read(path, as_version=4)
            text = "\n".join(
                c.source
                for c in notebook.cells
                if c.cell_type == "markdown"
            )
        else:
            text = path.read_text()
        title = first_heading(text)
        if title is None:
            raise ValueError(
                f"{path} has no '# ' heading to title its page"
            )
        titles.append(title)
    return titles


# --- the PDF's text ----------------------------------------------------------------------------------


def _plain(text: str) -> str:
    """text with ligatures and odd spaces unfolded (NFKC), soft hyphens dropped, whitespace runs as one."""
    text = unicodedata.normalize("NFKC", text).replace("\u00ad", "")
    return " ".join(text.split())


def pdf_pages(path: str | Path) -> list[str]:
    """The text of each page of the PDF at path, as :func:`_plain` makes it (one string per page)."""
    from pypdf import PdfReader

    return [
        _plain(page.extract_text() or "")
        for page in PdfReader(str(path)).pages
    ]


def check_pdf(
    path: str | Path,
    titles: list[str],
    pages_per_title: tuple[int, int] = PAGES_PER_TITLE,
    snippets: list[str] = (),
) -> list[str]:
    """Why the printed book at path is not the whole book (an empty list when it is): see check_pages."""
    return check_pages(pdf_pages(path), titles, pages_per_title, snippets)


def check_pages(
    pages: list[str],
    titles: list[str],
    pages_per_title: tuple[int, int] = PAGES_PER_TITLE,
    snippets: list[str] = (),
) -> list[str]:
    """Why a printed book is not the whole book (an empty list when it is).

    pages: the text of each page (:func:`pdf_pages`). titles: every page title the book must hold
    (:func:`page_titles`); each must open a page (its chapter's first page, a section number such as
    "3. " aside): a title found only in the contents list or in a mention does not count. The number of pages must be within pages_per_title times
    the number of titles, both ends included. snippets: more text that must be somewhere (the first
    line of each solution, say); spaces do not count, as the PDF's text may add or drop them. Raises
    ValueError for an empty titles list or a bad range.
    """
    low, high = pages_per_title
    if not titles or not 0 < low <= high:
        raise ValueError(
            f"expected some titles and 0 < low <= high pages per title, got {len(titles)} titles "
            f"and {pages_per_title}"
        )
    pages = [_plain(page) for page in pages]
    text = " ".join(pages)
    problems = []
    for title in titles:
        opens = re.compile(
            r"(\d+(\.\d+)*\.? )?" + re.escape(_plain(title))
        )
        if _plain(title) not in text:
            problems.append(f"no chapter title {title!r} in the text")
        elif not any(opens.match(page) for page in pages):
            problems.append(
                f"no page opens with the title {title!r} (only the contents or a mention name it)"
            )
    squeezed = "".join(text.split())
    problems += [
        f"missing from the text: {snippet!r}"
        for snippet in snippets
        if "".join(_plain(snippet).split()) not in squeezed
    ]
    if not low * len(titles) <= len(pages) <= high * len(titles):
        problems.append(
            f"{len(pages)} pages for {len(titles)} titles: expected {low * len(titles)} to "
            f"{high * len(titles)} ({low} to {high} a title)"
        )
    return problems


# --- building the single page ------------------------------------------------------------------------


def single_page(root: str | Path = ".") -> Path:
    """The one HTML file of the single-page build: ``_build/singlehtml/<the toc's root>.html``."""
    import yaml

    toc = yaml.safe_load((Path(root) / "_toc.yml").read_text())
    return Path(root) / SINGLEHTML / f"{toc['root']}.html"


def build_singlehtml(root: str | Path = ".") -> Path:
    """Run ``jupyter-book build root --builder singlehtml``; return the one HTML file it writes.

    The notebooks are not executed (``execute_notebooks: off``): the book shows their committed
    outputs. Sphinx's cache (``_build/.doctrees``) is shared with the site's build. Raises
    RuntimeError, with the end of the build's log, if the build fails.
    """
    root = Path(root).resolve()
    command = [
        sys.executable,
        "-c",
        "import sys; from jupyter_book.cli.main import main; sys.exit(main())",
        "build",
        str(root),
        "--builder",
        "singlehtml",
    ]
    done = subprocess.run(command, capture_output=True, text=True)
    page = single_page(root)
    if done.returncode != 0 or not page.is_file():
        log = (done.stdout + done.stderr)[-3000:]
        raise RuntimeError(
            f"the single-page build failed ({' '.join(command[3:])}):\n{log}"
        )
    return page


# --- the browser -------------------------------------------------------------------------------------


# Run in the page once loaded: wait for MathJax and the images, open every solution box, and report
# what would print wrongly. MathJax.startup.promise settles once the first typesetting is done.
PREPARE = """
const done = arguments[arguments.length - 1];
(async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    try { await MathJax.startup.promise; } catch (e) {}
  }
  await Promise.all([...document.images].map(img => img.complete ? null :
      new Promise(r => { img.addEventListener('load', r); img.addEventListener('error', r); })));
  const boxes = [...document.querySelectorAll('div.solution')];
  for (const box of boxes) {
    const button = box.querySelector('button.toggle-button');
    if (box.classList.contains('toggle-hidden') && button) button.click();
  }
  await new Promise(r => setTimeout(r, 600));  // togglebutton's 0.3 s transition
  done({
    mathjax: (window.MathJax && MathJax.version) || null,
    formulas: document.querySelectorAll('mjx-container').length,
    untypeset: [...document.querySelectorAll('.math')].filter(n => !n.querySelector('mjx-container'))
        .map(n => n.textContent.slice(0, 60)),
    tex_errors: [...document.querySelectorAll('mjx-merror')].map(e => e.textContent.slice(0, 60)),
    broken_images: [...document.images].filter(img => !(img.naturalWidth > 0))
        .map(img => (img.getAttribute('src') || '').slice(0, 60)),
    solutions: boxes.length,
    closed: boxes.filter(b => b.classList.contains('toggle-hidden')).map(b => b.id),
  });
})();
"""


# Run in the page laid out for print at the paper's width: what sticks out of the column or scrolls
# would be cut off on paper (the print styles are to wrap or shrink it).
CUT_OFF = """
const [page_height] = arguments;
const main = document.querySelector('article.bd-article') || document.body;
const right = main.getBoundingClientRect().right;
const cut = [];
for (const el of main.querySelectorAll(
    'pre, table, img, .cell_output .output, mjx-container[display="true"]')) {
  const r = el.getBoundingClientRect();
  const text = (el.innerText || el.getAttribute('src') || '').trim().split('\\n')[0].slice(0, 50);
  if (r.width === 0) continue;
  if (el.scrollWidth > el.clientWidth + 1 || r.right > right + 1) {
    cut.push(`${el.tagName.toLowerCase()} needs ${Math.round(Math.max(el.scrollWidth, r.width))} ` +
             `px of ${Math.round(main.clientWidth)} px: ${text}`);
  } else if (el.tagName === 'IMG' && r.height > page_height) {
    cut.push(`img ${Math.round(r.height)} px tall, a page ${page_height} px: ${text}`);
  }
}
return cut;
"""


def print_area(paper: str) -> tuple[int, int]:
    """(width, height) of a page's printed area in CSS pixels (96 an inch): the paper less MARGINS."""
    width, height = PAPER[paper]
    return (
        round(
            (width - MARGINS["marginLeft"] - MARGINS["marginRight"]) * 96
        ),
        round(
            (height - MARGINS["marginTop"] - MARGINS["marginBottom"]) * 96
        ),
    )


def cut_off(browser, width_px: int, height_px: int) -> list[str]:
    """What would be cut off at a page's edge (wider than width_px, an image taller than height_px)
    when the page is laid out for print width_px wide (CSS pixels, 96 an inch)."""
    browser.execute_cdp_cmd(
        "Emulation.setEmulatedMedia", {"media": "print"}
    )
    browser.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {
            "width": width_px,
            "height": 1000,
            "deviceScaleFactor": 1,
            "mobile": False,
        },
    )
    try:
        return browser.execute_script(CUT_OFF, height_px)
    finally:
        browser.execute_cdp_cmd(
            "Emulation.clearDeviceMetricsOverride", {}
        )
        browser.execute_cdp_cmd(
            "Emulation.setEmulatedMedia", {"media": ""}
        )


def _requests_elsewhere(browser) -> list[str]:
    """URLs the page asked for from a host other than 127.0.0.1 (Chromium's performance log)."""
    urls = set()
    for entry in browser.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            url = message["params"]["request"]["url"]
            host = urllib.parse.urlsplit(url).hostname
            if (
                url.startswith(("http:", "https:"))
                and host != "127.0.0.1"
            ):
                urls.add(url)
    return sorted(urls)


def print_problems(page: dict, elsewhere: list[str]) -> list[str]:
    """What would print wrongly (an empty list: nothing), from what PREPARE saw in the page.

    page: PREPARE's report ({"mathjax", "formulas", "untypeset", "tex_errors", "broken_images",
    "closed"}); elsewhere: the URLs asked of hosts other than 127.0.0.1.
    """
    problems = [f"formula not typeset: {t!r}" for t in page["untypeset"]]
    problems += [f"TeX error: {t!r}" for t in page["tex_errors"]]
    problems += [
        f"image did not load: {src}" for src in page["broken_images"]
    ]
    problems += [
        f"solution box {box} stayed closed" for box in page["closed"]
    ]
    problems += [
        f"request to another host (the print must be offline): {url}"
        for url in elsewhere
    ]
    if page["formulas"] and not str(page["mathjax"]).startswith("3."):
        problems.append(
            f"MathJax {page['mathjax']} typeset the page, not the site's MathJax 3"
        )
    return problems


def print_pdf(
    page: str | Path,
    out: str | Path,
    paper: str = "a4",
    title: str = "",
    timeout: int = 600,
) -> dict:
    """Print the HTML file page (with the files beside it) to the PDF out in headless Chromium.

    paper: "a4" or "letter"; title: the running head of every page. Returns what was printed:
    {"pages", "formulas", "solutions", "bytes"}. Raises ValueError for an unknown paper, RuntimeError
    (listing them, and writing no PDF) if a formula is left untypeset, an image is missing, a
    solution box stayed closed, the page asked another host for anything, or something would be cut
    off at a page's edge (:func:`cut_off`).
    """
    from pypdf import PdfReader

    if paper not in PAPER:
        raise ValueError(
            f"paper must be one of {sorted(PAPER)}, got {paper!r}"
        )
    page, out = Path(page).resolve(), Path(out)
    width, height = PAPER[paper]
    small = 'style="font-size: 8px; width: 100%; margin: 0 12mm; color: #555;"'
    browser = start_browser(timeout)
    try:
        with Server(page.parent) as server:
            browser.get(server.url + urllib.parse.quote(page.name))
            report = browser.execute_async_script(PREPARE)
            problems = print_problems(
                report, _requests_elsewhere(browser)
            )
            problems += [
                f"cut off at the page's edge: {what}"
                for what in cut_off(browser, *print_area(paper))
            ]
            if problems:
                raise RuntimeError(
                    f"{page} would not print right:\n  "
                    + "\n  ".join(problems[:20])
                )
            result = browser.execute_cdp_cmd(
                "Page.printToPDF",
                {
                    "paperWidth": width,
                    "paperHeight": height,
                    **MARGINS,
                    "printBackground": True,  # code cells' and boxes' shading
                    "displayHeaderFooter": True,
                    "headerTemplate": f"<div {small}>{_escape(title)}</div>",
                    "footerTemplate": (
                        f'<div {small}><span style="float: right"><span class="pageNumber"></span> / '
                        '<span class="totalPages"></span></span></div>'
                    ),
                    "generateDocumentOutline": True,  # the headings as bookmarks
                },
            )
    finally:
        browser.quit()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(base64.b64decode(result["data"]))
    return {
        "pages": len(PdfReader(str(out)).pages),
        "formulas": report["formulas"],
        "solutions": report["solutions"],
        "bytes": out.stat().st_size,
    }


def _escape(text: str) -> str:
    return (
        text.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
    )


# --- all of it ---------------------------------------------------------------------------------------


def make_pdf(
    root: str | Path = ".",
    out: str | Path | None = None,
    paper: str = "a4",
    build: bool = True,
) -> dict:
    """Build the single-page edition of the book at root (unless build is False) and print it to out.

    out: the PDF's path (default ``root/_build/aecourse.pdf``); paper: "a4" or "letter". Returns
    :func:`print_pdf`'s record with "out", "seconds" (all of it) and "build_seconds". Raises
    RuntimeError if the build or the print fails. Checking the PDF's text (:func:`check_pdf`) is left
    to the tests: reading 274 pages back costs about 20 s of CPU.
    """
    import yaml

    start = time.time()
    root = Path(root)
    out = Path(out) if out is not None else root / DEFAULT_OUT
    page = build_singlehtml(root) if build else single_page(root)
    if not page.is_file():
        raise RuntimeError(f"no {page}: build it (drop --no-build)")
    build_seconds = time.time() - start
    config = yaml.safe_load((root / "_config.yml").read_text())
    title = f"{config.get('title', '')} (instructor's edition, with solutions)"
    record = print_pdf(page, out, paper=paper, title=title)
    return dict(
        record,
        out=str(out),
        seconds=time.time() - start,
        build_seconds=build_seconds,
    )
