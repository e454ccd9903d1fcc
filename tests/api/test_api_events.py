"""POST /api/v1/widget/<key>/events: widget events from navigator.sendBeacon, counted per day and kind."""
from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from helpers import api_error

from app.db import utcnow
from app.extensions import db
from app.models import WidgetEventCount

ORIGIN = "https://shop.example.com"


def beacon(client, site, batch, origin: str = ORIGIN):
    """As `navigator.sendBeacon(url, string)` sends it: text/plain, no preflight."""
    return client.post(f"/api/v1/widget/{site.public_key}/events", data=json.dumps(batch),
                       content_type="text/plain;charset=UTF-8", headers={"Origin": origin})


def counters(app) -> dict[tuple, int]:
    with app.app_context():
        rows = db.session.scalars(sa.select(WidgetEventCount))
        return {(row.day, row.kind, row.scenario, row.variant, row.device): row.count for row in rows}


def event(kind: str, scenario: str = "exit_intent", variant: str = "a") -> dict:
    return {"type": kind, "scenario": scenario, "variant": variant}


@pytest.mark.backends
def test_counters_add_up_across_batches(app, client, site):
    first = {"session_id": "s1", "device": "desktop",
             "events": [event("shown"), event("closed"), event("shown", variant="b")]}
    second = {"session_id": "s2", "device": "desktop", "events": [event("shown"), event("submitted")]}
    touch = {"session_id": "s3", "device": "touch", "events": [event("shown")]}
    assert [beacon(client, site, batch).status_code for batch in (first, second, touch)] == [204, 204, 204]
    today = utcnow().date()
    assert counters(app) == {
        (today, "shown", "exit_intent", "a", "desktop"): 2,
        (today, "shown", "exit_intent", "b", "desktop"): 1,
        (today, "closed", "exit_intent", "a", "desktop"): 1,
        (today, "submitted", "exit_intent", "a", "desktop"): 1,
        (today, "shown", "exit_intent", "a", "touch"): 1,
    }


def test_repeated_events_in_one_batch_are_all_counted(app, client, site):
    assert beacon(client, site, {"events": [event("shown", scenario="hot_visitor")] * 20}).status_code == 204
    assert list(counters(app).values()) == [20]


def test_the_site_may_send_events_cross_origin(client, site):
    response = beacon(client, site, {"events": [event("shown")]})
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN


@pytest.mark.parametrize("batch", [
    {"events": [event("shown")] * 21},
    {"events": []},
    {"events": [event("clicked")]},
    {"events": [{"scenario": "exit_intent"}]},
    {"device": "fridge", "events": [event("shown")]},
])
def test_a_bad_batch_is_400_and_counts_nothing(app, client, site, batch):
    assert api_error(beacon(client, site, batch)) == (400, "invalid_request")
    assert counters(app) == {}


def test_a_beacon_that_is_not_json_is_400(app, client, site):
    response = client.post(f"/api/v1/widget/{site.public_key}/events", data="shown",
                           content_type="text/plain", headers={"Origin": ORIGIN})
    assert api_error(response) == (400, "invalid_request")


@pytest.mark.parametrize("origin", ["https://evil.example.com", "null"])
def test_events_from_another_origin_are_403(app, client, site, origin):
    response = beacon(client, site, {"events": [event("shown")]}, origin=origin)
    assert api_error(response) == (403, "origin_not_allowed")
    assert "Access-Control-Allow-Origin" not in response.headers
    assert counters(app) == {}


def test_events_for_an_unknown_site_are_404(client):
    response = client.post("/api/v1/widget/nope/events", data="{}", content_type="text/plain",
                           headers={"Origin": ORIGIN})
    assert api_error(response) == (404, "site_not_found")
