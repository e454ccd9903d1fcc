"""Numbers blocked by the fraud guard (X1) for being entered again and again; staff can lift a block."""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db


class NumberBlock(db.Model):
    """A number (E.164) no site may have called until `until` (NULL: for good), unless staff lifted the block."""

    __tablename__ = "number_block"

    id: Mapped[int] = mapped_column(primary_key=True)
    phone: Mapped[str] = mapped_column(sa.String(20), index=True)
    reason: Mapped[str] = mapped_column(sa.String(32))
    created_at: Mapped[dt.datetime]
    until: Mapped[dt.datetime | None]
    lifted_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("app_user.id", ondelete="SET NULL"))
    lifted_at: Mapped[dt.datetime | None]

    @property
    def is_permanent(self) -> bool:
        return self.until is None
