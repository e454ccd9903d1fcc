"""Billing schedules: rent renewal (B6) with the autopay card (B7), payment reconciliation, auto top-up.

Every task here is safe to run twice or concurrently: renewals are keyed per period (`rent.renew_due`), card
charges by idempotence keys made from what they pay for (`payments.autopay_for_renewal`,
`payments.auto_topup_due`), and money moves by ledger keys. So the schedules need no lock of their own.
"""
from __future__ import annotations

import datetime as dt

from huey import crontab

from app.db import utcnow
from app.extensions import db
from app.services import payments, rent
from dialer.huey_app import periodic_task


@periodic_task("billing.renew", crontab(minute="5"))
def renew(now: dt.datetime | None = None) -> int:
    """Renew the due rent periods; a period the balance does not cover is paid by the autopay card (the
    shortfall, rounded up to whole roubles) and renewed at once if the charge succeeded at once. A charge
    still pending renews at the next run, when its money has arrived. Returns how many were renewed."""
    now = now or utcnow()
    results = rent.renew_due(now)
    db.session.commit()
    renewed = sum(result.outcome is rent.Renewal.RENEWED for result in results)
    for result in results:
        if result.outcome is rent.Renewal.INSUFFICIENT_FUNDS:
            renewed += _renew_by_card(result, now)
    return renewed


def _renew_by_card(result: rent.RenewalResult, now: dt.datetime) -> bool:
    payment = payments.autopay_for_renewal(result.account_id, result.price_kop - result.balance_kop,
                                           period_start=result.starts_at)
    db.session.commit()  # the charge's row and its credit are kept whatever follows
    if payment is None or payment.credited_at is None:
        return False
    again = rent.renew_account(result.account_id, now)
    db.session.commit()
    return again is not None and again.outcome is rent.Renewal.RENEWED


@periodic_task("billing.reconcile_payments", crontab(minute="*/10"))
def reconcile_payments(now: dt.datetime | None = None) -> int:
    """Settle payments and refunds whose notification never came; returns how many reached a final status."""
    settled = payments.reconcile_pending(now)
    db.session.commit()
    return settled


@periodic_task("billing.auto_topup", crontab(minute="*/10"))
def auto_topup(now: dt.datetime | None = None) -> int:
    """Charge the autopay card of accounts below their top-up threshold; returns how many were credited."""
    charged = payments.auto_topup_due(now)
    db.session.commit()
    return sum(payment.credited_at is not None for payment in charged)
