"""Telephony rows: each dialing attempt of a request, the provider's events and call record, and SMS sent."""
from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.db import utcnow
from app.extensions import db


class CallAttempt(db.Model):
    """One dialing of a callback request (ARCHITECTURE.md, Contracts: attempt 2 is the retry of X3).

    The events URL carries a secret token; only its sha256 is stored, so a leaked database cannot forge events.
    `provider_call_id` is NULL until the provider accepted the start. Every transition has its own timestamp
    (X2 measures the speed to connect from them); each is set once and never moved.
    """

    __tablename__ = "call_attempt"
    __table_args__ = (
        sa.UniqueConstraint("request_id", "number"),
        sa.UniqueConstraint("provider", "provider_call_id"),
        sa.CheckConstraint("start_outcome IN ('accepted', 'rejected', 'unknown')", name="start_outcome_known"),
        # X1: `busy_number` is the destination while the attempt is in progress, NULL once it is final, so
        # the unique constraint allows one call in progress per number across all accounts.
        sa.UniqueConstraint("busy_number"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(sa.ForeignKey("callback_request.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(default=1)
    status: Mapped[str] = mapped_column(sa.String(20), default="created", index=True)
    provider: Mapped[str] = mapped_column(sa.String(16))
    provider_call_id: Mapped[str | None] = mapped_column(sa.String(64))
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    plan: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    start_outcome: Mapped[str | None] = mapped_column(sa.String(10))
    start_code: Mapped[str | None] = mapped_column(sa.String(40))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    started_at: Mapped[dt.datetime | None]
    first_ring_at: Mapped[dt.datetime | None]
    manager_answered_at: Mapped[dt.datetime | None]
    client_answered_at: Mapped[dt.datetime | None]
    ended_at: Mapped[dt.datetime | None]
    busy_number: Mapped[str | None] = mapped_column(sa.String(20))
    outcome: Mapped[str | None] = mapped_column(sa.String(20))
    talk_s: Mapped[int | None]
    answered_line_id: Mapped[int | None] = mapped_column(sa.ForeignKey("manager_line.id", ondelete="SET NULL"))
    status_changed_at: Mapped[dt.datetime | None]

    def __str__(self) -> str:
        return f"request {self.request_id} attempt {self.number}"


class DialerTransition(db.Model):
    """One status change of a request (`attempt_id` NULL) or of one of its attempts, with its time (X2)."""

    __tablename__ = "dialer_transition"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(sa.ForeignKey("callback_request.id", ondelete="CASCADE"), index=True)
    attempt_id: Mapped[int | None] = mapped_column(sa.ForeignKey("call_attempt.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(sa.String(20))
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ProviderPrompt(db.Model):
    """An audio prompt uploaded to a provider; its name derives from its content, so it is uploaded once."""

    __tablename__ = "provider_prompt"
    __table_args__ = (sa.UniqueConstraint("provider", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    provider: Mapped[str] = mapped_column(sa.String(16))
    name: Mapped[str] = mapped_column(sa.String(120))
    duration_s: Mapped[float] = mapped_column(default=0.0)
    uploaded_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ProviderEvent(db.Model):
    """A provider's call event as received; the unique key makes a redelivered or repeated event a no-op."""

    __tablename__ = "provider_event"
    __table_args__ = (sa.UniqueConstraint("provider", "provider_call_id", "leg", "event"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    attempt_id: Mapped[int] = mapped_column(sa.ForeignKey("call_attempt.id", ondelete="CASCADE"), index=True)
    provider: Mapped[str] = mapped_column(sa.String(16))
    provider_call_id: Mapped[str] = mapped_column(sa.String(64))
    leg: Mapped[str] = mapped_column(sa.String(1))  # A: the manager, B: the client
    event: Mapped[str] = mapped_column(sa.String(32))  # the provider's own name, e.g. start_side_A
    kind: Mapped[str] = mapped_column(sa.String(12))  # normalised: answered | ended
    received_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    raw: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)  # the request's query/form parameters


class CallRecord(db.Model):
    """The provider's record of an attempt's call: the source of outcomes and billing. Fetched again until final."""

    __tablename__ = "call_record"

    id: Mapped[int] = mapped_column(primary_key=True)
    attempt_id: Mapped[int] = mapped_column(sa.ForeignKey("call_attempt.id", ondelete="CASCADE"), unique=True)
    manager_talk_s: Mapped[int] = mapped_column(default=0)
    manager_charged_s: Mapped[int] = mapped_column(default=0)
    manager_waiting_s: Mapped[int] = mapped_column(default=0)
    is_manager_answered: Mapped[bool] = mapped_column(default=False)
    client_talk_s: Mapped[int] = mapped_column(default=0)
    client_charged_s: Mapped[int] = mapped_column(default=0)
    client_waiting_s: Mapped[int] = mapped_column(default=0)
    is_client_answered: Mapped[bool] = mapped_column(default=False)
    cost_kop: Mapped[int | None]
    currency: Mapped[str | None] = mapped_column(sa.String(3))
    raw: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    is_final: Mapped[bool] = mapped_column(default=False)
    fetched_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class SmsMessage(db.Model):
    """One SMS we sent (or tried to): to whom, from which sender, what, and what the gateway answered.

    Sent through the notification outbox (`notification_id`) so it is retried while the gateway is down.
    Status: pending → sent, or failed; `unknown` when the gateway may have taken it without answering (never
    resent blindly).
    """

    __tablename__ = "sms_message"
    __table_args__ = (
        sa.CheckConstraint("status IN ('pending', 'sent', 'failed', 'unknown')", name="status_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int | None] = mapped_column(sa.ForeignKey("account.id", ondelete="SET NULL"), index=True)
    request_id: Mapped[int | None] = mapped_column(sa.ForeignKey("callback_request.id", ondelete="SET NULL"))
    attempt_id: Mapped[int | None] = mapped_column(sa.ForeignKey("call_attempt.id", ondelete="SET NULL"))
    notification_id: Mapped[int | None] = mapped_column(sa.ForeignKey("notification.id", ondelete="SET NULL"),
                                                        unique=True)
    kind: Mapped[str] = mapped_column(sa.String(48))
    destination: Mapped[str] = mapped_column(sa.String(20))  # E.164
    sender: Mapped[str] = mapped_column(sa.String(64))
    text: Mapped[str] = mapped_column(sa.Text)
    status: Mapped[str] = mapped_column(sa.String(10), default="pending")
    provider: Mapped[str] = mapped_column(sa.String(16))
    provider_message_id: Mapped[str | None] = mapped_column(sa.String(64))
    last_error: Mapped[str | None] = mapped_column(sa.String(500))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    sent_at: Mapped[dt.datetime | None]
