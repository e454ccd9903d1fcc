"""Callback-request rows for the back-office sweeps; call in an app context.

`request_row` returns a new, uncommitted request; `request_with_timeline` adds one that went through a whole
call (status changes, an attempt with its plan, the provider's events, a final call record, an SMS and an
e-mail) and returns its id, uncommitted, so the request's page shows every part of its timeline.
"""
from __future__ import annotations

import datetime as dt

from app.db import utcnow
from app.extensions import db
from app.models import (
    CallAttempt,
    CallbackRequest,
    CallRecord,
    DialerTransition,
    Notification,
    ProviderEvent,
    SmsMessage,
)

PLAN = {"legs": [{"order": 1, "address": "+79161234567", "name": "Ivan", "ring_timeout_s": 20, "kind": "phone",
                  "extension": None}],
        "ring_mode": "sequential", "client_number": "+79995550000", "max_duration_s": 3600,
        "events_url": "https://callback.example.com/hooks/mtt/…", "caller_id_for_manager": None,
        "announcement_prompt_id": None, "client_dial_delay_s": 0, "extension_delay_s": 0, "description": "request"}


def request_row(account_id: int, site_id: int, phone: str = "+79995550000", **fields) -> CallbackRequest:
    return CallbackRequest(account_id=account_id, site_id=site_id, phone=phone, country="RU", mode="instant",
                           status_token_hash="0" * 64, ip="10.0.0.1", **fields)


def request_with_timeline(account_id: int, site_id: int, *, line_id: int | None = None) -> int:
    start = utcnow() - dt.timedelta(minutes=5)
    at = {step: start + dt.timedelta(seconds=seconds) for step, seconds in
          {"queued": 0.2, "dialing": 0.5, "manager_answered": 4.25, "connected": 9.5, "hung_up": 40, "completed": 41}
          .items()}
    request = request_row(account_id, site_id, created_at=start, status="completed", outcome="success",
                          duration_s=30, answered_line_id=line_id, status_changed_at=at["completed"])
    db.session.add(request)
    db.session.flush()
    attempt = CallAttempt(request_id=request.id, status="ended", provider="mtt", provider_call_id=f"call-{request.id}",
                          token_hash=f"{request.id:064d}", plan=PLAN, start_outcome="accepted", created_at=at["queued"],
                          started_at=at["dialing"], manager_answered_at=at["manager_answered"],
                          client_answered_at=at["connected"], ended_at=at["hung_up"], outcome="success", talk_s=30,
                          answered_line_id=line_id)
    db.session.add(attempt)
    db.session.flush()
    for status in ("queued", "dialing", "manager_answered", "connected", "completed"):
        db.session.add(DialerTransition(request_id=request.id, status=status, at=at[status]))
    for status in ("dialing", "manager_answered", "connected"):
        db.session.add(DialerTransition(request_id=request.id, attempt_id=attempt.id, status=status, at=at[status]))
    db.session.add(DialerTransition(request_id=request.id, attempt_id=attempt.id, status="ended", at=at["completed"]))
    for leg, event, kind, when in (("A", "start_side_A", "answered", "manager_answered"),
                                   ("B", "start_side_B", "answered", "connected"),
                                   ("B", "end_side_B", "ended", "hung_up")):
        db.session.add(ProviderEvent(attempt_id=attempt.id, provider="mtt", provider_call_id=attempt.provider_call_id,
                                     leg=leg, event=event, kind=kind, received_at=at[when]))
    db.session.add(CallRecord(attempt_id=attempt.id, manager_talk_s=36, manager_charged_s=60, manager_waiting_s=4,
                              is_manager_answered=True, client_talk_s=30, client_charged_s=60, client_waiting_s=5,
                              is_client_answered=True, cost_kop=300, currency="RUB", is_final=True))
    db.session.add(SmsMessage(account_id=account_id, request_id=request.id, attempt_id=attempt.id,
                              kind="call_followup", destination=request.phone, sender="MTT",
                              text="Thank you for your request!", provider="mtt"))
    db.session.add(Notification(account_id=account_id, kind="missed_call", recipient="boss@acme.example.com",
                                subject="Missed call", body_text="A call was missed.",
                                dedup_key=f"missed:{request.id}"))
    db.session.flush()
    return request.id
