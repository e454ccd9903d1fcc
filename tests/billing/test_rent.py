"""Buying rent (B1): prices with discounts, periods that follow each other, money only from the balance."""
from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from helpers import top_up

from app.db import utcnow
from app.extensions import db
from app.models import Account, LedgerTransaction, RentPeriod, Tariff
from app.services import account_state, ledger, rent
from app.services.rent import RentError

MONTH_KOP = 99_999  # odd, so that discounts leave fractions of a kopeck
DISCOUNTS = {"3": 5, "6": 10, "12": 20}


@pytest.fixture
def rent_tariff(app):
    """A tariff in force from a minute ago (later than the starting one), whose rent is 999.99 RUB a month."""
    with app.app_context():
        db.session.add(Tariff(name="Rent test", effective_from=utcnow() - dt.timedelta(minutes=1),
                              rent_month_kop=MONTH_KOP, rent_discounts=DISCOUNTS, sms_retail_kop=0, sms_cost_kop=0))
        db.session.commit()


@pytest.fixture
def rent_now():
    return utcnow().replace(microsecond=0) + dt.timedelta(hours=1)


@pytest.fixture
def rent_account(app, app_ctx, make_client_user, rent_tariff, rent_now):
    """A client account whose trial ended a day before `rent_now`, with its gift spent: balance 0."""
    _, account_id, _, _ = make_client_user()
    db.session.get(Account, account_id).trial_ends_at = rent_now - dt.timedelta(days=1)
    top_up(account_id, -ledger.balance(account_id))
    db.session.commit()
    return account_id


def _periods(account_id: int) -> list[RentPeriod]:
    return list(db.session.scalars(sa.select(RentPeriod).where(RentPeriod.account_id == account_id)
                                   .order_by(RentPeriod.starts_at)))


def _rent_keys() -> list[str]:
    return list(db.session.scalars(sa.select(LedgerTransaction.key).where(LedgerTransaction.kind == "rent")
                                   .order_by(LedgerTransaction.id)))


@pytest.mark.parametrize(("months", "price"), [
    (1, 99_999), (2, 199_998),
    (3, 284_997),  # 299 997 × 0.95 = 284 997.15
    (5, 474_995),  # 499 995 × 0.95 = 474 995.25
    (6, 539_994),  # 599 994 × 0.90 = 539 994.6: rounded down
    (11, 989_990),  # 1 099 989 × 0.90 = 989 990.1
    (12, 959_990),  # 1 199 988 × 0.80 = 959 990.4
])
def test_the_price_takes_the_largest_discount_reached_rounded_down(months, price):
    tariff = Tariff(rent_month_kop=MONTH_KOP, rent_discounts=DISCOUNTS)
    assert rent.price_of(months, tariff) == price


@pytest.mark.parametrize("months", [0, 13, -1, 1.5])
def test_rent_is_bought_for_one_to_twelve_months(months):
    with pytest.raises(RentError) as caught:
        rent.price_of(months, Tariff(rent_month_kop=MONTH_KOP, rent_discounts=DISCOUNTS))
    assert caught.value.code == "invalid_months"


def test_months_are_calendar_months():
    utc = dt.UTC
    assert rent.add_months(dt.datetime(2026, 1, 31, 10, tzinfo=utc), 1) == dt.datetime(2026, 2, 28, 10, tzinfo=utc)
    assert rent.add_months(dt.datetime(2026, 11, 15, tzinfo=utc), 3) == dt.datetime(2027, 2, 15, tzinfo=utc)
    assert rent.add_months(dt.datetime(2028, 1, 30, tzinfo=utc), 1) == dt.datetime(2028, 2, 29, tzinfo=utc)
    assert rent.add_months(dt.datetime(2026, 1, 1, tzinfo=utc), 12) == dt.datetime(2027, 1, 1, tzinfo=utc)


def test_buying_one_month_after_expiry_starts_now_and_debits_once(rent_account, rent_now):
    top_up(rent_account, 150_000)
    assert account_state.status_of(rent_account, rent_now).state is account_state.State.EXPIRED

    period = rent.buy(rent_account, 1, now=rent_now)
    db.session.commit()

    assert (period.kind, period.months, period.price_kop) == ("bought", 1, MONTH_KOP)
    assert period.starts_at == rent_now and period.ends_at == rent.add_months(rent_now, 1)
    assert period.ledger_key == f"rent:{rent_account}:{rent_now.isoformat()}"
    assert ledger.balance(rent_account) == 150_000 - MONTH_KOP
    assert _rent_keys() == [period.ledger_key]
    assert ledger.system_account(rent.REVENUE).balance_kop == MONTH_KOP
    assert ledger.integrity_problems() == []
    assert account_state.status_of(rent_account, rent_now).state is account_state.State.ACTIVE


def test_buying_early_extends_the_running_period(rent_account, rent_now):
    top_up(rent_account, 2_000_000)
    first = rent.buy(rent_account, 1, now=rent_now)
    three = rent.buy(rent_account, 3, now=rent_now + dt.timedelta(days=3))
    twelve = rent.buy(rent_account, 12, now=rent_now + dt.timedelta(days=4))
    db.session.commit()

    assert three.starts_at == first.ends_at and three.ends_at == rent.add_months(first.ends_at, 3)
    assert twelve.starts_at == three.ends_at and twelve.ends_at == rent.add_months(three.ends_at, 12)
    assert [p.price_kop for p in _periods(rent_account)] == [99_999, 284_997, 959_990]
    assert ledger.balance(rent_account) == 2_000_000 - 99_999 - 284_997 - 959_990
    assert len(_rent_keys()) == 3
    assert ledger.integrity_problems() == []


def test_buying_during_the_trial_starts_when_the_trial_ends(rent_account, rent_now):
    trial_end = rent_now + dt.timedelta(days=5)
    db.session.get(Account, rent_account).trial_ends_at = trial_end
    top_up(rent_account, MONTH_KOP)

    period = rent.buy(rent_account, 1, now=rent_now)

    assert period.starts_at == trial_end
    assert ledger.balance(rent_account) == 0
    assert account_state.status_of(rent_account, trial_end + dt.timedelta(days=1)).state is account_state.State.ACTIVE


def test_insufficient_funds_change_nothing(rent_account, rent_now):
    top_up(rent_account, MONTH_KOP - 1)
    db.session.commit()

    with pytest.raises(RentError) as caught:
        rent.buy(rent_account, 1, now=rent_now)
    assert caught.value.code == "insufficient_funds"
    db.session.rollback()  # what a view does on a DomainError; the service wrote nothing before raising

    assert ledger.balance(rent_account) == MONTH_KOP - 1
    assert _periods(rent_account) == [] and _rent_keys() == []
    with pytest.raises(RentError):
        rent.buy(rent_account, 3, now=rent_now)  # 284 997 > 99 998 as well
    assert db.session.scalar(sa.select(sa.func.count()).select_from(RentPeriod)) == 0
