"""Per-IP throttling before any check (Flask-Limiter): 429 `rate_limited`, on callbacks and on events."""
from __future__ import annotations

import json

import pytest
from helpers import api_error

ORIGIN = "https://shop.example.com"


@pytest.fixture
def app_overrides():
    return {"API_CALLBACK_RATE_LIMIT": "2 per minute", "API_EVENTS_RATE_LIMIT": "2 per minute"}


def test_a_third_callback_request_of_one_ip_in_a_minute_is_rate_limited(post_callback):
    answers = [post_callback(phone=f"+7900111000{n}", ip="10.5.5.5") for n in range(3)]
    assert [answer.status_code for answer in answers[:2]] == [201, 201]
    assert api_error(answers[2]) == (429, "rate_limited")
    assert post_callback(phone="+79001110009", ip="10.5.5.6").status_code == 201


def test_a_third_events_beacon_of_one_ip_in_a_minute_is_rate_limited(client, site):
    def send():
        return client.post(f"/api/v1/widget/{site.public_key}/events", content_type="text/plain",
                           data=json.dumps({"events": [{"type": "shown"}]}), headers={"Origin": ORIGIN})

    assert [send().status_code, send().status_code] == [204, 204]
    assert api_error(send()) == (429, "rate_limited")
