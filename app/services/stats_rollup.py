"""Keeping the statistics' rollup (app.models.stats, docs/stats.md) up to date, incrementally and exactly once.

`roll_up_batch` takes up to `batch` requests in a final status not counted yet, flips their
`callback_request.rolled_up` with an `UPDATE ... WHERE rolled_up = false RETURNING ...` and adds exactly the rows
that UPDATE returned to `stats_hour` and `stats_speed_hour` with insert-or-increment upserts, in the caller's
transaction: a concurrent run blocks on the same rows (PostgreSQL) or the database (SQLite) and, once the first
commits, finds them flipped and skips them, so every request is counted once. Final statuses never change
(app.services.dialer.REQUEST_SOURCES), nor do a final request's outcome, talk time, line or transitions.
"""
from __future__ import annotations

import datetime as dt
import math
from collections import Counter

import sqlalchemy as sa

from app.db import insert
from app.extensions import db
from app.models import CallbackRequest, DialerTransition, RequestStatus, StatsHour, StatsSpeedHour

FINAL_STATUSES = (RequestStatus.COMPLETED, RequestStatus.REJECTED, RequestStatus.PASSIVE, RequestStatus.EXPIRED)
BATCH = 2000
NO_LINE = 0  # stats_speed_hour.line_id of a request connected without an answering line recorded


def hour_of(at: dt.datetime) -> dt.datetime:
    return at.replace(minute=0, second=0, microsecond=0)


def connect_second(created_at: dt.datetime, connected_at: dt.datetime) -> int:
    """Speed to connect in whole seconds, floored: the rollup's (and so the statistics') resolution."""
    return math.floor((connected_at - created_at).total_seconds())


def first_connected(request_ids) -> dict[int, dt.datetime]:
    """Each request's first `connected` transition (its own or an attempt's), for the given request ids."""
    rows = db.session.execute(
        sa.select(DialerTransition.request_id, sa.func.min(DialerTransition.at))
        .where(DialerTransition.request_id.in_(request_ids), DialerTransition.status == "connected")
        .group_by(DialerTransition.request_id))
    return {request_id: as_utc(at) for request_id, at in rows}


def as_utc(value) -> dt.datetime:
    """An aware UTC datetime from a column value (naive UTC, aware, or text)."""
    if not isinstance(value, dt.datetime):  # SQLite hands an aggregate's datetime back as text
        value = dt.datetime.fromisoformat(str(value))
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def roll_up_batch(batch: int = BATCH) -> int:
    """Count up to `batch` finished requests into the rollup; the number counted (0: nothing left). The caller
    commits."""
    ids = list(db.session.scalars(
        sa.select(CallbackRequest.id)
        .where(CallbackRequest.status.in_(FINAL_STATUSES), CallbackRequest.rolled_up == sa.false())
        .order_by(CallbackRequest.id).limit(batch).with_for_update(skip_locked=True)))
    if not ids:
        return 0
    rows = db.session.execute(
        sa.update(CallbackRequest)
        .where(CallbackRequest.id.in_(ids), CallbackRequest.rolled_up == sa.false())
        .values(rolled_up=True)
        .returning(CallbackRequest.id, CallbackRequest.account_id, CallbackRequest.site_id,
                   CallbackRequest.created_at, CallbackRequest.status, CallbackRequest.outcome,
                   CallbackRequest.source, CallbackRequest.duration_s, CallbackRequest.answered_line_id)
        .execution_options(synchronize_session=False)).all()
    if rows:
        _add(rows, first_connected([row.id for row in rows]))
    return len(rows)


def _add(rows, connected: dict[int, dt.datetime]) -> None:
    counts: Counter[tuple] = Counter()
    talk: Counter[tuple] = Counter()
    speeds: Counter[tuple] = Counter()
    for row in rows:
        created_at = as_utc(row.created_at)
        key = (row.account_id, hour_of(created_at), row.site_id, row.status, row.outcome or "", row.source or "")
        counts[key] += 1
        talk[key] += row.duration_s or 0
        if row.id in connected:
            speeds[row.account_id, hour_of(created_at), row.site_id, row.answered_line_id or NO_LINE,
                   connect_second(created_at, connected[row.id])] += 1
    _upsert(StatsHour, _HOUR_KEY,
            [{"requests": count, "talk_s": talk[key]} | dict(zip(_HOUR_KEY, key, strict=True))
             for key, count in counts.items()])
    _upsert(StatsSpeedHour, _SPEED_KEY,
            [{"requests": count} | dict(zip(_SPEED_KEY, key, strict=True)) for key, count in speeds.items()])


_HOUR_KEY = ("account_id", "hour", "site_id", "status", "outcome", "source")
_SPEED_KEY = ("account_id", "hour", "site_id", "line_id", "second")


def _upsert(model, key: tuple[str, ...], values: list[dict]) -> None:
    if not values:
        return
    statement = insert(db.session, model).values(values)
    added = {name: getattr(model.__table__.c, name) + getattr(statement.excluded, name)
             for name in values[0] if name not in key}
    db.session.execute(statement.on_conflict_do_update(index_elements=list(key), set_=added))


def roll_up(batch: int = BATCH, max_batches: int | None = None) -> int:
    """Roll up batch after batch, committing each, until nothing is left (or `max_batches`); the number counted."""
    total = 0
    done = 0
    while max_batches is None or done < max_batches:
        counted = roll_up_batch(batch)
        db.session.commit()
        total += counted
        done += 1
        if not counted:
            break
    return total


def rebuild() -> int:
    """Empty the rollup and count every finished request again (after a fix to how requests are counted)."""
    db.session.execute(sa.delete(StatsSpeedHour))
    db.session.execute(sa.delete(StatsHour))
    db.session.execute(sa.update(CallbackRequest).where(CallbackRequest.rolled_up == sa.true())
                       .values(rolled_up=False).execution_options(synchronize_session=False))
    db.session.commit()
    return roll_up()
