"""The spend cap (X1): an account whose call and SMS charges in the last hour reach its cap has its dialing
paused until its owner or the service's staff resume it.

- The cap: the account's own `spend_cap_per_hour_kop` when set (above 0), else the global setting of that name
  (default 1 000 RUB); a global 0 turns the cap off for accounts without their own.
- The spend: the client's call and SMS debits in the ledger (the ones the cabinet's spending shows) posted since
  the later of one hour ago and the account's last resume, so a resume starts a new window and the same hour's
  spend does not pause it again at once.
- The pause: `account.dialing_paused_at`, set by a guarded `UPDATE ... WHERE dialing_paused_at IS NULL`, so of
  any number of concurrent checks exactly one pauses and queues the alerts (the owner's `dialing_paused`, and
  `dialing_paused_service` to `service_alert_email` or every active administrator: `notify_events.dialing_paused`),
  through the outbox.
- Checked after every charge the client pays (`charges._post_split`) and at the dialing gate (`charges.may_dial`,
  reason `spend_cap`), so charges posted concurrently, which do not see each other, are caught by the next gate.
- `resume` clears the pause and restarts the window (cabinet: the owner with `billing.view`; back office:
  staff, audited by the session listener as a change of the account row).

Bound: a call is admitted only while the window's spend is below the cap, so the spend of a window ends at most
at cap - 1 + N x the dearest admitted call, N being the calls admitted but not yet charged when the cap was
crossed (the one that crossed it included). Services flush, never commit.
"""
from __future__ import annotations

import datetime as dt
import logging

import sqlalchemy as sa

from app.db import utcnow
from app.extensions import db
from app.models import Account, LedgerAccount, LedgerEntry, LedgerTransaction
from app.services import notify_events
from app.services.settings import get_settings

log = logging.getLogger(__name__)

WINDOW = dt.timedelta(hours=1)
SPENDING_KINDS = ("call", "sms")


def cap_of(account: Account) -> int:
    """The account's hourly cap in kopecks; 0: no cap."""
    return account.spend_cap_per_hour_kop or get_settings().spend_cap_per_hour_kop


def window_start(account: Account, now: dt.datetime) -> dt.datetime:
    start = now - WINDOW
    resumed = account.dialing_resumed_at
    return max(start, resumed) if resumed is not None else start


def spent_kop(account: Account, now: dt.datetime | None = None) -> int:
    """The client's call and SMS debits posted in the account's current window."""
    now = now or utcnow()
    return -(db.session.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(LedgerEntry.amount_kop), 0))
        .join(LedgerTransaction, LedgerTransaction.id == LedgerEntry.transaction_id)
        .join(LedgerAccount, LedgerAccount.id == LedgerEntry.ledger_account_id)
        .where(LedgerAccount.account_id == account.id, LedgerEntry.amount_kop < 0,
               LedgerTransaction.kind.in_(SPENDING_KINDS),
               LedgerTransaction.created_at >= window_start(account, now))) or 0)


def is_paused(account_id: int, now: dt.datetime | None = None) -> bool:
    """Whether the account's dialing is paused, pausing it now when its window's spend reached its cap."""
    account = _fresh(account_id)
    if account is None:
        return False
    if account.dialing_paused_at is not None:
        return True
    cap = cap_of(account)
    if not cap:
        return False
    now = now or utcnow()
    spent = spent_kop(account, now)
    if spent < cap:
        return False
    _pause(account, now, spent, cap)
    return True


def _fresh(account_id: int) -> Account | None:
    return db.session.scalar(sa.select(Account).where(Account.id == account_id)
                             .execution_options(populate_existing=True))


def _pause(account: Account, now: dt.datetime, spent: int, cap: int) -> None:
    """Pause once: only the check whose guarded update moved the row queues the alerts."""
    moved = db.session.execute(
        sa.update(Account).where(Account.id == account.id, Account.dialing_paused_at.is_(None))
        .values(dialing_paused_at=now).execution_options(synchronize_session=False)).rowcount
    db.session.refresh(account)
    if not moved:
        return
    log.warning("account %s: dialing paused, %s kop spent in the hour, cap %s kop", account.id, spent, cap)
    notify_events.dialing_paused(account, now, spent, cap)


def after_charge(account_id: int) -> None:
    """After a charge the client paid: pause when it brought the window's spend to the cap. A failure here is
    logged and never undoes the charge (the next gate checks again)."""
    try:
        with db.session.begin_nested():
            is_paused(account_id)
    except Exception:
        log.exception("account %s: the spend cap check after a charge failed; the gate checks again", account_id)


def resume(account: Account, now: dt.datetime | None = None) -> bool:
    """Resume dialing and start a new spend window; False when it was not paused (the window restarts all
    the same). Through the ORM, so the audit log records who resumed."""
    was_paused = account.dialing_paused_at is not None
    account.dialing_paused_at = None
    account.dialing_resumed_at = now or utcnow()
    db.session.flush()
    return was_paused
