"""Fixtures of the dialer's tests: the MTT sandbox on loopback (1/100 of real time), the app served over HTTP
so the sandbox delivers MTT's events to our hook, Huey immediate, and a factory of accounts with sites, manager
lines and money.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

import pytest
import sqlalchemy as sa
from dialer_helpers import request_row
from telephony.mtt_helpers import mtt_settings, new_sandbox

from app.extensions import db
from app.models import Account, CallAttempt, CallbackRequest, Department, ManagerLine
from app.services import sites
from app.services.site_settings import DEFAULT_CONSENT
from app.services.widget_config import consent_version

ALWAYS_OPEN = {day: {"is_open": True, "opens_at": "00:00", "closes_at": "00:00"}
               for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
ORIGIN = "https://shop.example.com"
CLIENT = "+79995550000"


@pytest.fixture
def sandbox():
    with new_sandbox() as server:
        yield server


@pytest.fixture
def app_overrides(sandbox):
    return {**mtt_settings(sandbox), "DIALER_DIAL_ON_CREATE": True}


@dataclass
class Shop:
    account_id: int
    site_id: int
    public_key: str
    line_ids: dict[str, int]  # manager name → line id
    department_ids: dict[str, int]


@pytest.fixture
def make_shop(served_app, make_client_user):
    """Factory: a signed-up account (owner e-mail, trial, gift balance) with `sites` sites, the first open
    around the clock with `settings`; `lines` are (name, number, extra ManagerLine fields) rows."""
    app = served_app
    counter = itertools.count(1)

    def make(lines, *, settings: dict | None = None, sites_count: int = 1, departments=()) -> Shop:
        from app.services import site_settings

        _user_id, account_id, _email, _password = make_client_user(f"owner{next(counter)}@shop.example.com")
        with app.app_context():
            account = db.session.get(Account, account_id)
            department_ids = {}
            for name in departments:
                department = Department(account_id=account_id, name=name)
                db.session.add(department)
                db.session.flush()
                department_ids[name] = department.id
            made = [sites.create_site(account, f"Shop {account_id}-{n}", [ORIGIN]) for n in range(sites_count)]
            db.session.flush()
            site = made[0]
            line_ids = {}
            for name, number, *extra in lines:
                fields = dict(extra[0]) if extra else {}
                if "department" in fields:
                    fields["department_id"] = department_ids[fields.pop("department")]
                line = ManagerLine(account_id=account_id, number=number, manager_name=name, **fields)
                db.session.add(line)
                db.session.flush()
                line_ids[name] = line.id
            values = {"schedule": ALWAYS_OPEN, **(settings or {})}
            if departments:
                values.update(is_office_choice_offered=True, offered_department_ids=list(department_ids.values()))
            site_settings.save(account_id, site.id, values)
            db.session.commit()
            return Shop(account_id, site.id, site.public_key, line_ids, department_ids)

    return make


@pytest.fixture
def request_call(served_app, fresh_limits):
    """Factory: POST a callback request as the widget would; returns the response's JSON (with `status_code`)."""
    client = served_app.test_client()
    addresses = (f"10.201.{n // 250}.{n % 250 + 1}" for n in itertools.count())

    def post(shop: Shop, phone: str = CLIENT, **fields) -> dict:
        body = {"phone": phone, "consent": True, "consent_version": consent_version(DEFAULT_CONSENT), **fields}
        response = client.post(f"/api/v1/widget/{shop.public_key}/callbacks", json=body, headers={"Origin": ORIGIN},
                               environ_base={"REMOTE_ADDR": next(addresses)})
        return {**response.get_json(), "status_code": response.status_code}

    return post


@pytest.fixture
def settle(served_app, sandbox):
    """Callable: wait for the request's calls to end in the sandbox, then run `dialer.attempt_event` once more
    for each attempt, as `dialer.reconcile` does (MTT's end events come before its record has a cost)."""
    from dialer.tasks.telephony import attempt_event

    def run(request_id: int) -> CallbackRequest:
        with served_app.app_context():
            attempts = list(db.session.scalars(sa.select(CallAttempt).where(CallAttempt.request_id == request_id)))
            pairs = [(a.id, a.provider_call_id) for a in attempts]
        for attempt_id, call_id in pairs:
            if call_id:
                sandbox.wait_finished(call_id)
                attempt_event.call_local(attempt_id)
        return request_row(served_app, request_id)

    return run
