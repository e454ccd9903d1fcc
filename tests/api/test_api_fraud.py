"""Fraud guard (X1) at the callback endpoint: numbers a site may not call are refused with a stable reason code,
logged, and dialed never (nothing reaches the dialer's queue); an ordinary number next to them is dialed.
"""
from __future__ import annotations

import logging

import pytest
from helpers import api_error, make_site

ALWAYS_OPEN = {day: {"is_open": True, "opens_at": "00:00", "closes_at": "00:00"}
               for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}

pytestmark = pytest.mark.backends


def refusals_logged(caplog, app) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == app.logger.name and r.levelno == logging.WARNING and "refused" in r.getMessage()]


SPECIAL_RU = {
    "premium rate (8-809)": "+7 809 123-45-67",
    "personal number (8-808)": "+7 808 123-45-67",
    "toll free (8-800)": "+7 800 123-45-67",
    "non-geographic satellite (+881)": "+881 6 12345678",
    "non-geographic international network (+883)": "+883 5100 0000 0001",
    "international freephone (+800)": "+800 1234 5678",
}


@pytest.mark.parametrize("phone", list(SPECIAL_RU.values()), ids=list(SPECIAL_RU))
def test_a_premium_or_special_number_is_refused_logged_and_not_dialed(
        app, post_callback, stored_requests, dialed, caplog, fresh_limits, phone):
    assert api_error(post_callback(phone=phone)) == (422, "number_type_not_allowed")
    assert stored_requests() == [] and dialed == []
    assert [line.split(" ip=")[0] for line in refusals_logged(caplog, app)] == [
        "callback request refused: number_type_not_allowed"]

    assert post_callback(phone="+7 912 345-67-89").status_code == 201  # an ordinary mobile is dialed
    assert dialed == [stored_requests()[0].id]


GB_SPECIAL = {"premium": "+44 901 234 5678", "pager": "+44 7640 123456", "personal": "+44 70 1234 5678",
              "shared cost": "+44 845 464 0000", "uan": "+44 55 1234 5678", "voip": "+44 56 1234 5678"}


@pytest.mark.parametrize("phone", list(GB_SPECIAL.values()), ids=list(GB_SPECIAL))
def test_special_numbers_of_another_allowed_country_are_refused_too(app, client, dialed, fresh_limits, phone):
    from app.services.site_settings import DEFAULT_CONSENT
    from app.services.widget_config import consent_version

    settings = {"schedule": ALWAYS_OPEN, "default_country": "GB", "allowed_countries": ["GB"]}
    site = make_site(app, domains=("https://uk.example.com",), settings=settings)

    def post(number: str):
        return client.post(f"/api/v1/widget/{site.public_key}/callbacks",
                           json={"phone": number, "consent": True, "consent_version": consent_version(DEFAULT_CONSENT)},
                           headers={"Origin": "https://uk.example.com"}, environ_base={"REMOTE_ADDR": "10.3.0.1"})

    assert api_error(post(phone)) == (422, "number_type_not_allowed")
    assert dialed == []
    assert post("+44 7400 123456").status_code == 201  # a UK mobile
    assert len(dialed) == 1


def test_a_number_of_a_country_the_site_does_not_allow_is_refused_logged_and_not_dialed(
        app, post_callback, stored_requests, dialed, caplog, fresh_limits):
    """The site's allowed countries default to its default country (RU): a UK or Kazakh mobile is not called."""
    assert api_error(post_callback(phone="+44 7400 123456")) == (422, "country_not_allowed")
    assert api_error(post_callback(phone="+7 701 234 5678")) == (422, "country_not_allowed")  # KZ, same +7
    assert stored_requests() == [] and dialed == []
    assert [line.split(" ip=")[0] for line in refusals_logged(caplog, app)] == [
        "callback request refused: country_not_allowed"] * 2
