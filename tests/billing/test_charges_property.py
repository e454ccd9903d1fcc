"""Ledger properties of charging (B9, reliability test 14), with Hypothesis.

Random sequences of call charges, SMS charges, top-ups, rent purchases and manual adjustments, with repeated
keys and operations that must be refused (no tariff at the call's date, rent the balance does not cover, a zero
adjustment), against a model written here: after every step each transaction sums to zero and each cached balance
equals its entries (`integrity_problems`), the client's balance is the model's, a repeated key changes nothing
and a refused operation changes nothing even when the caller commits afterwards.
"""
from __future__ import annotations

import datetime as dt
import functools
import itertools
import math

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.db import utcnow
from app.extensions import db
from app.models import Account, LedgerAccount, LedgerEntry, LedgerTransaction, User
from app.services import adjustments, charges, ledger, rent
from app.services.adjustments import AdjustmentError
from app.services.rent import RentError
from app.services.tariffs import Leg, TariffError

# The starting tariff (migration 0004), written out again: (retail, cost) per minute, threshold 3 s, SMS 3/2.
RATES = {("RU", "mobile"): (250, 150), ("RU", "fixed"): (150, 80),
         ("*", "mobile"): (1500, 1000), ("*", "fixed"): (900, 600)}
NUMBERS = {"+79161234567": ("RU", "mobile"), "+74951234567": ("RU", "fixed"),
           "+4915123456789": ("*", "mobile"), "sip:desk@pbx.example": ("*", "fixed"), "no number": None}
SECONDS = st.sampled_from([0, 1, 3, 4, 59, 60, 61, 119, 3600])
_RUNS = itertools.count(1)

calls = st.tuples(st.just("call"), st.integers(1, 4), st.integers(1, 2),
                  st.sampled_from(sorted(NUMBERS)), SECONDS, st.sampled_from(sorted(NUMBERS)), SECONDS,
                  st.one_of(st.none(), st.integers(0, 20_000)),
                  st.integers(0, 5).map(lambda n: n == 0))  # sometimes at a date before any tariff: refused
smss = st.tuples(st.just("sms"), st.integers(1, 3))
top_ups = st.tuples(st.just("top_up"), st.integers(1, 3), st.integers(1, 300_000))
rents = st.tuples(st.just("rent"), st.sampled_from([1, 3, 12]))
adjustments_ = st.tuples(st.just("adjust"), st.integers(1, 3), st.integers(-20_000, 20_000))
operations = st.lists(st.one_of(calls, smss, top_ups, rents, adjustments_), min_size=1, max_size=25)
RENT = {1: 99_000, 3: 282_150, 12: 950_400}  # 990 RUB a month; 5 % off 3 months, 20 % off 12 (rounded down)


def reference_leg(number: str, seconds: int) -> tuple[int, int] | None:
    """(retail, cost) of one leg; None when the leg must be refused (a billable leg to no number)."""
    if seconds <= 3:
        return 0, 0
    if NUMBERS[number] is None:
        return None
    retail, cost = RATES[NUMBERS[number]]
    return math.ceil(seconds / 60) * retail, math.ceil(seconds / 60) * cost


def snapshot() -> tuple:
    """Everything the ledger holds: transactions, entries and balances."""
    return (
        db.session.execute(sa.select(LedgerTransaction.id, LedgerTransaction.key).order_by(LedgerTransaction.id)).all(),
        db.session.execute(sa.select(LedgerEntry.id, LedgerEntry.amount_kop).order_by(LedgerEntry.id)).all(),
        db.session.execute(sa.select(LedgerAccount.code, LedgerAccount.balance_kop).order_by(LedgerAccount.id)).all(),
    )


def split_of(posted) -> dict[str, int]:
    return {e.ledger_account.code: e.amount_kop for e in posted.transaction.entries}


class Refused(Exception):
    """The operation must be refused: nothing may change."""


def call_op(account_id: int, run: int, op: tuple):
    _, request, attempt, m_number, m_s, c_number, c_s, provider_cost, before_tariffs = op
    legs = [reference_leg(m_number, m_s), reference_leg(c_number, c_s)]
    call = functools.partial(
        charges.charge_call, account_id, f"{run}-{request}", attempt,
        [Leg("manager", m_number, m_s), Leg("client", c_number, c_s)], provider_cost_kop=provider_cost,
        at=dt.datetime(2025, 6, 1, tzinfo=dt.UTC) if before_tariffs else None)
    if before_tariffs or None in legs:
        with pytest.raises(TariffError):
            call()
        raise Refused
    retail = sum(leg[0] for leg in legs)
    cost = sum(leg[1] for leg in legs) if provider_cost is None else provider_cost
    expected = {"client": -retail, ledger.MTT: cost, ledger.MARKUP: retail - cost}
    return f"call:{run}-{request}:{attempt}", call(), expected


def sms_op(account_id: int, run: int, op: tuple):
    posted = charges.charge_sms(account_id, f"{run}-{op[1]}")
    return f"sms:{run}-{op[1]}", posted, {"client": -300, ledger.MTT: 200, ledger.MARKUP: 100}


def top_up_op(account_id: int, run: int, op: tuple):
    key = f"payment:test:{run}-{op[1]}"
    posted = ledger.post(key, "payment", [(ledger.client_account(account_id), op[2]),
                                          (ledger.system_account("system:cash"), -op[2])])
    return key, posted, {"client": op[2], "system:cash": -op[2]}


def rent_op(account_id: int, run: int, op: tuple, balance: int):
    price = RENT[op[1]]
    if balance < price:
        with pytest.raises(RentError):
            rent.buy(account_id, op[1])
        raise Refused
    key = rent.buy(account_id, op[1]).ledger_key
    posted = ledger.Posted(db.session.scalars(sa.select(LedgerTransaction).filter_by(key=key)).one(), created=True)
    return key, posted, {"client": -price, rent.REVENUE: price}


def adjust_op(account_id: int, run: int, op: tuple, staff_id: int):
    key = f"adjust:00000000-0000-4000-8000-{run:06d}{op[1]:06d}"
    if op[2] == 0:
        with pytest.raises(AdjustmentError):
            adjustments.adjust(account_id, 0, "typo guard", staff_id, key)
        raise Refused
    posted = adjustments.adjust(account_id, op[2], "property test", staff_id, key)
    return key, posted, {"client": op[2], adjustments.ADJUSTMENTS: -op[2]}


def apply_op(account_id: int, run: int, op: tuple, balance: int, staff_id: int):
    """Run one operation; returns (key, what was posted, the split the model expects) or raises Refused."""
    if op[0] == "call":
        return call_op(account_id, run, op)
    if op[0] == "sms":
        return sms_op(account_id, run, op)
    if op[0] == "top_up":
        return top_up_op(account_id, run, op)
    if op[0] == "rent":
        return rent_op(account_id, run, op, balance)
    return adjust_op(account_id, run, op, staff_id)


@pytest.fixture
def staff_id(app_ctx):
    """An administrator for adjustments; the system ledger accounts exist, as on a running service (a refused
    rent would otherwise create the empty rent revenue account while taking its lock)."""
    user = User(email="property-admin@example.com", password_hash="-", role="admin")
    db.session.add(user)
    for code in (rent.REVENUE, adjustments.ADJUSTMENTS, ledger.MTT, ledger.MARKUP, "system:cash"):
        ledger.system_account(code)
    db.session.commit()
    return user.id


@settings(max_examples=60, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(ops=operations)
def test_random_money_operations_keep_the_ledger_exact(staff_id, ops):
    run = next(_RUNS)
    account = Account(client_code=f"PROP-{run}", company="Property Co", trial_ends_at=utcnow() + dt.timedelta(days=1))
    db.session.add(account)
    db.session.flush()
    ledger.client_account(account.id)  # made at sign-up with the gift
    db.session.commit()
    client = f"client:{account.id}"
    posted_keys: dict[str, int] = {}  # key -> the client's entry
    for op in ops:
        before = snapshot()
        try:
            key, posted, expected = apply_op(account.id, run, op, sum(posted_keys.values()), staff_id)
        except Refused:
            db.session.commit()
            assert snapshot() == before, f"a refused {op[0]} changed the ledger"
            continue
        db.session.commit()
        expected = {client if code == "client" else code: amount for code, amount in expected.items() if amount}
        if not expected:
            assert posted is None
            assert snapshot() == before, "a free call changed the ledger"
        elif key in posted_keys:
            assert not posted.created
            assert snapshot() == before, "a repeated key changed the ledger"
        else:
            assert posted.created and posted.transaction.key == key
            assert split_of(posted) == expected
            posted_keys[key] = expected.get(client, 0)
        assert ledger.balance(account.id) == sum(posted_keys.values())
        assert ledger.integrity_problems() == []
