"""The dialer's letters pass through the account's preferences: passive requests (D14), missed calls (D12)."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
import sqlalchemy as sa
from request_rows import request_row

from app.extensions import db
from app.models import Account, Notification
from app.services import dialer, notifications, sites


@pytest.fixture
def shop(app_ctx, make_client_user):
    """(account id, owner's e-mail, a callback request of the account), in an app context."""
    _, account_id, email, _ = make_client_user()
    site = sites.create_site(db.session.get(Account, account_id), "Shop", ["https://shop.example.com"])
    request = request_row(account_id, site.id)
    db.session.add(request)
    db.session.flush()
    return account_id, email, request


def _mail(kind: str) -> list[Notification]:
    return list(db.session.scalars(sa.select(Notification).where(Notification.kind == kind)))


def test_a_passive_request_goes_to_the_owner_while_the_kind_is_on(shop):
    account_id, email, request = shop
    assert dialer.forward_passive(request) is True
    [mail] = _mail("passive_request")
    assert mail.recipient == email and "/notifications/unsubscribe/" in mail.body_text


def test_no_passive_request_letter_when_the_owner_switched_it_off(shop):
    account_id, _, request = shop
    notifications.set_preference(account_id, "passive_request", enabled=False)
    assert dialer.forward_passive(request) is False
    assert _mail("passive_request") == []


@pytest.mark.parametrize("is_on", [True, False])
def test_a_missed_call_letter_goes_to_the_site_address_only_while_the_kind_is_on(shop, is_on):
    account_id, _, request = shop
    if not is_on:
        notifications.set_preference(account_id, "missed_call", enabled=False)
    dialer._missed_call_email(request, None, "manager_no_answer",
                              SimpleNamespace(missed_call_email="desk@shop.example.com"))
    assert [mail.recipient for mail in _mail("missed_call")] == (["desk@shop.example.com"] if is_on else [])
