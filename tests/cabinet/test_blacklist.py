"""The account's blacklist in the cabinet (D13): only when `widget.blacklist.edit` is opened; numbers stored as
E.164 whatever way they are typed; global entries and another account's never shown, changed or removed."""
from __future__ import annotations

import pytest
import sqlalchemy as sa
from cabinet_accounts import expire, two_shops
from helpers import submit

from app.extensions import db
from app.models import BlacklistEntry
from app.services import blacklist

FEATURE = "widget.blacklist.edit"
URL = "/cabinet/blacklist"


@pytest.fixture
def shops(app, make_client_user):
    return two_shops(app, make_client_user, FEATURE)


def entry(app, account_id: int | None, kind: str, value: str) -> int:
    with app.app_context():
        row = BlacklistEntry(account_id=account_id, kind=kind, value=value, note="")
        db.session.add(row)
        db.session.commit()
        return row.id


def entries(app) -> set[tuple]:
    with app.app_context():
        return {(r.account_id, r.kind, r.value) for r in db.session.scalars(sa.select(BlacklistEntry))}


@pytest.mark.parametrize("typed", ["8 (999) 555-00-01", "+7 999 555 00 01", "79995550001"])
def test_numbers_are_stored_in_e164_whatever_way_they_are_typed(app, shops, typed):
    alpha = shops["alpha"]
    done = submit(alpha.client, URL, {"kind": "number", "value": typed, "note": "spam"}, follow_redirects=True)
    assert "+79995550001 has been added to the blacklist." in done.get_data(as_text=True)
    assert "+7 999 555-00-01" in done.get_data(as_text=True)
    assert entries(app) == {(alpha.account, "number", "+79995550001")}
    with app.app_context():
        assert blacklist.is_blocked(alpha.account, "number", typed)
        assert not blacklist.is_blocked(shops["beta"].account, "number", typed)


def test_a_client_adds_an_address_and_removes_an_entry(app, shops):
    alpha = shops["alpha"]
    assert 'data-testid="blacklist-link"' in alpha.client.get("/cabinet/").get_data(as_text=True)
    submit(alpha.client, URL, {"kind": "ip", "value": " 203.0.113.7 "})
    assert entries(app) == {(alpha.account, "ip", "203.0.113.7")}
    with app.app_context():
        entry_id = db.session.scalar(sa.select(BlacklistEntry.id))
    done = submit(alpha.client, f"{URL}/{entry_id}/delete", {}, page=URL, follow_redirects=True)
    assert "203.0.113.7 has been removed from the blacklist." in done.get_data(as_text=True)
    assert entries(app) == set()


@pytest.mark.parametrize("kind, value, error", [
    ("number", "call me", "This is not a phone number."),
    ("number", "12", "This is not a phone number."),
    ("ip", "300.1.1.1", "This is not an IP address."),
    ("ip", "", "This field is required."),
    ("email", "x@y.example", "Not a valid choice"),
    ("number", "+79995550001", "+79995550001 is already in the list."),
])
def test_bad_input_shows_an_error_and_stores_nothing(app, shops, kind, value, error):
    alpha = shops["alpha"]
    entry(app, alpha.account, "number", "+79995550001")
    before = entries(app)
    response = submit(alpha.client, URL, {"kind": kind, "value": value})
    assert response.status_code == 200 and error in response.get_data(as_text=True)
    assert entries(app) == before


def test_global_and_other_accounts_entries_are_never_shown_or_removed(app, shops):
    alpha, beta = shops["alpha"], shops["beta"]
    global_id = entry(app, None, "number", "+79990000001")
    beta_id = entry(app, beta.account, "ip", "198.51.100.9")
    before = entries(app)
    page = alpha.client.get(URL).get_data(as_text=True)
    assert "+7 999 000-00-01" not in page and "198.51.100.9" not in page and "The list is empty." in page
    for entry_id in (global_id, beta_id):
        assert submit(alpha.client, f"{URL}/{entry_id}/delete", {}, page=URL).status_code == 404
    assert entries(app) == before
    # the account may list a number the global list has too: its own entry, removable without touching the global
    submit(alpha.client, URL, {"kind": "number", "value": "+79990000001"})
    assert {(alpha.account, "number", "+79990000001"), (None, "number", "+79990000001")} <= entries(app)


def test_a_post_without_the_csrf_token_changes_nothing(app, shops):
    alpha = shops["alpha"]
    entry_id = entry(app, alpha.account, "ip", "203.0.113.7")
    assert alpha.client.post(URL, data={"kind": "ip", "value": "203.0.113.8"}).status_code == 400
    assert alpha.client.post(f"{URL}/{entry_id}/delete").status_code == 400
    assert entries(app) == {(alpha.account, "ip", "203.0.113.7")}


def test_without_the_feature_the_pages_are_403_and_not_linked(app, make_client_user):
    alpha = two_shops(app, make_client_user)["alpha"]  # nothing opened
    entry_id = entry(app, alpha.account, "ip", "203.0.113.7")
    assert "/cabinet/blacklist" not in alpha.client.get("/cabinet/").get_data(as_text=True)
    assert alpha.client.get(URL).status_code == 403
    assert submit(alpha.client, URL, {"kind": "ip", "value": "203.0.113.8"}, page="/cabinet/").status_code == 403
    assert submit(alpha.client, f"{URL}/{entry_id}/delete", {}, page="/cabinet/").status_code == 403
    assert entries(app) == {(alpha.account, "ip", "203.0.113.7")}


def test_a_blocked_account_gets_the_rent_ended_page(app, shops):
    expire(app, shops["alpha"].account)
    page = shops["alpha"].client.get(URL)
    assert page.status_code == 403 and 'data-testid="rent-ended"' in page.get_data(as_text=True)
    assert shops["beta"].client.get(URL).status_code == 200
