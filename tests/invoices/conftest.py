"""Fixtures of the invoice tests: a client account with valid company details."""
from __future__ import annotations

import pytest
from invoice_helpers import COMPANY

from app.extensions import db
from app.services import invoices


@pytest.fixture
def payer(app, make_client_user):
    """A client account with the company details of COMPANY: its account id."""
    _, account_id, _, _ = make_client_user()
    with app.app_context():
        invoices.save_company_details(account_id, **COMPANY)
        db.session.commit()
    return account_id
