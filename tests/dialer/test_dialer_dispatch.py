"""The dispatcher of scheduled requests (issue 7 part 3, D8/W12): due ones are queued and dialed once, others
are left alone, and one due while the site is closed is moved to the next opening in the site's time zone."""
from __future__ import annotations

import datetime as dt

from dialer_helpers import request_row, stored_request

from app.db import utcnow
from app.services import schedule
from app.services.site_settings import SiteSettings
from dialer.tasks.dialing import plan_and_dial
from dialer.tasks.reconcile import dispatch_due

ANNA = "+79990000001"
UTC = dt.UTC
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
NINE_TO_SIX = {day: {"is_open": True, "opens_at": "09:00", "closes_at": "18:00"} for day in DAYS}
WEEKDAYS_NINE_TO_SIX = {**NINE_TO_SIX, "sat": {"is_open": False}, "sun": {"is_open": False}}


def makecallback_count(sandbox) -> int:
    return [body["method"] for body in sandbox.rpc_log].count("makeCallBackCallFollowme")


def test_a_due_request_is_dialed_once_even_if_the_dispatcher_runs_twice(served_app, sandbox, make_shop, settle):
    shop = make_shop([("Anna", ANNA)])
    request_id = stored_request(served_app, shop, scheduled_for=utcnow() - dt.timedelta(seconds=5))

    first = dispatch_due.call_local()
    second = dispatch_due.call_local()

    assert first == {"queued": 1} and second == {}
    assert makecallback_count(sandbox) == 1
    assert plan_and_dial.call_local(request_id) == "skipped"
    request = settle(request_id)
    assert (request.status, request.outcome) == ("completed", "success")
    assert makecallback_count(sandbox) == 1


def test_a_request_not_due_yet_is_left_alone(served_app, sandbox, make_shop):
    shop = make_shop([("Anna", ANNA)])
    at = utcnow() + dt.timedelta(minutes=20)
    request_id = stored_request(served_app, shop, scheduled_for=at)

    assert dispatch_due.call_local() == {}

    request = request_row(served_app, request_id)
    assert request.status == "scheduled" and abs(request.scheduled_for - at) < dt.timedelta(seconds=1)
    assert sandbox.calls == {}


def _night_case(served_app, sandbox, make_shop, timezone, schedule_days, now, due_at):
    shop = make_shop([("Anna", ANNA)], settings={"timezone": timezone, "schedule": schedule_days})
    request_id = stored_request(served_app, shop, scheduled_for=due_at)
    assert dispatch_due.call_local(now=now) == {"rescheduled": 1}
    assert dispatch_due.call_local(now=now) == {}  # moved ahead: not due any more
    assert sandbox.calls == {}
    return request_row(served_app, request_id)


def test_due_at_night_in_moscow_waits_for_the_opening_after_the_weekend(served_app, sandbox, make_shop):
    # Friday 27 Nov 2026, 23:30 in Moscow (UTC+3): a 17:45 slot the dispatcher could not reach in time.
    now = dt.datetime(2026, 11, 27, 20, 30, tzinfo=UTC)
    request = _night_case(served_app, sandbox, make_shop, "Europe/Moscow", WEEKDAYS_NINE_TO_SIX, now,
                          dt.datetime(2026, 11, 27, 14, 45, tzinfo=UTC))
    assert request.status == "scheduled"
    assert request.scheduled_for == dt.datetime(2026, 11, 30, 6, 0, tzinfo=UTC)  # Monday 09:00 in Moscow


def test_due_after_closing_in_moscow_moves_across_midnight_to_the_next_morning(served_app, sandbox, make_shop):
    now = dt.datetime(2026, 11, 25, 15, 5, tzinfo=UTC)  # Wednesday 18:05 in Moscow
    request = _night_case(served_app, sandbox, make_shop, "Europe/Moscow", NINE_TO_SIX, now,
                          dt.datetime(2026, 11, 25, 14, 55, tzinfo=UTC))
    assert request.scheduled_for == dt.datetime(2026, 11, 26, 6, 0, tzinfo=UTC)  # Thursday 09:00 in Moscow


def test_due_at_night_in_vladivostok_where_the_local_day_is_ahead_of_utc(served_app, sandbox, make_shop):
    # Thursday 26 Nov 15:30 UTC is Friday 27 Nov 01:30 in Vladivostok (UTC+10): the opening is the same local
    # Friday at 09:00, which is still Thursday in UTC.
    now = dt.datetime(2026, 11, 26, 15, 30, tzinfo=UTC)
    request = _night_case(served_app, sandbox, make_shop, "Asia/Vladivostok", NINE_TO_SIX, now,
                          dt.datetime(2026, 11, 26, 7, 50, tzinfo=UTC))  # Thursday 17:50 local, missed
    assert request.scheduled_for == dt.datetime(2026, 11, 26, 23, 0, tzinfo=UTC)


def test_due_in_working_hours_in_vladivostok_is_dialed(served_app, sandbox, make_shop):
    now = dt.datetime(2026, 11, 26, 23, 30, tzinfo=UTC)  # Friday 09:30 in Vladivostok
    shop = make_shop([("Anna", ANNA)], settings={"timezone": "Asia/Vladivostok", "schedule": NINE_TO_SIX})
    request_id = stored_request(served_app, shop, scheduled_for=dt.datetime(2026, 11, 26, 23, 0, tzinfo=UTC))

    assert dispatch_due.call_local(now=now) == {"queued": 1}
    assert request_row(served_app, request_id).status in ("dialing", "manager_answered", "connected", "completed")
    assert makecallback_count(sandbox) == 1


def test_a_schedule_with_no_working_hours_expires_the_due_request(served_app, sandbox, make_shop):
    closed = {day: {"is_open": False} for day in DAYS}
    shop = make_shop([("Anna", ANNA)], settings={"schedule": closed})
    request_id = stored_request(served_app, shop, scheduled_for=utcnow() - dt.timedelta(minutes=1))

    assert dispatch_due.call_local() == {"expired": 1}
    assert request_row(served_app, request_id).status == "expired" and sandbox.calls == {}


def test_next_opening_in_each_time_zone():
    moscow = SiteSettings.model_validate({"timezone": "Europe/Moscow", "schedule": NINE_TO_SIX})
    vladivostok = SiteSettings.model_validate({"timezone": "Asia/Vladivostok", "schedule": NINE_TO_SIX})
    open_now = dt.datetime(2026, 11, 27, 10, 0, tzinfo=UTC)  # 13:00 in Moscow
    assert schedule.next_opening(moscow, open_now) == open_now
    assert schedule.next_opening(moscow, dt.datetime(2026, 11, 27, 21, 0, tzinfo=UTC)) == dt.datetime(
        2026, 11, 28, 6, 0, tzinfo=UTC)
    assert schedule.next_opening(moscow, dt.datetime(2026, 11, 27, 2, 0, tzinfo=UTC)) == dt.datetime(
        2026, 11, 27, 6, 0, tzinfo=UTC)  # 05:00 in Moscow: the same morning
    assert schedule.next_opening(vladivostok, dt.datetime(2026, 11, 27, 14, 0, tzinfo=UTC)) == dt.datetime(
        2026, 11, 27, 23, 0, tzinfo=UTC)  # Saturday 00:00 local → Saturday 09:00 local
    for now in (open_now, dt.datetime(2026, 11, 27, 21, 0, tzinfo=UTC)):
        assert schedule.is_open(moscow, schedule.next_opening(moscow, now))
