"""Fixtures for tests that drive a real Chromium through Playwright against the app served on a real port."""
from __future__ import annotations

import os
import threading

import pytest
from servers import free_port
from werkzeug.serving import make_server

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
]
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
DEFAULT_TIMEOUT_MS = 5_000  # a page of this app answers in milliseconds; fail fast rather than hang


def _missing(reason: str):
    if IN_CI:
        pytest.fail(f"browser tests cannot run in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture
def live_port():
    """The port the live server will listen on; chosen before the app exists so PUBLIC_URL can name it."""
    return free_port()


@pytest.fixture
def app_overrides(live_port):
    """E-mailed links (built from PUBLIC_URL) must point at the live server the browser talks to."""
    return {"PUBLIC_URL": f"http://127.0.0.1:{live_port}"}


@pytest.fixture
def live_server(app, live_port):
    """Serve the test's app over real HTTP in a daemon thread; yields the base URL."""
    server = make_server("127.0.0.1", live_port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{live_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture(scope="session")
def browser():
    if not os.access(CHROMIUM, os.X_OK):
        _missing(f"{CHROMIUM} is not installed (Debian package: chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("the `playwright` Python package is not installed")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser, live_server):
    """A fresh browser context (own cookies) in Russian, with relative URLs resolved against the live server.

    A server error on any page the test opened fails the test, even if its assertions did not look there.
    """
    context = browser.new_context(locale="ru-RU", base_url=live_server)
    context.set_default_timeout(DEFAULT_TIMEOUT_MS)
    page = context.new_page()
    server_errors = []
    page.on("response", lambda r: server_errors.append(f"{r.status} {r.request.method} {r.url}")
            if r.status >= 500 else None)
    try:
        yield page
    finally:
        context.close()
    if server_errors:
        pytest.fail(f"the server answered with errors: {server_errors}")
