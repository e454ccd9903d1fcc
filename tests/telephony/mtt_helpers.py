"""Helpers for the telephony tests: an events receiver, an adapter for a sandbox, a plan factory, numbers."""
from __future__ import annotations

import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from dialer.providers.base import CallbackPlan, ManagerLeg
from dialer.providers.mtt import MttConfig, MttProvider
from dialer.sandbox.mtt import MttSandbox

LOGIN, PASSWORD, CUSTOMER, SMS_TOKEN = "cb-login", "cb-password", "883140000000001", "sms-secret"
TIME_SCALE = 0.01


class EventsReceiver:
    """A small HTTP server standing in for our `/hooks/mtt/<token>`: it records every GET and answers 200."""

    def __init__(self):
        received = self.received = []
        self._arrived = threading.Condition()
        condition = self._arrived

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's naming
                url = urllib.parse.urlsplit(self.path)
                with condition:
                    received.append((url.path, dict(urllib.parse.parse_qsl(url.query))))
                    condition.notify_all()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()

    def url(self, token: str) -> str:
        return f"http://127.0.0.1:{self._server.server_port}/hooks/mtt/{token}"

    def events_for(self, call_id: str) -> list[str]:
        return [query["event"] for _path, query in self.received if query.get("id") == call_id]

    def wait_for(self, call_id: str, count: int, timeout: float = 10.0) -> list[str]:
        with self._arrived:
            self._arrived.wait_for(lambda: len(self.events_for(call_id)) >= count, timeout)
        return self.events_for(call_id)

    def close(self):
        self._server.shutdown()
        self._server.server_close()


def new_sandbox(**overrides) -> MttSandbox:
    settings = dict(login=LOGIN, password=PASSWORD, customer_name=CUSTOMER, sms_token=SMS_TOKEN,
                    time_scale=TIME_SCALE)
    return MttSandbox(**{**settings, **overrides})


def provider_for(sandbox: MttSandbox, **overrides) -> MttProvider:
    config = dict(api_url=sandbox.api_url, login=LOGIN, password=PASSWORD, customer_name=CUSTOMER,
                  sms_url=sandbox.sms_url, sms_token=SMS_TOKEN, timeout_s=2.0, connect_timeout_s=1.0,
                  retries=2, backoff_s=0.01)
    return MttProvider(MttConfig(**{**config, **overrides}))


def mtt_settings(sandbox: MttSandbox) -> dict:
    """The app's MTT_* configuration for a sandbox: one quick retry, so a failing gateway shows at once."""
    return {"MTT_API_URL": sandbox.api_url, "MTT_LOGIN": LOGIN, "MTT_PASSWORD": PASSWORD, "MTT_CUSTOMER_NAME": CUSTOMER,
            "MTT_SMS_URL": sandbox.sms_url, "MTT_SMS_TOKEN": SMS_TOKEN, "MTT_TIMEOUT_S": 2.0,
            "MTT_CONNECT_TIMEOUT_S": 1.0, "MTT_RETRIES": 1, "MTT_BACKOFF_S": 0.01}


MANAGER_1, MANAGER_2, MANAGER_3 = "+79990000001", "+79990000002", "+79990000003"
CLIENT = "+79995550000"
SERVICE_NUMBER = "+74951234567"


def make_plan(events_url: str, *, legs=None, **fields) -> CallbackPlan:
    """A plan with two managers in turn unless told otherwise."""
    legs = legs or (ManagerLeg(1, MANAGER_1, "anna", 20), ManagerLeg(2, MANAGER_2, "boris", 15))
    defaults = dict(ring_mode="sequential", client_number=CLIENT, events_url=events_url, max_duration_s=600,
                    caller_id_for_manager=SERVICE_NUMBER, caller_id_for_client=SERVICE_NUMBER)
    return CallbackPlan(legs=tuple(legs), **{**defaults, **fields})
