"""What the widget receives (A2): a site's settings turned into texts, compiled scenarios, countries and strings.

Scenarios are compiled into condition lists the widget's small rule engine evaluates ("OR of AND-groups" of
`[signal, op, value]`, see docs/widget.md), so a new scenario needs a schema field and a compile step here,
never a change of the data model or of the widget's engine.
"""
from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
from dataclasses import dataclass

import phonenumbers
import sqlalchemy as sa
from babel import Locale
from flask_babel import force_locale
from flask_babel import gettext as _

from app.cache import cached
from app.db import utcnow
from app.extensions import db
from app.models import Department, Site
from app.services import account_state, phones, schedule
from app.services.settings import get_settings
from app.services.site_settings import ExitIntent, HotVisitor, LongReader, SiteSettings, effective_settings


def consent_digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def consent_version(text: str) -> str:
    return consent_digest(text)[:12]


@dataclass(frozen=True)
class PublishedSite:
    """What the API checks a widget request against: the site's facts and its effective settings."""

    site_id: int
    account_id: int
    public_key: str
    domains: tuple[str, ...]
    is_active: bool
    settings: SiteSettings

    @property
    def language(self) -> str:
        return self.settings.language


@dataclass(frozen=True)
class Published:
    """A site's configuration as served: the JSON body and its ETag."""

    site: PublishedSite
    body: bytes
    etag: str


def published_site(site_key: str) -> PublishedSite | None:
    """The site with this key and its settings, None if there is none (cached like `published`)."""
    return cached(("site", site_key), lambda: _site(site_key))


def published(site_key: str) -> Published | None:
    """The served configuration of the site with this key, None if there is none.

    Both are kept for WIDGET_CONFIG_CACHE_S seconds in each process (app.cache): a settings change reaches
    visitors within that time plus the response's own max-age, and the widget's hot paths cost a dict lookup.
    """
    return cached(("config", site_key), lambda: _publish(site_key))


def _site(site_key: str) -> PublishedSite | None:
    site = db.session.scalar(sa.select(Site).where(Site.public_key == site_key))
    if site is None:
        return None
    return PublishedSite(site.id, site.account_id, site.public_key, tuple(site.domains), site.is_active,
                         effective_settings(site.account_id, site.id))


def _publish(site_key: str) -> Published | None:
    site = published_site(site_key)
    if site is None:
        return None
    body = json.dumps(config_for(site, site.settings), ensure_ascii=False, separators=(",", ":")).encode()
    return Published(site, body, hashlib.sha256(body).hexdigest()[:32])


def config_for(site: Site | PublishedSite, settings: SiteSettings, now: dt.datetime | None = None) -> dict:
    """The widget's configuration for `site` with `settings` (saved or, for the live preview, not yet).

    `mode` is "passive" while the account's rent has ended, its balance is negative or the spend cap paused
    its dialing (B4, B5, X1): no scenario opens the widget and requests are forwarded, not dialed. Served
    configurations are cached for WIDGET_CONFIG_CACHE_S, so a change of the account's state reaches visitors
    within that time (the request itself is judged afresh by `callbacks.create`).
    """
    now = now or utcnow()
    is_open = schedule.is_open(settings, now)
    is_passive = account_state.status_of(site.account_id, now).is_widget_passive
    service = get_settings()
    return {
        "site": site.public_key,
        "lang": settings.language,
        "mode": "passive" if is_passive else "instant" if is_open else "scheduled",
        "eta_seconds": service.callback_eta_s,
        "texts": settings.texts.model_dump(),
        "design": settings.design.model_dump(),
        "scenarios": [] if is_passive else _scenarios(settings),
        "rules": _rules(settings),
        "exit": _exit(settings.scenarios.exit_intent),
        "offices": _offices(site.account_id, settings),
        "countries": _countries(settings),
        "operator": {"name": service.operator_name, "url": service.operator_url},
        "consent": {"text": settings.consent_text, "version": consent_version(settings.consent_text),
                    "policy_url": settings.privacy_policy_url},
        "schedule": {"is_open": is_open, "timezone": settings.timezone,
                     "slots": [] if is_open else [slot.isoformat() for slot in schedule.slots(settings, now)]},
        "analytics": {"metrika_counter_id": settings.metrika_counter_id},
        "strings": ui_strings(settings.language),
    }


def _overrides(model) -> dict:
    return {key: value for key, value in model.model_dump().items() if value is not None}


def _devices(scenario) -> list[str]:
    return [device for device, is_on in (("desktop", scenario.is_on_desktop), ("touch", scenario.is_on_touch))
            if is_on]


def _hot_groups(hot: HotVisitor) -> list[list]:
    reading = ["active_s", "gte", hot.after_active_s]
    groups = []
    if hot.keywords:
        groups.append([["keyword", "contains_any", hot.keywords], reading])
    if hot.is_ad_click_hot:
        groups.append([["source", "eq", "ad"], reading])
    if hot.is_direct_visit_hot:
        groups.append([["source", "eq", "direct"], reading])
    if hot.min_clicks_first_minute:
        groups.append([["clicks_60s", "gte", hot.min_clicks_first_minute]])
    return groups


def _long_groups(long: LongReader) -> list[list]:
    group = [["active_s", "gte", long.min_active_s], ["scroll_pct", "gte", long.min_scroll_pct],
             ["pages", "gte", long.min_pages]]
    if long.min_clicks:
        group.append(["clicks", "gte", long.min_clicks])
    return [group]


def _scenarios(settings: SiteSettings) -> list[dict]:
    """Enabled scenarios in priority order: hot visitors first, the long searcher, then exit intent."""
    compiled = (("hot_visitor", settings.scenarios.hot_visitor, _hot_groups),
                ("long_reader", settings.scenarios.long_reader, _long_groups),
                ("exit_intent", settings.scenarios.exit_intent, lambda _: [[["exit", "eq", True]]]))
    out = []
    for scenario_id, scenario, compile_groups in compiled:
        groups = compile_groups(scenario) if scenario.is_enabled else []
        if groups and _devices(scenario):
            out.append({"id": scenario_id, "devices": _devices(scenario), "when": groups,
                        "texts": _overrides(scenario.texts), "design": {}})
    return out


def _rules(settings: SiteSettings) -> list[dict]:
    return [{"id": f"rule-{number}", "keywords": rule.keywords,
             "utm": {key: value.casefold() for key, value in (("utm_source", rule.utm_source),
                                                              ("utm_campaign", rule.utm_campaign)) if value},
             "scenario": None if rule.scenario == "any" else rule.scenario,
             "texts": _overrides(rule.texts), "design": _overrides(rule.design)}
            for number, rule in enumerate(settings.keyword_rules, start=1)]


def _exit(exit_intent: ExitIntent) -> dict:
    return {"desktop": {"armed_after_s": exit_intent.armed_after_s, "top_px": 20},
            "touch": {"armed_after_s": exit_intent.touch_armed_after_s, "min_scroll_pct": 40, "scroll_up_vh": 25,
                      "is_scroll_up": exit_intent.is_scroll_up, "hidden_s": 5,
                      "is_tab_return": exit_intent.is_tab_return, "idle_s": exit_intent.idle_s}}


def _offices(account_id: int, settings: SiteSettings) -> list[dict]:
    if not settings.is_office_choice_offered or not settings.offered_department_ids:
        return []
    rows = db.session.execute(sa.select(Department.id, Department.name).where(
        Department.account_id == account_id, Department.id.in_(settings.offered_department_ids))
        .order_by(Department.name)).all()
    return [{"id": row.id, "name": row.name} for row in rows]


def _countries(settings: SiteSettings) -> dict:
    names = Locale.parse(settings.language).territories
    return {"default": settings.default_country,
            "allowed": [{"code": code, "name": names.get(code, code),
                         "dial": str(phonenumbers.country_code_for_region(code)),
                         "template": phones.template(code)} for code in settings.allowed_countries]}


ERROR_CODES = ("invalid_request", "invalid_phone", "country_not_allowed", "consent_required", "consent_outdated",
               "invalid_department", "invalid_slot", "site_not_found", "site_inactive", "origin_not_allowed",
               "blacklisted", "limit_number", "limit_session", "limit_ip", "rate_limited", "network")


def error_message(code: str) -> str:
    """The visitor-facing text of an API error code, in the current language."""
    messages = {
        "invalid_request": _("Something went wrong with the form. Please reload the page."),
        "invalid_phone": _("Please check the number: it does not look like a phone number."),
        "country_not_allowed": _("We cannot call numbers of this country."),
        "consent_required": _("Please agree to the processing of your personal data."),
        "consent_outdated": _("The consent text has changed. Please reload the page."),
        "invalid_department": _("Please choose an office from the list."),
        "invalid_slot": _("This time cannot be booked. Please choose another."),
        "site_not_found": _("The call-back service is not available on this site."),
        "site_inactive": _("The call-back service is switched off on this site."),
        "origin_not_allowed": _("The call-back service is not set up for this site."),
        "blacklisted": _("We cannot call this number."),
        "limit_number": _("This number has already been called several times. Please try later."),
        "limit_session": _("You have just asked for a call. Please wait a few minutes."),
        "limit_ip": _("Too many requests from your network. Please try later."),
        "limit_prefix": _("Too many requests to similar numbers. Please try later."),
        "number_type_not_allowed": _("We cannot call this kind of number. Please give a mobile or landline number."),
        "number_blocked": _("We cannot call this number now."),
        "request_refused": _("The request could not be sent. Please try again."),
        "rate_limited": _("Too many requests. Please try later."),
        "network": _("No connection to the server. Please try again."),
        "not_found": _("Not found."),
        "service_unavailable": _("The service is briefly unavailable. Please try again in a minute."),
    }
    return messages.get(code, _("Something went wrong. Please try again."))


@functools.cache
def ui_strings(language: str) -> dict:
    """Every fixed text of the widget in the site's language (so the widget carries no translations).

    Cached per process: the catalogues do not change while it runs. Callers must not change the result.
    """
    with force_locale(language):
        return {
            "close": _("Close"), "phone": _("Your phone number"), "country": _("Country"),
            "office": _("Office"), "any_office": _("Any office"),
            "consent": _("I agree to the processing of my personal data"), "policy": _("Privacy policy"),
            "operator": _("Calls are made by the telecom operator {name}"),
            "countdown": _("We will call you in {s} s"),
            "pick_time": _("We are closed now. Choose a convenient time and we will call you:"),
            "scheduled": _("We will call you {time}"), "sending": _("Sending…"),
            "phone_incomplete": _("Enter the whole number"),
            "status": {
                "received": _("Request received, connecting…"), "scheduled": _("Call booked"),
                "queued": _("Connecting…"), "dialing": _("Calling a manager…"),
                "manager_answered": _("A manager is on the line, calling you…"),
                "connected": _("Connected. Please answer the call."), "completed": _("The call has ended."),
                "passive": _("Your request has been passed to the managers; they will call you back."),
                "expired": _("We could not call you in time. Please try again."),
                "rejected": _("We cannot call this number."),
            },
            "outcome": {
                "success": _("Thank you for the conversation!"),
                "manager_no_answer": _("The managers could not answer now; they will call you back."),
                "client_no_answer": _("We could not reach you. We will try again."),
                "failed": _("The call failed. Please try again."),
            },
            "errors": {code: error_message(code) for code in ERROR_CODES},
        }
