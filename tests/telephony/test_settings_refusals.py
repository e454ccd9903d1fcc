"""Settings the configured provider (MTT) refuses are refused when saved, with MTT's message next to the field:
site settings in the back office and in the cabinet, manager lines with a SIP address or an extension."""
from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from helpers import login, submit, submit_as_shown

from admin import settings_views
from app.extensions import db
from app.models import Account, ManagerLine, SettingsDocument
from app.services import permissions, sites

# The provider's messages as people read them (Russian, the default language).
DTMF_REFUSAL = "нет способа набрать добавочный номер (DTMF)"
SIP_REFUSAL = "SIP-адреса недоступны с МТТ"
SMS_REFUSAL = "SMS через МТТ не настроены"


@pytest.fixture
def app(app):
    """The app with the settings views, whether or not `admin/__init__.py` registers them already."""
    if "site_settings.account" not in app.view_functions:
        settings_views.register(app.extensions["admin"][0])
    return app


@pytest.fixture
def shop(app, make_client_user):
    """A client account with a site, its settings opened to the client: (logged-in client, account id, site id)."""
    _, account_id, email, password = make_client_user()
    with app.app_context():
        site = sites.create_site(db.session.get(Account, account_id), "Shop", ["https://shop.example.com"])
        permissions.set_account_permission(account_id, "widget.settings.edit", True)
        db.session.commit()
        site_id = site.id
    client = app.test_client()
    login(client, email, password)
    return client, account_id, site_id


@pytest.fixture
def admin_client(app, make_staff_user):
    _, email, password = make_staff_user("admin")
    client = app.test_client()
    login(client, email, password)
    return client


def error_of(html: str, field_id: str) -> str:
    match = re.search(rf'<p class="error[^"]*" id="{field_id}-error">(.*?)</p>', html, re.S)
    assert match, f"no error next to {field_id}"
    return match.group(1)


def documents(app) -> list[dict]:
    with app.app_context():
        return [d.data for d in db.session.scalars(sa.select(SettingsDocument).order_by(SettingsDocument.id))]


def test_the_back_office_refuses_an_extension_delay_with_mtts_message(app, admin_client, shop):
    _, _, site_id = shop
    url = f"/admin/site-settings/site/{site_id}"

    refused = submit_as_shown(admin_client, url, {"extension_delay_s": "5"})
    assert refused.status_code == 200
    assert DTMF_REFUSAL in error_of(refused.get_data(as_text=True), "extension_delay_s")
    assert documents(app) == []

    # What MTT honours is saved as before.
    saved = submit_as_shown(admin_client, url, {"extension_delay_s": "0", "client_delay_s": "10"})
    assert saved.status_code == 302
    assert documents(app) == [{"client_delay_s": 10}]


def test_the_cabinet_refuses_an_extension_delay_with_mtts_message(app, shop):
    client, _, site_id = shop
    url = f"/cabinet/sites/{site_id}/settings"

    response = submit_as_shown(client, url, {"extension_delay_s": "7"})

    assert response.status_code == 200
    assert DTMF_REFUSAL in error_of(response.get_data(as_text=True), "extension_delay_s")
    assert documents(app) == []


@pytest.mark.parametrize("app_overrides", [{"MTT_SMS_TOKEN": ""}], indirect=True)
def test_sms_reports_are_refused_while_mtts_sms_gateway_is_not_configured(app, shop, app_overrides):
    client, _, site_id = shop

    response = submit_as_shown(client, f"/cabinet/sites/{site_id}/settings",
                               {"sms_report_numbers": "+79161234567"})

    assert SMS_REFUSAL in error_of(response.get_data(as_text=True), "sms_report_numbers")
    assert documents(app) == []


def _line(account_id: int, **fields) -> dict:
    return {"account": str(account_id), "kind": "phone", "country": "RU", "number": "8 916 123-45-67",
            "extension": "", "is_active": "y", "manager_name": "Анна", "is_for_all_sites": "y", **fields}


def _lines(app) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(sa.select(ManagerLine.number)))


@pytest.mark.parametrize("fields, message", [
    ({"kind": "sip", "number": "anna@pbx.example.com"}, SIP_REFUSAL),
    ({"extension": "123"}, DTMF_REFUSAL),
], ids=["sip", "extension"])
def test_a_manager_line_mtt_cannot_call_is_refused_when_saved(app, admin_client, shop, fields, message):
    _, account_id, _ = shop
    url = f"/admin/lines/new/?account_id={account_id}"

    refused = submit(admin_client, url, _line(account_id, **fields))

    assert refused.status_code == 200 and message in refused.get_data(as_text=True)
    assert _lines(app) == []
    assert submit(admin_client, url, _line(account_id)).status_code == 302
    assert _lines(app) == ["+79161234567"]
