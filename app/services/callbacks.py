"""Accepting a visitor's callback request (A3): every check, the stored row, the consent record (W13).

The checks run cheapest first. A request refused by the blacklist or a limit is still stored, as `rejected`
with its reason, so that abuse is visible; it is never dialed. Other refusals store nothing.
A passive account's request (rent ended or balance negative, B4, B5) is stored as `passive`, to be forwarded
by e-mail instead of dialed; the blacklist and the limits apply to it as to any other.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass, field

import sqlalchemy as sa
from flask import current_app

from app.db import insert, utcnow
from app.extensions import db
from app.models import CallbackRequest, ConsentRecord, ConsentText, RequestStatus
from app.services import DomainError, account_state, blacklist, fraud, geo, limits, phones, schedule
from app.services.settings import GlobalSettings
from app.services.site_settings import SiteSettings
from app.services.widget_config import PublishedSite, consent_digest, consent_version


@dataclass
class Visitor:
    """What the widget tells about the visitor (W6), as validated by the API's schema."""

    session_id: str | None = None
    page_url: str = ""
    source: str = ""
    keyword: str = ""
    context: dict = field(default_factory=dict)  # everything the widget sent, kept as is


@dataclass
class NewRequest:
    phone: str
    country: str | None
    is_consent_given: bool
    consent_version: str | None
    department_id: int | None
    scheduled_for: dt.datetime | None
    ip: str
    user_agent: str
    visitor: Visitor
    honeypot: str = ""  # the widget's hidden field: only a bot fills it
    form_ms: int | None = None  # the form shown → submitted, as the widget measured it


@dataclass
class Accepted:
    request: CallbackRequest
    status_token: str
    eta_seconds: int


def _refuse(code: str, message: str) -> DomainError:
    return DomainError(message, code=code)


def create(site: PublishedSite, new: NewRequest, service: GlobalSettings,
           now: dt.datetime | None = None) -> Accepted:
    """Check and store a request. Raises DomainError (nothing stored) or returns the row, maybe `rejected`."""
    now = now or utcnow()
    if not site.is_active:
        raise _refuse("site_inactive", "the site is switched off")
    settings = site.settings
    consent_text_id = _check_consent(settings, new)
    number = _check_phone(settings, new)
    _check_department(settings, new.department_id)
    is_passive = account_state.status_of(site.account_id, now).is_widget_passive
    mode, scheduled_for = ("passive", None) if is_passive else _timing(settings, new.scheduled_for, now)
    row = _new_row(site, settings, new, number, mode, scheduled_for)
    token = secrets.token_urlsafe(24)
    row.status_token_hash = _hash(token)
    reason = fraud.bot_refusal(new.honeypot, new.form_ms, service.min_submit_ms) or \
        _rejection(site.account_id, row, new.visitor.session_id, service)
    if reason:
        row.status, row.reject_reason, row.mode = RequestStatus.REJECTED, reason, ""
        current_app.logger.warning("callback request rejected: %s site=%s ip=%s", reason, site.site_id, new.ip)
    db.session.add(row)
    db.session.flush()
    if not reason:
        db.session.add(ConsentRecord(request_id=row.id, site_id=site.site_id, consent_text_id=consent_text_id,
                                     phone=row.phone, ip=new.ip, given_at=now))
    if mode == "scheduled":
        eta = _seconds_until(scheduled_for, now)
    else:
        eta = service.callback_eta_s if mode == "instant" else 0
    return Accepted(row, token, eta)


def check_token(request: CallbackRequest, token: str) -> bool:
    return hmac.compare_digest(request.status_token_hash, _hash(token or ""))


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _check_consent(settings: SiteSettings, new: NewRequest) -> int:
    if not new.is_consent_given:
        raise _refuse("consent_required", "consent to the processing of personal data is required")
    if new.consent_version != consent_version(settings.consent_text):
        raise _refuse("consent_outdated", "the consent text shown is not the current one")
    return _consent_text(settings.consent_text)


def _consent_text(body: str) -> int:
    """The id of this text's row; the first request to show a new text stores it, racing ones share it.

    Ids of rows this app has read are remembered: a consent text is never changed or deleted.
    """
    digest = consent_digest(body)
    remembered = current_app.extensions.setdefault("consent_text_ids", {})
    known = remembered.get(digest)
    if known is not None:
        return known
    found = db.session.scalar(sa.select(ConsentText.id).where(ConsentText.digest == digest))
    if found is not None:  # committed by someone: safe to remember
        remembered[digest] = found
        return found
    db.session.execute(insert(db.session, ConsentText).values(digest=digest, body=body, created_at=utcnow())
                       .on_conflict_do_nothing(index_elements=["digest"]))
    return db.session.scalar(sa.select(ConsentText.id).where(ConsentText.digest == digest))


def _check_phone(settings: SiteSettings, new: NewRequest):
    """The parsed number if the site may call it: one of its countries, and no premium or special number."""
    country = (new.country or settings.default_country).upper()
    if country not in settings.allowed_countries:
        raise _refused_number("country_not_allowed", new)
    number = phones.parse(new.phone, country)
    refusal = fraud.number_refusal(number)
    if refusal:
        raise _refused_number(refusal, new)
    if phones.region_of(number) not in settings.allowed_countries:
        raise _refused_number("country_not_allowed", new)
    return number


def _refused_number(code: str, new: NewRequest) -> DomainError:
    """A number the site may not call: logged with its reason (the number itself is not), then refused."""
    current_app.logger.warning("callback request refused: %s ip=%s", code, new.ip)
    return _refuse(code, "calls to this number are not allowed")


def _check_department(settings: SiteSettings, department_id: int | None) -> None:
    offered = settings.offered_department_ids if settings.is_office_choice_offered else []
    if department_id is not None and department_id not in offered:
        raise _refuse("invalid_department", "this office is not offered")


def _timing(settings: SiteSettings, wanted: dt.datetime | None, now: dt.datetime):
    """("instant", None) in working hours unless a time was chosen; otherwise ("scheduled", the time)."""
    if wanted is not None:
        if not schedule.is_bookable(settings, wanted, now):
            raise _refuse("invalid_slot", "this time cannot be booked")
        return "scheduled", wanted.astimezone(dt.UTC)
    if schedule.is_open(settings, now):
        return "instant", None
    first = next(iter(schedule.slots(settings, now)), None)
    if first is None:
        raise _refuse("invalid_slot", "the site has no working hours to book")
    return "scheduled", first.astimezone(dt.UTC)


def _seconds_until(at: dt.datetime, now: dt.datetime) -> int:
    return max(0, int((at - now).total_seconds()))


# A passive account's request (B4, B5) is stored to be forwarded to the owner by e-mail; it is never dialed.
_STATUS_OF_MODE = {"instant": RequestStatus.RECEIVED, "scheduled": RequestStatus.SCHEDULED,
                   "passive": RequestStatus.PASSIVE}


def _new_row(site: PublishedSite, settings: SiteSettings, new: NewRequest, number, mode: str,
             scheduled_for: dt.datetime | None) -> CallbackRequest:
    visitor = new.visitor
    return CallbackRequest(
        account_id=site.account_id, site_id=site.site_id, department_id=new.department_id,
        phone=phones.e164(number), country=phones.region_of(number), mode=mode, scheduled_for=scheduled_for,
        status=_STATUS_OF_MODE[mode],
        ip=new.ip, user_agent=new.user_agent[:400],
        region=geo.region_of_ip(new.ip, settings.language) or phones.place_of(number, settings.language)[:120],
        source=visitor.source[:16], keyword=visitor.keyword[:200], page_url=visitor.page_url[:2000],
        visitor=visitor.context)


def _rejection(account_id: int, row: CallbackRequest, session_id: str | None,
               service: GlobalSettings) -> str | None:
    """The reason code if the blacklist, a number block or an abuse limit refuses the request, else None (and
    it is counted). Breaking the per-number limit blocks the number (escalating, see fraud.escalate)."""
    if blacklist.is_blocked_any(account_id, number=row.phone, ip=row.ip):
        return "blacklisted"
    now = utcnow()
    if fraud.active_block(row.phone, now) is not None:
        return "number_blocked"
    try:
        limits.admit(limits.request_limits(row.phone, session_id, row.ip, service))
    except limits.LimitExceeded as exc:
        if exc.code == "limit_number":
            fraud.escalate(row.phone, exc.code, now, service.number_block_hours)
        return exc.code
    return None
