"""The requirement (X1): the limiter holds across two real web processes sharing their counters.

Two gunicorn processes (as in the Procfile: one worker, a few threads) serve the same database, on two
loopback ports: (a) PostgreSQL with Redis counters, (b) the embedded default, one SQLite file and no Redis.
The test process creates the account and its site in that database, then fires concurrent widget requests
split across both processes. All come from 127.0.0.1 (X-Forwarded-For is not trusted without PROXY_COUNT).
"""
from __future__ import annotations

import http.client
import json
import os
import subprocess
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import CallbackRequest, ConsentRecord, LimitHit, RequestStatus
from app.services import limits

PROJECT_ROOT = Path(__file__).resolve().parents[2]
GUNICORN = PROJECT_ROOT / ".venv" / "bin" / "gunicorn"
ORIGIN = "http://shop.example"
REQUESTS = 30
PHONE = "+79161234567"

pytestmark = pytest.mark.timeout(120)

STORES = [
    pytest.param("postgresql", "redis", id="postgresql+redis"),
    pytest.param("sqlite", "database", id="sqlite-embedded"),
]


# ---------------------------------------------------------------------------------------------------------------
# Two web processes


class WebProcess:
    def __init__(self, proc: subprocess.Popen, port: int, log_path: Path):
        self.proc, self.port, self.log_path = proc, port, log_path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else "(no log)"

    def is_healthy(self) -> bool:
        try:
            status, _ = http_call(self.port, "GET", "/api/v1/health", timeout=1)
        except OSError:
            return False
        return status == 200

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)


def _web_env(app, instance: Path, port: int) -> dict[str, str]:
    own = ("DATABASE_URL", "REDIS_URL", "HUEY_", "MAIL_", "PUBLIC_URL", "INSTANCE_PATH", "SECRET_KEY", "PORT",
           "WIDGET_CONFIG_CACHE_S", "API_", "PROXY_COUNT", "GEOIP_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(own)}
    env.update({
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "REDIS_URL": app.config["REDIS_URL"] or "",
        "INSTANCE_PATH": str(instance),  # shared by both, as one deployment's processes share it
        "SECRET_KEY": "test-secret",
        "PORT": str(port),
        "PUBLIC_URL": f"http://127.0.0.1:{port}",
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": "9",
        "WIDGET_CONFIG_CACHE_S": "0",
        "API_CALLBACK_RATE_LIMIT": "10000 per minute",
        "PYTHONUNBUFFERED": "1",
    })
    return env


def _start(app, instance: Path, log_path: Path) -> WebProcess:
    """`gunicorn wsgi:app` on a free port, answering /api/v1/health; another port if the first was taken."""
    from servers import free_port

    for _attempt in range(3):
        port = free_port()
        with open(log_path, "ab") as log_file:
            proc = subprocess.Popen(
                [str(GUNICORN), "--bind", f"127.0.0.1:{port}", "--workers", "1", "--threads", "8",
                 "--graceful-timeout", "3", "wsgi:app"],
                cwd=PROJECT_ROOT, env=_web_env(app, instance, port),
                stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT,
            )
        web = WebProcess(proc, port, log_path)
        deadline = time.monotonic() + 30
        while proc.poll() is None and time.monotonic() < deadline:
            if web.is_healthy():
                return web
            time.sleep(0.1)
        web.stop()
        if "Address already in use" not in web.log():
            break
    pytest.fail(f"gunicorn did not answer /api/v1/health (exit code {proc.returncode}):\n{web.log()}")


@pytest.fixture
def web_pair(app, tmp_path):
    """Two web processes on the test's database (and Redis, if the app counts there)."""
    instance = tmp_path / "instance"
    instance.mkdir()
    with app.app_context():
        db.engine.dispose()  # the test process holds no SQLite connection while the servers start
    webs: list[WebProcess] = []
    try:
        with ThreadPoolExecutor(2) as pool:
            starts = [pool.submit(_start, app, instance, tmp_path / f"web{n}.log") for n in (1, 2)]
            for start in starts:
                webs.append(start.result())
        yield webs
    finally:
        for web in webs:
            web.stop()
        for web in webs:
            print(f"--- {web.log_path.name} (port {web.port}), exit code {web.proc.returncode} ---\n{web.log()}")


# ---------------------------------------------------------------------------------------------------------------
# Requests


def http_call(port: int, method: str, path: str, body: dict | None = None, timeout: float = 20,
              headers: dict | None = None) -> tuple[int, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        headers = {"Origin": ORIGIN, **(headers or {})}
        if body is not None:
            headers["Content-Type"] = "application/json"
        conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
        response = conn.getresponse()
        data = response.read()
        return response.status, json.loads(data) if data else {}
    finally:
        conn.close()


def consent_version(web: WebProcess, site_key: str) -> str:
    status, config = http_call(web.port, "GET", f"/api/v1/widget/{site_key}")
    assert status == 200, config
    return config["consent"]["version"]


def fire(webs: list[WebProcess], site_key: str, bodies: list[dict], forged_for: bool = False) -> Counter:
    """Post every body at once, alternating between the processes: how many got which (status, error code).

    `forged_for`: each request claims another client address in X-Forwarded-For, which must not be trusted.
    """
    barrier = threading.Barrier(len(bodies), timeout=20)

    def post(n: int, body: dict) -> tuple[int, str | None]:
        headers = {"X-Forwarded-For": f"203.0.113.{n + 1}"} if forged_for else None
        barrier.wait()
        status, answer = http_call(webs[n % len(webs)].port, "POST", f"/api/v1/widget/{site_key}/callbacks", body,
                                   headers=headers)
        return status, answer.get("error", {}).get("code") if status != 201 else None

    with ThreadPoolExecutor(len(bodies)) as pool:
        return Counter(pool.map(post, range(len(bodies)), bodies))


def stored_requests(app) -> Counter:
    with app.app_context():
        rows = db.session.execute(sa.select(CallbackRequest.status, CallbackRequest.reject_reason)).all()
        return Counter((status == RequestStatus.REJECTED, reason) for status, reason in rows)


def consents(app) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(ConsentRecord))


def counted(app, key: str) -> int:
    with app.app_context():
        rows = db.session.scalar(sa.select(sa.func.count()).select_from(LimitHit).where(LimitHit.key == key))
        if app.config["REDIS_URL"]:
            rows += limits._redis().zcard(limits.REDIS_PREFIX + key)
        return rows


def blocked_as_limit(counts: Counter | dict, blocked: tuple, limit: tuple) -> dict:
    """`counts` with the number-block refusals counted as the limit's: both refuse the limit's excess."""
    merged = dict(counts)
    extra = merged.pop(blocked, 0)
    if extra:
        merged[limit] = merged.get(limit, 0) + extra
    return merged


def logged_rejections(webs: list[WebProcess], reason: str) -> int:
    return sum(web.log().count(f"callback request rejected: {reason}") for web in webs)


# ---------------------------------------------------------------------------------------------------------------
# Tests


@pytest.mark.parametrize(("backend", "counters"), STORES)
def test_one_number_from_two_processes_is_dialed_three_times(
        app, shop_site, fresh_limits, web_pair, request_body, backend, counters):
    started = time.monotonic()
    site_key, version = shop_site
    assert consent_version(web_pair[1], site_key) == version
    bodies = [request_body(PHONE, version, f"visitor-{n}") for n in range(REQUESTS)]

    answers = fire(web_pair, site_key, bodies)

    # The first refusal blocks the number (fraud.escalate): later ones may meet the block instead of the limit.
    assert blocked_as_limit(answers, (403, "number_blocked"), (429, "limit_number")) == {
        (201, None): 3, (429, "limit_number"): REQUESTS - 3}
    assert blocked_as_limit(stored_requests(app), (True, "number_blocked"), (True, "limit_number")) == {
        (False, None): 3, (True, "limit_number"): REQUESTS - 3}
    assert consents(app) == 3  # only accepted requests carry a consent record
    assert counted(app, f"number:10m:{PHONE}") == 3 and counted(app, f"number:day:{PHONE}") == 3
    assert logged_rejections(web_pair, "limit_number") + logged_rejections(web_pair, "number_blocked") == \
        REQUESTS - 3
    assert all(web.proc.poll() is None for web in web_pair)
    assert time.monotonic() - started < 30


@pytest.mark.parametrize(("backend", "counters"), STORES)
def test_one_ip_from_two_processes_gets_three_distinct_numbers(
        app, shop_site, fresh_limits, web_pair, request_body, backend, counters):
    started = time.monotonic()
    site_key, version = shop_site
    bodies = [request_body(f"+7916123{n:04d}", version, f"visitor-{n}") for n in range(REQUESTS)]

    answers = fire(web_pair, site_key, bodies, forged_for=True)

    assert answers == {(201, None): 3, (429, "limit_ip"): REQUESTS - 3}
    assert stored_requests(app) == {(False, None): 3, (True, "limit_ip"): REQUESTS - 3}
    assert consents(app) == 3
    assert counted(app, "ip:127.0.0.1") == 3
    assert logged_rejections(web_pair, "limit_ip") == REQUESTS - 3
    # The three numbers admitted may ask again from this address; a fourth still may not.
    with app.app_context():
        admitted = sorted(db.session.scalars(sa.select(CallbackRequest.phone).where(
            CallbackRequest.status != RequestStatus.REJECTED)))
    again = fire(web_pair, site_key, [request_body(admitted[0], version, "visitor-again"),
                                      request_body("+79169999999", version, "visitor-new")])
    assert again == {(201, None): 1, (429, "limit_ip"): 1}
    assert time.monotonic() - started < 30
