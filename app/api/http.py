"""The API's HTTP conventions: JSON errors with stable codes, schema-validated bodies, CORS for a site's domains."""
from __future__ import annotations

import json
from collections.abc import Iterable
from urllib.parse import urlsplit

from flask import Response, jsonify, request
from flask_babel import force_locale
from pydantic import BaseModel, ValidationError
from sqlalchemy.exc import SQLAlchemyError

from app.services.widget_config import error_message, published_site

PREFLIGHT_MAX_AGE_S = 600


class ApiError(Exception):
    """Answered as {"error": {"code", "message"}} with `status`; the message is in `language`."""

    def __init__(self, code: str, status: int, language: str = "ru", fields: dict | None = None):
        super().__init__(code)
        self.code, self.status, self.language, self.fields = code, status, language, fields


def error_response(error: ApiError) -> Response:
    with force_locale(error.language):
        body = {"code": error.code, "message": error_message(error.code)}
    if error.fields:
        body["fields"] = error.fields
    response = jsonify(error=body)
    response.status_code = error.status
    return _with_site_cors(response)


def _with_site_cors(response: Response) -> Response:
    """Let the widget read an error (a limit, a blacklist, a throttle) when its origin is the site's own."""
    origin = request.headers.get("Origin")
    site_key = (request.view_args or {}).get("site_key")
    try:
        site = published_site(site_key) if origin and site_key else None
    except SQLAlchemyError:  # the database is down: the error is still answered, without the site's CORS
        site = None
    return with_cors(response, origin) if site and origin_allowed(site.domains, origin) else response


def parse_body(model: type[BaseModel], *, any_content_type: bool = False) -> BaseModel:
    """The request's JSON body validated by `model`; ApiError `invalid_request` (400) with the fields otherwise."""
    if not any_content_type and not request.is_json:
        raise ApiError("invalid_request", 415, fields={"body": "send JSON with Content-Type: application/json"})
    try:
        data = json.loads(request.get_data(cache=False) or b"null")
    except (ValueError, UnicodeDecodeError):
        raise ApiError("invalid_request", 400, fields={"body": "not valid JSON"}) from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ApiError("invalid_request", 400, fields=_fields(exc)) from None


def _fields(error: ValidationError) -> dict[str, str]:
    return {".".join(str(part) for part in item["loc"]) or "body": item["msg"] for item in error.errors()[:20]}


def origin_allowed(domains: Iterable[str], origin: str | None) -> bool:
    """True if `origin` is one of a site's `domains` or its www. twin; a missing or "null" origin is not."""
    if not origin or origin == "null":
        return False
    parts = urlsplit(origin)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return False
    host = parts.hostname
    netloc = f"{host}:{parts.port}" if parts.port else host
    for domain in domains:
        allowed = _bare(domain)
        candidate = netloc if ":" in allowed else host
        if candidate in (allowed, f"www.{allowed}"):
            return True
    return False


def _bare(domain: str) -> str:
    """"https://Shop.example.ru/" → "shop.example.ru"; a port stays."""
    domain = domain.strip().lower()
    if "//" in domain:
        domain = urlsplit(domain).netloc
    return domain.split("/", 1)[0].removeprefix("www.")


def with_cors(response: Response, origin: str, *, preflight: bool = False) -> Response:
    response.headers["Access-Control-Allow-Origin"] = origin
    response.vary.add("Origin")
    if preflight:
        response.headers["Access-Control-Allow-Methods"] = "GET, POST"
        response.headers["Access-Control-Allow-Headers"] = "Content-Type"
        response.headers["Access-Control-Max-Age"] = str(PREFLIGHT_MAX_AGE_S)
    return response
