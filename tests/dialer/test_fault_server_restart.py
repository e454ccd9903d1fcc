"""Fault: the PostgreSQL server restarted (stopped, then started) while visitors keep asking for calls.

The set-up is `test_dialer_faults.py`'s: the test process serves the app (PostgreSQL + Redis) and runs the MTT
sandbox; a real worker (`python -m dialer.main`) dials it. A thread posts a widget request every 0.1 s, each for a
visitor number of its own, before, during and after the outage. The app runs as in production
(`PROPAGATE_EXCEPTIONS` off: an unexpected error is the 500 handler's answer, not the test's exception).

What a visitor and the client must see:
- while the database is down the API answers 503 with the stable code `service_unavailable` in JSON (the widget
  shows its message), never a 500 or an HTML page; a signed-in client's page answers a plain 503 page;
- every request the API accepted (201) reaches a final status once the database is back;
- each of those visitors is dialed once, each call charged once, and a refused visitor is never dialed.
"""
from __future__ import annotations

import itertools
import os
import shlex
import threading
import time
from collections import Counter

import pytest
import sqlalchemy as sa
from dialer_helpers import attempts_of
from helpers import login, top_up
from servers import _pg_run
from worker_harness import (  # noqa: F401
    dialed_numbers,
    dialer_app_overrides,
    preserve_huey_state,
    queue_env_fixture,
    start_dialer_worker_fixture,
    wait_final,
)

from app.extensions import db
from app.models import LedgerTransaction, User
from app.services.site_settings import DEFAULT_CONSENT
from app.services.widget_config import consent_version

pytestmark = [pytest.mark.timeout(150),
              pytest.mark.parametrize(("backend", "queue"), [pytest.param("postgresql", "redis",
                                                                           id="postgresql-db+redis-huey")])]
ANNA = "+79990000001"
ORIGIN = "https://shop.example.com"
POST_EVERY_S = 0.1


@pytest.fixture
def app_overrides(sandbox, queue_env, tmp_path, monkeypatch):
    preserve_huey_state(monkeypatch)
    return {**dialer_app_overrides(sandbox, queue_env, tmp_path), "PROPAGATE_EXCEPTIONS": False}


def pg_ctl(postgres, *args: str) -> None:
    result = _pg_run([os.path.join(postgres.bindir, "pg_ctl"), "-D", postgres.datadir, "-w", *args],
                     os.geteuid() == 0, postgres.datadir)
    assert result.returncode == 0, f"pg_ctl {args}: {result.stdout}\n{result.stderr}"


def start_options(postgres) -> str:
    """The running server's own options (postmaster.opts), to start it again the same way."""
    with open(os.path.join(postgres.datadir, "postmaster.opts")) as opts:
        return " ".join(shlex.quote(arg) for arg in shlex.split(opts.read())[1:])


class Visitors(threading.Thread):
    """Posts a widget request every POST_EVERY_S, each for a new visitor number (a prefix of its own, so the
    abuse limits see distinct visitors), and keeps every answer: (phone, status code, content type, JSON)."""

    def __init__(self, app, shop):
        super().__init__(daemon=True)
        self.client, self.key = app.test_client(), shop.public_key
        self.answers: list[tuple[str, int, str, dict | None]] = []
        self.stopping = threading.Event()

    def post(self, n: int) -> None:
        phone = f"+7999{n:03d}4567"
        body = {"phone": phone, "consent": True, "consent_version": consent_version(DEFAULT_CONSENT)}
        response = self.client.post(f"/api/v1/widget/{self.key}/callbacks", json=body, headers={"Origin": ORIGIN},
                                    environ_base={"REMOTE_ADDR": f"10.202.{n // 250}.{n % 250 + 1}"})
        self.answers.append((phone, response.status_code, response.content_type,
                             response.get_json(silent=True)))

    def run(self) -> None:
        for n in itertools.count(1):
            if self.stopping.is_set() or n > 999:
                return
            self.post(n)
            time.sleep(POST_EVERY_S)

    def answered(self, count: int, timeout: float = 20) -> None:
        """Wait until `count` more answers came in."""
        target, deadline = len(self.answers) + count, time.monotonic() + timeout
        while len(self.answers) < target:
            assert time.monotonic() < deadline and self.is_alive(), f"no answers: {self.answers[-3:]}"
            time.sleep(0.02)


def call_keys(app) -> list[str]:
    with app.app_context():
        return sorted(db.session.scalars(sa.select(LedgerTransaction.key).where(LedgerTransaction.kind == "call")))


def test_postgresql_restarted_under_load_loses_no_request_and_dials_and_charges_once(
        served_app, sandbox, make_shop, fresh_limits, start_dialer_worker, postgres, backend, queue):
    shop = make_shop([("Anna", ANNA)])
    with served_app.app_context():
        top_up(shop.account_id, 1_000_000)
        db.session.commit()
    owner = served_app.test_client()
    with served_app.app_context():
        email = db.session.scalar(sa.select(User.email).where(User.account_id == shop.account_id))
    assert login(owner, email, "correct-horse-9").status_code == 302
    worker = start_dialer_worker("-w", "2")
    visitors = Visitors(served_app, shop)
    visitors.start()
    options = start_options(postgres)
    stopped = False
    try:
        visitors.answered(8)
        pg_ctl(postgres, "-m", "fast", "stop")
        stopped = True
        visitors.answered(10)  # about a second with the database down
        page = owner.get("/cabinet/")  # the signed-in owner's cabinet: the user is loaded from the database
        pg_ctl(postgres, "-t", "60", "-o", options, "-l", os.path.join(postgres.datadir, "log"), "start")
        stopped = False
        visitors.answered(8)
    finally:
        visitors.stopping.set()
        visitors.join(10)
        if stopped:
            pg_ctl(postgres, "-t", "60", "-o", options, "-l", os.path.join(postgres.datadir, "log"), "start")

    codes = Counter(status for _phone, status, _type, _json in visitors.answers)
    assert set(codes) <= {201, 503}, visitors.answers
    assert codes[503] >= 5 and codes[201] >= 10, codes  # the outage was seen, and requests were taken around it
    refusals = [(content_type, body) for _phone, status, content_type, body in visitors.answers if status == 503]
    assert {(content_type, body["error"]["code"]) for content_type, body in refusals} == {
        ("application/json", "service_unavailable")}
    assert (page.status_code, page.content_type, page.headers["Retry-After"]) == (503, "text/html; charset=utf-8", "5")
    assert b"<h1>503</h1>" in page.data
    accepted = {body["id"]: phone for phone, status, _type, body in visitors.answers if status == 201}

    final = wait_final(served_app, accepted, [worker], timeout=60)

    assert set(final.values()) == {("completed", "success")}, final
    assert dialed_numbers(sandbox) == Counter(accepted.values())  # each accepted visitor once, no refused one
    assert call_keys(served_app) == sorted(f"call:{i}:1" for i in accepted)
    assert all(len(attempts_of(served_app, i)) == 1 for i in accepted)
