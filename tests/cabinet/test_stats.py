"""The cabinet's statistics service (issue 9 parts 1 and 6): periods in the account's zone, the site filter,
tenant isolation, speed-to-connect percentiles, widget conversion and spend from the ledger."""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from request_rows import request_row

from app.extensions import db
from app.models import Account, CallbackRequest, DialerTransition, LedgerTransaction, ManagerLine, WidgetEventCount
from app.services import accounts, ledger, sites, stats, stats_rollup

MSK = ZoneInfo("Europe/Moscow")  # UTC+3
VVO = ZoneInfo("Asia/Vladivostok")  # UTC+10
UTC = dt.UTC


def local(zone, *args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=zone).astimezone(UTC)


@pytest.fixture
def shop(app_ctx):
    """Two accounts, each with two sites: returns {"a": (account_id, site1, site2), "b": (...)}."""
    result = {}
    for name in ("a", "b"):
        account_id = accounts.signup(f"{name}@acme.example.com", "correct-horse-9", f"{name} LLC").account_id
        account = db.session.get(Account, account_id)
        result[name] = (account_id, sites.create_site(account, f"{name}-one", [f"{name}1.example.com"]).id,
                        sites.create_site(account, f"{name}-two", [f"{name}2.example.com"]).id)
    db.session.commit()
    return result


def add_request(account_id, site_id, created_at, *, outcome=None, status="completed", connect_s=None, line_id=None,
                duration_s=None, source=""):
    row = request_row(account_id, site_id, created_at=created_at, status=status, outcome=outcome,
                      duration_s=duration_s, answered_line_id=line_id, source=source)
    db.session.add(row)
    db.session.flush()
    if connect_s is not None:
        db.session.add(DialerTransition(request_id=row.id, status="connected",
                                        at=created_at + dt.timedelta(seconds=connect_s)))
        # an attempt's own, later transition must not change the measure (the first one counts)
        db.session.add(DialerTransition(request_id=row.id, status="connected",
                                        at=created_at + dt.timedelta(seconds=connect_s + 1)))
    return row.id


# ---------------------------------------------------------------------------------------------------- periods

def test_period_bounds_are_local_days():
    today = dt.date(2026, 3, 10)
    assert stats.period_bounds("today", "Europe/Moscow", today=today) == (
        dt.datetime(2026, 3, 9, 21, tzinfo=UTC), dt.datetime(2026, 3, 10, 21, tzinfo=UTC))
    # Vladivostok's yesterday (9 March local) is 8 March 14:00 to 9 March 14:00 UTC, not UTC's 9 March
    assert stats.period_bounds("yesterday", "Asia/Vladivostok", today=today) == (
        dt.datetime(2026, 3, 8, 14, tzinfo=UTC), dt.datetime(2026, 3, 9, 14, tzinfo=UTC))
    start, end = stats.period_bounds("week", MSK, today=today)
    assert (start, end) == (local(MSK, 2026, 3, 4), local(MSK, 2026, 3, 11))
    start, end = stats.period_bounds("month", MSK, today=today)
    assert (end - start) == dt.timedelta(days=30) and start == local(MSK, 2026, 2, 9)
    assert stats.period_bounds("custom", "UTC", start=dt.date(2026, 1, 1), end=dt.date(2026, 1, 31)) == (
        dt.datetime(2026, 1, 1, tzinfo=UTC), dt.datetime(2026, 2, 1, tzinfo=UTC))


def test_period_bounds_on_a_daylight_saving_change():
    # Berlin moves its clocks forward on 29 March 2026: that local day is 23 hours long
    start, end = stats.period_bounds("today", "Europe/Berlin", today=dt.date(2026, 3, 29))
    assert (start, end) == (dt.datetime(2026, 3, 28, 23, tzinfo=UTC), dt.datetime(2026, 3, 29, 22, tzinfo=UTC))


def test_period_bounds_refuse_bad_input():
    with pytest.raises(stats.StatsError):
        stats.period_bounds("fortnight", "UTC")
    with pytest.raises(stats.StatsError):
        stats.period_bounds("custom", "UTC", start=dt.date(2026, 1, 2))
    with pytest.raises(stats.StatsError):
        stats.period_bounds("custom", "UTC", start=dt.date(2026, 1, 2), end=dt.date(2026, 1, 1))


@pytest.mark.backends
@pytest.mark.parametrize("zone", [MSK, VVO])
def test_a_request_at_2330_local_counts_in_its_local_day(shop, zone):
    account_id, site_id, _ = shop["a"]
    late = local(zone, 2026, 3, 9, 23, 30)  # 9 March 23:30 local: 9 March UTC in Moscow, 9 March 13:30 UTC in VVO
    early = local(zone, 2026, 3, 10, 0, 30)  # just after local midnight: the next local day
    add_request(account_id, site_id, late, outcome="success")
    add_request(account_id, site_id, early, outcome="manager_no_answer")
    db.session.commit()

    today = dt.date(2026, 3, 10)
    yesterday = stats.summary(account_id, *stats.period_bounds("yesterday", zone, today=today))
    assert (yesterday.requests, yesterday.by_outcome) == (1, {"success": 1})
    now = stats.summary(account_id, *stats.period_bounds("today", zone, today=today))
    assert (now.requests, now.by_outcome) == (1, {"manager_no_answer": 1})

    start, end = stats.period_bounds("custom", zone, start=dt.date(2026, 3, 9), end=dt.date(2026, 3, 10))
    assert stats.per_day(account_id, start, end, zone) == [
        (dt.date(2026, 3, 9), {"success": 1}), (dt.date(2026, 3, 10), {"manager_no_answer": 1})]
    hours = stats.per_hour(account_id, start, end, zone)
    assert hours[23] == 1 and hours[0] == 1 and sum(hours) == 2


# ---------------------------------------------------------------------------------------------------- scoping

@pytest.mark.backends
def test_site_filter_and_two_accounts_never_mix(shop):
    a_id, a_one, a_two = shop["a"]
    b_id, b_one, _ = shop["b"]
    at = dt.datetime(2026, 3, 10, 9, tzinfo=UTC)
    for _ in range(3):
        add_request(a_id, a_one, at, outcome="success", duration_s=60, source="google")
    add_request(a_id, a_two, at, outcome="client_no_answer", source="direct")
    for _ in range(5):
        add_request(b_id, b_one, at, outcome="success", duration_s=600, source="yandex")
    db.session.add_all([WidgetEventCount(site_id=a_one, day=at.date(), kind="shown", count=30),
                        WidgetEventCount(site_id=a_one, day=at.date(), kind="shown", device="mobile", count=10),
                        WidgetEventCount(site_id=a_one, day=at.date(), kind="closed", count=7),
                        WidgetEventCount(site_id=a_two, day=at.date(), kind="shown", count=10),
                        WidgetEventCount(site_id=b_one, day=at.date(), kind="shown", count=1000)])
    db.session.commit()
    start, end = stats.period_bounds("today", "UTC", today=at.date())

    whole = stats.summary(a_id, start, end)
    assert whole.requests == 4 and whole.by_outcome == {"success": 3, "client_no_answer": 1}
    assert whole.by_status == {"completed": 4}
    assert whole.shows == 50 and whole.conversion == pytest.approx(4 / 50)
    assert whole.answered == 3 and whole.answered_share == pytest.approx(0.75)
    assert whole.talk_minutes == 3.0
    assert stats.per_source(a_id, start, end) == [("google", 3), ("direct", 1)]

    one = stats.summary(a_id, start, end, site_id=a_one)
    assert (one.requests, one.shows, one.answered_share, one.spend_kop) == (3, 40, 1.0, None)
    assert stats.per_source(a_id, start, end, site_id=a_two) == [("direct", 1)]

    # another account's site given as the filter: nothing, neither requests nor shows
    foreign = stats.summary(a_id, start, end, site_id=b_one)
    assert (foreign.requests, foreign.shows, foreign.conversion, foreign.speed.count) == (0, 0, None, 0)
    assert stats.per_day(a_id, start, end, "UTC", site_id=b_one) == [(at.date(), {})]
    assert sum(stats.per_hour(a_id, start, end, "UTC", site_id=b_one)) == 0
    assert stats.per_source(a_id, start, end, site_id=b_one) == []

    other = stats.summary(b_id, start, end)
    assert (other.requests, other.shows, other.talk_minutes) == (5, 1000, 50.0)


# ---------------------------------------------------------------------------------------------------- speed

def test_nearest_rank():
    values = list(range(1, 21))  # 1..20
    assert stats.nearest_rank(values, 50) == 10
    assert stats.nearest_rank(values, 95) == 19
    assert stats.nearest_rank(values, 100) == 20
    assert stats.nearest_rank([7], 95) == 7
    assert stats.nearest_rank([], 50) is None
    with pytest.raises(stats.StatsError):
        stats.nearest_rank(values, 0)


@pytest.mark.backends
def test_speed_to_connect_overall_per_line_and_per_site(shop):
    account_id, site_id, site_two = shop["a"]
    b_id, b_site, _ = shop["b"]
    anna = ManagerLine(account_id=account_id, number="+79161234501", manager_name="Anna")
    boris = ManagerLine(account_id=account_id, number="+79161234502", manager_name="Boris")
    db.session.add_all([anna, boris])
    db.session.flush()
    at = dt.datetime(2026, 3, 10, 9, tzinfo=UTC)
    for seconds in range(1, 11):  # Anna: 1..10 s
        add_request(account_id, site_id, at, outcome="success", connect_s=seconds, line_id=anna.id)
    for seconds in (20, 30, 40, 50, 60, 70, 80, 90, 100, 200):  # Boris, on the second site
        add_request(account_id, site_two, at, outcome="success", connect_s=seconds, line_id=boris.id)
    add_request(account_id, site_id, at, outcome="manager_no_answer")  # never connected: not measured
    add_request(b_id, b_site, at, outcome="success", connect_s=9999)  # another account: never mixed in
    db.session.commit()

    result = stats.summary(account_id, *stats.period_bounds("today", "UTC", today=at.date()))
    # 20 values 1..10, 20..100, 200 sorted: rank 10 is 10, rank 19 is 100
    assert result.speed == stats.Speed(count=20, p50_s=10.0, p95_s=100.0)
    by_name = {line.manager_name: line for line in result.speed_by_line}
    assert set(by_name) == {"Anna", "Boris"}
    assert by_name["Anna"].speed == stats.Speed(count=10, p50_s=5.0, p95_s=10.0)
    assert by_name["Boris"].speed == stats.Speed(count=10, p50_s=60.0, p95_s=200.0)
    assert by_name["Boris"].number == "+79161234502"
    assert result.speed_by_site == {site_id: by_name["Anna"].speed, site_two: by_name["Boris"].speed}

    only_two = stats.summary(account_id, *stats.period_bounds("today", "UTC", today=at.date()), site_id=site_two)
    assert only_two.speed == by_name["Boris"].speed
    assert [line.manager_name for line in only_two.speed_by_line] == ["Boris"]


# ---------------------------------------------------------------------------------------------------- spend

@pytest.mark.backends
def test_spend_is_the_call_and_sms_debits_of_the_period(shop):
    a_id, _, _ = shop["a"]
    b_id, _, _ = shop["b"]
    inside = dt.datetime(2026, 3, 10, 9, tzinfo=UTC)
    outside = dt.datetime(2026, 3, 11, 9, tzinfo=UTC)
    mtt = ledger.system_account(ledger.MTT)

    def post(key, kind, account_id, amount, at):
        ledger.post(key, kind, [(ledger.client_account(account_id), -amount), (mtt, amount)])
        db.session.execute(sa.update(LedgerTransaction).where(LedgerTransaction.key == key).values(created_at=at))

    post("call:1:1", "call", a_id, 300, inside)
    post("call:2:1", "call", a_id, 150, inside)
    post("sms:1", "sms", a_id, 50, inside)
    post("rent:x", "rent", a_id, 10_000, inside)  # rent is not call or SMS spend
    post("call:3:1", "call", a_id, 7, outside)  # the next day
    post("call:4:1", "call", b_id, 999, inside)  # another account
    db.session.commit()

    start, end = stats.period_bounds("today", "UTC", today=inside.date())
    assert stats.spend_kop(a_id, start, end) == 500
    assert stats.summary(a_id, start, end).spend_kop == 500
    assert stats.spend_kop(b_id, start, end) == 999


@pytest.mark.backends
def test_a_zone_with_a_half_hour_offset_buckets_by_local_hour(shop):
    kolkata = ZoneInfo("Asia/Kolkata")  # UTC+5:30: UTC hours are not local hours, the request times are bucketed
    account_id, site_id, _ = shop["a"]
    add_request(account_id, site_id, local(kolkata, 2026, 3, 9, 23, 50), outcome="success")
    add_request(account_id, site_id, local(kolkata, 2026, 3, 10, 0, 10), outcome="success")
    db.session.commit()
    start, end = stats.period_bounds("custom", kolkata, start=dt.date(2026, 3, 9), end=dt.date(2026, 3, 10))
    assert stats.per_day(account_id, start, end, kolkata) == [
        (dt.date(2026, 3, 9), {"success": 1}), (dt.date(2026, 3, 10), {"success": 1})]
    hours = stats.per_hour(account_id, start, end, kolkata)
    assert hours[23] == 1 and hours[0] == 1 and sum(hours) == 2


@pytest.mark.backends
def test_service_speed_counts_every_account_in_the_period(shop):
    a_id, a_one, _ = shop["a"]
    b_id, b_one, _ = shop["b"]
    at = dt.datetime(2026, 3, 10, 9, tzinfo=UTC)
    for seconds in (10, 20, 30):
        add_request(a_id, a_one, at, outcome="success", connect_s=seconds)
    add_request(b_id, b_one, at, outcome="success", connect_s=40)
    add_request(b_id, b_one, at, outcome="client_no_answer")  # never connected: not measured
    add_request(a_id, a_one, at + dt.timedelta(days=1), outcome="success", connect_s=99)  # after the period
    db.session.commit()

    speed = stats.service_speed(at, at + dt.timedelta(days=1))
    assert speed == stats.Speed(count=4, p50_s=20.0, p95_s=40.0)
    assert stats.service_speed(at - dt.timedelta(days=1), at) == stats.Speed(count=0, p50_s=None, p95_s=None)


@pytest.mark.backends
@pytest.mark.parametrize("rolled_up", [False, True])
def test_a_request_scheduled_for_later_counts_but_not_in_the_speed(shop, rolled_up):
    """Off hours, a request waits for the morning on purpose: its hours of waiting are not a speed to connect."""
    account_id, site_id, _ = shop["a"]
    at = dt.datetime(2026, 3, 10, 1, tzinfo=UTC)
    add_request(account_id, site_id, at, outcome="success", connect_s=12)
    scheduled = add_request(account_id, site_id, at, outcome="success", connect_s=10 * 3600)
    db.session.get(CallbackRequest, scheduled).mode = "scheduled"
    db.session.commit()
    if rolled_up:
        stats_rollup.roll_up()
        db.session.commit()

    result = stats.summary(account_id, *stats.period_bounds("today", "UTC", today=at.date()))
    assert result.requests == 2 and result.answered == 2
    assert result.speed == stats.Speed(count=1, p50_s=12.0, p95_s=12.0)
    assert stats.service_speed(at, at + dt.timedelta(hours=1)) == stats.Speed(count=1, p50_s=12.0, p95_s=12.0)
