"""Payments tests: the app points at a fake YooKassa on loopback (the `yookassa` fixture), real HTTP and DB."""
from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from helpers import top_up
from payment_helpers import MONTH_KOP, RETURN_URL

from app.extensions import db
from app.models import Account, Payment, Tariff, User
from app.services import ledger, payments, rent


@pytest.fixture
def app_overrides(yookassa, request):
    return yookassa.app_config(**getattr(request, "param", {}))


@pytest.fixture
def account(make_client_user):
    """(user id, account id, e-mail) of a fresh client account."""
    user_id, account_id, email, _ = make_client_user()
    return user_id, account_id, email


@pytest.fixture
def start(app, account):
    """Factory: start a top-up of `kop` for the account (committed, as the view does); returns the Payment."""
    def make(kop: int = 50_000, save_card: bool = False, account_id: int | None = None) -> Payment:
        user_id, own_account_id, email = account
        account_id = account_id or own_account_id
        with app.app_context():
            if account_id != own_account_id:
                email = db.session.scalar(sa.select(User.email).where(User.account_id == account_id))
            payment = payments.start_topup(account_id, kop, RETURN_URL, save_card=save_card, email=email,
                                           user_id=user_id)
            db.session.commit()
            return payment
    return make


@pytest.fixture
def paid(start, yookassa, client):
    """Factory: a top-up paid on the checkout page and its notification delivered; returns the Payment."""
    def make(kop: int = 50_000, save_card: bool = False, account_id: int | None = None) -> Payment:
        payment = start(kop, save_card, account_id)
        assert yookassa.press(payment.confirmation_url, "Pay").status_code == 303
        assert [r.status_code for r in yookassa.deliver(client)] == [200]
        return payment
    return make


@pytest.fixture
def rent_tariff(app):
    """A tariff in force from just after the starting one, whose rent is 500 RUB a month."""
    with app.app_context():
        db.session.add(Tariff(name="Rent test", effective_from=dt.datetime(2026, 1, 1, 0, 0, 1, tzinfo=dt.UTC),
                              rent_month_kop=MONTH_KOP, rent_discounts={}, sms_retail_kop=0, sms_cost_kop=0))
        db.session.commit()


@pytest.fixture
def rent_paid(app, rent_tariff):
    """Make `account_id` (trial over) have one bought month ending at `ends_at` and `balance` kopecks left."""
    def make(account_id: int, ends_at: dt.datetime, balance: int) -> None:
        with app.app_context():
            starts_at = rent.add_months(ends_at, -1)
            db.session.get(Account, account_id).trial_ends_at = starts_at
            _top_up_to(account_id, MONTH_KOP)
            rent.buy(account_id, 1, now=starts_at)
            _top_up_to(account_id, balance)
            db.session.commit()
    return make


def _top_up_to(account_id: int, balance: int) -> None:
    if balance != ledger.balance(account_id):
        top_up(account_id, balance - ledger.balance(account_id))
