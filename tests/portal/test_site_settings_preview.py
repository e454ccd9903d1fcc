"""The live preview of the cabinet's settings page (W-settings): the form's unsaved values, checked like saving,
answered as the widget's configuration; nothing is stored, and only the account's own, opened settings count."""
from __future__ import annotations

import pytest
import sqlalchemy as sa
from helpers import csrf_token, form_values, submit_as_shown

from app.extensions import db
from app.models import SettingsDocument, Site
from app.services import permissions, site_settings


def open_keys(app, account_id: int, *keys: str) -> None:
    with app.app_context():
        for key in keys:
            permissions.set_account_permission(account_id, key, True)
        db.session.commit()


def preview(client, site_id: int, changes: dict, *, page_site_id: int | None = None):
    """Post the settings page's form as shown, with `changes` typed in, to the preview (as the page's script does)."""
    values = form_values(client.get(f"/cabinet/sites/{page_site_id or site_id}/settings").get_data(as_text=True))
    values.update({name: value if isinstance(value, list) else [value] for name, value in changes.items()})
    return client.post(f"/cabinet/sites/{site_id}/settings/preview", data=values)


def stored_documents(app) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(SettingsDocument))


@pytest.mark.backends
def test_the_preview_shows_the_unsaved_values_and_stores_nothing(app, shops):
    client, account_id, site_id = shops["alpha"]
    open_keys(app, account_id, site_settings.WIDGET_TEXTS, site_settings.WIDGET_DESIGN)
    page = client.get(f"/cabinet/sites/{site_id}/settings").get_data(as_text=True)
    assert f'data-preview-url="/cabinet/sites/{site_id}/settings/preview"' in page
    assert '<script src="/widget.js" data-preview></script>' in page
    assert '<script src="/static/js/settings-preview.js"></script>' in page

    response = preview(client, site_id, {"texts-title": "Перезвоним за минуту", "design-accent_color": "#123456",
                                         "keyword_rules-0-keywords": "диван", "keyword_rules-0-texts-title": "Диваны"})
    assert response.status_code == 200 and response.mimetype == "application/json"
    config = response.get_json()
    with app.app_context():
        assert config["site"] == db.session.get(Site, site_id).public_key
    assert config["texts"]["title"] == "Перезвоним за минуту" and config["design"]["accent_color"] == "#123456"
    assert [(rule["keywords"], rule["texts"]) for rule in config["rules"]] == [(["диван"], {"title": "Диваны"})]
    assert stored_documents(app) == 0
    with app.app_context():
        assert site_settings.effective_settings(account_id, site_id).texts.title != "Перезвоним за минуту"


def test_invalid_values_answer_422_with_the_fields_and_store_nothing(app, shops):
    client, account_id, site_id = shops["alpha"]
    open_keys(app, account_id, site_settings.WIDGET_TEXTS)
    response = preview(client, site_id, {"texts-title": "", "keyword_rules-0-design-accent_color": "red",
                                         "privacy_policy_url": "policy"})
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "invalid_settings" and error["message"]
    assert error["fields"] == {"texts-title": ["Текст слишком короткий (минимум 1)."],
                               "keyword_rules-0-design-accent_color": ["Значение в неверном формате."],
                               "privacy_policy_url": ["Значение в неверном формате."]}
    assert stored_documents(app) == 0


def test_a_client_cannot_preview_texts_they_may_not_edit(app, shops):
    client, account_id, site_id = shops["alpha"]
    open_keys(app, account_id, site_settings.WIDGET_DESIGN)
    response = preview(client, site_id, {"design-accent_color": "#123456", "texts-title": "Hacked",
                                         "keyword_rules-0-texts-title": "Hacked", "language": "en"})
    assert response.status_code == 200
    config = response.get_json()
    assert config["design"]["accent_color"] == "#123456"
    assert config["texts"]["title"] == site_settings.SiteSettings().texts.title
    assert config["rules"] == [] and config["lang"] == "ru"


def test_only_the_accounts_own_sites_with_opened_settings(app, shops, client):
    alpha, alpha_account, alpha_site = shops["alpha"]
    beta, _, beta_site = shops["beta"]
    open_keys(app, alpha_account, site_settings.WIDGET_TEXTS)
    token = csrf_token(alpha.get(f"/cabinet/sites/{alpha_site}/settings").get_data(as_text=True))
    response = alpha.post(f"/cabinet/sites/{beta_site}/settings/preview", data={"csrf_token": token})
    assert response.status_code == 404
    assert preview(alpha, 999999, {}, page_site_id=alpha_site).status_code == 404
    token = csrf_token(beta.get("/cabinet/").get_data(as_text=True))
    assert beta.post(f"/cabinet/sites/{beta_site}/settings/preview", data={"csrf_token": token}).status_code == 403
    token = csrf_token(client.get("/login").get_data(as_text=True))
    stranger = client.post(f"/cabinet/sites/{alpha_site}/settings/preview", data={"csrf_token": token})
    assert stranger.status_code == 302 and "/login" in stranger.headers["Location"]
    assert stored_documents(app) == 0


def test_a_post_without_the_csrf_token_is_refused(app, shops):
    client, account_id, site_id = shops["alpha"]
    open_keys(app, account_id, site_settings.WIDGET_TEXTS)
    values = form_values(client.get(f"/cabinet/sites/{site_id}/settings").get_data(as_text=True))
    values.pop("csrf_token")
    assert client.post(f"/cabinet/sites/{site_id}/settings/preview", data=values).status_code == 400


def test_rules_are_added_and_removed_on_the_settings_page(app, shops):
    client, account_id, site_id = shops["alpha"]
    open_keys(app, account_id, site_settings.WIDGET_TEXTS)
    url = f"/cabinet/sites/{site_id}/settings"
    typed = {"keyword_rules-0-keywords": "Диван", "keyword_rules-0-utm_source": "yandex",
             "keyword_rules-0-texts-button": "Хочу диван"}
    assert submit_as_shown(client, url, typed).status_code == 302
    with app.app_context():
        [rule] = site_settings.effective_settings(account_id, site_id).keyword_rules
        assert (rule.keywords, rule.utm_source, rule.texts.button) == (["диван"], "yandex", "Хочу диван")
    page = client.get(url).get_data(as_text=True)
    assert 'name="keyword_rules-1-keywords"' in page and 'name="keyword_rules-2-keywords"' not in page
    cleared = {"keyword_rules-0-keywords": "", "keyword_rules-0-utm_source": "", "keyword_rules-0-texts-button": ""}
    assert submit_as_shown(client, url, cleared).status_code == 302
    with app.app_context():
        assert site_settings.effective_settings(account_id, site_id).keyword_rules == []
