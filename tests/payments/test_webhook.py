"""`POST /hooks/yookassa`: only YooKassa's senders, never the body's word, 503 while the API cannot be asked."""
from __future__ import annotations

import threading
import uuid

import pytest
import requests
from payment_helpers import money_state, row

HOOK = "/hooks/yookassa"
TRUSTED = {"REMOTE_ADDR": "127.0.0.1"}


def notification(payment_id: str, event: str = "payment.succeeded", amount: str = "500.00") -> dict:
    """A notification as forged by someone who knows the format."""
    return {"type": "notification", "event": event, "object": {
        "id": payment_id, "status": event.split(".")[1], "paid": True, "test": True,
        "amount": {"value": amount, "currency": "RUB"}, "created_at": "2026-11-27T10:00:00.000Z",
        "recipient": {"account_id": "test-shop", "gateway_id": "1"}, "refundable": True, "metadata": {}}}


def test_a_foreign_sender_is_refused_and_nothing_changes(app, account, start, yookassa, client):
    _, account_id, _ = account
    before = money_state(app, account_id)
    payment = start()
    yookassa.press(payment.confirmation_url, "Pay")
    responses = yookassa.deliver(client, remote_addr="203.0.113.7")
    assert [(r.status_code, r.json) for r in responses] == [(403, {"error": "forbidden"})]
    assert money_state(app, account_id) == before
    assert row(app, payment.id).status == "pending"
    assert [r["method"] for r in yookassa.requests] == ["POST"]  # the API was not even asked


@pytest.mark.parametrize("app_overrides", [{"PROXY_COUNT": 1}], indirect=True)
def test_behind_a_proxy_the_forwarded_address_is_checked(app, account, start, yookassa, client):
    _, account_id, _ = account
    before = money_state(app, account_id)[0]
    payment = start()
    yookassa.press(payment.confirmation_url, "Pay")
    body = yookassa.notifications[-1]
    forged = client.post(HOOK, json=body, environ_base=TRUSTED, headers={"X-Forwarded-For": "203.0.113.7"})
    assert forged.status_code == 403
    real = client.post(HOOK, json=body, environ_base={"REMOTE_ADDR": "10.0.0.2"},
                       headers={"X-Forwarded-For": "127.0.0.1"})  # the proxy reports the trusted sender
    assert real.status_code == 200
    assert money_state(app, account_id)[:2] == (before + 50_000, 1)


def test_yookassa_s_own_networks_are_trusted(app, account, start, yookassa, client):
    _, account_id, _ = account
    payment = start()
    yookassa.press(payment.confirmation_url, "Pay")
    assert [r.status_code for r in yookassa.deliver(client, remote_addr="185.71.76.5")] == [200]
    assert row(app, payment.id).credited_at is not None


@pytest.mark.parametrize("status", ["pending", "canceled"])
def test_a_trusted_sender_claiming_success_credits_nothing_when_the_api_disagrees(app, account, start, yookassa,
                                                                                   client, status):
    _, account_id, _ = account
    before = money_state(app, account_id)
    payment = start()
    if status == "canceled":
        yookassa.cancel(payment.provider_id, "general_decline")
    response = client.post(HOOK, json=notification(payment.provider_id), environ_base=TRUSTED)
    assert response.status_code == 200
    assert row(app, payment.id).status == status
    assert money_state(app, account_id) == before


def test_a_notification_of_a_payment_we_never_made_is_accepted_and_ignored(app, account, yookassa, client):
    _, account_id, _ = account
    before = money_state(app, account_id)
    response = client.post(HOOK, json=notification(str(uuid.uuid4())), environ_base=TRUSTED)
    assert response.status_code == 200
    assert money_state(app, account_id) == before


@pytest.mark.parametrize("body", [{"event": "payment.succeeded"}, {"type": "notification"}, [1, 2], "text",
                                  {"type": "notification", "event": "payment.succeeded", "object": {}}])
def test_a_body_that_is_not_a_notification_is_400(app, yookassa, client, body):
    response = client.post(HOOK, json=body, environ_base=TRUSTED)
    assert response.status_code == 400 and response.json == {"error": "invalid_notification"}
    assert client.post(HOOK, data="{not json", content_type="application/json",
                       environ_base=TRUSTED).status_code == 400


def test_a_notification_needs_no_csrf_token_and_sets_no_cookie(app, account, start, yookassa, client):
    payment = start()
    yookassa.press(payment.confirmation_url, "Pay")
    response = yookassa.deliver(client)[0]
    assert response.status_code == 200 and "Set-Cookie" not in response.headers


@pytest.mark.backends
@pytest.mark.parametrize("app_overrides", [{"YOOKASSA_TIMEOUT_S": 1}], indirect=True)
def test_while_the_api_hangs_the_webhook_answers_503_and_a_redelivery_credits_once(app, backend, account, start,
                                                                                    yookassa, client):
    _, account_id, _ = account
    before = money_state(app, account_id)[0]
    payment = start()
    yookassa.press(payment.confirmation_url, "Pay")
    body = yookassa.notifications[-1]

    yookassa.hang(30)
    response = client.post(HOOK, json=body, environ_base=TRUSTED)
    assert (response.status_code, response.json) == (503, {"error": "provider_unavailable"})
    assert money_state(app, account_id)[0] == before

    yookassa.hang(0)
    yookassa.fail_next(500)
    assert client.post(HOOK, json=body, environ_base=TRUSTED).status_code == 503
    for _ in range(2):  # YooKassa redelivers until a 200, and may do it once more
        assert client.post(HOOK, json=body, environ_base=TRUSTED).status_code == 200
    assert money_state(app, account_id) == (before + 50_000, 1, [])


def test_a_payment_of_the_shop_that_is_not_ours_is_ignored(app, account, yookassa, client):
    _, account_id, _ = account
    before = money_state(app, account_id)
    made = requests.post(f"{yookassa.api_url}/payments", auth=(yookassa.shop_id, yookassa.secret_key), timeout=5,
                         headers={"Idempotence-Key": "elsewhere"}, json={
                             "amount": {"value": "900.00", "currency": "RUB"}, "metadata": {"account_id": "1"},
                             "confirmation": {"type": "redirect", "return_url": "http://elsewhere/"}}).json()
    yookassa.succeed(made["id"])  # paid in another system sharing the shop
    assert [r.status_code for r in yookassa.deliver(client)] == [200]
    assert money_state(app, account_id) == before


def test_a_succeeded_payment_never_goes_back(app, account, paid, yookassa, client):
    _, account_id, _ = account
    payment = paid(50_000)
    after = money_state(app, account_id)
    yookassa.payments[payment.provider_id].update(status="canceled", paid=False)
    body = notification(payment.provider_id, "payment.canceled")
    assert client.post(HOOK, json=body, environ_base=TRUSTED).status_code == 200
    assert row(app, payment.id).status == "succeeded"
    assert money_state(app, account_id) == after


@pytest.mark.backends
def test_the_same_notification_delivered_at_once_twice_credits_once(app, backend, account, start, yookassa):
    _, account_id, _ = account
    before = money_state(app, account_id)[0]
    payment = start()
    yookassa.press(payment.confirmation_url, "Pay")
    body = yookassa.notifications[-1]
    barrier, codes = threading.Barrier(3), []

    def deliver():
        barrier.wait(timeout=10)
        codes.append(app.test_client().post(HOOK, json=body, environ_base=TRUSTED).status_code)

    threads = [threading.Thread(target=deliver) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert codes == [200, 200, 200]
    assert money_state(app, account_id) == (before + 50_000, 1, [])
