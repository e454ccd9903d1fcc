"""The cabinet statistics' rollup kept up to date (docs/stats.md): once a minute, single-flight, the requests that
reached a final status are counted into `stats_hour` / `stats_speed_hour` in batches (each batch its own
transaction), and the ledger's call and SMS debits older than a few minutes into `stats_spend_hour`. Until then
the statistics read them live, so a late run only makes pages a little slower."""
from __future__ import annotations

import logging

from huey import crontab

from app.services import leases, stats_rollup
from dialer.huey_app import periodic_task

log = logging.getLogger(__name__)

LEASE_S = 300
MAX_BATCHES = 50  # at most 100,000 requests a run; the rest next minute


@periodic_task("stats.roll_up", crontab(minute="*"))
def roll_up() -> int:
    """Count finished requests and settled spend into the rollup; the number of requests counted by this run
    (0 when another run holds it)."""
    with leases.single_flight("stats.roll_up", LEASE_S) as is_ours:
        if not is_ours:
            return 0
        counted = stats_rollup.roll_up(max_batches=MAX_BATCHES)
        stats_rollup.roll_up_spend()
    if counted:
        log.info("stats.roll_up: %s requests counted", counted)
    return counted
