"""Housekeeping of the abuse limiter (X1): hits older than the longest window are deleted every hour.

Only the database keeps hits as rows (without REDIS_URL); Redis keys expire by themselves, so the sweep then
finds nothing. Limits count only hits inside their window, so a late or skipped sweep changes no decision.
"""
from huey import crontab

from app.extensions import db
from app.services import limits
from dialer.huey_app import periodic_task


@periodic_task("limits.purge", crontab(minute="0"))
def purge() -> int:
    """Delete the expired limiter rows; returns how many went."""
    purged = limits.purge_expired()
    db.session.commit()
    return purged
