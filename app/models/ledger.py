"""Double-entry ledger: accounts, transactions with a unique key, and entries in integer kopecks."""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db import utcnow
from app.extensions import db


class LedgerAccount(db.Model):
    """One per client account (`client:<id>`) plus system accounts (`system:mtt`, `system:markup`, ...).

    `balance_kop` caches the sum of the account's entries; it is only changed by `services.ledger.post`,
    in the same transaction as the entries.
    """

    __tablename__ = "ledger_account"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(64), unique=True)
    account_id: Mapped[int | None] = mapped_column(sa.ForeignKey("account.id"), unique=True)
    balance_kop: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    def __str__(self) -> str:
        return self.code


class LedgerTransaction(db.Model):
    """A posting; `key` (e.g. `gift:42`, `call:17:1`) makes every charge happen exactly once."""

    __tablename__ = "ledger_transaction"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(sa.String(200), unique=True)
    kind: Mapped[str] = mapped_column(sa.String(32), index=True)
    memo: Mapped[str] = mapped_column(sa.String(500), default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)

    entries: Mapped[list[LedgerEntry]] = relationship(back_populates="transaction", order_by="LedgerEntry.id")

    def __str__(self) -> str:
        return self.key


class LedgerEntry(db.Model):
    """A signed amount on one ledger account: positive adds to its balance. A transaction's entries sum to 0."""

    __tablename__ = "ledger_entry"
    __table_args__ = (sa.CheckConstraint("amount_kop <> 0", name="amount_nonzero"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    transaction_id: Mapped[int] = mapped_column(sa.ForeignKey("ledger_transaction.id"), index=True)
    ledger_account_id: Mapped[int] = mapped_column(sa.ForeignKey("ledger_account.id"), index=True)
    amount_kop: Mapped[int] = mapped_column(sa.BigInteger)

    transaction: Mapped[LedgerTransaction] = relationship(back_populates="entries")
    ledger_account: Mapped[LedgerAccount] = relationship()
