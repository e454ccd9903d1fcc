"""The API's routes; each validates its input, calls a service and commits once."""
from __future__ import annotations

from flask import Response, current_app, jsonify, request

from app.api import bp, openapi
from app.api.http import ApiError, error_response, origin_allowed, parse_body, with_cors
from app.api.schemas import (
    CallbackCreated,
    CallbackIn,
    CallbackStatus,
    EventsIn,
    Health,
    WidgetConfig,
)
from app.cache import cached
from app.db import on_commit
from app.extensions import csrf, db, limiter
from app.models import CallbackRequest, RequestStatus
from app.services import DomainError, callbacks, fraud, widget_events
from app.services.settings import get_settings
from app.services.widget_config import PublishedSite, published, published_site

CONFIG_MAX_AGE_S = 60
csrf.exempt(bp)


@bp.errorhandler(ApiError)
def _api_error(error: ApiError):
    return error_response(error)


def _site(site_key: str) -> PublishedSite:
    site = published_site(site_key)
    if site is None:
        raise ApiError("site_not_found", 404)
    return site


def _allowed_origin(domains, language: str) -> str:
    """The request's Origin if it is one of the site's; anything else, missing or "null" included, is refused."""
    origin = request.headers.get("Origin")
    if not origin_allowed(domains, origin):
        raise ApiError("origin_not_allowed", 403, language)
    return origin


@bp.get("/health")
@openapi.documented(summary="Liveness: the app answers", response=Health)
def health():
    return jsonify(status="ok")


@bp.get("/widget/<site_key>")
@openapi.documented(summary="The widget's configuration for a site (A2)", response=WidgetConfig,
                    errors=("site_not_found", "site_inactive", "origin_not_allowed"), cached=True)
def widget_config(site_key: str):
    config = published(site_key)
    if config is None:
        raise ApiError("site_not_found", 404)
    site = config.site
    origin = request.headers.get("Origin")
    if origin is not None and not origin_allowed(site.domains, origin):  # no Origin: a direct request
        raise ApiError("origin_not_allowed", 403, site.language)
    if not site.is_active:
        raise ApiError("site_inactive", 403, site.language)
    response = Response(config.body, mimetype="application/json")
    response.set_etag(config.etag)
    response.cache_control.public = True
    response.cache_control.max_age = CONFIG_MAX_AGE_S
    response.vary.add("Origin")
    response = response.make_conditional(request)
    return with_cors(response, origin) if origin else response


@bp.route("/widget/<site_key>/callbacks", methods=["OPTIONS"])
@bp.route("/widget/<site_key>/events", methods=["OPTIONS"])
def preflight(site_key: str):
    site = _site(site_key)
    origin = _allowed_origin(site.domains, site.language)
    return with_cors(Response(status=204), origin, preflight=True)


@bp.post("/widget/<site_key>/callbacks")
@limiter.limit(lambda: current_app.config["API_CALLBACK_RATE_LIMIT"])
@openapi.documented(summary="Ask for a call back (A3)", body=CallbackIn, response=CallbackCreated, status=201,
                    errors=("invalid_request", "invalid_phone", "country_not_allowed", "number_type_not_allowed",
                            "consent_required", "consent_outdated", "invalid_department", "invalid_slot",
                            "site_not_found", "site_inactive", "origin_not_allowed", "blacklisted",
                            "number_blocked", "limit_number", "limit_session", "limit_ip", "limit_prefix",
                            "request_refused", "rate_limited"))
def create_callback(site_key: str):
    site = _site(site_key)
    language = site.language
    origin = _allowed_origin(site.domains, language)
    body = parse_body(CallbackIn)
    try:
        accepted = callbacks.create(site, _new_request(body), cached(("global-settings",), get_settings))
    except DomainError as exc:
        db.session.rollback()
        raise ApiError(exc.code, 403 if exc.code == "site_inactive" else 422, language) from None
    row = accepted.request
    if row.status in (RequestStatus.RECEIVED, RequestStatus.PASSIVE) and current_app.config["DIALER_DIAL_ON_CREATE"]:
        on_commit(db.session, lambda request_id=row.id: _dial(request_id))
    db.session.commit()
    if row.reject_reason in fraud.BOT_REASONS:  # one answer for every bot signal: nothing to learn from it
        raise ApiError("request_refused", 403, language)
    if row.reject_reason:
        raise ApiError(row.reject_reason, 429 if row.reject_reason.startswith("limit_") else 403, language)
    created = CallbackCreated(id=row.id, status_token=accepted.status_token, mode=row.mode,
                              eta_seconds=accepted.eta_seconds, scheduled_for=row.scheduled_for)
    return with_cors(_json(created, 201), origin)


def _dial(request_id: int) -> None:
    """An instant request is dialed (a passive one forwarded by e-mail) by the worker, after commit."""
    from dialer.tasks.dialing import enqueue

    enqueue(request_id)


def _new_request(body: CallbackIn) -> callbacks.NewRequest:
    visitor = body.visitor
    context = visitor.model_dump(exclude_none=True)
    return callbacks.NewRequest(
        phone=body.phone, country=body.country, is_consent_given=body.consent,
        consent_version=body.consent_version, department_id=body.department_id,
        scheduled_for=body.scheduled_for, ip=request.remote_addr or "", user_agent=request.user_agent.string,
        honeypot=body.website, form_ms=body.form_ms,
        visitor=callbacks.Visitor(session_id=visitor.session_id, page_url=visitor.page_url or "",
                                  source=visitor.source or "", keyword=(visitor.keyword or "").casefold(),
                                  context=context))


@bp.get("/callbacks/<int:request_id>")
@openapi.documented(summary="A request's status and outcome (W11)", response=CallbackStatus,
                    errors=("not_found",), params=("token",))
def callback_status(request_id: int):
    row = db.session.get(CallbackRequest, request_id) if request_id < 2**31 else None  # beyond the INTEGER column
    if row is None or not callbacks.check_token(row, request.args.get("token", "")):
        raise ApiError("not_found", 404)
    status = CallbackStatus(id=row.id, status=row.status, outcome=row.outcome, duration_s=row.duration_s,
                            mode=row.mode, scheduled_for=row.scheduled_for)
    response = _json(status, 200)
    response.cache_control.no_store = True
    origin = request.headers.get("Origin")
    return with_cors(response, origin) if origin_allowed(row.site.domains, origin) else response


@bp.post("/widget/<site_key>/events")
@limiter.limit(lambda: current_app.config["API_EVENTS_RATE_LIMIT"])
@openapi.documented(summary="Widget events for conversion statistics (batched)", body=EventsIn, status=204,
                    errors=("invalid_request", "site_not_found", "origin_not_allowed", "rate_limited"))
def widget_events_batch(site_key: str):
    site = _site(site_key)
    origin = _allowed_origin(site.domains, site.language)
    batch = parse_body(EventsIn, any_content_type=True)
    widget_events.count(site.site_id, batch.device or "", [(e.type, e.scenario or "", e.variant or "")
                                                       for e in batch.events])
    db.session.commit()
    return with_cors(Response(status=204), origin)


@bp.get("/openapi.json")
def openapi_document():
    return jsonify(openapi.document())


def _json(model, status: int) -> Response:
    return Response(model.model_dump_json(), status=status, mimetype="application/json")
