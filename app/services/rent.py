"""Rent (B1, B6): buying 1 to 12 months from the balance, and renewing a period that ends by one month.

Rent is bought only from funds (ARCHITECTURE.md, Money): the balance must cover the price, or nothing
changes. Every paid stretch is a `RentPeriod`, unique per (account, start), and its money one ledger
transaction keyed `rent:<account_id>:<period start, ISO 8601>`; both make a renewal happen once per period
however many renewal runs meet (reliability test 16).

Periods follow each other: a period bought while the service runs (trial or paid) starts where the service
would stop, so buying early extends; bought after expiry it starts at once. A month is a calendar month
(31 January + 1 month = 28/29 February).
"""
from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal

import sqlalchemy as sa

from app.db import insert, utcnow
from app.extensions import db
from app.models import Account, LedgerAccount, RentPeriod, Tariff
from app.services import DomainError, ledger, notify_events, tariffs

REVENUE = "system:rent"  # where rent money goes
MIN_MONTHS, MAX_MONTHS = 1, 12

# `renew_due` renews periods that end within LOOKAHEAD (so an hourly run renews each before it ends) or
# ended less than GRACE ago (so a worker that was down for a while still continues them seamlessly). A period
# that ended longer ago is left expired: the client buys again, and that period starts at the purchase.
LOOKAHEAD = dt.timedelta(minutes=65)
GRACE = dt.timedelta(days=1)


class RentError(DomainError):
    code = "rent_error"


def price_of(months: int, tariff: Tariff) -> int:
    """The price in kopecks of `months` months at `tariff`.

    The discount is the percent of the largest threshold in `tariff.rent_discounts` that `months` reaches
    ({"3": 5, "6": 10, "12": 20}: 3–5 months 5 % off, 6–11 months 10 %, 12 months 20 %). The discounted
    price is rounded DOWN to whole kopecks (in the client's favour; at most 99/100 of a kopeck).
    """
    if type(months) is not int or not MIN_MONTHS <= months <= MAX_MONTHS:
        raise RentError(f"rent is bought for {MIN_MONTHS} to {MAX_MONTHS} months, not {months!r}",
                        code="invalid_months")
    reached = [(int(threshold), Decimal(str(percent)))
               for threshold, percent in (tariff.rent_discounts or {}).items() if months >= int(threshold)]
    percent = max(reached)[1] if reached else Decimal(0)
    full = Decimal(tariff.rent_month_kop * months)
    return int((full * (100 - percent) / 100).to_integral_value(rounding=ROUND_FLOOR))


def add_months(moment: dt.datetime, months: int) -> dt.datetime:
    """`moment` plus calendar months; a day the month lacks becomes its last day."""
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    next_first = dt.date(year + month // 12, month % 12 + 1, 1)
    last_day = (next_first - dt.timedelta(days=1)).day
    return moment.replace(year=year, month=month, day=min(moment.day, last_day))


def ledger_key(account_id: int, starts_at: dt.datetime) -> str:
    return f"rent:{account_id}:{starts_at.astimezone(dt.UTC).isoformat()}"


def buy(account_id: int, months: int, now: dt.datetime | None = None) -> RentPeriod:
    """Buy `months` months of rent from the balance; raises RentError `insufficient_funds` (nothing changed).

    The period starts at the later of `now` and the end of the service already running or bought (trial
    included), so buying early extends it. Concurrent purchases of one account are serialised by a lock on
    its ledger account (SQLite: the immediate transaction), so the balance check holds until the commit.
    """
    now = now or utcnow()
    if db.session.get(Account, account_id) is None:
        raise RentError(f"account {account_id} does not exist", code="not_found")
    price = price_of(months, tariffs.current_tariff(now))
    _lock_revenue()
    balance = _locked_balance(account_id)
    if balance < price:
        raise RentError(f"the balance ({balance} kop) does not cover {months} month(s) of rent ({price} kop)",
                        code="insufficient_funds")
    starts_at = max([now, *filter(None, [_trial_end(account_id), _paid_end(account_id)])])
    period = _add_period(account_id, "bought", months, starts_at, price, memo=f"Rent, {months} month(s)")
    if period is None:  # only if the lock above was bypassed: never a double charge
        raise RentError("a rent period starting then already exists", code="rent_conflict")
    return period


class Renewal(enum.StrEnum):
    RENEWED = "renewed"
    INSUFFICIENT_FUNDS = "insufficient_funds"  # left to expire, unless the autopay card pays (billing.renew)
    ALREADY = "already"  # another run renewed this period first


@dataclass(frozen=True)
class RenewalResult:
    account_id: int
    starts_at: dt.datetime  # the start of the new period (= the end of the previous one)
    outcome: Renewal
    price_kop: int
    balance_kop: int


def renew_due(now: dt.datetime | None = None) -> list[RenewalResult]:
    """Extend by one month every paid service that ends within LOOKAHEAD (or ended less than GRACE ago) with
    no later period, if the balance covers a month at the current tariff (B6). Exactly once per period.

    Each account runs in its own savepoint; the caller commits. Concurrent runs queue on a lock (see
    `_lock_revenue`) and a later one finds the periods made and does nothing for them. Accounts whose free
    trial outlasts their last paid period, and accounts that never bought rent, are not renewed (the trial is
    not a rent period).
    """
    now = now or utcnow()
    latest = (sa.select(RentPeriod.account_id, sa.func.max(RentPeriod.ends_at).label("ends_at"))
              .group_by(RentPeriod.account_id).subquery())
    due = db.session.execute(
        sa.select(latest.c.account_id, latest.c.ends_at, Account.trial_ends_at)
        .join(Account, Account.id == latest.c.account_id)
        .where(latest.c.ends_at <= now + LOOKAHEAD, latest.c.ends_at > now - GRACE)
        .order_by(latest.c.account_id)).all()
    if not due:
        return []
    price = price_of(1, tariffs.current_tariff(now))
    _lock_revenue()  # a second run waits here for the first to commit
    results = []
    for account_id, ends_at, trial_ends_at in due:
        if trial_ends_at is not None and trial_ends_at > ends_at:
            continue
        with db.session.begin_nested():
            results.append(_renew_one(account_id, ends_at, price))
    return results


def renew_account(account_id: int, now: dt.datetime | None = None) -> RenewalResult | None:
    """`renew_due` for one account (after an autopay charge brought the money): None when it is not due."""
    now = now or utcnow()
    ends_at, trial_ends_at = db.session.execute(
        sa.select(sa.func.max(RentPeriod.ends_at), sa.func.max(Account.trial_ends_at))
        .join(Account, Account.id == RentPeriod.account_id).where(RentPeriod.account_id == account_id)).one()
    if ends_at is None or not now - GRACE < ends_at <= now + LOOKAHEAD:
        return None
    if trial_ends_at is not None and trial_ends_at > ends_at:
        return None
    price = price_of(1, tariffs.current_tariff(now))
    _lock_revenue()
    with db.session.begin_nested():
        return _renew_one(account_id, ends_at, price)


def _renew_one(account_id: int, starts_at: dt.datetime, price: int) -> RenewalResult:
    balance = _locked_balance(account_id)  # a concurrent run of this account waits here for our commit
    if _continued_past(account_id, starts_at):  # renewed by another run, or resumed by a payment meanwhile
        return RenewalResult(account_id, starts_at, Renewal.ALREADY, 0, balance)
    if balance < price:
        return RenewalResult(account_id, starts_at, Renewal.INSUFFICIENT_FUNDS, price, balance)
    period = _add_period(account_id, "renewed", 1, starts_at, price, memo="Rent renewed, 1 month")
    if period is None:
        return RenewalResult(account_id, starts_at, Renewal.ALREADY, 0, balance)
    return RenewalResult(account_id, starts_at, Renewal.RENEWED, price, balance - price)


def _add_period(account_id: int, kind: str, months: int, starts_at: dt.datetime, price: int,
                memo: str) -> RentPeriod | None:
    """Insert the period (nothing if one starts then already: returns None) and post its money once."""
    key = ledger_key(account_id, starts_at) if price else None
    stmt = insert(db.session, RentPeriod).values(
        account_id=account_id, kind=kind, months=months, starts_at=starts_at,
        ends_at=add_months(starts_at, months), price_kop=price, ledger_key=key, created_at=utcnow())
    stmt = stmt.on_conflict_do_nothing(index_elements=["account_id", "starts_at"]).returning(RentPeriod.id)
    period_id = db.session.execute(stmt).scalar_one_or_none()
    if period_id is None:
        return None
    if price:
        posted = ledger.post(key, "rent", [(ledger.client_account(account_id), -price),
                                           (ledger.system_account(REVENUE), price)], memo=memo)
        if not posted.created:
            raise RentError(f"ledger key {key} was posted before its period existed", code="rent_conflict")
    period = db.session.get(RentPeriod, period_id)
    notify_events.rent_added(period)
    return period


def _lock_revenue() -> None:
    """Lock order: the rent revenue account first, then the client's, then `ledger.post`'s id order.

    A renewal run locks many clients in one transaction; taking the revenue account first makes a second run
    (and a purchase) wait instead of deadlocking with it (PostgreSQL; SQLite serialises writers anyway).
    """
    revenue = ledger.system_account(REVENUE)
    db.session.execute(sa.select(LedgerAccount.id).where(LedgerAccount.id == revenue.id).with_for_update())


def _locked_balance(account_id: int) -> int:
    client = ledger.client_account(account_id)
    return db.session.execute(
        sa.select(LedgerAccount.balance_kop).where(LedgerAccount.id == client.id).with_for_update()).scalar_one()


def _continued_past(account_id: int, starts_at: dt.datetime) -> bool:
    """Whether a paid period already runs past `starts_at` (so a period starting then would overlap it)."""
    return db.session.scalar(sa.select(RentPeriod.id).where(
        RentPeriod.account_id == account_id, RentPeriod.ends_at > starts_at).limit(1)) is not None


def credit_and_resume(account_id: int, post_credit: Callable[[], ledger.Posted],
                      now: dt.datetime | None = None) -> ledger.Posted:
    """Post a payment's credit with `post_credit()`, then, paying restoring the service at once (B4), resume
    a stopped service (`resume_after_payment`). For a stopped service the rent lock is taken before the credit,
    so the lock order of `_lock_revenue` holds and a concurrent renewal cannot deadlock with the payment."""
    now = now or utcnow()
    stopped = not _is_running(account_id, now)
    if stopped:
        _lock_revenue()
    posted = post_credit()
    notify_events.credited(account_id, posted)  # N5, before the resumed rent's own notice
    if stopped and posted.created:
        resume_after_payment(account_id, now)
    return posted


def _is_running(account_id: int, now: dt.datetime) -> bool:
    trial_end, paid_end = _trial_end(account_id), _paid_end(account_id)
    return (trial_end is not None and trial_end > now) or (paid_end is not None and paid_end > now)


def resume_after_payment(account_id: int, now: dt.datetime | None = None) -> RentPeriod | None:
    """If the service has stopped (trial over, no paid period running) and the balance covers a month, buy one
    month at once — continuing the last period when it ended less than GRACE ago (as the hourly renewal would,
    under the same key), else from now. None when the service runs or the balance is short. Flushes only."""
    now = now or utcnow()
    if _is_running(account_id, now):
        return None
    price = price_of(1, tariffs.current_tariff(now))
    _lock_revenue()
    if _locked_balance(account_id) < price:
        return None
    paid_end = _paid_end(account_id)  # again, under the lock: a renewal may have just committed
    if paid_end is not None and paid_end > now:
        return None
    starts_at = paid_end if paid_end is not None and paid_end > now - GRACE else now
    return _add_period(account_id, "resumed", 1, starts_at, price, memo="Rent resumed after a payment, 1 month")


def _trial_end(account_id: int) -> dt.datetime | None:
    return db.session.scalar(sa.select(Account.trial_ends_at).where(Account.id == account_id))


def _paid_end(account_id: int) -> dt.datetime | None:
    return db.session.scalar(sa.select(sa.func.max(RentPeriod.ends_at)).where(RentPeriod.account_id == account_id))
