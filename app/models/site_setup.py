"""What an account configures for its widget: departments, manager lines, blacklists, settings documents."""
from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db import utcnow
from app.extensions import db

manager_line_site = sa.Table(
    "manager_line_site",
    db.metadata,
    sa.Column("manager_line_id", sa.ForeignKey("manager_line.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("site_id", sa.ForeignKey("site.id", ondelete="CASCADE"), primary_key=True),
)


class Department(db.Model):
    """A department or office; the widget may offer the ones a site lists (spec item 13, D7)."""

    __tablename__ = "department"
    __table_args__ = (sa.UniqueConstraint("account_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("account.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(sa.String(120))

    account = relationship("Account")

    def __str__(self) -> str:
        return self.name


class ManagerLine(db.Model):
    """A number the service rings for an account's calls (D1): at most 15 per account."""

    __tablename__ = "manager_line"
    __table_args__ = (sa.CheckConstraint("kind IN ('phone', 'sip')", name="kind_known"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("account.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(8), default="phone")
    country: Mapped[str] = mapped_column(sa.String(2), default="RU")
    number: Mapped[str] = mapped_column(sa.String(128))
    extension: Mapped[str] = mapped_column(sa.String(16), default="")
    is_active: Mapped[bool] = mapped_column(default=True)
    manager_name: Mapped[str] = mapped_column(sa.String(120), default="")
    department_id: Mapped[int | None] = mapped_column(sa.ForeignKey("department.id", ondelete="SET NULL"))
    is_name_in_sms: Mapped[bool] = mapped_column(default=False)
    is_routed_by_department: Mapped[bool] = mapped_column(default=False)
    is_for_all_sites: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    account = relationship("Account")
    department = relationship("Department")
    sites = relationship("Site", secondary=manager_line_site)

    def __str__(self) -> str:
        return f"{self.manager_name or self.number}"


class BlacklistEntry(db.Model):
    """A number (E.164) or an IP address that is never called back (D13); global when `account_id` is NULL."""

    __tablename__ = "blacklist_entry"
    __table_args__ = (
        sa.CheckConstraint("kind IN ('number', 'ip')", name="kind_known"),
        sa.UniqueConstraint("account_id", "kind", "value"),
        sa.Index("ix_blacklist_entry_lookup", "kind", "value"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int | None] = mapped_column(sa.ForeignKey("account.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(sa.String(8))
    value: Mapped[str] = mapped_column(sa.String(64))
    note: Mapped[str] = mapped_column(sa.String(200), default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    account = relationship("Account")

    def __str__(self) -> str:
        return self.value


class SettingsDocument(db.Model):
    """One version of a settings document: account defaults (`site_id` NULL) or a site's own values.

    Versions are never changed: saving adds version n+1, so the history is the table itself.
    """

    __tablename__ = "settings_document"
    __table_args__ = (
        sa.UniqueConstraint("account_id", "scope", "version"),
        sa.Index("ix_settings_document_current", "account_id", "scope", "version"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("account.id", ondelete="CASCADE"))
    site_id: Mapped[int | None] = mapped_column(sa.ForeignKey("site.id", ondelete="CASCADE"), index=True)
    scope: Mapped[str] = mapped_column(sa.String(32))  # "account" or "site:<id>"
    version: Mapped[int]
    data: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("app_user.id", ondelete="SET NULL"))

    def audit_changes(self, connection) -> dict:
        """For the audit log: what this version changes against the previous one, setting by setting."""
        table = type(self).__table__
        previous = connection.execute(sa.select(table.c.data).where(
            table.c.account_id == self.account_id, table.c.scope == self.scope,
            table.c.version == self.version - 1)).scalar_one_or_none() or {}
        old, new = _flatten(previous), _flatten(self.data)
        changes = {path: [old.get(path), new.get(path)] for path in sorted(old.keys() | new.keys())
                   if old.get(path) != new.get(path)}
        return {"version": [self.version - 1 or None, self.version], **changes}


def _flatten(data: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in data.items():
        path = f"{prefix}{key}"
        flat.update(_flatten(value, f"{path}.") if isinstance(value, dict) else {path: value})
    return flat
