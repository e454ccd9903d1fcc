"""The cabinet guard (B4, B5): pages that need a running service refuse an expired account with a page saying
the rent has ended; a negative balance keeps the cabinet open."""
from __future__ import annotations

import datetime as dt
import itertools

import pytest
from helpers import csrf_token, login

from app.db import utcnow
from app.extensions import db
from app.guards import requires_running_service
from app.models import Account, Site
from app.services import ledger, sites

_POSTINGS = itertools.count(1)


@pytest.fixture
def rent_guarded_app(app):
    """The test app with a tiny guarded page at /cabinet/_guarded (registered before the first request)."""
    app.add_url_rule("/cabinet/_guarded", "rent_guarded", requires_running_service(lambda: "the page"))
    return app


@pytest.fixture
def rent_user(rent_guarded_app, make_client_user):
    _, account_id, email, password = make_client_user()
    client = rent_guarded_app.test_client()
    assert login(client, email, password).status_code == 302
    return client, account_id


def _set(app, account_id: int, *, trial_ends_in: dt.timedelta | None = None, balance: int | None = None):
    with app.app_context():
        if trial_ends_in is not None:
            db.session.get(Account, account_id).trial_ends_at = utcnow() + trial_ends_in
        if balance is not None:
            amount = balance - ledger.balance(account_id)
            ledger.post(f"test-guard:{account_id}:{next(_POSTINGS)}", "adjustment", [
                (ledger.client_account(account_id), amount), (ledger.system_account("system:test"), -amount)])
        db.session.commit()


def test_a_trial_account_passes(rent_user):
    client, _ = rent_user
    response = client.get("/cabinet/_guarded")
    assert response.status_code == 200 and response.get_data(as_text=True) == "the page"


def test_an_expired_account_gets_the_rent_ended_page(rent_guarded_app, rent_user):
    client, account_id = rent_user
    _set(rent_guarded_app, account_id, trial_ends_in=-dt.timedelta(minutes=1))

    response = client.get("/cabinet/_guarded")

    assert response.status_code == 403
    html = response.get_data(as_text=True)
    assert 'data-testid="rent-ended"' in html and 'href="/cabinet/"' in html
    assert client.get("/cabinet/").status_code == 200  # the dashboard is not guarded


def test_a_negative_balance_passes(rent_guarded_app, rent_user):
    client, account_id = rent_user
    _set(rent_guarded_app, account_id, balance=-500)
    assert client.get("/cabinet/_guarded").status_code == 200


def test_the_guard_logs_in_first(rent_guarded_app):
    response = rent_guarded_app.test_client().get("/cabinet/_guarded")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_the_site_settings_page_and_its_preview_are_guarded(rent_guarded_app, rent_user):
    client, account_id = rent_user
    with rent_guarded_app.app_context():
        site_id = sites.create_site(db.session.get(Account, account_id), "Shop", ["https://shop.example.com"]).id
        db.session.commit()
        assert db.session.get(Site, site_id) is not None
    _set(rent_guarded_app, account_id, trial_ends_in=-dt.timedelta(minutes=1))

    page = client.get(f"/cabinet/sites/{site_id}/settings")
    token = csrf_token(client.get("/cabinet/").get_data(as_text=True))
    preview = client.post(f"/cabinet/sites/{site_id}/settings/preview", data={"csrf_token": token})

    assert page.status_code == 403 and 'data-testid="rent-ended"' in page.get_data(as_text=True)
    assert preview.status_code == 403 and 'data-testid="rent-ended"' in preview.get_data(as_text=True)
