"""Charging calls and SMS (B3, B9) and the dialing gate (overdraft policy), on SQLite and PostgreSQL."""
from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal

import pytest
import sqlalchemy as sa

from app.db import utcnow
from app.extensions import db
from app.models import Account, LedgerEntry, LedgerTransaction, Tariff, TariffRate
from app.services import charges, ledger
from app.services.settings import set_setting
from app.services.tariffs import Leg, TariffError

pytestmark = pytest.mark.backends

RU_MOBILE = "+79161234567"
RU_FIXED = "+74951234567"
DE_MOBILE = "+4915123456789"
_CODES = itertools.count(1)


def pricing_account(balance_kop: int = 0, trial_days: int = 14, name: str = "Pricing") -> int:
    """A client account in its trial (or past it, with trial_days < 0), topped up to `balance_kop`."""
    account = Account(client_code=f"PRICING-{next(_CODES)}", company=name,
                      trial_ends_at=utcnow() + dt.timedelta(days=trial_days))
    db.session.add(account)
    db.session.flush()
    if balance_kop:
        pricing_top_up(account.id, balance_kop, f"payment:test:{account.id}")
    db.session.commit()
    return account.id


def pricing_top_up(account_id: int, amount: int, key: str):
    return ledger.post(key, "payment", [(ledger.client_account(account_id), amount),
                                        (ledger.system_account("system:cash"), -amount)])


def entries_of(posted) -> dict[str, int]:
    rows = db.session.execute(
        sa.select(ledger.LedgerAccount.code, LedgerEntry.amount_kop).join(LedgerEntry.ledger_account)
        .where(LedgerEntry.transaction_id == posted.transaction.id)).all()
    return dict(rows)


def test_a_call_debits_the_client_and_splits_between_mtt_and_the_markup(app_ctx, backend):
    account_id = pricing_account(10_000)
    client = f"client:{account_id}"
    # Starting tariff: manager RU fixed 1.50/0.80 per minute, client RU mobile 2.50/1.50; 61 s = 2 minutes.
    posted = charges.charge_call(account_id, 7, 1, [Leg("manager", RU_FIXED, 61), Leg("client", RU_MOBILE, 61)])
    db.session.commit()
    assert posted.created and posted.transaction.key == "call:7:1" and posted.transaction.kind == "call"
    assert entries_of(posted) == {client: -800, ledger.MTT: 460, ledger.MARKUP: 340}
    assert ledger.balance(account_id) == 10_000 - 800
    assert ledger.integrity_problems() == []


def test_the_call_records_provider_cost_replaces_the_tariffs_cost(app_ctx, backend):
    account_id = pricing_account(10_000)
    legs = [Leg("manager", RU_FIXED, 30), Leg("client", RU_MOBILE, 30)]  # 150 + 250 retail
    posted = charges.charge_call(account_id, 8, 1, legs, provider_cost_kop=123)
    assert entries_of(posted) == {f"client:{account_id}": -400, ledger.MTT: 123, ledger.MARKUP: 277}
    # MTT charged more than the retail price: the markup account pays the difference; still balanced.
    dear = charges.charge_call(account_id, 8, 2, legs, provider_cost_kop=450)
    assert entries_of(dear) == {f"client:{account_id}": -400, ledger.MTT: 450, ledger.MARKUP: -50}
    db.session.commit()
    assert ledger.balance(account_id) == 10_000 - 800
    assert ledger.integrity_problems() == []


def test_a_call_is_charged_once_per_attempt(app_ctx, backend):
    account_id = pricing_account(10_000)
    legs = [Leg("manager", RU_FIXED, 100), Leg("client", RU_MOBILE, 90)]
    first = charges.charge_call(account_id, 9, 1, legs)
    db.session.commit()
    again = charges.charge_call(account_id, 9, 1, [Leg("manager", RU_FIXED, 900), Leg("client", RU_MOBILE, 900)])
    db.session.commit()
    assert first.created and not again.created and again.transaction.id == first.transaction.id
    second_attempt = charges.charge_call(account_id, 9, 2, legs)
    db.session.commit()
    assert second_attempt.created
    assert ledger.balance(account_id) == 10_000 - 2 * 800
    assert db.session.scalar(sa.select(sa.func.count()).select_from(LedgerTransaction)
                             .where(LedgerTransaction.kind == "call")) == 2
    assert ledger.integrity_problems() == []


def test_a_free_call_posts_nothing(app_ctx, backend):
    account_id = pricing_account(10_000)
    assert charges.charge_call(account_id, 10, 1, [Leg("manager", RU_FIXED, 3), Leg("client", RU_MOBILE, 0)]) is None
    db.session.commit()
    assert ledger.balance(account_id) == 10_000
    assert db.session.scalar(sa.select(sa.func.count()).select_from(LedgerTransaction)
                             .where(LedgerTransaction.key.like("call:%"))) == 0


def test_a_call_free_for_the_client_but_billed_by_mtt_is_paid_by_the_markup_once(app_ctx, backend):
    account_id = pricing_account(10_000)
    legs = [Leg("manager", RU_FIXED, 3), Leg("client", RU_MOBILE, 2)]
    posted = charges.charge_call(account_id, 11, 1, legs, provider_cost_kop=160)
    again = charges.charge_call(account_id, 11, 1, legs, provider_cost_kop=160)
    db.session.commit()
    assert entries_of(posted) == {ledger.MTT: 160, ledger.MARKUP: -160}
    assert not again.created
    assert ledger.balance(account_id) == 10_000
    assert ledger.integrity_problems() == []


def test_a_failed_charge_writes_nothing(app_ctx, backend):
    account_id = pricing_account(10_000)
    before = db.session.scalar(sa.select(sa.func.count()).select_from(LedgerEntry))
    with pytest.raises(TariffError):
        charges.charge_call(account_id, 11, 1, [Leg("client", "not a number", 61)])
    with pytest.raises(TariffError):
        charges.charge_call(account_id, 11, 1, [Leg("client", RU_MOBILE, 61)], at=dt.datetime(2020, 1, 1))
    with pytest.raises(charges.ChargeError):
        charges.charge_call(account_id, 11, 1, [Leg("client", RU_MOBILE, 61)], provider_cost_kop=1.5)
    db.session.commit()  # even if the caller commits
    assert db.session.scalar(sa.select(sa.func.count()).select_from(LedgerEntry)) == before
    assert ledger.balance(account_id) == 10_000


def test_an_sms_is_charged_once_at_the_tariffs_price(app_ctx, backend):
    account_id = pricing_account(1_000)
    posted = charges.charge_sms(account_id, 55)
    again = charges.charge_sms(account_id, 55)
    db.session.commit()
    assert posted.created and not again.created and posted.transaction.key == "sms:55"
    assert entries_of(posted) == {f"client:{account_id}": -300, ledger.MTT: 200, ledger.MARKUP: 100}
    assert ledger.balance(account_id) == 700
    assert ledger.integrity_problems() == []


def test_charges_take_the_tariff_in_force_at_the_calls_time(app_ctx, backend):
    start = dt.datetime(2027, 3, 1, tzinfo=dt.UTC)
    db.session.add(Tariff(name="Spring", effective_from=start, rent_month_kop=0, free_threshold_s=3,
                          sms_retail_kop=500, sms_cost_kop=100,
                          rates=[TariffRate(country="*", number_class=k, leg=leg, retail_kop_per_min=Decimal("0.37"),
                                            cost_kop_per_min=Decimal("0.11"))
                                 for k in ("mobile", "fixed") for leg in ("manager", "client")]))
    account_id = pricing_account(10_000)
    legs = [Leg("manager", RU_FIXED, 61), Leg("client", RU_MOBILE, 61)]
    old = charges.charge_call(account_id, 12, 1, legs, at=start - dt.timedelta(seconds=1))
    new = charges.charge_call(account_id, 12, 2, legs, at=start)
    sms = charges.charge_sms(account_id, 56, at=start)
    assert entries_of(old)[f"client:{account_id}"] == -800
    # 2 minutes × 0.37 = 0.74 -> 1 per leg; MTT's cost 0.22 -> 1 per leg: no markup left.
    assert entries_of(new) == {f"client:{account_id}": -2, ledger.MTT: 2}
    assert entries_of(sms) == {f"client:{account_id}": -500, ledger.MTT: 100, ledger.MARKUP: 400}


# ---------------------------------------------------------------------------------------------------------------
# The dialing gate


def test_dialing_needs_an_active_rent(app_ctx, backend):
    account_id = pricing_account(100_000, trial_days=-1)
    gate = charges.may_dial(account_id)
    assert (gate.allowed, gate.reason, gate.max_duration_s) == (False, "rent_inactive", 0)


def test_dialing_needs_the_minimum_balance_of_two_minutes_of_the_dearest_leg(app_ctx, backend):
    numbers = {"manager": RU_FIXED, "client": RU_MOBILE}  # 1.50 and 2.50 per minute: the minimum is 5.00
    account_id = pricing_account(499)
    gate = charges.may_dial(account_id, numbers)
    assert (gate.allowed, gate.reason, gate.minimum_kop, gate.balance_kop) == (False, "low_balance", 500, 499)
    pricing_top_up(account_id, 1, "payment:test:one-more")
    db.session.commit()
    gate = charges.may_dial(account_id, numbers)
    # 5.00 covers one minute of both legs (4.00), not two (8.00).
    assert (gate.allowed, gate.reason, gate.max_duration_s) == (True, None, 60)
    # Without numbers the dearest rates of the tariff count (15.00 per leg abroad): 30.00 needed.
    assert charges.may_dial(account_id).reason == "low_balance"
    assert charges.may_dial(account_id, {"manager": RU_FIXED, "client": DE_MOBILE}).minimum_kop == 3000
    set_setting("dial_minimum_minutes", 1)
    db.session.commit()
    assert charges.may_dial(account_id, numbers).minimum_kop == 250


def test_a_negative_balance_refuses_dialing(app_ctx, backend):
    account_id = pricing_account(500)
    charges.charge_call(account_id, 13, 1, [Leg("manager", RU_MOBILE, 120), Leg("client", RU_MOBILE, 120)])
    db.session.commit()
    assert ledger.balance(account_id) == -500
    gate = charges.may_dial(account_id)
    assert (gate.allowed, gate.reason) == (False, "low_balance")


@pytest.mark.parametrize("balance, max_duration_s", [
    (800, 120), (1199, 120), (1200, 180), (10_000, 1500), (1_000_000, 3600)])
def test_the_longest_call_is_what_the_balance_covers_capped(app_ctx, backend, balance, max_duration_s):
    """RU fixed + RU mobile: 4.00 a minute for both legs; the cap is an hour."""
    account_id = pricing_account(balance)
    gate = charges.may_dial(account_id, {"manager": RU_FIXED, "client": RU_MOBILE})
    assert gate.allowed and gate.max_duration_s == max_duration_s


def test_the_longest_call_never_costs_more_than_the_balance(app_ctx, backend):
    """With fractional rates rounded up per leg, the gate's duration is priced by price_call within the balance."""
    start = dt.datetime(2027, 3, 1, tzinfo=dt.UTC)
    db.session.add(Tariff(name="Odd", effective_from=start, rent_month_kop=0, free_threshold_s=3,
                          sms_retail_kop=1, sms_cost_kop=1,
                          rates=[TariffRate(country="*", number_class=k, leg=leg, retail_kop_per_min=Decimal(r),
                                            cost_kop_per_min=Decimal("0.01"))
                                 for k in ("mobile", "fixed") for leg, r in (("manager", "1.37"), ("client", "2.51"))]))
    db.session.commit()
    from app.services import tariffs

    tariff = tariffs.current_tariff(start)
    numbers = {"manager": RU_FIXED, "client": RU_MOBILE}
    for balance in (5, 6, 7, 8, 9, 40, 41, 117, 118, 119, 1000):
        account_id = pricing_account(balance, trial_days=3650, name=f"Odd {balance}")
        gate = charges.may_dial(account_id, numbers, at=start)
        # The minimum: 2 × 2.51 = 5.02 -> 6 kopecks; a minute of both legs costs 2 + 3 = 5.
        assert gate.allowed == (balance >= 6), balance
        if not gate.allowed:
            continue
        price = tariffs.price_call(tariff, [Leg("manager", RU_FIXED, gate.max_duration_s),
                                            Leg("client", RU_MOBILE, gate.max_duration_s)])
        more = tariffs.price_call(tariff, [Leg("manager", RU_FIXED, gate.max_duration_s + 60),
                                           Leg("client", RU_MOBILE, gate.max_duration_s + 60)])
        assert price.retail_kop <= balance, (balance, gate.max_duration_s)
        assert balance < more.retail_kop or gate.max_duration_s == 3600, (balance, gate.max_duration_s)
    assert gate.max_duration_s == 3600  # 1000 kopecks pay for more than the hour's cap (2.34 RUB)
