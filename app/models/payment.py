"""Money coming in and going back: YooKassa payments, saved cards, autopay settings, refunds; bank invoices."""
from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db import utcnow
from app.extensions import db


class Payment(db.Model):
    """One YooKassa payment we asked for: a top-up by redirect, an autopay charge of a saved card.

    `idempotence_key` is ours, made before the first call and reused on every retry, so a retried create never
    makes a second payment. `provider_id` is YooKassa's id (NULL until the create call answered). The balance
    is credited once, by the ledger key `payment:yookassa:<provider_id>`; `credited_at` records when.
    """

    __tablename__ = "payment"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("account.id", ondelete="CASCADE"), index=True)
    provider: Mapped[str] = mapped_column(sa.String(16), default="yookassa")
    provider_id: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    idempotence_key: Mapped[str] = mapped_column(sa.String(64), unique=True)
    purpose: Mapped[str] = mapped_column(sa.String(16))  # topup | autopay (renewal) | auto_topup (threshold)
    amount_kop: Mapped[int]
    # new (create not answered yet) | pending | waiting_for_capture | succeeded | canceled
    status: Mapped[str] = mapped_column(sa.String(24), default="new", index=True)
    is_card_saving: Mapped[bool] = mapped_column(default=False)
    confirmation_url: Mapped[str | None] = mapped_column(sa.String(500))
    cancellation_reason: Mapped[str | None] = mapped_column(sa.String(64))
    method_title: Mapped[str | None] = mapped_column(sa.String(120))
    refunded_kop: Mapped[int] = mapped_column(default=0)
    is_test: Mapped[bool] = mapped_column(default=False)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("app_user.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    credited_at: Mapped[dt.datetime | None]

    refunds: Mapped[list[Refund]] = relationship(back_populates="payment", order_by="Refund.id")

    def __str__(self) -> str:
        return f"{self.provider_id or self.idempotence_key} ({self.amount_kop / 100:.2f} RUB, {self.status})"


class PaymentCard(db.Model):
    """A payment method YooKassa saved for autopay (B7). Removing it sets `removed_at` (YooKassa has no delete)."""

    __tablename__ = "payment_card"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("account.id", ondelete="CASCADE"), index=True)
    provider_method_id: Mapped[str] = mapped_column(sa.String(64), unique=True)
    title: Mapped[str] = mapped_column(sa.String(120), default="")
    card_type: Mapped[str | None] = mapped_column(sa.String(32))
    last4: Mapped[str | None] = mapped_column(sa.String(4))
    expiry_month: Mapped[str | None] = mapped_column(sa.String(2))
    expiry_year: Mapped[str | None] = mapped_column(sa.String(4))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    removed_at: Mapped[dt.datetime | None]
    removal_reason: Mapped[str | None] = mapped_column(sa.String(64))  # client | permission_revoked | card_expired ...

    def __str__(self) -> str:
        return self.title or f"**** {self.last4}"


class Autopay(db.Model):
    """An account's autopay choices (B7): renew the rent from the card, and optionally top up below a threshold."""

    __tablename__ = "autopay"

    account_id: Mapped[int] = mapped_column(sa.ForeignKey("account.id", ondelete="CASCADE"), primary_key=True)
    is_enabled: Mapped[bool] = mapped_column(default=False)
    card_id: Mapped[int | None] = mapped_column(sa.ForeignKey("payment_card.id", ondelete="SET NULL"))
    # Automatic top-up: when the balance falls below threshold_kop, charge amount_kop (NULL: off).
    threshold_kop: Mapped[int | None]
    amount_kop: Mapped[int | None]
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    card: Mapped[PaymentCard | None] = relationship()


class Refund(db.Model):
    """A refund of a payment, full or partial, asked for by an administrator; debited once when it succeeds
    (ledger key `refund:yookassa:<provider_id>`)."""

    __tablename__ = "refund"

    id: Mapped[int] = mapped_column(primary_key=True)
    payment_id: Mapped[int] = mapped_column(sa.ForeignKey("payment.id", ondelete="CASCADE"), index=True)
    provider_id: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    idempotence_key: Mapped[str] = mapped_column(sa.String(64), unique=True)
    amount_kop: Mapped[int]
    status: Mapped[str] = mapped_column(sa.String(16), default="new")  # new | pending | succeeded | canceled
    reason: Mapped[str] = mapped_column(sa.String(250), default="")
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("app_user.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    debited_at: Mapped[dt.datetime | None]

    payment: Mapped[Payment] = relationship(back_populates="refunds")


class CompanyDetails(db.Model):
    """The requisites an account pays bank invoices from (B8), validated with their checksums when saved."""

    __tablename__ = "company_details"

    account_id: Mapped[int] = mapped_column(sa.ForeignKey("account.id", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(250))
    inn: Mapped[str] = mapped_column(sa.String(12))
    kpp: Mapped[str | None] = mapped_column(sa.String(9))  # companies only; sole proprietors have none
    ogrn: Mapped[str] = mapped_column(sa.String(15))
    address: Mapped[str] = mapped_column(sa.String(500))
    bank_name: Mapped[str] = mapped_column(sa.String(250))
    bik: Mapped[str] = mapped_column(sa.String(9))
    correspondent_account: Mapped[str] = mapped_column(sa.String(20))
    settlement_account: Mapped[str] = mapped_column(sa.String(20))
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Invoice(db.Model):
    """A numbered invoice for a bank transfer. Payer and supplier requisites are copied in when it is issued,
    so a later edit of either never changes an issued invoice. Marking it paid credits `invoice:<id>` once."""

    __tablename__ = "invoice"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(sa.String(32), unique=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("account.id", ondelete="CASCADE"), index=True)
    amount_kop: Mapped[int]
    payer: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    supplier: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    status: Mapped[str] = mapped_column(sa.String(16), default="issued", index=True)  # issued | paid | canceled
    issued_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    due_at: Mapped[dt.datetime]
    paid_at: Mapped[dt.datetime | None]
    paid_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("app_user.id", ondelete="SET NULL"))

    def __str__(self) -> str:
        return f"№ {self.number} ({self.amount_kop / 100:.2f} RUB, {self.status})"
