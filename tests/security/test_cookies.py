"""Cookie flags (issue 10 item 2): the session cookie is HttpOnly and SameSite=Lax everywhere, Secure behind
https, lasts the browser session only; the API and the widget set no cookie at all."""
from __future__ import annotations

import pytest
from helpers import login, make_site

from app.config import from_env


def cookies(response) -> list[str]:
    return response.headers.getlist("Set-Cookie")


def session_cookie(response) -> str:
    """The session cookie a log-in sets; the only other cookie it may send deletes a remember-me cookie."""
    others = [cookie for cookie in cookies(response) if not cookie.startswith("session=")]
    assert all(cookie.startswith("remember_token=;") and "Max-Age=0" in cookie for cookie in others), others
    [cookie] = [cookie for cookie in cookies(response) if cookie.startswith("session=")]
    return cookie


def assert_flags(cookie: str, *, secure: bool) -> None:
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")[1:]}
    assert "httponly" in attributes, cookie
    assert "SameSite=Lax" in cookie, cookie
    assert ("secure" in attributes) is secure, cookie
    assert not {"expires", "max-age"} & attributes, cookie  # gone when the browser closes


def test_client_and_staff_logins_set_only_a_protected_session_cookie(client, make_client_user, make_staff_user):
    _, _, email, password = make_client_user()
    cookie = session_cookie(login(client, email, password))
    assert_flags(cookie, secure=False)
    _, staff_email, staff_password = make_staff_user("admin")
    staff_cookie = session_cookie(login(client.application.test_client(), staff_email, staff_password))
    assert_flags(staff_cookie, secure=False)


@pytest.mark.parametrize("app_overrides", [{k: v for k, v in from_env(
    {"PUBLIC_URL": "https://callback.example.com", "SECRET_KEY": "x"}).items()
    if k.startswith(("SESSION_COOKIE", "REMEMBER_COOKIE"))}])
def test_behind_https_the_cookie_is_secure(client, make_client_user):
    _, _, email, password = make_client_user()
    assert_flags(session_cookie(login(client, email, password)), secure=True)


@pytest.mark.parametrize("public_url, secure", [("https://cb.example.com", True), ("http://127.0.0.1:5000", False)])
def test_remember_cookie_flags_follow_the_session_cookie(public_url, secure):
    config = from_env({"PUBLIC_URL": public_url, "SECRET_KEY": "x"})
    for prefix in ("SESSION_COOKIE", "REMEMBER_COOKIE"):
        assert (config[f"{prefix}_HTTPONLY"], config[f"{prefix}_SAMESITE"], config[f"{prefix}_SECURE"]) == \
            (True, "Lax", secure)


def test_the_widget_api_sets_no_cookie(app, client, make_client_user):
    _, _, email, password = make_client_user()
    login(client, email, password)  # even for a browser that holds a session
    site = make_site(app)
    assert cookies(client.get(f"/api/v1/widget/{site.public_key}",
                              headers={"Origin": "https://shop.example.com"})) == []
    assert cookies(client.get("/widget.js")) == []
