"""One worker process carrying many calls in flight: no worker thread waits on a call.

    .venv/bin/python bench/dialer_inflight.py [--calls 1000] [--rate 30] [--threads 8] [--talk-s 60]
                                              [--noops 2000] [--backend sqlite|pg|both]

The stack of bench/dialer_latency.py (gunicorn from the Procfile, 1 worker, 8 threads; one `python -m
dialer.main -w THREADS`; the MTT sandbox in this process, here at real time, time_scale 1) on the embedded
default (SQLite + Huey on SQLite) or PostgreSQL 15 + Redis, the demo site funded. Every number answers after
5 s and talks --talk-s, so a call lasts 5 (manager rings) + 5 (visitor rings) + talk seconds.

1. Baseline: --noops no-op tasks (`bench.noop`, no I/O) put on the queue at once (one Redis LPUSH or one
   SQLite transaction) for the idle consumer; the rate it drains them.
2. --calls widget POSTs, open loop at --rate/s, each with its own valid mobile number (X1 is per number), its
   own session and X-Forwarded-For (gunicorn with PROXY_COUNT=1: the abuse limiter counts distinct addresses;
   API_CALLBACK_RATE_LIMIT raised), so the consumer dials them as they come.
3. Once every accepted request is dialed, --noops no-op tasks again, while the calls are in flight: the same
   rate as 1 means no thread is held by a call.
4. The calls end (their end events arrive at about the rate the calls were started); each new event stored by
   gunicorn enqueues `dialer.attempt_event`, which fetches the call record and settles the attempt. The bench
   waits for the next run of `dialer.reconcile` (every minute; it sweeps calls older than 60 s) and for the
   consumer to go quiet.

Sampled every 0.25 s: calls in progress in the sandbox, tasks waiting in the queue, the consumer's OS threads.
The worker notes each finished task (monotonic time, name) through Huey's signal. A task's rate "while
queued" is its completions during the samples in which the queue was not empty, over those samples' time:
the consumer's capacity for it rather than the rate work arrived at. Events stored per second come from
`provider_event.received_at`, attempts settled per second from the `ended` transitions.
"""
from __future__ import annotations

import argparse
import bisect
import contextlib
import json
import random
import sqlite3
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from dialer_latency import STATUSES, Stack, _digits, noop, numbers  # noqa: E402
from widget_config import app_python  # noqa: E402

DB_TIMES = """
import json
import sqlalchemy as sa
from app.extensions import db
from app.models import CallAttempt, DialerTransition, ProviderEvent
events = [at.timestamp() for at in db.session.scalars(sa.select(ProviderEvent.received_at))]
ended = [at.timestamp() for at in db.session.scalars(
    sa.select(DialerTransition.at).where(DialerTransition.attempt_id.is_not(None), DialerTransition.status == "ended"))]
outcomes = {str(o): n for o, n in db.session.execute(
    sa.select(CallAttempt.outcome, sa.func.count()).group_by(CallAttempt.outcome))}
print(json.dumps({"events": events, "ended": ended, "outcomes": outcomes}))
"""


class Sampler(threading.Thread):
    """Every 0.25 s: (monotonic, calls in progress in the sandbox, tasks queued, the consumer's OS threads)."""

    def __init__(self, stack: Stack):
        super().__init__(daemon=True)
        self.stack, self.samples, self.stopping = stack, [], threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                queued = self.stack.huey.pending_count()
            except Exception:  # noqa: BLE001 - SQLite busy: skip the sample
                queued = None
            self.samples.append((time.monotonic(), self.stack.sandbox.in_progress(), queued,
                                 _threads(self.stack.worker.pid)))
            self.stopping.wait(0.25)


def _threads(pid: int) -> int:
    status = Path(f"/proc/{pid}/status")
    for line in status.read_text().splitlines() if status.exists() else ():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    return 0


def rate_while_queued(times: list[float], samples: list[tuple], start: float, end: float) -> tuple[float, float]:
    """Completions per second during the samples (in [start, end]) whose queue was not empty; and that time."""
    times = sorted(times)
    done = busy = 0.0
    for (t0, _calls, queued, _threads), (t1, *_rest) in zip(samples, samples[1:], strict=False):
        if t0 < start or t1 > end or not queued:
            continue
        done += bisect.bisect_right(times, t1) - bisect.bisect_right(times, t0)
        busy += t1 - t0
    return (done / busy if busy else float("nan")), busy


def peak_rate(times: list[float], window: float = 5.0) -> float:
    """The most completions in any `window` seconds, per second."""
    times = sorted(times)
    best = 0
    for i, t in enumerate(times):
        best = max(best, bisect.bisect_right(times, t + window) - i)
    return best / window


def enqueue_many(huey, count: int) -> None:
    """`count` no-op tasks put on the queue in one go (one Redis LPUSH, or one SQLite transaction), so that the
    consumer drains a full queue: one by one, this process enqueues more slowly than the consumer runs them."""
    datas = [huey.serialize_task(noop.s()) for _ in range(count)]
    storage = huey.storage
    if hasattr(storage, "queue_key"):  # Redis
        storage.conn.lpush(storage.queue_key, *datas)
        return
    connection = sqlite3.connect(storage.filename, timeout=30)
    with contextlib.closing(connection), connection:
        connection.executemany("INSERT INTO task (queue, data, priority) VALUES (?, ?, 0)",
                               [(storage.name, data) for data in datas])


def noop_burst(stack: Stack, count: int) -> tuple[float, float, float]:
    """Enqueue `count` no-op tasks at once; (enqueue seconds, first completion, last completion) (monotonic)."""
    before = sum(1 for _at, _signal, name in stack.tasks_done() if name == "bench.noop")
    start = time.monotonic()
    enqueue_many(stack.huey, count)
    enqueued = time.monotonic() - start
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        done = [at for at, _signal, name in stack.tasks_done() if name == "bench.noop"][before:]
        if len(done) >= count:
            return enqueued, min(done), max(done)
        time.sleep(0.2)
    raise RuntimeError("the no-op tasks did not all run within 120 s")


def run_backend(backend: str, args) -> None:
    rules = {"default": {"action": "answer", "answer_after_s": 5, "talk_s": args.talk_s}}
    with tempfile.TemporaryDirectory(prefix=f"bench-inflight-{backend}-") as tmp, \
            Stack(tmp, backend, workers=args.threads, time_scale=1.0, rules=rules) as stack:
        sampler = Sampler(stack)
        sampler.start()
        for _ in range(50):  # warm-up
            noop()
        time.sleep(2)
        idle_enqueue, idle_first, idle_last = noop_burst(stack, args.noops)

        accepted: dict[str, float] = {}
        failures: dict[str, int] = {}
        lock = threading.Lock()

        def send(phone: str, address: str) -> None:
            status, at = stack.post_request(phone, address)
            with lock:
                if status == 201:
                    accepted[_digits(phone)] = at
                else:
                    failures[str(status)] = failures.get(str(status), 0) + 1

        addresses = numbers(random.randrange(10_000))
        calls_start = time.monotonic() + 0.2
        with ThreadPoolExecutor(max_workers=64) as pool:
            for i in range(args.calls):
                phone, address = next(addresses)
                pause = calls_start + i / args.rate - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
                pool.submit(send, phone, address)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and any(k not in stack.sandbox.dialed for k in accepted):
            time.sleep(0.2)
        dial_times = [stack.sandbox.dialed[k] for k in accepted if k in stack.sandbox.dialed]
        in_flight_at_burst = stack.sandbox.in_progress()
        busy_enqueue, busy_first, busy_last = noop_burst(stack, args.noops)
        in_flight_after_burst = stack.sandbox.in_progress()

        # Wait for the calls to end, then for a run of the reconciler after that (it settles what the events
        # did not), and for the consumer to go quiet (nothing queued, no task for 5 s).
        deadline = time.monotonic() + args.talk_s + 300
        calls_ended = None
        while time.monotonic() < deadline:
            done = stack.tasks_done()
            quiet = not done or time.monotonic() - max(at for at, *_ in done) > 5
            if calls_ended is None and stack.sandbox.in_progress() == 0:
                calls_ended = time.monotonic()
            reconciled = calls_ended is not None and any(
                name == "dialer.reconcile" and at > calls_ended for at, _signal, name in done)
            if reconciled and quiet and stack.huey.pending_count() == 0:
                break
            time.sleep(0.5)
        sampler.stopping.set()
        sampler.join()
        tasks = stack.tasks_done()
        db_times = json.loads(app_python(stack.env, DB_TIMES).strip().splitlines()[-1])
        statuses = json.loads(app_python(stack.env, STATUSES).strip().splitlines()[-1])
        wall_offset = time.time() - time.monotonic()

    samples = sampler.samples
    by_name: dict[str, list[float]] = {}
    errors = 0
    for at, signal, name in tasks:
        by_name.setdefault(name, []).append(at)
        errors += signal == "error"
    peak_calls = max(calls for _t, calls, _q, _th in samples)
    peak_threads = max(threads for *_rest, threads in samples)
    peak_queue = max((q or 0) for _t, _c, q, _th in samples)
    idle_rate = args.noops / (idle_last - idle_first)
    busy_rate = args.noops / (busy_last - busy_first)
    events = by_name.get("dialer.attempt_event", [])  # woken by a stored event
    sweeps = by_name.get("dialer.attempt_event+sweep", [])  # the reconciler's (calls older than 60 s)
    event_rate, event_busy = rate_while_queued(events + sweeps, samples, busy_last, float("inf"))
    dials = by_name.get("dialer.plan_and_dial", [])
    stored = [t - wall_offset for t in db_times["events"]]
    ended = [t - wall_offset for t in db_times["ended"]]

    name = {"pg": "PostgreSQL 15 + Redis", "sqlite": "SQLite + Huey on SQLite (embedded default)"}[backend]
    print(f"\n== {name}: {args.calls} requests at {args.rate:g}/s, one consumer `dialer.main -w {args.threads}`, "
          f"calls of 5 + 5 + {args.talk_s:g} s at real time")
    print(f"accepted {len(accepted)} (non-201: {failures or 0}); dialed {len(dial_times)} between "
          f"{min(dial_times) - calls_start:.1f} s and {max(dial_times) - calls_start:.1f} s after the first POST")
    print(f"calls in progress in the sandbox: peak {peak_calls}; {in_flight_at_burst} when the in-flight no-op "
          f"burst started, {in_flight_after_burst} when it ended; consumer OS threads: peak {peak_threads} "
          f"({args.threads} workers); queue length peak {peak_queue}")
    print(f"no-op tasks, idle consumer:       {idle_rate:7.0f}/s ({args.noops} in {idle_last - idle_first:.2f} s; "
          f"enqueued in {idle_enqueue:.2f} s)")
    print(f"no-op tasks, {in_flight_at_burst:4} calls in flight: {busy_rate:7.0f}/s ({args.noops} in "
          f"{busy_last - busy_first:.2f} s; enqueued in {busy_enqueue:.2f} s); ratio to idle "
          f"{busy_rate / idle_rate:.2f}")
    dial_span = max(dial_times) - min(dial_times)
    print(f"dialer.plan_and_dial: {len(dials)} run; calls started {len(dial_times) / dial_span:.1f}/s over "
          f"{dial_span:.1f} s (POSTs at {args.rate:g}/s), peak 5 s {peak_rate(dials):.1f}/s")
    print(f"dialer.attempt_event: {len(events)} woken by events + {len(sweeps)} sweeps; both: {event_rate:.1f}/s "
          f"while queued ({event_busy:.1f} s queued), peak 5 s {peak_rate(events + sweeps):.1f}/s; ratio to idle "
          f"no-op {event_rate / idle_rate:.3f}")
    print(f"provider events stored: {len(stored)}, peak 5 s {peak_rate(stored):.1f}/s; attempts settled (ended): "
          f"{len(ended)}, peak 5 s {peak_rate(ended):.1f}/s"
          + (f", last {max(ended) - max(dial_times):.1f} s after the last dial" if ended else ""))
    print(f"outcomes {db_times['outcomes']}; requests by status {statuses}; task errors {errors}; "
          f"tasks run {dict((k, len(v)) for k, v in sorted(by_name.items()))}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=30, help="widget POSTs per second")
    parser.add_argument("--threads", type=int, default=8, help="the consumer's threads (dialer.main -w)")
    parser.add_argument("--talk-s", type=float, default=60, help="talk time of each call (real seconds)")
    parser.add_argument("--noops", type=int, default=2000, help="no-op tasks per burst")
    parser.add_argument("--backend", choices=("pg", "sqlite", "both"), default="both")
    args = parser.parse_args()
    for backend in ("sqlite", "pg") if args.backend == "both" else (args.backend,):
        run_backend(backend, args)


if __name__ == "__main__":
    main()
