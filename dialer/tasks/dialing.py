"""Dialing a callback request: the gate, the plan, the attempt and the provider's start, once per request."""
import logging
import time

import sqlalchemy.exc as sa_exc

from app.extensions import db
from app.models import CallAttempt, CallbackRequest, RequestStatus
from app.services import charges, dialer, telephony
from app.services.tariffs import TariffError
from dialer.huey_app import task
from dialer.providers.base import ProviderError, StartResult

log = logging.getLogger(__name__)

S = RequestStatus
DIALABLE = (S.RECEIVED, S.QUEUED)
START_STORE_PAUSES_S = (0.5, 1, 2, 4, 8, 15, 30)  # about a minute: a database restart, a failover


@task("dialer.plan_and_dial")
def plan_and_dial(request_id: int) -> str:
    """Dial a request once. Idempotent: a request past `queued`, or with its attempt, is left alone.

    Returns what happened: passive | dialing | failed | unknown | number_busy | skipped.
    No transaction is open while the provider is asked to start the call (its events may arrive meanwhile,
    and on SQLite a transaction holds the write lock).
    """
    request = db.session.get(CallbackRequest, request_id)
    if request is None:
        return "skipped"
    if request.status == S.PASSIVE:  # stored passive (B4/B5): forwarded to the owner
        dialer.forward_passive(request)
        db.session.commit()
        return "passive"
    if request.status not in DIALABLE:
        db.session.rollback()
        return "skipped"
    gate = _gate(request)
    if not gate.allowed:
        log.info("request %s is passive: %s", request_id, gate.reason)
        if dialer.advance_request(request.id, S.PASSIVE, mode="passive"):
            dialer.forward_passive(request, gate.reason)
        db.session.commit()
        return "passive"
    dialer.advance_request(request.id, S.QUEUED)
    return _dial(request, 1, gate)


@task("dialer.redial")
def redial(request_id: int) -> str:
    """X3: attempt 2 of a request whose visitor did not answer attempt 1, once (the dispatcher enqueues it when
    `retry_at` comes). A balance that no longer allows a call completes the request instead.

    Returns: dialing | failed | unknown | number_busy | given_up | skipped.
    """
    request = db.session.get(CallbackRequest, request_id)
    if request is None or request.status not in dialer.RETRY_WAITS or request.retry_at is None:
        db.session.rollback()
        return "skipped"
    gate = _gate(request)
    if not gate.allowed:
        log.info("request %s not called again: %s", request_id, gate.reason)
        dialer.give_up_retry(request)
        db.session.commit()
        return "given_up"
    return _dial(request, 2, gate)


def _gate(request: CallbackRequest) -> charges.Gate:
    try:
        return charges.may_dial(request.account_id, {"client": request.phone})
    except TariffError as exc:
        log.error("request %s not dialed: %s", request.id, exc)
        return charges.Gate(False, exc.code, 0)


def _dial(request: CallbackRequest, number: int, gate: charges.Gate) -> str:
    """Claim attempt `number` (once per request; X1), build its plan, commit, then ask the provider to start."""
    claim = dialer.claim_attempt(request, number)
    if claim.attempt is None:
        db.session.commit()
        return "skipped" if claim.reason == "attempted" else claim.reason
    attempt = claim.attempt
    try:
        plan = dialer.build_plan(request, events_url=telephony.events_url(claim.raw_token), gate=gate)
    except (dialer.DialerError, ProviderError) as exc:
        log.warning("request %s: no plan: %s", request.id, exc)
        return _failed(request, attempt, exc.code)
    db.session.commit()

    adapter = telephony.provider()
    try:
        result = adapter.start_callback(plan)
    except ProviderError as exc:  # the plan asks for what the provider refuses: nothing was sent
        result = StartResult("rejected", code=exc.code, detail=str(exc), requests_sent=0)
    finally:
        adapter.session.close()

    return _keep_start(request, attempt, plan, result)


def _keep_start(request: CallbackRequest, attempt: CallAttempt, plan, result: StartResult) -> str:
    """Store the provider's answer, again and again while the database is unreachable (restarting): only this
    worker knows the call id now, and an attempt without one is neither redialed nor settled nor charged."""
    request_id = request.id
    for pause in START_STORE_PAUSES_S:
        try:
            return _store_start(request, attempt, plan, result)
        except sa_exc.OperationalError:
            db.session.rollback()
            log.warning("request %s: the database is unreachable; MTT's answer is stored again in %s s",
                        request_id, pause)
            time.sleep(pause)
    return _store_start(request, attempt, plan, result)  # the last try: an error now fails the task


def _store_start(request: CallbackRequest, attempt: CallAttempt, plan, result: StartResult) -> str:
    telephony.record_start(attempt.id, plan, result)
    if result.status == "rejected":
        log.warning("request %s: MTT refused the call: %s %s", request.id, result.code, result.detail)
        return _failed(request, attempt, None)
    # accepted, or unknown: it may be ringing, so it is never dialed again; the reconciler asks MTT later.
    dialer.advance_attempt(attempt, "dialing")
    dialer.advance_request(request.id, S.DIALING)
    db.session.commit()
    return "dialing" if result.status == "accepted" else "unknown"


def _failed(request: CallbackRequest, attempt: CallAttempt, code: str | None) -> str:
    if code:
        attempt.start_code = code[:40]
    dialer.advance_attempt(attempt, "failed", outcome="failed")
    dialer.complete(request, attempt, "failed")
    db.session.commit()
    return "failed"


def enqueue(request_id: int, dial=None) -> None:
    """Enqueue `plan_and_dial` (or `dial`, e.g. `redial`) after the request's commit; a queue that is down loses
    nothing the reconciler and the dispatcher cannot find (the request stays where it was)."""
    dial = dial or plan_and_dial
    try:
        dial(request_id)
    except Exception:
        log.exception("could not enqueue %s for request %s", dial.name, request_id)
