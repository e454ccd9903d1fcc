"""Paying restores the service at once (B4): a credited payment or invoice resumes a stopped rent, once."""
from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from invoice_helpers import COMPANY
from payment_helpers import MONTH_KOP

from app.db import utcnow
from app.extensions import db
from app.models import Account, RentPeriod
from app.services import account_state, invoices, ledger, rent
from app.services.account_state import State

pytestmark = pytest.mark.backends


def expire(app, account_id: int, trial_ended_ago: dt.timedelta = dt.timedelta(days=3)) -> None:
    """End the trial of a new account (its gift stays on the balance)."""
    with app.app_context():
        db.session.get(Account, account_id).trial_ends_at = utcnow() - trial_ended_ago
        db.session.commit()


def periods(app, account_id: int) -> list[tuple[str, dt.datetime, dt.datetime, int]]:
    with app.app_context():
        return [tuple(r) for r in db.session.execute(
            sa.select(RentPeriod.kind, RentPeriod.starts_at, RentPeriod.ends_at, RentPeriod.price_kop)
            .where(RentPeriod.account_id == account_id).order_by(RentPeriod.starts_at))]


def state(app, account_id: int) -> tuple[State, int]:
    with app.app_context():
        status = account_state.status_of(account_id)
        return status.state, status.balance_kop


def test_a_card_top_up_of_an_expired_account_resumes_the_rent_at_once(app, account, rent_tariff, paid, yookassa,
                                                                      client):
    _, account_id, _ = account
    expire(app, account_id)
    gift = state(app, account_id)[1]
    assert state(app, account_id)[0] is State.EXPIRED

    paid(150_000)
    yookassa.deliver(client)  # nothing new; a late duplicate of the same payment resumes nothing more

    assert state(app, account_id) == (State.ACTIVE, gift + 150_000 - MONTH_KOP)
    [(kind, starts_at, ends_at, price)] = periods(app, account_id)
    assert (kind, price) == ("resumed", MONTH_KOP)
    assert abs(starts_at - utcnow()) < dt.timedelta(minutes=5) and ends_at == rent.add_months(starts_at, 1)


def test_a_payment_that_does_not_cover_a_month_is_credited_and_the_account_stays_expired(app, account, rent_tariff,
                                                                                        paid):
    _, account_id, _ = account
    expire(app, account_id)
    gift = state(app, account_id)[1]
    paid(MONTH_KOP - gift - 100)
    assert state(app, account_id) == (State.EXPIRED, MONTH_KOP - 100)
    assert periods(app, account_id) == []


def test_a_payment_while_the_service_runs_buys_no_rent(app, account, rent_tariff, paid):
    _, account_id, _ = account
    paid(200_000)
    assert state(app, account_id)[0] is State.TRIAL
    assert periods(app, account_id) == []


def test_a_paid_invoice_resumes_a_rent_that_ended_hours_ago_from_where_it_ended(app, account, rent_paid):
    _, account_id, _ = account
    ended_at = (utcnow() - dt.timedelta(hours=3)).replace(microsecond=0)
    rent_paid(account_id, ended_at, balance=0)
    with app.app_context():
        invoices.save_company_details(account_id, **COMPANY)
        invoice = invoices.issue(account_id, 100_000)
        db.session.commit()
        invoices.mark_paid(invoice.id, None)
        db.session.commit()
        invoices.mark_paid(invoice.id, None)  # marked twice: one credit, one period
        db.session.commit()
        renewals = rent.renew_due()  # the hourly renewal then finds the rent continued
        db.session.commit()

    assert [r.outcome for r in renewals] == []
    assert [(kind, starts_at) for kind, starts_at, _, _ in periods(app, account_id)][1:] == [("resumed", ended_at)]
    assert state(app, account_id) == (State.ACTIVE, 100_000 - MONTH_KOP)
    with app.app_context():
        assert ledger.integrity_problems() == []


def test_a_renewal_waiting_on_the_lock_does_not_add_a_period_over_a_resumed_one(app, account, rent_paid):
    """The renewal picked the period as due, then a payment resumed it first (from where it ended, the period
    the renewal would add): the renewal adds nothing and debits nothing."""
    _, account_id, _ = account
    ended_at = (utcnow() - dt.timedelta(hours=1)).replace(microsecond=0)
    rent_paid(account_id, ended_at, balance=3 * MONTH_KOP)
    with app.app_context():
        rent.resume_after_payment(account_id)
        db.session.commit()
        result = rent._renew_one(account_id, ended_at, MONTH_KOP)  # what the waiting run does next
        db.session.commit()
    assert result.outcome is rent.Renewal.ALREADY
    assert len(periods(app, account_id)) == 2
    assert state(app, account_id)[1] == 2 * MONTH_KOP
