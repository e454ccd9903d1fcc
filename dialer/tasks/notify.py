"""The notifications' schedule (issue 8 part 4): every 10 minutes, the stops of service just reached
(`rent_expired`) and, for every account whose local time is within the sending hours, the daily checks and
digests (`app/services/notify_events.py`). Single-flight (an expiring lease, like the dialer's), and
idempotent anyway: every notice has a dedup key per account and local day (or per stop), so re-runs and
overlapping runs send nothing twice. Each account is committed on its own: one failing account does not hold
back the others."""
from __future__ import annotations

import datetime as dt
import logging

from huey import crontab

from app.db import utcnow
from app.extensions import db
from app.services import leases, notify_events
from dialer.huey_app import periodic_task

log = logging.getLogger(__name__)

LEASE_S = 600  # single flight (app.services.leases): a run killed mid-way holds the next ones back this long at most


@periodic_task("notify.daily", crontab(minute="*/10"))
def daily(now: dt.datetime | None = None) -> dict[str, int]:
    """Returns how many notices of each kind were queued (an empty dict when another run holds the lease)."""
    counts: dict[str, int] = {}
    with leases.single_flight("notify.daily", LEASE_S) as is_ours:
        if not is_ours:
            return counts
        now = now or utcnow()
        for account_id in notify_events.recently_stopped_ids(now):
            _each(account_id, counts, lambda a: ["rent_expired"] if notify_events.check_expired(a, now) else [])
        for account_id in notify_events.due_account_ids(now):
            _each(account_id, counts, lambda a: notify_events.daily_checks(a, now))
    if counts:
        log.info("notify.daily: %s", counts)
    return counts


def _each(account_id: int, counts: dict[str, int], check) -> None:
    try:
        kinds = check(account_id)
        db.session.commit()
    except Exception:
        db.session.rollback()
        log.exception("notify.daily: account %s failed; the next run tries again", account_id)
        return
    for kind in kinds:
        counts[kind] = counts.get(kind, 0) + 1
