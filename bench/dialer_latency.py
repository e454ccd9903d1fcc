"""How soon the dialer calls: a visitor's request accepted → MTT asked to place the call, against a no-op task
on the same queue and consumer in the same run; and, at real time, request → the visitor's phone ringing.

    .venv/bin/python bench/dialer_latency.py [--requests 200] [--rate 5] [--ring-requests 20] [--backend pg|sqlite|both]

Real processes, as `make run` starts them: gunicorn from the Procfile's `web` line (1 worker, 8 threads) and the
worker `python -m dialer.main -w 8` (started as `python -c` lines that register the `bench.noop` task and note
each finished task, then call `dialer.main.main`), on a throwaway PostgreSQL 15 + Redis (tests/servers.py) or on
the embedded default (SQLite + Huey on an SQLite file), migrated and seeded with `demo seed` (a client account,
a 24/7 site, its manager lines, none reserved for a department), its balance topped up so that no request turns
passive. The MTT sandbox (dialer/sandbox/mtt.py) runs in this process, unchanged, as a subclass that only
notes when things happen (time.monotonic, one clock for the whole machine): when `makeCallBackCallFollowme`
arrives for a visitor's number, and when the sandbox starts ringing that number (the B leg).

(a)/(b) Open loop at --rate: request i is sent at start + i/rate (`POST /api/v1/widget/<key>/callbacks`, a
distinct valid mobile number, session and X-Forwarded-For each, gunicorn with PROXY_COUNT=1 so the abuse
limiter counts distinct addresses; API_CALLBACK_RATE_LIMIT raised); its latency runs from the 201 read by the
client to `makeCallBackCallFollowme` received by the sandbox. Half a period later a no-op task `bench.noop` is
enqueued on the same Huey queue (from this process, as gunicorn enqueues `dialer.plan_and_dial`) and run by the
same consumer; its latency runs from the enqueue's return to the task's HTTP GET received by the sandbox. So
the baseline is the queue's own pickup (Redis blocking pop; SQLite polled every 0.1 s by each worker thread)
plus one loopback HTTP request, and the ratio says what `plan_and_dial` (gate, claim, plan, commit, the RPC)
adds to it. The sandbox runs at 1/10 of real time (a call: the manager answers after 2 s, the visitor after 2 s,
they talk 30 s: 3.4 s), so earlier calls' events and their `dialer.attempt_event` tasks load the same consumer
during the measurement.

(c) Real time (time_scale 1), every line and visitor answering at once (answer_after_s 0): --ring-requests
requests one a second; latency from the 201 to the sandbox starting to ring the visitor's number. In the
sandbox that is: managers rung (0 s), `start_side_A` sent to our hook (a synchronous HTTP GET), the side-A
prompt played (none: client_delay_s is 0 and one site is never announced), then the B leg rings.
"""
from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import math
import random
import re
import subprocess
import sys
import tempfile
import threading
import time
import types
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from werkzeug.wrappers import Response  # noqa: E402
from widget_config import HOST, ROOT, VENV_BIN, app_env, app_python, gunicorn, seed  # noqa: E402

from dialer.huey_app import task  # noqa: E402
from dialer.sandbox.mtt import MttSandbox, _digits  # noqa: E402


@task("bench.noop")
def noop(url: str | None = None) -> None:
    """The baseline task: nothing, or one HTTP GET to the sandbox (which notes when it arrives)."""
    if url:
        with urllib.request.urlopen(url, timeout=10) as response:
            response.read()


# The worker: `python -m dialer.main` with `bench.noop` registered too, and each finished task noted (monotonic
# time and name; `dialer.attempt_event+sweep` for the reconciler's) in BENCH_TASK_LOG through Huey's signal.
WORKER = """
import os, sys, threading, time
sys.path.insert(0, {bench!r})
import dialer_latency  # noqa: F401  (registers bench.noop)
from huey.signals import SIGNAL_COMPLETE, SIGNAL_ERROR
from dialer.huey_app import huey
from dialer.main import main

log = open(os.environ["BENCH_TASK_LOG"], "a", buffering=1)
lock = threading.Lock()

@huey.signal(SIGNAL_COMPLETE, SIGNAL_ERROR)
def noted(signal, task, exc=None):
    name = huey._registry.task_to_string(type(task))  # e.g. dialer.attempt_event
    sweep = name == "dialer.attempt_event" and (task.args[1:2] == (True,) or task.kwargs.get("is_sweep"))
    with lock:
        log.write(f"{{time.monotonic():.6f}} {{signal}} {{name}}{{'+sweep' if sweep else ''}}\\n")

main(sys.argv[1:])
"""

SETUP = """
import json
import sqlalchemy as sa
from app.extensions import db
from app.models import ManagerLine, Site
from app.services import ledger

site = db.session.scalar(sa.select(Site).where(Site.public_key == {key!r}))
ledger.post("bench:topup", "payment", [(ledger.client_account(site.account_id), 10**10),
                                       (ledger.system_account(ledger.GIFTS), -10**10)])
db.session.commit()
lines = db.session.scalars(sa.select(ManagerLine.number).where(ManagerLine.account_id == site.account_id,
                                                               ManagerLine.is_active)).all()
print(json.dumps({{"balance_kop": ledger.balance(site.account_id), "lines": lines}}))
"""


STATUSES = """
import json
import sqlalchemy as sa
from app.extensions import db
from app.models import CallbackRequest
rows = db.session.execute(sa.select(CallbackRequest.status, sa.func.count()).group_by(CallbackRequest.status))
print(json.dumps({str(getattr(status, "value", status)): count for status, count in rows}))
"""


class TimedSandbox(MttSandbox):
    """The sandbox, unchanged, noting (monotonic) when a call is asked for a visitor's number, when that number
    starts ringing (the B leg), and when a `bench.noop` task's GET `/_bench/noop/<n>` arrives."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.dialed: dict[str, float] = {}
        self.ringing: dict[str, float] = {}
        self.noops: dict[str, float] = {}

    def _m_makeCallBackCallFollowme(self, params: dict, host_url: str) -> dict:
        self.dialed.setdefault(str(params.get("b_number")), time.monotonic())  # before its simulation starts
        return super()._m_makeCallBackCallFollowme(params, host_url)

    def behaviour(self, number: str) -> dict:
        # `_simulate` asks the B number's behaviour just before ringing it; managers' numbers are not dialed ones.
        digits = _digits(number)
        if digits in self.dialed and digits not in self.ringing:
            self.ringing[digits] = time.monotonic()
        return super().behaviour(number)

    def _route(self, request):
        if request.path.startswith("/_bench/noop/"):
            self.noops[request.path.rsplit("/", 1)[1]] = time.monotonic()
            return Response("ok")
        return super()._route(request)

    def in_progress(self) -> int:
        with self._lock:
            calls = list(self.calls.values())
        return sum(not call.finished.is_set() for call in calls)


class Stack:
    """gunicorn + the worker + the sandbox on one backend, with the demo site funded; the queue reachable here."""

    def __init__(self, tmp: str, backend: str, *, workers: int = 8, time_scale: float = 0.1,
                 rules: dict | None = None, extra_env: dict | None = None, web_workers: int | None = None):
        self.tmp, self.backend, self.workers = tmp, backend, workers
        self.time_scale, self.rules, self.extra_env = time_scale, rules, extra_env or {}
        self.web_workers = web_workers  # gunicorn's; None: the Procfile's
        self.task_log = Path(tmp) / "tasks.log"
        self.worker_log = Path(tmp) / "worker.log"

    def __enter__(self) -> Stack:
        from servers import free_port, postgres_server, redis_server

        self._stack = contextlib.ExitStack()
        stack = self._stack.__enter__()
        extra = {}
        if self.backend == "pg":
            self.pg, self.redis = stack.enter_context(postgres_server()), stack.enter_context(redis_server())
            self.pg.create_database("bench")
            extra = {"DATABASE_URL": self.pg.url("bench"), "REDIS_URL": self.redis.url}
        self.port, sandbox_port = free_port(), free_port()
        self.env = app_env(self.tmp, self.port, **{
            "PROXY_COUNT": "1", "API_CALLBACK_RATE_LIMIT": "1000000 per minute", "MTT_SANDBOX_PORT": str(sandbox_port),
            "BENCH_TASK_LOG": str(self.task_log), "PYTHONUNBUFFERED": "1", **extra, **self.extra_env})
        for key in ("MTT_API_URL", "MTT_LOGIN", "MTT_PASSWORD", "MTT_CUSTOMER_NAME", "MTT_SMS_URL", "MTT_SMS_TOKEN",
                    "HUEY_IMMEDIATE", "DIALER_DIAL_ON_CREATE"):
            self.env.pop(key, None)  # the embedded default: the sandbox on MTT_SANDBOX_PORT, demo credentials
        self.site_key = seed(self.env)["site_key"]
        self.setup = json.loads(app_python(self.env, SETUP.format(key=self.site_key)).strip().splitlines()[-1])
        self.sandbox = TimedSandbox(port=sandbox_port, time_scale=self.time_scale, rules=self.rules)
        stack.enter_context(self.sandbox)
        self.master = stack.enter_context(gunicorn(self.env, self.port, f"{self.tmp}/gunicorn.log",
                                                   self.web_workers))
        self.worker = stack.enter_context(self._worker())
        self.huey = self._queue()
        self.origin = f"http://{HOST}:{self.port}"
        self.consent_version = _get_json(self.port, f"/api/v1/widget/{self.site_key}",
                                         self.origin)["consent"]["version"]
        return self

    def __exit__(self, *exc) -> None:
        self._stack.__exit__(*exc)

    @contextlib.contextmanager
    def _worker(self):
        code = WORKER.format(bench=str(Path(__file__).resolve().parent))
        with open(self.worker_log, "ab") as log:
            proc = subprocess.Popen([str(VENV_BIN / "python"), "-c", code, "-w", str(self.workers)], cwd=ROOT,
                                    env=self.env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 30
            while "consumer" not in self.worker_log.read_text(errors="replace").lower():
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the worker did not start:\n{self.worker_log.read_text()[-3000:]}")
                time.sleep(0.1)
            yield proc
        finally:
            if proc.poll() is not None:
                print(f"the worker had exited ({proc.returncode}):\n{self.worker_log.read_text()[-3000:]}",
                      file=sys.stderr)
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def _queue(self):
        """This process's handle on the queue the worker reads (for the baseline's enqueues and its length)."""
        from dialer.huey_app import huey, init_app

        init_app(types.SimpleNamespace(config={"REDIS_URL": self.env.get("REDIS_URL"), "HUEY_IMMEDIATE": False,
                                               "HUEY_SQLITE_PATH": self.env["HUEY_SQLITE_PATH"]}))
        return huey

    def post_request(self, phone: str, address: str) -> tuple[int | str, float]:
        """The widget's POST for `phone`; (status, monotonic time the answer was read)."""
        body = {"phone": phone, "consent": True, "consent_version": self.consent_version,
                "visitor": {"session_id": uuid.uuid4().hex}}
        headers = {"Origin": self.origin, "Content-Type": "application/json", "X-Forwarded-For": address,
                   "User-Agent": "bench/dialer"}
        connection = http.client.HTTPConnection(HOST, self.port, timeout=30)
        try:
            connection.request("POST", f"/api/v1/widget/{self.site_key}/callbacks", body=json.dumps(body),
                               headers=headers)
            response = connection.getresponse()
            response.read()
            status: int | str = response.status
        except (OSError, http.client.HTTPException) as exc:
            status = type(exc).__name__
        finally:
            connection.close()
        return status, time.monotonic()

    def tasks_done(self) -> list[tuple[float, str, str]]:
        """(monotonic time, signal, task name) of every task the worker finished so far."""
        rows = []
        for line in self.task_log.read_text().splitlines() if self.task_log.exists() else []:
            at, signal, name = line.split(" ", 2)
            rows.append((float(at), signal, name))
        return rows


def numbers(run_id: int):
    """Distinct valid Russian mobile numbers (+7 903 …) and X-Forwarded-For addresses of this run."""
    for n in range(10**5):
        yield f"+7903{run_id % 100:02d}{n:05d}", f"10.{run_id % 100}.{n // 250 % 250}.{n % 250 + 1}"


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(fraction * len(ordered)) - 1)]


def summary(values: list[float]) -> str:
    if not values:
        return "no samples"
    return (f"n={len(values)} p50 {percentile(values, 0.5):7.1f} ms  p95 {percentile(values, 0.95):7.1f} ms  "
            f"p99 {percentile(values, 0.99):7.1f} ms  max {max(values):7.1f} ms")


def measure_dial(stack: Stack, count: int, rate: float, addresses) -> dict:
    """(a)/(b): `count` requests and `count` no-op tasks, interleaved, open loop at `rate`."""
    accepted: dict[str, float] = {}
    enqueued: dict[str, float] = {}
    failures: dict[str, int] = {}
    lock = threading.Lock()
    noop_url = f"{stack.sandbox.base_url}/_bench/noop/"
    tag = uuid.uuid4().hex[:6]

    def send(phone: str, address: str) -> None:
        status, at = stack.post_request(phone, address)
        with lock:
            if status == 201:
                accepted[_digits(phone)] = at
            else:
                failures[str(status)] = failures.get(str(status), 0) + 1

    start = time.monotonic() + 0.2
    with ThreadPoolExecutor(max_workers=16) as pool:
        for i in range(count):
            phone, address = next(addresses)
            _sleep_until(start + i / rate)
            pool.submit(send, phone, address)
            _sleep_until(start + (i + 0.5) / rate)
            key = f"{tag}-{i}"
            noop(noop_url + key)
            enqueued[key] = time.monotonic()
    deadline = time.monotonic() + 30
    sandbox = stack.sandbox
    while time.monotonic() < deadline and (any(k not in sandbox.dialed for k in accepted)
                                           or any(k not in sandbox.noops for k in enqueued)):
        time.sleep(0.2)
    dial = [1000 * (stack.sandbox.dialed[k] - at) for k, at in accepted.items() if k in stack.sandbox.dialed]
    base = [1000 * (stack.sandbox.noops[k] - at) for k, at in enqueued.items() if k in stack.sandbox.noops]
    return {"dial": dial, "noop": base, "failures": failures, "not_dialed": len(accepted) - len(dial),
            "noop_missing": len(enqueued) - len(base)}


def measure_ring(stack: Stack, count: int, addresses) -> dict:
    """(c): real time, everyone answering at once; request accepted → the visitor's number rings."""
    stack.sandbox.set_rules({"default": {"action": "answer", "answer_after_s": 0, "talk_s": 5}})
    stack.sandbox.time_scale = 1.0
    accepted: dict[str, float] = {}
    failures: dict[str, int] = {}
    start = time.monotonic() + 0.2
    for i in range(count):
        phone, address = next(addresses)
        _sleep_until(start + i)
        status, at = stack.post_request(phone, address)
        if status == 201:
            accepted[_digits(phone)] = at
        else:
            failures[str(status)] = failures.get(str(status), 0) + 1
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline and any(k not in stack.sandbox.ringing for k in accepted):
        time.sleep(0.2)
    ring = [1000 * (stack.sandbox.ringing[k] - at) for k, at in accepted.items() if k in stack.sandbox.ringing]
    dial = [1000 * (stack.sandbox.dialed[k] - at) for k, at in accepted.items() if k in stack.sandbox.dialed]
    return {"ring": ring, "dial": dial, "failures": failures, "not_ringing": len(accepted) - len(ring)}


def _sleep_until(at: float) -> None:
    pause = at - time.monotonic()
    if pause > 0:
        time.sleep(pause)


def _get_json(port: int, path: str, origin: str) -> dict:
    connection = http.client.HTTPConnection(HOST, port, timeout=10)
    with contextlib.closing(connection):
        connection.request("GET", path, headers={"Origin": origin})
        return json.loads(connection.getresponse().read())


def run_backend(backend: str, args) -> None:
    name = {"pg": "PostgreSQL 15 + Redis", "sqlite": "SQLite + Huey on SQLite (embedded default)"}[backend]
    with tempfile.TemporaryDirectory(prefix=f"bench-dialer-{backend}-") as tmp, \
            Stack(tmp, backend, workers=args.threads, time_scale=args.time_scale) as stack:
        addresses = numbers(random.randrange(10_000))
        measure_dial(stack, max(5, args.requests // 20), args.rate, addresses)  # warm-up
        dial = measure_dial(stack, args.requests, args.rate, addresses)
        ring = measure_ring(stack, args.ring_requests, addresses) if args.ring_requests else None
        errors = sum(signal == "error" for _at, signal, _name in stack.tasks_done())
        time.sleep(2 + 35 * args.time_scale)  # the last calls end
        statuses = json.loads(app_python(stack.env, STATUSES).strip().splitlines()[-1])
        run_s = [1000 * float(m) for m in re.findall(r"dialer\.plan_and_dial: \S+ executed in ([0-9.]+)s",
                                                      stack.worker_log.read_text(errors="replace"))]
    print(f"\n== {name}: {args.requests} requests at {args.rate:g}/s, worker -w {args.threads}, sandbox time "
          f"scale {args.time_scale:g}; lines {stack.setup['lines']}")
    print(f"accepted → makeCallBackCallFollowme  {summary(dial['dial'])}  (not dialed: {dial['not_dialed']}, "
          f"non-201: {dial['failures'] or 0})")
    print(f"baseline enqueue → no-op task's GET  {summary(dial['noop'])}  (missing: {dial['noop_missing']})")
    if dial["dial"] and dial["noop"]:
        print(f"ratio dial/no-op: p50 {percentile(dial['dial'], .5) / percentile(dial['noop'], .5):.1f}, "
              f"p99 {percentile(dial['dial'], .99) / percentile(dial['noop'], .99):.1f}")
    if ring:
        print(f"(c) real time, answers at once: accepted → B leg ringing {summary(ring['ring'])}  "
              f"(not ringing: {ring['not_ringing']}, non-201: {ring['failures'] or 0}); "
              f"accepted → makeCallBackCallFollowme {summary(ring['dial'])}")
    print(f"plan_and_dial's own run time (Huey's log, all runs incl. warm-up and (c)): {summary(run_s)}")
    print(f"task errors in the worker: {errors}; requests by status at the end: {statuses}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--rate", type=float, default=5, help="requests (and no-op tasks) per second")
    parser.add_argument("--ring-requests", type=int, default=20, help="(c): 0 to skip")
    parser.add_argument("--threads", type=int, default=8, help="the worker's threads (dialer.main -w)")
    parser.add_argument("--time-scale", type=float, default=0.1, help="the sandbox's, for (a)/(b)")
    parser.add_argument("--backend", choices=("pg", "sqlite", "both"), default="both")
    args = parser.parse_args()
    for backend in ("pg", "sqlite") if args.backend == "both" else (args.backend,):
        run_backend(backend, args)


if __name__ == "__main__":
    main()
