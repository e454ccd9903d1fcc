"""The supplier's requisites in the global settings (B8): edited in the back office, checked like a payer's."""
from __future__ import annotations

import re

import pytest
from helpers import login, submit_as_shown

from app.services import requisites
from app.services.settings import GlobalSettings, get_settings

URL = "/admin/global-settings/"


@pytest.fixture
def admin_client(client, make_staff_user):
    _, email, password = make_staff_user("admin")
    login(client, email, password)
    return client


def _error(html: str, field_id: str) -> str | None:
    match = re.search(rf'<p class="error[^"]*" id="{field_id}-error">(.*?)</p>', html, re.S)
    return match.group(1) if match else None


def test_the_demo_defaults_pass_every_check():
    supplier = GlobalSettings().invoice_supplier
    cleaned, errors = requisites.check_company(supplier.model_dump())
    assert errors == {} and "Демо" in supplier.name and cleaned["inn"] == supplier.inn


def test_an_administrator_changes_the_supplier_and_a_bad_account_is_shown_next_to_it(app, admin_client):
    page = admin_client.get(URL).get_data(as_text=True)
    assert 'name="invoice_supplier-settlement_account"' in page and 'name="invoice_valid_days"' in page
    response = submit_as_shown(admin_client, URL, {"invoice_supplier-settlement_account": "40602810700000000026",
                                                   "invoice_supplier-kpp": ""})
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "не соответствует БИК" in _error(html, "invoice_supplier-settlement_account")
    assert "КПП обязателен" in _error(html, "invoice_supplier-kpp")
    with app.app_context():
        assert get_settings().invoice_supplier.settlement_account == "40602810700000000025"
    response = submit_as_shown(admin_client, URL, {"invoice_supplier-name": "ООО «Оператор»",
                                                   "invoice_supplier-vat_percent": "22", "invoice_valid_days": "7"})
    assert response.status_code == 302
    with app.app_context():
        settings = get_settings()
    assert (settings.invoice_supplier.name, settings.invoice_supplier.vat_percent, settings.invoice_valid_days) \
        == ("ООО «Оператор»", 22, 7)
