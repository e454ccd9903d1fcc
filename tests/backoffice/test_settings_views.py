"""Settings pages of the back office: account defaults, a site's settings, global settings; real HTTP and DB."""
from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from helpers import form_values, login, submit, submit_as_shown

from admin import settings_views
from app.extensions import db
from app.models import Account, Department, Setting, SettingsDocument
from app.services import site_settings, sites
from app.services.settings import get_settings


@pytest.fixture
def app(app):
    """The app with the settings views, whether or not `admin/__init__.py` registers them already."""
    if "site_settings.account" not in app.view_functions:
        settings_views.register(app.extensions["admin"][0])
    return app


@pytest.fixture
def shop(app, make_client_user):
    """A client account with a site and a department: (account id, site id, department id)."""
    _, account_id, _, _ = make_client_user()
    with app.app_context():
        site = sites.create_site(db.session.get(Account, account_id), "Shop", ["https://shop.example.com"])
        department = Department(account_id=account_id, name="Sales")
        db.session.add(department)
        db.session.commit()
        return account_id, site.id, department.id


@pytest.fixture
def admin_client(client, make_staff_user):
    _, email, password = make_staff_user("admin")
    login(client, email, password)
    return client


def documents(app) -> list[tuple[str, int, dict]]:
    with app.app_context():
        return [(d.scope, d.version, d.data) for d in db.session.scalars(
            sa.select(SettingsDocument).order_by(SettingsDocument.id))]


def error_of(html: str, field_id: str) -> str:
    """The error shown next to a field (its text), checking the field points to it."""
    match = re.search(rf'<p class="error[^"]*" id="{field_id}-error">(.*?)</p>', html, re.S)
    assert match, f"no error next to {field_id}"
    assert re.search(rf'aria-describedby="[^"]*\b{field_id}-error"', html)
    return match.group(1)


@pytest.mark.parametrize("changes, field_id, message", [
    ({"client_delay_s": "99"}, "client_delay_s", "Значение должно быть между 0 и 60."),
    ({"schedule-mon-opens_at": "18:00", "schedule-mon-closes_at": "09:00"}, "schedule-mon",
     "Время окончания должно быть позже времени начала."),
    ({"design-accent_color": "red"}, "design-accent_color", "Значение в неверном формате."),
    ({"default_country": "XX"}, "default_country", "Неверный вариант."),
    ({"allowed_countries": ["RU", "XX"]}, "allowed_countries", "Нет среди вариантов: &#39;XX&#39;."),
    ({"sms_report_numbers": "123"}, "sms_report_numbers", "123 — неправильный номер телефона."),
    ({"missed_call_email": "not-an-address"}, "missed_call_email", "Неверный адрес электронной почты."),
], ids=["delay", "monday", "colour", "country", "countries", "sms", "email"])
def test_an_invalid_value_is_shown_next_to_its_field_and_nothing_is_stored(app, admin_client, shop, changes,
                                                                            field_id, message):
    _, site_id, _ = shop
    response = submit_as_shown(admin_client, f"/admin/site-settings/site/{site_id}", changes)
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert message in error_of(html, field_id)
    assert html.count('class="error invalid-feedback') == 1, "only the wrong field has an error"
    assert documents(app) == []


def test_one_submission_shows_every_problem_once(app, admin_client, shop):
    account_id, _, _ = shop
    response = submit_as_shown(admin_client, f"/admin/site-settings/account/{account_id}", {
        "client_delay_s": "99", "schedule-mon-opens_at": "18:00", "schedule-mon-closes_at": "09:00",
        "texts-title": ""})
    html = response.get_data(as_text=True)
    assert error_of(html, "client_delay_s") == "Значение должно быть между 0 и 60."
    assert error_of(html, "schedule-mon") == "Время окончания должно быть позже времени начала."
    assert error_of(html, "texts-title") == "Текст слишком короткий (минимум 1)."
    assert html.count('class="error invalid-feedback') == 3 and documents(app) == []


@pytest.mark.backends
def test_saving_adds_versions_that_store_only_what_differs(app, admin_client, shop, make_staff_user):
    account_id, _, _ = shop
    url = f"/admin/site-settings/account/{account_id}"
    response = submit_as_shown(admin_client, url, {"design-accent_color": "#123456"})
    assert response.status_code == 302 and response.headers["Location"].endswith(url)
    assert documents(app) == [("account", 1, {"design": {"accent_color": "#123456"}})]
    page = admin_client.get(url).get_data(as_text=True)
    assert "Сохранено как версия 1." in page and 'value="#123456"' in page

    submit_as_shown(admin_client, url, {"client_delay_s": "5", "schedule-sat-is_open": "y"})
    assert documents(app)[-1] == ("account", 2, {"design": {"accent_color": "#123456"}, "client_delay_s": 5,
                                                 "schedule": {"sat": {"is_open": True}}})
    submit_as_shown(admin_client, url, {})
    page = admin_client.get(url).get_data(as_text=True)
    assert "Ничего не изменилось." in page and len(documents(app)) == 2
    history = page.split("<h3", 1)[1]
    assert re.findall(r"<tr><td>(\d+)</td>", history) == ["2", "1"]
    assert history.count("admin@callback.example.com") == 2


def test_a_site_inherits_the_account_defaults_and_stores_only_its_own(app, admin_client, shop):
    account_id, site_id, _ = shop
    submit_as_shown(admin_client, f"/admin/site-settings/account/{account_id}", {"client_delay_s": "7"})
    site_url = f"/admin/site-settings/site/{site_id}"
    page = admin_client.get(site_url).get_data(as_text=True)
    assert re.search(r'name="client_delay_s" type="number" value="7"', page)
    assert f'href="/admin/site-settings/account/{account_id}"' in page
    submit_as_shown(admin_client, site_url, {"texts-button": "Позвоните мне"})
    assert documents(app)[-1] == (f"site:{site_id}", 1, {"texts": {"button": "Позвоните мне"}})
    with app.app_context():
        effective = site_settings.effective_settings(account_id, site_id)
    assert effective.client_delay_s == 7 and effective.texts.button == "Позвоните мне"


@pytest.mark.backends
def test_a_site_offers_only_its_own_accounts_departments(app, admin_client, shop, make_client_user):
    _, site_id, own_id = shop
    _, other_account_id, _, _ = make_client_user()
    with app.app_context():
        foreign = Department(account_id=other_account_id, name="Competitor's office")
        db.session.add(foreign)
        db.session.commit()
        foreign_id = foreign.id
    url = f"/admin/site-settings/site/{site_id}"
    page = admin_client.get(url).get_data(as_text=True)
    assert f'<option value="{own_id}">Sales</option>' in page and "Competitor" not in page

    response = submit_as_shown(admin_client, url, {"offered_department_ids": [str(own_id), str(foreign_id)]})
    assert response.status_code == 200 and f"&#39;{foreign_id}&#39;" in error_of(response.get_data(as_text=True),
                                                                          "offered_department_ids")
    assert documents(app) == []
    submit_as_shown(admin_client, url, {"offered_department_ids": [str(own_id)]})
    assert documents(app) == [(f"site:{site_id}", 1, {"offered_department_ids": [own_id]})]


def test_a_post_without_the_csrf_token_stores_nothing(app, admin_client, shop):
    account_id, _, _ = shop
    response = admin_client.post(f"/admin/site-settings/account/{account_id}", data={"client_delay_s": "5"})
    assert response.status_code == 400 and documents(app) == []


def test_the_site_page_previews_the_unsaved_values_and_stores_nothing(app, admin_client, shop):
    """The live preview (W-settings): the page's form as typed, answered as the widget's configuration."""
    account_id, site_id, _ = shop
    url = f"/admin/site-settings/site/{site_id}"
    page = admin_client.get(url).get_data(as_text=True)
    assert f'data-preview-url="{url}/preview"' in page and 'src="/static/js/settings-preview.js"' in page
    assert "settings-preview" not in admin_client.get(f"/admin/site-settings/account/{account_id}").get_data(
        as_text=True), "account defaults have no site to preview"
    values = form_values(page)
    values.update({"texts-title": ["Перезвоним"], "keyword_rules-0-keywords": ["диван"]})
    response = admin_client.post(f"{url}/preview", data=values)
    assert response.status_code == 200
    assert response.get_json()["texts"]["title"] == "Перезвоним"
    assert response.get_json()["rules"][0]["keywords"] == ["диван"]
    values["client_delay_s"] = ["99"]
    response = admin_client.post(f"{url}/preview", data=values)
    assert response.status_code == 422
    assert response.get_json()["error"]["fields"] == {"client_delay_s": ["Значение должно быть между 0 и 60."]}
    assert admin_client.post("/admin/site-settings/site/999999/preview", data=values).status_code == 404
    assert documents(app) == []


@pytest.mark.parametrize("path", ["/admin/site-settings/account/999999", "/admin/site-settings/site/999999"])
def test_unknown_accounts_and_sites_are_404(admin_client, path):
    assert admin_client.get(path).status_code == 404


def test_the_site_settings_page_is_for_staff_and_not_in_the_menu(app, shop, make_staff_user, make_client_user):
    url = f"/admin/site-settings/account/{shop[0]}"
    stranger = app.test_client().get(url)
    assert stranger.status_code == 302 and "/login" in stranger.headers["Location"]
    _, _, email, password = make_client_user()
    client = app.test_client()
    login(client, email, password)
    assert client.get(url).status_code == 403
    _, email, password = make_staff_user("manager")
    manager = app.test_client()
    login(manager, email, password)
    assert manager.get(url).status_code == 200
    assert "/admin/site-settings/" not in manager.get("/admin/").get_data(as_text=True)


def test_an_administrator_changes_global_settings_and_openable_keys(app, admin_client):
    url = "/admin/global-settings/"
    assert "/admin/global-settings/" in admin_client.get("/admin/").get_data(as_text=True)
    response = submit_as_shown(admin_client, url, {"trial_days": "30",
                                                   "openable_permissions": ["widget.design.edit", "stats.view"]})
    assert response.status_code == 302
    with app.app_context():
        settings = get_settings()
        stored = set(db.session.scalars(sa.select(Setting.key)))
    assert settings.trial_days == 30 and settings.openable_permissions == ["stats.view", "widget.design.edit"]
    assert stored == {"trial_days", "openable_permissions"}
    page = admin_client.get(url).get_data(as_text=True)
    assert "Сохранено." in page and 'value="30"' in page


def test_an_invalid_global_setting_is_shown_and_not_stored(app, admin_client):
    response = submit_as_shown(admin_client, "/admin/global-settings/", {"trial_days": "400"})
    assert response.status_code == 200
    assert "Значение должно быть между 0 и 365." in error_of(response.get_data(as_text=True), "trial_days")
    with app.app_context():
        assert db.session.scalars(sa.select(Setting)).all() == []


@pytest.mark.parametrize("role", ["manager", "client"])
def test_global_settings_are_for_administrators_only(app, client, make_staff_user, make_client_user, role):
    if role == "client":
        _, _, email, password = make_client_user()
    else:
        _, email, password = make_staff_user(role)
    login(client, email, password)
    assert client.get("/admin/global-settings/").status_code == 403
    assert submit(client, "/admin/global-settings/", {"trial_days": "1"}, page="/").status_code == 403


def test_strangers_are_sent_to_log_in_from_global_settings(client):
    response = client.get("/admin/global-settings/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
