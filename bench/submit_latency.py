"""Latency of a visitor's callback request under a fixed arrival rate, against the app's trivial endpoint.

    .venv/bin/python bench/submit_latency.py [--rate 100] [--seconds 10] [--rounds 1] [--pool 64]

The production path: gunicorn as in the Procfile (1 worker, 8 threads) on a throwaway PostgreSQL and Redis
(tests/servers.py), migrated and seeded with `demo seed`. Open-loop load: request i is due at start + i/rate
whatever the earlier ones are doing, sent from a thread pool on a new connection (one visitor, one
connection), and its latency runs from when it was due, so a stalled server shows as queueing rather than as
a politely slower client. Each `POST /api/v1/widget/<key>/callbacks` has a valid body (consent with the
configuration's version, a unique visitor session) and a distinct valid Russian mobile number; gunicorn runs
with PROXY_COUNT=1 and every request carries its own X-Forwarded-For, so the abuse limiter (Redis) counts real
distinct addresses. API_CALLBACK_RATE_LIMIT is raised out of the way. `GET /api/v1/health` is measured at the
same rate, alternating with the submissions for --rounds rounds; percentiles are over all samples.
"""
from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import math
import random
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from widget_config import HOST, app_env, cpu_seconds, gunicorn, seed, worker_pids  # noqa: E402


def open_loop(port: int, rate: float, seconds: float, pool: int, make_request) -> tuple[list[float], dict, float]:
    """Send `rate * seconds` requests, each due at its own time; latencies (ms), non-2xx by status, max lag (ms).

    `make_request(i)` gives (method, path, body, headers, expected status) of request i.
    """
    total = int(rate * seconds)
    latencies = [math.nan] * total
    failures: dict[str, int] = {}
    lock = threading.Lock()
    start = time.perf_counter() + 0.2

    def send(i: int, due: float) -> None:
        method, path, body, headers, expected = make_request(i)
        status: int | str
        connection = http.client.HTTPConnection(HOST, port, timeout=30)
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            response.read()
            status = response.status
        except (OSError, http.client.HTTPException) as exc:
            status = type(exc).__name__
        finally:
            connection.close()
        latencies[i] = 1000 * (time.perf_counter() - due)
        if status != expected:
            with lock:
                failures[str(status)] = failures.get(str(status), 0) + 1

    lag = 0.0
    with ThreadPoolExecutor(max_workers=pool) as executor:
        for i in range(total):
            due = start + i / rate
            pause = due - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            lag = max(lag, time.perf_counter() - due)
            executor.submit(send, i, due)
    return latencies, failures, 1000 * lag


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(fraction * len(ordered)) - 1)]


def run(tmp: str, args) -> None:
    from servers import free_port, postgres_server, redis_server

    with postgres_server() as pg, redis_server() as rs:
        pg.create_database("bench")
        port = free_port()
        env = app_env(tmp, port, DATABASE_URL=pg.url("bench"), REDIS_URL=rs.url, PROXY_COUNT="1",
                      API_CALLBACK_RATE_LIMIT="1000000 per minute")
        site_key = seed(env)["site_key"]
        with gunicorn(env, port, f"{tmp}/gunicorn.log", args.workers) as master:
            pids = worker_pids(master, args.workers or 1)
            origin = f"http://{HOST}:{port}"
            consent_version = _config(port, site_key, origin)["consent"]["version"]
            run_id = random.randrange(10_000)  # numbers and addresses of this run
            counter = iter(range(10**9))

            def address(i: int) -> str:
                return f"10.{run_id % 100}.{i // 250 % 250}.{i % 250 + 1}"

            def health(i: int):
                return "GET", "/api/v1/health", None, {"Origin": origin, "X-Forwarded-For": address(i)}, 200

            def submit(i: int):
                n = next(counter)
                body = {"phone": f"+7916{run_id % 100:02d}{n:05d}", "consent": True,
                        "consent_version": consent_version, "visitor": {"session_id": uuid.uuid4().hex}}
                headers = {"Origin": origin, "Content-Type": "application/json",
                           "X-Forwarded-For": address(n), "User-Agent": "bench/submit_latency"}
                return "POST", f"/api/v1/widget/{site_key}/callbacks", json.dumps(body), headers, 201

            for make_request in (health, submit):  # warm-up: a second at a tenth of the rate
                open_loop(port, max(1.0, args.rate / 10), 1, args.pool, make_request)
            samples = {"health": [], "submit": []}
            failures = {"health": {}, "submit": {}}
            cpu = {"health": 0.0, "submit": 0.0}
            lag = 0.0
            for _ in range(args.rounds):
                for name, make_request in (("health", health), ("submit", submit)):
                    cpu_before = sum(cpu_seconds(pid) for pid in pids)
                    latencies, failed, round_lag = open_loop(port, args.rate, args.seconds, args.pool, make_request)
                    cpu[name] += sum(cpu_seconds(pid) for pid in pids) - cpu_before
                    samples[name] += latencies
                    for status, count in failed.items():
                        failures[name][status] = failures[name].get(status, 0) + count
                    lag = max(lag, round_lag)
            stored = _count_requests(pg)
    print(f"{args.rate:g} requests/s for {args.seconds:g} s per endpoint, {args.rounds} round(s); latency from "
          f"each request's due time; largest send lag {lag:.1f} ms; {stored} requests stored; "
          f"CPU = the gunicorn workers' CPU time per request")
    p99 = {}
    for name, values in samples.items():
        p50, p95, p99[name] = (percentile(values, f) for f in (0.50, 0.95, 0.99))
        bad = sum(failures[name].values())
        print(f"{name:7} n={len(values):5}  p50 {p50:6.1f} ms  p95 {p95:6.1f} ms  p99 {p99[name]:6.1f} ms  "
              f"max {max(values):6.1f} ms  CPU {1000 * cpu[name] / len(values):5.2f} ms  "
              f"unexpected statuses {bad} {failures[name] or ''}")
    print(f"p99 ratio submit/health {p99['submit'] / p99['health']:.1f}")


def _config(port: int, site_key: str, origin: str) -> dict:
    connection = http.client.HTTPConnection(HOST, port, timeout=10)
    with contextlib.closing(connection):
        connection.request("GET", f"/api/v1/widget/{site_key}", headers={"Origin": origin})
        response = connection.getresponse()
        return json.loads(response.read())


def _count_requests(pg) -> int:
    with pg.connect("bench") as connection:
        return connection.execute("SELECT count(*) FROM callback_request WHERE reject_reason IS NULL "
                                  "OR reject_reason = ''").fetchone()[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=100, help="requests per second")
    parser.add_argument("--seconds", type=float, default=10, help="length of one measurement")
    parser.add_argument("--rounds", type=int, default=1, help="alternations of the two endpoints")
    parser.add_argument("--pool", type=int, default=64, help="client threads (requests in flight at most)")
    parser.add_argument("--workers", type=int, default=None, help="gunicorn workers (default: the Procfile's 1)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-submit-") as tmp:
        run(tmp, args)


if __name__ == "__main__":
    main()
