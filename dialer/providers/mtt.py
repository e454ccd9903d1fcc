"""The MTT adapter: CallBack CAPI (JSON-RPC 2.0, Basic auth, `customer_name`) and the SMS gateway (Bearer).

What MTT accepts is taken from `../shared/reference/mtt-api.md` ([doc]/[code] rows); `docs/telephony.md` maps
each setting to these parameters and lists what is only inferred. No database, no Flask: the caller builds an
`MttConfig` and stores what the methods return.
"""
from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

import requests
from urllib3.exceptions import NewConnectionError

from dialer.providers.base import (
    N_,
    CallbackPlan,
    CallRecord,
    Capabilities,
    Capability,
    InvalidEvent,
    LegRecord,
    ProviderError,
    ProviderEvent,
    SmsResult,
    StartResult,
    UnsupportedPlan,
    utcnow,
)

log = logging.getLogger(__name__)

# mtt-api.md §1.1: the struct item `type` for ringing in turn is spelled `linear` by callfeed (and `lineral` by
# another client); all at once is `Ringall`. A prompt item is {type: "file", side, value}.
TYPE_SEQUENTIAL = "linear"
TYPE_SIMULTANEOUS = "Ringall"
DIRECTION_A_FIRST = 0  # callfeed sends 0: ring the managers (A) first, then the client (B)

EVENTS = {
    "start_side_A": ("answered", "A"),
    "start_side_B": ("answered", "B"),
    "end_side_A": ("ended", "A"),
    "end_side_B": ("ended", "B"),
}

# Messages people read where a setting is refused: marked with N_ for the catalogue, translated where shown.
REFUSALS = {
    Capability.EXTENSION_DTMF: N_(
        "MTT's documented CallBack API has no way to dial an extension (DTMF) after the manager's line answers, "
        "so manager lines with an extension and the extension delay cannot be used with MTT until MTT confirms one."
    ),
    Capability.SIP_LEGS: N_(
        "MTT's documented CallBack API takes a phone number for each manager line; SIP addresses cannot be used "
        "with MTT until MTT confirms a format for them."
    ),
    Capability.CANCEL: N_("MTT's documented CallBack API has no method to end a call in progress."),
}
SMS_NOT_CONFIGURED = N_("SMS through MTT is not configured (MTT_SMS_URL and MTT_SMS_TOKEN are empty).")


@dataclass(frozen=True)
class MttConfig:
    """Where and how to reach MTT. `retries` is how many times a request that surely did not reach MTT (or
    got a 5xx) is repeated; the pause doubles from `backoff_s` up to `backoff_max_s`."""

    api_url: str
    login: str
    password: str
    customer_name: str
    sms_url: str | None = None
    sms_token: str | None = None
    timeout_s: float = 10.0
    connect_timeout_s: float = 3.0
    retries: int = 3
    backoff_s: float = 0.5
    backoff_max_s: float = 4.0

    REQUIRED = ("MTT_API_URL", "MTT_LOGIN", "MTT_PASSWORD", "MTT_CUSTOMER_NAME")

    @classmethod
    def from_mapping(cls, config: Mapping) -> MttConfig:
        """Build from a Flask-style config mapping; raises ValueError naming the missing keys."""
        missing = [key for key in cls.REQUIRED if not config.get(key)]
        if missing:
            raise ValueError(f"MTT is not configured: {', '.join(missing)} missing")
        optional = {
            "timeout_s": ("MTT_TIMEOUT_S", float),
            "connect_timeout_s": ("MTT_CONNECT_TIMEOUT_S", float),
            "retries": ("MTT_RETRIES", int),
            "backoff_s": ("MTT_BACKOFF_S", float),
        }
        return cls(
            api_url=config["MTT_API_URL"],
            login=config["MTT_LOGIN"],
            password=config["MTT_PASSWORD"],
            customer_name=str(config["MTT_CUSTOMER_NAME"]),
            sms_url=config.get("MTT_SMS_URL") or None,
            sms_token=config.get("MTT_SMS_TOKEN") or None,
            **{field: cast(config[key]) for field, (key, cast) in optional.items() if config.get(key) is not None},
        )

    @property
    def send_sms_url(self) -> str | None:
        """MTT_SMS_URL may name the gateway (`.../ms-customer-gateway/v1`) or its SendSms method itself."""
        if not self.sms_url:
            return None
        url = self.sms_url.rstrip("/")
        return url if url.endswith("/SendSms") else f"{url}/SendSms"


@dataclass(frozen=True)
class _Exchange:
    """One logical request after retries: a response, or why there is none. `maybe_delivered` is True when
    the last failure happened after the request may have reached MTT (so its effect is unknown)."""

    response: requests.Response | None
    error: str
    sent: int
    maybe_delivered: bool = False


def _nothing_sent(exc: requests.RequestException) -> bool:
    """True when the request surely never reached the server: no connection was made (refused, DNS, connect
    timeout). A read timeout or a dropped connection may come after MTT acted on the request."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    if isinstance(exc, requests.ConnectionError):
        reason = getattr(exc.args[0], "reason", None) if exc.args else None
        return isinstance(reason, NewConnectionError)
    return False


def mtt_number(e164: str) -> str:
    """MTT numbers are digits with the country code and no plus (`7999...`, mtt-api.md's SendSms example)."""
    return e164.strip().removeprefix("+")


def _int(value, default: int = 0) -> int:
    """MTT's record fields come as numbers or numeric strings (callfeed reads them with int())."""
    try:
        return int(Decimal(str(value)))
    except (InvalidOperation, TypeError, ValueError):
        return default


def _kopecks(cost, currency: str | None) -> int | None:
    """MTT's `call_back_cost` in roubles → integer kopecks (half up); None when absent or not roubles."""
    if cost in (None, "") or (currency or "RUB").upper() not in {"RUB", "RUR"}:
        return None
    try:
        return int((Decimal(str(cost)) * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    except InvalidOperation:
        return None


class MttProvider:
    """The MTT CallBack adapter (see the module docstring)."""

    name = "mtt"

    def __init__(self, config: MttConfig, session: requests.Session | None = None, sleep: Callable = time.sleep):
        self.config = config
        self.session = session or requests.Session()
        self._sleep = sleep
        refused = dict(REFUSALS)
        if not (config.send_sms_url and config.sms_token):
            refused[Capability.SMS] = SMS_NOT_CONFIGURED
        self.capabilities = Capabilities(honoured=frozenset(Capability) - set(refused), refused=refused)

    # --- calls -----------------------------------------------------------------------------------------------

    def callback_params(self, plan: CallbackPlan) -> dict:
        """The `makeCallBackCallFollowme` params for a plan (raises UnsupportedPlan for what MTT cannot do)."""
        self._check_plan(plan)
        params: dict = {"customer_name": self.config.customer_name, "b_number": mtt_number(plan.client_number)}
        if plan.caller_id_for_client:
            params["caller_id"] = mtt_number(plan.caller_id_for_client)
        if plan.caller_id_for_manager:
            params["client_caller_id"] = mtt_number(plan.caller_id_for_manager)
        params["callBackURL"] = plan.events_url
        params["simpleCallBackFollowmeStruct"] = self._follow_me(plan)
        params["recordEnable"] = 1 if plan.record else 0
        params["duration"] = plan.max_duration_s
        params["direction"] = DIRECTION_A_FIRST
        if plan.description:
            params["callDescription"] = plan.description
        return params

    def _check_plan(self, plan: CallbackPlan) -> None:
        if not plan.legs:
            raise UnsupportedPlan("a callback needs at least one manager line")
        if plan.max_duration_s <= 0:
            raise UnsupportedPlan("the maximum duration must be positive")
        if any(leg.extension for leg in plan.legs) or plan.extension_delay_s:
            raise UnsupportedPlan(REFUSALS[Capability.EXTENSION_DTMF])
        if any(leg.kind == "sip" for leg in plan.legs):
            raise UnsupportedPlan(REFUSALS[Capability.SIP_LEGS])
        if plan.client_dial_delay_s and not plan.announcement_prompt_id:
            raise UnsupportedPlan(
                "MTT dials the client right after the manager answers; a delay before dialing the client is made "
                "by a side-A prompt holding the pause (dialer.providers.prompts), which this plan does not name"
            )

    def _follow_me(self, plan: CallbackPlan) -> list[dict]:
        """One struct item per manager line: in turn (orders 1..n by the plan's order) or all in one group;
        then the side-A prompt item that carries the announcement and the D3 pause."""
        legs = sorted(plan.legs, key=lambda leg: leg.order)
        simultaneous = plan.ring_mode == "simultaneous"
        items = [
            {
                "order": 1 if simultaneous else position,
                "timeout": leg.ring_timeout_s,
                "redirect_number": mtt_number(leg.address),
                "type": TYPE_SIMULTANEOUS if simultaneous else TYPE_SEQUENTIAL,
                "name": leg.name,
            }
            for position, leg in enumerate(legs, start=1)
        ]
        if plan.announcement_prompt_id:
            items.append({"type": "file", "side": "A", "value": plan.announcement_prompt_id})
        return items

    def start_callback(self, plan: CallbackPlan) -> StartResult:
        """Start the call; 5xx answers and failures to connect are retried, anything after that is final."""
        params = self.callback_params(plan)
        # A fresh connection: a pooled keep-alive connection closed by the server would fail after sending and
        # turn a plain retryable error into an unknown outcome (and a call nobody redials).
        exchange = self._rpc("makeCallBackCallFollowme", params, idempotent=False, fresh_connection=True,
                             retry_5xx=lambda r: _call_id(r) is None)
        response = exchange.response
        if response is None:
            if exchange.maybe_delivered:
                return StartResult("unknown", code="no_answer", detail=exchange.error, requests_sent=exchange.sent)
            return StartResult("rejected", code="unavailable", detail=exchange.error, requests_sent=exchange.sent)
        call_id = _call_id(response)
        if call_id:
            return StartResult("accepted", call_id=call_id, requests_sent=exchange.sent)
        error = _rpc_error(response)
        if error is not None:
            return StartResult("rejected", code=f"rpc_{error.get('code')}", detail=str(error.get("message", "")),
                               requests_sent=exchange.sent)
        if response.status_code >= 400:
            return StartResult("rejected", code=f"http_{response.status_code}", detail=response.text[:200],
                               requests_sent=exchange.sent)
        # A success answer without a call id: MTT may have dialed, so this must not be retried.
        return StartResult("unknown", code="no_call_id", detail=response.text[:200], requests_sent=exchange.sent)

    def cancel(self, call_id: str) -> None:
        raise UnsupportedPlan(REFUSALS[Capability.CANCEL])

    def fetch_call_record(self, call_id: str) -> CallRecord | None:
        """`getCallBackFollowmeCallInfo`. MTT answers `error.data` when it has no record; that is None here.
        The record is taken as final once it carries a cost (MTT documents no final flag; see docs)."""
        response = self._checked(self._rpc("getCallBackFollowmeCallInfo",
                                           {"customer_name": self.config.customer_name, "callBackCall_id": call_id}))
        error = _rpc_error(response)
        if error is not None:
            log.info("MTT has no record of call %s: %s", call_id, error)
            return None
        struct = _result(response).get("callBackFollowmeCallInfoStruct")
        if not isinstance(struct, dict):
            return None
        legs = tuple(_leg(struct, side) for side in ("A", "B"))
        cost, currency = struct.get("call_back_cost"), struct.get("call_back_currency")
        return CallRecord(
            call_id=call_id,
            legs=legs,
            is_final=cost not in (None, ""),
            cost_kop=_kopecks(cost, currency),
            cost_raw=None if cost is None else str(cost),
            currency=currency,
            description=struct.get("callDescription"),
        )

    def parse_event(self, params: Mapping[str, str], received_at: datetime | None = None) -> ProviderEvent:
        """MTT's GET `?event=start_side_A|start_side_B|end_side_A|end_side_B&id=<callBackCall_id>`."""
        raw, call_id = params.get("event", ""), params.get("id", "")
        if raw not in EVENTS:
            raise InvalidEvent(f"unknown MTT event {raw!r}")
        if not call_id:
            raise InvalidEvent("MTT event without a call id")
        kind, side = EVENTS[raw]
        return ProviderEvent(kind=kind, call_id=call_id, side=side, at=received_at or utcnow(), raw=raw)

    # --- prompts and SMS ---------------------------------------------------------------------------------------

    def upload_prompt(self, name: str, wav: bytes) -> str:
        """`setCallBackPrompt(file_name)` gives an `uploadURL`; the WAV bytes are POSTed there with the same
        Basic auth. The prompt is then named by its file name in a plan."""
        response = self._checked(self._rpc("setCallBackPrompt",
                                           {"customer_name": self.config.customer_name, "file_name": name}))
        error = _rpc_error(response)
        if error is not None:
            raise ProviderError(f"MTT refused the prompt {name}: {error}", code=f"rpc_{error.get('code')}")
        upload_url = _result(response).get("uploadURL")
        if not upload_url:
            raise ProviderError(f"MTT gave no uploadURL for the prompt {name}", code="bad_response")
        self._checked(self._send("POST", upload_url, idempotent=True, data=wav, auth=self._auth,
                                 headers={"Content-Type": "audio/wav"}))
        return name

    def send_sms(self, sender: str, destination: str, text: str) -> SmsResult:
        """POST SendSms {number, destination, text} with the Bearer token. 5xx and connection failures are
        retried; `rejected` with code `unavailable` means nothing was sent (try later), `unknown` means a
        timeout after sending (do not resend blindly)."""
        url = self.config.send_sms_url
        if not url or not self.config.sms_token:
            return SmsResult("rejected", code="not_configured", detail=SMS_NOT_CONFIGURED)
        body = {"number": sender, "destination": mtt_number(destination), "text": text}
        exchange = self._send("POST", url, idempotent=False, json=body,
                              headers={"Authorization": f"Bearer {self.config.sms_token}"})
        response = exchange.response
        if response is None:
            status = "unknown" if exchange.maybe_delivered else "rejected"
            return SmsResult(status, code="no_answer" if exchange.maybe_delivered else "unavailable",
                             detail=exchange.error)
        if response.status_code >= 400:
            return SmsResult("rejected", code=f"http_{response.status_code}", detail=response.text[:200])
        payload = _json(response)
        message_id = payload.get("message_id") or payload.get("id") if isinstance(payload, dict) else None
        return SmsResult("sent", message_id=None if message_id is None else str(message_id))

    # --- transport ---------------------------------------------------------------------------------------------

    @property
    def _auth(self) -> tuple[str, str]:
        return (self.config.login, self.config.password)

    def _rpc(self, method: str, params: dict, *, idempotent: bool = True, fresh_connection: bool = False,
             retry_5xx: Callable[[requests.Response], bool] | None = None) -> _Exchange:
        body = {"jsonrpc": "2.0", "id": uuid.uuid4().hex, "method": method, "params": params}
        headers = {"Connection": "close"} if fresh_connection else None
        return self._send("POST", self.config.api_url, idempotent=idempotent, retry_5xx=retry_5xx, json=body,
                          auth=self._auth, headers=headers)

    def _send(self, method: str, url: str, *, idempotent: bool,
              retry_5xx: Callable[[requests.Response], bool] | None = None, **kwargs) -> _Exchange:
        """One request with bounded retries. Retried: failures to connect; 5xx answers (unless `retry_5xx`
        says no); read timeouts only when `idempotent`. Never retried: a non-idempotent request that may have
        reached the server."""
        timeout = (self.config.connect_timeout_s, self.config.timeout_s)
        attempts = self.config.retries + 1
        error = ""
        for attempt in range(1, attempts + 1):
            try:
                response = self.session.request(method, url, timeout=timeout, **kwargs)
            except requests.RequestException as exc:
                error = f"{type(exc).__name__}: {exc}"
                if not idempotent and not _nothing_sent(exc):
                    return _Exchange(None, error, attempt, maybe_delivered=True)
            else:
                if response.status_code < 500 or (retry_5xx is not None and not retry_5xx(response)):
                    return _Exchange(response, "", attempt)
                error = f"HTTP {response.status_code}"
            if attempt < attempts:
                self._sleep(min(self.config.backoff_max_s, self.config.backoff_s * 2 ** (attempt - 1)))
        log.warning("MTT unreachable after %d requests to %s: %s", attempts, url, error)
        return _Exchange(None, error, attempts)

    @staticmethod
    def _checked(exchange: _Exchange) -> requests.Response:
        """For reads and uploads: a response with a JSON-RPC answer, or a ProviderError."""
        response = exchange.response
        if response is None:
            raise ProviderError(f"MTT unreachable: {exchange.error}", code="unavailable")
        if response.status_code >= 400 and _rpc_error(response) is None:
            raise ProviderError(f"MTT answered HTTP {response.status_code}", code=f"http_{response.status_code}")
        return response


def _json(response: requests.Response):
    try:
        return response.json()
    except ValueError:
        return None


def _result(response: requests.Response) -> dict:
    payload = _json(response)
    result = payload.get("result") if isinstance(payload, dict) else None
    return result if isinstance(result, dict) else {}


def _rpc_error(response: requests.Response) -> dict | None:
    payload = _json(response)
    error = payload.get("error") if isinstance(payload, dict) else None
    return error if isinstance(error, dict) else None


def _call_id(response: requests.Response) -> str | None:
    call_id = _result(response).get("callBackCall_id")
    return None if call_id in (None, "") else str(call_id)


def _leg(struct: dict, side: str) -> LegRecord:
    talk_s = _int(struct.get(f"call_back_real_length_{side}"))
    recording = struct.get(f"call_back_record_URL_{side}")
    return LegRecord(
        side=side,
        destination=str(struct.get(f"destination_{side}") or ""),
        answered=talk_s > 0,
        talk_s=talk_s,
        charged_s=_int(struct.get(f"call_back_charged_length_{side}")),
        waiting_s=_int(struct.get(f"waiting_period_{side}")),
        recording_url=recording.get("downloadURL") if isinstance(recording, dict) else None,
    )
