"""Fixtures of the public API tests: a site with its own domain, and a factory that posts callback requests."""
from __future__ import annotations

import itertools

import pytest
import sqlalchemy as sa
from helpers import make_site

from app.extensions import db
from app.models import CallbackRequest
from app.services.site_settings import DEFAULT_CONSENT
from app.services.widget_config import consent_version

SITE_ORIGIN = "https://shop.example.com"
PHONE = "+7 912 345-67-89"


ALWAYS_OPEN = {day: {"is_open": True, "opens_at": "00:00", "closes_at": "00:00"}
               for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}


@pytest.fixture
def site(app):
    """An active site on https://shop.example.com, open around the clock, otherwise default settings (RU only)."""
    return make_site(app, domains=(SITE_ORIGIN,), settings={"schedule": ALWAYS_OPEN})


@pytest.fixture
def post_callback(client, site):
    """Factory: POST a callback request as the widget on the site's page would.

    Body fields are keyword arguments over a valid default (a RU mobile, consent to the current text);
    `omit` drops fields; each request comes from a new IP address unless `ip` is given.
    """
    addresses = (f"10.200.{n // 250}.{n % 250 + 1}" for n in itertools.count())

    def post(*, to=None, ip: str | None = None, origin: str | None = SITE_ORIGIN, omit=(), **fields):
        body = {"phone": PHONE, "consent": True, "consent_version": consent_version(DEFAULT_CONSENT), **fields}
        for name in omit:
            body.pop(name, None)
        return client.post(f"/api/v1/widget/{(to or site).public_key}/callbacks", json=body,
                           headers={"Origin": origin} if origin else {},
                           environ_base={"REMOTE_ADDR": ip or next(addresses)})

    return post


@pytest.fixture
def stored_requests(app):
    """Callable: every stored callback request, oldest first, with its consent record and text loaded."""
    def read() -> list[CallbackRequest]:
        with app.app_context():
            rows = list(db.session.scalars(sa.select(CallbackRequest).order_by(CallbackRequest.id)))
            for row in rows:
                if row.consent is not None:
                    _ = row.consent.text.body
            return rows

    return read


@pytest.fixture
def dialed(app, monkeypatch):
    """The request ids handed to the dialer's queue: the endpoint dials on create, the queue is a list."""
    import dialer.tasks.dialing

    queued: list[int] = []
    app.config["DIALER_DIAL_ON_CREATE"] = True
    monkeypatch.setattr(dialer.tasks.dialing, "enqueue", queued.append)
    return queued
