"""Passive mode (B4, B5): an ended rent or a negative balance makes the widget forward requests, not call;
paying makes it call again at once (the tests run with the configuration cache off)."""
from __future__ import annotations

import datetime as dt
import itertools

import pytest
import sqlalchemy as sa
from helpers import make_site

from app.db import utcnow
from app.extensions import db
from app.models import Account, CallbackRequest, ConsentRecord, RequestStatus
from app.services import account_state, ledger, rent
from app.services.site_settings import DEFAULT_CONSENT
from app.services.widget_config import consent_version

ORIGIN = "https://shop.example.com"
ALWAYS_OPEN = {day: {"is_open": True, "opens_at": "00:00", "closes_at": "00:00"}
               for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
HOT_ON_ADS = {"hot_visitor": {"is_enabled": True, "is_ad_click_hot": True}}
_POSTINGS = itertools.count(1)


def post_money(account_id: int, amount: int) -> None:
    """A top-up (positive) or a charge (negative) of the client's balance."""
    ledger.post(f"test-money:{account_id}:{next(_POSTINGS)}", "topup" if amount > 0 else "call", [
        (ledger.client_account(account_id), amount), (ledger.system_account("system:test-payments"), -amount)])


@pytest.fixture
def rent_site(app):
    """A site open around the clock with a scenario, its account in its free trial (as after sign-up)."""
    return make_site(app, domains=(ORIGIN,), settings={"schedule": ALWAYS_OPEN, "scenarios": HOT_ON_ADS})


def _config(client, site) -> dict:
    response = client.get(f"/api/v1/widget/{site.public_key}")
    assert response.status_code == 200
    return response.get_json()


def _end_trial(app, account_id: int) -> None:
    with app.app_context():
        db.session.get(Account, account_id).trial_ends_at = utcnow() - dt.timedelta(minutes=1)
        db.session.commit()


def _post_callback(client, site, ip: str = "10.9.0.1"):
    body = {"phone": "+7 912 345-67-89", "consent": True, "consent_version": consent_version(DEFAULT_CONSENT)}
    return client.post(f"/api/v1/widget/{site.public_key}/callbacks", json=body, headers={"Origin": ORIGIN},
                       environ_base={"REMOTE_ADDR": ip})


def test_a_running_trial_serves_the_instant_widget(client, rent_site):
    config = _config(client, rent_site)
    assert config["mode"] == "instant" and "hot_visitor" in [s["id"] for s in config["scenarios"]]


def test_an_ended_rent_makes_the_widget_passive_and_buying_restores_it(app, client, rent_site):
    _end_trial(app, rent_site.account_id)
    with app.app_context():
        assert account_state.status_of(rent_site.account_id).state is account_state.State.EXPIRED

    config = _config(client, rent_site)
    assert config["mode"] == "passive" and config["scenarios"] == []

    with app.app_context():
        post_money(rent_site.account_id, 200_000)
        rent.buy(rent_site.account_id, 1)
        db.session.commit()
        assert account_state.status_of(rent_site.account_id).state is account_state.State.ACTIVE
    config = _config(client, rent_site)
    assert config["mode"] == "instant" and config["scenarios"]


def test_a_negative_balance_makes_the_widget_passive_and_a_top_up_restores_it(app, client, rent_site):
    with app.app_context():
        post_money(rent_site.account_id, -(ledger.balance(rent_site.account_id) + 1))
        db.session.commit()
        status = account_state.status_of(rent_site.account_id)
        assert status.state is account_state.State.NEGATIVE and status.is_rent_active
    assert _config(client, rent_site)["mode"] == "passive"

    with app.app_context():
        post_money(rent_site.account_id, 1)
        db.session.commit()
        assert account_state.status_of(rent_site.account_id).state is account_state.State.TRIAL
    assert _config(client, rent_site)["mode"] == "instant"


def test_a_passive_accounts_request_is_stored_passive_and_not_dialed(app, client, rent_site):
    _end_trial(app, rent_site.account_id)

    response = _post_callback(client, rent_site)

    assert response.status_code == 201
    created = response.get_json()
    assert created["mode"] == "passive" and created["eta_seconds"] == 0 and created["scheduled_for"] is None
    with app.app_context():
        row = db.session.get(CallbackRequest, created["id"])
        assert (row.status, row.mode, row.reject_reason) == (RequestStatus.PASSIVE, "passive", None)
        assert db.session.scalar(sa.select(ConsentRecord).where(ConsentRecord.request_id == row.id)) is not None
    status = client.get(f"/api/v1/callbacks/{created['id']}?token={created['status_token']}").get_json()
    assert (status["status"], status["mode"]) == ("passive", "passive")


def test_a_passive_account_still_has_its_limits(app, client, rent_site):
    _end_trial(app, rent_site.account_id)
    codes = [_post_callback(client, rent_site, ip=f"10.9.1.{n}").status_code for n in range(1, 12)]
    assert codes[0] == 201 and 429 in codes  # the per-number limit refuses the repeats, as for any account
    with app.app_context():
        statuses = set(db.session.scalars(sa.select(CallbackRequest.status)))
    assert statuses == {RequestStatus.PASSIVE, RequestStatus.REJECTED}
