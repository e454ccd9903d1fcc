"""What triggers the account notifications (issue 8 parts 2 and 4; N3–N6): events as they happen, and the
daily checks and digests computed in each account's time zone.

Events (called by the service where the event happens, in its transaction: a notice exists exactly when its
event was committed; each flushes, never commits). Each runs in a savepoint and logs its own failure instead of
raising it: a broken template or a mail-side bug must never undo a payment or a call's charge.

- `credited(account_id, posted)` from `rent.credit_and_resume` (card payments, paid invoices) and
  `adjustments.adjust` (a credit): `topup`, key `topup:<ledger key>`;
- `invoice_issued(invoice)` from `invoices.issue`: key `invoice_issued:<id>`;
- `invoice_paid(invoice)` from `invoices.mark_paid`: key `invoice_paid:<id>`;
- `rent_added(period)` from `rent._add_period` (bought, renewed, resumed): `rent_renewed`, key
  `rent_renewed:<the period's rent ledger key>`;
- `charged(account_id, posted)` from `charges._post_split` (a call or SMS the client paid for): `spending` at
  the "instant" frequency, key `spending:<ledger key>`;
- `dialing_paused(account, now, spent, cap)` from `spend_guard` (X1: the hourly spend cap reached):
  `dialing_paused` to the owner and `dialing_paused_service` to the service (`service_recipients`), keys
  `dialing_paused[_service]:<account>:<pause time>`.

Schedules (`dialer/tasks/notify.py`: `notify.daily` every 10 minutes, single-flight):
- `rent_expired` on every run, for a service that stopped within EXPIRED_WITHIN (the trial or the last paid
  period ended, nothing continues it): `rent_expired:<account>:<end, UTC ISO>`, so once per stop.
- The daily checks for every account whose local time is within [SEND_HOUR, SEND_UNTIL_HOUR) today (10:00 to
  21:59 in `account.timezone`: the first run after 10:00 sends, later runs catch up after an outage and find
  the day's keys used):
  * `low_balance` (N3): the balance is below the account's threshold and the service is not blocked for
    non-payment (`account_state` expired): `low_balance:<account>:<local date>`, so at most one a local day,
    never per charge; it stops by itself once the balance is back at or above the threshold.
  * `rent_ending` (N4): the service ends within `rent_warning_days` (global setting, 7) local days and the
    renewal will not happen by itself (a paid period whose balance covers a month is renewed, B6; a trial is
    never renewed): `rent_ending:<account>:<local date>`.
  * `spending` digests: "daily" → yesterday's local day, "weekly" → on local Mondays, the previous Monday to
    Sunday; exactly the client's call and SMS charges posted in that period (local midnight to local
    midnight); none when nothing was spent. Keys `spending:<account>:<period start>` (daily) and
    `spending:<account>:week:<period start>` (weekly), so switching the frequency never reuses a key.
`notifications.notify` applies the account's preference (on/off, frequency, the administrator's lock).
"""
from __future__ import annotations

import datetime as dt
import functools
import logging
import zoneinfo
from dataclasses import dataclass

import sqlalchemy as sa

from app.extensions import db
from app.models import (
    Account,
    CallbackRequest,
    Invoice,
    LedgerAccount,
    LedgerEntry,
    LedgerTransaction,
    Notification,
    Payment,
    RentPeriod,
    Role,
    SmsMessage,
    User,
)
from app.services import ledger, notifications, outbox, phones
from app.services.settings import get_settings

log = logging.getLogger(__name__)

SEND_HOUR = 10  # local hour from which the daily checks and digests go out
SEND_UNTIL_HOUR = 22  # ... and until which a run still catches up a day not sent yet
EXPIRED_WITHIN = dt.timedelta(days=1)  # a stop older than this is not announced (deploys, long outages)
DEFAULT_ZONE = "Europe/Moscow"
SPENDING_KINDS = ("call", "sms")
METHODS = {"payment": "card", "invoice": "invoice", "adjust": "adjustment"}


# --- helpers ----------------------------------------------------------------------------------------------------

def zone_of(name: str | None) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(name or DEFAULT_ZONE)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        log.warning("unknown time zone %r: %s used", name, DEFAULT_ZONE)
        return zoneinfo.ZoneInfo(DEFAULT_ZONE)


def _account(account_id: int) -> Account:
    return db.session.get(Account, account_id)


def _local(account: Account, moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(zone_of(account.timezone))


def _base(account: Account) -> dict:
    from app.urls import external_url

    return {"client_code": account.client_code, "company": account.company, "tz": account.timezone,
            "billing_url": external_url("portal.billing"), "topup_url": external_url("portal.topup")}


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


# --- events -----------------------------------------------------------------------------------------------------

def _guarded(trigger):
    """Run an event trigger in a savepoint; a failure is logged and rolled back, the event's own work stands."""
    @functools.wraps(trigger)
    def run(*args, **kwargs):
        try:
            with db.session.begin_nested():
                return trigger(*args, **kwargs)
        except Exception:
            log.exception("notification trigger %s failed; the event itself is kept", trigger.__name__)
            return None
    return run


@_guarded
def credited(account_id: int, posted: ledger.Posted) -> Notification | None:
    """N5: a credit just posted (card payment, paid invoice, administrator's credit): date, amount, method."""
    if posted is None or not posted.created:
        return None
    txn = posted.transaction
    amount = _client_amount(account_id, txn.id)
    if amount <= 0:
        return None
    account = _account(account_id)
    method = METHODS.get(txn.kind, "other")
    context = {**_base(account), "amount_kop": amount, "paid_at": _local(account, _aware(txn.created_at)),
               "method": method, "method_title": None, "invoice_number": None,
               "balance_kop": ledger.balance(account_id)}
    if method == "card":
        payment = db.session.scalar(sa.select(Payment).where(
            Payment.provider_id == txn.key.removeprefix("payment:yookassa:")))
        if payment is not None:
            context["method_title"] = payment.method_title
            context["purpose"] = payment.purpose
    elif method == "invoice":
        invoice = db.session.get(Invoice, int(txn.key.split(":", 1)[1]))
        context["invoice_number"] = invoice.number if invoice is not None else None
    return notifications.notify(account_id, "topup", context, dedup_key=f"topup:{txn.key}",
                                at=context["paid_at"])


def _client_amount(account_id: int, transaction_id: int) -> int:
    """What a ledger transaction moved on the client's balance (positive: credited)."""
    return db.session.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(LedgerEntry.amount_kop), 0))
        .join(LedgerAccount, LedgerAccount.id == LedgerEntry.ledger_account_id)
        .where(LedgerEntry.transaction_id == transaction_id, LedgerAccount.account_id == account_id)) or 0


def _invoice_context(invoice: Invoice) -> dict:
    from app.urls import external_url

    account = _account(invoice.account_id)
    return {**_base(account), "number": invoice.number, "amount_kop": invoice.amount_kop,
            "issued_at": _local(account, _aware(invoice.issued_at)),
            "due_on": _local(account, _aware(invoice.due_at)).date(),
            "paid_at": _local(account, _aware(invoice.paid_at)) if invoice.paid_at else None,
            "invoices_url": external_url("portal.invoices")}


@_guarded
def invoice_issued(invoice: Invoice) -> Notification | None:
    return notifications.notify(invoice.account_id, "invoice_issued", _invoice_context(invoice),
                                dedup_key=f"invoice_issued:{invoice.id}")


@_guarded
def invoice_paid(invoice: Invoice) -> Notification | None:
    context = {**_invoice_context(invoice), "balance_kop": ledger.balance(invoice.account_id)}
    return notifications.notify(invoice.account_id, "invoice_paid", context, dedup_key=f"invoice_paid:{invoice.id}")


@_guarded
def rent_added(period: RentPeriod) -> Notification | None:
    """A new rent period: renewed at the end of the last (B6), resumed by a payment, or bought by the client."""
    from app.services import rent

    account = _account(period.account_id)
    context = {**_base(account), "period_kind": period.kind, "months": period.months,
               "starts_at": _local(account, _aware(period.starts_at)),
               "ends_at": _local(account, _aware(period.ends_at)), "price_kop": period.price_kop,
               "balance_kop": ledger.balance(period.account_id)}
    key = rent.ledger_key(period.account_id, _aware(period.starts_at))
    return notifications.notify(period.account_id, "rent_renewed", context, dedup_key=f"rent_renewed:{key}")


@dataclass(frozen=True)
class Charge:
    at: dt.datetime  # local time
    kind: str  # call | sms
    number: str | None  # the client's (called) number, or the SMS's destination
    amount_kop: int  # what the client paid (positive)
    key: str


@_guarded
def dialing_paused(account: Account, now: dt.datetime, spent_kop: int, cap_kop: int) -> None:
    """X1: the spend cap paused the account's dialing: the owner and the service are told, once per pause."""
    from app.urls import external_url

    context = {**_base(account), "paused_at": _local(account, now), "spent_kop": spent_kop, "cap_kop": cap_kop,
               "cabinet_url": external_url("portal.dashboard")}
    stamp = now.astimezone(dt.UTC).isoformat()
    notifications.notify(account.id, "dialing_paused", context, dedup_key=f"dialing_paused:{account.id}:{stamp}")
    context["admin_url"] = external_url("accounts.details_view", id=account.id)
    for recipient in service_recipients():
        outbox.queue_email("dialing_paused_service", recipient, context, locale="ru", account_id=account.id,
                           dedup_key=f"dialing_paused_service:{account.id}:{stamp}:{recipient}"[:200])


def service_recipients() -> list[str]:
    """Where the service's alerts go: `service_alert_email`, else every active administrator."""
    address = get_settings().service_alert_email
    if address:
        return [address]
    return list(db.session.scalars(sa.select(User.email).where(User.role == Role.ADMIN.value,
                                                               User.is_active.is_(True)).order_by(User.id)))


def charged(account_id: int, posted: ledger.Posted | None) -> Notification | None:
    """Spending at "instant" frequency: one e-mail per call or SMS the client paid for (key: the ledger's)."""
    if posted is None or not posted.created:
        return None
    try:
        frequency = notifications.preference(account_id, "spending").frequency
    except Exception:
        log.exception("notification trigger charged failed; the charge itself is kept")
        return None
    if frequency != "instant":
        return None  # the usual case on the dialer's path: no savepoint, nothing rendered
    return _mail_charge(account_id, posted)


@_guarded
def _mail_charge(account_id: int, posted: ledger.Posted) -> Notification | None:
    account = _account(account_id)
    charges = _charges(account, [LedgerTransaction.id == posted.transaction.id])
    if not charges:
        return None  # free for the client (MTT's cost paid by the markup)
    context = {**_base(account), "charges": charges, "total_kop": charges[0].amount_kop, "digest": None,
               "balance_kop": ledger.balance(account_id)}
    return notifications.notify(account_id, "spending", context, dedup_key=f"spending:{posted.transaction.key}",
                                frequency="instant")


def _charges(account: Account, where: list) -> list[Charge]:
    rows = db.session.execute(
        sa.select(LedgerTransaction.key, LedgerTransaction.kind, LedgerTransaction.created_at, LedgerEntry.amount_kop)
        .join(LedgerEntry, LedgerEntry.transaction_id == LedgerTransaction.id)
        .join(LedgerAccount, LedgerAccount.id == LedgerEntry.ledger_account_id)
        .where(LedgerAccount.account_id == account.id, LedgerTransaction.kind.in_(SPENDING_KINDS),
               LedgerEntry.amount_kop < 0, *where)
        .order_by(LedgerTransaction.created_at, LedgerTransaction.id)).all()
    return [Charge(_local(account, _aware(at)), kind, _number_of(kind, key), -amount, key)
            for key, kind, at, amount in rows]


def _number_of(kind: str, key: str) -> str | None:
    """The client's number of a call (`call:<request>:<attempt>`), the destination of an SMS (`sms:<id>`)."""
    ref = key.split(":")[1] if ":" in key else ""
    if not ref.isdigit():
        return None
    if kind == "call":
        number = db.session.scalar(sa.select(CallbackRequest.phone).where(CallbackRequest.id == int(ref)))
    else:
        number = db.session.scalar(sa.select(SmsMessage.destination).where(SmsMessage.id == int(ref)))
    return phones.display(number) if number else None


# --- schedules --------------------------------------------------------------------------------------------------

def due_zones(now: dt.datetime) -> list[str]:
    """The accounts' time zones whose local time is within the sending hours today."""
    names = db.session.scalars(sa.select(Account.timezone).distinct()).all()
    return sorted(name for name in names
                  if SEND_HOUR <= now.astimezone(zone_of(name)).hour < SEND_UNTIL_HOUR)


def due_account_ids(now: dt.datetime) -> list[int]:
    """Accounts whose local time is within the sending hours today (the daily checks run for them)."""
    zones = due_zones(now)
    if not zones:
        return []
    return list(db.session.scalars(sa.select(Account.id).where(Account.timezone.in_(zones)).order_by(Account.id)))


def service_end(account_id: int) -> dt.datetime | None:
    """When the service stops unless renewed: the later of the trial's end and the last paid period's end.

    Periods follow each other (a purchase starts where the service would stop), so the latest end is it.
    """
    trial = db.session.scalar(sa.select(Account.trial_ends_at).where(Account.id == account_id))
    paid = db.session.scalar(sa.select(sa.func.max(RentPeriod.ends_at)).where(RentPeriod.account_id == account_id))
    ends = [_aware(moment) for moment in (trial, paid) if moment is not None]
    return max(ends) if ends else None


def recently_stopped_ids(now: dt.datetime) -> list[int]:
    """Accounts whose trial or a paid period ended within EXPIRED_WITHIN (candidates; `check_expired` decides)."""
    since = now - EXPIRED_WITHIN
    trial = sa.select(Account.id).where(Account.trial_ends_at > since, Account.trial_ends_at <= now)
    paid = sa.select(RentPeriod.account_id).where(RentPeriod.ends_at > since, RentPeriod.ends_at <= now)
    return sorted(set(db.session.scalars(trial)) | set(db.session.scalars(paid)))


def check_expired(account_id: int, now: dt.datetime) -> Notification | None:
    """`rent_expired` once per stop: the service ended at or before `now` (within EXPIRED_WITHIN), nothing
    continues it."""
    end = service_end(account_id)
    if end is None or not now - EXPIRED_WITHIN < end <= now:
        return None
    account = _account(account_id)
    context = {**_base(account), "ended_at": _local(account, end), "balance_kop": ledger.balance(account_id),
               "was_trial": _was_trial(account, end)}
    return notifications.notify(account_id, "rent_expired", context,
                                dedup_key=f"rent_expired:{account_id}:{end.astimezone(dt.UTC).isoformat()}")


def _was_trial(account: Account, end: dt.datetime) -> bool:
    return account.trial_ends_at is not None and _aware(account.trial_ends_at) == end


def daily_checks(account_id: int, now: dt.datetime) -> list[str]:
    """The day's checks for one account (low balance, end of rent, spending digest); the kinds queued."""
    from app.services import account_state

    account = _account(account_id)
    today = _local(account, now).date()
    status = account_state.status_of(account_id, now)
    queued = []
    if _low_balance(account, status, today):
        queued.append("low_balance")
    if _rent_ending(account, status, now, today):
        queued.append("rent_ending")
    queued += _digests(account, today)
    return queued


def _low_balance(account: Account, status, today: dt.date) -> Notification | None:
    """N3: below the threshold, and not blocked for non-payment (expired): one a local day."""
    from app.services.account_state import State

    threshold = notifications.low_balance_threshold_kop(account.id)
    if status.state is State.EXPIRED or status.balance_kop >= threshold:
        return None
    context = {**_base(account), "balance_kop": status.balance_kop, "threshold_kop": threshold, "day": today}
    return notifications.notify(account.id, "low_balance", context,
                                dedup_key=f"low_balance:{account.id}:{today.isoformat()}", frequency="daily")


def _rent_ending(account: Account, status, now: dt.datetime, today: dt.date) -> Notification | None:
    """N4: daily from `rent_warning_days` local days before the service stops, unless it renews by itself."""
    from app.services import rent, tariffs

    end = service_end(account.id)
    if not status.is_rent_active or end is None or end <= now:
        return None
    local_end = _local(account, end)
    days_left = (local_end.date() - today).days
    if days_left > get_settings().rent_warning_days:
        return None
    month_kop = rent.price_of(1, tariffs.current_tariff(now))
    is_trial = _was_trial(account, end)
    if not is_trial and status.balance_kop >= month_kop:
        return None  # B6: the hourly renewal extends it from the balance
    from app.services import payments

    autopay = payments.autopay_of(account.id)
    context = {**_base(account), "ends_at": local_end, "days_left": days_left, "is_trial": is_trial,
               "month_kop": month_kop, "balance_kop": status.balance_kop, "day": today,
               "is_autopay": not is_trial and autopay.is_enabled and autopay.card_id is not None}
    return notifications.notify(account.id, "rent_ending", context,
                                dedup_key=f"rent_ending:{account.id}:{today.isoformat()}", frequency="daily")


def digest_period(frequency: str, today: dt.date) -> tuple[dt.date, dt.date] | None:
    """The local days [first, end) a digest sent today covers; None when none is due today."""
    if frequency == "daily":
        return today - dt.timedelta(days=1), today
    if frequency == "weekly" and today.weekday() == 0:
        return today - dt.timedelta(days=7), today
    return None


def _digests(account: Account, today: dt.date) -> list[str]:
    frequency = notifications.preference(account.id, "spending").frequency
    period = digest_period(frequency, today)
    if period is None:
        return []
    first, end = period
    zone = zone_of(account.timezone)
    starts = dt.datetime.combine(first, dt.time(), zone).astimezone(dt.UTC)
    ends = dt.datetime.combine(end, dt.time(), zone).astimezone(dt.UTC)
    charges = _charges(account, [LedgerTransaction.created_at >= starts, LedgerTransaction.created_at < ends])
    if not charges:
        return []
    context = {**_base(account), "charges": charges, "total_kop": sum(c.amount_kop for c in charges),
               "calls": sum(c.kind == "call" for c in charges), "sms": sum(c.kind == "sms" for c in charges),
               "digest": frequency, "first_day": first, "last_day": end - dt.timedelta(days=1),
               "balance_kop": ledger.balance(account.id)}
    key = f"spending:{account.id}:{first.isoformat()}" if frequency == "daily" else \
        f"spending:{account.id}:week:{first.isoformat()}"
    return ["spending"] if notifications.notify(account.id, "spending", context, dedup_key=key,
                                                frequency=frequency) else []
