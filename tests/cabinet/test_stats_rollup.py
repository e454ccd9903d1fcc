"""The statistics' rollup (issue 9 part 6, docs/stats.md): the numbers read through the rollup equal the numbers
computed straight from the raw rows, whatever part of the requests is rolled up, in zones east and west of whole
and half hours, per site and per account; every request is counted once however often or concurrently the
rollup runs, and a request counted live while unfinished is counted once after it finishes and is rolled up."""
from __future__ import annotations

import datetime as dt
import math
import random
import threading
from collections import Counter, defaultdict
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from request_rows import request_row

from app.extensions import db
from app.models import Account, CallbackRequest, DialerTransition, LedgerTransaction, ManagerLine, StatsHour
from app.services import accounts, dialer, leases, ledger, sites, stats, stats_rollup
from dialer.tasks import stats as stats_tasks

UTC = dt.UTC
ZONES = [ZoneInfo("Europe/Moscow"), ZoneInfo("Asia/Vladivostok"), ZoneInfo("Asia/Kolkata")]
TODAY = dt.date(2026, 3, 12)
STATUSES = ["completed"] * 6 + ["rejected", "passive", "expired", "dialing", "scheduled", "connected"]
OUTCOMES = ["success", "success", "manager_no_answer", "client_no_answer", "failed"]
SOURCES = ["", "google", "yandex", "direct", "vk"]


@pytest.fixture
def shop(app_ctx):
    """Two accounts with two sites and two lines each: {"a": (account_id, [site ids], [line ids]), "b": ...}."""
    result = {}
    for name in ("a", "b"):
        account_id = accounts.signup(f"{name}@acme.example.com", "correct-horse-9", f"{name} LLC").account_id
        account = db.session.get(Account, account_id)
        site_ids = [sites.create_site(account, f"{name}-{n}", [f"{name}{n}.example.com"]).id for n in (1, 2)]
        lines = [ManagerLine(account_id=account_id, number=f"+7916123450{n}", manager_name=f"{name}-manager-{n}")
                 for n in (1, 2)]
        db.session.add_all(lines)
        db.session.flush()
        result[name] = (account_id, site_ids, [line.id for line in lines])
    db.session.commit()
    return result


def add_random_requests(shop, rng: random.Random, count: int) -> None:
    """`count` requests per account over 10 days around TODAY, at any second, with speeds to connect in
    fractions of a second (floored to whole seconds by the statistics, the rollup's resolution)."""
    first = dt.datetime.combine(TODAY - dt.timedelta(days=8), dt.time(), tzinfo=UTC)
    for account_id, site_ids, line_ids in shop.values():
        for _ in range(count):
            created_at = first + dt.timedelta(seconds=rng.uniform(0, 10 * 86400))
            status = rng.choice(STATUSES)
            called = status in ("completed", "connected")
            outcome = rng.choice(OUTCOMES) if status == "completed" else None
            row = request_row(account_id, rng.choice(site_ids), created_at=created_at, status=status, outcome=outcome,
                              source=rng.choice(SOURCES), duration_s=rng.randint(0, 600) if called else None,
                              answered_line_id=rng.choice([*line_ids, None]) if called else None)
            db.session.add(row)
            db.session.flush()
            if called and rng.random() < 0.8:
                connected = created_at + dt.timedelta(seconds=rng.uniform(0, 90))
                db.session.add_all([DialerTransition(request_id=row.id, status="connected", at=connected),
                                    DialerTransition(request_id=row.id, status="connected",
                                                     at=connected + dt.timedelta(seconds=3))])
    db.session.commit()


# ------------------------------------------------------------------------------------- the raw reference

def raw_rows(account_id, start, end, site_id):
    where = [CallbackRequest.account_id == account_id, CallbackRequest.created_at >= start,
             CallbackRequest.created_at < end]
    if site_id is not None:
        where.append(CallbackRequest.site_id == site_id)
    requests = db.session.scalars(sa.select(CallbackRequest).where(*where)).all()
    connected: dict[int, dt.datetime] = {}
    for request_id, at in db.session.execute(
            sa.select(DialerTransition.request_id, DialerTransition.at)
            .where(DialerTransition.request_id.in_([r.id for r in requests]), DialerTransition.status == "connected")):
        at = stats_rollup.as_utc(at)
        connected[request_id] = min(at, connected.get(request_id, at))
    return requests, connected


def raw_numbers(account_id, start, end, zone, site_id):
    requests, connected = raw_rows(account_id, start, end, site_id)
    seconds = {r.id: math.floor((connected[r.id] - stats_rollup.as_utc(r.created_at)).total_seconds())
               for r in requests if r.id in connected}
    per_line, per_site = defaultdict(list), defaultdict(list)
    for r in requests:
        if r.id in seconds:
            per_line[r.answered_line_id].append(seconds[r.id])
            per_site[r.site_id].append(seconds[r.id])
    days, hours = defaultdict(Counter), [0] * 24
    for r in requests:
        local = stats_rollup.as_utc(r.created_at).astimezone(zone)
        days[local.date()][r.outcome or ""] += 1
        hours[local.hour] += 1
    sources = Counter(r.source for r in requests)
    return {
        "requests": len(requests), "by_status": dict(Counter(r.status for r in requests)),
        "by_outcome": dict(Counter(r.outcome or "" for r in requests)),
        "talk_minutes": round(sum(r.duration_s or 0 for r in requests) / 60, 2),
        "speed": stats.Speed.of(list(seconds.values())),
        "by_line": {line: stats.Speed.of(values) for line, values in per_line.items()},
        "by_site": {site: stats.Speed.of(values) for site, values in per_site.items()},
        "days": {day: dict(counts) for day, counts in days.items()}, "hours": hours,
        "sources": sorted(sources.items(), key=lambda item: (-item[1], item[0])),
    }


def rollup_numbers(account_id, start, end, zone, site_id):
    result = stats.summary(account_id, start, end, site_id)
    return {
        "requests": result.requests, "by_status": result.by_status, "by_outcome": result.by_outcome,
        "talk_minutes": result.talk_minutes, "speed": result.speed,
        "by_line": {line.line_id: line.speed for line in result.speed_by_line},
        "by_site": result.speed_by_site,
        "days": {day: counts for day, counts in stats.per_day(account_id, start, end, zone, site_id) if counts},
        "hours": stats.per_hour(account_id, start, end, zone, site_id),
        "sources": stats.per_source(account_id, start, end, site_id),
    }


def assert_all_periods_match(shop):
    for zone in ZONES:
        for kind in ("today", "yesterday", "week"):
            start, end = stats.period_bounds(kind, zone, today=TODAY)
            for account_id, site_ids, _ in shop.values():
                for site_id in (None, site_ids[1]):
                    assert rollup_numbers(account_id, start, end, zone, site_id) == \
                        raw_numbers(account_id, start, end, zone, site_id), (zone, kind, account_id, site_id)


# ------------------------------------------------------------------------------------- tests

@pytest.mark.backends
def test_rollup_numbers_equal_the_raw_rows_whatever_is_rolled_up(shop):
    rng = random.Random(9)
    add_random_requests(shop, rng, 150)
    assert_all_periods_match(shop)  # nothing rolled up: all live
    counted = stats_rollup.roll_up(batch=40)
    assert counted == db.session.scalar(sa.select(sa.func.count()).where(
        CallbackRequest.status.in_(stats_rollup.FINAL_STATUSES)))
    add_random_requests(shop, rng, 60)  # more, not rolled up yet: rollup + live
    assert_all_periods_match(shop)
    stats_rollup.roll_up()
    assert_all_periods_match(shop)


@pytest.mark.backends
def test_each_account_reads_only_its_own_rollup(shop):
    add_random_requests(shop, random.Random(3), 80)
    stats_rollup.roll_up()
    (a_id, a_sites, _), (b_id, b_sites, _) = shop["a"], shop["b"]
    start, end = stats.period_bounds("week", ZONES[0], today=TODAY)
    a, b = stats.summary(a_id, start, end), stats.summary(b_id, start, end)
    assert a.requests == raw_numbers(a_id, start, end, ZONES[0], None)["requests"] > 0
    assert b.requests == raw_numbers(b_id, start, end, ZONES[0], None)["requests"] > 0
    assert set(a.speed_by_site) <= set(a_sites) and set(b.speed_by_site) <= set(b_sites)
    assert stats.summary(a_id, start, end, site_id=b_sites[0]).requests == 0  # another account's site: nothing


@pytest.mark.backends
def test_rolling_up_twice_counts_each_request_once(shop):
    add_random_requests(shop, random.Random(5), 50)
    final = db.session.scalar(sa.select(sa.func.count()).where(
        CallbackRequest.status.in_(stats_rollup.FINAL_STATUSES)))
    assert stats_rollup.roll_up(batch=7) == final
    assert stats_rollup.roll_up() == 0
    assert db.session.scalar(sa.select(sa.func.sum(StatsHour.requests))) == final
    assert stats_rollup.rebuild() == final
    assert db.session.scalar(sa.select(sa.func.sum(StatsHour.requests))) == final


@pytest.mark.backends
def test_concurrent_rollups_count_each_request_once(app, shop):
    add_random_requests(shop, random.Random(7), 120)
    final = db.session.scalar(sa.select(sa.func.count()).where(
        CallbackRequest.status.in_(stats_rollup.FINAL_STATUSES)))
    db.session.remove()
    counted, errors = [], []

    def run():
        try:
            with app.app_context():
                counted.append(stats_rollup.roll_up(batch=9))
                db.session.remove()
        except Exception as exc:  # reported below: a thread's exception would otherwise be lost
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sum(counted) == final
    assert db.session.scalar(sa.select(sa.func.sum(StatsHour.requests))) == final


@pytest.mark.backends
def test_a_request_counted_live_then_finished_and_rolled_up_counts_once(shop):
    account_id, site_ids, line_ids = shop["a"]
    created_at = dt.datetime(2026, 3, 12, 9, 15, tzinfo=UTC)
    row = request_row(account_id, site_ids[0], created_at=created_at, status="connected", source="google")
    db.session.add(row)
    db.session.commit()
    db.session.add(DialerTransition(request_id=row.id, status="connected", at=created_at + dt.timedelta(seconds=12)))
    db.session.commit()
    start, end = stats.period_bounds("today", "Europe/Moscow", today=TODAY)

    live = stats.summary(account_id, start, end)
    assert (live.requests, live.by_status, live.speed.count) == (1, {"connected": 1}, 1)
    assert stats_rollup.roll_up() == 0  # not final yet: stays live

    assert dialer.advance_request(row.id, "completed", outcome="success", duration_s=90, answered_line_id=line_ids[0])
    db.session.commit()
    finished = stats.summary(account_id, start, end)
    assert stats_rollup.roll_up() == 1
    rolled = stats.summary(account_id, start, end)
    for result in (finished, rolled):
        assert (result.requests, result.by_status, result.by_outcome, result.talk_minutes) == (
            1, {"completed": 1}, {"success": 1}, 1.5)
        assert result.speed == stats.Speed(count=1, p50_s=12.0, p95_s=12.0)
        assert [line.line_id for line in result.speed_by_line] == [line_ids[0]]
    assert stats.per_source(account_id, start, end) == [("google", 1)]
    assert sum(stats.per_hour(account_id, start, end, "Europe/Moscow")) == 1


def post_spend(rng: random.Random, shop, count: int, first: dt.datetime, days: float) -> None:
    """Call, SMS and rent postings at random times in `days` days from `first`, for both accounts."""
    mtt = ledger.system_account(ledger.MTT)
    for account_id, _, _ in shop.values():
        client = ledger.client_account(account_id)
        for _ in range(count):
            key = f"test:{rng.random()}"
            amount = rng.randint(1, 500)
            ledger.post(key, rng.choice(["call", "call", "sms", "rent"]), [(client, -amount), (mtt, amount)])
            db.session.execute(sa.update(LedgerTransaction).where(LedgerTransaction.key == key)
                               .values(created_at=first + dt.timedelta(seconds=rng.uniform(0, days * 86400))))
    db.session.commit()


def raw_spend(account_id, start, end) -> int:
    total = 0
    for transaction in db.session.scalars(sa.select(LedgerTransaction).where(
            LedgerTransaction.created_at >= start, LedgerTransaction.created_at < end,
            LedgerTransaction.kind.in_(["call", "sms"]))):
        total -= sum(entry.amount_kop for entry in transaction.entries
                     if entry.ledger_account.account_id == account_id)
    return total


def assert_spend_matches(shop, today=TODAY):
    for zone in ZONES:
        for kind in ("today", "yesterday", "week"):
            start, end = stats.period_bounds(kind, zone, today=today)
            for account_id, _, _ in shop.values():
                assert stats.spend_kop(account_id, start, end) == raw_spend(account_id, start, end), (zone, kind)


@pytest.mark.backends
def test_spend_from_the_rollup_equals_the_ledger_and_counts_once(shop):
    rng = random.Random(11)
    post_spend(rng, shop, 60, dt.datetime.combine(TODAY - dt.timedelta(days=8), dt.time(), tzinfo=UTC), 9)
    assert_spend_matches(shop)  # no mark yet: all from the ledger
    now = dt.datetime.combine(TODAY, dt.time(15, 40), tzinfo=UTC)  # the mark stops mid-hour, mid-day
    assert stats_rollup.roll_up_spend(now) > 0
    assert stats_rollup.spend_mark() == now - stats_rollup.SPEND_LAG
    assert stats_rollup.roll_up_spend(now) == 0  # again: nothing counted twice
    assert_spend_matches(shop)
    post_spend(rng, shop, 20, now - stats_rollup.SPEND_LAG, 1.5)  # after the mark: read from the ledger
    assert_spend_matches(shop)
    assert_spend_matches(shop, TODAY + dt.timedelta(days=1))
    stats_rollup.roll_up_spend(now + dt.timedelta(days=3))
    assert_spend_matches(shop, TODAY + dt.timedelta(days=1))
    assert stats.summary(shop["a"][0], *stats.period_bounds("week", "UTC", today=TODAY)).spend_kop == raw_spend(
        shop["a"][0], *stats.period_bounds("week", "UTC", today=TODAY))


@pytest.mark.backends
def test_the_periodic_task_rolls_up_and_is_single_flight(app, shop):
    add_random_requests(shop, random.Random(13), 30)
    final = db.session.scalar(sa.select(sa.func.count()).where(
        CallbackRequest.status.in_(stats_rollup.FINAL_STATUSES)))
    assert leases.acquire("stats.roll_up", "other-run", 300)  # another run in progress
    assert stats_tasks.roll_up.call_local() == 0
    leases.release("stats.roll_up", "other-run")
    assert stats_tasks.roll_up.call_local() == final
    db.session.expire_all()
    assert db.session.scalar(sa.select(sa.func.sum(StatsHour.requests))) == final
    assert stats_rollup.spend_mark() is not None
