"""The cabinet's bank-transfer invoices (B8): company details, issuing an invoice, its HTML and PDF."""
from app.portal import bp  # noqa: F401
