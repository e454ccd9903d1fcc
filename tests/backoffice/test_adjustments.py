"""Manual balance adjustments (issue 5): administrators only, through the real form; real HTTP and DB."""
from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from helpers import csrf_token, form_values, login

from app.extensions import db
from app.models import Account, LedgerTransaction
from app.services import adjustments, ledger
from app.services.adjustments import AdjustmentError
from app.templating import money

URL = "/admin/adjustments/"


@pytest.fixture
def account(app, make_client_user):
    """(account id, client ID, the client's e-mail and password)."""
    _, account_id, email, password = make_client_user()
    with app.app_context():
        return account_id, db.session.get(Account, account_id).client_code, email, password


@pytest.fixture
def admin(client, make_staff_user):
    user_id, email, password = make_staff_user("admin")
    login(client, email, password)
    return user_id, email


def state(app, account_id: int) -> tuple[int, int, list[str]]:
    """(the client's balance, how many adjustments were posted, the ledger's integrity problems)."""
    with app.app_context():
        count = db.session.scalar(sa.select(sa.func.count()).select_from(LedgerTransaction)
                                  .where(LedgerTransaction.kind == "adjust"))
        return ledger.balance(account_id), count, ledger.integrity_problems()


def shown_form(client, url: str = URL) -> dict[str, str]:
    html = client.get(url).get_data(as_text=True)
    return {name: values[0] for name, values in form_values(html).items()}


def post(client, typed: dict, form: dict | None = None):
    return client.post(URL, data={**(form or shown_form(client)), **typed})


def field_errors(html: str) -> dict[str, str]:
    return dict(re.findall(r'<p class="error invalid-feedback[^"]*" id="([\w-]+)-error">(.*?)</p>', html, re.S))


@pytest.mark.parametrize("amount, kop", [("150,50", 15050), ("-20", -2000), ("0.5", 50), ("1 000", 100000)])
def test_an_administrator_credits_and_debits_through_the_form(app, client, admin, account, amount, kop):
    account_id, code, _, _ = account
    before, _, _ = state(app, account_id)
    response = post(client, {"client_code": code, "amount": amount, "reason": "Goodwill after the outage"})
    assert response.status_code == 302
    balance, count, problems = state(app, account_id)
    assert (balance - before, count, problems) == (kop, 1, [])
    with client.session_transaction() as session:
        flashes = session.get("_flashes", [])
    with app.app_context(), app.test_request_context():
        shown_balance = money(balance)
    assert [category for category, _ in flashes] == ["success"] and shown_balance in flashes[0][1]
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(LedgerTransaction)
                                 .where(LedgerTransaction.key.like("adjust:%"))) == 1
    assert 'id="current-balance"' in page and code in page  # back on the page of the same account


def test_the_ledger_memo_names_the_reason_and_the_administrator_and_the_ledger_view_shows_it(app, client, admin,
                                                                                              account):
    account_id, code, _, _ = account
    admin_id, admin_email = admin
    post(client, {"client_code": code, "amount": "-7,25", "reason": "Refund of a duplicate SMS charge"})
    with app.app_context():
        txn = db.session.scalar(sa.select(LedgerTransaction).where(LedgerTransaction.kind == "adjust"))
        assert "Refund of a duplicate SMS charge" in txn.memo and admin_email in txn.memo
        assert re.fullmatch(r"adjust:[0-9a-f-]{36}", txn.key)
        entries = {entry.ledger_account.code: entry.amount_kop for entry in txn.entries}
        assert entries == {f"client:{account_id}": -725, "system:adjustments": 725}
        key = txn.key
    listing = client.get("/admin/ledger/?search=adjust:").get_data(as_text=True)
    assert key in listing and "Refund of a duplicate SMS charge" in listing


def test_a_double_submit_of_the_same_form_posts_once(app, client, admin, account):
    account_id, code, _, _ = account
    before, _, _ = state(app, account_id)
    form = shown_form(client)
    typed = {"client_code": code, "amount": "100", "reason": "Bonus for the referral"}
    assert post(client, typed, form).status_code == 302
    assert post(client, typed, form).status_code == 302  # the browser's second click
    balance, count, problems = state(app, account_id)
    assert (balance - before, count, problems) == (10000, 1, [])
    assert post(client, typed).status_code == 302  # a newly opened form is a new adjustment
    assert state(app, account_id)[:2] == (before + 20000, 2)


def test_the_page_shows_the_current_balance_of_the_account_it_was_opened_for(app, client, admin, account):
    account_id, code, _, _ = account
    html = client.get(f"{URL}?account={account_id}").get_data(as_text=True)
    assert shown_form(client, f"{URL}?account={account_id}")["client_code"] == code
    assert 'id="current-balance"' in html
    accounts_list = client.get("/admin/accounts/").get_data(as_text=True)
    assert f"{URL}?account={account_id}" in accounts_list


@pytest.mark.parametrize("typed, field", [
    ({"reason": ""}, "reason"),
    ({"reason": "ok"}, "reason"),
    ({"reason": "x" * 501}, "reason"),
    ({"amount": "0"}, "amount"),
    ({"amount": "0,00"}, "amount"),
    ({"amount": "ten"}, "amount"),
    ({"amount": "1,505"}, "amount"),
    ({"amount": ""}, "amount"),
    ({"client_code": "NOPE-0000"}, "client_code"),
], ids=["no-reason", "short-reason", "long-reason", "zero", "zero-kopecks", "non-numeric", "three-decimals",
        "no-amount", "unknown-client"])
def test_invalid_input_is_a_form_error_and_posts_nothing(app, client, admin, account, typed, field):
    account_id, code, _, _ = account
    before = state(app, account_id)
    response = post(client, {"client_code": code, "amount": "10", "reason": "A valid reason", **typed})
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert list(field_errors(html)) == [field]
    assert state(app, account_id) == before


def test_a_manager_gets_403_even_with_a_direct_post(app, client, make_staff_user, account):
    account_id, code, _, _ = account
    _, email, password = make_staff_user("manager")
    token = csrf_token(client.get("/login").get_data(as_text=True))  # the session's token, kept on log-in
    login(client, email, password)
    before = state(app, account_id)
    assert client.get(URL).status_code == 403
    response = client.post(URL, data={"csrf_token": token, "client_code": code, "amount": "500",
                                      "reason": "Trying it on", "key": adjustments.new_key()})
    assert response.status_code == 403
    assert state(app, account_id) == before
    assert f"{URL}?account=" not in client.get("/admin/accounts/").get_data(as_text=True)  # no link for managers


def test_a_client_and_a_stranger_cannot_reach_it(app, client, account):
    account_id, code, email, password = account
    before = state(app, account_id)
    token = csrf_token(client.get("/login").get_data(as_text=True))  # the session's token, kept on log-in
    data = {"csrf_token": token, "client_code": code, "amount": "500", "reason": "Trying it on",
            "key": adjustments.new_key()}
    stranger = client.post(URL, data=data)
    assert stranger.status_code == 302 and stranger.headers["Location"].startswith("/login")
    login(client, email, password)
    assert client.get(URL).status_code == 403
    assert client.post(URL, data=data).status_code == 403
    assert state(app, account_id) == before


def test_the_service_refuses_bad_input_with_stable_codes(app, account, make_staff_user):
    account_id, _, _, _ = account
    admin_id, _, _ = make_staff_user("admin")
    cases = [((account_id, 0, "A valid reason", admin_id), "bad_amount"),
             ((account_id, 1.5, "A valid reason", admin_id), "bad_amount"),
             ((account_id, 100, "shrt", admin_id), "bad_reason"),
             ((account_id, 100, "x" * 501, admin_id), "bad_reason"),
             ((account_id + 1000, 100, "A valid reason", admin_id), "unknown_account"),
             ((account_id, 100, "A valid reason", admin_id + 1000), "unknown_user")]
    with app.app_context():
        for args, code in cases:
            with pytest.raises(AdjustmentError) as caught:
                adjustments.adjust(*args)
            assert caught.value.code == code, args
        with pytest.raises(AdjustmentError) as caught:
            adjustments.adjust(account_id, 100, "A valid reason", admin_id, key="gift:1")
        assert caught.value.code == "bad_key"
        key = adjustments.new_key()
        first = adjustments.adjust(account_id, 100, "A valid reason", admin_id, key=key)
        again = adjustments.adjust(account_id, 100, "A valid reason", admin_id, key=key)
        assert first.created and not again.created and again.transaction.id == first.transaction.id
        db.session.commit()
        assert ledger.integrity_problems() == []
