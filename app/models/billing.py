"""Tariffs (versioned by the date they take effect), their per-minute rates, and rent periods."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db import HundredthsKopeck, utcnow
from app.extensions import db


class Tariff(db.Model):
    """One version of the price list; the version in force is the latest with `effective_from` in the past."""

    __tablename__ = "tariff"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(120))
    effective_from: Mapped[dt.datetime] = mapped_column(unique=True)
    rent_month_kop: Mapped[int]
    # {"3": 5, "6": 10, "12": 20}: percent off the rent when buying at least that many months.
    rent_discounts: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    free_threshold_s: Mapped[int] = mapped_column(default=3)
    sms_retail_kop: Mapped[int]
    sms_cost_kop: Mapped[int]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    rates: Mapped[list[TariffRate]] = relationship(back_populates="tariff", cascade="all, delete-orphan",
                                                   order_by="TariffRate.id")

    def __str__(self) -> str:
        return f"{self.name} ({self.effective_from:%Y-%m-%d})"


class TariffRate(db.Model):
    """Retail price and MTT's cost per started minute of one leg to one destination class.

    `country` is an ISO 3166 code or "*" (any other country); `number_class` is "mobile" or "fixed"
    (libphonenumber's number type; SIP lines count as "fixed" of country "*"); `leg` is "manager" or "client".
    """

    __tablename__ = "tariff_rate"
    __table_args__ = (sa.UniqueConstraint("tariff_id", "country", "number_class", "leg"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tariff_id: Mapped[int] = mapped_column(sa.ForeignKey("tariff.id", ondelete="CASCADE"))
    country: Mapped[str] = mapped_column(sa.String(2))
    number_class: Mapped[str] = mapped_column(sa.String(8))
    leg: Mapped[str] = mapped_column(sa.String(8))
    # Per-minute rates may have fractions of a kopeck (two places); a leg's price is rounded up to whole kopecks.
    retail_kop_per_min: Mapped[Decimal] = mapped_column(HundredthsKopeck)
    cost_kop_per_min: Mapped[Decimal] = mapped_column(HundredthsKopeck)

    tariff: Mapped[Tariff] = relationship(back_populates="rates")


class RentPeriod(db.Model):
    """A paid stretch of service, [starts_at, ends_at); one per account and start, so a renewal happens once.

    The free trial is `account.trial_ends_at`, not a period.
    """

    __tablename__ = "rent_period"
    __table_args__ = (sa.UniqueConstraint("account_id", "starts_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("account.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(8))  # bought (by the client) or renewed (at a period's end)
    months: Mapped[int] = mapped_column(default=0)
    starts_at: Mapped[dt.datetime]
    ends_at: Mapped[dt.datetime]
    price_kop: Mapped[int] = mapped_column(default=0)
    ledger_key: Mapped[str | None] = mapped_column(sa.String(200))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
