"""Rent renewal (B6): every hour, periods ending within the next hour (or just ended) are extended by a month.

`rent.renew_due` makes each renewal happen once however many runs meet (a retried or doubled run does
nothing the second time), so the schedule needs no lock of its own.
"""
from huey import crontab

from app.extensions import db
from app.services import rent
from dialer.huey_app import periodic_task


@periodic_task("billing.renew", crontab(minute="5"))
def renew() -> int:
    """Renew the due rent periods; returns how many were renewed."""
    results = rent.renew_due()
    db.session.commit()
    return sum(result.outcome is rent.Renewal.RENEWED for result in results)
