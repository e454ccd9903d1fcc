"""Fault: the MTT API answering errors, then timing out, then slowly, seen end to end through a real worker.

The set-up is `test_dialer_faults.py`'s (PostgreSQL + Redis, the served app, `python -m dialer.main -w 2`, the
MTT sandbox). `test_mtt_faults.py` shows the client's retries one request at a time; here the dialer meets them:

1. a 5xx storm: every start is refused (the first try and its one retry): the request fails at once
   (`completed`/`failed`, the shop's missed-call e-mail), no call is placed, nothing is charged;
2. MTT acts but answers after our timeout: the start is unknown, the call goes on, it is never placed again,
   and it is settled and charged once from MTT's record (the reconciler);
3. MTT answers slowly but within the timeout: every request is called once and charged once.
After the storm MTT recovers, and requests taken then are served normally.
"""
from __future__ import annotations

import time
from collections import Counter

import pytest
import sqlalchemy as sa
from dialer_helpers import attempts_of
from helpers import top_up
from worker_harness import (  # noqa: F401
    dialed_numbers,
    dialer_app_overrides,
    preserve_huey_state,
    queue_env_fixture,
    start_dialer_worker_fixture,
    wait_final,
)

from app.extensions import db
from app.models import LedgerTransaction, Notification

pytestmark = [pytest.mark.timeout(150),
              pytest.mark.parametrize(("backend", "queue"), [pytest.param("postgresql", "redis",
                                                                           id="postgresql-db+redis-huey")])]
ANNA = "+79990000001"
SALES = "sales@shop.example.com"


@pytest.fixture
def app_overrides(sandbox, queue_env, tmp_path, monkeypatch):
    preserve_huey_state(monkeypatch)
    return dialer_app_overrides(sandbox, queue_env, tmp_path)


def visitor(n: int) -> str:
    return f"+7999{n:03d}7777"  # a prefix of its own: the abuse limits see distinct visitors


def placed_calls(sandbox) -> Counter:
    """Calls MTT actually placed, per visitor's number (a refused request places none)."""
    return Counter("+" + call.b_number.lstrip("+") for call in list(sandbox.calls.values()))


def call_keys(app) -> list[str]:
    with app.app_context():
        return sorted(db.session.scalars(sa.select(LedgerTransaction.key).where(LedgerTransaction.kind == "call")))


def missed_call_notices(app) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(Notification)
                                 .where(Notification.kind == "missed_call"))


def test_mtt_errors_timeouts_and_slowness_fail_or_serve_each_request_once_and_charge_only_calls_placed(
        served_app, sandbox, make_shop, request_call, start_dialer_worker, backend, queue):
    shop = make_shop([("Anna", ANNA)], settings={"missed_call_email": SALES})
    with served_app.app_context():
        top_up(shop.account_id, 1_000_000)
        db.session.commit()
    worker = start_dialer_worker("-w", "2")
    tries = 1 + served_app.config["MTT_RETRIES"]

    # 1. A 5xx storm: each of the three starts meets only errors.
    sandbox.fail_next(3 * tries, status=503)
    refused = [request_call(shop, phone=visitor(n))["id"] for n in range(3)]
    assert set(wait_final(served_app, refused, [worker], reconcile=False).values()) == {("completed", "failed")}

    # 2. MTT places the calls but answers after our timeout; the calls last past the held answers.
    for n in (3, 4):
        sandbox.set_rule(visitor(n), talk_s=400)  # 4 s of real time
    sandbox.hang_next(served_app.config["MTT_TIMEOUT_S"] + 1, count=2)
    unknown = [request_call(shop, phone=visitor(n))["id"] for n in (3, 4)]
    deadline = time.monotonic() + 20
    while not all(attempts_of(served_app, i) and attempts_of(served_app, i)[0].start_outcome for i in unknown):
        assert time.monotonic() < deadline, "the starts were not recorded"
        worker.check_alive()
        time.sleep(0.1)
    starts = {attempts_of(served_app, i)[0].start_outcome for i in unknown}

    # 3. Slow answers, within the timeout; then MTT recovers.
    sandbox.slow(served_app.config["MTT_TIMEOUT_S"] / 4)
    try:
        slow = [request_call(shop, phone=visitor(n))["id"] for n in (5, 6, 7)]
        served = wait_final(served_app, unknown + slow, [worker], timeout=60)
    finally:
        sandbox.slow(0)
    recovered = [request_call(shop, phone=visitor(8))["id"]]
    served.update(wait_final(served_app, recovered, [worker]))

    assert set(served.values()) == {("completed", "success")}, served
    assert placed_calls(sandbox) == Counter(visitor(n) for n in range(3, 9))  # once each, none for the refused
    assert dialed_numbers(sandbox) == placed_calls(sandbox)
    assert starts == {"unknown"}  # the timeouts did happen: MTT's answers came after ours
    assert call_keys(served_app) == sorted(f"call:{i}:1" for i in served)
    assert all(len(attempts_of(served_app, i)) == 1 for i in refused + list(served))
    assert missed_call_notices(served_app) == len(refused)
