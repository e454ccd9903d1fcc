"""Latency of MTT's call events at `/hooks/mtt/<token>` under a fixed arrival rate, against the app's trivial
endpoint in the same run.

    .venv/bin/python bench/provider_events.py [--rate 100] [--seconds 10] [--rounds 1] [--pool 64] [--pg]

The app as `make run` serves it: gunicorn from the Procfile (1 worker, 8 threads) on a fresh SQLite (or, with
--pg, a throwaway PostgreSQL and Redis), migrated and seeded with `demo seed`; no Huey consumer runs, so the
tasks the end events enqueue stay queued (the enqueue itself, into Huey's SQLite file or Redis, is measured).
A setup step stores callback requests of the demo site with one attempt each (an accepted MTT call id and a
secret token). The events are what MTT sends for answered calls, `GET ?event=start_side_A|start_side_B|
end_side_A|end_side_B&id=<call id>` in that order per call, with one event in five sent a second time later (a
redelivery: answered 200, stored once). Open-loop load as in `bench/submit_latency.py` (each request due at
start + i/rate, on a new connection, latency from its due time), alternating with `GET /api/v1/health` at the
same rate; percentiles over all samples. Afterwards the stored events are counted: one per distinct event.
"""
from __future__ import annotations

import argparse
import contextlib
import heapq
import json
import random
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from submit_latency import open_loop, percentile  # noqa: E402
from widget_config import app_env, app_python, cpu_seconds, gunicorn, seed, worker_pids  # noqa: E402

EVENTS = ("start_side_A", "start_side_B", "end_side_A", "end_side_B")

MAKE_ATTEMPTS = """
import json
import sqlalchemy as sa
from app.extensions import db
from app.models import CallbackRequest, Site
from app.services import telephony

site = db.session.scalar(sa.select(Site).where(Site.public_key == {key!r}))
out = []
for n in range({count}):
    request = CallbackRequest(account_id=site.account_id, site_id=site.id, phone="+79160000000", country="RU",
                              mode="now", status_token_hash="0" * 64, ip="127.0.0.1")
    db.session.add(request)
    db.session.flush()
    attempt, token = telephony.new_attempt(request.id, 1)
    attempt.provider_call_id, attempt.start_outcome, attempt.status = f"bench-{{n}}", "accepted", "dialing"
    out.append([token, attempt.provider_call_id])
db.session.commit()
print(json.dumps(out))
"""

COUNT_EVENTS = """
import sqlalchemy as sa
from app.extensions import db
from app.models import ProviderEvent
print(db.session.scalar(sa.select(sa.func.count()).select_from(ProviderEvent)))
"""


def event_paths(attempts: list[list[str]], total: int, seed_value: int) -> list[str]:
    """`total` event URLs in MTT's order per call; one in five is sent again 1-8 requests later."""
    rng = random.Random(seed_value)
    paths: list[str] = []
    repeats: list[tuple[int, int, str]] = []  # (due position, tie-breaker, path)
    for token, call_id in attempts:
        for event in EVENTS:
            path = f"/hooks/mtt/{token}?event={event}&id={call_id}"
            paths.append(path)
            if rng.random() < 0.2:
                heapq.heappush(repeats, (len(paths) + rng.randrange(1, 9), len(paths), path))
            while repeats and repeats[0][0] <= len(paths):
                paths.append(heapq.heappop(repeats)[2])
            if len(paths) >= total:
                return paths[:total]
    return paths


def run(tmp: str, args) -> None:
    from servers import free_port, postgres_server, redis_server

    port = free_port()
    with contextlib.ExitStack() as stack:
        extra = {}
        if args.pg:
            pg, rs = stack.enter_context(postgres_server()), stack.enter_context(redis_server())
            pg.create_database("bench")
            extra = {"DATABASE_URL": pg.url("bench"), "REDIS_URL": rs.url}
        env = app_env(tmp, port, **extra)
        site_key = seed(env)["site_key"]
        total = int(args.rate * args.seconds) * args.rounds
        attempts = json.loads(app_python(env, MAKE_ATTEMPTS.format(key=site_key, count=total // 4 + 1))
                              .strip().splitlines()[-1])
        paths = event_paths(attempts, total, args.seed)
        with gunicorn(env, port, f"{tmp}/gunicorn.log") as master:
            [pid] = worker_pids(master, 1)
            events = iter(paths)

            def health(i: int):
                return "GET", "/api/v1/health", None, {}, 200

            def event(i: int):
                return "GET", next(events), None, {"User-Agent": "bench/provider_events"}, 200

            open_loop(port, max(1.0, args.rate / 10), 1, args.pool, health)  # warm-up
            samples = {"health": [], "event": []}
            failures = {"health": {}, "event": {}}
            cpu = {"health": 0.0, "event": 0.0}
            for _ in range(args.rounds):
                for name, make_request in (("health", health), ("event", event)):
                    before = cpu_seconds(pid)
                    latencies, failed, _lag = open_loop(port, args.rate, args.seconds, args.pool, make_request)
                    cpu[name] += cpu_seconds(pid) - before
                    samples[name] += latencies
                    for status, count in failed.items():
                        failures[name][status] = failures[name].get(status, 0) + count
        stored = int(app_python(env, COUNT_EVENTS).strip().splitlines()[-1])
    database = "PostgreSQL + Redis" if args.pg else "SQLite (embedded default)"
    print(f"{database}: {args.rate:g} requests/s for {args.seconds:g} s per endpoint, {args.rounds} round(s); "
          f"{len(paths)} events sent, {len(set(paths))} distinct, {stored} stored")
    p50, p99 = {}, {}
    for name, values in samples.items():
        p50[name], p95, p99[name] = (percentile(values, f) for f in (0.50, 0.95, 0.99))
        print(f"{name:7} n={len(values):5}  p50 {p50[name]:6.1f} ms  p95 {p95:6.1f} ms  p99 {p99[name]:6.1f} ms  "
              f"max {max(values):6.1f} ms  CPU {1000 * cpu[name] / len(values):5.2f} ms  "
              f"unexpected statuses {sum(failures[name].values())} {failures[name] or ''}")
    print(f"ratio event/health: p50 {p50['event'] / p50['health']:.1f}, p99 {p99['event'] / p99['health']:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=100, help="requests per second")
    parser.add_argument("--seconds", type=float, default=10, help="length of one measurement")
    parser.add_argument("--rounds", type=int, default=1, help="alternations of the two endpoints")
    parser.add_argument("--pool", type=int, default=64, help="client threads (requests in flight at most)")
    parser.add_argument("--pg", action="store_true", help="PostgreSQL and Redis instead of the embedded SQLite")
    parser.add_argument("--seed", type=int, default=1, help="which events are repeated")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-events-") as tmp:
        run(tmp, args)


if __name__ == "__main__":
    main()
