"""The reconciler (issue 7 part 6): a lost task is dialed once, a call whose record was not final at its end
event is settled and charged once, an unknown start is never redialed, and a request that can no longer be
called in time expires without a call."""
from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from dialer_helpers import attempts_of, request_row, stored_request

from app.db import utcnow
from app.extensions import db
from app.models import CallAttempt, CallRecord, LedgerTransaction, Notification, ProviderEvent, RequestStatus, TaskLease
from app.services import dialer, leases, telephony
from dialer.tasks.dialing import plan_and_dial
from dialer.tasks.reconcile import dispatch_due, reconcile

ANNA, BORIS = "+79990000001", "+79990000002"
CLIENT = "+79995550000"


def later(minutes: float) -> dt.datetime:
    return utcnow() + dt.timedelta(minutes=minutes)


def makecallback_count(sandbox) -> int:
    return [body["method"] for body in sandbox.rpc_log].count("makeCallBackCallFollowme")


def call_keys(app) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(sa.select(LedgerTransaction.key).where(LedgerTransaction.kind == "call")))


def lost_request(app, shop, status: str = "queued") -> int:
    """A request whose `plan_and_dial` task was lost (a crashed worker, a flushed Redis)."""
    request_id = stored_request(app, shop, status="received")
    if status == "queued":
        with app.app_context():
            dialer.advance_request(request_id, RequestStatus.QUEUED)
            db.session.commit()
    return request_id


@pytest.mark.backends
@pytest.mark.parametrize("status", ["queued", "received"])
def test_a_lost_task_is_dialed_once_by_the_reconciler(served_app, sandbox, make_shop, settle, status):
    shop = make_shop([("Anna", ANNA)])
    request_id = lost_request(served_app, shop, status)

    assert reconcile.call_local()["requeued"] == 0  # not stuck yet: its task may still be on the way
    assert reconcile.call_local(now=later(2))["requeued"] == 1
    reconcile.call_local(now=later(2))

    assert makecallback_count(sandbox) == 1
    request = settle(request_id)
    assert (request.status, request.outcome) == ("completed", "success")
    assert call_keys(served_app) == [f"call:{request_id}:1"]


@pytest.mark.backends
def test_a_record_not_final_at_the_end_event_is_charged_once_after_two_runs(served_app, sandbox, make_shop,
                                                                           request_call):
    shop = make_shop([("Anna", ANNA)], settings={"is_sms_after_call": True})
    request_id = request_call(shop)["id"]
    [attempt] = attempts_of(served_app, request_id)
    sandbox.wait_finished(attempt.provider_call_id)

    # MTT's end events came before its record had a cost: the call is over but not settled.
    assert request_row(served_app, request_id).status != "completed"
    assert call_keys(served_app) == []

    first = reconcile.call_local(now=later(2))
    second = reconcile.call_local(now=later(2))

    assert first["records_asked"] == 1 and second["records_asked"] == 0
    request = request_row(served_app, request_id)
    assert (request.status, request.outcome) == ("completed", "success")
    assert call_keys(served_app) == [f"call:{request_id}:1"]
    assert attempts_of(served_app, request_id)[0].status == "ended"
    assert makecallback_count(sandbox) == 1


@pytest.mark.backends
def test_an_unknown_start_is_never_redialed_and_is_settled_from_its_record(served_app, sandbox, make_shop,
                                                                          request_call):
    shop = make_shop([("Anna", ANNA)])
    sandbox.set_rule(CLIENT, talk_s=300)  # 3 s of real time
    sandbox.hang_next(3)  # MTT acts, but its answer comes after our timeout: the start is unknown

    request_id = request_call(shop)["id"]
    [attempt] = attempts_of(served_app, request_id)
    assert attempt.start_outcome == "unknown"

    reconcile.call_local(now=later(2))  # during the call: the record is not final, nothing is redialed
    reconcile.call_local(now=later(40))  # even past the expiry threshold
    assert makecallback_count(sandbox) == 1
    assert request_row(served_app, request_id).status != "expired"

    [attempt] = attempts_of(served_app, request_id)
    assert attempt.provider_call_id is not None  # learnt from the call's own events
    sandbox.wait_finished(attempt.provider_call_id)
    reconcile.call_local(now=later(2))
    reconcile.call_local(now=later(2))

    request = request_row(served_app, request_id)
    assert (request.status, request.outcome) == ("completed", "success")
    assert call_keys(served_app) == [f"call:{request_id}:1"]
    assert makecallback_count(sandbox) == 1
    assert plan_and_dial.call_local(request_id) == "skipped"


def test_an_unknown_start_without_a_call_id_is_left_alone_then_given_up_uncharged(served_app, sandbox, make_shop):
    shop = make_shop([("Anna", ANNA)])
    request_id = lost_request(served_app, shop)
    with served_app.app_context():  # the worker died after claiming the attempt: no call id, no event
        request = db.session.get(dialer.CallbackRequest, request_id)
        assert dialer.claim_attempt(request).attempt is not None
        db.session.commit()

    for minutes in (2, 40, 240):  # a call may last up to 4 hours: it may still be going on
        counts = reconcile.call_local(now=later(minutes))
        assert counts["unknown_without_call_id"] == 1 and counts["requeued"] == 0 and counts["expired"] == 0
        assert counts["abandoned"] == 0
    assert request_row(served_app, request_id).status == "queued"

    abandon_after_min = served_app.config["DIALER_ABANDON_AFTER_S"] / 60
    assert reconcile.call_local(now=later(abandon_after_min + 1))["abandoned"] == 1
    assert reconcile.call_local(now=later(abandon_after_min + 2))["abandoned"] == 0

    request = request_row(served_app, request_id)
    assert (request.status, request.outcome) == ("completed", "failed")
    [attempt] = attempts_of(served_app, request_id)
    assert (attempt.status, attempt.start_code, attempt.busy_number) == ("failed", "start_unknown", None)
    assert makecallback_count(sandbox) == 0 and call_keys(served_app) == []  # never dialed, never charged


@pytest.mark.backends
def test_an_old_request_expires_and_is_never_dialed(served_app, sandbox, make_shop):
    shop = make_shop([("Anna", ANNA)])
    old = stored_request(served_app, shop, status="received", created_at=utcnow() - dt.timedelta(hours=1))
    young = lost_request(served_app, shop, "received")

    counts = reconcile.call_local()

    assert counts["expired"] == 1
    assert request_row(served_app, old).status == "expired"
    assert request_row(served_app, young).status == "received"
    assert plan_and_dial.call_local(old) == "skipped"
    assert reconcile.call_local(now=later(2))["expired"] == 0
    assert [a.request_id for a in attempts_of(served_app, old)] == []
    assert {call.params["callDescription"] for call in sandbox.calls.values()} == {f"request {young}"}


@pytest.mark.backends
def test_a_request_left_queued_by_a_busy_number_is_dialed_by_the_reconciler(served_app, sandbox, make_shop,
                                                                          request_call, settle):
    first_shop = make_shop([("Anna", ANNA)])
    second_shop = make_shop([("Boris", BORIS)])
    sandbox.set_rule(CLIENT, talk_s=300)

    first = request_call(first_shop)["id"]
    second = request_call(second_shop)["id"]
    assert request_row(served_app, second).status == "queued"
    assert reconcile.call_local(now=later(2))["requeued"] == 1  # still busy: stays queued
    assert attempts_of(served_app, second) == []

    assert settle(first).outcome == "success"
    reconcile.call_local(now=later(2))

    assert settle(second).outcome == "success"
    assert makecallback_count(sandbox) == 2


def test_a_stuck_request_is_not_dialed_while_its_site_is_closed(served_app, sandbox, make_shop):
    closed = {day: {"is_open": False} for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
    shop = make_shop([("Anna", ANNA)], settings={"schedule": closed})
    request_id = lost_request(served_app, shop)

    assert reconcile.call_local(now=later(2))["requeued"] == 0
    assert reconcile.call_local(now=later(40))["expired"] == 1
    assert request_row(served_app, request_id).status == "expired" and sandbox.calls == {}


@pytest.mark.backends
def test_a_passive_request_whose_forwarding_task_was_lost_is_emailed_once(served_app, sandbox, make_shop):
    shop = make_shop([("Anna", ANNA)])
    request_id = stored_request(served_app, shop, status="passive")

    assert reconcile.call_local()["passive_forwarded"] == 0
    assert reconcile.call_local(now=later(2))["passive_forwarded"] == 1
    assert reconcile.call_local(now=later(2))["passive_forwarded"] == 0

    with served_app.app_context():
        keys = list(db.session.scalars(sa.select(Notification.dedup_key).where(Notification.kind == "passive_request")))
    assert keys == [f"passive:{request_id}"] and sandbox.calls == {}


def test_the_reconciler_and_the_dispatcher_are_single_flight(served_app, sandbox, make_shop):
    shop = make_shop([("Anna", ANNA)])
    lost_request(served_app, shop)
    stored_request(served_app, shop, scheduled_for=utcnow() - dt.timedelta(minutes=1), phone="+79995550001")

    with served_app.app_context():  # another run in progress holds both leases
        assert leases.acquire("dialer.reconcile", "other-run", 300)
        assert leases.acquire("dialer.dispatch", "other-run", 300)
    assert not any(reconcile.call_local(now=later(2)).values())
    assert dispatch_due.call_local() == {}
    assert sandbox.calls == {}

    with served_app.app_context():
        leases.release("dialer.reconcile", "other-run")
    assert reconcile.call_local(now=later(2))["requeued"] == 1


def test_a_lease_left_by_a_killed_worker_expires(served_app, sandbox, make_shop):
    shop = make_shop([("Anna", ANNA)])
    lost_request(served_app, shop)
    with served_app.app_context():  # a worker killed mid-run never released it
        assert leases.acquire("dialer.reconcile", "killed-run", 300)
        assert not leases.acquire("dialer.reconcile", "next-run", 300)
        db.session.execute(sa.update(TaskLease).values(expires_at=utcnow() - dt.timedelta(seconds=1)))
        db.session.commit()

    assert reconcile.call_local(now=later(2))["requeued"] == 1  # taken over once expired, no restart needed
    with served_app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(TaskLease)) == 0  # released after the run


def test_the_tick_dispatches_now_and_schedules_the_rest_of_the_minute(served_app, sandbox, make_shop):
    from dialer.tasks.reconcile import dispatch_tick

    shop = make_shop([("Anna", ANNA)])
    request_id = stored_request(served_app, shop, scheduled_for=utcnow() - dt.timedelta(seconds=1))

    assert dispatch_tick.call_local() == 60 // served_app.config["DIALER_DISPATCH_EVERY_S"]

    assert request_row(served_app, request_id).status != "scheduled"
    assert makecallback_count(sandbox) == 1


def test_a_long_call_has_its_record_asked_with_a_backoff_and_every_run_once_ended(served_app, make_shop):
    """On rows alone (a real call's length would depend on the machine's speed): which calls in progress the
    reconciler asks MTT about."""
    shop = make_shop([("Anna", ANNA)])
    request_id = stored_request(served_app, shop, status="dialing")
    now = utcnow()
    with served_app.app_context():
        attempt, _token = telephony.new_attempt(request_id, 1)
        attempt.status, attempt.provider_call_id = "connected", "call-1"
        db.session.commit()
        attempt_id = attempt.id

    def asked(created_min_ago: float, fetched_min_ago: float | None) -> bool:
        with served_app.app_context():
            db.session.execute(sa.update(CallAttempt).where(CallAttempt.id == attempt_id)
                               .values(created_at=now - dt.timedelta(minutes=created_min_ago)))
            db.session.execute(sa.delete(CallRecord).where(CallRecord.attempt_id == attempt_id))
            if fetched_min_ago is not None:  # a record not final yet, fetched then
                db.session.add(CallRecord(attempt_id=attempt_id,
                                          fetched_at=now - dt.timedelta(minutes=fetched_min_ago)))
            db.session.commit()
            return attempt_id in [a for a, _ in dialer.unsettled_attempts(now, 60)]

    assert asked(0.5, None) is False  # younger than DIALER_SETTLE_AFTER_S
    assert asked(2, None) is True  # no record yet
    assert asked(10, 2) is False  # fetched in the second half of its 10 minutes: not yet
    assert asked(10, 6) is True  # fetched in the first half: asked again
    assert asked(240, 100) is False  # a 4-hour call is asked about 8 times, not 240

    with served_app.app_context():  # the call has ended (its end event is stored): asked every run
        db.session.add(ProviderEvent(attempt_id=attempt_id, provider="mtt", provider_call_id="call-1", leg="A",
                                     event="end_side_A", kind="ended", received_at=now, raw={}))
        db.session.commit()
    assert asked(10, 0) is True
