"""MTT failing: bounded retries while nothing reached MTT, and never a second call after an unknown outcome.

The sandbox's fault switches: `fail_next` answers 5xx without acting, `hang_next` acts and then holds its
answer past the adapter's read timeout, `slow` holds every answer a little. Retries pause 0.01 s here.
"""
from __future__ import annotations

import pytest
from mtt_helpers import CLIENT, make_plan, provider_for

from dialer.providers.base import ProviderError

RETRIES = 2  # provider_for's default: three requests at most


def test_5xx_is_retried_a_bounded_number_of_times_then_rejected(mtt, sandbox, receiver):
    sandbox.fail_next(10, status=503)

    result = mtt.start_callback(make_plan(receiver.url("tok")))

    assert (result.status, result.code) == ("rejected", "unavailable")
    assert result.requests_sent == RETRIES + 1
    assert sandbox.http_log == ["/index.php"] * (RETRIES + 1)
    assert sandbox.calls == {}


def test_5xx_then_success_gives_exactly_one_call(mtt, sandbox, receiver):
    sandbox.fail_next(2, status=502)

    result = mtt.start_callback(make_plan(receiver.url("tok")))

    assert result.status == "accepted"
    assert result.requests_sent == 3
    assert list(sandbox.calls) == [result.call_id]


def test_connection_refused_is_retried_then_rejected(sandbox, receiver):
    closed = provider_for(sandbox, api_url="http://127.0.0.1:9/index.php")

    result = closed.start_callback(make_plan(receiver.url("tok")))

    assert (result.status, result.code) == ("rejected", "unavailable")
    assert result.requests_sent == RETRIES + 1


def test_timeout_after_sending_is_unknown_and_never_redialed(sandbox, receiver):
    impatient = provider_for(sandbox, timeout_s=0.3)
    sandbox.hang_next(2.0)

    result = impatient.start_callback(make_plan(receiver.url("tok")))

    assert result.status == "unknown"
    assert result.call_id is None
    assert sandbox.http_log == ["/index.php"]
    [call_id] = sandbox.calls  # MTT did dial, once; the events still tell the dialer which call it was
    assert receiver.wait_for(call_id, 1)[0] == "start_side_A"


def test_slow_answer_under_the_timeout_is_accepted(mtt, sandbox, receiver):
    sandbox.slow(0.2)

    result = mtt.start_callback(make_plan(receiver.url("tok")))

    assert result.status == "accepted"
    assert list(sandbox.calls) == [result.call_id]
    assert sandbox.http_log == ["/index.php"]


def test_json_rpc_error_is_rejected_at_once(sandbox, receiver):
    foreign = provider_for(sandbox, customer_name="883140000000999")

    result = foreign.start_callback(make_plan(receiver.url("tok")))

    assert result.status == "rejected" and result.code.startswith("rpc_")
    assert sandbox.http_log == ["/index.php"]


def test_wrong_password_is_rejected_at_once(sandbox, receiver):
    result = provider_for(sandbox, password="wrong").start_callback(make_plan(receiver.url("tok")))

    assert (result.status, result.code) == ("rejected", "http_401")
    assert sandbox.calls == {}


def test_reading_a_record_is_retried_after_5xx_and_timeouts(mtt, sandbox, receiver):
    result = mtt.start_callback(make_plan(receiver.url("tok")))
    sandbox.wait_finished(result.call_id)
    impatient = provider_for(sandbox, timeout_s=1.0)
    sandbox.fail_next(1)
    sandbox.hang_next(5.0)

    record = impatient.fetch_call_record(result.call_id)

    assert record.is_final and record.leg("B").talk_s == 30
    assert len(sandbox.http_log) == 1 + 3  # the start, then 5xx, timeout, success


def test_reading_a_record_from_an_unreachable_mtt_raises(sandbox):
    sandbox.fail_next(10)

    with pytest.raises(ProviderError) as error:
        provider_for(sandbox).fetch_call_record("1")

    assert error.value.code == "unavailable"


def test_sms_gateway_down_means_nothing_sent_and_try_later(mtt, sandbox):
    sandbox.fail_next(10)

    result = mtt.send_sms("MTT", CLIENT, "text")

    assert (result.status, result.code) == ("rejected", "unavailable")
    assert sandbox.http_log == ["/ms-customer-gateway/v1/SendSms"] * (RETRIES + 1)
    assert sandbox.sms == []


def test_sms_timeout_after_sending_is_unknown_and_not_resent(sandbox):
    impatient = provider_for(sandbox, timeout_s=0.3)
    sandbox.hang_next(2.0)

    result = impatient.send_sms("MTT", CLIENT, "text")

    assert result.status == "unknown"
    assert len(sandbox.sms) == 1
    assert len(sandbox.http_log) == 1
