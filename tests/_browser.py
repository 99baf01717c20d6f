"""Helpers for the browser tests: Debian's chromium through Playwright, a local server."""

from __future__ import annotations

import contextlib
import functools
import http.server
import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# a headless Chromium that asks nothing of the network (this machine has none)
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]


def missing(reason: str) -> None:
    """Skip, or fail when ``CONVLAB_REQUIRE_BROWSER=1`` (as in ``.ci/run``)."""
    if os.environ.get("CONVLAB_REQUIRE_BROWSER") == "1":
        pytest.fail(f"CONVLAB_REQUIRE_BROWSER=1 but {reason}")
    pytest.skip(reason)


@contextlib.contextmanager
def chromium() -> Iterator[Any]:
    """Debian's ``chromium`` (or ``CONVLAB_CHROMIUM``), launched by Playwright."""
    path = os.environ.get("CONVLAB_CHROMIUM") or shutil.which("chromium")
    if not path:
        missing("Debian's chromium is not installed (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing("the playwright package is not installed")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@contextlib.contextmanager
def serve(directory: Path) -> Iterator[str]:
    """Serve ``directory`` on 127.0.0.1; yield its base URL."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Quiet, directory=str(directory)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def explorers_page(root: Path, body: str, column: int = 736) -> tuple[Path, str]:
    """Write ``root/explorers.html``, the explorers' HTML ``body`` in a ``column``-px main
    column like the book's (for when the book is not built); return (root, its name)."""
    (root / "explorers.html").write_text(
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<title>explorers</title><style>body { margin: 0; font: 16px/1.5 sans-serif; } "
        f"main {{ width: {column}px; max-width: 100%; margin: 0 auto; }}</style></head>"
        f"<body><main>{body}</main></body></html>", encoding="utf-8")
    return root, "explorers.html"
