"""A form filled by a bot (X1): the widget's hidden field filled, or the form sent sooner after it was shown than
a person can. The bot gets one answer for both (nothing to learn which); the row and the log keep the reason;
nothing is dialed and no limit counts it.
"""
from __future__ import annotations

import logging

import pytest
from helpers import set_global_setting

pytestmark = pytest.mark.backends


def rejections_logged(caplog, app) -> list[str]:
    return [r.getMessage().split(" site=")[0] for r in caplog.records
            if r.name == app.logger.name and r.levelno == logging.WARNING and "rejected" in r.getMessage()]


def test_a_filled_honeypot_and_a_too_fast_form_get_the_same_answer_and_distinct_reasons(
        app, post_callback, stored_requests, dialed, caplog, fresh_limits):
    honeypot = post_callback(website="https://spam.example", form_ms=9000, visitor={"session_id": "bot"})
    too_fast = post_callback(form_ms=400, visitor={"session_id": "bot"})

    assert honeypot.status_code == too_fast.status_code == 403
    assert honeypot.get_json() == too_fast.get_json()
    assert honeypot.get_json()["error"]["code"] == "request_refused"
    assert [(row.status, row.reject_reason, row.consent) for row in stored_requests()] == [
        ("rejected", "honeypot", None), ("rejected", "too_fast", None)]
    assert rejections_logged(caplog, app) == ["callback request rejected: honeypot",
                                              "callback request rejected: too_fast"]
    assert dialed == []

    person = post_callback(website="", form_ms=6500, visitor={"session_id": "bot"})  # counted in no limit
    assert person.status_code == 201
    assert dialed == [person.get_json()["id"]]


def test_the_minimum_time_is_a_setting_and_zero_turns_it_off(app, post_callback, fresh_limits):
    set_global_setting(app, "min_submit_ms", 5000)
    assert post_callback(form_ms=4999).status_code == 403
    assert post_callback(phone="+7 912 345-67-80", form_ms=5000).status_code == 201
    set_global_setting(app, "min_submit_ms", 0)
    assert post_callback(phone="+7 912 345-67-81", form_ms=0).status_code == 201


def test_a_client_that_does_not_measure_the_form_is_left_to_the_limits(post_callback, fresh_limits):
    assert post_callback().status_code == 201  # no form_ms: a direct API call, as before the widget sent it
