"""Leases of periodic tasks that must not overlap (single flight), with an expiry: a worker killed while holding
one does not stop later runs for longer than the lease."""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db


class TaskLease(db.Model):
    __tablename__ = "task_lease"

    name: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(sa.String(32))
    expires_at: Mapped[dt.datetime]
