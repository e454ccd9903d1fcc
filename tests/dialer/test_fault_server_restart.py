"""Faults: the PostgreSQL server, or Redis, restarted (stopped, then started) while visitors keep asking for calls.

The set-up is `test_dialer_faults.py`'s: the test process serves the app (PostgreSQL + Redis) and runs the MTT
sandbox; a real worker (`python -m dialer.main`) dials it. A thread posts a widget request every 0.1 s, each for a
visitor number of its own, before, during and after the outage. The app runs as in production
(`PROPAGATE_EXCEPTIONS` off: an unexpected error is the 500 handler's answer, not the test's exception).

When the server stops, MTT holds its answers and the manager answers late, so the worker learns of the calls it
just started, and the hook of their first events, only during the outage: the worker must keep MTT's answer until
the database takes it (`dialer/tasks/dialing.py: _keep_start`), or the call id is lost with the events.

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
from telephony.mtt_helpers import TIME_SCALE
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
MTT_HOLDS_S = 1.0  # how long MTT holds its answers when the server stops; real seconds
MANAGER_ANSWERS_AFTER_S = 0.5  # then the first event of a call (under the ring timeout); real seconds
OUTAGE_ANSWERS = 20  # the outage lasts this many answers to visitors (over 2 s): longer than both


@pytest.fixture
def app_overrides(sandbox, queue_env, tmp_path, monkeypatch):
    preserve_huey_state(monkeypatch)
    return {**dialer_app_overrides(sandbox, queue_env, tmp_path), "PROPAGATE_EXCEPTIONS": False,
            "RATELIMIT_STORAGE_URI": queue_env["REDIS_URL"]}  # the request-rate limiter on Redis, as in production


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

    def answered(self, count: int) -> None:
        """Wait until `count` more answers came in."""
        target = len(self.answers) + count
        self.wait(lambda: len(self.answers) >= target)

    def wait(self, predicate, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            assert time.monotonic() < deadline and self.is_alive(), f"not in time: {self.answers[-3:]}"
            time.sleep(0.005)


def call_keys(app) -> list[str]:
    with app.app_context():
        return sorted(db.session.scalars(sa.select(LedgerTransaction.key).where(LedgerTransaction.kind == "call")))


class PostgresOutage:
    """`pg_ctl stop -m fast` (connections cut), then a start with the same options."""

    def __init__(self, request):
        self.postgres = request.getfixturevalue("postgres")
        self.options = start_options(self.postgres)

    def stop(self) -> None:
        pg_ctl(self.postgres, "-m", "fast", "stop")

    def start(self) -> None:
        pg_ctl(self.postgres, "-t", "60", "-o", self.options, "-l", os.path.join(self.postgres.datadir, "log"),
               "start")


class RedisOutage:
    """Redis stopped and started empty (no persistence): the queued tasks and the limits' counters are gone."""

    def __init__(self, request):
        self.redis = request.getfixturevalue("redis_service")

    def stop(self) -> None:
        self.redis.stop()

    def start(self) -> None:
        self.redis.start()


# What a signed-in client's page answers meanwhile: pages read the database, not Redis.
OUTAGES = [pytest.param(PostgresOutage, 503, id="postgresql-restarted"),
           pytest.param(RedisOutage, 200, id="redis-restarted")]


@pytest.mark.parametrize(("outage", "page_status"), OUTAGES)
def test_a_server_restarted_under_load_loses_no_request_and_dials_and_charges_once(
        served_app, sandbox, make_shop, fresh_limits, start_dialer_worker, request, backend, queue, outage,
        page_status):
    shop = make_shop([("Anna", ANNA)], settings={"ring_timeout_s": 60})
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
    server = outage(request)
    stopped = False
    try:
        visitors.answered(8)
        # The server stops as MTT places a call: MTT's answer to the worker and the call's first event (Anna
        # answering) reach us only during the outage.
        sandbox.slow(MTT_HOLDS_S)
        sandbox.set_rule(ANNA, answer_after_s=MANAGER_ANSWERS_AFTER_S / TIME_SCALE)
        started = sum(dialed_numbers(sandbox).values())
        visitors.wait(lambda: sum(dialed_numbers(sandbox).values()) > started)
        server.stop()
        stopped = True
        visitors.answered(OUTAGE_ANSWERS)
        page = owner.get("/cabinet/")  # the signed-in owner's cabinet: the user is loaded from the database
        server.start()
        stopped = False
        sandbox.slow(0)
        sandbox.set_rule(ANNA, answer_after_s=2)  # the sandbox's default
        visitors.answered(8)
    finally:
        sandbox.slow(0)
        visitors.stopping.set()
        visitors.join(10)
        if stopped:
            server.start()

    codes = Counter(status for _phone, status, _type, _json in visitors.answers)
    assert set(codes) <= {201, 503}, visitors.answers
    assert codes[503] >= 5 and codes[201] >= 10, codes  # the outage was seen, and requests were taken around it
    refusals = [(content_type, body) for _phone, status, content_type, body in visitors.answers if status == 503]
    assert {(content_type, body["error"]["code"]) for content_type, body in refusals} == {
        ("application/json", "service_unavailable")}
    assert page.status_code == page_status
    if page_status == 503:
        assert (page.content_type, page.headers["Retry-After"]) == ("text/html; charset=utf-8", "5")
        assert b"<h1>503</h1>" in page.data
    accepted = {body["id"]: phone for phone, status, _type, body in visitors.answers if status == 201}

    final = wait_final(served_app, accepted, [worker], timeout=60)

    assert set(final.values()) == {("completed", "success")}, final
    assert dialed_numbers(sandbox) == Counter(accepted.values())  # each accepted visitor once, no refused one
    assert call_keys(served_app) == sorted(f"call:{i}:1" for i in accepted)
    assert all(len(attempts_of(served_app, i)) == 1 for i in accepted)
