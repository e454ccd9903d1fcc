"""Bank invoices in the back office (B8): administrators mark paid (credited once) or cancel; managers read."""
from __future__ import annotations

import io
import re

import pytest
import sqlalchemy as sa
from helpers import csrf_token, login
from invoice_helpers import COMPANY
from pypdf import PdfReader

from app.extensions import db
from app.models import Account, AuditLog, Invoice, LedgerTransaction
from app.services import invoices, ledger

URL = "/admin/invoices/"
STATUS_URL = "/admin/invoice-status/"


@pytest.fixture
def issued(app, make_client_user):
    """An issued invoice of 5 000,00 ₽: (invoice id, account id, client ID)."""
    _, account_id, _, _ = make_client_user()
    with app.app_context():
        invoices.save_company_details(account_id, **COMPANY)
        invoice_id = invoices.issue(account_id, 500_000).id
        db.session.commit()
        return invoice_id, account_id, db.session.get(Account, account_id).client_code


def _staff(client, make_staff_user, role: str):
    _, email, password = make_staff_user(role)
    login(client, email, password)
    return client


def _state(app, invoice_id: int, account_id: int) -> tuple[str, int, int, list[str]]:
    """(the invoice's status, the client's balance, invoice postings, ledger problems)."""
    with app.app_context():
        count = db.session.scalar(sa.select(sa.func.count()).select_from(LedgerTransaction)
                                  .where(LedgerTransaction.kind == "invoice"))
        return (db.session.get(Invoice, invoice_id).status, ledger.balance(account_id), count,
                ledger.integrity_problems())


def _decide(client, decision: str, invoice_id: int, token: str | None = None):
    """Press Mark paid or Cancel on the invoice's page (with the session's CSRF token, as the page has it)."""
    if token is None:
        token = csrf_token(client.get("/").get_data(as_text=True))  # the page itself is for administrators
    return client.post(f"{STATUS_URL}{invoice_id}", data={"csrf_token": token, "decision": decision})


def _flashes(client) -> list[tuple[str, str]]:
    with client.session_transaction() as session:
        return session.pop("_flashes", [])


def test_an_administrator_marks_paid_and_a_repeated_post_credits_nothing_more(app, client, make_staff_user, issued):
    invoice_id, account_id, _ = issued
    admin = _staff(client, make_staff_user, "admin")
    _, before, _, _ = _state(app, invoice_id, account_id)
    assert f"{STATUS_URL}{invoice_id}" in admin.get(URL).get_data(as_text=True)
    page = admin.get(f"{STATUS_URL}{invoice_id}").get_data(as_text=True)
    assert 'data-testid="mark-paid"' in page and "5\u00a0000,00" in page
    token = csrf_token(page)
    assert _decide(admin, "mark_paid", invoice_id, token).status_code == 302
    assert [category for category, _ in _flashes(admin)] == ["success"]
    status, balance, count, problems = _state(app, invoice_id, account_id)
    assert (status, balance - before, count, problems) == ("paid", 500_000, 1, [])
    # The same form posted again (a double click, the back button): nothing more is credited.
    assert _decide(admin, "mark_paid", invoice_id, token).status_code == 302
    assert [category for category, _ in _flashes(admin)] == ["info"]
    assert _state(app, invoice_id, account_id)[1:3] == (balance, 1)
    page = admin.get(f"{STATUS_URL}{invoice_id}").get_data(as_text=True)
    assert 'data-testid="mark-paid"' not in page and 'data-status="paid"' in page
    assert f"{STATUS_URL}{invoice_id}" not in admin.get(URL).get_data(as_text=True)
    assert "admin@callback.example.com" in admin.get(URL).get_data(as_text=True)  # who marked it
    with app.app_context():
        audit = db.session.scalars(sa.select(AuditLog).where(AuditLog.table_name == "invoice",
                                                             AuditLog.row_id == str(invoice_id))).all()
    assert any(entry.changes.get("status") == ["issued", "paid"] and "admin@" in entry.actor for entry in audit)


def test_a_post_without_the_csrf_token_or_with_an_unknown_decision_changes_nothing(app, client, make_staff_user,
                                                                                  issued):
    invoice_id, account_id, _ = issued
    admin = _staff(client, make_staff_user, "admin")
    before = _state(app, invoice_id, account_id)
    assert admin.post(f"{STATUS_URL}{invoice_id}", data={"decision": "mark_paid"}).status_code == 400
    response = _decide(admin, "refund", invoice_id)
    assert response.status_code == 200 and "Неизвестное действие" in response.get_data(as_text=True)
    assert _state(app, invoice_id, account_id) == before


def test_a_canceled_invoice_cannot_be_marked_paid(app, client, make_staff_user, issued):
    invoice_id, account_id, _ = issued
    admin = _staff(client, make_staff_user, "admin")
    _decide(admin, "cancel", invoice_id)
    assert _state(app, invoice_id, account_id)[0] == "canceled"
    _flashes(admin)
    _decide(admin, "mark_paid", invoice_id)
    assert _state(app, invoice_id, account_id)[0::2] == ("canceled", 0)
    assert [message for _, message in _flashes(admin)] == ["Аннулированный счёт нельзя оплатить."]


def test_a_manager_sees_invoices_but_cannot_mark_them_paid(app, client, make_staff_user, issued):
    invoice_id, account_id, code = issued
    manager = _staff(client, make_staff_user, "manager")
    page = manager.get(URL).get_data(as_text=True)
    assert code in page and STATUS_URL not in page
    before = _state(app, invoice_id, account_id)
    assert manager.get(f"{STATUS_URL}{invoice_id}").status_code == 403
    assert _decide(manager, "mark_paid", invoice_id).status_code == 403
    assert _decide(manager, "cancel", invoice_id).status_code == 403
    assert _state(app, invoice_id, account_id) == before
    assert manager.get(f"{URL}document/{invoice_id}").status_code == 200


def _numbers(page: str) -> set[str]:
    return set(re.findall(r"CB-\d{4}-\d{6}", page))


def test_the_list_filters_by_status_client_and_date(app, client, make_staff_user, issued, make_client_user):
    invoice_id, _, code = issued
    _, other_id, _, _ = make_client_user()
    with app.app_context():
        invoices.save_company_details(other_id, **COMPANY)
        other = invoices.issue(other_id, 700_000)
        invoices.mark_paid(other.id, None)
        db.session.commit()
        first, second = db.session.get(Invoice, invoice_id).number, other.number
    admin = _staff(client, make_staff_user, "admin")
    assert _numbers(admin.get(URL).get_data(as_text=True)) == {first, second}
    # Filter indices as the view declares them: 0 status, 1 client ID, 6 issued between.
    assert _numbers(admin.get(f"{URL}?flt0_0=paid").get_data(as_text=True)) == {second}
    assert _numbers(admin.get(f"{URL}?flt0_1={code.lower()}").get_data(as_text=True)) == {first}
    between = "2020-01-01 00:00:00 to 2021-01-01 00:00:00"
    assert _numbers(admin.get(URL, query_string={"flt0_6": between}).get_data(as_text=True)) == set()
    assert _numbers(admin.get(f"{URL}?search={second}").get_data(as_text=True)) == {second}


def test_any_invoice_opens_as_html_and_pdf(app, client, make_staff_user, issued):
    invoice_id, _, _ = issued
    admin = _staff(client, make_staff_user, "admin")
    with app.app_context():
        number = db.session.get(Invoice, invoice_id).number
    assert f"{URL}document/{invoice_id}.pdf" in admin.get(URL).get_data(as_text=True)
    html = admin.get(f"{URL}document/{invoice_id}").get_data(as_text=True)
    assert f"Счёт на оплату № {number}" in html
    pdf = admin.get(f"{URL}document/{invoice_id}.pdf")
    assert pdf.mimetype == "application/pdf" and number in PdfReader(io.BytesIO(pdf.data)).pages[0].extract_text()
    assert admin.get(f"{URL}document/{invoice_id + 1}").status_code == 404
    assert admin.get(f"{URL}details/?id={invoice_id}").status_code == 200


@pytest.mark.parametrize("role", ["client", "anonymous"])
def test_clients_and_strangers_cannot_open_the_view(client, make_client_user, role):
    if role == "client":
        _, _, email, password = make_client_user()
        login(client, email, password)
        assert client.get(URL).status_code == 403
    else:
        assert "/login" in client.get(URL).headers["Location"]
