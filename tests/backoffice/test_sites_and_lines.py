"""Accounts, sites, manager lines (D1) and blacklists (D13) in the back office; related choices stay in one
account."""
from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from helpers import login, submit

from app.extensions import db
from app.models import Account, BlacklistEntry, Department, ManagerLine, Site
from app.services import blacklist, ledger
from app.services.lines import MAX_LINES_PER_ACCOUNT


@pytest.fixture
def manager(app, make_staff_user):
    _, email, password = make_staff_user("manager")
    client = app.test_client()
    login(client, email, password)
    return client


@pytest.fixture
def two_accounts(app, make_client_user):
    """Two accounts, each with a department; returns {name: (account_id, department_id)}."""
    out = {}
    for name in ("alpha", "beta"):
        _, account_id, _, _ = make_client_user(company=f"{name} LLC")
        with app.app_context():
            department = Department(account_id=account_id, name=f"{name} sales")
            db.session.add(department)
            db.session.commit()
            out[name] = (account_id, department.id)
    return out


def _line(account_id, **fields):
    return {"account": str(account_id), "kind": "phone", "country": "RU", "number": "8 916 123-45-67",
            "extension": "", "is_active": "y", "manager_name": "Анна", "is_for_all_sites": "y", **fields}


def test_a_new_account_gets_its_client_id_trial_and_gift(app, manager):
    response = submit(manager, "/admin/accounts/new/", {"company": "Back Office LLC", "timezone": "Asia/Omsk",
                                                        "locale": "en", "trial_ends_at": ""})
    assert response.status_code == 302
    with app.app_context():
        account = db.session.scalar(sa.select(Account).where(Account.company == "Back Office LLC"))
        assert re.match(r"^\w{3}-\w{4}$", account.client_code) and account.trial_ends_at is not None
        assert ledger.balance(account.id) == 10_000 and account.timezone == "Asia/Omsk"


def test_a_line_is_stored_in_e164_with_its_accounts_department(app, manager, two_accounts):
    account_id, department_id = two_accounts["alpha"]
    response = submit(manager, f"/admin/lines/new/?account_id={account_id}",
                      _line(account_id, department=str(department_id)))
    assert response.status_code == 302
    with app.app_context():
        line = db.session.scalar(sa.select(ManagerLine))
        assert line.number == "+79161234567" and line.department_id == department_id


def test_another_accounts_department_is_neither_offered_nor_accepted(app, manager, two_accounts):
    account_id, _ = two_accounts["alpha"]
    _, foreign_department = two_accounts["beta"]
    page = manager.get(f"/admin/lines/new/?account_id={account_id}").get_data(as_text=True)
    assert "alpha sales" in page and "beta sales" not in page
    response = submit(manager, f"/admin/lines/new/?account_id={account_id}",
                      _line(account_id, department=str(foreign_department)))
    assert response.status_code == 200
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(ManagerLine)) == 0


def test_a_crafted_create_without_the_preset_account_is_checked_too(app, manager, two_accounts):
    account_id, _ = two_accounts["alpha"]
    _, foreign_department = two_accounts["beta"]
    response = submit(manager, "/admin/lines/new/", _line(account_id, department=str(foreign_department)))
    assert response.status_code == 200 and "другому аккаунту" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(ManagerLine)) == 0


def test_bad_numbers_get_a_readable_error(app, manager, two_accounts):
    account_id, _ = two_accounts["alpha"]
    response = submit(manager, f"/admin/lines/new/?account_id={account_id}", _line(account_id, number="12"))
    assert response.status_code == 200 and "номер" in response.get_data(as_text=True).lower()


def test_an_account_has_at_most_fifteen_lines(app, manager, two_accounts):
    account_id, _ = two_accounts["alpha"]
    with app.app_context():
        for i in range(MAX_LINES_PER_ACCOUNT):
            db.session.add(ManagerLine(account_id=account_id, number=f"+7916123450{i:02d}"[:12]))
        db.session.commit()
    response = submit(manager, f"/admin/lines/new/?account_id={account_id}", _line(account_id))
    assert response.status_code == 200 and "15" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(ManagerLine)) == MAX_LINES_PER_ACCOUNT


def test_the_fifteenth_line_is_accepted(app, manager, two_accounts):
    """The line being added is not counted against the limit (Flask-Admin puts it in the session first)."""
    account_id, _ = two_accounts["alpha"]
    with app.app_context():
        for i in range(MAX_LINES_PER_ACCOUNT - 1):
            db.session.add(ManagerLine(account_id=account_id, number=f"+79161234{i:03d}"))
        db.session.commit()
    response = submit(manager, f"/admin/lines/new/?account_id={account_id}", _line(account_id))
    assert response.status_code == 302
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(ManagerLine)) == MAX_LINES_PER_ACCOUNT


def test_blacklists_normalise_and_apply_per_account_and_globally(app, manager, make_staff_user, two_accounts):
    alpha, _ = two_accounts["alpha"]
    beta, _ = two_accounts["beta"]
    assert submit(manager, "/admin/blacklist/new/", {"account": str(alpha), "kind": "number",
                                                     "value": "8 (916) 000-11-22", "note": ""}).status_code == 302
    bad = submit(manager, "/admin/blacklist/new/", {"account": str(alpha), "kind": "ip", "value": "300.1.1.1"})
    assert bad.status_code == 200
    assert manager.get("/admin/global_blacklist/").status_code == 403
    _, email, password = make_staff_user("admin")
    admin = manager.application.test_client()
    login(admin, email, password)
    assert submit(admin, "/admin/global_blacklist/new/", {"kind": "ip", "value": "10.0.0.7",
                                                          "note": "abuse"}).status_code == 302
    with app.app_context():
        assert db.session.scalar(sa.select(BlacklistEntry.value).where(BlacklistEntry.account_id == alpha)) \
            == "+79160001122"
        assert blacklist.is_blocked(alpha, "number", "+7 916 000 11 22")
        assert not blacklist.is_blocked(beta, "number", "+79160001122")
        assert blacklist.is_blocked(beta, "ip", "10.0.0.7") and blacklist.is_blocked(alpha, "ip", "10.0.0.7")
    account_list = admin.get("/admin/blacklist/").get_data(as_text=True)
    assert "10.0.0.7" not in account_list and "+79160001122" in account_list


def test_sites_get_a_key_and_clean_domains(app, manager, two_accounts):
    account_id, _ = two_accounts["alpha"]
    response = submit(manager, "/admin/sites/new/", {"account": str(account_id), "name": "Shop",
                                                     "domains": "https://Shop.example.com/\n\nhttps://shop.example.com",
                                                     "is_active": "y"})
    assert response.status_code == 302
    with app.app_context():
        site = db.session.scalar(sa.select(Site))
        assert site.domains == ["https://shop.example.com"] and len(site.public_key) >= 16
