"""The sandbox as a separate process (`python -m dialer.sandbox.mtt`), with a rules file, and its control API."""
from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
import requests
from mtt_helpers import CLIENT, CUSTOMER, LOGIN, MANAGER_1, MANAGER_2, PASSWORD, SMS_TOKEN, make_plan
from servers import free_port

from dialer.providers.mtt import MttConfig, MttProvider


@pytest.fixture
def sandbox_process(tmp_path):
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps({"default": {"talk_s": 20}, "numbers": {MANAGER_1: {"action": "busy"}}}))
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "dialer.sandbox.mtt", "--port", str(port), "--rules", str(rules), "--time-scale",
         "0.01", "--login", LOGIN, "--password", PASSWORD, "--customer-name", CUSTOMER, "--sms-token", SMS_TOKEN],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                requests.get(f"{base}/_sandbox/state", timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.05)
        yield base
    finally:
        process.terminate()
        process.wait(5)
        process.stdout.close()


def state_of(base: str) -> dict:
    return requests.get(f"{base}/_sandbox/state", timeout=5).json()


def wait_finished(base: str, call_id: str) -> dict:
    for _ in range(200):
        call = state_of(base)["calls"][call_id]
        if call["finished"]:
            return call
        time.sleep(0.02)
    raise AssertionError(f"call {call_id} did not finish")


def test_rules_file_and_control_api(sandbox_process):
    base = sandbox_process
    provider = MttProvider(MttConfig(f"{base}/index.php", LOGIN, PASSWORD, CUSTOMER,
                                     f"{base}/ms-customer-gateway/v1", SMS_TOKEN, backoff_s=0.01))
    plan = make_plan("http://127.0.0.1:9/hooks/mtt/tok")

    first = provider.start_callback(plan)
    call = wait_finished(base, first.call_id)
    assert call["destination_A"] == MANAGER_2[1:]  # the rules file made the first manager busy
    assert call["call_back_real_length_B"] == "20"  # and the default talk time 20 s

    requests.put(f"{base}/_sandbox/rules", json={"numbers": {CLIENT: {"action": "busy"}}}, timeout=5)
    second = provider.start_callback(plan)
    call = wait_finished(base, second.call_id)
    assert call["destination_A"] == MANAGER_1[1:]
    assert call["events"] == ["start_side_A", "end_side_A"]

    assert provider.send_sms("MTT", CLIENT, "hello").status == "sent"
    assert state_of(base)["sms"][0]["text"] == "hello"


def test_a_person_sets_a_numbers_behaviour_on_the_page(sandbox_process):
    base = sandbox_process
    form = {"number": "+79990000042", "action": "no_answer", "answer_after_s": "3", "talk_s": "45"}

    answer = requests.post(f"{base}/_sandbox/rule", data=form, timeout=5, allow_redirects=False)
    page = requests.get(f"{base}/_sandbox", timeout=5).text

    assert answer.status_code == 303
    assert "<td>79990000042</td><td>no_answer</td><td>3</td><td>45</td>" in page
    refused = requests.post(f"{base}/_sandbox/rule", data={**form, "action": "explode"}, timeout=5)
    assert refused.status_code == 400
    assert "explode" not in requests.get(f"{base}/_sandbox", timeout=5).text
