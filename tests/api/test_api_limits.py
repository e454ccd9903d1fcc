"""Abuse limits on callback requests (X1), on the database counter (SQLite) and on Redis (PostgreSQL)."""
from __future__ import annotations

import pytest
from helpers import api_error, make_site, set_global_setting

pytestmark = pytest.mark.backends


def statuses(responses) -> list[int]:
    return [response.status_code for response in responses]


def test_a_fourth_request_to_one_number_in_ten_minutes_is_limit_number(post_callback, stored_requests, fresh_limits):
    accepted = [post_callback(visitor={"session_id": f"s{n}"}) for n in range(3)]
    assert statuses(accepted) == [201, 201, 201]
    assert api_error(post_callback(visitor={"session_id": "s4"})) == (429, "limit_number")
    assert [(row.status, row.reject_reason) for row in stored_requests()][-1] == ("rejected", "limit_number")
    assert stored_requests()[-1].consent is None


def test_the_number_limit_counts_across_sites_and_accounts(app, post_callback, fresh_limits):
    other = make_site(app, domains=("https://shop.example.com",), settings={})
    assert statuses([post_callback(), post_callback(to=other), post_callback()]) == [201, 201, 201]
    assert api_error(post_callback(to=other)) == (429, "limit_number")


def test_a_seventh_request_to_one_number_in_a_day_is_limit_number(app, post_callback, fresh_limits):
    set_global_setting(app, "limit_number_per_10min", 100)
    assert statuses([post_callback() for _ in range(6)]) == [201] * 6
    assert api_error(post_callback()) == (429, "limit_number")


def test_a_second_request_of_one_session_is_limit_session(post_callback, fresh_limits):
    assert post_callback(visitor={"session_id": "same"}).status_code == 201
    assert api_error(post_callback(phone="+79001112233", visitor={"session_id": "same"})) == (429, "limit_session")


def test_a_fourth_distinct_number_from_one_ip_is_limit_ip(post_callback, fresh_limits):
    numbers = ["+79001110001", "+79001110002", "+79001110003"]
    assert statuses([post_callback(phone=number, ip="10.9.9.9") for number in numbers]) == [201] * 3
    assert post_callback(phone=numbers[0], ip="10.9.9.9").status_code == 201  # counted already: distinct count
    assert api_error(post_callback(phone="+79001110004", ip="10.9.9.9")) == (429, "limit_ip")
    assert post_callback(phone="+79001110004", ip="10.9.9.10").status_code == 201


def test_a_rejected_request_consumes_no_quota(post_callback, fresh_limits):
    assert post_callback(phone="+79001110001", visitor={"session_id": "s"}).status_code == 201
    assert api_error(post_callback(visitor={"session_id": "s"})) == (429, "limit_session")
    assert statuses([post_callback(visitor={"session_id": f"t{n}"}) for n in range(3)]) == [201] * 3


def test_a_limit_set_to_zero_is_off(app, post_callback, fresh_limits):
    set_global_setting(app, "limit_number_per_10min", 0)
    set_global_setting(app, "limit_number_per_day", 0)
    assert statuses([post_callback() for _ in range(8)]) == [201] * 8


def test_the_counters_can_be_emptied(post_callback, fresh_limits):
    assert statuses([post_callback() for _ in range(3)]) == [201] * 3
    fresh_limits()
    assert post_callback().status_code == 201
