"""Security headers on our own pages (issue 10 item 2): every GET page of the URL map, as the user who sees it.

The pages of the cabinet, the back office and the log-in forms must not be framed (clickjacking) and must not
run inline scripts; only Flask-Admin's pages allow inline event handlers, which its templates need.
"""
from __future__ import annotations

import pytest
from helpers import login

PUBLIC_PREFIXES = ("/api/", "/widget.js", "/static/", "/hooks/")


def page_urls(app, prefix: str = "") -> list[str]:
    """Every GET route without arguments, our own pages only (not the widget's API, assets or webhooks)."""
    return sorted({rule.rule for rule in app.url_map.iter_rules()
                   if "GET" in rule.methods and not rule.arguments and rule.rule.startswith(prefix)
                   and not rule.rule.startswith(PUBLIC_PREFIXES)})


def assert_protected(response, url: str) -> None:
    csp = response.headers.get("Content-Security-Policy", "")
    directives = dict((part.strip().split(" ", 1) + [""])[:2] for part in csp.split(";") if part.strip())
    assert directives.get("frame-ancestors") == "'none'", (url, csp)
    assert directives.get("default-src") == "'self'", (url, csp)
    assert directives.get("script-src", "'self'") == "'self'", (url, csp)  # no inline, no other host
    assert "'unsafe-eval'" not in csp, (url, csp)
    assert response.headers.get("X-Frame-Options") == "DENY", url
    assert response.headers.get("X-Content-Type-Options") == "nosniff", url
    assert response.headers.get("Referrer-Policy") == "strict-origin-when-cross-origin", url


def test_every_page_is_protected_for_a_visitor(app, client):
    urls = page_urls(app)
    assert {"/", "/login", "/signup", "/cabinet/"} <= set(urls)
    for url in urls:
        assert_protected(client.get(url), url)
    assert_protected(client.get("/no-such-page"), "/no-such-page")


def test_every_cabinet_page_is_protected_for_its_client(app, client, make_client_user):
    _, _, email, password = make_client_user()
    login(client, email, password)
    urls = page_urls(app, "/cabinet/")
    assert len(urls) > 3
    for url in urls:
        response = client.get(url)
        assert response.status_code < 500, url
        assert_protected(response, url)


@pytest.mark.parametrize("role", ["admin", "manager"])
def test_every_back_office_page_is_protected_for_staff(app, client, make_staff_user, role):
    _, email, password = make_staff_user(role)
    login(client, email, password)
    urls = page_urls(app, "/admin/")
    assert len(urls) > 5
    for url in urls:
        response = client.get(url)
        assert response.status_code < 500, url
        assert_protected(response, url)
    policy = client.get("/admin/").headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "script-src-attr 'unsafe-inline'" in policy  # Flask-Admin's onclick
