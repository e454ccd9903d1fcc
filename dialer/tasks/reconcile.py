"""The dialer's periodic work: the dispatcher of scheduled requests (D8, W12) and the reconciler that recovers
what a lost task, a lost event or a record not final yet left behind (ARCHITECTURE: Huey is at-most-once, the
database is the source of truth). Both are single-flight (an expiring lease) and safe to overlap anyway: every move is
a guarded transition, and only the run that moved a request enqueues its dial."""
from __future__ import annotations

import datetime as dt
import logging

from flask import current_app
from huey import crontab

from app.db import utcnow
from app.extensions import db
from app.models import RequestStatus
from app.services import dialer, leases
from dialer.huey_app import periodic_task, task
from dialer.tasks import dialing, telephony

log = logging.getLogger(__name__)


# Single flight through expiring leases (app.services.leases): a run killed mid-way holds its task back for
# LEASE_S at most. Longer runs than that may overlap, which is safe (guarded transitions; only the mover enqueues).
LEASE_S = 300


@periodic_task("dialer.dispatch_tick", crontab(minute="*"))
def dispatch_tick() -> int:
    """Huey's periodic tasks run once a minute: this one schedules the dispatcher every
    DIALER_DISPATCH_EVERY_S seconds within the minute (seconds ahead, never hours)."""
    every = max(1, int(current_app.config["DIALER_DISPATCH_EVERY_S"]))
    runs = 0
    for delay in range(0, 60, every):
        if delay:
            dispatch_due.schedule(delay=delay)
        else:
            dispatch_due()
        runs += 1
    return runs


@task("dialer.dispatch_due")
def dispatch_due(now: dt.datetime | None = None) -> dict[str, int]:
    """Scheduled requests whose time has come: `queued` and dialed (enqueued after commit), or moved to the
    site's next opening when they are due while it is closed. Returns counts by what happened."""
    counts: dict[str, int] = {}
    with leases.single_flight("dialer.dispatch", LEASE_S) as is_ours:
        if not is_ours:
            return counts
        now = now or utcnow()
        for request_id in dialer.due_scheduled_ids(now):
            done = dialer.dispatch(request_id, now)
            db.session.commit()
            if done == "queued":
                dialing.enqueue(request_id)
            counts[done] = counts.get(done, 0) + 1
        _dispatch_retries(now, counts)
    return counts


def _dispatch_retries(now: dt.datetime, counts: dict[str, int]) -> None:
    """X3: attempt 2 of the requests whose retry is due; given up when the site has closed meanwhile."""
    config = current_app.config
    for request_id in dialer.due_retry_ids(now):
        done = dialer.dispatch_retry(request_id, now, again_after_s=config["DIALER_STUCK_AFTER_S"],
                                     give_up_after_s=config["DIALER_EXPIRE_AFTER_S"])
        db.session.commit()
        if done == "redial":
            dialing.enqueue(request_id, dialing.redial)
        key = f"retry_{done}"
        counts[key] = counts.get(key, 0) + 1


@periodic_task("dialer.reconcile", crontab(minute="*"))
def reconcile(now: dt.datetime | None = None) -> dict[str, int]:
    """Once a minute: expire what can no longer be called in time; re-enqueue requests left waiting with no
    attempt (a lost task, a busy number) and passive ones not forwarded yet; ask MTT for the record of calls
    still in progress (a lost end event, or a record not final at the end event) through
    `dialer.attempt_event`, which settles and charges once. An attempt whose start is unknown is never
    redialed: it is settled once its call id is known (learnt from the call's own events), or given up
    (failed, not charged) when no word came for DIALER_ABANDON_AFTER_S."""
    counts = {"expired": 0, "abandoned": 0, "requeued": 0, "passive_forwarded": 0, "records_asked": 0,
              "unknown_without_call_id": 0}
    with leases.single_flight("dialer.reconcile", LEASE_S) as is_ours:
        if not is_ours:
            return counts
        config = current_app.config
        now = now or utcnow()
        for request_id in dialer.expirable_ids(now, config["DIALER_EXPIRE_AFTER_S"]):
            counts["expired"] += dialer.advance_request(request_id, RequestStatus.EXPIRED)
            db.session.commit()
        for attempt_id in dialer.abandoned_attempts(now, config["DIALER_ABANDON_AFTER_S"]):
            counts["abandoned"] += dialer.abandon(attempt_id)
            db.session.commit()
        stuck = dialer.stuck_ids(now, config["DIALER_STUCK_AFTER_S"])
        passive = dialer.unforwarded_passive_ids(now, config["DIALER_STUCK_AFTER_S"], config["DIALER_EXPIRE_AFTER_S"])
        attempts = dialer.unsettled_attempts(now, config["DIALER_SETTLE_AFTER_S"])
        db.session.rollback()  # nothing open while tasks run
        for request_id in stuck:
            dialing.enqueue(request_id)
            counts["requeued"] += 1
        for request_id in passive:  # `plan_and_dial` forwards a stored passive request by e-mail, once
            dialing.enqueue(request_id)
            counts["passive_forwarded"] += 1
        for attempt_id, call_id in attempts:
            if call_id is None:
                log.warning("attempt %s: start outcome unknown and no call id learnt yet; not redialed", attempt_id)
                counts["unknown_without_call_id"] += 1
                continue
            try:
                telephony.attempt_event(attempt_id, True)
            except Exception:
                log.exception("could not enqueue dialer.attempt_event for attempt %s", attempt_id)
            counts["records_asked"] += 1
    if any(counts.values()):
        log.info("dialer.reconcile: %s", counts)
    return counts
