"""The built site in a real browser (issue 18): every page of the book opened in headless Chromium.

Needs the book built first (``jupyter-book build .`` writes ``_build/html``), Chromium and its driver
(Debian: ``apt-get install chromium chromium-driver``) and selenium; without them these tests skip,
saying which is missing (``AECOURSE_BROWSER_REQUIRED=1``, set by ``.ci/run``, turns that skip into a
failure). The site is served on 127.0.0.1 by a thread of this process; each page is opened once at a
1280-pixel window and once at a 390-pixel phone screen, and what the browser saw is kept in a report
per page, which one test per (page, check) reads:

- ``console``: no console error; ``local_requests``: every request for one of the site's files
  succeeded; ``offline``: no request leaves 127.0.0.1 (MathJax and everything else come from the site);
- ``maths``: MathJax 3 (the site's copy) typeset every formula: no raw ``\\(``, ``\\[``, ``$$`` or
  ``\\begin{`` left in the text, no TeX error;
- ``figures``: every image in the page loaded and has alt text that describes it (not a file name);
- ``solutions``: solution boxes closed until clicked, open after a click;
- ``launch_links``: the Colab and Binder links of a chapter open this repository's notebook at the
  release the book installs (``aecourse.BOOK_REF``), and the student copy's Colab link (added by
  ``_ext/launch_links.py``) sits right under the title, shown and inside the column at 1280 px and
  inside the screen at 390 px;
- ``code_width``, ``output_width``: no code cell, no output wider than its column at 1280 px (but
  ``WIDE_ALLOWED``);
- ``phone_width``: no page wider than a 390-px phone screen.

Screenshots are written to ``_build/screenshots/`` (``SCREENSHOTS``). ``test_the_checks_catch_*``
check the checks themselves on a deliberately broken page.
"""

from __future__ import annotations

import json
import os
import re
import struct
import subprocess
import urllib.parse
from pathlib import Path

import pytest
import yaml

import aecourse
from aecourse.book.browser import Server, start_browser, why_no_browser
from aecourse.book.figures import (
    FILE_NAME,  # the alt text myst-nb writes when given none
)

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
HTML = ROOT / "_build" / "html"
SCREENSHOT_DIR = ROOT / "_build" / "screenshots"
TOC = yaml.safe_load((ROOT / "_toc.yml").read_text())
# Every page of the table of contents (docnames: the landing page, then the chapters in order).
PAGES = [TOC["root"]] + [
    entry["file"] for part in TOC["parts"] for entry in part["chapters"]
]
WIDE, PHONE = (1280, 900), (390, 844)
# (page, width) -> the file the test saves a screenshot in, and what it scrolls to first (a CSS
# selector; None: the top of the page)
SCREENSHOTS = {
    ("chapters/structure", WIDE[0]): ("structure-1280.png", None),
    ("chapters/vae", WIDE[0]): (
        "vae-1280.png",
        ".aecourse-widget-static input",
    ),
    ("chapters/structure", PHONE[0]): ("structure-390.png", None),
}
# (page, start of the element's text) that may be wider than the column at 1280 px: keep it short.
WIDE_ALLOWED: set[tuple[str, str]] = set()
CHECKS = [
    "console",
    "local_requests",
    "offline",
    "maths",
    "figures",
    "solutions",
    "launch_links",
    "code_width",
    "output_width",
    "phone_width",
]
# (page, check) pairs that fail on today's pages, each with the part of issue 18 that fixes it. strict:
# once a page is fixed, its test passes, the xfail fails, and its line here is to be removed.
# Measured at 1280 px (column 740 px; an output's box 676 px, a code cell's 650-672 px).
_KNOWN = {
    "output_width": (
        "issue 18 part 3: printed lines or tables wider than their box",
        {
            # translation.format_table: its module is in translation.json's code hash
            "seq2seq": "the translation table, 77 characters",
        },
    ),
}
KNOWN_FAILURES: dict[tuple[str, str], str] = {
    (f"chapters/{chapter}", check): f"{reason} ({detail})"
    for check, (reason, chapters) in _KNOWN.items()
    for chapter, detail in chapters.items()
}

# --- the browser ---------------------------------------------------------------------------------


def _missing() -> str | None:
    """Why the browser tests cannot run here (None when they can)."""
    if not (HTML / "index.html").is_file():
        return (
            f"no built site in {HTML}: run `jupyter-book build .` first"
        )
    return why_no_browser()


def _skip_or_fail_if_missing() -> None:
    reason = _missing()
    if reason is None:
        return
    if os.environ.get("AECOURSE_BROWSER_REQUIRED") == "1":
        pytest.fail(f"AECOURSE_BROWSER_REQUIRED=1 but {reason}")
    pytest.skip(reason)


def set_screen(browser, size: tuple[int, int]) -> None:
    width, height = size
    browser.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {
            "width": width,
            "height": height,
            "deviceScaleFactor": 1,
            "mobile": width < 600,
        },
    )


# --- what a page shows (run in the page once it loaded) ----------------------------------------

# The page's main column (sphinx-book-theme), or the body of a page without the theme.
MAIN = "document.querySelector('article.bd-article') || document.body"

COLLECT_WIDE = (
    """
const done = arguments[arguments.length - 1];
(async () => {
  const sleep = ms => new Promise(r => setTimeout(r, ms));
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    try { await MathJax.startup.promise; } catch (e) {}
  }
  await Promise.all([...document.images].map(img => img.complete ? null :
      new Promise(r => { img.addEventListener('load', r); img.addEventListener('error', r); })));
  const main = """
    + MAIN
    + """;
  const out = {mathjax: (window.MathJax && MathJax.version) || null};
  // maths: .math nodes MathJax did not replace, raw delimiters left in the text, TeX errors
  out.untypeset = [...main.querySelectorAll('.math')]
      .filter(n => !n.querySelector('mjx-container')).map(n => n.textContent.slice(0, 80));
  const raw = [];
  const walker = document.createTreeWalker(main, NodeFilter.SHOW_TEXT, {acceptNode: t =>
      t.parentElement.closest('pre, code, script, style, mjx-container, textarea')
        ? NodeFilter.FILTER_REJECT : NodeFilter.FILTER_ACCEPT});
  for (let t; (t = walker.nextNode());) {
    const m = t.data.match(/\\\\\\(|\\\\\\[|\\$\\$|\\\\begin\\{/);
    if (m) raw.push(t.data.slice(Math.max(0, m.index - 20), m.index + 60).trim());
  }
  out.raw_math = raw;
  out.tex_errors = [...main.querySelectorAll('mjx-merror')]
      .map(e => (e.getAttribute('data-mjx-error') || e.textContent).slice(0, 80));
  out.formulas = main.querySelectorAll('mjx-container').length;
  // figures
  out.images = [...main.querySelectorAll('img')].map(img => ({
    src: (img.getAttribute('src') || '').slice(0, 80),
    alt: img.getAttribute('alt'),
    loaded: img.complete && img.naturalWidth > 0,
  }));
  // launch links (in the header, outside the main column), not the student copy's link
  out.launch = [...document.querySelectorAll(
      'a[href*="colab.research.google.com"], a[href*="mybinder.org"]')]
      .filter(a => !a.closest('.aecourse-student-copy')).map(a => a.href);
  // code cells and outputs wider than their column
  const column = main.getBoundingClientRect();
  // the student copy's link under the title
  out.student_copy = [...main.querySelectorAll('p.aecourse-student-copy a')].map(a => {
    const r = a.getBoundingClientRect();
    const before = a.parentElement.previousElementSibling;
    return {href: a.href, text: a.innerText.trim(),
            under_title: !!before && before.tagName === 'H1',
            shown: r.width > 0 && r.height > 0, past_column_px: Math.round(r.right - column.right)};
  });
  out.column_px = Math.round(column.width);
  out.wide = [];
  for (const el of main.querySelectorAll(
      '.cell_input pre, .cell_output pre, .cell_output img, .cell_output table, ' +
      '.cell_output .aecourse-widget, .cell_output > .output')) {
    const r = el.getBoundingClientRect();
    if (r.width === 0) continue;
    const needed = Math.max(el.scrollWidth, r.width);
    if (el.scrollWidth > el.clientWidth + 1 || r.right > column.right + 1) {
      // the longest line: the one that does not fit
      const lines = (el.innerText || el.textContent || el.getAttribute('src') || '').split('\\n');
      const text = lines.reduce((a, b) => (b.length > a.length ? b : a), '').trim();
      out.wide.push({where: el.closest('.cell_input') ? 'code' : 'output',
                     tag: el.tagName.toLowerCase(), text: text.slice(0, 60),
                     needed_px: Math.round(needed), shown_px: Math.round(el.clientWidth)});
    }
  }
  // solution boxes: closed, then clicked open, then closed again
  const shown = box => [...box.children].some(c =>
      !c.classList.contains('admonition-title') && c.getClientRects().length > 0 &&
      c.offsetHeight > 0);
  const boxes = [...main.querySelectorAll('div.solution')];
  out.solutions = boxes.map(b => ({id: b.id, open_before: shown(b)}));
  const click = b => (b.querySelector('button.toggle-button') ||
                      b.querySelector('.admonition-title') || b).click();
  boxes.forEach(click);
  await sleep(400);
  boxes.forEach((b, i) => { out.solutions[i].open_after = shown(b); });
  boxes.forEach(click);
  await sleep(400);
  done(out);
})();
"""
)

COLLECT_PHONE = """
const vw = document.documentElement.clientWidth;  // innerWidth: zoomed out to fit
const scrolls = el => {
  for (let a = el.parentElement; a; a = a.parentElement) {
    const o = getComputedStyle(a).overflowX;
    if (o === 'auto' || o === 'scroll' || o === 'hidden' || o === 'clip') return true;
  }
  return false;
};
const over = [];
for (const el of document.body.querySelectorAll('*')) {
  const r = el.getBoundingClientRect();
  if (r.right <= vw + 1 || r.width === 0 || getComputedStyle(el).position === 'fixed') continue;
  const p = el.parentElement.getBoundingClientRect();
  if (p.right > vw + 1 && el.parentElement !== document.body) continue;  // its parent is listed
  if (scrolls(el)) continue;
  over.push({tag: el.tagName.toLowerCase(), cls: (el.className || '').toString().slice(0, 40),
             text: (el.innerText || '').trim().split('\\n')[0].slice(0, 50),
             right_px: Math.round(r.right)});
}
const copy = document.querySelector('p.aecourse-student-copy a');
const box = copy && copy.getBoundingClientRect();
return {viewport_px: vw, page_px: document.documentElement.scrollWidth, over: over.slice(0, 8),
        student_copy: box ? {right_px: Math.round(box.right), height_px: Math.round(box.height)}
                          : null};
"""


def _network(browser) -> dict:
    """The requests since the last call, from Chromium's performance log: url -> (status, error)."""
    urls, result = {}, {}
    for entry in browser.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        method, params = message["method"], message.get("params", {})
        if method == "Network.requestWillBeSent":
            urls[params["requestId"]] = params["request"]["url"]
            result.setdefault(params["request"]["url"], (None, None))
        elif method == "Network.responseReceived":
            response = params["response"]
            result[response["url"]] = (response["status"], None)
        elif method == "Network.loadingFailed" and not params.get(
            "canceled"
        ):
            url = urls.get(params["requestId"], "?")
            result[url] = (
                result.get(url, (None, None))[0],
                params["errorText"],
            )
    return result


def screenshot(browser, where: tuple[str, str | None] | None) -> None:
    """Save the window in SCREENSHOT_DIR/name, scrolled to the first element matching selector."""
    if where is None:
        return
    name, selector = where
    if selector:
        browser.execute_script(
            "const el = document.querySelector(arguments[0]);"
            "if (el) { el.scrollIntoView({block: 'center'}); }",
            selector,
        )
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(SCREENSHOT_DIR / name))


def collect(
    browser, base_url: str, page: str, screenshots: dict | None = None
) -> dict:
    """Open ``page`` (a docname) at 1280 and at 390 px; return everything the checks need."""
    screenshots = screenshots or {}
    url = urllib.parse.urljoin(base_url, f"{page}.html")
    (
        browser.get_log("browser"),
        browser.get_log("performance"),
    )  # empty both logs
    set_screen(browser, WIDE)
    browser.get(url)
    report = {
        "page": page,
        "url": url,
        "notebook": (ROOT / f"{page}.ipynb").is_file(),
        **browser.execute_async_script(COLLECT_WIDE),
    }
    report["console"] = [
        e["message"][:200]
        for e in browser.get_log("browser")
        if e["level"] == "SEVERE"
    ]
    report["requests"] = _network(browser)
    screenshot(browser, screenshots.get((page, WIDE[0])))
    set_screen(browser, PHONE)
    browser.get(url)
    report["phone"] = browser.execute_script(COLLECT_PHONE)
    screenshot(browser, screenshots.get((page, PHONE[0])))
    browser.get_log("browser"), browser.get_log("performance")
    return report


# --- the checks: report -> problems (empty when the page is right) ------------------------------


def _local(url: str) -> bool:
    return urllib.parse.urlsplit(url).hostname in (
        "127.0.0.1",
        "localhost",
    )


# The browser asks every site for /favicon.ico, whether its pages name one or not: not the site's.
FAVICON = "/favicon.ico"


def check_console(report: dict) -> list[str]:
    return [
        f"console error: {message}"
        for message in report["console"]
        if FAVICON not in message.split(" ")[0]
    ]


def check_local_requests(report: dict) -> list[str]:
    return [
        f"request failed: {url} ({error or status})"
        for url, (status, error) in report["requests"].items()
        if _local(url)
        and (error or (status or 0) >= 400)
        and not url.endswith(FAVICON)
    ]


def check_offline(report: dict) -> list[str]:
    return [
        f"request to another host (the site must work offline): {url} "
        f"({error or status})"
        for url, (status, error) in report["requests"].items()
        if url.startswith(("http:", "https:")) and not _local(url)
    ]


def check_maths(report: dict) -> list[str]:
    problems = [
        f"formula not typeset: {text!r}" for text in report["untypeset"]
    ]
    problems += [
        f"raw TeX left in the text: {text!r}"
        for text in report["raw_math"]
    ]
    problems += [f"TeX error: {text!r}" for text in report["tex_errors"]]
    if report["formulas"] and not str(report["mathjax"]).startswith("3."):
        problems.append(
            f"MathJax {report['mathjax']} typeset the page, not MathJax 3"
        )
    return problems


def alt_problem(alt: str | None, src: str) -> str | None:
    """Why ``alt`` does not describe the image at ``src`` (None when it does)."""
    if alt is None or not alt.strip():
        return "no alt text"
    alt = alt.strip()
    if FILE_NAME.search(alt) or alt == Path(src).name:
        return f"alt text is a file name ({alt!r})"
    if len(alt.split()) < 3:
        return f"alt text {alt!r} is too short to describe the image"
    return None


def check_figures(report: dict) -> list[str]:
    problems = []
    for number, image in enumerate(report["images"], 1):
        where = f"image {number} ({image['src'][:50]})"
        if not image["loaded"]:
            problems.append(f"{where}: did not load")
        why = alt_problem(image["alt"], image["src"])
        if why:
            problems.append(f"{where}: {why}")
    return problems


def check_solutions(report: dict) -> list[str]:
    problems = []
    for box in report["solutions"]:
        if box["open_before"]:
            problems.append(
                f"solution {box['id']} is open before a click"
            )
        if not box["open_after"]:
            problems.append(
                f"solution {box['id']} stays closed after a click"
            )
    return problems


def _github() -> str:
    """``<owner>/<repo>`` of aecourse.REPOSITORY (the one place a fork changes)."""
    return aecourse.REPOSITORY.rstrip("/").removeprefix(
        "https://github.com/"
    )


def expected_launch_links(page: str) -> list[str]:
    """The Colab and Binder links of a chapter page: this repository's notebook, at the release the
    chapter's Colab cell installs (BOOK_REF; _ext/launch_links.py says why not ``main``)."""
    github, ref = _github(), aecourse.BOOK_REF
    return [
        f"https://colab.research.google.com/github/{github}/blob/{ref}/{page}.ipynb",
        f"https://mybinder.org/v2/gh/{github}/{ref}?urlpath=lab/tree/{page}.ipynb",
    ]


def expected_student_copy(page: str) -> str:
    """The Colab link of a chapter page's student copy (``student/<topic>.ipynb``), same release."""
    topic = page.removeprefix("chapters/")
    return (
        f"https://colab.research.google.com/github/{_github()}/blob/"
        f"{aecourse.BOOK_REF}/student/{topic}.ipynb"
    )


def _student_copy_problems(report: dict) -> list[str]:
    """The student copy's link: one, to the right URL, right under the title, shown, inside the
    column at 1280 px and inside the phone's screen at 390 px."""
    copies = report["student_copy"]
    if len(copies) != 1:
        return [
            f"{len(copies)} student copy links under the title, not 1"
            + (f": {[c['href'] for c in copies]}" if copies else "")
        ]
    copy, expected = copies[0], expected_student_copy(report["page"])
    problems = []
    if copy["href"] != expected:
        problems.append(
            f"student copy link {copy['href']} is not {expected}"
        )
    if not copy["under_title"]:
        problems.append(
            "the student copy link is not right under the title"
        )
    if not copy["shown"]:
        problems.append("the student copy link is not shown")
    if copy["past_column_px"] > 1:
        problems.append(
            f"the student copy link reaches {copy['past_column_px']} px past the column"
        )
    phone = report["phone"]
    box = phone["student_copy"]
    if box is None or box["height_px"] == 0:
        problems.append("the student copy link is not shown on the phone")
    elif box["right_px"] > phone["viewport_px"] + 1:
        problems.append(
            f"the student copy link ends at {box['right_px']} px on a "
            f"{phone['viewport_px']} px phone screen"
        )
    return problems


def check_launch_links(report: dict) -> list[str]:
    if not report["notebook"]:
        return []  # not a notebook's page: nothing to launch
    expected = expected_launch_links(report["page"])
    problems = [
        f"no launch link {url}"
        for url in expected
        if url not in report["launch"]
    ]
    problems += [
        f"launch link {url} is not one of {expected}"
        for url in report["launch"]
        if url not in expected
    ]
    return problems + _student_copy_problems(report)


def _too_wide(report: dict, where: str) -> list[str]:
    return [
        f"{where} {wide['tag']} needs {wide['needed_px']} px but shows "
        f"{wide['shown_px']} px (column {report['column_px']} px): {wide['text']!r}"
        for wide in report["wide"]
        if wide["where"] == where
        and not any(
            page == report["page"] and wide["text"].startswith(start)
            for page, start in WIDE_ALLOWED
        )
    ]


def check_code_width(report: dict) -> list[str]:
    return _too_wide(report, "code")


def check_output_width(report: dict) -> list[str]:
    return _too_wide(report, "output")


def check_phone_width(report: dict) -> list[str]:
    phone = report["phone"]
    if phone["page_px"] <= phone["viewport_px"]:
        return []
    return [
        f"page is {phone['page_px']} px wide on a {phone['viewport_px']} px screen; "
        f"wider: {phone['over']}"
    ]


CHECK = {name: globals()[f"check_{name}"] for name in CHECKS}

# --- the tests -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def site():
    """Serve _build/html and open a browser; yields a function page -> report (each page opened once)."""
    _skip_or_fail_if_missing()
    reports: dict[str, dict] = {}
    browser = start_browser(window=WIDE)
    try:
        with Server(HTML) as server:

            def report(page: str) -> dict:
                if page not in reports:
                    reports[page] = collect(
                        browser, server.url, page, SCREENSHOTS
                    )
                return reports[page]

            yield report
    finally:
        browser.quit()


def _cases():
    for page in PAGES:
        for check in CHECKS:
            reason = KNOWN_FAILURES.get((page, check))
            marks = (
                [pytest.mark.xfail(strict=True, reason=reason)]
                if reason
                else []
            )
            yield pytest.param(
                page, check, marks=marks, id=f"{page}-{check}"
            )


@pytest.mark.parametrize(("page", "check"), list(_cases()))
def test_page(site, page, check):
    problems = CHECK[check](site(page))
    assert not problems, f"{page}.html, {check}:\n  " + "\n  ".join(
        problems
    )


def test_every_page_of_the_toc_is_checked_and_typeset_by_the_sites_mathjax(
    site,
):
    reports = [site(page) for page in PAGES]
    assert len(reports) == len(PAGES) >= 9
    typeset = {r["page"]: r["formulas"] for r in reports}
    assert sum(typeset.values()) > 100, (
        typeset
    )  # the book has maths; MathJax ran
    assert all(
        str(r["mathjax"]).startswith("3.")
        for r in reports
        if r["formulas"]
    )
    script = (HTML / "chapters" / "structure.html").read_text()
    assert re.search(
        r'<script defer="defer" src="\.\./_static/mathjax/tex-chtml\.js',
        script,
    )
    assert "require.js" not in script and "html-manager" not in script


# the student copy's link as _ext/launch_links.py writes it, right after the title's closing tag
STUDENT_COPY_HTML = re.compile(
    r'</h1>\s*<p class="aecourse-student-copy"><a [^>]*href="([^"]+)"'
)


def test_every_chapter_page_links_its_committed_student_copy():
    """The built HTML, no browser needed: every chapter page has the launch links and, right under
    its title, one link to its student copy, a file committed in this repository; no other page
    has one."""
    if not (HTML / "index.html").is_file():
        reason = (
            f"no built site in {HTML}: run `jupyter-book build .` first"
        )
        if os.environ.get("AECOURSE_BROWSER_REQUIRED") == "1":
            pytest.fail(f"AECOURSE_BROWSER_REQUIRED=1 but {reason}")
        pytest.skip(reason)
    tracked = subprocess.run(
        ["git", "ls-files", "student"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    chapters = [page for page in PAGES if page.startswith("chapters/")]
    assert len(chapters) >= 8
    for page in PAGES:
        html = (HTML / f"{page}.html").read_text()
        if page not in chapters:
            assert "aecourse-student-copy" not in html, page
            continue
        url = expected_student_copy(page)
        assert STUDENT_COPY_HTML.findall(html) == [url], page
        assert html.count('class="aecourse-student-copy"') == 1, page
        assert set(expected_launch_links(page)) <= set(
            re.findall(r'href="([^"]+)"', html)
        ), page
        # the file the link opens, relative to the repository's root
        path = url.split(f"/blob/{aecourse.BOOK_REF}/", 1)[1]
        assert path in tracked and (ROOT / path).is_file(), (
            f"{page}: its student copy {path} is not committed"
        )


def _png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n", path
    return struct.unpack(">II", header[16:24])


def test_screenshots_of_two_chapters_at_1280_and_one_at_390_px(site):
    for page in PAGES:
        site(page)
    for (page, width), (name, _) in SCREENSHOTS.items():
        path = SCREENSHOT_DIR / name
        assert path.is_file(), f"no screenshot of {page} at {width} px"
        assert _png_size(path)[0] == width, (path, _png_size(path))
        assert path.stat().st_size > 20_000, f"{path} looks blank"


# --- the checks themselves, on a deliberately broken page ------------------------------------------

BROKEN_PAGE = (
    r"""<!DOCTYPE html>
<html><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><article class="bd-article" style="width: 600px">
<p>A raw formula: <span class="math notranslate nohighlight">\(\E = \sum_i x_i\)</span>.</p>
<img src="plot.png">
<img src="plot.png" alt="plot.png">
<img src="missing.png" alt="A plot of the loss falling over ten epochs">
<div class="solution dropdown admonition" id="broken-solution">
  <p class="admonition-title">Solution</p><p>Open for everyone to see.</p></div>
<div class="cell"><div class="cell_input"><pre style="overflow-x: auto">
x = 1  # a comment far too long for the column """
    + "#" * 200
    + r"""
</pre></div>
<div class="cell_output"><div class="output stream"><pre style="overflow-x: auto">
a printed line far too long for the column """
    + "=" * 200
    + r"""
</pre></div></div></div>
<div style="width: 900px">A block wider than a phone.</div>
<script>console.error("a script of the site failed");</script>
<script src="https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-mml-chtml.js"></script>
</article></body></html>
"""
)


@pytest.fixture(scope="module")
def broken_report(tmp_path_factory):
    _skip_or_fail_if_missing()
    folder = tmp_path_factory.mktemp("broken") / "chapters"
    folder.mkdir()
    (folder / "broken.html").write_text(BROKEN_PAGE)
    (folder / "plot.png").write_bytes(_tiny_png())
    browser = start_browser(window=WIDE)
    try:
        with Server(folder.parent) as server:
            yield collect(browser, server.url, "chapters/broken")
    finally:
        browser.quit()


def _tiny_png() -> bytes:
    import io

    import matplotlib.pyplot as plt

    figure = plt.figure(figsize=(1, 1), dpi=20)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    return buffer.getvalue()


def test_the_checks_catch_a_raw_formula(broken_report):
    problems = check_maths(broken_report)
    assert any("not typeset" in p and "\\E" in p for p in problems), (
        problems
    )
    assert any("raw TeX" in p for p in problems), problems


def test_the_checks_catch_figures_without_alt_text_or_not_loaded(
    broken_report,
):
    problems = check_figures(broken_report)
    assert "image 1 (plot.png): no alt text" in problems, problems
    assert (
        "image 2 (plot.png): alt text is a file name ('plot.png')"
        in problems
    )
    assert "image 3 (missing.png): did not load" in problems
    assert len(problems) == 3, (
        problems
    )  # the described, loaded images pass
    assert alt_problem("../_images/abc123.png", "../_images/abc123.png")
    assert alt_problem("Figure", "x.png")
    assert (
        alt_problem(
            "Reconstructions of ten test digits, top row input", "x.png"
        )
        is None
    )


def test_the_checks_catch_console_errors_and_missing_files(broken_report):
    problems = check_console(broken_report)
    assert any("a script of the site failed" in p for p in problems), (
        problems
    )
    assert not any("favicon" in p for p in problems), problems
    problems = check_local_requests(broken_report)
    assert any("missing.png" in p and "404" in p for p in problems), (
        problems
    )
    assert not any("plot.png" in p for p in problems), problems


def test_the_checks_catch_an_open_solution_and_wide_code(broken_report):
    assert check_solutions(broken_report) == [
        "solution broken-solution is open before a click"
    ]
    problems = check_code_width(broken_report)
    assert len(problems) == 1 and "code pre needs" in problems[0], (
        problems
    )
    assert "x = 1  # a comment" in problems[0]


def test_the_checks_catch_a_page_wider_than_a_phone_and_a_cdn(
    broken_report,
):
    problems = check_phone_width(broken_report)
    assert problems and "on a 390 px screen" in problems[0], problems
    problems = check_offline(broken_report)
    assert problems == [
        "request to another host (the site must work offline): "
        "https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-mml-chtml.js "
        "(net::ERR_NAME_NOT_RESOLVED)"
    ], problems


def test_the_checks_catch_missing_launch_links(broken_report):
    assert (
        check_launch_links(broken_report) == []
    )  # not a notebook's page
    report = dict(
        broken_report,
        notebook=True,
        launch=["https://colab.research.google.com/x"],
    )
    problems = check_launch_links(report)
    assert len(problems) == 4, problems
    assert problems[0].startswith("no launch link https://colab")
    assert problems[3] == "0 student copy links under the title, not 1"
    # a student copy link on main, under a paragraph, past the column and the phone's screen
    page = "chapters/structure"
    right = dict(
        href=expected_student_copy(page),
        text="Exercises only: open the student copy in Colab",
        under_title=True,
        shown=True,
        past_column_px=0,
    )
    phone = {"viewport_px": 390, "page_px": 390, "over": []}
    report = dict(
        broken_report,
        page=page,
        notebook=True,
        launch=expected_launch_links(page),
        student_copy=[right],
        phone=dict(
            phone, student_copy={"right_px": 380, "height_px": 30}
        ),
    )
    assert check_launch_links(report) == []
    report["student_copy"] = [
        dict(
            right,
            href=right["href"].replace(aecourse.BOOK_REF, "main"),
            under_title=False,
            past_column_px=40,
        )
    ]
    report["phone"] = dict(
        phone, student_copy={"right_px": 430, "height_px": 30}
    )
    problems = check_launch_links(report)
    assert len(problems) == 4, problems
    assert problems[0].startswith("student copy link "), problems
    assert "/blob/main/student/structure.ipynb is not" in problems[0]
    assert problems[1:] == [
        "the student copy link is not right under the title",
        "the student copy link reaches 40 px past the column",
        "the student copy link ends at 430 px on a 390 px phone screen",
    ]


def test_known_failures_and_allowances_name_real_pages_and_checks():
    for page, check in KNOWN_FAILURES:
        assert page in PAGES and check in CHECKS, (page, check)
    for page, start in WIDE_ALLOWED:
        assert page in PAGES and start, (page, start)
    assert {page for page, _ in SCREENSHOTS} <= set(PAGES)
