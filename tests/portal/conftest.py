"""Fixtures of the cabinet's tests."""
from __future__ import annotations

import pytest
from helpers import login

from app.extensions import db
from app.models import Account
from app.services import sites


@pytest.fixture
def shops(app, make_client_user):
    """Two client accounts with a site each: {name: (logged-in client, account id, site id)}."""
    out = {}
    for name in ("alpha", "beta"):
        _, account_id, email, password = make_client_user(company=f"{name} LLC")
        with app.app_context():
            site = sites.create_site(db.session.get(Account, account_id), f"{name} shop", [f"https://{name}.example"])
            db.session.commit()
            site_id = site.id
        client = app.test_client()
        login(client, email, password)
        out[name] = (client, account_id, site_id)
    return out


@pytest.fixture
def two_clients(app, make_client_user):
    """Two logged-in clients (each with the sign-up gift), pages in English: {name: (test client, account id)}."""
    out = {}
    for name in ("alpha", "beta"):
        _, account_id, email, password = make_client_user(company=f"{name} LLC")
        with app.app_context():
            db.session.get(Account, account_id).locale = "en"
            db.session.commit()
        client = app.test_client()
        login(client, email, password)
        out[name] = (client, account_id)
    return out
