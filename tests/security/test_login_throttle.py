"""Login throttling with the shipped LOGIN_RATE_LIMIT ("10 per minute;50 per hour"): per address and per e-mail,
so neither guessing one account's password from many addresses nor many accounts from one address goes on."""
from __future__ import annotations

from app.config import from_env

SHIPPED_LIMIT = from_env({"SECRET_KEY": "x"})["LOGIN_RATE_LIMIT"]


def attempt(client, email: str, password: str, ip: str) -> int:
    return client.post("/login", data={"email": email, "password": password},
                       environ_base={"REMOTE_ADDR": ip}).status_code


def test_the_shipped_limit_is_the_one_in_force(app):
    assert app.config["LOGIN_RATE_LIMIT"] == SHIPPED_LIMIT == "10 per minute;50 per hour"


def test_one_address_guessing_many_accounts_is_stopped_after_ten(app, make_client_user):
    app.config["WTF_CSRF_ENABLED"] = False
    client = app.test_client()
    statuses = [attempt(client, f"guess{n}@acme.example.com", "wrong-password", "10.9.9.9") for n in range(11)]
    assert statuses == [200] * 10 + [429]
    assert attempt(client, "other@acme.example.com", "x", "10.9.9.10") == 200  # another address is not affected


def test_one_account_guessed_from_many_addresses_is_stopped_after_ten(app, make_client_user):
    app.config["WTF_CSRF_ENABLED"] = False
    _, _, email, password = make_client_user()
    client = app.test_client()
    statuses = [attempt(client, email, "wrong-password", f"10.8.0.{n + 1}") for n in range(11)]
    assert statuses == [200] * 10 + [429]
    assert attempt(client, email, password, "10.8.1.1") == 429  # even the right password waits
    assert attempt(client, "someone-else@acme.example.com", "x", "10.8.1.2") == 200
