"""Dial-and-charge cycles of one account from several processes at once (B9, overdraft policy), per backend.

Three spawned processes (each its own app on the test's database) run two dialer threads each: six dialers,
200 cycles in all. A cycle asks `may_dial`; if admitted, "talks" for a random duration held to the gate's
`max_duration_s`, then `charge_call`s its own key (sometimes twice, as a retried hook would). The first cycle
of every dialer charges one shared key, so six writers race for it.

The overdraft bound asserted: each admitted call costs at most the balance its gate saw (its duration is held
to `max_duration_s`). Take the call admitted last: its gate saw every charge posted before it; the only
charges it did not see are of calls in flight then, at most one per other dialer. So the final balance is at
least 0 - (DIALERS - 1) × the dearest call charged.
"""
from __future__ import annotations

import datetime as dt
import json
import multiprocessing
import random
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from app.db import utcnow
from app.extensions import db
from app.models import Account, LedgerTransaction
from app.services import charges, ledger
from app.services.settings import set_setting
from app.services.tariffs import Leg

pytestmark = [pytest.mark.backends, pytest.mark.timeout(120)]

PROCESSES, THREADS = 3, 2
DIALERS = PROCESSES * THREADS
CYCLES = 200
INITIAL_KOP = 20_000
RU_FIXED, RU_MOBILE = "+74951234567", "+79161234567"
NUMBERS = {"manager": RU_FIXED, "client": RU_MOBILE}  # starting tariff: 1.50 + 2.50 a minute; minimum 5.00
MINIMUM_KOP = 500
MAX_CALL_S = 300  # the global cap, lowered so that a call that talks to its limit costs at most 20.00
SECONDS = [0, 2, 30, 61, 125, 180, 7200]  # 7200: talks until the gate's limit


def _cycle(account_id: int, cycle: int, rng: random.Random) -> dict:
    key_id = "shared" if cycle < DIALERS else str(cycle)
    gate = charges.may_dial(account_id, NUMBERS)
    db.session.commit()  # ends the reading transaction (on SQLite it holds the write lock)
    record = {"key": f"call:{key_id}:1", "allowed": gate.allowed, "reason": gate.reason,
              "seen": gate.balance_kop, "minimum": gate.minimum_kop, "max_s": gate.max_duration_s,
              "created": None, "charged": 0}
    if not gate.allowed:
        return record
    time.sleep(rng.uniform(0, 0.02))  # the call
    seconds = min(rng.choice(SECONDS), gate.max_duration_s)
    legs = [Leg("manager", RU_FIXED, seconds), Leg("client", RU_MOBILE, seconds)]
    posted = charges.charge_call(account_id, key_id, 1, legs)
    db.session.commit()
    if posted is not None:
        record["created"] = posted.created
        if posted.created:  # a shared key posted by another dialer first charged that dialer's call, not this one
            record["charged"] = -sum(e.amount_kop for e in posted.transaction.entries if e.amount_kop < 0)
        if rng.random() < 0.25:  # a retried hook charges the same attempt again: nothing more is posted
            again = charges.charge_call(account_id, key_id, 1, legs)
            db.session.commit()
            record["retried_created"] = again.created
    return record


def _dialer(app, account_id: int, dialer: int, records: list, errors: list) -> None:
    rng = random.Random(dialer)
    try:
        with app.app_context():
            for cycle in range(dialer, CYCLES, DIALERS):
                records.append(_cycle(account_id, cycle, rng))
            db.session.remove()
    except Exception as exc:  # reported by the test
        errors.append(repr(exc))


def _process(config: dict, account_id: int, first_dialer: int, barrier, out: str) -> None:
    from app import create_app

    app = create_app(config)
    records, errors = [], []
    barrier.wait(60)  # every process has its app before anyone dials
    threads = [threading.Thread(target=_dialer, args=(app, account_id, first_dialer + n, records, errors))
               for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    Path(out).write_text(json.dumps({"records": records, "errors": errors}))


def test_dialers_in_several_processes_charge_each_key_once_and_stay_within_the_overdraft_bound(
        app, backend, database_url, tmp_path):
    with app.app_context():
        account = Account(client_code="PRICING-RACE", company="Race Co",
                          trial_ends_at=utcnow() + dt.timedelta(days=14))
        db.session.add(account)
        db.session.flush()
        ledger.post("payment:test:race", "payment", [(ledger.client_account(account.id), INITIAL_KOP),
                                                     (ledger.system_account("system:cash"), -INITIAL_KOP)])
        set_setting("max_call_duration_s", MAX_CALL_S)
        db.session.commit()
        account_id = account.id
        db.engine.dispose()
    config = {"SQLALCHEMY_DATABASE_URI": database_url, "INSTANCE_PATH": str(tmp_path), "SECRET_KEY": "x",
              "TESTING": True, "HUEY_IMMEDIATE": True, "REDIS_URL": app.config["REDIS_URL"]}
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(PROCESSES)
    outs = [tmp_path / f"pricing-{n}.json" for n in range(PROCESSES)]
    procs = [ctx.Process(target=_process, args=(config, account_id, n * THREADS, barrier, str(outs[n])))
             for n in range(PROCESSES)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(100)
    assert [proc.exitcode for proc in procs] == [0] * PROCESSES
    results = [json.loads(out.read_text()) for out in outs]
    assert [r["errors"] for r in results] == [[]] * PROCESSES
    records = [record for r in results for record in r["records"]]
    assert len(records) == CYCLES

    allowed = [r for r in records if r["allowed"]]
    refused = [r for r in records if not r["allowed"]]
    created = [r for r in records if r["created"]]
    # Dialing stops once the balance is below the minimum, and only then.
    assert allowed and refused
    assert all(r["seen"] >= MINIMUM_KOP and 60 <= r["max_s"] <= MAX_CALL_S for r in allowed)
    assert all(r["reason"] == "low_balance" and r["seen"] < MINIMUM_KOP for r in refused)
    # A call never costs more than the balance its gate saw.
    assert all(r["charged"] <= r["seen"] for r in allowed)
    # Every key posts once: the shared one once out of six, the retries never.
    assert len({r["key"] for r in created}) == len(created)
    assert sum(1 for r in records if r["key"] == "call:shared:1" and r["created"]) == 1
    assert not any(r.get("retried_created") for r in records)
    with app.app_context():
        keys = db.session.scalars(sa.select(LedgerTransaction.key).where(LedgerTransaction.kind == "call")).all()
        assert sorted(keys) == sorted(r["key"] for r in created)
        final = ledger.balance(account_id)
        # No update lost: the balance is the initial one less exactly what was charged.
        assert final == INITIAL_KOP - sum(r["charged"] for r in created)
        assert ledger.integrity_problems() == []
        # The balance ran out, and the overdraft stays within the bound argued above.
        assert final < MINIMUM_KOP
        dearest = max(r["charged"] for r in created)
        assert dearest <= MAX_CALL_S // 60 * 400
        assert final >= -(DIALERS - 1) * dearest
        gate = charges.may_dial(account_id, NUMBERS)
        assert (gate.allowed, gate.reason) == (False, "low_balance")
