"""The only door to YooKassa: the `yookassa` SDK is imported here and nowhere else.

Two SDK habits are tamed here:

* **No timeout.** The SDK's `ApiClient` calls `requests` without `timeout=`, so a stalled server would block a
  web thread or a worker forever. Every call here goes through `_TimedClient`, whose session passes
  `timeout=YOOKASSA_TIMEOUT_S` to requests: a real socket timeout (connect and each read), so no thread is
  left hanging after the deadline.
* **Global configuration.** `Configuration` is class state, and `configure()` without `api_url` silently
  resets it to production. Each call configures it from `current_app.config` (api_url included) and builds
  its client under `_LOCK`; the client copies the endpoint and credentials when it is built, so the HTTP call
  itself runs outside the lock and calls from several threads do not queue.

Every failure becomes a `PaymentError`: `provider_unavailable` for what may pass by retrying later (timeouts,
refused connections, which the SDK surfaces as AttributeError, 429, 5xx, 202), and a precise code for 4xx.
"""
from __future__ import annotations

import contextvars
import functools
import ipaddress
import logging
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from flask import current_app
from yookassa import Configuration, Payment, Refund, Settings
from yookassa.client import ApiClient
from yookassa.domain.common import SecurityHelper
from yookassa.domain.exceptions import (
    ApiError,
    BadRequestError,
    ForbiddenError,
    NotFoundError,
    UnauthorizedError,
)
from yookassa.domain.notification import WebhookNotificationFactory
from yookassa.domain.response import PaymentResponse, RefundResponse

from app.services import DomainError

log = logging.getLogger(__name__)

DEFAULT_API_URL = "https://api.yookassa.ru/v3"
_LOCK = threading.Lock()
_client: contextvars.ContextVar[ApiClient] = contextvars.ContextVar("yookassa_client")
T = TypeVar("T")

# Precise codes for answers that retrying will not change.
_CLIENT_ERRORS = {BadRequestError: "provider_rejected", UnauthorizedError: "provider_auth_failed",
                  ForbiddenError: "provider_forbidden", NotFoundError: "provider_not_found"}


class PaymentError(DomainError):
    code = "payment_error"


class _TimedClient(ApiClient):
    """The SDK's client with a socket timeout on every request of its session."""

    def __init__(self, timeout_s: float):
        super().__init__()
        self.timeout_s = timeout_s

    def get_session(self):
        session = super().get_session()
        session.request = functools.partial(session.request, timeout=self.timeout_s)
        return session


class _ClientFromContext:
    """Mixed into the SDK's resource classes: use the client `_call` built for this call."""

    def __init__(self):
        self.client = _client.get()


class _Payment(_ClientFromContext, Payment):
    pass


class _Refund(_ClientFromContext, Refund):
    pass


class _Settings(_ClientFromContext, Settings):
    pass


def _new_client() -> _TimedClient:
    config = current_app.config
    with _LOCK:
        Configuration.configure(config["YOOKASSA_SHOP_ID"], config["YOOKASSA_SECRET_KEY"],
                                api_url=config.get("YOOKASSA_API_URL") or DEFAULT_API_URL)
        return _TimedClient(float(config.get("YOOKASSA_TIMEOUT_S") or 10))


def _call(what: str, fn: Callable[[], T]) -> T:
    token = _client.set(_new_client())
    try:
        return fn()
    except ApiError as exc:
        code = next((c for kind, c in _CLIENT_ERRORS.items() if isinstance(exc, kind)), "provider_unavailable")
        log.warning("YooKassa %s failed: %s %s", what, type(exc).__name__, exc.args[:1])
        raise PaymentError(f"YooKassa answered {type(exc).__name__} to {what}", code) from exc
    except ValueError as exc:  # the SDK's own validation, before any request is sent
        raise PaymentError(f"YooKassa request for {what} is invalid: {exc}", "provider_rejected") from exc
    except Exception as exc:  # noqa: BLE001 - timeouts, refused connections (AttributeError in the SDK), ...
        log.warning("YooKassa %s failed: %s: %s", what, type(exc).__name__, exc)
        raise PaymentError(f"YooKassa is unavailable ({what})", "provider_unavailable") from exc
    finally:
        _client.reset(token)


def create_payment(params: dict[str, Any], idempotence_key: str) -> PaymentResponse:
    return _call("payment create", lambda: _Payment.create(params, idempotence_key))


def find_payment(provider_id: str) -> PaymentResponse:
    return _call("payment find", lambda: _Payment.find_one(provider_id))


def create_refund(params: dict[str, Any], idempotence_key: str) -> RefundResponse:
    return _call("refund create", lambda: _Refund.create(params, idempotence_key))


def find_refund(provider_id: str) -> RefundResponse:
    return _call("refund find", lambda: _Refund.find_one(provider_id))


def shop_settings() -> dict[str, Any]:
    """GET /me: checks that the credentials work."""
    return _call("settings", lambda: dict(_Settings.get_account_settings()))


def parse_notification(body: Any):
    """The SDK's parse of a notification body; `invalid_notification` when it is not one."""
    try:
        return WebhookNotificationFactory().create(body)
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        raise PaymentError(f"not a YooKassa notification: {exc}", "invalid_notification") from exc


def is_trusted_ip(ip: str | None, extra_networks: list[str]) -> bool:
    """YooKassa's published notification networks (the SDK's list) plus `extra_networks` (CIDR)."""
    if not ip:
        return False
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    if any(address in ipaddress.ip_network(net, strict=False) for net in extra_networks):
        return True
    return SecurityHelper().is_ip_trusted(ip)
