"""The install page (issue 9 part 3): the snippet with a copy button, and the check "is the widget on my site"
against a real local HTTP server: found, not found, a 404, a page too slow, redirects; private addresses
refused unless configured; another account's site never fetched."""
from __future__ import annotations

import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from cabinet_accounts import expire, two_shops
from helpers import csrf_token, submit
from servers import LOOPBACK

from app.extensions import db
from app.models import Site
from app.services.install_check import check_page, has_snippet, page_url

SLOW_RELEASE_S = 30  # the slow page answers only when the test ends (or after this, whichever is first)


class Website:
    """A client's website on 127.0.0.1: `pages[path] = (status, headers, body)`; `/slow` never answers in time."""

    def __init__(self):
        self.pages: dict[str, tuple[int, dict, str]] = {}
        self.requested: list[str] = []
        self.release = threading.Event()
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                site.requested.append(self.path)
                if self.path == "/slow":
                    site.release.wait(SLOW_RELEASE_S)
                status, headers, body = site.pages.get(self.path, (404, {}, "not here"))
                self.send_response(status)
                for name, value in {"Content-Type": "text/html; charset=utf-8", **headers}.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body.encode())

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
        self.server.daemon_threads = True
        self.base = f"http://{LOOPBACK}:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture
def website():
    site = Website()
    yield site
    site.stop()


@pytest.fixture
def app_overrides():
    return {"INSTALL_CHECK_TIMEOUT_S": 0.5}


@pytest.fixture
def shops(app, make_client_user):
    return two_shops(app, make_client_user)


def snippet(key: str) -> str:
    return f'<script async src="https://callback.example/widget.js" data-site="{key}"></script>'


def key_of(app, site_id: int) -> str:
    with app.app_context():
        return db.session.get(Site, site_id).public_key


def serve_pages(app, website: Website, site_id: int, *paths: str) -> None:
    """The site's domains become the website's pages; / has the snippet, /other another site's, /plain none."""
    key = key_of(app, site_id)
    website.pages.update({
        "/": (200, {}, f"<html><body><h1>Shop</h1>{snippet(key)}</body></html>"),
        "/other": (200, {}, f"<html><body>{snippet('someone-else')}</body></html>"),
        "/plain": (200, {}, "<html><body>No widget</body></html>"),
        "/moved": (302, {"Location": "/"}, ""),
        "/to-ftp": (302, {"Location": "ftp://files.example/"}, ""),
        "/loop": (302, {"Location": "/loop"}, ""),
    })
    with app.app_context():
        db.session.get(Site, site_id).domains = [website.base + path for path in paths]
        db.session.commit()


def check(client, site_id: int, url: str):
    return submit(client, f"/cabinet/sites/{site_id}/install", {"url": url})


def outcome(response) -> tuple[str, str]:
    html = response.get_data(as_text=True)
    match = re.search(r'data-testid="check-result" data-outcome="(\w+)">([^<]*)<', html)
    assert match, html
    return match.group(1), match.group(2).replace("&#34;", '"').replace("&#39;", "'")


@pytest.mark.parametrize("path, expected, says", [
    ("/", "found", "The widget is installed on"),
    ("/moved", "found", "The widget is installed on"),
    ("/plain", "missing", "The snippet was not found on"),
    ("/other", "missing", "The snippet was not found on"),
    ("/gone", "unreachable", "The site answered with HTTP status 404."),
    ("/slow", "unreachable", "The site did not answer in time."),
    ("/to-ftp", "unreachable", "Only http and https addresses can be checked."),
    ("/loop", "unreachable", "The site redirects more than 3 times."),
])
def test_the_check_says_what_it_found(app, shops, website, path, expected, says):
    alpha = shops["alpha"]
    serve_pages(app, website, alpha.site, path)
    response = check(alpha.client, alpha.site, website.base + path)
    assert response.status_code == 200
    found, text = outcome(response)
    shown = "/" if path == "/moved" else path  # after a redirect, the page where the check ended
    assert found == expected and says in text and f"{website.base}{shown}" in text


def test_the_page_shows_the_snippet_with_a_copy_button_and_no_inline_script(app, shops):
    alpha = shops["alpha"]
    dashboard = alpha.client.get("/cabinet/").get_data(as_text=True)
    assert f'href="/cabinet/sites/{alpha.site}/install"' in dashboard
    assert f'href="/cabinet/sites/{shops["beta"].site}/install"' not in dashboard
    response = alpha.client.get(f"/cabinet/sites/{alpha.site}/install")
    html = response.get_data(as_text=True)
    expected = f'&lt;script async src="{app.config["PUBLIC_URL"]}/widget.js" data-site="{key_of(app, alpha.site)}"&gt;'
    assert expected in html and 'data-copy-target="install-snippet"' in html
    assert "/static/js/copy-snippet.js" in html and "script-src" not in response.headers["Content-Security-Policy"]
    assert all("src=" in tag for tag in re.findall(r"<script[^>]*>", html))  # the CSP allows no inline script
    assert '<option value="https://alpha.example">' in html


def test_only_the_sites_own_addresses_are_fetched(app, shops, website):
    alpha = shops["alpha"]
    serve_pages(app, website, alpha.site, "/")
    response = check(alpha.client, alpha.site, website.base + "/plain")
    assert "Not a valid choice" in response.get_data(as_text=True) and website.requested == []


def test_private_addresses_are_refused_unless_configured(app, shops, website):
    alpha = shops["alpha"]
    serve_pages(app, website, alpha.site, "/")
    app.config["INSTALL_CHECK_ALLOW_PRIVATE"] = False
    found, text = outcome(check(alpha.client, alpha.site, website.base + "/"))
    assert found == "unreachable" and "The site's address is in a private network" in text
    del app.config["INSTALL_CHECK_ALLOW_PRIVATE"]
    app.config["TESTING"] = False  # production: private addresses refused by default
    assert outcome(check(alpha.client, alpha.site, website.base + "/"))[0] == "unreachable"
    assert website.requested == []
    app.config["TESTING"] = True
    assert outcome(check(alpha.client, alpha.site, website.base + "/"))[0] == "found"


def test_the_service_refuses_private_targets_and_redirects_to_them(website):
    website.pages["/"] = (200, {}, snippet("k"))
    website.pages["/away"] = (302, {"Location": f"{website.base}/"}, "")
    private = "The site's address is in a private network: it cannot be checked from here."
    for url in (website.base + "/", f"http://localhost:{website.base.rsplit(':', 1)[1]}/", "http://[::1]/",
                "http://10.0.0.1/", "http://169.254.169.254/latest/meta-data/"):
        assert check_page(url, "k").reason == private, url
    assert check_page(website.base + "/away", "k", allow_private=True).outcome == "found"
    assert website.requested == ["/away", "/"]
    assert check_page("file:///etc/passwd", "k").reason == "Only http and https addresses can be checked."
    assert check_page("http://no-such-host.invalid/", "k").reason == "The site's name was not found in DNS."


def test_only_the_first_bytes_are_read(website):
    website.pages["/big"] = (200, {}, "<html><body>" + "x" * 5000 + snippet("k") + "</body></html>")
    assert check_page(website.base + "/big", "k", allow_private=True).outcome == "found"
    assert check_page(website.base + "/big", "k", allow_private=True, max_bytes=4096).outcome == "missing"


@pytest.mark.parametrize("html, found", [
    ('<script src="https://cb.example/widget.js" data-site="k" async></script>', True),
    ("<SCRIPT data-site='k' src='//cb.example/widget.js?v=2'></SCRIPT>", True),
    ('<script src="https://cb.example/widget.js" data-site="k2"></script>', False),
    ('<script src="https://cb.example/other.js" data-site="k"></script>', False),
    ('<div src="https://cb.example/widget.js" data-site="k"></div>', False),
    ("<!-- <script src='/widget.js' data-site='k'></script> -->", False),
])
def test_what_counts_as_the_snippet(html, found):
    assert has_snippet(html, "k") is found


def test_a_domain_without_a_scheme_is_checked_over_https():
    assert page_url("shop.example") == "https://shop.example/"
    assert page_url("http://shop.example/page") == "http://shop.example/page"


def test_another_accounts_site_is_not_found_and_never_fetched(app, shops, website):
    alpha, beta = shops["alpha"], shops["beta"]
    serve_pages(app, website, beta.site, "/")
    url = f"/cabinet/sites/{beta.site}/install"
    assert alpha.client.get(url).status_code == 404
    token = csrf_token(alpha.client.get(f"/cabinet/sites/{alpha.site}/install").get_data(as_text=True))
    assert alpha.client.post(url, data={"csrf_token": token, "url": website.base + "/"}).status_code == 404
    assert website.requested == []


def test_a_post_without_the_csrf_token_fetches_nothing(app, shops, website):
    alpha = shops["alpha"]
    serve_pages(app, website, alpha.site, "/")
    url = f"/cabinet/sites/{alpha.site}/install"
    assert alpha.client.post(url, data={"url": website.base + "/"}).status_code == 400
    assert website.requested == []


def test_a_blocked_account_gets_the_rent_ended_page(app, shops):
    expire(app, shops["alpha"].account)
    page = shops["alpha"].client.get(f"/cabinet/sites/{shops['alpha'].site}/install")
    assert page.status_code == 403 and 'data-testid="rent-ended"' in page.get_data(as_text=True)
    assert shops["beta"].client.get(f"/cabinet/sites/{shops['beta'].site}/install").status_code == 200


def test_strangers_log_in(client, shops):
    assert "/login" in client.get(f"/cabinet/sites/{shops['alpha'].site}/install").headers["Location"]


def test_checks_of_a_site_are_rate_limited(app, shops, website):
    alpha, beta = shops["alpha"], shops["beta"]
    serve_pages(app, website, alpha.site, "/plain")
    serve_pages(app, website, beta.site, "/plain")
    answers = [check(alpha.client, alpha.site, website.base + "/plain").status_code for _ in range(7)]
    assert answers == [200] * 6 + [429] and len(website.requested) == 6
    token = csrf_token(alpha.client.get(f"/cabinet/sites/{alpha.site}/install").get_data(as_text=True))
    for _ in range(7):  # another account's site: not found, and beta's own checks are not used up
        alpha.client.post(f"/cabinet/sites/{beta.site}/install", data={"csrf_token": token, "url": website.base})
    assert check(beta.client, beta.site, website.base + "/plain").status_code == 200
    assert len(website.requested) == 7
