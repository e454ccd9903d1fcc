"""Client accounts, the people who log in, and the sites an account installs the widget on."""
from __future__ import annotations

import datetime as dt
import enum

import sqlalchemy as sa
from flask_login import UserMixin
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db import utcnow
from app.extensions import db


class Role(enum.StrEnum):
    ADMIN = "admin"
    MANAGER = "manager"
    CLIENT = "client"


class Account(db.Model):
    """A client company: owns sites, users, a ledger account and (later) tariffs, calls and settings."""

    __tablename__ = "account"

    id: Mapped[int] = mapped_column(primary_key=True)
    client_code: Mapped[str] = mapped_column(sa.String(16), unique=True)
    company: Mapped[str] = mapped_column(sa.String(200))
    timezone: Mapped[str] = mapped_column(sa.String(64), default="Europe/Moscow")
    locale: Mapped[str] = mapped_column(sa.String(8), default="ru")
    trial_ends_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # X1 spend cap (app.services.spend_guard): the account's own hourly cap (None: the global default), when
    # dialing was paused for reaching it (None: not paused), and when it was last resumed (the spend window
    # starts there, so a resume is not paused again by the same hour's spend).
    spend_cap_per_hour_kop: Mapped[int | None]
    dialing_paused_at: Mapped[dt.datetime | None]
    dialing_resumed_at: Mapped[dt.datetime | None]

    users: Mapped[list[User]] = relationship(back_populates="account")
    sites: Mapped[list[Site]] = relationship(back_populates="account", order_by="Site.id")

    def __str__(self) -> str:
        return f"{self.client_code} {self.company}"


class User(UserMixin, db.Model):
    """Anyone who logs in: service staff (admin, manager) or a client's user (bound to an account)."""

    __tablename__ = "app_user"
    __table_args__ = (
        sa.CheckConstraint("role IN ('admin', 'manager', 'client')", name="role_known"),
        sa.CheckConstraint("role <> 'client' OR account_id IS NOT NULL", name="client_has_account"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    role: Mapped[str] = mapped_column(sa.String(16), default=Role.CLIENT.value)
    account_id: Mapped[int | None] = mapped_column(sa.ForeignKey("account.id"), index=True)
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    password_changed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[dt.datetime | None]

    account: Mapped[Account | None] = relationship(back_populates="users")

    def get_id(self) -> str:
        # The session names the password generation too: a password change logs out every other session.
        return f"{self.id}:{int(self.password_changed_at.timestamp() * 1000)}"

    @property
    def is_staff(self) -> bool:
        return self.role in (Role.ADMIN, Role.MANAGER)

    def __str__(self) -> str:
        return self.email


class Site(db.Model):
    """A website of an account; `public_key` is what the install snippet carries."""

    __tablename__ = "site"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("account.id"), index=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    domains: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    public_key: Mapped[str] = mapped_column(sa.String(32), unique=True)
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    account: Mapped[Account] = relationship(back_populates="sites")

    def __str__(self) -> str:
        return self.name
