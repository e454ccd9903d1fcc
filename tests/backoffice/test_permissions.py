"""Feature keys (R1–R4): a manager opens an openable key for one account only; the administrator decides
which keys are openable and what each role has by default."""
from __future__ import annotations

import sqlalchemy as sa
from helpers import login, submit

from app.extensions import db
from app.models import AccountPermission, User
from app.services import permissions
from app.services.settings import set_setting


def _features(app, user_id: int) -> set[str]:
    with app.app_context():
        return permissions.features_of(db.session.get(User, user_id))


def _open(client, account_id: int, key: str):
    return submit(client, "/admin/openings/new/", {"account": str(account_id), "key": key, "is_granted": "y"})


def test_a_manager_opens_a_key_for_one_account_only(app, make_client_user, make_staff_user):
    alice_id, alice_account, _, _ = make_client_user()
    bob_id, _, _, _ = make_client_user()
    _, email, password = make_staff_user("manager")
    manager = app.test_client()
    login(manager, email, password)
    assert "widget.design.edit" not in _features(app, alice_id)

    response = _open(manager, alice_account, "widget.design.edit")
    assert response.status_code == 302
    assert "widget.design.edit" in _features(app, alice_id)
    assert "widget.design.edit" not in _features(app, bob_id)
    assert permissions.CLIENT_DEFAULTS[0] in _features(app, bob_id)


def test_closing_a_key_as_non_openable_stops_managers_and_existing_openings(app, make_client_user,
                                                                            make_staff_user):
    alice_id, alice_account, _, _ = make_client_user()
    _, email, password = make_staff_user("manager")
    manager = app.test_client()
    login(manager, email, password)
    _open(manager, alice_account, "widget.design.edit")
    _, admin_email, admin_password = make_staff_user("admin")
    with app.app_context():
        set_setting("openable_permissions", ["widget.settings.edit"])
        db.session.commit()
    assert "widget.design.edit" not in _features(app, alice_id)  # the opening no longer counts

    page = manager.get("/admin/openings/new/").get_data(as_text=True)
    assert 'value="widget.design.edit"' not in page and 'value="widget.settings.edit"' in page
    response = _open(manager, alice_account, "widget.texts.edit")
    assert response.status_code == 200  # the form again, with the error
    with app.app_context():
        keys = set(db.session.scalars(sa.select(AccountPermission.key)))
    assert "widget.texts.edit" not in keys


def test_role_defaults_are_global_settings(app, make_client_user, make_staff_user):
    client_id, _, _, _ = make_client_user()
    manager_id, _, _ = make_staff_user("manager")
    with app.app_context():
        set_setting("client_permissions", ["stats.view"])
        set_setting("manager_permissions", ["backoffice.accounts"])
        db.session.commit()
    assert _features(app, client_id) == {"stats.view"}
    assert _features(app, manager_id) == {"backoffice.accounts"}


def test_administrators_always_have_every_key(app, make_staff_user):
    admin_id, _, _ = make_staff_user("admin")
    with app.app_context():
        set_setting("manager_permissions", [])
        db.session.commit()
    assert _features(app, admin_id) == set(permissions.FEATURES)


def test_a_manager_without_the_journal_key_cannot_read_the_ledger(app, make_staff_user):
    _, email, password = make_staff_user("manager")
    client = app.test_client()
    login(client, email, password)
    assert client.get("/admin/ledger/").status_code == 200
    with app.app_context():
        set_setting("manager_permissions", ["backoffice.accounts"])
        db.session.commit()
    assert client.get("/admin/ledger/").status_code == 403
    assert client.get("/admin/accounts/").status_code == 200


def test_unknown_keys_are_refused_in_settings(app_ctx):
    import pytest

    from app.services import DomainError

    with pytest.raises(DomainError):
        set_setting("client_permissions", ["stats.view", "root.everything"])
