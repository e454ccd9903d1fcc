"""The cabinet's settings page (C5, R3–R4): only what a manager opened, only the account's own sites."""
from __future__ import annotations

import sqlalchemy as sa
from helpers import login, submit

from app.extensions import db
from app.models import SettingsDocument
from app.services import permissions


def _open(app, account_id: int, key: str) -> None:
    with app.app_context():
        permissions.set_account_permission(account_id, key, True)
        db.session.commit()


def test_settings_are_closed_to_clients_by_default(shops):
    client, _, site_id = shops["alpha"]
    assert client.get(f"/cabinet/sites/{site_id}/settings").status_code == 403
    assert "/settings" not in client.get("/cabinet/").get_data(as_text=True)


def test_an_opened_key_shows_only_its_fields_to_that_account(app, shops):
    alpha, alpha_account, alpha_site = shops["alpha"]
    beta, _, beta_site = shops["beta"]
    _open(app, alpha_account, "widget.design.edit")
    page = alpha.get(f"/cabinet/sites/{alpha_site}/settings").get_data(as_text=True)
    assert 'type="color"' in page and "client_delay_s" not in page and "texts-title" not in page
    assert f"/cabinet/sites/{alpha_site}/settings" in alpha.get("/cabinet/").get_data(as_text=True)
    assert beta.get(f"/cabinet/sites/{beta_site}/settings").status_code == 403
    assert alpha.get(f"/cabinet/sites/{beta_site}/settings").status_code == 404


def test_a_client_saves_the_opened_fields_and_nothing_else(app, shops):
    alpha, account_id, site_id = shops["alpha"]
    _open(app, account_id, "widget.design.edit")
    url = f"/cabinet/sites/{site_id}/settings"
    response = submit(alpha, url, {"design-accent_color": "#123456", "design-text_color": "#000000",
                                   "design-background_color": "#ffffff", "design-position": "bottom-left",
                                   "client_delay_s": "60", "texts-title": "Hacked"})
    assert response.status_code == 302
    with app.app_context():
        [document] = db.session.scalars(sa.select(SettingsDocument)).all()
        assert document.data == {"design": {"accent_color": "#123456", "text_color": "#000000",
                                            "position": "bottom-left"}}
        assert document.created_by_id is not None


def test_invalid_values_show_errors_and_store_nothing(app, shops):
    alpha, account_id, site_id = shops["alpha"]
    _open(app, account_id, "widget.design.edit")
    response = submit(alpha, f"/cabinet/sites/{site_id}/settings",
                      {"design-accent_color": "red", "design-text_color": "#000000",
                       "design-background_color": "#ffffff", "design-position": "bottom-left"})
    assert response.status_code == 200 and 'id="design-accent_color-error"' in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(SettingsDocument)) == 0


def test_staff_are_sent_to_the_back_office(app, make_staff_user, shops):
    _, _, site_id = shops["alpha"]
    _, email, password = make_staff_user("manager")
    staff = app.test_client()
    login(staff, email, password)
    assert staff.get(f"/cabinet/sites/{site_id}/settings").headers["Location"].endswith("/admin/")
