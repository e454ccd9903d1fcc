"""A stand-in for MTT over real HTTP on loopback, for `make run` and the tests. It knows nothing of our code.

It answers exactly the JSON-RPC methods and parameters of `mtt-api.md`'s tables (anything else is a JSON-RPC
error, as a strict MTT would answer), checks Basic auth and `customer_name`, and simulates each call: the
managers' lines ring in turn or all at once, each number behaves as its rule says (answer after some seconds
and talk, busy, no answer), the side-A prompt plays, the client is dialed, and MTT's events are sent to
`callBackURL` as `GET ?event=start_side_A|start_side_B|end_side_A|end_side_B&id=<callBackCall_id>`.
`getCallBackFollowmeCallInfo` answers lengths and a cost. SMS (`POST .../SendSms`, Bearer) are recorded.

Times are simulated seconds multiplied by `time_scale` (0.01 makes a 30 s call take 0.3 s).
Rules: `{"default": {...}, "numbers": {"79990000001": {"action": "busy"}}}` where a behaviour is
`{"action": "answer"|"busy"|"no_answer", "answer_after_s": 2, "talk_s": 30}`. A person sets them on the page
`GET /_sandbox` (or `PUT /_sandbox/rules` with the JSON); `GET /_sandbox/state` shows calls, events and SMS.
Faults for tests: `fail_next(count, status)` answers 5xx without acting; `hang_next(seconds, count)` acts, then
holds the answer; `slow(seconds)` holds every answer until `slow(0)`.

    python -m dialer.sandbox.mtt --port 8025 --rules rules.json --time-scale 1
"""
from __future__ import annotations

import argparse
import base64
import html
import io
import json
import logging
import math
import os
import threading
import urllib.parse
import urllib.request
import uuid
import wave
from dataclasses import dataclass, field
from decimal import Decimal

from werkzeug.exceptions import BadRequest
from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

log = logging.getLogger(__name__)

DEFAULT_BEHAVIOUR = {"action": "answer", "answer_after_s": 2.0, "talk_s": 30.0}
ACTIONS = {"answer", "busy", "no_answer"}
CLIENT_RING_TIMEOUT_S = 30.0  # MTT takes no ring timeout for the B leg; how long it rings is not documented
BUSY_AFTER_S = 1.0
PRICE_PER_STARTED_MINUTE = Decimal("1.50")  # roubles per leg, a made-up tariff for the cost field

# mtt-api.md §1.1: method → (required params, optional params)
METHODS: dict[str, tuple[frozenset, frozenset]] = {
    "makeCallBackCallFollowme": (
        frozenset({"customer_name"}),
        frozenset({"b_number", "caller_id", "client_caller_id", "callBackURL", "simpleCallBackFollowmeStruct",
                   "recordEnable", "duration", "direction", "callDescription"}),
    ),
    "setCallBackFollowme": (frozenset({"customer_name", "callBackFollowmeStruct"}),
                            frozenset({"caller_id", "defaultBNumber"})),
    "getCallBackFollowme": (frozenset({"customer_name"}), frozenset()),
    "deleteCallBackFollowme": (frozenset({"customer_name"}), frozenset()),
    "getCallBackFollowmeCallInfo": (frozenset({"customer_name", "callBackCall_id"}), frozenset()),
    "setCallBackPrompt": (frozenset({"customer_name", "file_name"}), frozenset()),
    "getCustomerBalance": (frozenset({"customer_name"}), frozenset()),
}
STRUCT_KEYS = frozenset({"order", "timeout", "redirect_number", "type", "name", "side", "value"})
QUEUE_TYPES = frozenset({"linear", "lineral", "Ringall"})  # both spellings seen in client code, see mtt-api.md
PROMPT_TYPES = frozenset({"file", "text"})
SMS_KEYS = frozenset({"number", "destination", "text"})

INVALID_REQUEST, METHOD_NOT_FOUND, INVALID_PARAMS, PARSE_ERROR = -32600, -32601, -32602, -32700
NOT_FOUND = -32004
WRONG_CUSTOMER = -32003


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args, **kwargs) -> None:
        """Requests are kept in `http_log`; a line per request on stderr would drown the test output."""


class RpcError(Exception):
    def __init__(self, code: int, message: str, data: str | None = None):
        super().__init__(message)
        self.code, self.message, self.data = code, message, data


@dataclass
class SimCall:
    """One simulated callback call; times are simulated seconds from the start."""

    call_id: str
    params: dict
    b_number: str
    managers: list[dict]
    prompts: list[dict]
    destination_a: str = ""
    waiting_a: float = 0.0
    waiting_b: float = 0.0
    length_a: float = 0.0
    length_b: float = 0.0
    events: list[str] = field(default_factory=list)
    finished: threading.Event = field(default_factory=threading.Event)

    def info(self) -> dict:
        """The `callBackFollowmeCallInfoStruct`: lengths and cost once the call has ended (cost null before)."""
        charged_a, charged_b = math.ceil(self.length_a), math.ceil(self.length_b)
        done = self.finished.is_set()
        cost = sum(math.ceil(charged / 60) * PRICE_PER_STARTED_MINUTE for charged in (charged_a, charged_b))
        return {
            "destination_A": self.destination_a,
            "destination_B": self.b_number,
            "callDescription": self.params.get("callDescription"),
            "call_back_real_length_A": str(round(self.length_a) if done else 0),
            "call_back_real_length_B": str(round(self.length_b) if done else 0),
            "call_back_charged_length_A": str(charged_a if done else 0),
            "call_back_charged_length_B": str(charged_b if done else 0),
            "waiting_period_A": str(round(self.waiting_a)),
            "waiting_period_B": str(round(self.waiting_b)),
            "call_back_cost": f"{cost:.2f}" if done else None,
            "call_back_currency": "RUB",
            "call_back_record_URL_A": None,
            "call_back_record_URL_B": None,
        }


class MttSandbox:
    """The server (start/stop or `with`), its rules, its fault switches and what it received."""

    def __init__(self, *, login: str = "sandbox", password: str = "sandbox",
                 customer_name: str = "000000000000001", sms_token: str = "sandbox-token",
                 time_scale: float = 1.0, rules: dict | None = None, host: str = "127.0.0.1", port: int = 0):
        self.login, self.password, self.customer_name, self.sms_token = login, password, customer_name, sms_token
        self.time_scale = time_scale
        self.host, self.port = host, port
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._default = dict(DEFAULT_BEHAVIOUR)
        self._numbers: dict[str, dict] = {}
        self.set_rules(rules or {})
        self.calls: dict[str, SimCall] = {}
        self.http_log: list[str] = []  # the path of every API request received, also those failed by a fault
        self.rpc_log: list[dict] = []  # every JSON-RPC request body received (also refused ones)
        self.sms: list[dict] = []
        self.prompts: dict[str, bytes] = {}
        self.events: list[dict] = []  # events sent: call_id, event, status (HTTP status or error text)
        self.preset: dict = {}
        self._fail: list[int] = []
        self._hang: list[float] = []
        self._slow_s = 0.0
        self._server = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ----------------------------------------------------------------------------------------------

    def start(self) -> MttSandbox:
        self._server = make_server(self.host, self.port, self._wsgi, threaded=True,
                                   request_handler=_QuietHandler)
        self.port = self._server.server_port
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="mtt-sandbox", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(5)
            self._server = None

    def __enter__(self) -> MttSandbox:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/index.php"

    @property
    def sms_url(self) -> str:
        return f"{self.base_url}/ms-customer-gateway/v1"

    # --- rules and faults --------------------------------------------------------------------------------------

    def set_rules(self, rules: dict) -> None:
        """Replace all rules: `{"default": behaviour, "numbers": {number: behaviour}}`."""
        default = _behaviour({**DEFAULT_BEHAVIOUR, **rules.get("default", {})})
        numbers = {_digits(n): _behaviour({**default, **b}) for n, b in rules.get("numbers", {}).items()}
        with self._lock:
            self._default, self._numbers = default, numbers

    def set_rule(self, number: str, **behaviour) -> None:
        """How one number behaves from now on, e.g. `set_rule("+7999...", action="busy")`."""
        with self._lock:
            self._numbers[_digits(number)] = _behaviour({**self._default, **behaviour})

    def load_rules(self, path: str) -> None:
        with open(path, encoding="utf-8") as handle:
            self.set_rules(json.load(handle))

    def behaviour(self, number: str) -> dict:
        with self._lock:
            return self._numbers.get(_digits(number), self._default)

    def fail_next(self, count: int = 1, status: int = 503) -> None:
        """The next `count` API requests get `status` and change nothing."""
        with self._lock:
            self._fail.extend([status] * count)

    def hang_next(self, seconds: float, count: int = 1) -> None:
        """The next `count` API requests are acted on, then their answers are held `seconds` (real time)."""
        with self._lock:
            self._hang.extend([seconds] * count)

    def slow(self, seconds: float) -> None:
        """Hold every answer `seconds` (real time) after acting; `slow(0)` ends it."""
        self._slow_s = seconds

    def wait_finished(self, call_id: str, timeout: float = 10.0) -> SimCall:
        call = self.calls[call_id]
        if not call.finished.wait(timeout):
            raise TimeoutError(f"call {call_id} still running")
        return call

    # --- HTTP ----------------------------------------------------------------------------------------------------

    def _wsgi(self, environ, start_response):
        request = Request(environ)
        response = self._route(request)
        return response(environ, start_response)

    def _route(self, request: Request) -> Response:
        path = request.path.rstrip("/")
        if path == "/_sandbox/state" and request.method == "GET":
            return _json(self.state())
        if path == "/_sandbox" and request.method == "GET":
            return self._page()
        if path in {"/_sandbox/rules", "/_sandbox/rule"} and request.method in {"PUT", "POST"}:
            try:
                if path == "/_sandbox/rules":
                    self.set_rules(request.get_json(force=True))
                    return _json({"ok": True})
                form = request.form
                self.set_rule(form["number"], action=form["action"], answer_after_s=float(form["answer_after_s"]),
                              talk_s=float(form["talk_s"]))
            except (ValueError, KeyError, TypeError, BadRequest) as exc:
                return _json({"error": str(exc)}, 400)
            return Response(status=303, headers={"Location": "/_sandbox"})
        if request.method != "POST":
            return Response("method not allowed", status=405)
        with self._lock:
            self.http_log.append(path)
            fail = self._fail.pop(0) if self._fail else None
            hang = self._hang.pop(0) if self._hang and fail is None else self._slow_s
        if fail is not None:
            return Response("<html><body>Service Temporarily Unavailable</body></html>", status=fail,
                            content_type="text/html")
        if path in {"", "/index.php"}:
            response = self._rpc(request)
        elif path.endswith("/SendSms"):
            response = self._send_sms(request)
        elif path.startswith("/prompts/"):
            response = self._upload(request, urllib.parse.unquote(path.removeprefix("/prompts/")))
        else:
            response = Response("not found", status=404)
        if hang:
            self._stopping.wait(hang)
        return response

    def _basic_auth_ok(self, request: Request) -> bool:
        expected = base64.b64encode(f"{self.login}:{self.password}".encode()).decode()
        return request.headers.get("Authorization", "") == f"Basic {expected}"

    def _rpc(self, request: Request) -> Response:
        try:
            body = json.loads(request.get_data(as_text=True))
        except ValueError:
            return _rpc_answer(None, error=RpcError(PARSE_ERROR, "Parse error"))
        with self._lock:
            self.rpc_log.append(body)
        if not self._basic_auth_ok(request):
            return Response("Unauthorized", status=401, headers={"WWW-Authenticate": 'Basic realm="MTT API"'})
        request_id = body.get("id") if isinstance(body, dict) else None
        try:
            method, params = _validated(body, self.customer_name)
            result = getattr(self, f"_m_{method}")(params, request.host_url.rstrip("/"))
        except RpcError as error:
            return _rpc_answer(request_id, error=error)
        return _rpc_answer(request_id, result=result)

    def _send_sms(self, request: Request) -> Response:
        if request.headers.get("Authorization") != f"Bearer {self.sms_token}":
            return _json({"error": "unauthorized"}, 401)
        body = request.get_json(silent=True)
        if not isinstance(body, dict) or set(body) != SMS_KEYS or not all(isinstance(v, str) and v
                                                                           for v in body.values()):
            return _json({"error": f"expected exactly {sorted(SMS_KEYS)} as non-empty strings"}, 400)
        message_id = uuid.uuid4().hex
        with self._lock:
            self.sms.append({**body, "message_id": message_id})
        return _json({"message_id": message_id})

    def _upload(self, request: Request, file_name: str) -> Response:
        if not self._basic_auth_ok(request):
            return Response("Unauthorized", status=401)
        if file_name not in self.prompts:
            return Response("no such upload", status=404)
        data = request.get_data()
        try:
            _wav_seconds(data)
        except (wave.Error, EOFError):
            return Response("not a WAV file", status=400)
        with self._lock:
            self.prompts[file_name] = data
        return _json({"result": True})

    def _page(self) -> Response:
        """A page for a person running the demo: how each number behaves (and a form to change one), the
        calls with their events, the SMS received."""
        with self._lock:
            rules = [("default", self._default), *sorted(self._numbers.items())]
        state = self.state()
        esc = html.escape
        rows = "".join(f"<tr><td>{esc(n)}</td><td>{b['action']}</td><td>{b['answer_after_s']:g}</td>"
                       f"<td>{b['talk_s']:g}</td></tr>" for n, b in rules)
        calls = "".join(f"<li>{esc(cid)}: A {esc(c['destination_A'] or '-')} → B {esc(c['destination_B'])}, "
                        f"events {esc(', '.join(c['events']))}, lengths {c['call_back_real_length_A']}/"
                        f"{c['call_back_real_length_B']} s, cost {c['call_back_cost']}</li>"
                        for cid, c in state["calls"].items())
        sms = "".join(f"<li>{esc(m['number'])} → {esc(m['destination'])}: {esc(m['text'])}</li>" for m in state["sms"])
        options = "".join(f"<option>{action}</option>" for action in sorted(ACTIONS))
        page = f"""<!doctype html><meta charset="utf-8"><title>MTT sandbox</title>
<h1>MTT sandbox</h1><p>API {esc(self.api_url)} · SMS {esc(self.sms_url)} · time scale {self.time_scale:g}</p>
<h2>How numbers behave</h2><table border="1"><tr><th>number</th><th>action</th><th>answer after, s</th>
<th>talk, s</th></tr>{rows}</table>
<form method="post" action="/_sandbox/rule"><input name="number" placeholder="79990000001" required>
<select name="action">{options}</select><input name="answer_after_s" value="2" size="4">
<input name="talk_s" value="30" size="4"><button>Set</button></form>
<h2>Calls</h2><ul>{calls}</ul><h2>SMS</h2><ul>{sms}</ul>"""
        return Response(page, content_type="text/html; charset=utf-8")

    def state(self) -> dict:
        with self._lock:
            return {
                "calls": {cid: {"events": c.events, "finished": c.finished.is_set(), **c.info()}
                          for cid, c in self.calls.items()},
                "sms": list(self.sms),
                "events": list(self.events),
                "prompts": sorted(self.prompts),
            }

    # --- methods -------------------------------------------------------------------------------------------------

    def _m_makeCallBackCallFollowme(self, params: dict, host_url: str) -> dict:
        struct = params.get("simpleCallBackFollowmeStruct")
        items = _struct(struct) if struct is not None else self.preset.get("callBackFollowmeStruct", [])
        managers = [item for item in items if item["type"] in QUEUE_TYPES]
        prompts = [item for item in items if item["type"] in PROMPT_TYPES]
        b_number = params.get("b_number") or self.preset.get("defaultBNumber")
        if not managers or not isinstance(b_number, str) or not b_number.isdigit():
            raise RpcError(INVALID_PARAMS, "Invalid params", "no A-side numbers, or b_number is not digits")
        for key in ("recordEnable", "duration", "direction"):
            if key in params and not isinstance(params[key], int):
                raise RpcError(INVALID_PARAMS, "Invalid params", f"{key} must be a number")
        for prompt in prompts:
            if prompt["type"] == "file" and prompt["value"] not in self.prompts:
                raise RpcError(INVALID_PARAMS, "Invalid params", f"unknown prompt file {prompt['value']}")
        call = SimCall(call_id=str(uuid.uuid4().int)[:18], params=params, b_number=b_number,
                       managers=managers, prompts=prompts)
        with self._lock:
            self.calls[call.call_id] = call
        threading.Thread(target=self._simulate, args=(call,), name=f"mtt-call-{call.call_id}", daemon=True).start()
        return {"callBackCall_id": call.call_id}

    def _m_getCallBackFollowmeCallInfo(self, params: dict, host_url: str) -> dict:
        call = self.calls.get(str(params["callBackCall_id"]))
        if call is None:
            raise RpcError(NOT_FOUND, "Call not found", f"no call {params['callBackCall_id']}")
        return {"callBackFollowmeCallInfoStruct": call.info()}

    def _m_setCallBackPrompt(self, params: dict, host_url: str) -> dict:
        file_name = params["file_name"]
        if not isinstance(file_name, str) or not file_name or "/" in file_name:
            raise RpcError(INVALID_PARAMS, "Invalid params", "file_name")
        with self._lock:
            self.prompts.setdefault(file_name, b"")
        return {"uploadURL": f"{host_url}/prompts/{urllib.parse.quote(file_name)}"}

    def _m_setCallBackFollowme(self, params: dict, host_url: str) -> bool:
        self.preset = {**params, "callBackFollowmeStruct": _struct(params["callBackFollowmeStruct"])}
        return True

    def _m_getCallBackFollowme(self, params: dict, host_url: str) -> list:
        return self.preset.get("callBackFollowmeStruct", [])

    def _m_deleteCallBackFollowme(self, params: dict, host_url: str) -> bool:
        self.preset = {}
        return True

    def _m_getCustomerBalance(self, params: dict, host_url: str) -> dict:
        return {"balance": "1000.00", "currency": "RUB"}

    # --- the simulation ------------------------------------------------------------------------------------------

    def _wait(self, simulated_s: float) -> None:
        if simulated_s > 0:
            self._stopping.wait(simulated_s * self.time_scale)

    def _simulate(self, call: SimCall) -> None:
        """Ring side A (in turn or by groups), play side-A prompts, ring side B, talk, hang up; send events."""
        try:
            answered = self._ring_managers(call)
            if answered is None:
                self._event(call, "end_side_A")
                return
            call.destination_a = _digits(answered["redirect_number"])
            self._event(call, "start_side_A")
            elapsed_a = sum(self._prompt_seconds(p) for p in call.prompts if p.get("side") == "A")
            self._wait(elapsed_a)
            client = self.behaviour(call.b_number)
            ring_s, answers = _ring(client, CLIENT_RING_TIMEOUT_S)
            self._wait(ring_s)
            call.waiting_b = ring_s
            elapsed_a += ring_s
            if not answers:
                call.length_a = elapsed_a
                self._event(call, "end_side_A")
                return
            self._event(call, "start_side_B")
            manager = self.behaviour(answered["redirect_number"])
            cap = call.params.get("duration")
            talk_s = min(manager["talk_s"], client["talk_s"])
            if cap:
                talk_s = max(0.0, min(talk_s, cap - elapsed_a))
            self._wait(talk_s)
            call.length_a, call.length_b = elapsed_a + talk_s, talk_s
            first = "B" if client["talk_s"] < manager["talk_s"] else "A"
            for side in (first, "B" if first == "A" else "A"):
                self._event(call, f"end_side_{side}")
        finally:
            call.finished.set()

    def _ring_managers(self, call: SimCall) -> dict | None:
        """Groups by `order` ring in turn; within a group every line rings at once and the first to answer
        takes the call. Returns the item that answered, or None."""
        for order in sorted({item["order"] for item in call.managers}):
            group = [item for item in call.managers if item["order"] == order]
            outcomes = [(*_ring(self.behaviour(item["redirect_number"]), item["timeout"]), item) for item in group]
            answering = [(ring_s, item) for ring_s, answers, item in outcomes if answers]
            if answering:
                ring_s, item = min(answering, key=lambda pair: pair[0])
                self._wait(ring_s)
                call.waiting_a += ring_s
                return item
            ring_s = max(ring_s for ring_s, _answers, _item in outcomes)
            self._wait(ring_s)
            call.waiting_a += ring_s
        return None

    def _prompt_seconds(self, prompt: dict) -> float:
        if prompt["type"] == "text":
            return len(str(prompt["value"])) / 12  # about twelve characters a second of speech
        return _wav_seconds(self.prompts.get(prompt["value"], b""))

    def _event(self, call: SimCall, event: str) -> None:
        call.events.append(event)
        url = call.params.get("callBackURL")
        if not url or self._stopping.is_set():
            return
        query = urllib.parse.urlencode({"event": event, "id": call.call_id})
        try:
            with urllib.request.urlopen(f"{url}{'&' if '?' in url else '?'}{query}", timeout=5) as response:
                status: int | str = response.status
        except Exception as exc:  # noqa: BLE001 - MTT's retry policy is unknown; the sandbox sends once
            status = f"{type(exc).__name__}: {exc}"
        with self._lock:
            self.events.append({"call_id": call.call_id, "event": event, "status": status})


def _validated(body, customer_name: str) -> tuple[str, dict]:
    """The method and params of a strict JSON-RPC 2.0 request of one of METHODS, or an RpcError."""
    if not isinstance(body, dict) or body.get("jsonrpc") != "2.0" or "id" not in body:
        raise RpcError(INVALID_REQUEST, "Invalid Request")
    method, params = body.get("method"), body.get("params")
    if method not in METHODS:
        raise RpcError(METHOD_NOT_FOUND, "Method not found", str(method))
    if not isinstance(params, dict):
        raise RpcError(INVALID_PARAMS, "Invalid params", "params must be an object")
    required, optional = METHODS[method]
    unknown = set(params) - required - optional
    missing = required - set(params)
    if unknown or missing:
        detail = "; ".join(filter(None, [unknown and f"unknown parameter {', '.join(sorted(unknown))}",
                                         missing and f"missing parameter {', '.join(sorted(missing))}"]))
        raise RpcError(INVALID_PARAMS, "Invalid params", detail)
    if str(params["customer_name"]) != customer_name:
        raise RpcError(WRONG_CUSTOMER, "Access denied", "customer_name does not belong to this login")
    return method, params


def _struct(items) -> list[dict]:
    """Follow-me struct items as mtt-api.md describes them: queue items and side prompts."""
    if not isinstance(items, list) or not items:
        raise RpcError(INVALID_PARAMS, "Invalid params", "the follow-me struct must be a non-empty array")
    for item in items:
        if not isinstance(item, dict) or set(item) - STRUCT_KEYS:
            raise RpcError(INVALID_PARAMS, "Invalid params", f"struct item {item!r}: unknown keys")
        kind = item.get("type")
        if kind in QUEUE_TYPES:
            valid = (isinstance(item.get("order"), int) and item["order"] >= 1
                     and isinstance(item.get("timeout"), int) and item["timeout"] > 0
                     and isinstance(item.get("redirect_number"), str) and item["redirect_number"].isdigit())
        elif kind in PROMPT_TYPES:
            valid = item.get("side") in {"A", "B"} and isinstance(item.get("value"), str) and bool(item["value"])
        else:
            valid = False
        if not valid:
            raise RpcError(INVALID_PARAMS, "Invalid params", f"struct item {item!r}")
    return items


def _ring(behaviour: dict, timeout_s: float) -> tuple[float, bool]:
    """How long a line rings and whether it answers within `timeout_s`."""
    if behaviour["action"] == "busy":
        return BUSY_AFTER_S, False
    if behaviour["action"] == "answer" and behaviour["answer_after_s"] <= timeout_s:
        return behaviour["answer_after_s"], True
    return float(timeout_s), False


def _behaviour(raw: dict) -> dict:
    unknown = set(raw) - set(DEFAULT_BEHAVIOUR)
    if unknown or raw["action"] not in ACTIONS:
        raise ValueError(f"bad sandbox rule {raw!r}: keys {sorted(DEFAULT_BEHAVIOUR)}, action one of {ACTIONS}")
    return {"action": raw["action"], "answer_after_s": float(raw["answer_after_s"]), "talk_s": float(raw["talk_s"])}


def _digits(number: str) -> str:
    return number.strip().removeprefix("+")


def _wav_seconds(data: bytes) -> float:
    if not data:
        return 0.0
    with wave.open(io.BytesIO(data)) as reader:
        return reader.getnframes() / reader.getframerate()


def _json(payload, status: int = 200) -> Response:
    return Response(json.dumps(payload, ensure_ascii=False), status=status, content_type="application/json")


def _rpc_answer(request_id, *, result=None, error: RpcError | None = None) -> Response:
    body: dict = {"jsonrpc": "2.0", "id": request_id}
    if error is None:
        body["result"] = result
    else:
        body["error"] = {"code": error.code, "message": error.message, "data": error.data}
    return _json(body)


def main(argv: list[str] | None = None) -> None:
    """Run the sandbox until interrupted; credentials default to MTT_* environment variables or `sandbox`."""
    parser = argparse.ArgumentParser(prog="python -m dialer.sandbox.mtt", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8025)
    parser.add_argument("--rules", help="JSON rules file: {default: {...}, numbers: {number: {...}}}")
    parser.add_argument("--time-scale", type=float, default=1.0)
    parser.add_argument("--login", default=os.environ.get("MTT_LOGIN", "sandbox"))
    parser.add_argument("--password", default=os.environ.get("MTT_PASSWORD", "sandbox"))
    parser.add_argument("--customer-name", default=os.environ.get("MTT_CUSTOMER_NAME", "000000000000001"))
    parser.add_argument("--sms-token", default=os.environ.get("MTT_SMS_TOKEN", "sandbox-token"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    sandbox = MttSandbox(login=args.login, password=args.password, customer_name=args.customer_name,
                         sms_token=args.sms_token, time_scale=args.time_scale, host=args.host, port=args.port)
    if args.rules:
        sandbox.load_rules(args.rules)
    sandbox.start()
    print(f"MTT sandbox: API {sandbox.api_url}  SMS {sandbox.sms_url}  page {sandbox.base_url}/_sandbox",
          flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        sandbox.stop()


if __name__ == "__main__":
    main()
