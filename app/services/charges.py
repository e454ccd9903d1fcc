"""Charging calls and SMS to a client's balance (B3, B9), and the dialing gate (the overdraft policy).

Posting (ARCHITECTURE "Money"): the client is debited the retail price; MTT's account is credited MTT's cost
(the call record's provider cost when known, else the tariff's cost column); the markup account takes the
rest (retail - cost, negative when MTT charged more than the retail price: then the markup account is
debited). Every charge posts once per ledger key (`call:<request_id>:<attempt>`, `sms:<sms_id>`); a repeated
key posts nothing and returns the first posting. Everything is computed before anything is written, so a
charge that raises (no tariff, an unknown destination) leaves the database as it was.

The gate (`may_dial`): a call is dialed only if the rent is active, the account's dialing is not paused by
its hourly spend cap (`spend_guard`) and the balance covers the minimum; its `duration` sent to MTT is capped
at what the balance covers. Charges post after the call and may take the
balance below zero; see `may_dial` for the bound.

Services flush, never commit: the caller commits.
"""
from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from app.services import DomainError, account_state, ledger, notify_events, spend_guard, tariffs
from app.services.settings import get_settings
from app.services.tariffs import Leg, whole_kopecks


class ChargeError(DomainError):
    code = "charge_error"


def _post_split(key: str, kind: str, account_id: int, retail_kop: int, cost_kop: int,
                memo: str) -> ledger.Posted | None:
    """Debit the client the retail price; MTT gets its cost, the markup account the rest (or pays the loss).

    Free for the client but billed by MTT (a leg under the free threshold that MTT still counts): the markup
    account pays MTT, under the same key, so what MTT is owed is always recorded and still posted once.
    """
    if retail_kop == 0 and cost_kop == 0:
        return None
    posted = ledger.post(key, kind, [
        (ledger.client_account(account_id), -retail_kop),
        (ledger.system_account(ledger.MTT), cost_kop),
        (ledger.system_account(ledger.MARKUP), retail_kop - cost_kop),
    ], memo=memo)
    notify_events.charged(account_id, posted)  # spending at "instant" frequency
    if posted.created and retail_kop > 0:
        spend_guard.after_charge(account_id)  # X1: this charge may bring the hour's spend to the cap
    return posted


def charge_call(account_id: int, request_id: int | str, attempt: int, legs: Iterable[Leg],
                provider_cost_kop: int | None = None, at: dt.datetime | None = None) -> ledger.Posted | None:
    """Charge one attempt of a call, once, at the tariff in force at `at` (the call's time; now by default).

    `legs` are the attempt's legs with their billable seconds; the price is `tariffs.price_call`'s.
    `provider_cost_kop` is MTT's cost from the call record (whole call, integer kopecks), else the tariff's.
    A call free for the client (no leg above the free threshold) posts nothing and returns None, unless MTT's
    call record bills it: then the service's markup pays MTT's cost (see `_post_split`).
    """
    if type(attempt) is not int or attempt < 1:
        raise ChargeError(f"an attempt is a number from 1, got {attempt!r}")
    if provider_cost_kop is not None and (type(provider_cost_kop) is not int or provider_cost_kop < 0):
        raise ChargeError(f"a provider cost is whole kopecks, at least 0, got {provider_cost_kop!r}")
    price = tariffs.price_call(tariffs.current_tariff(at), list(legs))
    cost_kop = price.cost_kop if provider_cost_kop is None else provider_cost_kop
    memo = "; ".join(f"{p.leg} {p.number} {p.billable_s}s={p.retail_kop}" for p in price.legs)
    return _post_split(f"call:{request_id}:{attempt}", "call", account_id, price.retail_kop, cost_kop, memo)


def charge_sms(account_id: int, sms_id: int | str, at: dt.datetime | None = None) -> ledger.Posted | None:
    """Charge one SMS, once, at the tariff's SMS retail price (MTT gets the tariff's SMS cost)."""
    tariff = tariffs.current_tariff(at)
    return _post_split(f"sms:{sms_id}", "sms", account_id, tariff.sms_retail_kop, tariff.sms_cost_kop,
                       f"sms {sms_id}")


@dataclass(frozen=True)
class Gate:
    allowed: bool
    reason: str | None  # None when allowed, else "rent_inactive", "spend_cap" or "low_balance"
    max_duration_s: int  # the `duration` to send to MTT; 0 when refused
    balance_kop: int = 0  # the balance the decision saw
    minimum_kop: int = 0  # the balance a call needs


def _leg_rates(tariff, numbers: Mapping[str, str] | None) -> dict[str, Decimal]:
    """Retail per minute of each leg: its number's rate when known, else the dearest rate of that leg."""
    rates = {}
    for leg in tariffs.LEGS:
        number = (numbers or {}).get(leg)
        if number:
            rates[leg] = tariffs.rate_for(tariff, *tariffs.destination(number), leg).retail_kop_per_min
        else:
            rates[leg] = max((r.retail_kop_per_min for r in tariff.rates if r.leg == leg), default=Decimal(0))
    return rates


def _minutes_price(rates: Mapping[str, Decimal], minutes: int) -> int:
    """What `minutes` whole minutes on every leg cost: price_call's rule (per leg, rounded up)."""
    return sum(whole_kopecks(minutes * rate) for rate in rates.values())


def may_dial(account_id: int, numbers: Mapping[str, str] | None = None, at: dt.datetime | None = None) -> Gate:
    """Whether a call may be dialed for the account now, and for how long at most.

    - Refused `rent_inactive` unless the account's rent (or trial) runs (`account_state`).
    - Refused `spend_cap` while the account's dialing is paused by its hourly spend cap; a spend that reached
      the cap pauses it here if no charge did yet (`spend_guard.is_paused`).
    - Refused `low_balance` unless the balance covers the minimum: `dial_minimum_minutes` (default 2) minutes
      of the dearest leg, i.e. the higher of the two legs' retail rates, rounded up; and also at least one
      whole minute of both legs (with rates rounded up per leg this can exceed the minimum by a kopeck or two).
      A leg's rate is its number's when `numbers` ({"manager": ..., "client": ...}) names it, else the
      dearest rate of that leg in the tariff in force (so an unknown destination never lets more through).
    - `max_duration_s` = 60 × the most whole minutes of both legs the balance pays for (price_call's rule),
      capped at `max_call_duration_s` (default 3600).

    So an admitted call, held to `max_duration_s`, costs at most the balance the gate saw. Charges post after
    the call; with N calls of one account in flight at once, the balance ends at worst at
    -(N - 1) × the dearest admitted call (each call was paid for by the balance it saw, which at worst
    did not yet include the charges of the other N - 1 calls in flight).
    """
    settings = get_settings()
    status = account_state.status_of(account_id, at)
    balance_kop = status.balance_kop
    if not status.is_rent_active:
        return Gate(False, "rent_inactive", 0, balance_kop)
    if spend_guard.is_paused(account_id, at):
        return Gate(False, "spend_cap", 0, balance_kop)
    rates = _leg_rates(tariffs.current_tariff(at), numbers)
    minimum_kop = whole_kopecks(settings.dial_minimum_minutes * max(rates.values()))
    per_minute = sum(rates.values())
    cap_minutes = math.ceil(settings.max_call_duration_s / 60)
    if per_minute == 0:
        minutes = cap_minutes
    else:
        # No more minutes than balance / rate (rounding only adds); then down to what rounding up allows.
        minutes = min(cap_minutes, int(Decimal(max(balance_kop, 0)) / per_minute))
        while minutes > 0 and _minutes_price(rates, minutes) > balance_kop:
            minutes -= 1
    max_duration_s = min(minutes * 60, settings.max_call_duration_s)
    if balance_kop < minimum_kop or minutes < 1:
        return Gate(False, "low_balance", 0, balance_kop, minimum_kop)
    return Gate(True, None, max_duration_s, balance_kop, minimum_kop)
