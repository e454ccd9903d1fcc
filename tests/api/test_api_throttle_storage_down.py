"""Flask-Limiter's Redis unreachable (restarting): the per-IP throttle keeps counting in each process's memory,
so requests are still throttled and never answered 500 (docs/faults.md, Redis restarted)."""
from __future__ import annotations

import pytest
from helpers import api_error
from servers import free_port


@pytest.fixture
def app_overrides():
    return {"RATELIMIT_STORAGE_URI": f"redis://127.0.0.1:{free_port()}/0",  # nothing listens there
            "API_CALLBACK_RATE_LIMIT": "2 per minute"}


def test_with_the_throttle_s_redis_down_requests_are_served_and_still_throttled(post_callback):
    answers = [post_callback(phone=f"+7900111000{n}", ip="10.5.5.5") for n in range(3)]

    assert [answer.status_code for answer in answers[:2]] == [201, 201]
    assert api_error(answers[2]) == (429, "rate_limited")
