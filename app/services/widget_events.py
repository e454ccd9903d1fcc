"""Widget events (shown, closed, submitted) as daily counters per site, scenario, variant and device."""
from __future__ import annotations

from collections import Counter

from app.db import insert, utcnow
from app.extensions import db
from app.models import WidgetEventCount


def count(site_id: int, device: str, events: list[tuple[str, str, str]]) -> None:
    """Add a batch of (kind, scenario, variant) events to today's counters, one upsert per distinct kind."""
    day = utcnow().date()
    for (kind, scenario, variant), times in Counter(events).items():
        stmt = insert(db.session, WidgetEventCount).values(
            site_id=site_id, day=day, kind=kind, scenario=scenario, variant=variant, device=device, count=times)
        db.session.execute(stmt.on_conflict_do_update(
            index_elements=["site_id", "day", "kind", "scenario", "variant", "device"],
            set_={"count": WidgetEventCount.count + stmt.excluded.count}))
