"""Log-in, log-out, password change and reset by e-mail, throttling and cookie flags."""
from __future__ import annotations

import re

import pytest
from helpers import csrf_token, login, submit

RESET_LINK = re.compile(r"http://[^\s\"<]+/password/reset/[\w.\-]+")


def test_login_and_logout(client, make_client_user):
    _, _, email, password = make_client_user()
    assert client.get("/cabinet/").status_code == 302
    response = login(client, email.upper(), password)
    assert response.status_code == 302 and response.headers["Location"].endswith("/cabinet/")
    assert client.get("/cabinet/").status_code == 200
    submit(client, "/logout", {}, page="/cabinet/")
    assert client.get("/cabinet/").status_code == 302


def test_wrong_password_is_told_without_saying_which_part_was_wrong(client, make_client_user):
    _, _, email, _ = make_client_user()
    for candidate in (email, "nobody@shop.example.com"):
        page = login(client, candidate, "wrong-password").get_data(as_text=True)
        assert "Неверный e-mail или пароль" in page


def test_login_redirects_only_to_local_pages(client, make_client_user):
    _, _, email, password = make_client_user()
    html = client.get("/login").get_data(as_text=True)

    response = client.post("/login?next=//evil.example.com/x",
                           data={"csrf_token": csrf_token(html), "email": email, "password": password})
    assert response.headers["Location"].endswith("/cabinet/")


@pytest.mark.parametrize("app_overrides", [{"LOGIN_RATE_LIMIT": "3 per minute"}])
def test_login_attempts_are_throttled(client, make_client_user):
    _, _, email, password = make_client_user()
    statuses = [login(client, email, "wrong-password").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    assert "Слишком много попыток" in login(client, email, password).get_data(as_text=True)


def _session_cookie(response) -> str:
    return next(c for c in response.headers.getlist("Set-Cookie") if c.startswith("session="))


def test_session_cookie_is_httponly_and_samesite(client, make_client_user):
    _, _, email, password = make_client_user()
    cookie = _session_cookie(login(client, email, password))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie


@pytest.mark.parametrize("app_overrides", [{"PUBLIC_URL": "https://callback.example.com",
                                            "SESSION_COOKIE_SECURE": True}])
def test_session_cookie_is_secure_behind_https(client, make_client_user):
    _, _, email, password = make_client_user()
    cookie = _session_cookie(login(client, email, password))
    assert "Secure" in cookie


def test_secure_cookie_follows_public_url():
    from app.config import from_env

    assert from_env({"PUBLIC_URL": "https://cb.example.com", "SECRET_KEY": "x"})["SESSION_COOKIE_SECURE"] is True
    assert from_env({"PUBLIC_URL": "http://127.0.0.1:5000", "SECRET_KEY": "x"})["SESSION_COOKIE_SECURE"] is False


def test_password_change_mails_the_owner_and_ends_other_sessions(app, make_client_user, mailbox):
    _, _, email, password = make_client_user()
    mailbox.wait_for(1)  # welcome
    mailbox.clear()
    here, elsewhere = app.test_client(), app.test_client()
    login(here, email, password)
    login(elsewhere, email, password)
    response = submit(here, "/password", {"current_password": password, "new_password": "brand-new-pass",
                                          "confirm": "brand-new-pass"})
    assert response.status_code == 302
    assert here.get("/cabinet/").status_code == 200
    assert elsewhere.get("/cabinet/").status_code == 302  # logged out by the change
    [mail] = mailbox.wait_for(1)
    assert mail.rcpt_tos == [email] and "изменён" in mail.subject
    assert login(app.test_client(), email, "brand-new-pass").status_code == 302


def test_password_change_needs_the_current_password(client, make_client_user):
    _, _, email, password = make_client_user()
    login(client, email, password)
    page = submit(client, "/password", {"current_password": "not-it-at-all", "new_password": "brand-new-pass",
                                        "confirm": "brand-new-pass"}).get_data(as_text=True)
    assert "Текущий пароль указан неверно" in page


def test_password_reset_by_emailed_link_works_once(app, client, make_client_user, mailbox):
    _, _, email, _ = make_client_user()
    mailbox.wait_for(1)
    mailbox.clear()
    submit(client, "/password/reset", {"email": email})
    [mail] = mailbox.wait_for(1)
    link = RESET_LINK.search(mail.text).group(0)
    path = link.split("127.0.0.1:5000", 1)[-1] if "127.0.0.1:5000" in link else "/" + link.split("/", 3)[3]
    response = submit(client, path, {"new_password": "reset-pass-42", "confirm": "reset-pass-42"})
    assert response.status_code == 302 and response.headers["Location"].endswith("/login")
    assert login(app.test_client(), email, "reset-pass-42").status_code == 302
    again = client.get(path)
    assert again.status_code == 400 and "уже использована" in again.get_data(as_text=True)


def test_password_reset_of_an_unknown_address_sends_nothing_and_says_the_same(client, make_client_user, mailbox):
    _, _, email, _ = make_client_user()
    mailbox.wait_for(1)
    mailbox.clear()
    known = submit(client, "/password/reset", {"email": email}, follow_redirects=True).get_data(as_text=True)
    unknown = submit(client, "/password/reset", {"email": "ghost@shop.example.com"},
                     follow_redirects=True).get_data(as_text=True)
    assert len(mailbox.wait_for(1)) == 1
    assert "Если этот адрес зарегистрирован" in known and "Если этот адрес зарегистрирован" in unknown


def test_a_forged_reset_link_is_refused(client):
    response = client.get("/password/reset/not-a-real-token")
    assert response.status_code == 400
