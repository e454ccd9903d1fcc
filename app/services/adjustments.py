"""Manual balance adjustments by an administrator (issue 5): a keyed ledger posting with a reason.

A positive amount credits the client's ledger account, a negative one debits it; the other side is the
system account `system:adjustments`. The key is `adjust:<uuid4>`: the back-office form carries a uuid made
when it was rendered, so submitting the same form twice posts once. Flushes, never commits.
"""
from __future__ import annotations

import uuid

from flask_babel import lazy_gettext as _l

from app.extensions import db
from app.models import Account, User
from app.services import DomainError, ledger, notify_events

ADJUSTMENTS = "system:adjustments"
KIND = "adjust"
REASON_MIN, REASON_MAX = 5, 500
AMOUNT_MAX_KOP = 1_000_000_000  # 10 million roubles either way: a typo guard, not a business limit


class AdjustmentError(DomainError):
    code = "adjustment_error"


def new_key() -> str:
    """A fresh ledger key for one adjustment (made when the form is rendered)."""
    return f"{KIND}:{uuid.uuid4()}"


def _checked_key(key: str | None) -> str:
    if key is None:
        return new_key()
    prefix, _, rest = key.partition(":")
    try:
        valid = prefix == KIND and str(uuid.UUID(rest)) == rest.lower()
    except ValueError:
        valid = False
    if not valid:
        raise AdjustmentError(str(_l("The form has expired: open it again.")), "bad_key")
    return key.lower()


def adjust(account_id: int, amount_kop: int, reason: str, user_id: int, key: str | None = None) -> ledger.Posted:
    """Post `amount_kop` to the client's balance (positive credits, negative debits) once per `key`.

    The memo names the administrator and the reason. A repeated key posts nothing and returns the first
    posting (`created=False`).
    """
    if type(amount_kop) is not int or amount_kop == 0:
        raise AdjustmentError(str(_l("The amount must be a non-zero number of kopecks.")), "bad_amount")
    if abs(amount_kop) > AMOUNT_MAX_KOP:
        raise AdjustmentError(str(_l("The amount is too large.")), "amount_too_large")
    reason = " ".join((reason or "").split())
    if not REASON_MIN <= len(reason) <= REASON_MAX:
        raise AdjustmentError(str(_l("A reason of %(min)d to %(max)d characters is required.",
                                     min=REASON_MIN, max=REASON_MAX)), "bad_reason")
    if db.session.get(Account, account_id) is None:
        raise AdjustmentError(str(_l("No such account.")), "unknown_account")
    user = db.session.get(User, user_id)
    if user is None:
        raise AdjustmentError(str(_l("No such user.")), "unknown_user")
    key = _checked_key(key)
    memo = f"{user.email} (user {user.id}): {reason}"
    client = ledger.client_account(account_id)
    system = ledger.system_account(ADJUSTMENTS)
    posted = ledger.post(key, KIND, [(client, amount_kop), (system, -amount_kop)], memo=memo)
    db.session.flush()
    notify_events.credited(account_id, posted)  # N5: a credit is a top-up (a debit sends nothing)
    return posted
