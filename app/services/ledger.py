"""The ledger's only writer: `post` a keyed, balanced transaction; read balances.

Sign convention: an entry's amount is added to its ledger account's balance, so a client's balance is
the sum of its entries, and money paid by a client shows as a negative entry on the client and positive
entries on the accounts that received it. Every transaction's entries sum to zero.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

import sqlalchemy as sa

from app.db import insert, utcnow
from app.extensions import db
from app.models import LedgerAccount, LedgerEntry, LedgerTransaction
from app.services import DomainError

# System accounts: where gifts come from, where call and SMS money goes, and where top-ups arrive.
GIFTS = "system:gifts"
MTT = "system:mtt"
MARKUP = "system:markup"


class LedgerError(DomainError):
    code = "ledger_error"


@dataclass(frozen=True)
class Posted:
    transaction: LedgerTransaction
    created: bool  # False when the key had been posted before: nothing was posted now


def _get_or_create(code: str, account_id: int | None = None) -> LedgerAccount:
    stmt = insert(db.session, LedgerAccount).values(code=code, account_id=account_id, balance_kop=0)
    db.session.execute(stmt.on_conflict_do_nothing())  # `code` and `account_id` are both unique
    return db.session.execute(sa.select(LedgerAccount).where(LedgerAccount.code == code)).scalar_one()


def client_account(account_id: int) -> LedgerAccount:
    """The ledger account of a client account, created on first use."""
    return _get_or_create(f"client:{account_id}", account_id)


def system_account(code: str) -> LedgerAccount:
    if not code.startswith("system:"):
        raise LedgerError(f"system account codes start with 'system:', got {code!r}")
    return _get_or_create(code)


def post(key: str, kind: str, legs: Iterable[tuple[LedgerAccount, int]], memo: str = "") -> Posted:
    """Post a balanced transaction once per `key`; a repeated key posts nothing and returns the first one.

    Safe under concurrent writers: the unique key is claimed first (PostgreSQL makes a concurrent insert of
    the same key wait for the first, SQLite's immediate transaction serialises writers), then balances are
    updated with atomic increments in ledger-account id order, so two postings never deadlock.
    """
    amounts = _validated(key, legs)
    stmt = insert(db.session, LedgerTransaction).values(key=key, kind=kind, memo=memo[:500], created_at=utcnow())
    stmt = stmt.on_conflict_do_nothing(index_elements=["key"]).returning(LedgerTransaction.id)
    txn_id = db.session.execute(stmt).scalar_one_or_none()
    if txn_id is None:
        return Posted(_by_key(key), created=False)
    ordered = sorted(amounts)
    db.session.execute(sa.insert(LedgerEntry), [
        {"transaction_id": txn_id, "ledger_account_id": la_id, "amount_kop": amounts[la_id]} for la_id in ordered])
    for ledger_account_id in ordered:
        db.session.execute(
            sa.update(LedgerAccount)
            .where(LedgerAccount.id == ledger_account_id)
            .values(balance_kop=LedgerAccount.balance_kop + amounts[ledger_account_id])
            .execution_options(synchronize_session=False)
        )
    _expire_cached_balances(amounts)
    return Posted(db.session.get(LedgerTransaction, txn_id), created=True)


def _validated(key: str, legs: Iterable[tuple[LedgerAccount, int]]) -> dict[int, int]:
    if not key or len(key) > 200:
        raise LedgerError("a ledger key is required (at most 200 characters)")
    amounts: dict[int, int] = defaultdict(int)
    for ledger_account, amount in legs:
        if type(amount) is not int:
            raise LedgerError(f"amounts are integer kopecks, got {amount!r}")
        amounts[ledger_account.id] += amount
    amounts = {k: v for k, v in amounts.items() if v != 0}
    if len(amounts) < 2:
        raise LedgerError("a transaction moves money between at least two ledger accounts")
    if sum(amounts.values()) != 0:
        raise LedgerError(f"entries of {key!r} do not sum to zero")
    return amounts


def _by_key(key: str) -> LedgerTransaction:
    return db.session.execute(sa.select(LedgerTransaction).where(LedgerTransaction.key == key)).scalar_one()


def _expire_cached_balances(amounts: dict[int, int]) -> None:
    for ledger_account_id in amounts:
        obj = db.session.identity_map.get(db.session.identity_key(LedgerAccount, ledger_account_id))
        if obj is not None:
            db.session.expire(obj, ["balance_kop"])


def balance(account_id: int) -> int:
    """A client's balance in kopecks (0 for an account that never had a posting)."""
    value = db.session.execute(
        sa.select(LedgerAccount.balance_kop).where(LedgerAccount.code == f"client:{account_id}")
    ).scalar_one_or_none()
    return value or 0


def integrity_problems() -> list[str]:
    """Cached balances that differ from their entries, and transactions that do not sum to zero."""
    sums = (
        sa.select(LedgerEntry.ledger_account_id, sa.func.coalesce(sa.func.sum(LedgerEntry.amount_kop), 0))
        .group_by(LedgerEntry.ledger_account_id)
    )
    entry_sums = dict(db.session.execute(sums).all())
    problems = [
        f"{code}: cached {cached} != entries {entry_sums.get(id_, 0)}"
        for id_, code, cached in db.session.execute(
            sa.select(LedgerAccount.id, LedgerAccount.code, LedgerAccount.balance_kop))
        if cached != entry_sums.get(id_, 0)
    ]
    unbalanced = db.session.execute(
        sa.select(LedgerTransaction.key)
        .join(LedgerEntry)
        .group_by(LedgerTransaction.id, LedgerTransaction.key)
        .having(sa.func.sum(LedgerEntry.amount_kop) != 0)
    ).scalars()
    problems += [f"{key}: entries do not sum to zero" for key in unbalanced]
    return problems
