"""The dialer's scenarios through the real consumer (`python -m dialer.main -w 2`, a separate process).

The test process is the web process: `served_app` (the app on loopback, Huey not immediate) takes the widget's
POST and, after commit, enqueues `dialer.plan_and_dial` on the shared queue (an SQLite file, or Redis); the worker,
configured only through environment variables (the sandbox's MTT_*, the served app's PUBLIC_URL, the lowered
DIALER_* thresholds), dials the MTT sandbox running in the test process; the sandbox posts MTT's events to the
served app's `/hooks/mtt/<token>`, which enqueues `dialer.attempt_event` for the worker.

MTT's end events come before its call record has a cost, so a call may be settled only by `dialer.reconcile`
(as in production). The worker's own periodic reconcile runs once a minute, too slow here: the test process runs
`reconcile.call_local()` every half second while it waits (`worker_harness.wait_final`); what the reconciler
decides to do (`dialer.attempt_event` sweeps) is enqueued and run by the worker. The scheduled case enqueues
`dialer.dispatch_due` to the worker.
"""
from __future__ import annotations

import datetime as dt
import time
import zoneinfo
from dataclasses import dataclass, field

import pytest
import sqlalchemy as sa
from dialer_helpers import attempts_of, request_row
from helpers import top_up
from worker_harness import (  # noqa: F401
    dialed_numbers,
    dialer_app_overrides,
    preserve_huey_state,
    queue_env_fixture,
    start_dialer_worker_fixture,
    wait_final,
)

from app.db import utcnow
from app.extensions import db
from app.models import Account, CallbackRequest, LedgerTransaction

pytestmark = pytest.mark.timeout(120)

ANNA, BORIS = "+79990000001", "+79990000002"
CLIENT = "+79995550000"
SALES = "sales@shop.example.com"
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
ALWAYS_OPEN = {day: {"is_open": True, "opens_at": "00:00", "closes_at": "00:00"} for day in DAYS}

BACKENDS = [
    pytest.param("sqlite", "sqlite", id="sqlite-db+sqlite-huey"),
    pytest.param("postgresql", "redis", id="postgresql-db+redis-huey"),
]


@pytest.fixture
def app_overrides(sandbox, queue_env, tmp_path, monkeypatch):
    preserve_huey_state(monkeypatch)  # before the app is made: its init_app() changes the module's queue
    return dialer_app_overrides(sandbox, queue_env, tmp_path)


def _negative_balance(app, shop) -> None:
    with app.app_context():
        top_up(shop.account_id, -10_001)  # the gift and a kopeck more (B5)
        db.session.commit()


def _rent_ended(app, shop) -> None:
    with app.app_context():
        db.session.get(Account, shop.account_id).trial_ends_at = utcnow() - dt.timedelta(days=1)
        db.session.commit()


def _closed_today() -> dict:
    """Open around the clock except today (in the site's default zone, Europe/Moscow): the site is closed now."""
    today = DAYS[dt.datetime.now(zoneinfo.ZoneInfo("Europe/Moscow")).weekday()]
    return {**ALWAYS_OPEN, today: {"is_open": False}}


@dataclass(frozen=True)
class Case:
    lines: tuple = (("Anna", ANNA),)
    settings: dict = field(default_factory=dict)
    rules: dict = field(default_factory=dict)  # number → sandbox behaviour
    prepare: object = None  # (app, shop) → None, before the POST
    mode: str = "instant"  # what the POST answers
    status: str = "completed"
    outcome: str | None = "success"
    answered: str | None = "Anna"  # the manager whose line took the call
    charged: bool = True  # one `call:<request>:1` ledger row
    mail_to: str | None = None  # "owner" or an address: an e-mail about CLIENT received by the SMTP sink
    ring_mode: str | None = "sequential"  # the plan sent, when a call was placed


SCENARIOS = [
    pytest.param(Case(lines=(("Anna", ANNA), ("Boris", BORIS)), rules={ANNA: {"action": "busy"}},
                      answered="Boris"), id="in-turn-first-busy-second-answers"),
    pytest.param(Case(lines=(("Anna", ANNA), ("Boris", BORIS)), settings={"dial_mode": "simultaneous"},
                      rules={ANNA: {"answer_after_s": 8}, BORIS: {"answer_after_s": 1}}, answered="Boris",
                      ring_mode="simultaneous"), id="all-at-once-first-to-answer"),
    pytest.param(Case(lines=(("Anna", ANNA), ("Boris", BORIS)),
                      settings={"missed_call_email": SALES, "ring_timeout_s": 10},
                      rules={ANNA: {"action": "busy"}, BORIS: {"action": "no_answer"}},
                      outcome="manager_no_answer", answered=None, charged=False, mail_to=SALES),
                 id="manager-no-answer-missed-call-email"),
    pytest.param(Case(settings={"missed_call_email": SALES}, rules={CLIENT: {"action": "no_answer"}},
                      outcome="client_no_answer"), id="client-no-answer"),
    pytest.param(Case(prepare=_negative_balance, mode="passive", status="passive", outcome=None, answered=None,
                      charged=False, mail_to="owner", ring_mode=None), id="passive-negative-balance"),
    pytest.param(Case(prepare=_rent_ended, mode="passive", status="passive", outcome=None, answered=None,
                      charged=False, mail_to="owner", ring_mode=None), id="passive-rent-ended"),
    pytest.param(Case(settings={"schedule": "closed-today"}, mode="scheduled"),
                 id="scheduled-dispatched-once-open"),
]


def _call_keys(app) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(sa.select(LedgerTransaction.key).where(LedgerTransaction.kind == "call")))


def _owner_email(app, shop) -> str:
    from app.models import User

    with app.app_context():
        return db.session.scalar(sa.select(User.email).where(User.account_id == shop.account_id))


def _dispatch_once_open(app, shop, request_id: int, worker) -> None:
    """The site opens (its schedule saved open) and the request's time has come: the worker's dispatcher
    queues it and dials it."""
    from app.services import site_settings
    from dialer.huey_app import huey
    from dialer.tasks.reconcile import dispatch_due

    row = request_row(app, request_id)
    assert row.status == "scheduled" and row.scheduled_for > utcnow()
    with app.app_context():
        site_settings.save(shop.account_id, shop.site_id, {"schedule": ALWAYS_OPEN})
        db.session.execute(sa.update(CallbackRequest).where(CallbackRequest.id == request_id)
                           .values(scheduled_for=utcnow() - dt.timedelta(seconds=5)))
        db.session.commit()
    task = dispatch_due.s()
    huey.enqueue(task)  # the worker runs it
    worker.wait_for_log(f"dialer.dispatch_due: {task.id} executed", timeout=10)


@pytest.mark.parametrize("case", SCENARIOS)
@pytest.mark.parametrize(("backend", "queue"), BACKENDS)
def test_scenario_through_the_real_consumer(served_app, sandbox, make_shop, request_call, start_dialer_worker,
                                            mailbox, case, backend, queue):
    worker = start_dialer_worker(wait=False)  # it starts (seconds of imports) while the shop is made
    settings = dict(case.settings)
    if settings.get("schedule") == "closed-today":
        settings["schedule"] = _closed_today()
    shop = make_shop(list(case.lines), settings=settings)
    for number, rule in case.rules.items():
        sandbox.set_rule(number, **rule)
    if case.prepare:
        case.prepare(served_app, shop)
    worker.wait_started()

    created = request_call(shop)

    assert created["status_code"] == 201 and created["mode"] == case.mode
    request_id = created["id"]
    if case.mode == "scheduled":
        assert request_row(served_app, request_id).status == "scheduled"
        _dispatch_once_open(served_app, shop, request_id, worker)
    final = wait_final(served_app, [request_id], [worker])
    assert final[request_id] == (case.status, case.outcome)

    request = request_row(served_app, request_id)
    attempts = attempts_of(served_app, request_id)
    if case.ring_mode is None:  # never dialed
        assert attempts == [] and dialed_numbers(sandbox) == {}
    else:
        [attempt] = attempts
        assert attempt.status == "ended" and attempt.outcome == case.outcome and attempt.busy_number is None
        assert attempt.plan["ring_mode"] == case.ring_mode
        assert dialed_numbers(sandbox) == {CLIENT: 1}
    expected_line = shop.line_ids[case.answered] if case.answered else None
    assert request.answered_line_id == expected_line
    assert _call_keys(served_app) == ([f"call:{request_id}:1"] if case.charged else [])
    if case.mail_to:
        recipient = _owner_email(served_app, shop) if case.mail_to == "owner" else case.mail_to
        _wait_for_mail_about_client(mailbox, recipient, worker)

    # The task repeated on the worker and the reconciler running again change nothing: one call, one charge.
    from dialer.huey_app import huey
    from dialer.tasks.dialing import plan_and_dial
    from dialer.tasks.reconcile import reconcile

    task = plan_and_dial.s(request_id)
    huey.enqueue(task)
    worker.wait_for_log(f"dialer.plan_and_dial: {task.id} executed", timeout=10)
    counts = reconcile.call_local()
    assert (counts["requeued"], counts["records_asked"], counts["passive_forwarded"]) == (0, 0, 0)
    assert request_row(served_app, request_id).status == case.status
    assert dialed_numbers(sandbox) == ({} if case.ring_mode is None else {CLIENT: 1})
    assert _call_keys(served_app) == ([f"call:{request_id}:1"] if case.charged else [])
    worker.check_alive()


def _wait_for_mail_about_client(mailbox, recipient: str, worker, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while True:
        found = [m for m in mailbox.messages if m.rcpt_tos == [recipient] and CLIENT in m.subject]
        if found:
            assert len(found) == 1 and CLIENT in found[0].text
            return
        worker.check_alive()
        if time.monotonic() > deadline:
            seen = [(m.rcpt_tos, m.subject) for m in mailbox.messages]
            pytest.fail(f"no e-mail about {CLIENT} to {recipient}: {seen}\n{worker.log()[-6000:]}")
        time.sleep(0.05)



@pytest.mark.parametrize(("backend", "queue"), BACKENDS)
def test_a_provider_event_wakes_the_worker(served_app, sandbox, make_shop, request_call, start_dialer_worker,
                                           backend, queue):
    """MTT's answer events reach the hook, which wakes the worker (`dialer.attempt_event`): the request moves to
    `connected` while the call is going on, with no reconciler run. (Failed on PostgreSQL until 51c7313: the hook
    took every new event for a repeat there, so calls moved and settled only through the reconciler.)"""
    worker = start_dialer_worker(wait=False)
    shop = make_shop([("Anna", ANNA)])
    sandbox.set_rule(CLIENT, talk_s=300)  # 3 s of real time
    worker.wait_started()

    request_id = request_call(shop)["id"]
    deadline = time.monotonic() + 8
    while request_row(served_app, request_id).status != "connected" and time.monotonic() < deadline:
        worker.check_alive()
        time.sleep(0.05)

    assert request_row(served_app, request_id).status == "connected"
    # One run may see both answer events stored; the reconciler leaves attempts younger than SETTLE_AFTER alone.
    assert worker.executions("dialer.attempt_event") >= 1
