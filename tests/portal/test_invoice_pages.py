"""The cabinet's bank invoices (B8): company details with errors by field, issuing, the HTML and PDF, access."""
from __future__ import annotations

import io
import re

import pytest
import sqlalchemy as sa
from helpers import csrf_token, login
from invoice_helpers import COMPANY
from pypdf import PdfReader

from app.extensions import db
from app.models import CompanyDetails, Invoice
from app.services import invoices

LIST, COMPANY_URL = "/cabinet/billing/invoices", "/cabinet/billing/company"


def _post(client, url: str, data: dict, page: str | None = None):
    html = client.get(page or url).get_data(as_text=True)
    return client.post(url, data={"csrf_token": csrf_token(html), **data})


def _errors(html: str) -> dict[str, str]:
    return dict(re.findall(r'<p class="error" id="([\w-]+)-error">(.*?)</p>', html, re.S))


def _issue(client, amount: str):
    return _post(client, LIST, {"amount": amount})


def test_without_company_details_the_page_asks_for_them_first(two_clients):
    client, _ = two_clients["alpha"]
    page = client.get(LIST).get_data(as_text=True)
    assert 'data-testid="no-company"' in page and COMPANY_URL in page and 'name="amount"' not in page


def test_bad_requisites_are_shown_next_to_their_fields_and_nothing_is_stored(app, two_clients):
    client, account_id = two_clients["alpha"]
    response = _post(client, COMPANY_URL, {**COMPANY, "inn": "7707083894", "kpp": "",
                                           "settlement_account": "40602810700000000026", "address": ""})
    assert response.status_code == 200
    errors = _errors(response.get_data(as_text=True))
    assert set(errors) == {"inn", "settlement_account", "address"}
    assert "INN" in errors["inn"] and "check digit" in errors["inn"]
    assert "does not match the BIK" in errors["settlement_account"]
    with app.app_context():
        assert db.session.get(CompanyDetails, account_id) is None


def test_a_company_saves_its_details_and_issues_an_invoice(app, two_clients):
    client, account_id = two_clients["alpha"]
    response = _post(client, COMPANY_URL, {**COMPANY, "settlement_account": "4060 2810 7000 0000 0025"})
    assert response.status_code == 302 and response.headers["Location"].endswith(LIST)
    assert 'value="40602810700000000025"' in client.get(COMPANY_URL).get_data(as_text=True)
    response = _issue(client, "15 000,50")
    assert response.status_code == 302
    with app.app_context():
        invoice = db.session.scalars(sa.select(Invoice).where(Invoice.account_id == account_id)).one()
        number, invoice_id = invoice.number, invoice.id
        assert invoice.amount_kop == 1_500_050 and invoice.payer["name"] == COMPANY["name"]
    page = client.get(LIST).get_data(as_text=True)
    assert number in page and f"{LIST}/{invoice_id}.pdf" in page and 'data-status="issued"' in page


@pytest.mark.parametrize("amount, fragment", [("999,99", "1 000 to 10 000 000"), ("10000000,01", "1 000 to"),
                                              ("abc", "Type an amount"), ("", "required"), ("-5000", "positive")])
def test_a_bad_amount_is_shown_next_to_the_field(app, two_clients, amount, fragment):
    client, account_id = two_clients["alpha"]
    _post(client, COMPANY_URL, COMPANY)
    response = _issue(client, amount)
    assert response.status_code == 200
    assert fragment in _errors(response.get_data(as_text=True))["amount"]
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Invoice)) == 0


def test_the_invoice_downloads_as_html_and_pdf(app, two_clients):
    client, account_id = two_clients["alpha"]
    _post(client, COMPANY_URL, COMPANY)
    _issue(client, "12345,50")
    with app.app_context():
        invoice = db.session.scalars(sa.select(Invoice)).one()
        invoice_id, number = invoice.id, invoice.number
    html = client.get(f"{LIST}/{invoice_id}")
    assert html.status_code == 200 and html.mimetype == "text/html"
    assert f"Счёт на оплату № {number}" in html.get_data(as_text=True)
    pdf = client.get(f"{LIST}/{invoice_id}.pdf")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    assert pdf.headers["Content-Disposition"] == f'attachment; filename="invoice-{number}.pdf"'
    text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.data)).pages)
    assert "Счёт на оплату" in " ".join(text.split()) and number in text


def test_another_accounts_invoice_is_not_found(app, two_clients):
    alpha, alpha_id = two_clients["alpha"]
    beta, _ = two_clients["beta"]
    with app.app_context():
        invoices.save_company_details(alpha_id, **COMPANY)
        invoice_id = invoices.issue(alpha_id, 100_000).id
        db.session.commit()
    assert alpha.get(f"{LIST}/{invoice_id}").status_code == 200
    assert beta.get(f"{LIST}/{invoice_id}").status_code == 404
    assert beta.get(f"{LIST}/{invoice_id}.pdf").status_code == 404
    assert beta.get(f"{LIST}/{invoice_id + 1}").status_code == 404
    assert invoices_of(beta) == []


def invoices_of(client) -> list[str]:
    return re.findall(r"CB-\d{4}-\d{6}", client.get(LIST).get_data(as_text=True))


def test_strangers_log_in_and_staff_go_to_the_back_office(client, make_staff_user):
    response = client.get(LIST)
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    _, email, password = make_staff_user("manager")
    login(client, email, password)
    assert client.get(COMPANY_URL).status_code == 302 and "/admin" in client.get(COMPANY_URL).headers["Location"]
