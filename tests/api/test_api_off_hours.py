"""Outside working hours (W12, D8): the config offers slots and a request is booked for one of them."""
from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest
from helpers import api_error, save_site_settings

from app.db import utcnow

MOSCOW = zoneinfo.ZoneInfo("Europe/Moscow")
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@pytest.fixture
def open_day(app, site) -> dt.date:
    """The site works only on the weekday three days from now (10:00–18:00 Moscow), so it is closed now."""
    day = utcnow().astimezone(MOSCOW).date() + dt.timedelta(days=3)
    schedule = {name: {"is_open": False} for name in DAYS}
    schedule[DAYS[day.weekday()]] = {"is_open": True, "opens_at": "10:00", "closes_at": "18:00"}
    save_site_settings(app, site, {"schedule": schedule})
    return day


def moscow(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), MOSCOW)


def test_the_config_of_a_closed_site_is_scheduled_with_bookable_slots(client, site, open_day):
    config = client.get(f"/api/v1/widget/{site.public_key}").get_json()
    assert config["mode"] == "scheduled" and config["schedule"]["is_open"] is False
    slots = [dt.datetime.fromisoformat(slot) for slot in config["schedule"]["slots"]]
    assert slots[0] == moscow(open_day, 10) and slots[-1] == moscow(open_day, 17, 30)
    assert len(slots) == 16


def test_a_request_without_a_slot_is_booked_for_the_first_one(post_callback, stored_requests, open_day):
    response = post_callback()
    assert response.status_code == 201
    body = response.get_json()
    assert body["mode"] == "scheduled"
    assert dt.datetime.fromisoformat(body["scheduled_for"]) == moscow(open_day, 10)
    expected_eta = (moscow(open_day, 10) - utcnow()).total_seconds()
    assert abs(body["eta_seconds"] - expected_eta) < 60
    [row] = stored_requests()
    assert (row.status, row.mode, row.scheduled_for) == ("scheduled", "scheduled", moscow(open_day, 10))


def test_a_chosen_slot_is_booked(post_callback, stored_requests, open_day):
    response = post_callback(scheduled_for=moscow(open_day, 15, 30).isoformat())
    assert response.status_code == 201
    assert dt.datetime.fromisoformat(response.get_json()["scheduled_for"]) == moscow(open_day, 15, 30)
    assert stored_requests()[0].scheduled_for == moscow(open_day, 15, 30)


@pytest.mark.parametrize("when", [
    lambda day: moscow(day, 20),  # after closing
    lambda day: moscow(day, 9, 30),  # before opening
    lambda day: moscow(day - dt.timedelta(days=1), 12),  # a day off
    lambda day: moscow(day - dt.timedelta(days=7), 10, 30),  # the same weekday, in the past
    lambda day: moscow(day + dt.timedelta(days=14), 10, 30),  # beyond the booking week
])
def test_a_time_that_cannot_be_booked_is_invalid_slot(post_callback, stored_requests, open_day, when):
    assert api_error(post_callback(scheduled_for=when(open_day).isoformat())) == (422, "invalid_slot")
    assert stored_requests() == []


def test_a_time_without_a_time_zone_is_invalid_request(post_callback, open_day):
    assert api_error(post_callback(scheduled_for=f"{open_day.isoformat()}T10:00:00")) == (400, "invalid_request")


def test_a_site_open_now_books_a_chosen_slot_too(post_callback, site):
    at = utcnow().astimezone(MOSCOW).replace(second=0, microsecond=0) + dt.timedelta(hours=2)
    response = post_callback(scheduled_for=at.isoformat())
    assert (response.status_code, response.get_json()["mode"]) == (201, "scheduled")
