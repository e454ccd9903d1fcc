"""Per-account openings of permission keys, and the audit log of every change."""
from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.db import utcnow
from app.extensions import db


class AccountPermission(db.Model):
    """A manager's decision for one account: `is_granted` opens (or closes) a key against the role default."""

    __tablename__ = "account_permission"
    __table_args__ = (sa.UniqueConstraint("account_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("account.id", ondelete="CASCADE"), index=True)
    key: Mapped[str] = mapped_column(sa.String(64))
    is_granted: Mapped[bool] = mapped_column(default=True)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    account = sa.orm.relationship("Account")

    def __str__(self) -> str:
        return f"{self.key}={'on' if self.is_granted else 'off'}"


class AuditLog(db.Model):
    """Who changed what, when: written by the session listener in app.services.audit for every flush."""

    __tablename__ = "audit_log"
    __table_args__ = (sa.Index("ix_audit_log_target", "table_name", "row_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(sa.String(120))
    user_id: Mapped[int | None] = mapped_column(index=True)
    account_id: Mapped[int | None] = mapped_column(index=True)
    action: Mapped[str] = mapped_column(sa.String(8))
    table_name: Mapped[str] = mapped_column(sa.String(64))
    row_id: Mapped[str] = mapped_column(sa.String(64))
    changes: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
