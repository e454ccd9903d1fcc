"""Callback requests from the widget, the consent given with each, widget event counters and limiter hits."""
from __future__ import annotations

import datetime as dt
import enum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db import utcnow
from app.extensions import db


class RequestStatus(enum.StrEnum):
    """The request's life, in order (ARCHITECTURE.md, Contracts); the last four are final."""

    RECEIVED = "received"
    SCHEDULED = "scheduled"
    QUEUED = "queued"
    DIALING = "dialing"
    MANAGER_ANSWERED = "manager_answered"
    CONNECTED = "connected"
    COMPLETED = "completed"
    REJECTED = "rejected"
    PASSIVE = "passive"
    EXPIRED = "expired"


class CallbackRequest(db.Model):
    """One visitor's request to be called back; `visitor` keeps the widget's context as sent."""

    __tablename__ = "callback_request"
    __table_args__ = (
        sa.Index("ix_callback_request_site_created", "site_id", "created_at"),
        sa.Index("ix_callback_request_account_created", "account_id", "created_at"),  # the cabinet's statistics
        sa.Index("ix_callback_request_status_scheduled", "status", "scheduled_for"),
        sa.Index("ix_callback_request_retry_at", "retry_at"),
        sa.Index("ix_callback_request_not_rolled_up", "account_id", "created_at",  # docs/stats.md
                 postgresql_where=sa.text("rolled_up = false"), sqlite_where=sa.text("rolled_up = 0")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("account.id", ondelete="CASCADE"), index=True)
    site_id: Mapped[int] = mapped_column(sa.ForeignKey("site.id", ondelete="CASCADE"))
    department_id: Mapped[int | None] = mapped_column(sa.ForeignKey("department.id", ondelete="SET NULL"))
    phone: Mapped[str] = mapped_column(sa.String(20), index=True)  # E.164
    country: Mapped[str] = mapped_column(sa.String(2))
    status: Mapped[str] = mapped_column(sa.String(20), default=RequestStatus.RECEIVED)
    outcome: Mapped[str | None] = mapped_column(sa.String(20))
    reject_reason: Mapped[str | None] = mapped_column(sa.String(32))
    mode: Mapped[str] = mapped_column(sa.String(12))
    scheduled_for: Mapped[dt.datetime | None]
    retry_at: Mapped[dt.datetime | None]  # X3: when the visitor who did not answer is called again (attempt 2)
    duration_s: Mapped[int | None]
    answered_line_id: Mapped[int | None] = mapped_column(sa.ForeignKey("manager_line.id", ondelete="SET NULL"))
    status_changed_at: Mapped[dt.datetime | None]
    status_token_hash: Mapped[str] = mapped_column(sa.String(64))
    ip: Mapped[str] = mapped_column(sa.String(45))
    region: Mapped[str] = mapped_column(sa.String(120), default="")
    user_agent: Mapped[str] = mapped_column(sa.String(400), default="")
    source: Mapped[str] = mapped_column(sa.String(16), default="")
    keyword: Mapped[str] = mapped_column(sa.String(200), default="")
    page_url: Mapped[str] = mapped_column(sa.String(2000), default="")
    visitor: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    rolled_up: Mapped[bool] = mapped_column(default=False, server_default=sa.false())  # counted in stats_hour

    site = relationship("Site")
    consent: Mapped[ConsentRecord | None] = relationship(back_populates="request", uselist=False)

    def __str__(self) -> str:
        return f"#{self.id} {self.phone}"


class ConsentText(db.Model):
    """A consent text as it was shown (W13); its version is the digest of the text."""

    __tablename__ = "consent_text"

    id: Mapped[int] = mapped_column(primary_key=True)
    digest: Mapped[str] = mapped_column(sa.String(64), unique=True)
    body: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    @property
    def version(self) -> str:
        return self.digest[:12]


class ConsentRecord(db.Model):
    """Who agreed to which text, when, on which site and from which address (152-FZ)."""

    __tablename__ = "consent_record"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(sa.ForeignKey("callback_request.id", ondelete="CASCADE"), unique=True)
    site_id: Mapped[int] = mapped_column(sa.ForeignKey("site.id", ondelete="CASCADE"), index=True)
    consent_text_id: Mapped[int] = mapped_column(sa.ForeignKey("consent_text.id"))
    phone: Mapped[str] = mapped_column(sa.String(20))
    ip: Mapped[str] = mapped_column(sa.String(45))
    given_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    request: Mapped[CallbackRequest] = relationship(back_populates="consent")
    text: Mapped[ConsentText] = relationship()


class WidgetEventCount(db.Model):
    """Widget events (shown, closed, submitted) counted per site, day, scenario, variant and device."""

    __tablename__ = "widget_event_count"
    __table_args__ = (sa.UniqueConstraint("site_id", "day", "kind", "scenario", "variant", "device"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(sa.ForeignKey("site.id", ondelete="CASCADE"))
    day: Mapped[dt.date]
    kind: Mapped[str] = mapped_column(sa.String(12))
    scenario: Mapped[str] = mapped_column(sa.String(32), default="")
    variant: Mapped[str] = mapped_column(sa.String(32), default="")
    device: Mapped[str] = mapped_column(sa.String(8), default="")
    count: Mapped[int] = mapped_column(default=0)


class LimitHit(db.Model):
    """One counted event of an abuse limit, when the limiter keeps its counters in the database."""

    __tablename__ = "limit_hit"
    __table_args__ = (sa.Index("ix_limit_hit_key_at", "key", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(sa.String(120))
    member: Mapped[str] = mapped_column(sa.String(64))
    at: Mapped[dt.datetime] = mapped_column(index=True)
