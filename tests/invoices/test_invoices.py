"""Issuing, paying and canceling bank invoices (B8): the ledger is credited once, numbers are unique."""
from __future__ import annotations

import datetime as dt
import threading

import pytest
import sqlalchemy as sa
from invoice_helpers import COMPANY

from app.extensions import db
from app.models import CompanyDetails, Invoice, LedgerTransaction
from app.services import invoices, ledger
from app.services.invoices import InvoiceError
from app.services.settings import set_setting

NOW = dt.datetime(2026, 3, 10, 9, 30, tzinfo=dt.UTC)


def _credits(account_id: int) -> tuple[int, int, list[str]]:
    """(balance, invoice postings, ledger problems) of the account."""
    count = db.session.scalar(sa.select(sa.func.count()).select_from(LedgerTransaction)
                              .where(LedgerTransaction.kind == "invoice"))
    return ledger.balance(account_id), count, ledger.integrity_problems()


def test_company_details_are_checked_and_every_bad_field_is_named(app_ctx, make_client_user):
    _, account_id, _, _ = make_client_user()
    with pytest.raises(InvoiceError) as caught:
        invoices.save_company_details(account_id, **{**COMPANY, "inn": "7707083894", "settlement_account": "1"})
    assert caught.value.code == "invalid_company_details"
    assert set(caught.value.fields) == {"inn", "settlement_account"}
    assert db.session.get(CompanyDetails, account_id) is None


def test_a_sole_proprietor_saves_details_without_kpp(app_ctx, make_client_user):
    _, account_id, _, _ = make_client_user()
    details = invoices.save_company_details(account_id, **{**COMPANY, "inn": "500100732259", "kpp": "",
                                                           "ogrn": "304500116000157", "name": "ИП Иванов И. И."})
    assert (details.kpp, details.ogrn) == (None, "304500116000157")


def test_an_invoice_needs_company_details_and_an_amount_within_bounds(app_ctx, make_client_user, payer):
    _, bare, _, _ = make_client_user()
    with pytest.raises(InvoiceError) as caught:
        invoices.issue(bare, 500_000)
    assert caught.value.code == "no_company_details"
    for amount in (99_999, 1_000_000_001, 0, -100_000, 1000.0):
        with pytest.raises(InvoiceError) as caught:
            invoices.issue(payer, amount)
        assert caught.value.code == "invalid_amount"
    assert invoices.issue(payer, 100_000).amount_kop == 100_000
    assert invoices.issue(payer, 1_000_000_000).amount_kop == 1_000_000_000


def test_issuing_copies_both_parties_numbers_and_dates_the_invoice(app_ctx, payer):
    set_setting("invoice_valid_days", 10)
    invoice = invoices.issue(payer, 1_234_567, now=NOW)
    assert invoice.number == f"CB-2026-{invoice.id:06d}" and invoice.status == "issued"
    assert invoice.due_at == NOW + dt.timedelta(days=10)
    assert invoice.payer["inn"] == COMPANY["inn"] and invoice.supplier["name"] == "ООО «Демо-оператор»"
    # Later edits of either side leave the issued invoice as it was.
    invoices.save_company_details(payer, **{**COMPANY, "name": "ООО «Лютик»"})
    set_setting("invoice_supplier", {**invoice.supplier, "name": "ООО «Новый оператор»"})
    db.session.commit()
    db.session.expire_all()
    stored = db.session.get(Invoice, invoice.id)
    assert stored.payer["name"] == "ООО «Ромашка»" and stored.supplier["name"] == "ООО «Демо-оператор»"
    assert invoices.issue(payer, 100_000).supplier["name"] == "ООО «Новый оператор»"


def test_numbers_are_unique(app_ctx, payer):
    numbers = [invoices.issue(payer, 100_000 + i).number for i in range(5)]
    db.session.commit()
    assert len(set(numbers)) == 5 and all(number.startswith("CB-") for number in numbers)


@pytest.mark.backends
def test_marking_paid_credits_once_however_often_it_is_marked(app_ctx, payer, backend):
    invoice = invoices.issue(payer, 250_000)
    db.session.commit()
    before, _, _ = _credits(payer)
    first = invoices.mark_paid(invoice.id, None)
    db.session.commit()
    again = invoices.mark_paid(invoice.id, None)
    db.session.commit()
    assert first.id == again.id and again.status == "paid" and again.paid_at is not None
    balance, count, problems = _credits(payer)
    assert (balance - before, count, problems) == (250_000, 1, [])
    txn = db.session.scalar(sa.select(LedgerTransaction).where(LedgerTransaction.key == f"invoice:{invoice.id}"))
    assert txn.kind == "invoice" and invoice.number in txn.memo
    assert ledger.system_account("system:bank").balance_kop == -250_000


def test_a_canceled_invoice_cannot_be_paid_and_a_paid_one_cannot_be_canceled(app_ctx, payer):
    canceled = invoices.cancel(invoices.issue(payer, 100_000).id)
    assert canceled.status == "canceled" and invoices.cancel(canceled.id).status == "canceled"
    with pytest.raises(InvoiceError) as caught:
        invoices.mark_paid(canceled.id, None)
    assert caught.value.code == "invalid_state"
    paid = invoices.mark_paid(invoices.issue(payer, 100_000).id, None)
    with pytest.raises(InvoiceError) as caught:
        invoices.cancel(paid.id)
    assert caught.value.code == "invalid_state"
    db.session.commit()
    assert _credits(payer)[1] == 1


@pytest.mark.backends
@pytest.mark.timeout(60)
def test_two_administrators_marking_at_once_credit_once(app, payer, backend):
    with app.app_context():
        invoice_id = invoices.issue(payer, 300_000).id
        db.session.commit()
        before = ledger.balance(payer)
    barrier, results, errors = threading.Barrier(2), [], []

    def mark():
        try:
            with app.app_context():
                barrier.wait()
                results.append(invoices.mark_paid(invoice_id, None).status)
                db.session.commit()
                db.session.remove()
        except Exception as exc:  # reported below
            errors.append(repr(exc))

    threads = [threading.Thread(target=mark) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and results == ["paid", "paid"]
    with app.app_context():
        balance, count, problems = _credits(payer)
    assert (balance - before, count, problems) == (300_000, 1, [])
