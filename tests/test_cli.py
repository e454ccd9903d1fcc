"""`flask users create` and `flask demo seed [--json]`."""
from __future__ import annotations

import json

import sqlalchemy as sa
from helpers import login

from app.extensions import db
from app.models import Account, Site, User
from app.services import ledger


def test_users_create_makes_staff_and_refuses_bad_input(app):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["users", "create", "--email", "Boss@CallBack.example.com",
                                 "--password", "long-enough-1", "--role", "admin"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        assert db.session.scalar(sa.select(User.role).where(User.email == "boss@callback.example.com")) == "admin"
    again = runner.invoke(args=["users", "create", "--email", "boss@callback.example.com",
                                "--password", "long-enough-1", "--role", "manager"])
    assert again.exit_code != 0 and "уже зарегистрирован" in again.output
    orphan = runner.invoke(args=["users", "create", "--email", "c@shop.example.com",
                                 "--password", "long-enough-1", "--role", "client"])
    assert orphan.exit_code != 0 and "аккаунт" in orphan.output


def test_demo_seed_is_idempotent_and_prints_working_logins(app, mailbox):
    runner = app.test_cli_runner()
    first = json.loads(runner.invoke(args=["demo", "seed", "--json"]).output)
    second = json.loads(runner.invoke(args=["demo", "seed", "--json"]).output)
    assert first == second
    assert set(first) >= {"admin", "manager", "client", "account_id", "site_key", "site_origin"}
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Account)) == 2  # the low-balance demo too
        assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 4
        site = db.session.scalar(sa.select(Site))
        assert site.public_key == first["site_key"] and site.account_id == first["account_id"]
        assert first["site_origin"] in site.domains
        assert {"http://localhost:5000", "http://127.0.0.1:5000"} <= set(site.domains)
        # the gift, the administrator's credit and the paid invoice, less one month of rent: each once
        assert ledger.balance(first["account_id"]) == 10_000 + 50_000 + 100_000 - 99_000
    client = app.test_client()
    for role, home in (("admin", "/admin/"), ("manager", "/admin/"), ("client", "/cabinet/")):
        response = login(app.test_client(), first[role]["email"], first[role]["password"])
        assert response.headers["Location"].endswith(home), role
    assert client.get("/").status_code == 200
    text = runner.invoke(args=["demo", "seed"]).output
    assert first["site_key"] in text and first["admin"]["password"] in text
