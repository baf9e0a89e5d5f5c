"""Browser tests: Debian's Chromium driven by Playwright for Python. No browser is ever downloaded.

``make`` installs what they need: the ``chromium`` package (apt) and rasa-webchat from npm
(``npm ci --prefix tests/browser``). Screenshots are kept in ``var/artefacts/``.
"""

from __future__ import annotations

import functools
import http.server
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright

HERE = Path(__file__).resolve().parent
ARTEFACTS = HERE.parents[1] / "var" / "artefacts"
CHROMIUM = Path(os.environ.get("CCM_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
RASA_WEBCHAT = HERE / "node_modules" / "rasa-webchat" / "lib" / "index.js"


@pytest.fixture(scope="module")  # Playwright's sync API runs an event loop that must end with its module
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(
            f"Chromium is missing at {CHROMIUM}: install Debian's package (apt-get install chromium) "
            "or set CCM_CHROMIUM to a Chromium binary.",
            pytrace=False,
        )
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        yield launched
        launched.close()


@pytest.fixture(scope="session")
def artefacts() -> Path:
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    return ARTEFACTS


class QuietFiles(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="session")
def shop_site() -> Iterator[str]:
    """A company's own site on another origin, embedding rasa-webchat from npm (``webchat.html``)."""
    if not RASA_WEBCHAT.exists():
        pytest.fail(
            f"rasa-webchat is not installed ({RASA_WEBCHAT} is missing): "
            "run `npm ci --prefix tests/browser`.",
            pytrace=False,
        )
    files = functools.partial(QuietFiles, directory=str(HERE))
    site = http.server.ThreadingHTTPServer(("127.0.0.1", 0), files)
    thread = threading.Thread(target=site.serve_forever, name="shop-site", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{site.server_address[1]}"
    finally:
        site.shutdown()
        site.server_close()
