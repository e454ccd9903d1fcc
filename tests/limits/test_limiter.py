"""`limits.admit` and friends on every store: SQLite or PostgreSQL rows, and Redis (next to either database).

Each test gets a fresh database and emptied counters (`fresh_limits`); the clock is moved by patching the
limiter's two clocks (`utcnow` for the rows, `time.time` for Redis), so one test reads the same on every store.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import types

import pytest
import sqlalchemy as sa
from flask import current_app

from app.db import utcnow
from app.extensions import db
from app.models import LimitHit
from app.services import limits
from app.services.limits import Limit, LimitExceeded
from app.services.settings import set_setting

pytestmark = pytest.mark.backends

PHONE = "+79161234567"


@pytest.fixture
def ctx(app_ctx, fresh_limits):
    return app_ctx


@contextlib.contextmanager
def clock_at(monkeypatch, when: dt.datetime):
    """Both of the limiter's clocks read `when` inside the block."""
    with monkeypatch.context() as patch:
        patch.setattr(limits, "utcnow", lambda: when)
        patch.setattr(limits, "time", types.SimpleNamespace(time=when.timestamp))
        yield


def admitted(batch: list[Limit]) -> str | None:
    """Admit and commit (the database path holds its locks until then): None, or the rejection's code."""
    try:
        limits.admit(batch)
    except LimitExceeded as exc:
        db.session.rollback()
        return exc.code
    db.session.commit()
    return None


def capacity(limit: Limit, members=None, most: int = 50) -> int:
    """How many more hits `limit` takes now (each a new member for a distinct limit) before it refuses."""
    for taken in range(most):
        member = next(members) if members is not None else limit.member
        if admitted([Limit(limit.reason, limit.key, member, limit.window_s, limit.limit, limit.distinct)]):
            return taken
    raise AssertionError(f"{limit} took {most} hits and still admits")


def stored(key: str) -> int:
    """Hits kept under `key`, in the database and in Redis (the store not in use holds none)."""
    rows = db.session.scalar(sa.select(sa.func.count()).select_from(LimitHit).where(LimitHit.key == key))
    if not current_app.config["REDIS_URL"]:
        return rows
    return rows + limits._redis().zcard(limits.REDIS_PREFIX + key)


def fresh_numbers(prefix: str = "+7916555"):
    return (f"{prefix}{n:04d}" for n in range(10_000))


def insert_hit(key: str, member: str, age: dt.timedelta) -> None:
    db.session.add(LimitHit(key=key, member=member, at=utcnow() - age))
    db.session.commit()


# ---------------------------------------------------------------------------------------------------------------
# Counting


def test_counts_hits_per_key_within_the_window(ctx, backend, counters):
    number = Limit("limit_number", "number:test:a", PHONE, 600, 3)
    other = Limit("limit_number", "number:test:b", PHONE, 600, 3)

    assert [admitted([number]) for _ in range(5)] == [None, None, None, "limit_number", "limit_number"]
    assert stored(number.key) == 3  # the two refusals counted nowhere
    assert capacity(other) == 3  # another key counts on its own
    assert admitted([number]) == "limit_number"


def test_distinct_mode_counts_distinct_members_only(ctx, backend, counters):
    ip = Limit("limit_ip", "ip:203.0.113.7", "", 3600, 3, distinct=True)

    def ask(number: str) -> str | None:
        return admitted([Limit(ip.reason, ip.key, number, ip.window_s, ip.limit, distinct=True)])

    assert [ask(n) for n in ("+79160000001", "+79160000002", "+79160000001", "+79160000003")] == [None] * 4
    assert ask("+79160000004") == "limit_ip"  # a fourth distinct number
    assert [ask(n) for n in ("+79160000002", "+79160000003", "+79160000001")] == [None] * 3  # repeats pass
    assert ask("+79160000005") == "limit_ip"


@pytest.mark.parametrize("broken", [0, 1, 2])
def test_a_broken_limit_raises_its_reason_and_records_nothing_anywhere(ctx, backend, counters, broken):
    batch = [
        Limit("limit_number", "number:test:10m", PHONE, 600, 5),
        Limit("limit_ip", "ip:198.51.100.1", PHONE, 3600, 5, distinct=True),
        Limit("limit_session", "session:test", PHONE, 300, 5),
    ]
    full = batch[broken]
    for member in fresh_numbers("+7916444") if full.distinct else [full.member] * 5:
        assert admitted([Limit(full.reason, full.key, member, full.window_s, full.limit, full.distinct)]) is None
        if stored(full.key) == full.limit:
            break
    before = {limit.key: stored(limit.key) for limit in batch}

    with pytest.raises(LimitExceeded) as refused:
        limits.admit(batch)
    db.session.rollback()

    assert refused.value.code == full.reason and refused.value.limit == full
    assert {limit.key: stored(limit.key) for limit in batch} == before  # all or nothing
    for limit in batch:  # and the others still have all their room
        if limit is not full:
            expected = limit.limit - before[limit.key]
            assert capacity(limit, fresh_numbers("+7916333") if limit.distinct else None) == expected


def test_the_first_broken_limit_names_the_rejection(ctx, backend, counters):
    session = Limit("limit_session", "session:first", PHONE, 300, 1)
    number = Limit("limit_number", "number:first", PHONE, 600, 1)
    assert admitted([session, number]) is None
    assert admitted([session, number]) == "limit_session"
    assert admitted([number, session]) == "limit_number"


def test_a_limit_of_zero_is_off(ctx, backend, counters):
    off = Limit("limit_number", "number:test:off", PHONE, 600, 0)
    on = Limit("limit_session", "session:test:on", PHONE, 300, 2)

    for _ in range(10):
        assert admitted([off]) is None
    assert stored(off.key) == 0
    assert [admitted([off, on]) for _ in range(3)] == [None, None, "limit_session"]
    assert stored(off.key) == 0

    set_setting("limit_number_per_10min", 0)
    set_setting("limit_number_per_day", 0)
    set_setting("limit_ip_numbers_per_hour", 0)
    set_setting("limit_session_interval_s", 0)
    set_setting("limit_prefix_numbers_per_hour", 0)
    db.session.commit()
    for n in range(12):
        assert admitted(limits.request_limits(f"+7916000{n:04d}", "one-visitor", "192.0.2.1")) is None
        assert admitted(limits.request_limits(PHONE, "one-visitor", "192.0.2.1")) is None


# ---------------------------------------------------------------------------------------------------------------
# The window


def test_hits_older_than_the_window_do_not_count(ctx, backend, counters, monkeypatch):
    now = utcnow()
    number = Limit("limit_number", "number:test:window", PHONE, 600, 2)
    ip = Limit("limit_ip", "ip:192.0.2.9", "+79160000001", 3600, 1, distinct=True)

    with clock_at(monkeypatch, now - dt.timedelta(seconds=601)):
        assert admitted([number]) is None
    with clock_at(monkeypatch, now - dt.timedelta(seconds=599)):
        assert [admitted([number]) for _ in range(2)] == [None, "limit_number"]
    with clock_at(monkeypatch, now):  # the hit from 601 s ago fell out; the one from 599 s ago still counts
        assert [admitted([number]) for _ in range(2)] == [None, "limit_number"]

    with clock_at(monkeypatch, now - dt.timedelta(hours=2)):
        assert admitted([ip]) is None
    with clock_at(monkeypatch, now):  # another number: the old one is no longer counted
        assert admitted([Limit(ip.reason, ip.key, "+79160000002", 3600, 1, distinct=True)]) is None
        assert admitted([ip]) == "limit_ip"  # and no longer known either


@pytest.mark.parametrize("counters", ["database"])
def test_old_database_rows_do_not_count(ctx, backend, counters):
    key, ip_key = "number:10m:" + PHONE, "ip:192.0.2.10"
    for n in range(5):
        insert_hit(key, PHONE, dt.timedelta(seconds=601))
        insert_hit(ip_key, f"+7916000{n:04d}", dt.timedelta(seconds=3601))
    insert_hit(key, PHONE, dt.timedelta(seconds=599))

    assert capacity(Limit("limit_number", key, PHONE, 600, 3)) == 2
    assert capacity(Limit("limit_ip", ip_key, "", 3600, 3, distinct=True), fresh_numbers()) == 3
    # A member seen only before the window is a new member now.
    assert admitted([Limit("limit_ip", ip_key, "+79160000000", 3600, 3, distinct=True)]) == "limit_ip"


def test_a_number_takes_three_per_ten_minutes_and_six_per_day(ctx, backend, counters, monkeypatch):
    now = utcnow()

    def ask(at: dt.datetime, n: int) -> str | None:
        with clock_at(monkeypatch, at):
            return admitted(limits.request_limits(PHONE, f"visitor-{at.timestamp()}-{n}", f"192.0.2.{n}"))

    three_hours_ago, one_hour_ago = now - dt.timedelta(hours=3), now - dt.timedelta(hours=1)
    assert [ask(three_hours_ago, n) for n in range(4)] == [None, None, None, "limit_number"]
    assert [ask(one_hour_ago, n) for n in range(4)] == [None, None, None, "limit_number"]
    assert ask(now, 1) == "limit_number"  # six in the day already
    assert ask(now - dt.timedelta(hours=3) + dt.timedelta(days=1, seconds=1), 2) is None  # three fell out


# ---------------------------------------------------------------------------------------------------------------
# Settings


def test_request_limits_follow_the_global_settings(ctx, backend, counters):
    set_setting("limit_number_per_10min", 1)
    set_setting("limit_number_per_day", 4)
    set_setting("limit_session_interval_s", 60)
    set_setting("limit_ip_numbers_per_hour", 2)
    set_setting("limit_prefix_numbers_per_hour", 7)
    db.session.commit()

    by_key = {limit.key: limit for limit in limits.request_limits(PHONE, "visitor-1", "192.0.2.1")}
    assert by_key == {
        f"number:10m:{PHONE}": Limit("limit_number", f"number:10m:{PHONE}", PHONE, 600, 1),
        f"number:day:{PHONE}": Limit("limit_number", f"number:day:{PHONE}", PHONE, 86_400, 4),
        "ip:192.0.2.1": Limit("limit_ip", "ip:192.0.2.1", PHONE, 3600, 2, distinct=True),
        "session:visitor-1": Limit("limit_session", "session:visitor-1", PHONE, 60, 1),
        f"prefix:{PHONE[:-4]}": Limit("limit_prefix", f"prefix:{PHONE[:-4]}", PHONE, 3600, 7, distinct=True),
    }
    assert [limit.reason for limit in limits.request_limits(PHONE, None, "192.0.2.1")] == [
        "limit_number", "limit_number", "limit_ip", "limit_prefix"]  # no session, no session limit

    assert admitted(limits.request_limits(PHONE, "visitor-1", "192.0.2.1")) is None
    assert admitted(limits.request_limits(PHONE, "visitor-2", "192.0.2.2")) == "limit_number"
    assert admitted(limits.request_limits("+79160000002", "visitor-3", "192.0.2.1")) is None
    assert admitted(limits.request_limits("+79160000003", "visitor-4", "192.0.2.1")) == "limit_ip"
    assert admitted(limits.request_limits("+79160000004", "visitor-1", "192.0.2.4")) == "limit_session"


def test_defaults_are_three_numbers_per_ip_and_one_request_per_session(ctx, backend, counters, monkeypatch):
    now = utcnow()
    numbers = [f"+7916000000{n}" for n in range(5)]
    assert [admitted(limits.request_limits(numbers[n], f"v{n}", "192.0.2.50")) for n in range(5)] == [
        None, None, None, "limit_ip", "limit_ip"]

    assert admitted(limits.request_limits(numbers[0], "one-visitor", "192.0.2.60")) is None
    with clock_at(monkeypatch, now + dt.timedelta(seconds=299)):
        assert admitted(limits.request_limits(numbers[1], "one-visitor", "192.0.2.61")) == "limit_session"
    with clock_at(monkeypatch, now + dt.timedelta(seconds=301)):
        assert admitted(limits.request_limits(numbers[1], "one-visitor", "192.0.2.62")) is None


# ---------------------------------------------------------------------------------------------------------------
# Housekeeping


def test_reset_empties_both_stores(ctx, backend, counters):
    number = Limit("limit_number", "number:test:reset", PHONE, 600, 2)
    assert capacity(number) == 2
    insert_hit("ip:192.0.2.99", PHONE, dt.timedelta(seconds=5))  # rows exist even when Redis counts
    client = limits._redis() if counters == "redis" else None
    if client is not None:
        client.set("not-a-limit", "kept")
        assert client.keys(limits.REDIS_PREFIX + "*")

    limits.reset()
    db.session.commit()

    assert db.session.scalar(sa.select(sa.func.count()).select_from(LimitHit)) == 0
    if client is not None:
        assert client.keys(limits.REDIS_PREFIX + "*") == []
        assert client.get("not-a-limit") == b"kept"  # only the limiter's keys go
    assert capacity(number) == 2


@pytest.mark.parametrize("counters", ["database"])
def test_purge_expired_deletes_only_rows_older_than_the_longest_window(ctx, backend, counters):
    insert_hit("number:day:old", PHONE, dt.timedelta(days=1, minutes=1))
    insert_hit("ip:old", PHONE, dt.timedelta(days=3))
    insert_hit("number:day:recent", PHONE, dt.timedelta(days=1) - dt.timedelta(minutes=1))
    insert_hit("number:10m:now", PHONE, dt.timedelta(0))

    assert limits.purge_expired() == 2
    db.session.commit()

    assert sorted(db.session.scalars(sa.select(LimitHit.key))) == ["number:10m:now", "number:day:recent"]
    assert limits.purge_expired() == 0
    # The day window still counts what purging kept.
    assert capacity(Limit("limit_number", "number:day:recent", PHONE, 86_400, 2)) == 1
