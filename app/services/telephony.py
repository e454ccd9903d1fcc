"""Telephony on our side of the adapter: attempts and their secret event tokens, provider events stored once,
call records, SMS sending, and refusing settings the configured provider cannot honour.

The adapter (`dialer.providers`) speaks HTTP only; this module is where its answers meet the database. Events
are hints that move timestamps and wake the worker; outcomes and billing come from the call record.
"""
from __future__ import annotations

import dataclasses
import hashlib
import ipaddress
import secrets
from collections.abc import Callable, Mapping
from typing import TypeVar

import sqlalchemy as sa
from flask import current_app
from flask_babel import gettext as _
from sqlalchemy.orm import aliased

from app.db import insert, utcnow
from app.extensions import db
from app.models import CallAttempt, CallRecord, Notification, ProviderEvent, SmsMessage
from app.urls import external_url
from dialer.providers import base
from dialer.providers.mtt import MttConfig, MttProvider

T = TypeVar("T")

# Which timestamp of the attempt each normalised event sets (once: a late or repeated event moves nothing).
EVENT_TIMESTAMPS = {
    ("answered", "A"): "manager_answered_at",
    ("answered", "B"): "client_answered_at",
    ("ended", "A"): "ended_at",
    ("ended", "B"): "ended_at",
}


def provider() -> MttProvider:
    """The configured provider (MTT: `MTT_*` settings; `make run` points them at the sandbox)."""
    return MttProvider(MttConfig.from_mapping(current_app.config))


def _using_provider(action: Callable[[MttProvider], T]) -> T:
    """Run `action` with a fresh provider and close its HTTP connections afterwards."""
    adapter = provider()
    try:
        return action(adapter)
    finally:
        adapter.session.close()


def token_hash(raw_token: str) -> str:
    return hashlib.sha256(raw_token.encode()).hexdigest()


def new_attempt(request_id: int, number: int) -> tuple[CallAttempt, str]:
    """A new attempt row with a fresh secret token; the raw token is returned once (only its hash is stored)."""
    raw_token = secrets.token_urlsafe(32)
    attempt = CallAttempt(request_id=request_id, number=number, provider=MttProvider.name,
                          token_hash=token_hash(raw_token))
    db.session.add(attempt)
    db.session.flush()
    return attempt, raw_token


def record_start(attempt_id: int, plan: base.CallbackPlan, result: base.StartResult) -> None:
    """Store the plan sent and the provider's answer on the attempt. Events may arrive before the answer is
    stored, and the attempt then learnt its call id from the first one; the answer's own id (from our request
    to the provider) wins over one learnt from an event, so a stray event cannot tie the attempt to another
    call and leave its real one unsettled."""
    values = {"plan": stored_plan(plan), "start_outcome": result.status, "start_code": result.code,
              "started_at": utcnow()}
    db.session.execute(sa.update(CallAttempt).where(CallAttempt.id == attempt_id).values(values)
                       .execution_options(synchronize_session=False))
    if result.call_id:
        _take_answer_call_id(attempt_id, result.call_id)


def _take_answer_call_id(attempt_id: int, call_id: str) -> None:
    provider, learnt = db.session.execute(sa.select(CallAttempt.provider, CallAttempt.provider_call_id)
                                          .where(CallAttempt.id == attempt_id)).one()
    if learnt == call_id:
        return
    other = aliased(CallAttempt)
    taken = sa.select(other.id).where(other.provider == provider, other.provider_call_id == call_id).exists()
    db.session.execute(sa.update(CallAttempt).where(CallAttempt.id == attempt_id, ~taken)
                       .values(provider_call_id=call_id).execution_options(synchronize_session=False))
    if learnt is not None:
        current_app.logger.warning("attempt %s: an event named call %s, the provider's answer %s; the answer's "
                                   "id is kept", attempt_id, learnt, call_id)


def stored_plan(plan: base.CallbackPlan) -> dict:
    """The plan as sent, for the attempt's row: the events URL's secret token is left out (only its hash is
    stored: whoever reads plans must not be able to forge the call's events)."""
    stored = dataclasses.asdict(plan)
    stored["events_url"] = stored["events_url"].rsplit("/", 1)[0] + "/…" if stored["events_url"] else ""
    return stored


def events_url(raw_token: str) -> str:
    """The URL the provider calls with this attempt's events (PUBLIC_URL + `/hooks/mtt/<token>`)."""
    return external_url("hooks.mtt_event", token=raw_token)


def attempt_by_token(raw_token: str) -> CallAttempt | None:
    return db.session.scalar(sa.select(CallAttempt).where(CallAttempt.token_hash == token_hash(raw_token)))


def is_allowed_source(ip: str | None) -> bool:
    """True unless `MTT_EVENT_NETWORKS` (CIDRs) is set and `ip` is in none of them."""
    networks = current_app.config.get("MTT_EVENT_NETWORKS") or []
    if not networks:
        return True
    try:
        address = ipaddress.ip_address(ip or "")
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(network, strict=False) for network in networks)


def record_event(attempt: CallAttempt, params: Mapping[str, str]) -> bool:
    """Store a provider event of `attempt` once and set the attempt's timestamp for it if still unset.

    Returns True when the event is new (so the worker should look at the attempt), False for a repeat.
    Raises `base.InvalidEvent` for parameters the provider does not document or another call's id.
    """
    adapter = provider()
    event = adapter.parse_event(params, received_at=utcnow())
    if attempt.provider_call_id not in (None, event.call_id):
        raise base.InvalidEvent(f"event for call {event.call_id} on the URL of call {attempt.provider_call_id}")
    if attempt.provider_call_id is None and not _learn_call_id(attempt, event.call_id):
        raise base.InvalidEvent(f"call {event.call_id} belongs to another attempt")
    # RETURNING, not rowcount: psycopg reports -1 for an INSERT ... ON CONFLICT DO NOTHING.
    is_new = db.session.execute(
        insert(db.session, ProviderEvent)
        .values(attempt_id=attempt.id, provider=attempt.provider, provider_call_id=event.call_id, leg=event.side,
                event=event.raw, kind=event.kind, received_at=event.at, raw=dict(params))
        .on_conflict_do_nothing(index_elements=["provider", "provider_call_id", "leg", "event"])
        .returning(ProviderEvent.id)
    ).scalar_one_or_none() is not None
    name = EVENT_TIMESTAMPS[(event.kind, event.side)]
    if getattr(attempt, name) is None:  # as loaded; the guarded UPDATE settles a race with a concurrent event
        column = getattr(CallAttempt, name)
        db.session.execute(sa.update(CallAttempt).where(CallAttempt.id == attempt.id, column.is_(None))
                           .values({column: event.at}).execution_options(synchronize_session=False))
    return is_new


def _learn_call_id(attempt: CallAttempt, call_id: str) -> bool:
    """An attempt whose start outcome was unknown learns its call id from its first event (its own URL).
    False when another attempt has that id."""
    other = aliased(CallAttempt)
    taken = sa.select(other.id).where(other.provider == attempt.provider, other.provider_call_id == call_id).exists()
    learnt = db.session.execute(
        sa.update(CallAttempt)
        .where(CallAttempt.id == attempt.id, CallAttempt.provider_call_id.is_(None), ~taken)
        .values(provider_call_id=call_id).execution_options(synchronize_session=False)).rowcount
    # Not learnt: another attempt has the id, or a concurrent event of this attempt taught it first.
    return bool(learnt) or db.session.scalar(
        sa.select(CallAttempt.provider_call_id).where(CallAttempt.id == attempt.id)) == call_id


def has_ended(attempt_id: int) -> bool:
    return db.session.scalar(sa.select(ProviderEvent.id).where(ProviderEvent.attempt_id == attempt_id,
                                                               ProviderEvent.kind == "ended").limit(1)) is not None


def store_call_record(attempt_id: int, record: base.CallRecord) -> None:
    """Insert or refresh the attempt's call record; a final record is never overwritten."""
    manager, client = record.leg("A"), record.leg("B")
    values = {
        "manager_talk_s": manager.talk_s if manager else 0,
        "manager_charged_s": manager.charged_s if manager else 0,
        "manager_waiting_s": manager.waiting_s if manager else 0,
        "is_manager_answered": bool(manager and manager.answered),
        "client_talk_s": client.talk_s if client else 0,
        "client_charged_s": client.charged_s if client else 0,
        "client_waiting_s": client.waiting_s if client else 0,
        "is_client_answered": bool(client and client.answered),
        "cost_kop": record.cost_kop,
        "currency": record.currency,
        "raw": dataclasses.asdict(record),
        "is_final": record.is_final,
        "fetched_at": utcnow(),
    }
    db.session.execute(
        insert(db.session, CallRecord).values(attempt_id=attempt_id, **values)
        .on_conflict_do_update(index_elements=["attempt_id"], set_=values, where=CallRecord.is_final.is_(False)))


def refresh_call_record(attempt_id: int, call_id: str | None) -> CallRecord | None:
    """Ask the provider for the record of call `call_id` (the attempt's) and store it; None while the provider
    has none. The caller passes the call id it read before committing: no transaction (on SQLite, the write
    lock) is open while the provider answers."""
    if call_id is None:
        return None
    record = _using_provider(lambda adapter: adapter.fetch_call_record(call_id))
    if record is None:
        return None
    store_call_record(attempt_id, record)
    return db.session.scalar(sa.select(CallRecord).where(CallRecord.attempt_id == attempt_id)
                             .execution_options(populate_existing=True))


# --- SMS -------------------------------------------------------------------------------------------------------

def new_sms(notification: Notification, destination: str, text: str) -> SmsMessage:
    """The SMS row of an outbox notification; the sender is the operator-approved name (MTT named, N6)."""
    sms = SmsMessage(account_id=notification.account_id, notification_id=notification.id, kind=notification.kind,
                     destination=destination, sender=current_app.config["MTT_SMS_SENDER"], text=text,
                     provider=MttProvider.name)
    db.session.add(sms)
    db.session.flush()
    return sms


def send_sms(notification: Notification) -> base.SmsResult:
    """Send the SMS of an outbox notification through the provider (reads its row, writes nothing)."""
    sms = db.session.scalar(sa.select(SmsMessage).where(SmsMessage.notification_id == notification.id))
    return _using_provider(lambda adapter: adapter.send_sms(sms.sender, sms.destination, sms.text))


def record_sms_result(notification_id: int, result: base.SmsResult, status: str) -> None:
    """Mirror the outbox's decision on the SMS row: `status` is sent, pending (retry), failed or unknown."""
    values = {"status": status, "last_error": None if result.status == "sent" else
              f"{result.code}: {result.detail}"[:500]}
    if result.status == "sent":
        values.update(sent_at=utcnow(), provider_message_id=result.message_id)
    db.session.execute(sa.update(SmsMessage).where(SmsMessage.notification_id == notification_id).values(values)
                       .execution_options(synchronize_session=False))


# --- refusing what the provider cannot do ------------------------------------------------------------------------

def _refused() -> Mapping[base.Capability, str]:
    return provider().capabilities.refused


def settings_refusals(settings) -> dict[str, str]:
    """Site settings (a validated `SiteSettings`) that ask for what the provider refuses: field → the
    provider's message (translated when the catalogue has it)."""
    asked = {
        "dial_mode": base.Capability.SIMULTANEOUS if settings.dial_mode == "simultaneous"
        else base.Capability.SEQUENTIAL,
        "client_delay_s": settings.client_delay_s and base.Capability.CLIENT_DIAL_DELAY,
        "extension_delay_s": settings.extension_delay_s and base.Capability.EXTENSION_DTMF,
        "caller_id": settings.caller_id == "client" and base.Capability.CALLER_ID_FOR_MANAGER,
        "is_site_announced": settings.is_site_announced and base.Capability.ANNOUNCEMENT,
        "sms_report_numbers": bool(settings.sms_report_numbers) and base.Capability.SMS,
    }
    refused = _refused()
    return {field: _(refused[capability]) for field, capability in asked.items() if capability in refused}


def line_refusal(kind: str, extension: str | None) -> tuple[str, str] | None:
    """(field, message) when a manager line needs what the provider refuses: SIP addresses, extensions (DTMF)."""
    refused = _refused()
    if kind == "sip" and base.Capability.SIP_LEGS in refused:
        return "kind", _(refused[base.Capability.SIP_LEGS])
    if extension and base.Capability.EXTENSION_DTMF in refused:
        return "extension", _(refused[base.Capability.EXTENSION_DTMF])
    return None
