"""The landing page and the client cabinet's screens in Chromium at desktop and mobile widths (issue 9: "Playwright
with Debian's Chromium: dashboard, call log, settings and landing at desktop and mobile widths, no console
errors, no horizontal overflow; screenshots kept as test artefacts").

Pages: the landing page, the dashboard, statistics, the call log, and the settings (the site's settings, install,
notifications, personal, manager lines, blacklist). Each page × width is its own case: the page is opened with data
(a client with two sites, manager lines, a blacklist entry and requests of every outcome over the last month, every
setting a manager may open opened), then checked for console
errors, uncaught script errors and a page wider than the window. A full-page screenshot of every case is saved
(before the checks, so a failing case has one) under $TEST_ARTIFACTS_DIR, by default <repo>/test-artifacts/screens/.

`make test` builds the stylesheet first; ASSETS_AUTO_BUILD rebuilds it here when a LESS file is newer than the
build, so the screens show the LESS as it is now.
"""
from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest
from helpers import csrf_token
from page_checks import CSP_WATCH_JS, csp_violations, overflow_problem

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("TEST_ARTIFACTS_DIR") or REPO / "test-artifacts" / "screens")
WIDTHS = {"desktop": {"width": 1280, "height": 800}, "mobile": {"width": 375, "height": 740}}
EMAIL, PASSWORD = "owner@screens.example", "screens-pass-123"

# page name -> (URL, `{site}` filled with the client's first site; whether the client is logged in)
PAGES = {
    "landing": ("/", False),
    "dashboard": ("/cabinet/", True),
    "stats": ("/cabinet/stats?period=month", True),
    "calls": ("/cabinet/calls", True),
    "site-settings": ("/cabinet/sites/{site}/settings", True),
    "notifications": ("/cabinet/notifications", True),
    "personal": ("/cabinet/personal", True),
    "lines": ("/cabinet/lines", True),
    "blacklist": ("/cabinet/blacklist", True),
    "install": ("/cabinet/sites/{site}/install", True),
}

# Known application bugs: "<page>-<width>" → reason; strict, so a fix makes the case fail until it is removed.
KNOWN_BUGS: dict[str, str] = {}




@pytest.fixture
def app_overrides(live_port):
    """As the browser tests' own (links to the live server), and the stylesheet built from today's LESS."""
    return {"PUBLIC_URL": f"http://127.0.0.1:{live_port}", "ASSETS_AUTO_BUILD": True}


def _requests(account_id: int, site_ids: list[int], line_ids: list[int]) -> None:
    """Requests of every outcome spread over the last four weeks, with long visitor text; in an app context."""
    from request_rows import request_row, request_with_timeline

    from app.db import utcnow
    from app.extensions import db

    kinds = [("completed", "success"), ("completed", "manager_no_answer"), ("completed", "client_no_answer"),
             ("completed", "failed"), ("rejected", None), ("received", None)]
    now = utcnow()
    for n in range(36):
        status, outcome = kinds[n % len(kinds)]
        answered = outcome == "success"
        db.session.add(request_row(
            account_id, site_ids[n % 2], phone=f"+7999555{n:04d}", created_at=now - dt.timedelta(hours=17 * n + 1),
            status=status, outcome=outcome, source=("yandex", "google", "direct", "")[n % 4],
            keyword="купить угловой диван недорого с доставкой по Москве" if n % 3 == 0 else "",
            page_url=f"https://shop.example.com/catalog/sofas/corner/very-long-product-page-name-{n}?utm_source=yandex"
                     f"&utm_medium=cpc&utm_campaign=sofas",
            answered_line_id=line_ids[n % 2] if answered else None, duration_s=30 + n if answered else None,
            region="Приморский край"))
    db.session.flush()
    for line_id in line_ids:  # with a full timeline: speed to connect per manager
        request_with_timeline(account_id, site_ids[0], line_id=line_id)
    db.session.commit()


@pytest.fixture
def client_data(app, make_client_user):
    """A client with two sites, two manager lines, a blacklist entry and requests; every openable feature opened.
    Returns {"site": the first site's id}."""
    from app.extensions import db
    from app.models import Account, BlacklistEntry, ManagerLine
    from app.services import permissions, sites

    _, account_id, _, _ = make_client_user(EMAIL, PASSWORD, "ООО «Диваны и кресла Приморья»")
    with app.app_context():
        account = db.session.get(Account, account_id)
        site_ids = [sites.create_site(account, name, [domain]).id for name, domain in (
            ("Интернет-магазин диванов", "https://shop.example.com"),
            ("Лендинг распродажи", "https://sale.shop.example.com"))]
        lines = [ManagerLine(account_id=account_id, number=number, manager_name=name)
                 for number, name in (("+79161234567", "Иван Петров"), ("+79162345678", "Мария Константинопольская"))]
        db.session.add_all([*lines, BlacklistEntry(account_id=account_id, kind="number", value="+79167654321",
                                                   note="звонит каждый день")])
        for key in permissions.openable_keys():
            permissions.set_account_permission(account_id, key, True)
        db.session.commit()
        _requests(account_id, site_ids, [line.id for line in lines])
        db.session.remove()
    return {"site": site_ids[0]}


def _log_in(page) -> None:
    """Through the log-in form's own request (the browser context keeps the cookie); the form is tested elsewhere."""
    token = csrf_token(page.request.get("/login").text())
    response = page.request.post("/login", form={"csrf_token": token, "email": EMAIL, "password": PASSWORD},
                                 max_redirects=0)
    assert response.status == 302 and "/cabinet/" in response.headers["location"], response.status


@pytest.fixture(autouse=True)
def known_bug(request):
    callspec = getattr(request.node, "callspec", None)
    if callspec is not None and callspec.id in KNOWN_BUGS:
        request.node.add_marker(pytest.mark.xfail(strict=True, reason=KNOWN_BUGS[callspec.id]))


def _screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


@pytest.mark.parametrize("width", list(WIDTHS))
@pytest.mark.parametrize("name", list(PAGES))
def test_screen_has_no_errors_and_fits_the_window(page, client_data, name, width):
    template, logged_in = PAGES[name]
    problems: list[str] = []
    page.on("console", lambda message: problems.append(f"console.{message.type}: {message.text} "
                                                       f"({message.location.get('url', '')})")
            if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(f"uncaught: {error}"))
    page.add_init_script(CSP_WATCH_JS)
    page.set_viewport_size(WIDTHS[width])
    if logged_in:
        _log_in(page)
    url = template.format(**client_data)
    response = page.goto(url)  # waits for "load": every script of the page has run
    shot = _screenshot(page, f"{name}-{width}")
    assert response is not None and response.status == 200, f"{url}: {response and response.status}"
    assert "/login" not in page.url, f"{url}: sent to log in"
    assert page.locator("main").inner_text().strip(), f"{url}: an empty page"
    if problems:
        problems += csp_violations(page)
    if too_wide := overflow_problem(page):
        problems.append(too_wide)
    assert not problems, f"{url} at {width} (screenshot {shot}):\n" + "\n".join(problems)


def test_every_known_bug_names_a_case():
    ids = {f"{name}-{width}" for name in PAGES for width in WIDTHS}
    assert set(KNOWN_BUGS) <= ids, f"KNOWN_BUGS names cases that are gone: {sorted(set(KNOWN_BUGS) - ids)}"
