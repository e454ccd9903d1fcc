"""Ledger properties of charging (B9, reliability test 14), with Hypothesis.

Random sequences of call charges, SMS charges and top-ups, with repeated keys and operations that must be
refused, against a model written here: after every step each transaction sums to zero and each cached balance
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
from app.models import Account, LedgerAccount, LedgerEntry, LedgerTransaction
from app.services import charges, ledger
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
top_ups = st.tuples(st.just("top_up"), st.integers(1, 3), st.integers(1, 50_000))
operations = st.lists(st.one_of(calls, smss, top_ups), min_size=1, max_size=25)


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


@pytest.fixture
def pricing_ledger_app(app_ctx):
    return app_ctx


@settings(max_examples=60, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(ops=operations)
def test_random_charges_keep_the_ledger_exact(pricing_ledger_app, ops):
    run = next(_RUNS)
    account = Account(client_code=f"PROP-{run}", company="Property Co", trial_ends_at=utcnow() + dt.timedelta(days=1))
    db.session.add(account)
    db.session.commit()
    client = f"client:{account.id}"
    posted_keys: dict[str, int] = {}  # key -> the client's entry
    for op in ops:
        before = snapshot()
        if op[0] == "call":
            _, request, attempt, m_number, m_s, c_number, c_s, provider_cost, before_tariffs = op
            key = f"call:{run}-{request}:{attempt}"
            legs = [reference_leg(m_number, m_s), reference_leg(c_number, c_s)]
            call = functools.partial(
                charges.charge_call, account.id, f"{run}-{request}", attempt,
                [Leg("manager", m_number, m_s), Leg("client", c_number, c_s)], provider_cost_kop=provider_cost,
                at=dt.datetime(2025, 6, 1, tzinfo=dt.UTC) if before_tariffs else None)
            if before_tariffs or None in legs:
                with pytest.raises(TariffError):
                    call()
                db.session.commit()
                assert snapshot() == before, "a refused charge changed the ledger"
                continue
            retail = sum(leg[0] for leg in legs)
            cost = sum(leg[1] for leg in legs) if provider_cost is None else provider_cost
            posted = call()
            expected_split = {client: -retail, ledger.MTT: cost, ledger.MARKUP: retail - cost}
        elif op[0] == "sms":
            key = f"sms:{run}-{op[1]}"
            posted = charges.charge_sms(account.id, f"{run}-{op[1]}")
            retail, expected_split = 300, {client: -300, ledger.MTT: 200, ledger.MARKUP: 100}
        else:
            key = f"payment:test:{run}-{op[1]}"
            retail = -op[2]
            posted = ledger.post(key, "payment", [(ledger.client_account(account.id), op[2]),
                                                  (ledger.system_account("system:cash"), -op[2])])
            expected_split = {client: op[2], "system:cash": -op[2]}
        db.session.commit()

        if retail == 0:
            assert posted is None
            assert snapshot() == before, "a free call changed the ledger"
        elif key in posted_keys:
            assert not posted.created
            assert snapshot() == before, "a repeated key changed the ledger"
        else:
            assert posted.created and posted.transaction.key == key
            assert split_of(posted) == {code: amount for code, amount in expected_split.items() if amount}
            posted_keys[key] = -retail
        assert ledger.balance(account.id) == sum(posted_keys.values())
        assert ledger.integrity_problems() == []
