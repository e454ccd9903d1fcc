"""Refunds (issue 5): full and partial, debited once whatever notifications repeat; never more than was paid."""
from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from helpers import top_up
from payment_helpers import money_state, row

from app.extensions import db
from app.models import Refund
from app.services import ledger, payments
from dialer.tasks import billing as billing_tasks


@pytest.fixture
def admin_id(make_staff_user):
    return make_staff_user("admin")[0]


def refund(app, payment_id: int, kop: int, admin_id: int):
    with app.app_context():
        made = payments.refund(payment_id, kop, "Client asked", admin_id)
        db.session.commit()
        return made


def refund_error(app, payment_id: int, kop: int, admin_id: int) -> str:
    with app.app_context(), pytest.raises(payments.PaymentError) as error:
        payments.refund(payment_id, kop, "Client asked", admin_id)
    return error.value.code


@pytest.mark.backends
def test_a_full_refund_is_debited_once_however_often_yookassa_reports_it(app, backend, account, paid, admin_id,
                                                                         yookassa, client):
    _, account_id, _ = account
    payment = paid(50_000)
    before = money_state(app, account_id)[0]

    made = refund(app, payment.id, 50_000, admin_id)
    assert (made.status, made.debited_at is not None) == ("succeeded", True)
    assert money_state(app, account_id)[0] == before - 50_000
    [body] = [n for n in yookassa.notifications if n["event"] == "refund.succeeded"]
    for _ in range(2):  # refund.succeeded arrives, and again
        assert client.post("/hooks/yookassa", json=body, environ_base={"REMOTE_ADDR": "127.0.0.1"}).status_code == 200
    assert money_state(app, account_id)[0] == before - 50_000
    assert row(app, payment.id).refunded_kop == 50_000
    sent = [r["json"] for r in yookassa.requests if r["path"] == "/v3/refunds"]
    assert [(s["payment_id"], s["amount"]["value"]) for s in sent] == [(payment.provider_id, "500.00")]
    assert sent[0]["receipt"]["items"][0]["amount"] == {"value": "500.00", "currency": "RUB"}
    assert refund_error(app, payment.id, 1, admin_id) == "invalid_amount"
    with app.app_context():
        assert ledger.integrity_problems() == []


def test_partial_refunds_up_to_the_payment_and_no_further(app, account, paid, admin_id, yookassa):
    _, account_id, _ = account
    payment = paid(50_000)
    before = money_state(app, account_id)[0]
    refund(app, payment.id, 20_000, admin_id)
    assert refund_error(app, payment.id, 30_001, admin_id) == "invalid_amount"
    refund(app, payment.id, 30_000, admin_id)
    assert money_state(app, account_id)[0] == before - 50_000
    assert row(app, payment.id).refunded_kop == 50_000
    assert len([r for r in yookassa.requests if r["path"] == "/v3/refunds"]) == 2


def test_a_refund_may_take_the_balance_below_zero(app, account, paid, admin_id):
    _, account_id, _ = account
    payment = paid(50_000)
    with app.app_context():
        top_up(account_id, -ledger.balance(account_id))  # spent it all
        db.session.commit()
    refund(app, payment.id, 50_000, admin_id)
    assert money_state(app, account_id)[0] == -50_000


@pytest.mark.parametrize("kop", [0, -1])
def test_a_refund_of_nothing_is_refused(app, account, paid, admin_id, kop):
    payment = paid(50_000)
    assert refund_error(app, payment.id, kop, admin_id) == "invalid_amount"


def test_only_a_succeeded_payment_is_refundable(app, account, start, admin_id, yookassa):
    payment = start(50_000)
    assert refund_error(app, payment.id, 10_000, admin_id) == "not_refundable"
    assert [r for r in yookassa.requests if r["path"] == "/v3/refunds"] == []


@pytest.mark.backends
def test_a_pending_refund_is_debited_when_it_succeeds_by_notification_or_reconciler(app, backend, account, paid,
                                                                                    admin_id, yookassa, client):
    _, account_id, _ = account
    first, second = paid(50_000), paid(30_000)
    before = money_state(app, account_id)[0]
    yookassa.refunds_pending = True
    made = refund(app, first.id, 10_000, admin_id)
    assert (made.status, made.debited_at) == ("pending", None)
    assert money_state(app, account_id)[0] == before
    assert refund_error(app, first.id, 40_001, admin_id) == "invalid_amount"  # the pending one counts

    yookassa.succeed_refund(made.provider_id)
    assert [r.status_code for r in yookassa.deliver(client)] == [200]
    assert money_state(app, account_id)[0] == before - 10_000

    late = refund(app, second.id, 30_000, admin_id)  # its notification is lost: the reconciler settles it
    yookassa.succeed_refund(late.provider_id)
    assert billing_tasks.reconcile_payments.call_local(late.created_at + dt.timedelta(minutes=3)) == 1
    assert money_state(app, account_id)[0] == before - 40_000
    assert (row(app, first.id).refunded_kop, row(app, second.id).refunded_kop) == (10_000, 30_000)
    assert [r.status_code for r in yookassa.deliver(client)] == [200]  # and then it arrives after all
    assert money_state(app, account_id)[0] == before - 40_000


@pytest.mark.backends
def test_a_refund_yookassa_did_not_answer_is_resent_under_its_key_and_made_once(app, backend, account, paid,
                                                                                admin_id, yookassa):
    """The answer is lost (YooKassa made the refund after our deadline): the form sent again with its key, and
    the reconciler, resend the same Idempotence-Key, so one refund is made and debited once."""
    _, account_id, _ = account
    payment = paid(50_000)
    before = money_state(app, account_id)[0]
    yookassa.hang(3)  # over the fixture's 2 s deadline
    with app.app_context(), pytest.raises(payments.PaymentError) as error:
        payments.refund(payment.id, 20_000, "Client asked", admin_id, key="form-key-1")
    assert error.value.code == "provider_unavailable"
    with app.app_context():
        db.session.commit()  # as the view does: the unanswered refund stays reserved
    yookassa.hang(0)

    with app.app_context():
        again = payments.refund(payment.id, 20_000, "Client asked", admin_id, key="form-key-1")
        db.session.commit()
        assert billing_tasks.reconcile_payments.call_local(again.created_at + dt.timedelta(minutes=3)) == 0
        again_id, again_status = again.id, again.status
    assert again_status == "succeeded"
    assert len(yookassa.refunds) == 1
    assert {r["headers"]["Idempotence-Key"] for r in yookassa.requests if r["path"] == "/v3/refunds"} == {
        "form-key-1"}
    assert money_state(app, account_id)[0] == before - 20_000
    assert row(app, payment.id).refunded_kop == 20_000
    with app.app_context():
        assert payments.refund(payment.id, 20_000, "Client asked", admin_id, key="form-key-1").id == again_id


def test_the_reconciler_resends_a_refund_yookassa_never_answered(app, account, paid, admin_id, yookassa):
    _, account_id, _ = account
    payment = paid(50_000)
    before = money_state(app, account_id)[0]
    yookassa.fail_next(500)
    with app.app_context():
        with pytest.raises(payments.PaymentError, match="refund"):
            payments.refund(payment.id, 10_000, "Client asked", admin_id)
        db.session.commit()  # as the view does: kept `new`, its amount reserved
        [(status, created_at)] = db.session.execute(sa.select(Refund.status, Refund.created_at)).all()
        db.session.commit()
    assert status == "new"
    with app.app_context():
        assert billing_tasks.reconcile_payments.call_local(created_at + dt.timedelta(minutes=3)) == 1
    assert money_state(app, account_id)[0] == before - 10_000
    assert len(yookassa.refunds) == 1
