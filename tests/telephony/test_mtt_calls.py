"""Calls through the adapter and the sandbox over real HTTP (D2, D3, D6, D9 inputs, D10).

Each scenario sets how the numbers behave, starts a callback, and checks what the dialer will see: MTT's events
arriving at our events URL (in the documented GET form) and the call record with its lengths and cost.
"""
from __future__ import annotations

import pytest
from mtt_helpers import CLIENT, MANAGER_1, MANAGER_2, MANAGER_3, SERVICE_NUMBER, make_plan, provider_for

from dialer.providers.base import InvalidEvent, ManagerLeg
from dialer.providers.prompts import side_a_prompt_wav

A_ANSWERED, B_ANSWERED, A_ENDED, B_ENDED = "start_side_A", "start_side_B", "end_side_A", "end_side_B"


def call(mtt, sandbox, receiver, plan_fields=None, events: int = 4, token: str = "tok-1"):
    """Start a callback, wait until the sandbox finished it and `events` events arrived; return what the
    dialer would hold: the events (raw and parsed) and the call record."""
    result = mtt.start_callback(make_plan(receiver.url(token), **(plan_fields or {})))
    assert result.status == "accepted", result
    sandbox.wait_finished(result.call_id)
    raw = receiver.wait_for(result.call_id, events)
    parsed = [mtt.parse_event(query) for _path, query in receiver.received if query["id"] == result.call_id]
    record = mtt.fetch_call_record(result.call_id)
    return result, raw, parsed, record


def test_manager_answers_then_client_answers_and_talks(mtt, sandbox, receiver):
    result, events, parsed, record = call(mtt, sandbox, receiver)

    assert events == [A_ANSWERED, B_ANSWERED, A_ENDED, B_ENDED]
    assert {path for path, _query in receiver.received} == {"/hooks/mtt/tok-1"}
    assert [(e.kind, e.side) for e in parsed] == [("answered", "A"), ("answered", "B"), ("ended", "A"),
                                                  ("ended", "B")]
    assert all(e.call_id == result.call_id for e in parsed)
    a, b = record.leg("A"), record.leg("B")
    assert record.is_final
    assert (a.destination, b.destination) == (MANAGER_1[1:], CLIENT[1:])
    assert a.answered and b.answered
    assert b.talk_s == 30  # the default talk time
    assert a.talk_s == 32  # the manager also waited 2 s for the client to answer
    assert b.waiting_s == 2
    assert record.cost_kop == 300  # one started minute per leg at the sandbox's 1.50 ₽


def test_client_hangs_up_first(mtt, sandbox, receiver):
    sandbox.set_rule(CLIENT, talk_s=12)

    _result, events, _parsed, record = call(mtt, sandbox, receiver)

    assert events == [A_ANSWERED, B_ANSWERED, B_ENDED, A_ENDED]
    assert record.leg("B").talk_s == 12


def test_busy_manager_passes_the_call_to_the_next_in_turn(mtt, sandbox, receiver):
    sandbox.set_rule(MANAGER_1, action="busy")

    _result, events, _parsed, record = call(mtt, sandbox, receiver)

    assert events == [A_ANSWERED, B_ANSWERED, A_ENDED, B_ENDED]
    assert record.leg("A").destination == MANAGER_2[1:]
    assert record.leg("A").waiting_s == 3  # 1 s of busy tone, then 2 s of ringing the second manager


def test_no_manager_answers(mtt, sandbox, receiver):
    sandbox.set_rule(MANAGER_1, action="no_answer")
    sandbox.set_rule(MANAGER_2, answer_after_s=40)  # later than its 15 s ring timeout

    _result, events, _parsed, record = call(mtt, sandbox, receiver, events=1)

    assert events == [A_ENDED]
    assert not record.leg("A").answered and not record.leg("B").answered
    assert record.leg("A").waiting_s == 35  # both ring timeouts, one after the other
    assert record.is_final and record.cost_kop == 0


@pytest.mark.parametrize("client_rule, manager_talk_s", [
    (dict(action="busy"), 1),
    (dict(action="no_answer"), 30),
], ids=["client-busy", "client-no-answer"])
def test_client_does_not_answer(mtt, sandbox, receiver, client_rule, manager_talk_s):
    sandbox.set_rule(CLIENT, **client_rule)

    _result, events, _parsed, record = call(mtt, sandbox, receiver, events=2)

    assert events == [A_ANSWERED, A_ENDED]
    assert record.leg("A").answered and not record.leg("B").answered
    assert record.leg("A").talk_s == manager_talk_s  # the manager heard the client's line busy / ringing
    assert record.leg("B").talk_s == 0


def test_all_at_once_the_first_manager_to_answer_takes_the_call(mtt, sandbox, receiver):
    sandbox.set_rule(MANAGER_1, answer_after_s=5)
    sandbox.set_rule(MANAGER_2, answer_after_s=3)
    sandbox.set_rule(MANAGER_3, action="busy")
    legs = tuple(ManagerLeg(i, number, f"m{i}", 20) for i, number in enumerate((MANAGER_1, MANAGER_2, MANAGER_3), 1))

    _result, events, _parsed, record = call(mtt, sandbox, receiver, dict(legs=legs, ring_mode="simultaneous"))

    assert events == [A_ANSWERED, B_ANSWERED, A_ENDED, B_ENDED]
    assert record.leg("A").destination == MANAGER_2[1:]


def test_maximum_duration_cuts_the_call(mtt, sandbox, receiver):
    sandbox.set_rule(CLIENT, talk_s=600)
    sandbox.set_rule(MANAGER_1, talk_s=600)

    _result, events, _parsed, record = call(mtt, sandbox, receiver, dict(max_duration_s=45))

    assert events == [A_ANSWERED, B_ANSWERED, A_ENDED, B_ENDED]
    assert record.leg("A").talk_s == 45  # the cap counts from the manager's answer
    assert record.leg("B").talk_s == 43


def test_side_a_prompt_delays_dialing_the_client(mtt, sandbox, receiver):
    """D3 + D6: the site's name and a 15 s pause are played to the manager before the client is dialed."""
    wav = side_a_prompt_wav(pause_s=15)
    prompt = mtt.upload_prompt("pause-15s.wav", wav)

    _result, events, _parsed, record = call(
        mtt, sandbox, receiver, dict(client_dial_delay_s=15, announcement_prompt_id=prompt))

    assert sandbox.prompts[prompt] == wav
    assert events == [A_ANSWERED, B_ANSWERED, A_ENDED, B_ENDED]
    assert record.leg("A").talk_s - record.leg("B").talk_s == 15 + 2  # the pause, then 2 s of the client's ringing


def test_record_is_not_final_while_the_call_goes_on(mtt, sandbox, receiver):
    sandbox.set_rule(CLIENT, talk_s=3000)
    result = mtt.start_callback(make_plan(receiver.url("tok-2")))

    assert receiver.wait_for(result.call_id, 2) == [A_ANSWERED, B_ANSWERED]
    record = mtt.fetch_call_record(result.call_id)

    assert not record.is_final and record.cost_kop is None


def test_no_record_for_a_call_mtt_does_not_know(mtt):
    assert mtt.fetch_call_record("123456") is None


def test_sms_reaches_the_gateway_with_the_operator_named(mtt, sandbox):
    result = mtt.send_sms("MTT", CLIENT, "Вам звонил менеджер Анна")

    assert result.status == "sent"
    assert sandbox.sms == [{"number": "MTT", "destination": CLIENT[1:], "text": "Вам звонил менеджер Анна",
                            "message_id": result.message_id}]


def test_sms_with_a_wrong_token_is_rejected_and_not_sent(sandbox):
    result = provider_for(sandbox, sms_token="stolen").send_sms(SERVICE_NUMBER, CLIENT, "text")

    assert (result.status, result.code) == ("rejected", "http_401")
    assert sandbox.sms == []


@pytest.mark.parametrize("params", [{"event": "ringing_A", "id": "1"}, {"event": "start_side_A"}, {}])
def test_events_mtt_does_not_document_are_refused(mtt, params):
    with pytest.raises(InvalidEvent):
        mtt.parse_event(params)
