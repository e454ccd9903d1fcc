"""The adapter's makeCallBackCallFollowme request, pinned by golden files written from mtt-api.md (D2–D6).

Each case goes over real HTTP to the sandbox, which accepts it; the request the sandbox received must equal
the golden file. The sandbox refuses what a strict MTT would: a missing or foreign customer_name, wrong
Basic auth, a parameter or struct key MTT does not document, an unknown method.
"""
from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import requests
from mtt_helpers import CLIENT, LOGIN, PASSWORD, make_plan

from dialer.providers.base import Capability, ManagerLeg, UnsupportedPlan
from dialer.providers.prompts import side_a_prompt_wav

GOLDEN = Path(__file__).parent / "golden"
EVENTS_URL = "http://127.0.0.1:9/hooks/mtt/tok-golden"
ANNA, BORIS, VERA = ("+79990000001", "anna"), ("+79990000002", "boris"), ("+79990000003", "vera")


def legs(timeout_s: int, *people) -> tuple[ManagerLeg, ...]:
    return tuple(ManagerLeg(order, number, name, timeout_s) for order, (number, name) in enumerate(people, 1))


CASES = {
    "sequential": dict(),
    "simultaneous": dict(legs=legs(25, ANNA, BORIS, VERA), ring_mode="simultaneous"),
    "manager_sees_client_number": dict(caller_id_for_manager=CLIENT),
    "operator_default_caller_ids": dict(caller_id_for_manager=None, caller_id_for_client=None),
    "announcement": dict(announcement_prompt_id="site-romashka.wav"),
    "client_dial_delay_15s": dict(client_dial_delay_s=15, announcement_prompt_id="pause-15s.wav"),
    "announcement_and_delay_60s_simultaneous": dict(
        legs=legs(30, ANNA, BORIS), ring_mode="simultaneous", caller_id_for_manager=CLIENT,
        client_dial_delay_s=60, announcement_prompt_id="site-romashka-pause-60s.wav"),
    "max_duration_no_recording": dict(legs=legs(20, ANNA), max_duration_s=95, record=False,
                                      description="request 42 attempt 2"),
}
PROMPTS = {
    "site-romashka.wav": dict(spoken_text="Ромашка"),
    "pause-15s.wav": dict(pause_s=15),
    "site-romashka-pause-60s.wav": dict(spoken_text="Ромашка", pause_s=60),
}


def golden(name: str) -> dict:
    return json.loads((GOLDEN / f"{name}.json").read_text(encoding="utf-8"))


def without_id(body: dict) -> dict:
    assert body["id"] not in (None, "")
    return {**body, "id": "*"}


def post_raw(sandbox, body: dict, auth=(LOGIN, PASSWORD)) -> requests.Response:
    return requests.post(sandbox.api_url, json=body, auth=auth, timeout=5)


@pytest.mark.parametrize("case", sorted(CASES))
def test_adapter_request_matches_golden_and_sandbox_accepts_it(case, sandbox, mtt):
    prompt = CASES[case].get("announcement_prompt_id")
    if prompt:
        mtt.upload_prompt(prompt, side_a_prompt_wav(**PROMPTS[prompt]))

    result = mtt.start_callback(make_plan(EVENTS_URL, **CASES[case]))

    assert result.status == "accepted", result
    assert result.call_id in sandbox.calls
    assert without_id(sandbox.rpc_log[-1]) == golden(case)


@pytest.mark.parametrize("case", sorted(CASES))
def test_sandbox_accepts_the_golden_request_itself(case, sandbox, mtt):
    prompt = CASES[case].get("announcement_prompt_id")
    if prompt:
        mtt.upload_prompt(prompt, side_a_prompt_wav(pause_s=1))
    body = {**golden(case), "id": "1"}

    answer = post_raw(sandbox, body).json()

    assert "error" not in answer, answer
    assert answer["result"]["callBackCall_id"] in sandbox.calls


def malformed(change):
    body = copy.deepcopy({**golden("sequential"), "id": "7"})
    change(body)
    return body


@pytest.mark.parametrize("change, detail", [
    (lambda b: b["params"].pop("customer_name"), "missing parameter customer_name"),
    (lambda b: b["params"].update(delay=15), "unknown parameter delay"),
    (lambda b: b["params"].update(extension="123"), "unknown parameter extension"),
    (lambda b: b["params"]["simpleCallBackFollowmeStruct"][0].update(dtmf="w123"), "unknown keys"),
    (lambda b: b["params"]["simpleCallBackFollowmeStruct"][0].update(type="sequential"), "struct item"),
    (lambda b: b["params"].update(duration="600"), "duration must be a number"),
], ids=["no-customer-name", "unknown-param", "extension-param", "unknown-struct-key", "unknown-type",
        "duration-string"])
def test_sandbox_rejects_malformed_requests_and_dials_nobody(sandbox, change, detail):
    answer = post_raw(sandbox, malformed(change)).json()

    assert answer["id"] == "7"
    assert answer["error"]["code"] == -32602
    assert detail in answer["error"]["data"]
    assert sandbox.calls == {}


def test_sandbox_refuses_another_customer_name(sandbox):
    answer = post_raw(sandbox, malformed(lambda b: b["params"].update(customer_name="883140000000999"))).json()

    assert "customer_name" in answer["error"]["data"]
    assert sandbox.calls == {}


def test_sandbox_refuses_wrong_basic_auth(sandbox):
    response = post_raw(sandbox, malformed(lambda b: None), auth=(LOGIN, "not-the-password"))

    assert response.status_code == 401
    assert sandbox.calls == {}


def test_sandbox_refuses_unknown_method(sandbox):
    answer = post_raw(sandbox, malformed(lambda b: b.update(method="makeCallBackCall"))).json()

    assert answer["error"]["code"] == -32601
    assert sandbox.calls == {}


def test_sandbox_refuses_a_prompt_it_never_received(sandbox):
    body = malformed(lambda b: b["params"]["simpleCallBackFollowmeStruct"].append(
        {"type": "file", "side": "A", "value": "never-uploaded.wav"}))

    answer = post_raw(sandbox, body).json()

    assert "never-uploaded.wav" in answer["error"]["data"]


@pytest.mark.parametrize("plan_fields, capability", [
    (dict(legs=(ManagerLeg(1, ANNA[0], "anna", 20, extension="123"),), extension_delay_s=5),
     Capability.EXTENSION_DTMF),
    (dict(legs=(ManagerLeg(1, ANNA[0], "anna", 20, extension="123"),)), Capability.EXTENSION_DTMF),
    (dict(legs=(ManagerLeg(1, "sip:anna@pbx.example", "anna", 20, kind="sip"),)), Capability.SIP_LEGS),
], ids=["extension-with-delay", "extension", "sip-line"])
def test_refused_settings_never_reach_mtt(sandbox, mtt, plan_fields, capability):
    with pytest.raises(UnsupportedPlan) as refused:
        mtt.start_callback(make_plan(EVENTS_URL, **plan_fields))

    assert str(refused.value) == mtt.capabilities.refusal(capability)
    assert not mtt.capabilities.honours(capability)
    assert sandbox.http_log == []


def test_client_dial_delay_needs_the_side_a_prompt_that_holds_it(sandbox, mtt):
    with pytest.raises(UnsupportedPlan, match="side-A prompt"):
        mtt.start_callback(make_plan(EVENTS_URL, client_dial_delay_s=15))

    assert sandbox.http_log == []


def test_capabilities_name_what_mtt_honours_and_explain_each_refusal(sandbox, mtt):
    honoured = {Capability.SEQUENTIAL, Capability.SIMULTANEOUS, Capability.CLIENT_DIAL_DELAY,
                Capability.CALLER_ID_FOR_MANAGER, Capability.ANNOUNCEMENT, Capability.MAX_DURATION, Capability.SMS}

    assert mtt.capabilities.honoured == honoured
    assert set(mtt.capabilities.refused) == set(Capability) - honoured
    assert all("MTT" in message for message in mtt.capabilities.refused.values())
