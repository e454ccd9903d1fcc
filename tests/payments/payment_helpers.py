"""Helpers of the payments tests (a module of its own: `conftest` is a different module in every test folder)."""
from __future__ import annotations

import sqlalchemy as sa

from app.extensions import db
from app.models import LedgerTransaction, Payment
from app.services import ledger

RETURN_URL = "http://127.0.0.1/portal/billing/return"
MONTH_KOP = 50_000


def money_state(app, account_id: int) -> tuple[int, int, list[str]]:
    """(the balance, how many YooKassa payments were credited, the ledger's integrity problems)."""
    with app.app_context():
        credited = db.session.scalar(sa.select(sa.func.count()).select_from(LedgerTransaction).where(
            LedgerTransaction.kind == "payment"))
        return ledger.balance(account_id), credited, ledger.integrity_problems()


def row(app, payment_id: int) -> Payment:
    with app.app_context():
        return db.session.get(Payment, payment_id)


def charges(yookassa) -> list[dict]:
    """The card charges (payments by a saved method) the fake received."""
    return [r["json"] for r in yookassa.requests
            if r["method"] == "POST" and r["path"] == "/v3/payments" and r["json"].get("payment_method_id")]
