"""Shared data of the invoice tests (tests/invoices, the cabinet's and the back office's pages)."""
from __future__ import annotations

# A company's valid requisites: Sberbank's ИНН and ОГРН, the Central Bank's example accounts (§10 vectors).
COMPANY = {"name": "ООО «Ромашка»", "inn": "7707083893", "kpp": "773601001", "ogrn": "1027700132195",
           "address": "117997, г. Москва, ул. Вавилова, д. 19", "bank_name": "ПАО Тестбанк", "bik": "049805746",
           "correspondent_account": "30101810800000000746", "settlement_account": "40602810700000000025"}
