"""The YooKassa sandbox `make run` starts: the API rules it enforces, and a whole top-up over real HTTP with our
app served on loopback (the checkout page posts its notification to the app's webhook, as in `make run`)."""
from __future__ import annotations

import datetime as dt
import threading

import pytest
import requests
from payment_helpers import RETURN_URL, money_state
from werkzeug.serving import make_server

from app.extensions import db
from app.services import payments
from dialer.huey_app import huey
from dialer.sandbox.yookassa import FakeYooKassa
from dialer.tasks import billing  # noqa: F401  (registers the billing tasks)

BODY = {"amount": {"value": "100.00", "currency": "RUB"}, "capture": True,
        "confirmation": {"type": "redirect", "return_url": "http://127.0.0.1/back"}}


@pytest.fixture
def sandbox():
    fake = FakeYooKassa("shop", "key").start()
    yield fake
    fake.stop()


def test_the_sandbox_checks_credentials_and_honours_idempotence_keys(sandbox):
    url = f"{sandbox.api_url}/payments"
    assert requests.post(url, json=BODY, auth=("shop", "wrong"), headers={"Idempotence-Key": "k"},
                         timeout=5).status_code == 401
    assert requests.post(url, json=BODY, auth=("shop", "key"), timeout=5).status_code == 400  # no key
    first = requests.post(url, json=BODY, auth=("shop", "key"), headers={"Idempotence-Key": "k"}, timeout=5).json()
    again = requests.post(url, json=BODY, auth=("shop", "key"), headers={"Idempotence-Key": "k"}, timeout=5).json()
    other = requests.post(url, json=BODY, auth=("shop", "key"), headers={"Idempotence-Key": "k2"}, timeout=5).json()
    assert first["id"] == again["id"] != other["id"]
    assert first["status"] == "pending"
    assert first["confirmation"]["confirmation_url"] == f"{sandbox.url}/checkout/{first['id']}"
    assert requests.get(f"{url}/{first['id']}", auth=("shop", "key"), timeout=5).json()["id"] == first["id"]
    assert requests.get(f"{url}/nope", auth=("shop", "key"), timeout=5).status_code == 404
    assert requests.get(f"{sandbox.api_url}/me", auth=("shop", "key"), timeout=5).json()["account_id"] == "shop"


def test_the_sandbox_refuses_other_hosts():
    with pytest.raises(ValueError):
        FakeYooKassa(host="0.0.0.0")


@pytest.fixture
def live_app(app, yookassa):
    """Our app served over HTTP on loopback, with the fake posting notifications to its webhook."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yookassa.on_notification = None
    yookassa.webhook_url = f"http://127.0.0.1:{server.port}/hooks/yookassa"
    yield server
    server.shutdown()
    server.server_close()


def test_a_top_up_through_the_sandbox_and_a_served_app_is_credited(app, account, live_app, yookassa):
    user_id, account_id, email = account
    before = money_state(app, account_id)[0]
    with app.app_context():
        payment = payments.start_topup(account_id, 70_000, RETURN_URL, save_card=True, email=email, user_id=user_id)
        db.session.commit()
    answer = yookassa.press(payment.confirmation_url, "Pay")  # the page notifies the app, then redirects
    assert answer.status_code == 303 and answer.headers["Location"] == RETURN_URL
    assert money_state(app, account_id) == (before + 70_000, 1, [])
    with app.app_context():
        assert [card.last4 for card in payments.cards_of(account_id)] == ["4444"]


def test_the_payment_tasks_run_every_ten_minutes():
    def due(minute: int) -> set[str]:
        moment = dt.datetime(2026, 3, 2, 7, minute)
        return {huey._registry.task_to_string(type(t)) for t in huey.read_periodic(moment)}

    assert {"billing.reconcile_payments", "billing.auto_topup"} <= due(10) & due(40)
    assert "billing.reconcile_payments" not in due(15)
