"""Headless Chromium for the book's tooling: find it, serve a built site on 127.0.0.1, open it offline.

Used by the printed edition (:mod:`aecourse.book.pdf`) and by the browser test of the site
(``tests/test_site.py``), so both see the book the same way: no host but 127.0.0.1 resolves, as in an
offline classroom, and a request elsewhere fails at once and is reported.
"""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import threading
from pathlib import Path


def browser_paths() -> tuple[str | None, str | None]:
    """(Chromium, chromedriver) found on PATH ($AECOURSE_CHROMIUM names another Chromium), None if absent."""
    binary = os.environ.get("AECOURSE_CHROMIUM") or next(
        filter(None, map(shutil.which, ["chromium", "chromium-browser"])),
        None,
    )
    return binary, shutil.which("chromedriver")


def why_no_browser() -> str | None:
    """Why no browser can be started here (selenium, Chromium or its driver missing), None when it can."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return (
            "selenium is not installed (pip install -r requirements.txt)"
        )
    if None in browser_paths():
        return "no Chromium and chromedriver on PATH (Debian: apt-get install chromium chromium-driver)"
    return None


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


class Server:
    """folder served on 127.0.0.1 at a free port by a daemon thread (``with Server(folder) as s: s.url``).

    Over http, not file://: Chromium refuses MathJax's web fonts from file:// URLs.
    """

    def __init__(self, folder: Path):
        handler = functools.partial(_Quiet, directory=str(folder))
        self.httpd = http.server.ThreadingHTTPServer(
            ("127.0.0.1", 0), handler
        )
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"

    def __enter__(self) -> Server:
        threading.Thread(
            target=self.httpd.serve_forever, daemon=True
        ).start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def start_browser(
    timeout: int = 60, window: tuple[int, int] | None = None
):
    """Headless Chromium (selenium) that knows no host but 127.0.0.1 and logs its console and network.

    timeout: seconds for a page load or a script; window: (width, height) in pixels, Chromium's
    default when None. Raises RuntimeError when no browser can be started (see :func:`why_no_browser`).
    """
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    reason = why_no_browser()
    if reason:
        raise RuntimeError(f"cannot start a browser: {reason}")
    binary, driver = browser_paths()
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in [
        "--headless=new",
        "--disable-dev-shm-usage",
        "--disable-gpu",
    ]:
        options.add_argument(flag)
    # Offline by construction: every host but this one is unknown, so the browser sees what an
    # offline classroom sees, even on a machine with a network, and a request to a CDN fails at once.
    options.add_argument(
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"
    )
    if os.geteuid() == 0:
        options.add_argument(
            "--no-sandbox"
        )  # Chromium's sandbox refuses root
    if window is not None:
        options.add_argument(f"--window-size={window[0]},{window[1]}")
    options.set_capability(
        "goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"}
    )
    browser = webdriver.Chrome(service=Service(driver), options=options)
    browser.set_script_timeout(timeout)
    browser.set_page_load_timeout(timeout)
    return browser
