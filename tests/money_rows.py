"""Rows of the money views (payments, cards, refunds, invoices) for the back-office sweeps; call in an app context.

`*_row` functions return a new, uncommitted model instance (the sweep's row factories add and commit it).
`refundable_payment` goes through the fake YooKassa the app is configured with, so a refund of it is real.
"""
from __future__ import annotations

import datetime as dt
import uuid

from invoice_helpers import COMPANY

from app.db import utcnow
from app.extensions import db
from app.models import Invoice, Payment, PaymentCard, Refund, User
from app.services import invoices, payments


def payment_row(account_id: int, status: str = "succeeded") -> Payment:
    return Payment(account_id=account_id, provider_id=f"pay-{uuid.uuid4()}", idempotence_key=str(uuid.uuid4()),
                   purpose="topup", amount_kop=150_000, status=status, method_title="Bank card *4444",
                   credited_at=utcnow() if status == "succeeded" else None)


def card_row(account_id: int) -> PaymentCard:
    return PaymentCard(account_id=account_id, provider_method_id=f"pm-{uuid.uuid4()}", title="Bank card *4444",
                       card_type="MasterCard", last4="4444", expiry_month="12", expiry_year="2030")


def refund_row(account_id: int) -> Refund:
    return Refund(payment=payment_row(account_id), provider_id=f"rf-{uuid.uuid4()}",
                  idempotence_key=str(uuid.uuid4()), amount_kop=10_000, status="succeeded", reason="Client asked",
                  debited_at=utcnow())


def invoice_row(account_id: int) -> Invoice:
    return Invoice(number=f"ROW-{uuid.uuid4().hex[:12]}", account_id=account_id, amount_kop=100_000,
                   payer={**COMPANY, "client_code": "ROW"}, supplier={"name": "ООО «Демо-оператор»"},
                   due_at=utcnow() + dt.timedelta(days=5))


def issued_invoice(account_id: int) -> int:
    """A real invoice (the account's company details saved first): its id, committed."""
    if invoices.company_details(account_id) is None:
        invoices.save_company_details(account_id, **COMPANY)
    invoice_id = invoices.issue(account_id, 100_000).id
    db.session.commit()
    return invoice_id


def refundable_payment(fake, account_id: int) -> int:
    """A top-up paid at the fake YooKassa and credited: its id, committed."""
    email = db.session.query(User.email).filter(User.account_id == account_id).limit(1).scalar()
    payment = payments.start_topup(account_id, 150_000, "https://callback.example/back", save_card=False,
                                   email=email, user_id=None)
    fake.succeed(payment.provider_id)
    payments.refresh(payment.id)
    db.session.commit()
    return payment.id
