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
from app.models import (
    CallbackRequest,
    DialerTransition,
    LedgerAccount,
    LedgerEntry,
    LedgerTransaction,
    RequestStatus,
    StatsHour,
    StatsRollupMark,
    StatsSourceHour,
    StatsSpeedDay,
    StatsSpeedHour,
    StatsSpendHour,
)

FINAL_STATUSES = (RequestStatus.COMPLETED, RequestStatus.REJECTED, RequestStatus.PASSIVE, RequestStatus.EXPIRED)
BATCH = 5000  # requests a transaction (also the size of one IN list of ids)
MEASURED_MODE = "instant"  # speed to connect is measured from the request; a scheduled one waits on purpose
NO_LINE = 0  # stats_speed_hour.line_id of a request connected without an answering line recorded


SPEND_KINDS = ("call", "sms")  # ledger transaction kinds counted as the client's spend
SPEND_MARK = "spend"
# Ledger transactions are rolled up once they are this old: a posting commits within seconds of its created_at,
# so none created before the mark can still appear after it moved (the one assumption of the spend rollup).
SPEND_LAG = dt.timedelta(minutes=5)
SPEND_STEP = dt.timedelta(days=1)  # one transaction per day of ledger history when catching up


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
    due = (sa.select(CallbackRequest.id)
           .where(CallbackRequest.status.in_(FINAL_STATUSES), CallbackRequest.rolled_up == sa.false())
           .order_by(CallbackRequest.id).limit(batch).with_for_update(skip_locked=True))
    rows = db.session.execute(
        sa.update(CallbackRequest)
        .where(CallbackRequest.id.in_(due.scalar_subquery()), CallbackRequest.rolled_up == sa.false())
        .values(rolled_up=True)
        .returning(CallbackRequest.id, CallbackRequest.account_id, CallbackRequest.site_id,
                   CallbackRequest.created_at, CallbackRequest.status, CallbackRequest.outcome,
                   CallbackRequest.source, CallbackRequest.duration_s, CallbackRequest.answered_line_id,
                   CallbackRequest.mode)
        .execution_options(synchronize_session=False)).all()
    if rows:
        _add(rows, first_connected([row.id for row in rows]))
    return len(rows)


def _add(rows, connected: dict[int, dt.datetime]) -> None:
    counts: Counter[tuple] = Counter()
    talk: Counter[tuple] = Counter()
    sources: Counter[tuple] = Counter()
    speeds: Counter[tuple] = Counter()
    for row in rows:
        created_at = as_utc(row.created_at)
        where = (row.account_id, hour_of(created_at), row.site_id)
        key = (*where, row.status, row.outcome or "")
        counts[key] += 1
        talk[key] += row.duration_s or 0
        sources[*where, row.source or ""] += 1
        if row.id in connected and row.mode == MEASURED_MODE:
            speeds[*where, row.answered_line_id or NO_LINE, connect_second(created_at, connected[row.id])] += 1
    _upsert(StatsHour, _HOUR_KEY,
            [{"requests": count, "talk_s": talk[key]} | dict(zip(_HOUR_KEY, key, strict=True))
             for key, count in counts.items()])
    _upsert(StatsSourceHour, _SOURCE_KEY,
            [{"requests": count} | dict(zip(_SOURCE_KEY, key, strict=True)) for key, count in sources.items()])
    _upsert(StatsSpeedHour, _SPEED_KEY,
            [{"requests": count} | dict(zip(_SPEED_KEY, key, strict=True)) for key, count in speeds.items()])
    days: Counter[tuple] = Counter()
    for (account_id, hour, *rest), count in speeds.items():
        days[account_id, hour.date(), *rest] += count
    _upsert(StatsSpeedDay, _SPEED_DAY_KEY,
            [{"requests": count} | dict(zip(_SPEED_DAY_KEY, key, strict=True)) for key, count in days.items()])


_HOUR_KEY = ("account_id", "hour", "site_id", "status", "outcome")
_SOURCE_KEY = ("account_id", "hour", "site_id", "source")
_SPEED_KEY = ("account_id", "hour", "site_id", "line_id", "second")
_SPEED_DAY_KEY = ("account_id", "day", "site_id", "line_id", "second")


def _upsert(model, key: tuple[str, ...], values: list[dict]) -> None:
    """Insert-or-increment, as one executemany (SQLAlchemy sends it as multi-row INSERTs)."""
    if not values:
        return
    table = model.__table__
    statement = insert(db.session, table)
    added = {name: table.c[name] + statement.excluded[name] for name in values[0] if name not in key}
    db.session.execute(statement.on_conflict_do_update(index_elements=list(key), set_=added), values)


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


def spend_mark() -> dt.datetime | None:
    """Every ledger transaction created before this time is in `stats_spend_hour`; None before the first run."""
    until = db.session.scalar(sa.select(StatsRollupMark.until).where(StatsRollupMark.name == SPEND_MARK))
    return None if until is None else as_utc(until)


def roll_up_spend(now: dt.datetime | None = None) -> int:
    """Move the spend mark up to `now - SPEND_LAG` a day at a time, adding the client debits of call and SMS
    transactions created in between to `stats_spend_hour`, each step in its own transaction with the mark's move
    (a compare-and-set, so a concurrent run adds nothing twice). Returns the number of ledger entries added."""
    target = (now or dt.datetime.now(dt.UTC)) - SPEND_LAG
    added = 0
    while True:
        since = spend_mark()
        if since is None:
            since = _start_spend_mark(target)
        until = min(since + SPEND_STEP, target)
        if until <= since or not _move_spend_mark(since, until):
            db.session.rollback()
            return added
        added += _add_spend(since, until)
        db.session.commit()


def _start_spend_mark(target: dt.datetime) -> dt.datetime:
    first = db.session.scalar(sa.select(sa.func.min(LedgerTransaction.created_at)))
    start = hour_of(as_utc(first)) if first is not None else target
    db.session.execute(insert(db.session, StatsRollupMark).values(name=SPEND_MARK, until=start)
                       .on_conflict_do_nothing(index_elements=["name"]))
    db.session.commit()
    return spend_mark()


def _move_spend_mark(since: dt.datetime, until: dt.datetime) -> bool:
    return bool(db.session.execute(
        sa.update(StatsRollupMark).where(StatsRollupMark.name == SPEND_MARK, StatsRollupMark.until == since)
        .values(until=until).execution_options(synchronize_session=False)).rowcount)


def _add_spend(since: dt.datetime, until: dt.datetime) -> int:
    rows = db.session.execute(
        sa.select(LedgerAccount.account_id, LedgerTransaction.created_at, LedgerTransaction.kind,
                  LedgerEntry.amount_kop)
        .join(LedgerEntry, LedgerEntry.transaction_id == LedgerTransaction.id)
        .join(LedgerAccount, LedgerAccount.id == LedgerEntry.ledger_account_id)
        .where(LedgerAccount.account_id.is_not(None), LedgerTransaction.kind.in_(SPEND_KINDS),
               LedgerTransaction.created_at >= since, LedgerTransaction.created_at < until)).all()
    spend: Counter[tuple] = Counter()
    for account_id, created_at, kind, amount_kop in rows:
        spend[account_id, hour_of(as_utc(created_at)), kind] -= amount_kop
    _upsert(StatsSpendHour, ("account_id", "hour", "kind"),
            [{"account_id": account_id, "hour": hour, "kind": kind, "amount_kop": amount}
             for (account_id, hour, kind), amount in spend.items()])
    return len(rows)


def rebuild() -> int:
    """Empty the rollup and count every finished request and ledger posting again (after a fix to how they are
    counted); the number of requests counted."""
    for model in (StatsSpeedDay, StatsSpeedHour, StatsHour, StatsSourceHour, StatsSpendHour, StatsRollupMark):
        db.session.execute(sa.delete(model))
    db.session.execute(sa.update(CallbackRequest).where(CallbackRequest.rolled_up == sa.true())
                       .values(rolled_up=False).execution_options(synchronize_session=False))
    db.session.commit()
    counted = roll_up()
    roll_up_spend()
    return counted
