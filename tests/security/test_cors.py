"""CORS (issue 10 item 2): only the widget's API answers another origin, and only the site's own domains;
a foreign origin or `Origin: null` gets no Access-Control-Allow-Origin anywhere, and credentials never."""
from __future__ import annotations

import pytest
from helpers import api_error, login, make_site

from app.services.site_settings import DEFAULT_CONSENT
from app.services.widget_config import consent_version

SITE = "https://shop.example.com"
# A site's domains are matched by host (and port when given): http://shop.example.com is the same site.
FOREIGN = ("https://evil.example.com", "null", "https://shop.example.com.evil.example.com", "https://example.com")


@pytest.fixture
def site(app):
    return make_site(app, domains=(SITE,))


def callback(client, site, origin: str, method: str = "post"):
    body = {"phone": "+79123456789", "consent": True, "consent_version": consent_version(DEFAULT_CONSENT)}
    return getattr(client, method)(f"/api/v1/widget/{site.public_key}/callbacks", json=body,
                                   headers={"Origin": origin, "Access-Control-Request-Method": "POST"})


def test_the_widget_api_allows_exactly_the_sites_origin_without_credentials(client, site, fresh_limits):
    for method in ("options", "post"):
        response = callback(client, site, SITE, method)
        assert response.status_code in (201, 204)
        assert response.headers["Access-Control-Allow-Origin"] == SITE
        assert "Origin" in response.headers["Vary"]
        assert "Access-Control-Allow-Credentials" not in response.headers


@pytest.mark.parametrize("origin", FOREIGN)
def test_the_widget_api_refuses_other_origins(client, site, origin, fresh_limits):
    for method in ("options", "post"):
        response = callback(client, site, origin, method)
        assert api_error(response) == (403, "origin_not_allowed"), (origin, method)
        assert "Access-Control-Allow-Origin" not in response.headers


@pytest.mark.parametrize("origin", FOREIGN + (SITE,))
def test_our_pages_never_answer_cors(app, client, make_client_user, make_staff_user, origin):
    _, _, email, password = make_client_user()
    login(client, email, password)
    staff = app.test_client()
    _, staff_email, staff_password = make_staff_user("admin")
    login(staff, staff_email, staff_password)
    for who, url in ((client, "/cabinet/"), (client, "/cabinet/calls"), (staff, "/admin/"), (client, "/login")):
        for method in ("get", "options"):
            response = getattr(who, method)(url, headers={"Origin": origin, "Access-Control-Request-Method": "POST"})
            assert "Access-Control-Allow-Origin" not in response.headers, (url, method)
            assert "Access-Control-Allow-Credentials" not in response.headers, (url, method)
