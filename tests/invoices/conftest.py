"""Fixtures of the invoice tests: a client account with valid company details."""
from __future__ import annotations

import pytest

from app.extensions import db
from app.services import invoices

COMPANY = {"name": "ООО «Ромашка»", "inn": "7707083893", "kpp": "773601001", "ogrn": "1027700132195",
           "address": "117997, г. Москва, ул. Вавилова, д. 19", "bank_name": "ПАО Тестбанк", "bik": "049805746",
           "correspondent_account": "30101810800000000746", "settlement_account": "40602810700000000025"}


@pytest.fixture
def payer(app, make_client_user):
    """A client account with the company details of COMPANY: its account id."""
    _, account_id, _, _ = make_client_user()
    with app.app_context():
        invoices.save_company_details(account_id, **COMPANY)
        db.session.commit()
    return account_id
