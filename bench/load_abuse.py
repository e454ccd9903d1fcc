"""Load under abuse (issue 10, item 4): 100 widget requests/s for 60 s, most of them abusive, plus 200 MTT
call events/s, on PostgreSQL and Redis with the MTT sandbox; then every accepted request must end in a final
status, no visitor number may be dialed beyond its limit and no call may be charged twice.

    .venv/bin/python bench/load_abuse.py [--seconds 60] [--rate 100] [--event-rate 200] [--workers 2]
                                         [--tenants 5] [--drain-s 420] [--timeout 300] [--seed 1]

The stack of bench/dialer_latency.py (`Stack`): a throwaway PostgreSQL 15 and Redis (the abuse limiter's
counters and Flask-Limiter's in Redis, as production runs), `demo seed`, gunicorn from the Procfile's `web`
line (--workers, default 2: one worker cannot carry 100 submissions/s, see "Callback submission latency" in
bench/RESULTS.md) with PROXY_COUNT=1 (behind one proxy: X-Forwarded-For is the visitor's address), one
`python -m dialer.main -w 8` Huey consumer, and the MTT sandbox in this process (every call answered; time
scale 0.1: a call lasts about 2.5 s). --tenants accounts (the demo one and new ones, signed up with their trial
running), each with a 24/7 site and three manager lines, topped up. The abuse limits are the settings'
defaults (`demo seed` raises the per-address one for the demo; it is put back), the per-address request
throttle API_CALLBACK_RATE_LIMIT its production default (20 per minute).

Before the load, the unloaded baseline: `GET /api/v1/health` at 20/s for 5 s and 20 honest submissions at
4/s. Then open-loop load (each request due at its own time whatever the server is doing; latency from the
due time; one thread pool of --pool threads, a new connection per request), mixing per second of --rate:

    victim     20%  one victim number, on every tenant's site, from ever new addresses and sessions (bombing)
    ip_burst   15%  five addresses, each asking for ever new numbers (one visitor, many numbers)
    prefix     15%  consecutive numbers of three prefixes, from ever new addresses (traffic pumping)
    premium     8%  8-800 (toll-free), 8-809 (premium rate), +800 (non-geographic)
    country     8%  Ukrainian, German, US numbers (the sites allow Russia only)
    honeypot    8%  the hidden field filled
    too_fast    8%  form_ms 300 (sooner than min_submit_ms)
    garbage     8%  not a number
    honest     10%  a distinct number (distinct prefix), address and session, a person's form_ms

plus --event-rate MTT events at `/hooks/mtt/<token>` (the attempt's secret URL, which is how MTT's events
are authenticated): 40% a repeat of an event the sandbox already sent for a real call, 20% an event the call
has not had yet (out of order; the real one then arrives as a repeat), 20% another call's id on a real URL
(400), 20% an unknown token (404); events need real calls, so until the first call exists they are all
unknown tokens. And `GET /api/v1/health` at 5/s, the loaded baseline.

Afterwards, computed offline from the request log against the limits read back from the database:
admissions beyond each limit (per number, per address by distinct numbers, per prefix by distinct numbers,
per session, plus any admission of a refused kind: premium, country, honeypot, too fast, garbage) over the
admissions (the goal: under 1%), and, for information, the throttle (requests not answered `rate_limited`
per address per minute). Then the bench waits (--drain-s) for the queue to empty and every accepted request
to reach a final status (completed, rejected, passive, expired) and checks: the sandbox's calls per number
against the per-number limit, and the ledger's call charges (one per call, each for a call the sandbox
placed). A victim's admitted requests are dialed one after the other: a second call to a number already in a
call is refused (`number_busy`, X1) and the request waits `queued` until the reconciler (every minute, for
requests waiting longer than DIALER_STUCK_AFTER_S, 60 s) enqueues it again, hence the long --drain-s. When
the offered load is more than the machine serves, the requests wait in the client's pool (at most --pool in
flight) and their latency from the due time grows; --timeout is long so that they are still answered, and
the report gives the rate served and where the CPU went. Exit status 1 when a done-when criterion fails: a 5xx,
a transport error, over-admission of 1% or more, an accepted request not final, a number dialed beyond its
limit, a call charged twice, an event not acknowledged.
"""
from __future__ import annotations

import argparse
import collections
import http.client
import json
import math
import os
import random
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import phonenumbers  # noqa: E402
from dialer_latency import Stack, _get_json, percentile  # noqa: E402
from widget_config import HOST, app_python, cpu_seconds, worker_pids  # noqa: E402

MIX = [("victim", 20), ("ip_burst", 15), ("prefix", 15), ("premium", 8), ("country", 8), ("honeypot", 8),
       ("too_fast", 8), ("garbage", 8), ("honest", 10)]
REFUSED_KINDS = {"premium", "country", "honeypot", "too_fast", "garbage"}  # never to be admitted
FINAL = {"completed", "rejected", "passive", "expired"}
EVENTS = ("start_side_A", "start_side_B", "end_side_A", "end_side_B")
VICTIM = "+79165550000"
PUMPED_PREFIXES = ("+7925777", "+7925778", "+7925779")
GARBAGE = ["abc", "12", "+7 (999) 12", "+70000000000", "' OR 1=1 --", "9" * 40, "+", "８００"]
FOREIGN = [("+380501{:06d}", None), ("+4915112{:06d}", None), ("+1202555{:04d}", None), ("+7916{:07d}", "DE")]
PREMIUM = ["+7800{:07d}", "+7809{:07d}", "+800{:08d}"]
MOBILE_CODES = [903, 905, 906, 909, 910, 915, 916, 917, 919, 925, 926, 929, 977, 985]

# The other tenants: a signed-up account (its trial running), a 24/7 site on this server's origins, three
# manager lines, a balance topped up; then the abuse limits back to the settings' defaults.
TENANTS = """
import json
import sqlalchemy as sa
from app.cli import ALWAYS_OPEN, _demo_site
from app.extensions import db
from app.models import ManagerLine, Setting, Site
from app.services import accounts, ledger, site_settings
from app.services import settings as global_settings
from app.services.audit import acting_as
from app.services.lines import check_line

keys = [{demo_key!r}]
with acting_as("bench:load_abuse"):
    for n in range(1, {tenants}):
        user = accounts.signup(f"bench{{n}}@example.com", "Bench-password-123", f"Bench tenant {{n}}")
        account = user.account
        site = _demo_site(account)
        for line_no in range(3):
            line = ManagerLine(account=account, number=f"+7495{{n:03d}}{{line_no:04d}}", manager_name=f"M{{line_no}}")
            db.session.add(line)
            check_line(line)
        db.session.flush()
        site_settings.save(account.id, site.id, {{"schedule": ALWAYS_OPEN}})
        ledger.post(f"bench:topup:{{account.id}}", "payment", [(ledger.client_account(account.id), 10**10),
                                                            (ledger.system_account(ledger.GIFTS), -10**10)])
        keys.append(site.public_key)
    for key in ("limit_ip_numbers_per_hour",):
        db.session.execute(sa.delete(Setting).where(Setting.key == key))
    db.session.commit()
print(json.dumps({{"keys": keys, "limits": global_settings.get_settings().model_dump(
    include={{"limit_number_per_10min", "limit_number_per_day", "limit_session_interval_s",
             "limit_ip_numbers_per_hour", "limit_prefix_numbers_per_hour", "min_submit_ms"}})}}))
"""


@dataclass
class Call:
    """One widget submission to send: what it is and what it carries."""

    kind: str
    site: str
    phone: str  # as sent; for valid numbers the E.164 the server stores
    ip: str
    session: str
    country: str | None = None
    honeypot: str = ""
    form_ms: int | None = None


@dataclass
class Result:
    stream: str  # callback, event, health
    kind: str
    due: float
    latency_ms: float = math.nan
    status: int | str = 0
    code: str = ""
    request_id: int | None = None
    call: Call | None = None


@dataclass
class Plan:
    """The deterministic schedule of the callback stream; numbers and addresses of this run."""

    rng: random.Random
    sites: list[str]
    counters: collections.Counter = field(default_factory=collections.Counter)

    def address(self, space: int) -> str:
        n = self.counters[f"ip{space}"]
        self.counters[f"ip{space}"] += 1
        return f"10.{space}.{n // 250 % 250}.{n % 250 + 1}"

    def distinct_mobile(self, space: int) -> str:
        """A valid Russian mobile number whose prefix (all but the last 4 digits) no other number has."""
        while True:
            n = self.counters[f"mobile{space}"]
            self.counters[f"mobile{space}"] += 1
            code = MOBILE_CODES[n % len(MOBILE_CODES)]
            phone = f"+7{code}{space}{n // len(MOBILE_CODES) % 100:02d}{self.rng.randrange(10_000):04d}"
            if phonenumbers.is_valid_number(phonenumbers.parse(phone)):
                return phone

    def call(self, kind: str) -> Call:
        rng, site = self.rng, self.rng.choice(self.sites)
        session = uuid.UUID(int=rng.getrandbits(128)).hex
        person_ms = rng.randrange(4000, 30_000)
        if kind == "victim":
            return Call(kind, site, VICTIM, self.address(20), session, form_ms=person_ms)
        if kind == "ip_burst":
            return Call(kind, site, self.distinct_mobile(1), f"10.99.0.{rng.randrange(1, 6)}", session,
                        form_ms=person_ms)
        if kind == "prefix":
            prefix = PUMPED_PREFIXES[self.counters["pumped"] % len(PUMPED_PREFIXES)]
            number = self.counters["pumped"] // len(PUMPED_PREFIXES)
            self.counters["pumped"] += 1
            return Call(kind, site, f"{prefix}{number:04d}", self.address(30), session, form_ms=person_ms)
        if kind == "premium":
            return Call(kind, site, rng.choice(PREMIUM).format(rng.randrange(10**7)), self.address(40), session,
                        form_ms=person_ms)
        if kind == "country":
            pattern, country = rng.choice(FOREIGN)
            return Call(kind, site, pattern.format(rng.randrange(10**4)), self.address(50), session, country,
                        form_ms=person_ms)
        if kind in ("honeypot", "too_fast"):
            return Call(kind, site, self.distinct_mobile(2), self.address(60), session,
                        honeypot="https://spam.example" if kind == "honeypot" else "",
                        form_ms=300 if kind == "too_fast" else person_ms)
        if kind == "garbage":
            return Call(kind, site, rng.choice(GARBAGE), self.address(70), session, form_ms=person_ms)
        return Call("honest", site, self.distinct_mobile(3), self.address(1), session, form_ms=person_ms)

    def callbacks(self, rate: float, seconds: float) -> list[Call]:
        kinds = [kind for kind, weight in MIX for _ in range(weight)]
        return [self.call(kinds[self.rng.randrange(len(kinds))]) for _ in range(int(rate * seconds))]


class Client:
    """Sends the three streams; every answer is noted in `results`."""

    def __init__(self, stack: Stack, rng: random.Random, timeout: float):
        self.stack, self.rng, self.timeout = stack, rng, timeout
        self.results: list[Result] = []
        self.lock = threading.Lock()
        self.consent_versions: dict[str, str] = {}  # site key → its consent text's version

    def _send(self, method: str, path: str, body: str | None, headers: dict, port: int | None = None):
        connection = http.client.HTTPConnection(HOST, port or self.stack.port, timeout=self.timeout)
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            return response.status, response.read()
        except (OSError, http.client.HTTPException) as exc:
            return type(exc).__name__, b""
        finally:
            connection.close()

    def callback(self, call: Call, due: float) -> None:
        body = {"phone": call.phone, "consent": True, "consent_version": self.consent_versions[call.site],
                "visitor": {"session_id": call.session}, "website": call.honeypot}
        if call.country:
            body["country"] = call.country
        if call.form_ms is not None:
            body["form_ms"] = call.form_ms
        headers = {"Origin": self.stack.origin, "Content-Type": "application/json", "X-Forwarded-For": call.ip,
                   "User-Agent": "bench/load_abuse"}
        status, raw = self._send("POST", f"/api/v1/widget/{call.site}/callbacks", json.dumps(body), headers)
        result = Result("callback", call.kind, due, 1000 * (time.perf_counter() - due), status, call=call)
        try:
            answer = json.loads(raw) if raw else {}
        except ValueError:
            answer = {}
        result.request_id = answer.get("id") if status == 201 else None
        result.code = (answer.get("error") or {}).get("code", "") if isinstance(answer, dict) else ""
        self._note(result)

    def event(self, kind: str, due: float) -> None:
        path, kind = self._event_path(kind)
        status, _raw = self._send("GET", path, None, {"User-Agent": "bench/load_abuse"})
        self._note(Result("event", kind, due, 1000 * (time.perf_counter() - due), status))

    def _event_path(self, kind: str) -> tuple[str, str]:
        calls = list(self.stack.sandbox.calls.values())
        if kind == "unknown_token" or not calls:
            return f"/hooks/mtt/{uuid.UUID(int=self.rng.getrandbits(128)).hex}?event=start_side_A&id=1", "unknown_token"
        call = self.rng.choice(calls)
        url = call.params["callBackURL"]
        path = url[url.index("/hooks/"):]
        sent = list(call.events)
        if kind == "repeat" and sent:
            event, call_id = self.rng.choice(sent), call.call_id
        elif kind == "wrong_id":
            event, call_id = self.rng.choice(EVENTS), str(10**17 + self.rng.randrange(10**17))
        else:
            kind = "out_of_order" if len(sent) < len(EVENTS) else "repeat"
            later = [event for event in EVENTS if event not in sent] or list(EVENTS)
            event, call_id = self.rng.choice(later), call.call_id
        return f"{path}{'&' if '?' in path else '?'}event={event}&id={call_id}", kind

    def health(self, due: float) -> None:
        status, _raw = self._send("GET", "/api/v1/health", None, {})
        self._note(Result("health", "health", due, 1000 * (time.perf_counter() - due), status))

    def _note(self, result: Result) -> None:
        with self.lock:
            self.results.append(result)


def open_loop(pool: ThreadPoolExecutor, schedule: list[tuple[float, object, tuple]]) -> float:
    """Submit each (offset s, function, args) at start + offset; the largest lateness of a submission (ms)."""
    start, lag = time.perf_counter() + 0.2, 0.0
    for offset, function, args in schedule:
        due = start + offset
        pause = due - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
        lag = max(lag, time.perf_counter() - due)
        pool.submit(function, *args, due)
    return 1000 * lag


def load_schedule(client: Client, calls: list[Call], args) -> list[tuple[float, object, tuple]]:
    kinds = ["repeat"] * 4 + ["out_of_order"] * 2 + ["wrong_id"] * 2 + ["unknown_token"] * 2
    rng = random.Random(args.seed + 1)
    schedule = [(i / args.rate, client.callback, (call,)) for i, call in enumerate(calls)]
    schedule += [(i / args.event_rate, client.event, (rng.choice(kinds),))
                 for i in range(int(args.event_rate * args.seconds))]
    schedule += [(i / 5, client.health, ()) for i in range(int(5 * args.seconds))]
    return sorted(schedule, key=lambda item: item[0])


# -- the offline checks -------------------------------------------------------------------------------------

def over_admission(results: list[Result], limits: dict) -> tuple[int, dict]:
    """Admissions beyond each limit, by limit; and the admissions. Windows are longer than the run, so a
    limit allows at most `limit` admissions (distinct numbers for the address and prefix limits) per key."""
    admitted = [r for r in results if r.stream == "callback" and r.status == 201]
    per_number = collections.Counter(r.call.phone for r in admitted)
    per_ip = collections.defaultdict(set)
    per_prefix = collections.defaultdict(set)
    per_session = collections.Counter(r.call.session for r in admitted)
    for r in admitted:
        per_ip[r.call.ip].add(r.call.phone)
        per_prefix[r.call.phone[:-4]].add(r.call.phone)
    number_limit = min(limits["limit_number_per_10min"], limits["limit_number_per_day"])
    excess = {
        "number": sum(max(0, n - number_limit) for n in per_number.values()),
        "ip": sum(max(0, len(s) - limits["limit_ip_numbers_per_hour"]) for s in per_ip.values()),
        "prefix": sum(max(0, len(s) - limits["limit_prefix_numbers_per_hour"]) for s in per_prefix.values()),
        "session": sum(max(0, n - 1) for n in per_session.values()),
        "refused_kind": sum(r.kind in REFUSED_KINDS for r in admitted),
    }
    return len(admitted), excess


def throttle_excess(results: list[Result], per_minute: int) -> int:
    """Requests let through Flask-Limiter beyond `per_minute` per address, simulating its fixed window (the
    `limits` library's: a window opens at the first hit after the last one expired, and every hit counts) on
    the times the answers were read. For information: a request near a window's edge may fall on either side."""
    hits = collections.defaultdict(list)
    for r in results:
        if r.stream == "callback":
            hits[r.call.ip].append((r.due + r.latency_ms / 1000, r.code != "rate_limited"))
    excess = 0
    for rows in hits.values():
        window_end, count = -math.inf, 0
        for at, passed in sorted(rows):
            if at >= window_end:
                window_end, count = at + 60, 0
            count += 1
            excess += passed and count > per_minute
    return excess


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, from /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    return (sum(fields) - idle) / os.sysconf("SC_CLK_TCK"), sum(fields) / os.sysconf("SC_CLK_TCK")


def cpu_snapshot(stack: Stack, web_pids: list[int]) -> dict[str, float]:
    """CPU seconds so far: the gunicorn workers, the Huey consumer, this process (load generator and sandbox),
    and the machine (busy, and busy + idle)."""
    busy, total = machine_busy()
    own = os.times()
    return {"gunicorn": sum(cpu_seconds(pid) for pid in web_pids), "consumer": cpu_seconds(stack.worker.pid),
            "bench": own.user + own.system, "machine": busy, "machine_total": total}


def summary(values: list[float]) -> str:
    values = [v for v in values if not math.isnan(v)]
    if not values:
        return "n=0"
    return (f"n={len(values):5}  p50 {percentile(values, .5):8.1f} ms  p95 {percentile(values, .95):8.1f} ms  "
            f"p99 {percentile(values, .99):8.1f} ms  max {max(values):8.1f} ms")


def drain(stack: Stack, ids: list[int], timeout: float) -> tuple[dict, float]:
    """Wait until the queue is empty and every request of `ids` is final (or `timeout`); statuses, seconds."""
    start = time.monotonic()
    statuses: dict = {}
    while True:
        with stack.pg.connect("bench") as connection:
            statuses = dict(connection.execute("SELECT id, status FROM callback_request WHERE id = ANY(%s)",
                                               (ids,)).fetchall())
        pending = stack.huey.pending_count()
        if (pending == 0 and all(s in FINAL for s in statuses.values())) or time.monotonic() - start > timeout:
            return statuses, time.monotonic() - start
        time.sleep(2)


def ledger_check(stack: Stack) -> dict:
    """Call charges: per provider call id; and charges of calls the sandbox never placed."""
    with stack.pg.connect("bench") as connection:
        rows = connection.execute(
            "SELECT a.provider_call_id, count(t.id) FROM ledger_transaction t JOIN call_attempt a "
            "ON t.key = 'call:' || a.request_id || ':' || a.number WHERE t.kind = 'call' "
            "GROUP BY a.provider_call_id").fetchall()
        orphans = connection.execute(
            "SELECT count(*) FROM ledger_transaction t WHERE t.kind = 'call' AND NOT EXISTS (SELECT 1 FROM "
            "call_attempt a WHERE t.key = 'call:' || a.request_id || ':' || a.number)").fetchone()[0]
        rejected = dict(connection.execute(
            "SELECT coalesce(reject_reason, ''), count(*) FROM callback_request GROUP BY 1").fetchall())
        blocks = dict(connection.execute("SELECT phone, count(*) FROM number_block GROUP BY phone").fetchall())
    charged = dict(rows)
    return {"charged_calls": sum(charged.values()),
            "charged_twice": sum(n > 1 for n in charged.values()),
            "not_placed": sum(1 for call_id in charged if call_id not in stack.sandbox.calls) + orphans,
            "stored_by_reason": rejected, "blocks": blocks}


# -- the run ------------------------------------------------------------------------------------------------

def baseline(client: Client, plan: Plan, pool: ThreadPoolExecutor) -> None:
    schedule = [(i / 20, client.health, ()) for i in range(100)]
    schedule += [(5 + i / 4, client.callback, (plan.call("honest"),)) for i in range(20)]
    open_loop(pool, sorted(schedule, key=lambda item: item[0]))
    time.sleep(1)


def run(args) -> int:
    rules = {"default": {"action": "answer", "answer_after_s": 2, "talk_s": 20}}
    with tempfile.TemporaryDirectory(prefix="bench-abuse-") as tmp, \
            Stack(tmp, "pg", workers=8, time_scale=0.1, rules=rules,
                  extra_env={"API_CALLBACK_RATE_LIMIT": "20 per minute"},
                  web_workers=args.workers) as stack:
        setup = json.loads(app_python(stack.env, TENANTS.format(demo_key=stack.site_key, tenants=args.tenants))
                           .strip().splitlines()[-1])
        time.sleep(11)  # the per-process cache of the global settings (10 s) forgets the demo's limit
        rng = random.Random(args.seed)
        plan = Plan(rng, setup["keys"])
        client = Client(stack, random.Random(args.seed + 2), args.timeout)
        client.consent_versions = {key: _get_json(stack.port, f"/api/v1/widget/{key}", stack.origin)["consent"]
                                   ["version"] for key in setup["keys"]}
        load_before = os.getloadavg()
        with ThreadPoolExecutor(max_workers=args.pool) as pool:
            baseline(client, plan, pool)
        unloaded = list(client.results)
        client.results.clear()
        calls = plan.callbacks(args.rate, args.seconds)
        web_pids = worker_pids(stack.master, args.workers)
        cpu_before, started = cpu_snapshot(stack, web_pids), time.perf_counter()
        with ThreadPoolExecutor(max_workers=args.pool) as pool:
            lag = open_loop(pool, load_schedule(client, calls, args))
            load_during = os.getloadavg()
        elapsed = time.perf_counter() - started
        cpu_after = cpu_snapshot(stack, web_pids)
        cpu = {name: cpu_after[name] - cpu_before[name] for name in cpu_before}
        loaded = list(client.results)
        accepted_ids = [r.request_id for r in unloaded + loaded if r.request_id]
        statuses, drained_s = drain(stack, accepted_ids, args.drain_s)
        dialed = collections.Counter(call.b_number for call in list(stack.sandbox.calls.values()))
        ledger = ledger_check(stack)
        tracebacks = Path(tmp, "gunicorn.log").read_text(errors="replace").count("Traceback")
        worker_errors = sum(signal == "error" for _at, signal, _name in stack.tasks_done())
    return report(args, setup, unloaded, loaded, statuses, dialed, ledger, {
        "load_before": load_before, "load_during": load_during, "lag": lag, "elapsed": elapsed,
        "drained_s": drained_s, "tracebacks": tracebacks, "worker_errors": worker_errors, "cpu": cpu})


def report(args, setup, unloaded, loaded, statuses, dialed, ledger, run_info) -> int:
    limits = setup["limits"]
    print(f"\n== {args.rate:g} widget requests/s + {args.event_rate:g} MTT events/s + 5 health/s for "
          f"{args.seconds:g} s; gunicorn {args.workers} worker(s) x 8 threads, PostgreSQL 15 + Redis, one "
          f"consumer -w 8, sandbox; {len(setup['keys'])} tenants; limits {limits}")
    print(f"load average before {run_info['load_before'][0]:.2f}, at the end of the load "
          f"{run_info['load_during'][0]:.2f} (1 min); sending took {run_info['elapsed']:.1f} s, "
          f"largest send lag {run_info['lag']:.0f} ms")
    cpu, elapsed = run_info["cpu"], run_info["elapsed"]
    print(f"served {len(loaded) / elapsed:.0f} answers/s of {args.rate + args.event_rate + 5:g}/s offered "
          f"({len(loaded)} in {elapsed:.1f} s from the first due time to the last answer); CPU in cores over "
          f"that time: machine {cpu['machine'] / elapsed:.2f} of {cpu['machine_total'] / elapsed:.1f}, gunicorn "
          f"{cpu['gunicorn'] / elapsed:.2f}, consumer {cpu['consumer'] / elapsed:.2f}, this process (load "
          f"generator + sandbox) {cpu['bench'] / elapsed:.2f}, the rest (PostgreSQL, Redis, others' jobs) "
          f"{(cpu['machine'] - cpu['gunicorn'] - cpu['consumer'] - cpu['bench']) / elapsed:.2f}; gunicorn CPU "
          f"per answer {1000 * cpu['gunicorn'] / len(loaded):.2f} ms")
    by_status = collections.Counter((r.stream, str(r.status)) for r in loaded)
    codes = collections.Counter((r.kind, r.status, r.code) for r in loaded if r.stream == "callback")
    print("answers by stream and status:", dict(sorted(by_status.items())))
    print("callbacks by kind, status, code:")
    for (kind, status, code), n in sorted(codes.items(), key=lambda item: (item[0][0], str(item[0][1]))):
        print(f"  {kind:9} {status!s:>4} {code or '-':24} {n}")
    events = collections.Counter((r.kind, str(r.status)) for r in loaded if r.stream == "event")
    print("events by kind and status:", dict(sorted(events.items())))

    def latencies(rows, stream, accepted=None):
        return [r.latency_ms for r in rows if r.stream == stream
                and (accepted is None or (r.status == 201) == accepted)]

    print("latency from the due time:")
    rows = [("health, unloaded", latencies(unloaded, "health")),
            ("honest submit, unloaded", latencies(unloaded, "callback")),
            ("health, under load", latencies(loaded, "health")),
            ("callback accepted (201)", latencies(loaded, "callback", True)),
            ("callback refused", latencies(loaded, "callback", False)),
            ("MTT event", latencies(loaded, "event"))]
    for name, values in rows:
        print(f"  {name:24} {summary(values)}")
    base = [v for v in latencies(unloaded, "health") if not math.isnan(v)]
    for name, values in rows[2:]:
        values = [v for v in values if not math.isnan(v)]
        if values and base:
            print(f"  ratio {name} / unloaded health: p50 {percentile(values, .5) / percentile(base, .5):.1f}, "
                  f"p99 {percentile(values, .99) / percentile(base, .99):.1f}")

    everything = unloaded + loaded
    server_errors = sum(isinstance(r.status, int) and r.status >= 500 for r in everything)
    transport = sum(isinstance(r.status, str) for r in everything)
    admitted, excess = over_admission(everything, limits)
    excess_total = sum(excess.values())
    share = 100 * excess_total / admitted if admitted else 0.0
    throttled = throttle_excess(loaded, 20)
    kind_of = {r.request_id: f"{r.kind} {r.call.phone}" for r in everything if r.request_id}
    not_final = {f"{i} ({kind_of.get(i)})": s for i, s in statuses.items() if s not in FINAL}
    number_limit = min(limits["limit_number_per_10min"], limits["limit_number_per_day"])
    over_dialed = {n: c for n, c in dialed.items() if c > number_limit}
    events_sent = sum(r.stream == "event" for r in loaded)
    events_acked = sum(r.stream == "event" and r.status in (200, 400, 404) for r in loaded)
    final_by_status = collections.Counter(statuses.values())
    print(f"5xx: {server_errors}; transport errors/timeouts: {transport}; tracebacks in gunicorn's log: "
          f"{run_info['tracebacks']}; task errors in the worker: {run_info['worker_errors']}")
    print(f"admitted {admitted}; beyond the limits {excess_total} ({share:.2f}%): {excess}; throttle "
          f"(20/min per address) let through beyond its limit: {throttled} (for information)")
    print(f"accepted requests after {run_info['drained_s']:.0f} s: {dict(final_by_status)}; not final "
          f"{len(not_final)}{' ' + str(dict(list(not_final.items())[:10])) if not_final else ''}")
    print(f"sandbox calls {sum(dialed.values())} to {len(dialed)} numbers; most to one number "
          f"{max(dialed.values(), default=0)} (victim {dialed.get(VICTIM.lstrip('+'), 0)}); beyond the per-number "
          f"limit: {over_dialed or 0}")
    print(f"ledger: {ledger['charged_calls']} calls charged, charged twice {ledger['charged_twice']}, charges of "
          f"calls the sandbox did not place {ledger['not_placed']}; rows by reject reason "
          f"{ledger['stored_by_reason']}; number blocks (rows per number) {ledger['blocks']}")
    print(f"events acknowledged {events_acked} of {events_sent} sent")
    failures = [name for name, bad in [
        ("5xx answers", server_errors), ("transport errors", transport), ("over-admission >= 1%", share >= 1),
        ("accepted requests not final", not_final), ("numbers dialed beyond the limit", over_dialed),
        ("calls charged twice", ledger["charged_twice"]), ("events not acknowledged", events_acked != events_sent),
    ] if bad]
    print("DONE-WHEN: " + ("all met" if not failures else "FAILED: " + ", ".join(failures)))
    return 1 if failures else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60, help="length of the load")
    parser.add_argument("--rate", type=float, default=100, help="widget requests per second")
    parser.add_argument("--event-rate", type=float, default=200, help="MTT events per second")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--tenants", type=int, default=5, help="accounts with a site each")
    parser.add_argument("--pool", type=int, default=128, help="client threads (requests in flight at most)")
    parser.add_argument("--timeout", type=float, default=300, help="client timeout per request, seconds")
    parser.add_argument("--drain-s", type=float, default=420, help="how long to wait for final statuses")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    sys.exit(run(args))


if __name__ == "__main__":
    main()
