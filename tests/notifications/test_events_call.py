"""Spending by a real call: a visitor's request dialed through the MTT sandbox, the call and the SMS after it
charged, each e-mailed to the owner at the "instant" frequency (and nothing per charge at the default daily)."""
from __future__ import annotations

import pytest
import sqlalchemy as sa
from events_helpers import keys, make_account, received, set_spending
from telephony.mtt_helpers import mtt_settings, new_sandbox

from app.extensions import db
from app.models import Account, CallAttempt, ManagerLine
from app.services import phones, site_settings, sites
from app.services.site_settings import DEFAULT_CONSENT
from app.services.widget_config import consent_version

ALWAYS_OPEN = {day: {"is_open": True, "opens_at": "00:00", "closes_at": "00:00"}
               for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
ORIGIN = "https://shop.example.com"
CLIENT, ANNA = "+79995550000", "+79990000001"


@pytest.fixture
def sandbox():
    with new_sandbox() as server:
        yield server


@pytest.fixture
def app_overrides(sandbox):
    return {**mtt_settings(sandbox), "DIALER_DIAL_ON_CREATE": True}


def _shop(app, make_client_user) -> tuple[int, str, str]:
    """An account (English) with a site open around the clock, one manager line and the SMS after the call."""
    account_id, email = make_account(app, make_client_user, locale="en", balance_kop=100_000)
    with app.app_context():
        site = sites.create_site(db.session.get(Account, account_id), "Shop", [ORIGIN])
        db.session.flush()
        db.session.add(ManagerLine(account_id=account_id, number=ANNA, manager_name="Anna"))
        site_settings.save(account_id, site.id, {"schedule": ALWAYS_OPEN, "is_sms_after_call": True})
        db.session.commit()
        return account_id, email, site.public_key


def _call(app, sandbox, public_key: str) -> int:
    """A request posted as the widget would, dialed, and settled as the reconciler would."""
    from dialer.tasks.telephony import attempt_event

    body = {"phone": CLIENT, "consent": True, "consent_version": consent_version(DEFAULT_CONSENT)}
    response = app.test_client().post(f"/api/v1/widget/{public_key}/callbacks", json=body,
                                      headers={"Origin": ORIGIN}, environ_base={"REMOTE_ADDR": "10.9.8.7"})
    assert response.status_code == 201, response.get_json()
    request_id = response.get_json()["id"]
    with app.app_context():
        pairs = [(a.id, a.provider_call_id) for a in db.session.scalars(
            sa.select(CallAttempt).where(CallAttempt.request_id == request_id))]
    for attempt_id, call_id in pairs:
        if call_id:
            sandbox.wait_finished(call_id)
            attempt_event.call_local(attempt_id)
    return request_id


def test_a_real_call_and_its_sms_are_mailed_at_the_instant_frequency(served_app, sandbox, mailbox, fresh_limits,
                                                                      make_client_user):
    account_id, email, public_key = _shop(served_app, make_client_user)
    set_spending(served_app, account_id, "instant")

    request_id = _call(served_app, sandbox, public_key)

    spending = keys(served_app, account_id, "spending")
    assert spending[0] == f"spending:call:{request_id}:1"
    assert len(spending) == 2 and spending[1].startswith("spending:sms:")
    [call] = received(mailbox, email, 1, subject_has="a call charged")
    assert phones.display(CLIENT) in call.text and "operator MTT" in call.text
    [sms] = received(mailbox, email, 1, subject_has="an SMS charged")
    assert phones.display(CLIENT) in sms.text


def test_a_real_call_sends_nothing_per_charge_at_the_default_daily_frequency(served_app, sandbox, mailbox,
                                                                             fresh_limits, make_client_user):
    account_id, _, public_key = _shop(served_app, make_client_user)
    _call(served_app, sandbox, public_key)
    assert keys(served_app, account_id, "spending") == []
