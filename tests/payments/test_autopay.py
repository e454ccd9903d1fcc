"""Saved cards and autopay (B7): renewal from the card, declines that detach it, auto top-up below a threshold."""
from __future__ import annotations

import datetime as dt
import threading

import pytest
import sqlalchemy as sa
from payment_helpers import MONTH_KOP, charges, money_state

from app.db import utcnow
from app.extensions import db
from app.models import LedgerTransaction, Payment, PaymentCard, RentPeriod
from app.services import account_state, ledger, payments
from dialer.tasks import billing as billing_tasks


@pytest.fixture
def card(app, account, paid):
    """A card saved by a paid top-up, with autopay switched on; returns (card id, YooKassa method id)."""
    _, account_id, _ = account
    paid(10_000, save_card=True)
    with app.app_context():
        card = payments.cards_of(account_id)[0]
        payments.set_autopay(account_id, is_enabled=True, card_id=card.id, threshold_kop=None, amount_kop=None)
        db.session.commit()
        return card.id, card.provider_method_id


def periods_and_rent_debits(app, account_id: int) -> tuple[int, int]:
    with app.app_context():
        periods = db.session.scalar(sa.select(sa.func.count()).select_from(RentPeriod)
                                    .where(RentPeriod.account_id == account_id))
        debits = db.session.scalar(sa.select(sa.func.count()).select_from(LedgerTransaction).where(
            LedgerTransaction.key.startswith(f"rent:{account_id}:")))
        return periods, debits


def test_a_card_saved_on_payment_becomes_the_autopay_card_but_autopay_stays_off(app, account, paid,
                                                                                make_client_user):
    _, account_id, _ = account
    paid(10_000, save_card=True)
    with app.app_context():
        [card] = payments.cards_of(account_id)
        assert (card.last4, card.card_type, card.expiry_month, card.expiry_year, card.title) == (
            "4444", "MasterCard", "12", "2030", "Bank card *4444")
        autopay = payments.autopay_of(account_id)
        assert (autopay.card_id, autopay.is_enabled) == (card.id, False)
        card_id = card.id

    _, other_id, _, _ = make_client_user()
    with app.app_context():
        assert payments.cards_of(other_id) == []
        with pytest.raises(payments.PaymentError) as error:
            payments.remove_card(other_id, card_id, user_id=None)
        assert error.value.code == "not_found"
        with pytest.raises(payments.PaymentError) as error:
            payments.set_autopay(other_id, is_enabled=True, card_id=card_id, threshold_kop=None, amount_kop=None)
        assert error.value.code == "no_card"


def test_a_top_up_without_consent_saves_no_card(app, account, paid):
    _, account_id, _ = account
    paid(10_000)
    with app.app_context():
        assert payments.cards_of(account_id) == []
        assert payments.autopay_of(account_id).card_id is None


def test_removing_the_autopay_card_switches_autopay_off(app, account, card):
    user_id, account_id, _ = account
    with app.app_context():
        payments.remove_card(account_id, card[0], user_id)
        db.session.commit()
        assert payments.cards_of(account_id) == []
        removed = db.session.get(PaymentCard, card[0])
        assert removed.removed_at is not None and removed.removal_reason == "client"
        autopay = payments.autopay_of(account_id)
        assert (autopay.is_enabled, autopay.card_id) == (False, None)
        with pytest.raises(payments.PaymentError) as error:
            payments.set_autopay(account_id, is_enabled=True, card_id=None, threshold_kop=None, amount_kop=None)
        assert error.value.code == "no_card"


@pytest.mark.parametrize("threshold, amount", [(10_000, None), (None, 10_000), (10_000, 9_999), (-1, 10_000),
                                               (10_000, payments.MAX_TOPUP_KOP + 1)])
def test_auto_top_up_settings_out_of_bounds_are_refused(app, account, card, threshold, amount):
    _, account_id, _ = account
    with app.app_context(), pytest.raises(payments.PaymentError) as error:
        payments.set_autopay(account_id, is_enabled=True, card_id=card[0], threshold_kop=threshold,
                             amount_kop=amount)
    assert error.value.code == "invalid_amount"


@pytest.mark.backends
def test_a_renewal_the_balance_does_not_cover_is_paid_by_the_card_once(app, backend, account, card, rent_paid,
                                                                       yookassa):
    _, account_id, _ = account
    end = utcnow().replace(microsecond=0) + dt.timedelta(minutes=30)
    rent_paid(account_id, end, 20_050)  # 299.50 RUB short: the card pays 300 RUB

    assert billing_tasks.renew.call_local(end - dt.timedelta(minutes=20)) == 1
    assert billing_tasks.renew.call_local(end - dt.timedelta(minutes=10)) == 0

    assert [c["amount"]["value"] for c in charges(yookassa)] == ["300.00"]
    assert charges(yookassa)[0]["payment_method_id"] == card[1] and "confirmation" not in charges(yookassa)[0]
    assert periods_and_rent_debits(app, account_id) == (2, 2)
    assert money_state(app, account_id)[0] == 20_050 + 30_000 - MONTH_KOP
    with app.app_context():
        assert account_state.status_of(account_id, end + dt.timedelta(days=3)).state is account_state.State.ACTIVE
        charge = db.session.scalar(sa.select(Payment).where(Payment.purpose == "autopay"))
        assert charge.status == "succeeded" and charge.idempotence_key.startswith(f"renewal:{account_id}:")
        assert ledger.integrity_problems() == []


def test_a_card_declined_as_expired_is_detached_and_the_rent_expires(app, account, card, rent_paid, yookassa):
    _, account_id, _ = account
    end = utcnow().replace(microsecond=0) + dt.timedelta(minutes=30)
    rent_paid(account_id, end, 0)
    yookassa.set_card_decline(card[1], "card_expired")

    assert billing_tasks.renew.call_local(end - dt.timedelta(minutes=20)) == 0
    assert billing_tasks.renew.call_local(end + dt.timedelta(minutes=40)) == 0
    assert len(charges(yookassa)) == 1  # autopay went off: no second attempt
    assert periods_and_rent_debits(app, account_id) == (1, 1)
    assert money_state(app, account_id)[0] == 0
    with app.app_context():
        removed = db.session.get(PaymentCard, card[0])
        assert removed.removed_at is not None and removed.removal_reason == "card_expired"
        assert payments.autopay_of(account_id).is_enabled is False
        assert account_state.status_of(account_id, end + dt.timedelta(minutes=1)).state is account_state.State.EXPIRED


def test_a_card_short_of_funds_is_tried_again_at_the_next_run(app, account, card, rent_paid, yookassa):
    _, account_id, _ = account
    end = utcnow().replace(microsecond=0) + dt.timedelta(minutes=30)
    rent_paid(account_id, end, 0)
    yookassa.set_card_decline(card[1], "insufficient_funds")
    assert billing_tasks.renew.call_local(end - dt.timedelta(minutes=20)) == 0
    with app.app_context():
        assert payments.cards_of(account_id) != [] and payments.autopay_of(account_id).is_enabled

    yookassa.set_card_decline(card[1], None)
    assert billing_tasks.renew.call_local(end + dt.timedelta(minutes=40)) == 1
    assert len(charges(yookassa)) == 2
    assert periods_and_rent_debits(app, account_id) == (2, 2)
    with app.app_context():
        rows = db.session.scalars(sa.select(Payment).where(Payment.purpose == "autopay").order_by(Payment.id)).all()
        assert [(p.status, p.cancellation_reason) for p in rows] == [
            ("canceled", "insufficient_funds"), ("succeeded", None)]
        assert rows[0].idempotence_key != rows[1].idempotence_key


@pytest.mark.backends
def test_auto_top_up_below_the_threshold_charges_once_across_two_runs(app, backend, account, card, yookassa):
    _, account_id, _ = account
    with app.app_context():
        payments.set_autopay(account_id, is_enabled=True, card_id=card[0], threshold_kop=40_000, amount_kop=30_000)
        db.session.commit()
    balance = money_state(app, account_id)[0]
    assert balance < 40_000 < balance + 30_000
    now = utcnow()

    assert billing_tasks.auto_topup.call_local(now) == 1
    assert billing_tasks.auto_topup.call_local(now + dt.timedelta(minutes=10)) == 0
    assert [c["amount"]["value"] for c in charges(yookassa)] == ["300.00"]
    assert money_state(app, account_id)[0] == balance + 30_000
    assert billing_tasks.auto_topup.call_local(now + dt.timedelta(hours=2)) == 0  # above the threshold now
    assert len(charges(yookassa)) == 1
    with app.app_context():
        assert ledger.integrity_problems() == []


def test_auto_top_up_is_not_charged_while_autopay_is_off(app, account, card, yookassa):
    _, account_id, _ = account
    with app.app_context():
        payments.set_autopay(account_id, is_enabled=False, card_id=card[0], threshold_kop=40_000, amount_kop=30_000)
        db.session.commit()
    assert billing_tasks.auto_topup.call_local(utcnow()) == 0
    assert charges(yookassa) == []


def _at_once(app, task, now, runs: int = 2) -> list:
    """Run `task` in `runs` threads released together; returns their results (errors re-raised)."""
    barrier, results, errors = threading.Barrier(runs), [], []

    def run():
        try:
            barrier.wait(timeout=10)
            results.append(task.call_local(now))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(runs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    return results


@pytest.mark.backends
def test_concurrent_runs_charge_the_card_once(app, backend, account, card, rent_paid, yookassa):
    _, account_id, _ = account
    end = utcnow().replace(microsecond=0) + dt.timedelta(minutes=30)
    rent_paid(account_id, end, 10_000)
    with app.app_context():
        payments.set_autopay(account_id, is_enabled=True, card_id=card[0], threshold_kop=5_000, amount_kop=10_000)
        db.session.commit()

    assert sorted(_at_once(app, billing_tasks.renew, end - dt.timedelta(minutes=20))) in ([0, 1], [1, 1])
    assert [c["amount"]["value"] for c in charges(yookassa)] == ["400.00"]
    assert periods_and_rent_debits(app, account_id) == (2, 2)
    assert money_state(app, account_id)[0] == 0

    _at_once(app, billing_tasks.auto_topup, end)  # now below the threshold: one top-up
    assert [c["amount"]["value"] for c in charges(yookassa)] == ["400.00", "100.00"]
    assert money_state(app, account_id)[0] == 10_000
    with app.app_context():
        assert ledger.integrity_problems() == []


@pytest.mark.parametrize("app_overrides", [{"YOOKASSA_TIMEOUT_S": 1}], indirect=True)
def test_an_auto_top_up_whose_answer_was_lost_is_sent_again_with_its_key_and_charged_once(app, account, card,
                                                                                          yookassa):
    _, account_id, _ = account
    with app.app_context():
        payments.set_autopay(account_id, is_enabled=True, card_id=card[0], threshold_kop=40_000, amount_kop=30_000)
        db.session.commit()
    balance = money_state(app, account_id)[0]
    now = utcnow()
    yookassa.hang(30)
    assert billing_tasks.auto_topup.call_local(now) == 0  # no answer in time
    yookassa.hang(0)  # the payment is made after all; its answer is lost
    assert billing_tasks.auto_topup.call_local(now + dt.timedelta(hours=1)) == 1

    keys = {r["headers"]["Idempotence-Key"] for r in yookassa.requests
            if r["json"] and "payment_method_id" in r["json"]}
    assert len(charges(yookassa)) == 2 and len(keys) == 1
    assert [p["status"] for p in yookassa.payments.values() if "Автопополнение" in p["description"]] == ["succeeded"]
    assert money_state(app, account_id)[0] == balance + 30_000
