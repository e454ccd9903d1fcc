"""The outbox: a message rendered and stored with its cause, sent after commit by a worker task."""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.db import utcnow
from app.extensions import db


class Notification(db.Model):
    __tablename__ = "notification"
    __table_args__ = (
        sa.CheckConstraint("channel IN ('email', 'sms')", name="channel_known"),
        sa.CheckConstraint("status IN ('pending', 'sending', 'sent', 'failed')", name="status_known"),
        sa.Index("ix_notification_due", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int | None] = mapped_column(sa.ForeignKey("account.id"), index=True)
    channel: Mapped[str] = mapped_column(sa.String(8), default="email")
    kind: Mapped[str] = mapped_column(sa.String(48))
    recipient: Mapped[str] = mapped_column(sa.String(254))
    locale: Mapped[str] = mapped_column(sa.String(8), default="ru")
    subject: Mapped[str] = mapped_column(sa.String(300), default="")
    body_text: Mapped[str] = mapped_column(sa.Text)
    body_html: Mapped[str | None] = mapped_column(sa.Text)
    dedup_key: Mapped[str | None] = mapped_column(sa.String(200), unique=True)
    status: Mapped[str] = mapped_column(sa.String(16), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    claimed_at: Mapped[dt.datetime | None]
    last_error: Mapped[str | None] = mapped_column(sa.String(500))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    sent_at: Mapped[dt.datetime | None]


class NotificationPreference(db.Model):
    """One account's choice for one kind of notification (N1), and the administrator's per-account lock.

    `enabled` and `frequency` are the client's choice, or the administrator's value while `locked_by_admin` is
    true. `locked_by_admin` None follows the global lock of the kind (GlobalSettings.notification_defaults);
    True locks the kind for this account at this row's values; False opens a globally locked kind to this
    account. `threshold_kop` is used by `low_balance` only (N3): None means the global default threshold.
    """

    __tablename__ = "notification_preference"
    __table_args__ = (
        sa.UniqueConstraint("account_id", "kind"),
        sa.CheckConstraint("frequency IN ('instant', 'daily', 'weekly')", name="frequency_known"),
        sa.CheckConstraint("threshold_kop IS NULL OR threshold_kop >= 0", name="threshold_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("account.id"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(48))
    enabled: Mapped[bool] = mapped_column(default=True)
    frequency: Mapped[str] = mapped_column(sa.String(8), default="instant")
    locked_by_admin: Mapped[bool | None]
    threshold_kop: Mapped[int | None] = mapped_column(sa.BigInteger)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
