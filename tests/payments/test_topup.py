"""Top-up by redirect (B7, issue 5): start, checkout page, notification, return page, reconciler."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
import sqlalchemy as sa
from payment_helpers import RETURN_URL, money_state, row

from app.extensions import db
from app.models import Account, Payment
from app.services import payments
from dialer.tasks import billing as billing_tasks


@pytest.mark.backends
def test_a_top_up_paid_on_the_checkout_page_is_credited_once(app, backend, account, start, yookassa, client):
    _, account_id, email = account
    before = money_state(app, account_id)[0]
    payment = start(50_000)
    assert payment.status == "pending" and payment.provider_id and payment.confirmation_url

    paid = yookassa.press(payment.confirmation_url, "Pay")
    assert paid.status_code == 303 and paid.headers["Location"] == RETURN_URL
    assert money_state(app, account_id)[0] == before  # not before the notification
    responses = yookassa.deliver(client)
    assert [r.status_code for r in responses] == [200]
    assert money_state(app, account_id) == (before + 50_000, 1, [])

    # YooKassa delivering it again, and the return page asking, credit nothing more.
    body = yookassa.notifications[-1]
    assert client.post("/hooks/yookassa", json=body, environ_base={"REMOTE_ADDR": "127.0.0.1"}).status_code == 200
    with app.app_context():
        assert payments.refresh(payment.id).status == "succeeded"
        db.session.commit()
    assert money_state(app, account_id) == (before + 50_000, 1, [])
    stored = row(app, payment.id)
    assert stored.credited_at is not None and stored.method_title == "Bank card *4444" and stored.is_test

    # What YooKassa received: our own key, the metadata and a 54-FZ receipt adding up to the payment.
    create = next(r for r in yookassa.requests if r["method"] == "POST")
    assert create["headers"]["Idempotence-Key"] == stored.idempotence_key
    sent = create["json"]
    assert sent["amount"] == {"value": "500.00", "currency": "RUB"} and sent["capture"] is True
    assert sent["metadata"]["account_id"] == str(account_id)
    assert sent["metadata"]["payment_row_id"] == str(payment.id)
    assert sent["confirmation"] == {"type": "redirect", "return_url": RETURN_URL}
    receipt = sent["receipt"]
    assert receipt["customer"]["email"] == email
    with app.app_context():
        code = db.session.get(Account, account_id).client_code
    assert [item["description"] for item in receipt["items"]] == [
        f"Пополнение баланса сервиса CallBack, аккаунт {code}"]
    assert sum(Decimal(i["amount"]["value"]) * Decimal(i["quantity"]) for i in receipt["items"]) == Decimal("500")
    item = receipt["items"][0]
    assert (item["vat_code"], item["payment_mode"], item["payment_subject"]) == (1, "full_prepayment", "payment")


def test_the_return_page_path_credits_once_and_a_late_notification_adds_nothing(app, account, start, yookassa,
                                                                                 client):
    _, account_id, _ = account
    before = money_state(app, account_id)[0]
    payment = start(25_000)
    yookassa.press(payment.confirmation_url, "Pay")
    for _ in range(2):  # the client reloads the return page
        with app.app_context():
            assert payments.refresh(payment.id).credited_at is not None
            db.session.commit()
    assert money_state(app, account_id) == (before + 25_000, 1, [])
    assert [r.status_code for r in yookassa.deliver(client)] == [200]
    assert money_state(app, account_id) == (before + 25_000, 1, [])


def test_a_declined_payment_credits_nothing(app, account, start, yookassa, client):
    _, account_id, _ = account
    before = money_state(app, account_id)[0]
    payment = start()
    assert yookassa.press(payment.confirmation_url, "Decline").status_code == 303
    assert [r.status_code for r in yookassa.deliver(client)] == [200]
    stored = row(app, payment.id)
    assert (stored.status, stored.cancellation_reason, stored.credited_at) == (
        "canceled", "expired_on_confirmation", None)
    assert money_state(app, account_id) == (before, 0, [])


@pytest.mark.backends
def test_the_reconciler_credits_a_payment_whose_notification_never_came(app, backend, account, start, yookassa):
    _, account_id, _ = account
    before = money_state(app, account_id)[0]
    payment = start(30_000)
    yookassa.press(payment.confirmation_url, "Pay")  # the notification is lost
    created = row(app, payment.id).created_at

    assert billing_tasks.reconcile_payments.call_local(created + dt.timedelta(minutes=1)) == 0  # too young
    assert money_state(app, account_id)[0] == before
    assert billing_tasks.reconcile_payments.call_local(created + dt.timedelta(minutes=3)) == 1
    assert money_state(app, account_id) == (before + 30_000, 1, [])
    assert billing_tasks.reconcile_payments.call_local(created + dt.timedelta(minutes=13)) == 0
    assert money_state(app, account_id) == (before + 30_000, 1, [])


def test_the_reconciler_gives_up_after_the_expiry_and_a_late_success_still_credits(app, account, start, yookassa,
                                                                                    client):
    _, account_id, _ = account
    before = money_state(app, account_id)[0]
    payment = start(30_000)
    created = row(app, payment.id).created_at
    assert billing_tasks.reconcile_payments.call_local(created + dt.timedelta(hours=1)) == 0
    assert row(app, payment.id).status == "pending"
    assert billing_tasks.reconcile_payments.call_local(created + dt.timedelta(hours=25)) == 1
    assert (row(app, payment.id).status, row(app, payment.id).cancellation_reason) == ("canceled", "expired")

    yookassa.succeed(payment.provider_id)  # YooKassa says otherwise after all: the money is not lost
    assert [r.status_code for r in yookassa.deliver(client)] == [200]
    assert row(app, payment.id).status == "succeeded"
    assert money_state(app, account_id) == (before + 30_000, 1, [])


def test_the_amount_yookassa_reports_is_credited(app, account, start, yookassa, client, caplog):
    _, account_id, _ = account
    before = money_state(app, account_id)[0]
    payment = start(50_000)
    yookassa.payments[payment.provider_id]["amount"]["value"] = "450.00"
    yookassa.press(payment.confirmation_url, "Pay")
    yookassa.deliver(client)
    assert money_state(app, account_id) == (before + 45_000, 1, [])
    assert row(app, payment.id).amount_kop == 45_000
    assert "reported 45000 kop, we asked 50000 kop" in caplog.text


@pytest.mark.parametrize("kop", [9_999, 50_000_001, 0, -100])
def test_amounts_out_of_bounds_are_refused_before_asking_yookassa(app, account, kop, yookassa):
    user_id, account_id, email = account
    with app.app_context(), pytest.raises(payments.PaymentError) as error:
        payments.start_topup(account_id, kop, RETURN_URL, save_card=False, email=email, user_id=user_id)
    assert error.value.code == "invalid_amount"
    assert [r for r in yookassa.requests if r["method"] == "POST"] == []


@pytest.mark.parametrize("app_overrides", [{"YOOKASSA_TIMEOUT_S": 1}], indirect=True)
def test_a_hung_api_is_given_up_at_the_deadline_and_the_row_stays_new(app, account, yookassa):
    user_id, account_id, email = account
    yookassa.hang(30)
    with app.app_context():
        with pytest.raises(payments.PaymentError) as error:
            payments.start_topup(account_id, 50_000, RETURN_URL, save_card=False, email=email, user_id=user_id)
        db.session.commit()  # the view commits the `new` row and shows "try again"
        assert error.value.code == "provider_unavailable"
        rows = db.session.scalars(sa.select(Payment).where(Payment.account_id == account_id)).all()
        assert [(p.status, p.provider_id) for p in rows] == [("new", None)]
    yookassa.hang(0)


def test_an_unreachable_api_is_provider_unavailable(app, account, yookassa):
    user_id, account_id, email = account
    yookassa.stop()  # connection refused (the SDK's AttributeError inside)
    with app.app_context(), pytest.raises(payments.PaymentError) as error:
        payments.start_topup(account_id, 50_000, RETURN_URL, save_card=False, email=email, user_id=user_id)
    assert error.value.code == "provider_unavailable"


def test_wrong_credentials_are_a_precise_error(app, account, yookassa):
    user_id, account_id, email = account
    yookassa.secret_key = "another"
    with app.app_context(), pytest.raises(payments.PaymentError) as error:
        payments.start_topup(account_id, 50_000, RETURN_URL, save_card=False, email=email, user_id=user_id)
    assert error.value.code == "provider_auth_failed"
