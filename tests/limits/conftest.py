"""Fixtures of the abuse-limiter tests: where the counters live, a client's site, the widget's request body."""
from __future__ import annotations

import pytest

SHOP_ORIGIN = "http://shop.example"


@pytest.fixture(params=["database", "redis"])
def counters(request):
    """Where the limiter keeps its counters: the database's rows (no REDIS_URL) or Redis."""
    return request.param


@pytest.fixture
def app_overrides(counters, request):
    """The `app` fixture's REDIS_URL follows `counters` on either database (PostgreSQL can count in its rows too)."""
    if counters == "redis":
        return {"REDIS_URL": request.getfixturevalue("redis_service").url}
    return {"REDIS_URL": None}


@pytest.fixture
def shop_site(app):
    """An account's active site on http://shop.example: (public key, the consent version the widget shows).

    The consent text is stored already, as after the site's first request: concurrent first requests race to
    insert it (see test_limiter_processes.py), and these tests are about the limiter.
    """
    from app.extensions import db
    from app.models import ConsentText
    from app.services import accounts, sites
    from app.services.site_settings import effective_settings
    from app.services.widget_config import consent_digest, consent_version

    with app.app_context():
        user = accounts.signup("owner@shop.example.com", "correct-horse-9", "Shop LLC")
        site = sites.create_site(user.account, "Shop", [SHOP_ORIGIN])
        text = effective_settings(site.account_id, site.id).consent_text
        db.session.add(ConsentText(digest=consent_digest(text), body=text))
        db.session.commit()
        return site.public_key, consent_version(text)


def callback_body(phone: str, version: str, session_id: str | None = None) -> dict:
    body = {"phone": phone, "country": "RU", "consent": True, "consent_version": version}
    if session_id:
        body["visitor"] = {"session_id": session_id}
    return body


@pytest.fixture
def request_body():
    """Factory: the JSON body the widget posts for a callback (kept here: test modules do not import conftest)."""
    return callback_body
