"""The audit log (R5): every change from any path, with who, when and old → new values."""
from __future__ import annotations

import sqlalchemy as sa
from helpers import login, submit

from app.extensions import db
from app.models import Account, AuditLog
from app.services import accounts
from app.services.audit import acting_as


def _log(app, **where) -> list[AuditLog]:
    with app.app_context():
        query = sa.select(AuditLog).order_by(AuditLog.id)
        for key, value in where.items():
            query = query.where(getattr(AuditLog, key) == value)
        return list(db.session.scalars(query))


def test_a_back_office_change_is_logged_with_who_and_old_and_new_values(app, make_client_user, make_staff_user):
    _, account_id, _, _ = make_client_user(company="Old Name LLC")
    _, email, password = make_staff_user("manager")
    client = app.test_client()
    login(client, email, password)
    response = submit(client, f"/admin/accounts/edit/?id={account_id}",
                      {"company": "New Name LLC", "timezone": "Asia/Omsk", "locale": "ru", "trial_ends_at": ""})
    assert response.status_code == 302
    [entry] = _log(app, table_name="account", action="update")
    assert entry.actor == f"manager:{email}" and entry.account_id == account_id
    assert entry.changes["company"] == ["Old Name LLC", "New Name LLC"]
    assert entry.changes["timezone"] == ["Europe/Moscow", "Asia/Omsk"]
    page = client.get(f"/admin/audit/?flt0_0={account_id}").get_data(as_text=True)
    assert "New Name LLC" in page


def test_signup_cli_and_task_paths_are_logged_too(app, make_client_user):
    _, account_id, _, _ = make_client_user()
    created = _log(app, table_name="account", action="create")
    assert created[0].actor == "system" and created[0].changes["company"][1] == "Acme LLC"
    runner = app.test_cli_runner()
    runner.invoke(args=["users", "create", "--email", "ops@callback.example.com", "--password", "long-enough-1",
                        "--role", "manager"])
    [user_row] = [e for e in _log(app, table_name="app_user", action="create") if e.actor.startswith("cli")]
    assert user_row.actor == "cli:users create" and user_row.changes["password_hash"] == [None, "***"]
    with app.app_context(), acting_as("task:demo.rename"):
        db.session.get(Account, account_id).company = "Renamed"
        db.session.commit()
    assert _log(app, actor="task:demo.rename")[0].changes["company"] == ["Acme LLC", "Renamed"]


def test_deletes_are_logged_with_the_old_values(app, make_client_user):
    from app.models import Department

    _, account_id, _, _ = make_client_user()
    with app.app_context():
        department = Department(account_id=account_id, name="Sales")
        db.session.add(department)
        db.session.commit()
        db.session.delete(department)
        db.session.commit()
    [deleted] = _log(app, table_name="department", action="delete")
    assert deleted.changes["name"] == ["Sales", None] and deleted.account_id == account_id


def test_password_changes_never_reveal_the_hash(app, make_client_user):
    user_id, _, _, password = make_client_user()
    with app.app_context():
        from app.models import User

        accounts.change_password(db.session.get(User, user_id), password, "another-pass-99")
        db.session.commit()
    [entry] = _log(app, table_name="app_user", action="update")
    assert entry.changes["password_hash"] == ["***", "***"]


def test_a_new_settings_version_is_logged_as_the_settings_it_changes(app, make_client_user, make_staff_user):
    from app.services import site_settings

    _, account_id, _, _ = make_client_user()
    with app.app_context():
        site_settings.save(account_id, None, {"design": {"accent_color": "#111111"}, "client_delay_s": 5})
        db.session.commit()
        site_settings.save(account_id, None, {"design": {"accent_color": "#222222"}, "client_delay_s": 5})
        db.session.commit()
    first, second = _log(app, table_name="settings_document")
    assert first.changes == {"version": [None, 1], "design.accent_color": [None, "#111111"],
                             "client_delay_s": [None, 5]}
    assert second.changes == {"version": [1, 2], "design.accent_color": ["#111111", "#222222"]}
    assert second.account_id == account_id


def test_settings_saved_through_the_form_show_old_and_new_values_in_the_audit_view(app, make_client_user,
                                                                                   make_staff_user):
    from helpers import submit_as_shown

    _, account_id, _, _ = make_client_user()
    _, email, password = make_staff_user("manager")
    manager = app.test_client()
    login(manager, email, password)
    url = f"/admin/site-settings/account/{account_id}"
    assert submit_as_shown(manager, url, {"design-accent_color": "#abcdef"}).status_code == 302
    assert submit_as_shown(manager, url, {"design-accent_color": "#fedcba"}).status_code == 302
    page = manager.get("/admin/audit/?search=settings_document").get_data(as_text=True)
    assert "design.accent_color" in page and "&#34;#abcdef&#34; → &#34;#fedcba&#34;" in page
