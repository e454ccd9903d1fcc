"""Sign-up (C1, B2): client ID, trial, gift through the ledger, welcome e-mail; readable form errors."""
from __future__ import annotations

import datetime as dt
import re

import pytest
import sqlalchemy as sa
from helpers import submit

from app.db import utcnow
from app.extensions import db
from app.models import Account, LedgerTransaction, User
from app.services import ledger
from app.services.settings import set_setting

CLIENT_CODE = re.compile(r"^[2-9A-HJKMNP-Z]{3}-[2-9A-HJKMNP-Z]{4}$")


def _signup(client, email="owner@shop.example.com", password="secret-pass-1", company="Shop LLC"):
    return submit(client, "/signup", {"email": email, "password": password, "company": company})


@pytest.mark.backends
def test_signup_creates_account_with_trial_gift_and_welcome_mail(client, app, mailbox, backend):
    response = _signup(client, email="Owner@Shop.Example.com")
    assert response.status_code == 302 and response.headers["Location"].endswith("/cabinet/")
    with app.app_context():
        user = db.session.scalar(sa.select(User).where(User.email == "owner@shop.example.com"))
        account = user.account
        assert user.role == "client" and CLIENT_CODE.match(account.client_code)
        assert ledger.balance(account.id) == 10_000
        assert db.session.scalar(sa.select(LedgerTransaction.key)) == f"gift:{account.id}"
        trial_days = (account.trial_ends_at - utcnow()) / dt.timedelta(days=1)
        assert 13.99 < trial_days <= 14
        code = account.client_code
    [mail] = mailbox.wait_for(1)
    assert mail.rcpt_tos == ["owner@shop.example.com"]
    assert code in mail.subject and code in mail.text
    assert "МТТ" in mail.text  # the operator is named (N6), in Russian by default

    page = client.get("/cabinet/").get_data(as_text=True)
    assert code in page and "100,00" in page and "₽" in page


def test_client_ids_are_unique_and_short(app, make_client_user):
    ids = []
    for _ in range(30):
        _, account_id, _, _ = make_client_user()
        with app.app_context():
            ids.append(db.session.get(Account, account_id).client_code)
    assert len(set(ids)) == 30 and all(CLIENT_CODE.match(code) for code in ids)


def test_trial_and_gift_follow_the_global_settings(client, app, mailbox):
    with app.app_context():
        set_setting("trial_days", 30)
        set_setting("gift_kop", 0)
        db.session.commit()
    _signup(client)
    with app.app_context():
        account = db.session.scalar(sa.select(Account))
        assert ledger.balance(account.id) == 0
        assert db.session.scalar(sa.select(sa.func.count()).select_from(LedgerTransaction)) == 0
        assert 29.99 < (account.trial_ends_at - utcnow()) / dt.timedelta(days=1) <= 30


@pytest.mark.parametrize("fields, field, text", [
    ({"email": "not-an-email"}, "email", "e-mail"),
    ({"password": "short"}, "password", "8"),
    ({"password": "12345678901"}, "password", "пароль"),
    ({"company": "   "}, "company", "обязательн"),
])
def test_bad_input_gets_a_readable_message_next_to_the_field(client, app, mailbox, fields, field, text):
    data = {"email": "owner@shop.example.com", "password": "secret-pass-1", "company": "Shop LLC", **fields}
    response = submit(client, "/signup", data)
    assert response.status_code == 200
    error = re.search(rf'<p class="error" id="{field}-error">([^<]+)</p>', response.get_data(as_text=True))
    assert error and text in error.group(1).lower()
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Account)) == 0


def test_an_email_can_register_once(client, app, make_client_user):
    make_client_user(email="taken@shop.example.com")
    response = _signup(client, email="TAKEN@shop.example.com")
    assert response.status_code == 200
    assert "уже зарегистрирован" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Account)) == 1


def test_signup_without_csrf_token_is_refused(client, app):
    response = client.post("/signup", data={"email": "a@shop.example.com", "password": "secret-pass-1",
                                            "company": "X"})
    assert response.status_code == 400
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Account)) == 0


def test_english_signup_gets_english_mail(client, app, mailbox):
    submit(client, "/lang/en", {"next": "/signup"}, page="/")
    _signup(client)
    [mail] = mailbox.wait_for(1)
    assert mail.subject.startswith("Welcome to CallBack")
    with app.app_context():
        assert db.session.scalar(sa.select(Account.locale)) == "en"
