"""Renewal at a period's end (B6), exactly once however many runs meet (reliability test 16)."""
from __future__ import annotations

import datetime as dt
import threading

import pytest
import sqlalchemy as sa
from helpers import top_up

from app.db import utcnow
from app.extensions import db
from app.models import Account, LedgerTransaction, RentPeriod, Tariff
from app.services import account_state, ledger, rent
from app.services.rent import Renewal
from dialer.huey_app import huey
from dialer.tasks import billing as billing_tasks

MONTH_KOP = 50_000


@pytest.fixture
def rent_tariff(app):
    """A tariff in force from just after the starting one (2026-01-01), whose rent is 500 RUB a month."""
    with app.app_context():
        db.session.add(Tariff(name="Rent test", effective_from=dt.datetime(2026, 1, 1, 0, 0, 1, tzinfo=dt.UTC),
                              rent_month_kop=MONTH_KOP, rent_discounts={}, sms_retail_kop=0, sms_cost_kop=0))
        db.session.commit()


@pytest.fixture
def rent_paid(app, make_client_user, rent_tariff):
    """Factory: an account (trial over) with one bought month ending at `ends_at` and `balance` kopecks left."""
    def make(ends_at: dt.datetime, balance: int) -> int:
        _, account_id, _, _ = make_client_user()
        with app.app_context():
            starts_at = rent.add_months(ends_at, -1)
            db.session.get(Account, account_id).trial_ends_at = starts_at
            top_up(account_id, MONTH_KOP - ledger.balance(account_id))
            rent.buy(account_id, 1, now=starts_at)
            top_up(account_id, balance) if balance else None
            db.session.commit()
        return account_id
    return make


def _state(app, account_id: int) -> tuple[list[tuple], list[str], int]:
    with app.app_context():
        periods = [(p.kind, p.starts_at, p.ends_at, p.price_kop) for p in db.session.scalars(
            sa.select(RentPeriod).where(RentPeriod.account_id == account_id).order_by(RentPeriod.starts_at))]
        keys = list(db.session.scalars(sa.select(LedgerTransaction.key).where(
            LedgerTransaction.kind == "rent", LedgerTransaction.key.startswith(f"rent:{account_id}:"))))
        return periods, keys, ledger.balance(account_id)


def _renew(app, now: dt.datetime) -> list[rent.RenewalResult]:
    with app.app_context():
        results = rent.renew_due(now)
        db.session.commit()
        return results


def test_a_period_ending_within_the_hour_is_renewed_from_its_end(app, rent_paid):
    end = utcnow().replace(microsecond=0) + dt.timedelta(days=40)
    account_id = rent_paid(end, MONTH_KOP + 7)

    results = _renew(app, end - dt.timedelta(minutes=55))

    assert [(r.account_id, r.outcome, r.starts_at, r.price_kop) for r in results] == [
        (account_id, Renewal.RENEWED, end, MONTH_KOP)]
    periods, keys, balance = _state(app, account_id)
    assert periods[-1] == ("renewed", end, rent.add_months(end, 1), MONTH_KOP)
    assert keys[-1] == f"rent:{account_id}:{end.isoformat()}" and len(keys) == 2
    assert balance == 7
    with app.app_context():
        assert account_state.status_of(account_id, end + dt.timedelta(days=3)).state is account_state.State.ACTIVE
        assert ledger.integrity_problems() == []
    assert _renew(app, end - dt.timedelta(minutes=50)) == []  # the next run finds nothing due
    assert _state(app, account_id)[2] == 7


def test_a_period_far_from_its_end_is_left_alone(app, rent_paid):
    end = utcnow().replace(microsecond=0) + dt.timedelta(days=40)
    account_id = rent_paid(end, MONTH_KOP)
    assert _renew(app, end - dt.timedelta(hours=2)) == []
    assert _renew(app, end + rent.GRACE + dt.timedelta(minutes=1)) == []  # ended too long ago: buy again
    assert len(_state(app, account_id)[0]) == 1


def test_without_the_money_for_a_month_the_rent_expires(app, rent_paid):
    end = utcnow().replace(microsecond=0) + dt.timedelta(days=40)
    account_id = rent_paid(end, MONTH_KOP - 1)

    results = _renew(app, end - dt.timedelta(minutes=30))

    assert [(r.outcome, r.balance_kop) for r in results] == [(Renewal.INSUFFICIENT_FUNDS, MONTH_KOP - 1)]
    periods, keys, balance = _state(app, account_id)
    assert len(periods) == 1 and len(keys) == 1 and balance == MONTH_KOP - 1
    with app.app_context():
        status = account_state.status_of(account_id, end + dt.timedelta(minutes=1))
        assert status.state is account_state.State.EXPIRED and status.is_widget_passive


def test_money_arriving_just_after_the_end_still_continues_the_period(app, rent_paid):
    end = utcnow().replace(microsecond=0) + dt.timedelta(days=40)
    account_id = rent_paid(end, 0)
    assert _renew(app, end - dt.timedelta(minutes=30))[0].outcome is Renewal.INSUFFICIENT_FUNDS
    with app.app_context():
        top_up(account_id, MONTH_KOP)
        db.session.commit()
    assert [r.outcome for r in _renew(app, end + dt.timedelta(minutes=30))] == [Renewal.RENEWED]
    assert _state(app, account_id)[0][-1][1] == end


def test_a_trial_is_not_renewed(app, make_client_user, rent_tariff):
    _, account_id, _, _ = make_client_user()
    with app.app_context():
        trial_end = db.session.get(Account, account_id).trial_ends_at
        top_up(account_id, 10 * MONTH_KOP)
        db.session.commit()
    assert _renew(app, trial_end - dt.timedelta(minutes=10)) == []


@pytest.mark.backends
def test_two_concurrent_renewals_make_one_period_and_one_debit(app, rent_paid):
    end = utcnow().replace(microsecond=0) + dt.timedelta(days=40)
    account_id = rent_paid(end, 3 * MONTH_KOP)
    now = end - dt.timedelta(minutes=20)
    barrier = threading.Barrier(2)
    outcomes, errors = [], []

    def run():
        try:
            with app.app_context():
                barrier.wait(timeout=10)
                results = rent.renew_due(now)
                db.session.commit()
                outcomes.extend(r.outcome for r in results)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert outcomes.count(Renewal.RENEWED) == 1 and set(outcomes) <= {Renewal.RENEWED, Renewal.ALREADY}
    periods, keys, balance = _state(app, account_id)
    assert [p[0] for p in periods] == ["bought", "renewed"] and periods[1][1] == end
    assert len(keys) == 2 and balance == 2 * MONTH_KOP

    # A run that crashed before committing changes nothing; the runs after it renew nothing twice.
    with app.app_context():
        assert rent.renew_due(now) == []
        db.session.rollback()
    assert _renew(app, now) == []
    assert _state(app, account_id) == (periods, keys, balance)
    with app.app_context():
        assert ledger.integrity_problems() == []


@pytest.mark.backends
def test_a_crashed_run_is_redone_once(app, rent_paid):
    end = utcnow().replace(microsecond=0) + dt.timedelta(days=40)
    account_id = rent_paid(end, MONTH_KOP)
    now = end - dt.timedelta(minutes=20)
    with app.app_context():
        assert [r.outcome for r in rent.renew_due(now)] == [Renewal.RENEWED]
        db.session.rollback()  # the worker died before its commit
    assert len(_state(app, account_id)[0]) == 1
    assert [r.outcome for r in _renew(app, now)] == [Renewal.RENEWED]
    assert _renew(app, now) == []
    periods, keys, balance = _state(app, account_id)
    assert len(periods) == 2 and len(keys) == 2 and balance == 0


def test_the_hourly_task_is_registered_and_renews(app, rent_paid):
    import dialer.tasks

    assert dialer.tasks.billing is billing_tasks
    assert huey._registry.string_to_task("billing.renew") is billing_tasks.renew.task_class
    names = [huey._registry.task_to_string(type(t)) for t in huey.read_periodic(dt.datetime(2026, 3, 2, 7, 5))]
    assert "billing.renew" in names
    assert "billing.renew" not in [huey._registry.task_to_string(type(t))
                                   for t in huey.read_periodic(dt.datetime(2026, 3, 2, 7, 6))]

    account_id = rent_paid(utcnow().replace(microsecond=0) + dt.timedelta(minutes=30), MONTH_KOP)
    assert billing_tasks.renew.call_local() == 1
    assert len(_state(app, account_id)[0]) == 2
