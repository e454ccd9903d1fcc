"""Faults: YooKassa's notifications duplicated, late and out of order, racing the reconciler and a refund.

`test_webhook.py` covers one notice delivered twice at once and a succeeded payment the API calls canceled. Here
the payment is already credited by the reconciler (its notification late), then stale notices of earlier and
contrary states arrive with the real one three times at once; and a refund is made before the payment's own
notice arrives. Whatever the order, the client is credited once per payment and debited once per refund.
"""
from __future__ import annotations

import datetime as dt
import threading

import pytest
from payment_helpers import money_state, row

from app.extensions import db
from app.services import payments
from dialer.tasks import billing as billing_tasks

HOOK = "/hooks/yookassa"
TRUSTED = {"REMOTE_ADDR": "127.0.0.1"}


def stale(body: dict, event: str) -> dict:
    """The payment's notice as YooKassa sent it in an earlier (or a contrary) state: same object, other event."""
    status = event.split(".")[1]
    return {**body, "event": event, "object": {**body["object"], "status": status, "paid": status != "canceled"}}


def deliver_at_once(app, bodies: list[dict]) -> list[int]:
    """Post every body to the webhook from its own thread, released together; returns the status codes."""
    barrier, codes = threading.Barrier(len(bodies)), []

    def deliver(body):
        barrier.wait(timeout=10)
        codes.append(app.test_client().post(HOOK, json=body, environ_base=TRUSTED).status_code)

    threads = [threading.Thread(target=deliver, args=(body,)) for body in bodies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return codes


def reconciled(app, payment) -> None:
    """The reconciler's run once the payment is old enough for it (its notification did not come)."""
    assert billing_tasks.reconcile_payments.call_local(row(app, payment.id).created_at + dt.timedelta(minutes=3)) == 1


@pytest.mark.backends
def test_late_contrary_and_repeated_notices_after_the_reconciler_credited_credit_once(app, backend, account, start,
                                                                                      yookassa, client):
    _, account_id, _ = account
    before = money_state(app, account_id)[0]
    payment = start(40_000)
    yookassa.press(payment.confirmation_url, "Pay")
    [succeeded] = yookassa.notifications  # held: it comes after the reconciler
    reconciled(app, payment)
    assert money_state(app, account_id) == (before + 40_000, 1, [])

    for event in ("payment.waiting_for_capture", "payment.canceled"):  # late, out of order: the API says succeeded
        assert client.post(HOOK, json=stale(succeeded, event), environ_base=TRUSTED).status_code == 200
    codes = deliver_at_once(app, [succeeded] * 3 + [stale(succeeded, "payment.canceled")])

    assert codes == [200] * 4
    assert row(app, payment.id).status == "succeeded"
    assert money_state(app, account_id) == (before + 40_000, 1, [])


@pytest.mark.backends
def test_a_refund_before_the_payments_own_late_notice_is_debited_once_and_the_payment_credited_once(
        app, backend, account, start, yookassa, client, make_staff_user):
    _, account_id, _ = account
    before = money_state(app, account_id)[0]
    payment = start(40_000)
    yookassa.press(payment.confirmation_url, "Pay")
    [paid_notice] = yookassa.notifications
    reconciled(app, payment)
    with app.app_context():
        payments.refund(payment.id, 15_000, "Client asked", make_staff_user("admin")[0])
        db.session.commit()
    [refund_notice] = [n for n in yookassa.notifications if n["event"] == "refund.succeeded"]

    codes = deliver_at_once(app, [refund_notice, paid_notice, refund_notice, paid_notice])

    assert codes == [200] * 4
    assert row(app, payment.id).refunded_kop == 15_000
    assert money_state(app, account_id) == (before + 25_000, 1, [])
