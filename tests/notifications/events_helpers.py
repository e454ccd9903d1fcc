"""Helpers of the event-trigger tests (tests/notifications/test_events_*.py): accounts in a locale and time zone,
the notices stored and the mail the local SMTP server received."""
from __future__ import annotations

import datetime as dt
import time
import zoneinfo

import sqlalchemy as sa

from app.extensions import db
from app.models import Account, LedgerTransaction, Notification, Tariff
from app.services import ledger, notifications

MONTH_KOP = 50_000  # the rent of the test tariff
MSK = zoneinfo.ZoneInfo("Europe/Moscow")
VVO = zoneinfo.ZoneInfo("Asia/Vladivostok")


def add_rent_tariff(app) -> None:
    """A tariff in force from just after the starting one, whose rent is 500 RUB a month and SMS 1 RUB."""
    with app.app_context():
        db.session.add(Tariff(name="Events test", effective_from=dt.datetime(2026, 1, 1, 0, 0, 1, tzinfo=dt.UTC),
                              rent_month_kop=MONTH_KOP, rent_discounts={}, sms_retail_kop=100, sms_cost_kop=60))
        db.session.commit()


def make_account(app, make_client_user, *, locale: str = "ru", timezone: str = "Europe/Moscow",
                 balance_kop: int | None = None, trial_ends_at: dt.datetime | None = None) -> tuple[int, str]:
    """A signed-up client account (welcome mail sent) in `locale` and `timezone`: (account id, owner e-mail)."""
    _, account_id, email, _ = make_client_user()
    with app.app_context():
        account = db.session.get(Account, account_id)
        account.locale, account.timezone = locale, timezone
        if trial_ends_at is not None:
            account.trial_ends_at = trial_ends_at
        if balance_kop is not None:
            set_balance(account_id, balance_kop)
        db.session.commit()
    return account_id, email


_MOVES = iter(range(1, 10**9))


def set_balance(account_id: int, balance_kop: int) -> None:
    """Move money so the balance is `balance_kop` (a test posting: no top-up notice); in an app context."""
    delta = balance_kop - ledger.balance(account_id)
    if delta:
        ledger.post(f"test-move:{account_id}:{next(_MOVES)}", "test", [
            (ledger.client_account(account_id), delta), (ledger.system_account("system:test"), -delta)])


def set_spending(app, account_id: int, frequency: str) -> None:
    with app.app_context():
        notifications.set_preference(account_id, "spending", enabled=True, frequency=frequency)
        db.session.commit()


def notices(app, account_id: int, kind: str | None = None) -> list[Notification]:
    """The account's stored e-mail notices (of `kind`), oldest first."""
    with app.app_context():
        query = sa.select(Notification).where(Notification.account_id == account_id, Notification.channel == "email")
        if kind:
            query = query.where(Notification.kind == kind)
        rows = list(db.session.scalars(query.order_by(Notification.id)))
        db.session.expunge_all()
        return rows


def keys(app, account_id: int, kind: str) -> list[str]:
    return [n.dedup_key for n in notices(app, account_id, kind)]


def received(mailbox, email: str, count: int, *, subject_has: str | None = None, settle: float = 0.3) -> list:
    """The messages to `email` (whose subject contains `subject_has`), after waiting for `count` of them and a
    short while more, so an extra (duplicate) message would be seen too."""
    deadline = time.monotonic() + 10

    def mine():
        return [m for m in list(mailbox.messages) if email in m.rcpt_tos
                and (subject_has is None or subject_has in m.subject)]

    while len(mine()) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(settle)
    return mine()


def backdate(app, key: str, at: dt.datetime) -> None:
    """Set when a ledger transaction was posted (the digests read the posting time)."""
    with app.app_context():
        db.session.execute(sa.update(LedgerTransaction).where(LedgerTransaction.key == key).values(created_at=at))
        db.session.commit()


def local(day: dt.date, hour: int, minute: int, zone: zoneinfo.ZoneInfo, second: int = 0) -> dt.datetime:
    """A local wall-clock time as an aware UTC datetime."""
    return dt.datetime.combine(day, dt.time(hour, minute, second), zone).astimezone(dt.UTC)
