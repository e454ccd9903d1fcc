"""POST /api/v1/widget/<key>/callbacks (A3, W6, W8, W13, D13): what is checked, what is stored, what is answered."""
from __future__ import annotations

import datetime as dt

import pytest
from helpers import api_error, make_site, save_site_settings

from app.db import utcnow
from app.extensions import db
from app.models import BlacklistEntry, Department
from app.services.site_settings import DEFAULT_CONSENT
from app.services.widget_config import consent_version

ORIGIN = "https://shop.example.com"
VISITOR = {
    "session_id": "s-1", "page_url": "https://shop.example.com/sofas?utm_source=yandex",
    "landing_url": "https://shop.example.com/", "referrer": "https://yandex.ru/",
    "utm": {"utm_source": "yandex", "utm_medium": "cpc", "utm_campaign": "sofas", "utm_term": "Диван Купить"},
    "keyword": "Диван Купить", "source": "ad", "scenario": "exit_intent", "device": "desktop", "pages": 3,
}


def test_an_accepted_request_answers_201_with_id_token_mode_and_eta(post_callback):
    response = post_callback()
    assert response.status_code == 201
    body = response.get_json()
    assert set(body) >= {"id", "status_token", "mode", "eta_seconds"}
    assert (body["mode"], body["eta_seconds"]) == ("instant", 28)
    assert isinstance(body["id"], int) and len(body["status_token"]) >= 20
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN


def test_the_stored_request_keeps_the_number_and_the_visitors_context(post_callback, stored_requests):
    response = post_callback(phone="8 (912) 345-67-89", visitor=VISITOR, ip="10.7.7.7")
    [row] = stored_requests()
    assert row.id == response.get_json()["id"]
    assert (row.phone, row.country, row.ip) == ("+79123456789", "RU", "10.7.7.7")
    assert (row.status, row.mode, row.reject_reason, row.scheduled_for) == ("received", "instant", None, None)
    assert (row.source, row.keyword, row.page_url) == ("ad", "диван купить", VISITOR["page_url"])
    assert row.visitor["utm"] == VISITOR["utm"]
    assert row.visitor["referrer"] == "https://yandex.ru/" and row.visitor["session_id"] == "s-1"


def test_the_user_agent_is_stored(client, site, stored_requests):
    client.post(f"/api/v1/widget/{site.public_key}/callbacks", headers={"Origin": ORIGIN, "User-Agent": "Probe/1.0"},
                json={"phone": "+79123456789", "consent": True, "consent_version": consent_version(DEFAULT_CONSENT)})
    assert stored_requests()[0].user_agent == "Probe/1.0"


def test_the_consent_record_keeps_the_exact_text_its_version_site_ip_and_time(post_callback, stored_requests, site):
    before = utcnow()
    post_callback(ip="10.8.8.8")
    [row] = stored_requests()
    consent = row.consent
    assert consent.text.body == DEFAULT_CONSENT and consent.text.version == consent_version(DEFAULT_CONSENT)
    assert (consent.site_id, consent.ip, consent.phone) == (site.id, "10.8.8.8", "+79123456789")
    assert before - dt.timedelta(seconds=1) <= consent.given_at <= utcnow()


def test_a_changed_consent_text_is_recorded_as_shown(app, post_callback, stored_requests, site):
    text = "Я согласен на обработку номера телефона для обратного звонка (152-ФЗ)."
    save_site_settings(app, site, {"consent_text": text})
    assert api_error(post_callback()) == (422, "consent_outdated")
    assert post_callback(consent_version=consent_version(text)).status_code == 201
    assert stored_requests()[0].consent.text.body == text


@pytest.mark.parametrize("change, field", [
    ({"omit": ["phone"]}, "phone"),
    ({"phone": 79123456789}, "phone"),
    ({"callme": True}, "callme"),
    ({"consent": "yes"}, "consent"),
    ({"visitor": {"device": "fridge"}}, "visitor.device"),
])
def test_a_body_off_the_schema_is_400_invalid_request_naming_the_field(post_callback, stored_requests, change, field):
    response = post_callback(**change)
    assert api_error(response) == (400, "invalid_request")
    assert field in response.get_json()["error"]["fields"]
    assert response.get_json()["error"]["message"]
    assert stored_requests() == []


def test_malformed_json_is_400_invalid_request(client, site):
    response = client.post(f"/api/v1/widget/{site.public_key}/callbacks", data=b'{"phone": "+7912',
                           content_type="application/json", headers={"Origin": ORIGIN})
    assert api_error(response) == (400, "invalid_request")
    assert "body" in response.get_json()["error"]["fields"]


def test_a_body_that_is_not_json_is_415(client, site):
    response = client.post(f"/api/v1/widget/{site.public_key}/callbacks", data={"phone": "+79123456789"},
                           headers={"Origin": ORIGIN})
    assert api_error(response) == (415, "invalid_request")


@pytest.mark.parametrize("change", [{"consent": False}, {"omit": ["consent"]}])
def test_without_consent_nothing_is_stored(post_callback, stored_requests, change):
    assert api_error(post_callback(**change)) == (422, "consent_required")
    assert stored_requests() == []


@pytest.mark.parametrize("version", ["0123456789ab", None])
def test_consent_to_another_text_version_is_consent_outdated(post_callback, stored_requests, version):
    assert api_error(post_callback(consent_version=version)) == (422, "consent_outdated")
    assert stored_requests() == []


def test_an_invalid_number_is_invalid_phone(post_callback, stored_requests):
    assert api_error(post_callback(phone="+7 912 345")) == (422, "invalid_phone")
    assert stored_requests() == []


def test_a_country_the_site_does_not_allow_is_refused(post_callback):
    assert api_error(post_callback(country="GB", phone="07400 123456")) == (422, "country_not_allowed")


def test_a_number_of_a_country_the_site_does_not_allow_is_refused_whatever_country_is_sent(post_callback):
    assert api_error(post_callback(phone="+44 7400 123456")) == (422, "country_not_allowed")
    assert api_error(post_callback(country="RU", phone="+44 7400 123456")) == (422, "country_not_allowed")


def test_a_number_of_an_allowed_second_country_is_accepted(app, post_callback, stored_requests, site):
    save_site_settings(app, site, {"allowed_countries": ["RU", "KZ"]})
    assert post_callback(country="KZ", phone="771 000 9998").status_code == 201
    assert (stored_requests()[0].phone, stored_requests()[0].country) == ("+77710009998", "KZ")


def test_an_office_the_widget_does_not_offer_is_invalid_department(app, post_callback, stored_requests, site):
    with app.app_context():
        offered, other = Department(account_id=site.account_id, name="A"), Department(account_id=site.account_id,
                                                                                        name="B")
        db.session.add_all([offered, other])
        db.session.commit()
    save_site_settings(app, site, {"is_office_choice_offered": True, "offered_department_ids": [offered.id]})
    assert api_error(post_callback(department_id=other.id)) == (422, "invalid_department")
    assert post_callback(department_id=offered.id).status_code == 201
    assert stored_requests()[0].department_id == offered.id


def test_any_office_is_invalid_department_when_the_choice_is_not_offered(post_callback):
    assert api_error(post_callback(department_id=1)) == (422, "invalid_department")


def test_a_request_to_an_inactive_site_is_site_inactive(app, post_callback, stored_requests):
    inactive = make_site(app, domains=(ORIGIN,), is_active=False)
    assert api_error(post_callback(to=inactive)) == (403, "site_inactive")  # as the config answers (docs/api.md)
    assert stored_requests() == []


@pytest.mark.parametrize("origin", ["https://evil.example.com", "null", None])
def test_a_request_from_another_origin_is_refused(post_callback, stored_requests, origin):
    response = post_callback(origin=origin)
    assert api_error(response) == (403, "origin_not_allowed")
    assert "Access-Control-Allow-Origin" not in response.headers
    assert stored_requests() == []


def test_an_unknown_site_key_is_404(client):
    response = client.post("/api/v1/widget/nope/callbacks", json={"phone": "+79123456789"},
                           headers={"Origin": ORIGIN})
    assert api_error(response) == (404, "site_not_found")


def blacklist(app, kind: str, value: str, account_id: int | None) -> None:
    with app.app_context():
        db.session.add(BlacklistEntry(account_id=account_id, kind=kind, value=value))
        db.session.commit()


@pytest.mark.parametrize("kind, value, is_global", [
    ("number", "+79123456789", False), ("number", "+79123456789", True),
    ("ip", "10.66.0.1", False), ("ip", "10.66.0.1", True),
])
def test_a_blacklisted_number_or_ip_is_stored_as_rejected_without_consent(
        app, post_callback, stored_requests, site, kind, value, is_global):
    blacklist(app, kind, value, None if is_global else site.account_id)
    assert api_error(post_callback(ip="10.66.0.1")) == (403, "blacklisted")
    [row] = stored_requests()
    assert (row.status, row.reject_reason, row.phone, row.consent) == ("rejected", "blacklisted", "+79123456789", None)


def test_another_accounts_blacklist_does_not_apply(app, post_callback):
    other = make_site(app, domains=("https://other.example.com",))
    blacklist(app, "number", "+79123456789", other.account_id)
    assert post_callback().status_code == 201


def test_the_preflight_of_the_sites_origin_is_allowed(client, site):
    response = client.options(f"/api/v1/widget/{site.public_key}/callbacks",
                              headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST",
                                       "Access-Control-Request-Headers": "content-type"})
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "POST" in response.headers["Access-Control-Allow-Methods"]
    assert "content-type" in response.headers["Access-Control-Allow-Headers"].lower()
    assert int(response.headers["Access-Control-Max-Age"]) > 0


def test_the_preflight_of_a_foreign_origin_is_403_without_cors_headers(client, site):
    response = client.options(f"/api/v1/widget/{site.public_key}/callbacks",
                              headers={"Origin": "https://evil.example.com", "Access-Control-Request-Method": "POST"})
    assert api_error(response) == (403, "origin_not_allowed")
    assert not [name for name in response.headers.keys() if name.lower().startswith("access-control-")]


@pytest.mark.parametrize("body", [{"phone": "+7 912 345"}, {"phone": "+79123456789", "consent": False}])
def test_an_error_for_the_sites_own_page_is_readable_by_the_widget(client, site, body):
    """The widget reads `error.code` cross-origin to show the message: the error needs the CORS header too."""
    response = client.post(f"/api/v1/widget/{site.public_key}/callbacks", headers={"Origin": ORIGIN},
                           json={"consent": True, "consent_version": consent_version(DEFAULT_CONSENT), **body})
    assert response.status_code == 422
    assert response.headers.get("Access-Control-Allow-Origin") == ORIGIN
