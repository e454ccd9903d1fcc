"""A fake YooKassa API over real HTTP on loopback, for `make run` and the tests. It knows nothing of our app.

It speaks the parts of API v3 we use, in the shapes the SDK parses: `POST /v3/payments` (Basic auth,
`Idempotence-Key`: the same key gives the same payment), `GET /v3/payments/<id>`, `POST /v3/refunds`,
`GET /v3/refunds/<id>`, `GET /v3/me`. A redirect payment answers `pending` with a confirmation URL to the
checkout page here (`GET /checkout/<id>`, buttons "Pay" and "Decline"), which settles the payment, posts a
notification to the webhook URL and sends the browser to the payment's `return_url`. A charge of a saved
method (`payment_method_id`) is answered `succeeded` at once, or `canceled` when `set_card_decline` said so.

Control methods for tests: `succeed(id)`, `cancel(id, reason)`, `set_card_decline(method_id, reason)`,
`hang(seconds)` (API answers delayed; `hang(0)` releases), `fail_next(status)`, `refunds_pending = True` with
`succeed_refund(id)`; `requests` is the log of API requests received and `notifications` the notifications
sent. Set `on_notification` to a callable to receive notifications instead of POSTing them to `webhook_url`.
"""
from __future__ import annotations

import base64
import datetime as dt
import html
import json
import logging
import threading
import urllib.request
import uuid
from collections.abc import Callable
from decimal import Decimal

from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

log = logging.getLogger(__name__)

CARD = {"first6": "555555", "last4": "4444", "expiry_month": "12", "expiry_year": "2030",
        "card_type": "MasterCard", "issuer_country": "RU"}


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _error(status: int, code: str, description: str, parameter: str | None = None) -> Response:
    body = {"type": "error", "id": str(uuid.uuid4()), "code": code, "description": description}
    if parameter:
        body["parameter"] = parameter
    return Response(json.dumps(body), status=status, mimetype="application/json")


class FakeYooKassa:
    def __init__(self, shop_id: str = "sandbox", secret_key: str = "sandbox", *, host: str = "127.0.0.1",
                 port: int = 0, webhook_url: str | None = None):
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError("the sandbox listens on loopback only")
        self.shop_id, self.secret_key, self.webhook_url = shop_id, secret_key, webhook_url
        self.on_notification: Callable[[dict], None] | None = None
        self.requests: list[dict] = []
        self.notifications: list[dict] = []
        self.payments: dict[str, dict] = {}
        self.refunds: dict[str, dict] = {}
        self._asked: dict[str, dict] = {}  # payment id -> what the create request asked (return_url, saving)
        self._keys: dict[tuple[str, str], str] = {}  # (kind, Idempotence-Key) -> object id
        self._methods: dict[str, dict] = {}  # saved payment method id -> its payment_method object
        self._declines: dict[str, str] = {}
        self._fail: list[int] = []
        self._hang_s = 0.0
        self.refunds_pending = False  # True: refunds answer `pending` until `succeed_refund`
        self._release = threading.Event()
        self._lock = threading.RLock()
        self._server = make_server(host, port, self._wsgi, threaded=True)
        self._thread: threading.Thread | None = None

    # --- running -----------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The base URL (the API is under `/v3`)."""
        return f"http://{self._server.host}:{self._server.port}"

    @property
    def api_url(self) -> str:
        return f"{self.url}/v3"

    def start(self) -> FakeYooKassa:
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-yookassa", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def stop(self) -> None:
        self._release.set()
        self._server.shutdown()
        self._server.server_close()

    # --- control -----------------------------------------------------------------------------------------

    def succeed(self, payment_id: str) -> dict:
        """The payer paid: `succeeded`, the method saved if the create asked so; notifies."""
        with self._lock:
            payment = self.payments[payment_id]
            self._settle_paid(payment, self._asked[payment_id].get("save_payment_method", False))
        self._notify("payment.succeeded", payment)
        return payment

    def cancel(self, payment_id: str, reason: str = "expired_on_confirmation") -> dict:
        with self._lock:
            payment = self.payments[payment_id]
            self._settle_canceled(payment, reason)
        self._notify("payment.canceled", payment)
        return payment

    def succeed_refund(self, refund_id: str) -> dict:
        with self._lock:
            refund = self.refunds[refund_id]
            refund["status"] = "succeeded"
        self._notify("refund.succeeded", refund)
        return refund

    def set_card_decline(self, method_id: str, reason: str | None) -> None:
        """Charges of this saved method are canceled with `reason` (None: they succeed again)."""
        with self._lock:
            if reason:
                self._declines[method_id] = reason
            else:
                self._declines.pop(method_id, None)

    def hang(self, seconds: float) -> None:
        """Delay every API answer by `seconds` (0: answer at once, and release the requests waiting now)."""
        with self._lock:
            self._hang_s = seconds
            if seconds:
                self._release.clear()
            else:
                self._release.set()

    def fail_next(self, status: int) -> None:
        """Answer the next API request with this HTTP status and an error body."""
        with self._lock:
            self._fail.append(status)

    # --- HTTP --------------------------------------------------------------------------------------------

    def _wsgi(self, environ, start_response):
        request = Request(environ)
        try:
            response = self._route(request)
        except Exception:  # noqa: BLE001 - a fake must answer, not die
            log.exception("fake YooKassa failed on %s %s", request.method, request.path)
            response = _error(500, "internal_server_error", "sandbox error")
        return response(environ, start_response)

    def _route(self, request: Request) -> Response:
        parts = request.path.strip("/").split("/")
        if parts[0] == "checkout" and len(parts) == 2:
            return self._checkout(request, parts[1])
        if parts[0] != "v3":
            return _error(404, "not_found", "no such page")
        body = request.get_json(silent=True) if request.method == "POST" else None
        with self._lock:
            self.requests.append({"method": request.method, "path": request.path, "json": body,
                                  "headers": dict(request.headers)})
            hang, fail = self._hang_s, (self._fail.pop(0) if self._fail else None)
        if hang:
            self._release.wait(hang)
        if fail:
            return _error(fail, "internal_server_error" if fail >= 500 else "invalid_request", "sandbox failure")
        if not self._authorized(request):
            return _error(401, "invalid_credentials", "wrong shop id or secret key")
        return self._api(request, parts[1:], body)

    def _authorized(self, request: Request) -> bool:
        expected = base64.b64encode(f"{self.shop_id}:{self.secret_key}".encode()).decode()
        return request.headers.get("Authorization") == f"Basic {expected}"

    def _api(self, request: Request, parts: list[str], body: dict | None) -> Response:
        match request.method, parts:
            case "POST", ["payments"]:
                return self._keyed(request, "payment", lambda: self._create_payment(body or {}))
            case "GET", ["payments", payment_id] if payment_id in self.payments:
                return self._json(self.payments[payment_id])
            case "POST", ["refunds"]:
                return self._keyed(request, "refund", lambda: self._create_refund(body or {}))
            case "GET", ["refunds", refund_id] if refund_id in self.refunds:
                return self._json(self.refunds[refund_id])
            case "GET", ["me"]:
                return self._json({"account_id": self.shop_id, "test": True, "fiscalization_enabled": True,
                                   "payment_methods": ["bank_card"], "status": "enabled"})
        return _error(404, "not_found", "no such object")

    def _keyed(self, request: Request, kind: str, create: Callable[[], dict | Response]) -> Response:
        key = request.headers.get("Idempotence-Key")
        if not key:
            return _error(400, "invalid_request", "Idempotence-Key is required", "Idempotence-Key")
        notify = None
        with self._lock:
            known = self._keys.get((kind, key))
            if known:
                return self._json((self.payments if kind == "payment" else self.refunds)[known])
            made = create()
            if isinstance(made, Response):
                return made
            self._keys[(kind, key)] = made["id"]
            if made["status"] in ("succeeded", "canceled"):
                notify = (f"{kind}.{made['status']}", made)
        if notify:  # in the background, as YooKassa does: the caller may hold locks until it has the answer
            self._notify(*notify, background=True)
        return self._json(made)

    @staticmethod
    def _json(obj: dict) -> Response:
        return Response(json.dumps(obj), mimetype="application/json")

    # --- payments ----------------------------------------------------------------------------------------

    def _create_payment(self, body: dict) -> dict | Response:
        amount = body.get("amount") or {}
        try:
            value = Decimal(str(amount["value"]))
        except Exception:  # noqa: BLE001
            return _error(400, "invalid_request", "amount is required", "amount")
        if value <= 0:
            return _error(400, "invalid_request", "amount must be positive", "amount.value")
        payment_id = str(uuid.uuid4())
        payment = {"id": payment_id, "status": "pending", "paid": False, "amount": amount,
                   "description": body.get("description", ""), "metadata": body.get("metadata") or {},
                   "recipient": {"account_id": self.shop_id, "gateway_id": "100500"}, "created_at": _now(),
                   "test": True, "refundable": False}
        method_id = body.get("payment_method_id")
        if method_id:
            method = self._methods.get(method_id)
            if method is None:
                return _error(400, "invalid_request", "unknown payment method", "payment_method_id")
            self.payments[payment_id], self._asked[payment_id] = payment, {}
            payment["payment_method"] = dict(method)
            if method_id in self._declines:
                self._settle_canceled(payment, self._declines[method_id])
            else:
                self._settle_paid(payment, save=False)
            return payment
        confirmation = body.get("confirmation") or {}
        if confirmation.get("type") != "redirect":
            return _error(400, "invalid_request", "only redirect confirmation is faked", "confirmation.type")
        payment["confirmation"] = {"type": "redirect", "confirmation_url": f"{self.url}/checkout/{payment_id}"}
        self.payments[payment_id] = payment
        self._asked[payment_id] = {"return_url": confirmation.get("return_url"),
                                   "save_payment_method": bool(body.get("save_payment_method"))}
        return payment

    def _settle_paid(self, payment: dict, save: bool) -> None:
        if payment["status"] != "pending":
            return
        if "payment_method" not in payment:
            method = {"type": "bank_card", "id": str(uuid.uuid4()), "saved": save,
                      "title": f"Bank card *{CARD['last4']}", "card": dict(CARD)}
            payment["payment_method"] = method
            if save:
                self._methods[method["id"]] = method
        payment.update(status="succeeded", paid=True, captured_at=_now(), refundable=True,
                       income_amount=payment["amount"], refunded_amount={"value": "0.00", "currency": "RUB"})
        payment.pop("confirmation", None)

    def _settle_canceled(self, payment: dict, reason: str) -> None:
        if payment["status"] != "pending":
            return
        payment.update(status="canceled", paid=False,
                       cancellation_details={"party": "payment_network", "reason": reason})

    # --- refunds -----------------------------------------------------------------------------------------

    def _create_refund(self, body: dict) -> dict | Response:
        payment = self.payments.get(body.get("payment_id") or "")
        if payment is None or payment["status"] != "succeeded":
            return _error(400, "invalid_request", "the payment cannot be refunded", "payment_id")
        try:
            value = Decimal(str(body["amount"]["value"]))
        except Exception:  # noqa: BLE001
            return _error(400, "invalid_request", "amount is required", "amount")
        refunded = Decimal(payment["refunded_amount"]["value"])
        if not 0 < value <= Decimal(payment["amount"]["value"]) - refunded:
            return _error(400, "invalid_request", "the refund exceeds the payment", "amount.value")
        payment["refunded_amount"]["value"] = f"{refunded + value:.2f}"
        status = "pending" if self.refunds_pending else "succeeded"
        refund = {"id": str(uuid.uuid4()), "payment_id": payment["id"], "status": status,
                  "amount": {"value": f"{value:.2f}", "currency": "RUB"}, "created_at": _now(),
                  "description": body.get("description", "")}
        self.refunds[refund["id"]] = refund
        return refund

    # --- the payer's page and notifications ----------------------------------------------------------------

    def _checkout(self, request: Request, payment_id: str) -> Response:
        with self._lock:
            payment = self.payments.get(payment_id)
            asked = self._asked.get(payment_id, {})
        if payment is None or "return_url" not in asked:
            return Response("no such payment", status=404)
        if request.method == "GET":
            return Response(self._page(payment, asked), mimetype="text/html")
        if request.form.get("action") == "pay":
            self.succeed(payment_id)
        else:
            self.cancel(payment_id, request.form.get("reason") or "expired_on_confirmation")
        return Response(status=303, headers={"Location": asked["return_url"]})

    @staticmethod
    def _page(payment: dict, asked: dict) -> str:
        amount = html.escape(f"{payment['amount']['value']} {payment['amount'].get('currency', 'RUB')}")
        saving = "<p>The card will be saved for autopayments.</p>" if asked.get("save_payment_method") else ""
        settled = f"<p>Status: {html.escape(payment['status'])}</p>"
        return (f"<!doctype html><title>YooKassa sandbox</title><h1>YooKassa sandbox checkout</h1>"
                f"<p>{html.escape(payment['description'])}</p><p>Amount: {amount}</p>{saving}{settled}"
                f"<form method=post><button name=action value=pay>Pay</button>"
                f"<button name=action value=decline>Decline</button></form>")

    def _notify(self, event: str, obj: dict, background: bool = False) -> None:
        """Record the notification, then hand it to `on_notification` or POST it to `webhook_url` (the checkout
        page waits for that, so the return page finds the payment applied)."""
        body = {"type": "notification", "event": event, "object": json.loads(json.dumps(obj))}
        with self._lock:
            self.notifications.append(body)
        if self.on_notification is not None:
            self.on_notification(body)
        elif self.webhook_url and background:
            threading.Thread(target=self._post, args=(body,), name="fake-yookassa-notify", daemon=True).start()
        elif self.webhook_url:
            self._post(body)

    def _post(self, body: dict) -> None:
        request = urllib.request.Request(self.webhook_url, data=json.dumps(body).encode(), method="POST",
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                log.info("notification %s -> %s", body["event"], answer.status)
        except Exception as exc:  # noqa: BLE001 - YooKassa would retry; the sandbox just logs
            log.warning("notification %s to %s failed: %s", body["event"], self.webhook_url, exc)
