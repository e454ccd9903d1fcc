"""GET /api/v1/widget/<key> (A2, W2, W8, W9, W13): what the widget receives, cacheable, for the site's own pages."""
from __future__ import annotations

import pytest
from helpers import api_error, login, make_site, save_site_settings

from app.extensions import db
from app.models import Department
from app.services.site_settings import DEFAULT_CONSENT
from app.services.widget_config import consent_version

ORIGIN = "https://shop.example.com"


def config_url(site) -> str:
    return f"/api/v1/widget/{site.public_key}"


def test_default_config_has_texts_design_and_only_the_exit_intent_scenario(client, site):
    response = client.get(config_url(site), headers={"Origin": ORIGIN})
    assert response.status_code == 200
    config = response.get_json()
    assert (config["site"], config["mode"], config["lang"]) == (site.public_key, "instant", "ru")
    assert config["texts"]["title"] and config["texts"]["button"]
    assert config["design"]["accent_color"].startswith("#")
    assert [scenario["id"] for scenario in config["scenarios"]] == ["exit_intent"]
    assert config["offices"] == []


def test_config_lists_countries_with_typing_templates(client, site):
    save_site_settings(client.application, site, {"allowed_countries": ["RU", "KZ", "BY"]})
    countries = client.get(config_url(site)).get_json()["countries"]
    assert countries["default"] == "RU"
    by_code = {country["code"]: country for country in countries["allowed"]}
    assert list(by_code) == ["RU", "KZ", "BY"]
    assert by_code["RU"]["template"] == "### ###-##-##"
    assert by_code["RU"]["dial"] == "7" and by_code["BY"]["dial"] == "375"


def test_config_carries_the_consent_text_and_its_version(client, site):
    consent = client.get(config_url(site)).get_json()["consent"]
    assert consent["text"] == DEFAULT_CONSENT
    assert consent["version"] == consent_version(DEFAULT_CONSENT)


def test_config_carries_the_schedule_state(client, site):
    schedule = client.get(config_url(site)).get_json()["schedule"]
    assert schedule == {"is_open": True, "timezone": "Europe/Moscow", "slots": []}


def add_department(app, site, name: str) -> int:
    with app.app_context():
        department = Department(account_id=site.account_id, name=name)
        db.session.add(department)
        db.session.commit()
        return department.id


def test_offices_appear_only_when_the_choice_is_offered(app, client, site):
    north, south = add_department(app, site, "North office"), add_department(app, site, "South office")
    save_site_settings(app, site, {"offered_department_ids": [north, south]})
    assert client.get(config_url(site)).get_json()["offices"] == []
    save_site_settings(app, site, {"is_office_choice_offered": True})
    offices = client.get(config_url(site)).get_json()["offices"]
    assert offices == [{"id": north, "name": "North office"}, {"id": south, "name": "South office"}]


def test_config_is_publicly_cacheable_for_a_minute_with_an_etag(client, site):
    response = client.get(config_url(site))
    assert response.headers["ETag"]
    assert set(response.headers["Cache-Control"].replace(" ", "").split(",")) == {"public", "max-age=60"}


def test_a_matching_if_none_match_gets_304(client, site):
    etag = client.get(config_url(site)).headers["ETag"]
    response = client.get(config_url(site), headers={"If-None-Match": etag, "Origin": ORIGIN})
    assert response.status_code == 304
    assert response.data == b""
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN


def test_a_settings_change_changes_the_etag(app, client, site):
    etag = client.get(config_url(site)).headers["ETag"]
    save_site_settings(app, site, {"texts": {"title": "Перезвоним за минуту"}})
    response = client.get(config_url(site), headers={"If-None-Match": etag})
    assert response.status_code == 200
    assert response.headers["ETag"] != etag
    assert response.get_json()["texts"]["title"] == "Перезвоним за минуту"


def test_unknown_site_key_is_404_site_not_found(client):
    assert api_error(client.get("/api/v1/widget/no-such-key", headers={"Origin": ORIGIN})) == (404, "site_not_found")


def test_inactive_site_is_403_site_inactive(app, client):
    site = make_site(app, domains=(ORIGIN,), is_active=False)
    assert api_error(client.get(config_url(site), headers={"Origin": ORIGIN})) == (403, "site_inactive")


@pytest.mark.parametrize("origin", [ORIGIN, "https://www.shop.example.com"])
def test_the_sites_own_origin_is_echoed_for_cors(client, site, origin):
    response = client.get(config_url(site), headers={"Origin": origin})
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == origin
    assert "Origin" in response.vary


@pytest.mark.parametrize("origin", ["https://evil.example.com", "https://shop.example.com.evil.com", "null"])
def test_a_foreign_or_null_origin_is_refused_without_cors_headers(client, site, origin):
    response = client.get(config_url(site), headers={"Origin": origin})
    assert api_error(response) == (403, "origin_not_allowed")
    assert not [name for name in response.headers.keys() if name.lower().startswith("access-control-")]


def test_a_request_without_origin_gets_the_config_without_cors_header(client, site):
    response = client.get(config_url(site))
    assert response.status_code == 200
    assert "Access-Control-Allow-Origin" not in response.headers


def test_api_responses_set_no_cookie_and_do_not_vary_on_cookie(client, site, make_client_user):
    _, _, email, password = make_client_user()
    login(client, email, password)  # a browser with a back-office session cookie
    assert client.get_cookie("session") is not None
    responses = [client.get(config_url(site), headers={"Origin": ORIGIN}),
                 client.post(f"{config_url(site)}/callbacks", json={"phone": "+79123456789", "consent": True,
                                                                      "consent_version": consent_version(
                                                                          DEFAULT_CONSENT)},
                             headers={"Origin": ORIGIN}),
                 client.get("/api/v1/openapi.json")]
    assert [r.status_code for r in responses] == [200, 201, 200]
    for response in responses:
        assert "Set-Cookie" not in response.headers
        assert "cookie" not in {value.lower() for value in response.vary}
