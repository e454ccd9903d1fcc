"""An account's state (B4, B5): the one function every part asks whether the service runs for an account.

- `trial`: within the free trial (`account.trial_ends_at`), no paid period running;
- `active`: within a paid rent period (`rent_period`);
- `expired`: neither; statistics and settings are blocked, the widget is passive (B4);
- `negative`: the rent runs but the balance is below zero; the widget is passive, the cabinet open (B5).
Expiry wins over a negative balance: an expired account is `expired` whatever its balance.
Whatever the state, an account whose dialing the spend cap paused (`spend_guard`) has a passive widget too, so
visitors are not promised a call in 28 seconds that the dialer will not make.
"""
from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass

import sqlalchemy as sa

from app.db import utcnow
from app.extensions import db
from app.models import Account, RentPeriod
from app.services import ledger


class State(enum.StrEnum):
    TRIAL = "trial"
    ACTIVE = "active"
    EXPIRED = "expired"
    NEGATIVE = "negative"


@dataclass(frozen=True)
class AccountStatus:
    state: State
    balance_kop: int
    trial_ends_at: dt.datetime | None
    paid_until: dt.datetime | None  # the end of the paid period running now, if any
    is_dialing_paused: bool = False  # by the spend cap, until resumed

    @property
    def is_rent_active(self) -> bool:
        return self.state is not State.EXPIRED

    @property
    def is_widget_passive(self) -> bool:
        """The widget forwards requests instead of calling (B4, B5, the spend cap)."""
        return self.state in (State.EXPIRED, State.NEGATIVE) or self.is_dialing_paused

    @property
    def runs_until(self) -> dt.datetime | None:
        """When the service stops unless the rent is extended (the later of the trial and the paid period)."""
        ends = [moment for moment in (self.trial_ends_at, self.paid_until) if moment is not None]
        return max(ends) if ends else None


def status_of(account_id: int, now: dt.datetime | None = None) -> AccountStatus:
    now = now or utcnow()
    trial_ends_at, paused_at = db.session.execute(
        sa.select(Account.trial_ends_at, Account.dialing_paused_at).where(Account.id == account_id)).first() \
        or (None, None)
    paid_until = db.session.scalar(
        sa.select(sa.func.max(RentPeriod.ends_at))
        .where(RentPeriod.account_id == account_id, RentPeriod.starts_at <= now, RentPeriod.ends_at > now))
    balance_kop = ledger.balance(account_id)
    in_trial = trial_ends_at is not None and now < trial_ends_at
    if paid_until is None and not in_trial:
        state = State.EXPIRED
    elif balance_kop < 0:
        state = State.NEGATIVE
    else:
        state = State.ACTIVE if paid_until is not None else State.TRIAL
    return AccountStatus(state, balance_kop, trial_ends_at, paid_until, paused_at is not None)
