"""The client cabinet's statistics (issue 9 parts 1 and 6; C2, C7, X2): plain functions over one account's rows.

Every query filters by `account_id`; a `site_id` of another account matches nothing (the site filter is applied
together with the account filter, never instead of it). Periods are half-open UTC intervals `[start, end)`
computed from local days in the account's time zone (`period_bounds`).

How things are measured (so the numbers mean the same on SQLite and PostgreSQL):

- requests are counted by their `created_at`; "answered" means outcome `success` (manager and client both
  answered, docs/dialer.md D9); the answered share is answered / all requests of the period;
- speed to connect (X2) is the request's first `connected` transition (`dialer_transition`, the request's
  own row or an attempt's) minus the request's `created_at`; the durations are fetched with an indexed
  query and the median and 95th percentile computed in Python with the **nearest-rank** method
  (`nearest_rank`): the value at rank ceil(p/100 * n) of the sorted list, always one of the measured values;
- talk minutes: the sum of the requests' `duration_s` (the client's talk time), divided by 60;
- spend: the client's ledger debits of kinds `call` and `sms` posted in the period, in kopecks (a debit is a
  negative entry on `client:<id>`, app.services.ledger); not attributable to a site, so None with `site_id`;
- widget shows: `widget_event_count` rows of kind `shown`; the counters are kept per **UTC** day
  (app.services.widget_events), so the shows of a period are those of the UTC days the period touches
  (an approximation at the period's edges for zones far from UTC);
- per-day and per-hour buckets are local (the account's zone): requests are counted in SQL per UTC hour (an
  indexed range query on `callback_request(account_id, created_at)`), and the hours moved to the local zone in
  Python; zones whose offset is not whole hours fall back to fetching the request times.
"""
from __future__ import annotations

import datetime as dt
import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import g, has_request_context

from app.extensions import db
from app.models import (
    CallbackRequest,
    DialerTransition,
    LedgerAccount,
    LedgerEntry,
    LedgerTransaction,
    ManagerLine,
    Site,
    StatsHour,
    StatsSourceHour,
    StatsSpeedDay,
    StatsSpeedHour,
    StatsSpendHour,
    WidgetEventCount,
)
from app.services import DomainError, stats_rollup

PERIODS = ("today", "yesterday", "week", "month", "custom")
SPEND_KINDS = stats_rollup.SPEND_KINDS
ANSWERED_OUTCOME = "success"
NO_OUTCOME = ""  # the outcome key of requests not (yet) called: rejected, expired, waiting


class StatsError(DomainError):
    code = "stats_error"


# ---------------------------------------------------------------------------------------------------- periods

def period_bounds(kind: str, tz: str | dt.tzinfo, today: dt.date | None = None, start: dt.date | None = None,
                  end: dt.date | None = None) -> tuple[dt.datetime, dt.datetime]:
    """The period's `[start, end)` in aware UTC datetimes, from local midnights in the zone `tz`.

    today: the local day so far (to the next local midnight); yesterday: the local day before; week: the last
    7 local days including today; month: the last 30 local days including today; custom: the local days `start`
    to `end`, both included. `today` defaults to the local date now in `tz`.
    """
    zone = ZoneInfo(tz) if isinstance(tz, str) else tz
    if today is None:
        today = dt.datetime.now(zone).date()
    if kind == "today":
        first, last = today, today
    elif kind == "yesterday":
        first = last = today - dt.timedelta(days=1)
    elif kind == "week":
        first, last = today - dt.timedelta(days=6), today
    elif kind == "month":
        first, last = today - dt.timedelta(days=29), today
    elif kind == "custom":
        if start is None or end is None:
            raise StatsError("a custom period needs a start and an end date")
        if end < start:
            raise StatsError("a period's end is not before its start")
        first, last = start, end
    else:
        raise StatsError(f"unknown period {kind!r}; one of {', '.join(PERIODS)}")
    return _local_midnight(first, zone), _local_midnight(last + dt.timedelta(days=1), zone)


def _local_midnight(day: dt.date, zone: dt.tzinfo) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=zone).astimezone(dt.UTC)


def _aware(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


# ---------------------------------------------------------------------------------------------------- percentiles

def nearest_rank(sorted_values: Sequence[float], p: float) -> float | None:
    """The p-th percentile (0 < p <= 100) by nearest rank: the value at rank ceil(p/100 * n); None when empty."""
    if not sorted_values:
        return None
    if not 0 < p <= 100:
        raise StatsError(f"a percentile is in (0, 100], got {p!r}")
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


@dataclass(frozen=True)
class Speed:
    """Speed to connect (X2) in seconds over `count` connected requests."""

    count: int
    p50_s: float | None
    p95_s: float | None

    @classmethod
    def of(cls, durations: Sequence[float]) -> Speed:
        ordered = sorted(durations)
        return cls(count=len(ordered), p50_s=nearest_rank(ordered, 50), p95_s=nearest_rank(ordered, 95))


@dataclass(frozen=True)
class LineSpeed:
    line_id: int | None  # None: connected without an answering line recorded
    manager_name: str
    number: str
    speed: Speed


@dataclass(frozen=True)
class Summary:
    start: dt.datetime
    end: dt.datetime
    site_id: int | None
    requests: int
    by_status: dict[str, int]
    by_outcome: dict[str, int]  # "" for requests without an outcome
    shows: int
    conversion: float | None  # requests / shows; None without shows
    answered: int
    answered_share: float | None  # answered / requests; None without requests
    speed: Speed
    speed_by_line: list[LineSpeed] = field(default_factory=list)
    speed_by_site: dict[int, Speed] = field(default_factory=dict)  # site id -> its speed (X2: per site)
    talk_minutes: float = 0.0
    spend_kop: int | None = None  # None with a site filter (the ledger is per account)


# ---------------------------------------------------------------------------------------------------- sources

def _whole_hours(start: dt.datetime, end: dt.datetime) -> tuple[dt.datetime, dt.datetime] | None:
    """The whole UTC hours `[first, last)` inside `[start, end)`, read from the rollup; None when there are none."""
    first = stats_rollup.hour_of(start)
    if first < start:
        first += dt.timedelta(hours=1)
    last = stats_rollup.hour_of(end)
    return (first, last) if first < last else None


def _scope(model, account_id: int | None, site_id: int | None) -> list:
    where = [] if account_id is None else [model.account_id == account_id]
    return where if site_id is None else [*where, model.site_id == site_id]


def _rollup_where(model, account_id: int | None, start: dt.datetime, end: dt.datetime,
                  site_id: int | None) -> list | None:
    hours = _whole_hours(start, end)
    if hours is None:
        return None
    return [*_scope(model, account_id, site_id), model.hour >= hours[0], model.hour < hours[1]]


def _live_parts(account_id: int | None, start: dt.datetime, end: dt.datetime, site_id: int | None,
                edges: bool = True) -> list[list]:
    """The `callback_request` ranges not read from the rollup: the partial hours at the period's edges (when
    `edges`), and the whole hours' requests not rolled up yet (a small partial index)."""
    scope = _scope(CallbackRequest, account_id, site_id)
    created = CallbackRequest.created_at
    hours = _whole_hours(start, end)
    if hours is None:
        return [[*scope, created >= start, created < end]] if edges else []
    parts = [[*scope, created >= hours[0], created < hours[1], CallbackRequest.rolled_up == sa.false()]]
    if edges and start < hours[0]:
        parts.append([*scope, created >= start, created < hours[0]])
    if edges and hours[1] < end:
        parts.append([*scope, created >= hours[1], created < end])
    return parts


def _union(selects: list):
    return selects[0].subquery() if len(selects) == 1 else sa.union_all(*selects).subquery()


def _key(model, name: str, dialect: str):
    if name == "hour":
        return _utc_hour(dialect, model.created_at if model is CallbackRequest else model.hour).label(name)
    return sa.func.coalesce(getattr(model, name), "").label(name)


def _counts(account_id: int, start: dt.datetime, end: dt.datetime, site_id: int | None, keys: tuple[str, ...]):
    """(*keys, requests, talk seconds) grouped by `keys` (of hour: the UTC hour as text, status, outcome; or source
    alone, whose talk seconds are 0):
    the rollup's whole hours and the live rest in one statement, so one snapshot."""
    dialect = db.session.get_bind().dialect.name
    selects = [sa.select(*(_key(CallbackRequest, name, dialect) for name in keys), sa.literal(1).label("n"),
                         sa.func.coalesce(CallbackRequest.duration_s, 0).label("t")).where(*where)
               for where in _live_parts(account_id, start, end, site_id)]
    model = StatsSourceHour if "source" in keys else StatsHour
    rollup = _rollup_where(model, account_id, start, end, site_id)
    if rollup is not None:
        talk = StatsHour.talk_s if model is StatsHour else sa.literal(0)
        selects.append(sa.select(*(_key(model, name, dialect) for name in keys),
                                 model.requests.label("n"), talk.label("t")).where(*rollup))
    union = _union(selects)
    columns = [union.c[name] for name in keys]
    return db.session.execute(sa.select(*columns, sa.func.sum(union.c.n), sa.func.sum(union.c.t))
                              .group_by(*columns)).all()


def _speed_histograms(account_id: int | None, start: dt.datetime, end: dt.datetime, site_id: int | None,
                      edges: bool = True) -> Counter[tuple[int, int | None, int]]:
    """(site, answering line or None, whole seconds to connect) -> connected requests of the period."""
    result: Counter[tuple[int, int | None, int]] = Counter()
    parts = _speed_rollup_parts(account_id, start, end, site_id)
    if parts:
        union = _union(parts)
        columns = [union.c.site_id, union.c.line_id, union.c.second]
        for site, line_id, second, count in db.session.execute(
                sa.select(*columns, sa.func.sum(union.c.requests)).group_by(*columns)):
            result[site, line_id or None, second] += int(count)
    parts = _live_parts(account_id, start, end, site_id, edges)
    if parts:
        for site, line_id, second in _live_speeds(parts):
            result[site, line_id, second] += 1
    return result


def _speed_rollup_parts(account_id: int | None, start: dt.datetime, end: dt.datetime, site_id: int | None) -> list:
    """The speed histogram's rows of the whole hours in the period: whole UTC days from `stats_speed_day`, the
    whole hours around them from `stats_speed_hour`."""
    hours = _whole_hours(start, end)
    if hours is None:
        return []
    first_day = hours[0].replace(hour=0)
    if first_day < hours[0]:
        first_day += dt.timedelta(days=1)
    last_day = hours[1].replace(hour=0)
    parts, hour_ranges = [], [hours]
    if first_day < last_day:
        day = StatsSpeedDay
        parts.append(sa.select(day.site_id, day.line_id, day.second, day.requests).where(
            *_scope(day, account_id, site_id), day.day >= first_day.date(), day.day < last_day.date()))
        hour_ranges = [(hours[0], first_day), (last_day, hours[1])]
    hour = StatsSpeedHour
    parts += [sa.select(hour.site_id, hour.line_id, hour.second, hour.requests).where(
        *_scope(hour, account_id, site_id), hour.hour >= first, hour.hour < last)
        for first, last in hour_ranges if first < last]
    return parts


def _live_speeds(parts: list[list]) -> list[tuple[int, int | None, int]]:
    live = _union([sa.select(CallbackRequest.id, CallbackRequest.site_id, CallbackRequest.answered_line_id,
                             CallbackRequest.created_at)
                   .where(*where, CallbackRequest.mode == stats_rollup.MEASURED_MODE) for where in parts])
    first = (sa.select(DialerTransition.request_id, sa.func.min(DialerTransition.at).label("at"))
             .join(live, live.c.id == DialerTransition.request_id).where(DialerTransition.status == "connected")
             .group_by(DialerTransition.request_id).subquery())
    rows = db.session.execute(sa.select(live.c.site_id, live.c.answered_line_id, live.c.created_at, first.c.at)
                              .join(first, first.c.request_id == live.c.id))
    as_utc = stats_rollup.as_utc
    return [(site, line_id, stats_rollup.connect_second(as_utc(created_at), as_utc(connected_at)))
            for site, line_id, created_at, connected_at in rows]


def _speed_of(histogram: Counter[int]) -> Speed:
    """Nearest-rank p50/p95 of a histogram of whole seconds (the same values `Speed.of` gives on the list)."""
    ordered = sorted(histogram.items())
    count = sum(histogram.values())

    def rank_value(p: float) -> float | None:
        if not count:
            return None
        rank, seen = max(1, math.ceil(p / 100 * count)), 0
        for second, times in ordered:
            seen += times
            if seen >= rank:
                return float(second)
        return None

    return Speed(count=count, p50_s=rank_value(50), p95_s=rank_value(95))


# ---------------------------------------------------------------------------------------------------- summary

def summary(account_id: int, start: dt.datetime, end: dt.datetime, site_id: int | None = None) -> Summary:
    start, end = _aware(start), _aware(end)
    by_status: dict[str, int] = {}
    by_outcome: Counter[str] = Counter()
    talk_s = 0
    for _, status, outcome, count, seconds in _hour_rows(account_id, start, end, site_id):
        by_status[status] = by_status.get(status, 0) + int(count)
        by_outcome[outcome or NO_OUTCOME] += int(count)
        talk_s += int(seconds or 0)
    requests = sum(by_status.values())
    answered = by_outcome.get(ANSWERED_OUTCOME, 0)
    shows = _shows(account_id, start, end, site_id)
    overall: Counter[int] = Counter()
    per_line: dict[int | None, Counter[int]] = defaultdict(Counter)
    per_site: dict[int, Counter[int]] = defaultdict(Counter)
    for (site, line_id, second), count in _speed_histograms(account_id, start, end, site_id).items():
        overall[second] += count
        per_line[line_id][second] += count
        per_site[site][second] += count
    return Summary(start=start, end=end, site_id=site_id, requests=requests, by_status=by_status,
                   by_outcome=dict(by_outcome), shows=shows,
                   conversion=requests / shows if shows else None, answered=answered,
                   answered_share=answered / requests if requests else None, speed=_speed_of(overall),
                   speed_by_line=_line_speeds(account_id, per_line),
                   speed_by_site={site: _speed_of(histogram) for site, histogram in sorted(per_site.items())},
                   talk_minutes=round(talk_s / 60, 2),
                   spend_kop=None if site_id is not None else spend_kop(account_id, start, end))


def service_speed(start: dt.datetime, end: dt.datetime) -> Speed:
    """The service's own speed to connect (X2, S1) for the public landing page: nearest-rank p50/p95 in whole
    seconds over ALL accounts' connected requests created in the whole UTC hours within `[start, end)` (no
    account filter; the rollup plus the requests not rolled up yet, never a scan of the partial edge hours)."""
    histogram: Counter[int] = Counter()
    for (_, _, second), count in _speed_histograms(None, _aware(start), _aware(end), None, edges=False).items():
        histogram[second] += count
    return _speed_of(histogram)


def _line_speeds(account_id: int, per_line: dict[int | None, Counter[int]]) -> list[LineSpeed]:
    ids = [line_id for line_id in per_line if line_id is not None]
    lines = {line.id: line for line in db.session.scalars(
        sa.select(ManagerLine).where(ManagerLine.account_id == account_id, ManagerLine.id.in_(ids)))} if ids else {}
    merged: dict[int | None, Counter[int]] = defaultdict(Counter)
    for line_id, histogram in per_line.items():  # a deleted line's history reads as "no line", as live rows do
        merged[line_id if line_id in lines else None].update(histogram)
    result = []
    for line_id, histogram in merged.items():
        line = lines.get(line_id)
        result.append(LineSpeed(line_id=line_id, manager_name=line.manager_name if line else "",
                                number=line.number if line else "", speed=_speed_of(histogram)))
    return sorted(result, key=lambda item: (item.line_id is None, item.manager_name, item.line_id or 0))


def _shows(account_id: int, start: dt.datetime, end: dt.datetime, site_id: int | None) -> int:
    first_day, last_day = start.date(), (end - dt.timedelta(microseconds=1)).date()
    query = (sa.select(sa.func.coalesce(sa.func.sum(WidgetEventCount.count), 0))
             .join(Site, Site.id == WidgetEventCount.site_id)
             .where(Site.account_id == account_id, WidgetEventCount.kind == "shown",
                    WidgetEventCount.day >= first_day, WidgetEventCount.day <= last_day))
    if site_id is not None:
        query = query.where(WidgetEventCount.site_id == site_id)
    return int(db.session.scalar(query) or 0)


def spend_kop(account_id: int, start: dt.datetime, end: dt.datetime) -> int:
    """The client's call and SMS debits posted in `[start, end)`, in kopecks, as a positive number: the spend
    rollup's whole hours before its mark, the rest (edges, the last minutes) from the ledger itself."""
    start, end = _aware(start), _aware(end)
    hours = _whole_hours(start, end)
    mark = stats_rollup.spend_mark()
    covered = (hours[0], min(hours[1], stats_rollup.hour_of(mark))) if hours and mark else None
    if covered is None or covered[0] >= covered[1]:
        return _ledger_spend(account_id, [(start, end)])
    rolled = db.session.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(StatsSpendHour.amount_kop), 0))
        .where(StatsSpendHour.account_id == account_id, StatsSpendHour.hour >= covered[0],
               StatsSpendHour.hour < covered[1]))
    return int(rolled or 0) + _ledger_spend(account_id, [(start, covered[0]), (covered[1], end)])


def _ledger_spend(account_id: int, ranges: list[tuple[dt.datetime, dt.datetime]]) -> int:
    ranges = [(first, last) for first, last in ranges if first < last]
    if not ranges:
        return 0
    created = LedgerTransaction.created_at
    total = db.session.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(LedgerEntry.amount_kop), 0))
        .join(LedgerTransaction, LedgerTransaction.id == LedgerEntry.transaction_id)
        .join(LedgerAccount, LedgerAccount.id == LedgerEntry.ledger_account_id)
        .where(LedgerAccount.account_id == account_id, LedgerTransaction.kind.in_(SPEND_KINDS),
               sa.or_(*(sa.and_(created >= first, created < last) for first, last in ranges))))
    return -int(total or 0)


# ---------------------------------------------------------------------------------------------------- charts

def _utc_hour(dialect: str, column):
    """A timestamp's UTC hour as text `YYYY-MM-DD HH`, the same on both databases."""
    if dialect == "postgresql":
        return sa.func.to_char(sa.func.timezone("UTC", column), "YYYY-MM-DD HH24")
    return sa.func.strftime("%Y-%m-%d %H", column)


def _local_hour_counts(account_id: int, start: dt.datetime, end: dt.datetime, zone: dt.tzinfo,
                       site_id: int | None, with_outcome: bool) -> list[tuple[dt.datetime, str, int]]:
    """(local hour start, outcome, count) of the period's requests.

    Counted per UTC hour (the rollup's whole hours plus the live rest), then moved to the local zone in Python;
    for a zone whose offset is not whole hours in the period (e.g. Asia/Kolkata) a UTC hour straddles two local
    hours, so the period's request times are fetched from `callback_request` and bucketed instead (slower).
    """
    start, end = _aware(start), _aware(end)
    counts: Counter[tuple[dt.datetime, str]] = Counter()
    local_hours: dict[str, dt.datetime] = {}
    for hour, _, outcome, count, _ in _hour_rows(account_id, start, end, site_id):
        if hour not in local_hours:
            local_hours[hour] = dt.datetime.fromisoformat(f"{hour}:00+00:00").astimezone(zone)
        at = local_hours[hour]
        if at.minute or at.second:
            return _local_times_bucketed(account_id, start, end, zone, site_id)
        counts[at, (outcome or NO_OUTCOME) if with_outcome else NO_OUTCOME] += int(count)
    return [(at, outcome, count) for (at, outcome), count in counts.items()]


def _hour_rows(account_id: int, start: dt.datetime, end: dt.datetime, site_id: int | None) -> list:
    """(UTC hour as text, status, outcome, requests, talk seconds) of the period. Within a web request the rows
    are kept (in `flask.g`) for the rest of it: the statistics page asks summary, per_day and per_hour for the
    same period, and one aggregate then serves the three."""
    if not has_request_context():
        return _counts(account_id, start, end, site_id, ("hour", "status", "outcome"))
    memo = g.setdefault("stats_hour_rows", {})
    key = (account_id, start, end, site_id)
    if key not in memo:
        memo[key] = _counts(account_id, start, end, site_id, ("hour", "status", "outcome"))
    return memo[key]


def _local_times_bucketed(account_id, start, end, zone, site_id) -> list[tuple[dt.datetime, str, int]]:
    counts: Counter[tuple[dt.datetime, str]] = Counter()
    rows = db.session.execute(sa.select(CallbackRequest.created_at, CallbackRequest.outcome).where(
        *_scope(CallbackRequest, account_id, site_id), CallbackRequest.created_at >= start,
        CallbackRequest.created_at < end))
    for created_at, outcome in rows:
        counts[_aware(created_at).astimezone(zone).replace(minute=0, second=0, microsecond=0),
               outcome or NO_OUTCOME] += 1
    return [(at, outcome, count) for (at, outcome), count in counts.items()]


def per_day(account_id: int, start: dt.datetime, end: dt.datetime, tz: str | dt.tzinfo,
            site_id: int | None = None) -> list[tuple[dt.date, dict[str, int]]]:
    """Requests per local day of the period (every day listed, empty ones too), counted by outcome."""
    zone = ZoneInfo(tz) if isinstance(tz, str) else tz
    counts: dict[dt.date, Counter[str]] = defaultdict(Counter)
    for at, outcome, count in _local_hour_counts(account_id, start, end, zone, site_id, with_outcome=True):
        counts[at.date()][outcome] += count
    day, last = _aware(start).astimezone(zone).date(), (_aware(end) - dt.timedelta(microseconds=1)).astimezone(
        zone).date()
    result = []
    while day <= last:
        result.append((day, dict(counts.get(day, {}))))
        day += dt.timedelta(days=1)
    return result


def per_source(account_id: int, start: dt.datetime, end: dt.datetime,
               site_id: int | None = None) -> list[tuple[str, int]]:
    """Requests per traffic source ("" for none), most first."""
    rows = _counts(account_id, _aware(start), _aware(end), site_id, ("source",))
    return sorted(((source or "", int(count)) for source, count, _ in rows), key=lambda item: (-item[1], item[0]))


def per_hour(account_id: int, start: dt.datetime, end: dt.datetime, tz: str | dt.tzinfo,
             site_id: int | None = None) -> list[int]:
    """Requests per local hour of the day: 24 counts, index 0 is 00:00-00:59 in the account's zone."""
    zone = ZoneInfo(tz) if isinstance(tz, str) else tz
    hours = [0] * 24
    for at, _, count in _local_hour_counts(account_id, start, end, zone, site_id, with_outcome=False):
        hours[at.hour] += count
    return hours
