"""A callback request's timeline for the back office: its status changes, the provider's events, the plans sent,
call records, SMS and e-mails, and the speed to connect (X2) measured from the dialer's transitions."""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

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

# The e-mails the dialer writes about one request carry its id in their dedup key (app.services.dialer).
REQUEST_MAIL_KEYS = ("missed", "passive")
FINAL_REQUEST_STATUSES = ("completed", "rejected", "passive", "expired")


@dataclass(frozen=True)
class Entry:
    """One line of the timeline: a status change of the request or of an attempt, or a provider event."""

    at: dt.datetime
    offset_s: float  # seconds since the request was created
    attempt_number: int | None  # None: the request itself
    kind: str  # "status" | "event"
    status: str = ""  # for a status change
    leg: str = ""  # for an event: A (the manager) or B (the client)
    event: str = ""  # for an event: the provider's own name


@dataclass(frozen=True)
class Timings:
    """Seconds from the request's creation to each step (X2); None when the request never got there."""

    dialing_s: float | None
    first_ring_s: float | None
    manager_answered_s: float | None
    connected_s: float | None
    ended_s: float | None


@dataclass(frozen=True)
class AttemptDetails:
    attempt: CallAttempt
    plan_json: str  # pretty-printed
    record: CallRecord | None


@dataclass(frozen=True)
class Timeline:
    entries: list[Entry]
    timings: Timings
    attempts: list[AttemptDetails]
    sms: list[SmsMessage]
    emails: list[Notification]


def offset_s(request: CallbackRequest, at: dt.datetime | None) -> float | None:
    return None if at is None else round((at - request.created_at).total_seconds(), 3)


def timeline(request: CallbackRequest) -> Timeline:
    attempts = _attempts(request.id)
    numbers = {attempt.id: attempt.number for attempt in attempts}
    transitions = _transitions(request.id)
    entries = sorted(_status_entries(request, transitions, numbers) + _event_entries(request, numbers),
                     key=lambda entry: entry.at)
    return Timeline(entries=entries, timings=timings(request, transitions, attempts),
                    attempts=[_attempt_details(attempt) for attempt in attempts],
                    sms=_sms(request.id), emails=_emails(request.id))


def timings(request: CallbackRequest, transitions: list[DialerTransition],
            attempts: list[CallAttempt]) -> Timings:
    """From the request's own transitions (the first attempt's are the fallback for dialing and answers);
    the first ring is the attempt's `first_ring_at` (MTT sends no ringing event, so it stays empty there)."""
    def first(*statuses: str) -> float | None:
        for only_request in (True, False):
            for row in transitions:
                if row.status in statuses and (row.attempt_id is None) == only_request:
                    return offset_s(request, row.at)
        return None

    rings = [attempt.first_ring_at for attempt in attempts if attempt.first_ring_at is not None]
    return Timings(dialing_s=first("dialing"), first_ring_s=offset_s(request, min(rings)) if rings else None,
                   manager_answered_s=first("manager_answered"), connected_s=first("connected"),
                   ended_s=first(*FINAL_REQUEST_STATUSES, "ended", "failed"))


def plan_json(plan: dict[str, Any] | None) -> str:
    """The plan as sent (its events URL stored without the secret token: `telephony.stored_plan`), indented."""
    return json.dumps(plan, ensure_ascii=False, indent=2, sort_keys=True) if plan is not None else ""


def _attempts(request_id: int) -> list[CallAttempt]:
    return list(db.session.scalars(sa.select(CallAttempt).where(CallAttempt.request_id == request_id)
                                   .order_by(CallAttempt.number)))


def _transitions(request_id: int) -> list[DialerTransition]:
    return list(db.session.scalars(sa.select(DialerTransition).where(DialerTransition.request_id == request_id)
                                   .order_by(DialerTransition.at, DialerTransition.id)))


def _status_entries(request, transitions, numbers) -> list[Entry]:
    return [Entry(at=row.at, offset_s=offset_s(request, row.at), attempt_number=numbers.get(row.attempt_id),
                  kind="status", status=row.status) for row in transitions]


def _event_entries(request, numbers) -> list[Entry]:
    if not numbers:
        return []
    rows = db.session.scalars(sa.select(ProviderEvent).where(ProviderEvent.attempt_id.in_(numbers))
                              .order_by(ProviderEvent.received_at, ProviderEvent.id))
    return [Entry(at=row.received_at, offset_s=offset_s(request, row.received_at),
                  attempt_number=numbers[row.attempt_id], kind="event", leg=row.leg, event=row.event) for row in rows]


def _attempt_details(attempt: CallAttempt) -> AttemptDetails:
    record = db.session.scalar(sa.select(CallRecord).where(CallRecord.attempt_id == attempt.id))
    return AttemptDetails(attempt=attempt, plan_json=plan_json(attempt.plan), record=record)


def _sms(request_id: int) -> list[SmsMessage]:
    return list(db.session.scalars(sa.select(SmsMessage).where(SmsMessage.request_id == request_id)
                                   .order_by(SmsMessage.id)))


def _emails(request_id: int) -> list[Notification]:
    keys = [f"{kind}:{request_id}" for kind in REQUEST_MAIL_KEYS]
    return list(db.session.scalars(sa.select(Notification).where(Notification.channel == "email",
                                                                 Notification.dedup_key.in_(keys))
                                   .order_by(Notification.id)))
