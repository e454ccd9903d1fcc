"""Issue 9's statistics benchmark: the month dashboard and the call log's first page over HTTP on a million requests.

    .venv/bin/python bench/stats_dashboard.py [--requests 1000000] [--others 10] [--other-requests 50000]
                                              [--rounds 60]

A throwaway PostgreSQL (tests/servers.py: started as the `postgres` user when run as root) is migrated and
seeded with `demo seed`; the demo client account gets two sites and five manager lines and `--requests`
requests spread over the last 12 months, written with SQL `generate_series` (realistic statuses, outcomes,
sources, answering lines, talk times), their `dialer_transition` rows (queued, connected = the speed to connect,
completed), a ledger call charge for every successful call, and daily widget shows; `--others` more accounts
get `--other-requests` requests each the same way. The rollup is then run (`stats_rollup.roll_up`, timed) and
a few hundred requests of the last two hours are added after it (some not final), so the live part is not
empty, and the database ANALYZEd.

The app is served as `make run` serves it (the Procfile's web line: gunicorn, 1 worker, 8 threads); one
logged-in client (the demo client) requests, interleaved round after round over one keep-alive connection,
`GET /api/v1/health`, `GET /cabinet/stats?period=month` and `GET /cabinet/calls`; p50/p95 per endpoint and the
ratio to the trivial endpoint are printed. Then the call log's CSV export is downloaded (streamed, read and
discarded) for the last 7 and the last 30 local days, sampling the gunicorn worker's resident memory
(`/proc/<pid>/status` VmRSS) every 10 ms: the growth over the RSS before each download is printed.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import re
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from widget_config import HOST, app_env, app_python, gunicorn, seed, worker_pid  # noqa: E402

SETUP = """
import json
from app.extensions import db
from app.models import Account, ManagerLine
from app.services import accounts, ledger, sites
main = db.session.get(Account, {account_id})
site_ids = [site.id for site in main.sites] + [sites.create_site(main, "second", ["second.example.com"]).id]
lines = [ManagerLine(account_id=main.id, number=f"+7916123450{{n}}", manager_name=f"Manager {{n}}") for n in range(5)]
db.session.add_all(lines)
others = []
for n in range({others}):
    other_id = accounts.signup(f"other{{n}}@bench.example.com", "correct-horse-9", f"Other {{n}}").account_id
    other = db.session.get(Account, other_id)
    site = sites.create_site(other, f"other-{{n}}", [f"other{{n}}.example.com"])
    line = ManagerLine(account_id=other_id, number=f"+7916223450{{n}}", manager_name="Other manager")
    db.session.add(line)
    db.session.flush()
    others.append((other_id, [site.id], [line.id]))
db.session.flush()
accounts_ = [(main.id, site_ids, [line.id for line in lines])] + others
for account_id, _, _ in accounts_:
    ledger.client_account(account_id)
mtt = ledger.system_account(ledger.MTT).id
db.session.commit()
print(json.dumps({{"accounts": accounts_, "mtt": mtt}}))
"""

# One account's requests over the last 12 months: r1 picks status and outcome, r2 the talk time, r3 the source.
REQUESTS_SQL = """
INSERT INTO callback_request (account_id, site_id, phone, country, status, outcome, reject_reason, mode, duration_s,
    answered_line_id, status_changed_at, status_token_hash, ip, region, user_agent, source, keyword, page_url,
    visitor, created_at)
SELECT :account_id, (:site_ids)[1 + g % cardinality(:site_ids)], '+7916' || lpad((g % 10000000)::text, 7, '0'), 'RU',
    CASE WHEN r1 < 0.85 THEN 'completed' WHEN r1 < 0.90 THEN 'rejected' WHEN r1 < 0.95 THEN 'passive'
         ELSE 'expired' END,
    CASE WHEN r1 < 0.60 THEN 'success' WHEN r1 < 0.70 THEN 'manager_no_answer'
         WHEN r1 < 0.82 THEN 'client_no_answer' WHEN r1 < 0.85 THEN 'failed' END,
    CASE WHEN r1 >= 0.85 AND r1 < 0.90 THEN 'blacklisted' END, 'instant',
    CASE WHEN r1 < 0.60 THEN 20 + floor(r2 * 600)::int WHEN r1 < 0.85 THEN 0 END,
    CASE WHEN r1 < 0.60 OR (r1 >= 0.70 AND r1 < 0.82) THEN (:line_ids)[1 + g % cardinality(:line_ids)] END,
    created + interval '2 minutes', md5(g::text) || md5((g + 1)::text),
    '10.' || (g % 250) || '.' || (g / 250 % 250) || '.' || (g % 97), 'Москва', 'Mozilla/5.0 (bench)',
    (ARRAY['google', 'yandex', 'direct', 'vk', '', 'email'])[1 + floor(r3 * 6)::int],
    CASE WHEN r3 < 0.34 THEN 'перезвонить ' || (g % 50) ELSE '' END,
    'https://shop.example.com/catalog/' || (g % 500), '{}'::json, created
FROM (SELECT g, random() AS r1, random() AS r2, random() AS r3,
             now() - random() * interval '365 days' AS created
      FROM generate_series(1, :count) AS g) AS base
"""

TRANSITIONS_SQL = [
    # queued a moment after creation, connected 3-45 s later (a long tail up to ~3 min), completed after the talk
    """INSERT INTO dialer_transition (request_id, status, at)
       SELECT id, 'queued', created_at + interval '200 milliseconds' FROM callback_request
       WHERE status = 'completed' AND account_id = ANY(:account_ids)""",
    """INSERT INTO dialer_transition (request_id, status, at)
       SELECT id, 'connected', created_at + (3 + random() * 42 + power(random(), 12) * 150) * interval '1 second'
       FROM callback_request WHERE outcome IN ('success', 'client_no_answer') AND account_id = ANY(:account_ids)""",
    """INSERT INTO dialer_transition (request_id, status, at)
       SELECT id, 'completed', status_changed_at FROM callback_request
       WHERE status = 'completed' AND account_id = ANY(:account_ids)""",
]

LEDGER_SQL = [
    """INSERT INTO ledger_transaction (key, kind, memo, created_at)
       SELECT 'call:' || id || ':' || '1', 'call', '', created_at + interval '3 minutes' FROM callback_request
       WHERE outcome = 'success' AND account_id = ANY(:account_ids)""",
    """INSERT INTO ledger_entry (transaction_id, ledger_account_id, amount_kop)
       SELECT t.id, l.id, -(100 + r.duration_s * 3) FROM ledger_transaction t
       JOIN callback_request r ON t.key = 'call:' || r.id || ':' || '1'
       JOIN ledger_account l ON l.account_id = r.account_id
       WHERE t.kind = 'call'""",
    """INSERT INTO ledger_entry (transaction_id, ledger_account_id, amount_kop)
       SELECT e.transaction_id, :mtt, -e.amount_kop FROM ledger_entry e WHERE e.amount_kop < 0""",
]

SHOWS_SQL = """
INSERT INTO widget_event_count (site_id, day, kind, scenario, variant, device, count)
SELECT site_id, day::date, 'shown', '', '', '', 2000 + floor(random() * 3000)::int
FROM unnest(:site_ids) AS site_id, generate_series(now() - interval '366 days', now(), interval '1 day') AS day
"""

# Requests after the rollup ran: the last two hours, some still waiting or being called.
RECENT_SQL = """
INSERT INTO callback_request (account_id, site_id, phone, country, status, outcome, mode, duration_s,
    status_token_hash, ip, region, user_agent, source, keyword, page_url, visitor, created_at)
SELECT :account_id, (:site_ids)[1 + g % cardinality(:site_ids)], '+7926' || lpad(g::text, 7, '0'), 'RU',
    (ARRAY['completed', 'completed', 'completed', 'received', 'dialing', 'connected'])[1 + g % 6],
    CASE WHEN g % 6 < 3 THEN 'success' END, 'instant', CASE WHEN g % 6 < 3 THEN 90 END,
    md5(g::text) || md5(g::text), '10.9.9.9', '', '', 'google', '', 'https://shop.example.com/', '{}'::json,
    now() - random() * interval '2 hours'
FROM generate_series(1, :count) AS g
"""


def seed_data(env: dict[str, str], args) -> dict:
    demo = seed(env)
    setup = json.loads(app_python(env, SETUP.format(account_id=demo["account_id"], others=args.others))
                       .strip().splitlines()[-1])
    sizes = [args.requests] + [args.other_requests] * args.others
    account_ids = [account_id for account_id, _, _ in setup["accounts"]]
    statements = [(REQUESTS_SQL, {"account_id": account_id, "site_ids": site_ids, "line_ids": line_ids,
                                  "count": size})
                  for (account_id, site_ids, line_ids), size in zip(setup["accounts"], sizes, strict=True)]
    steps = {"requests": statements,
             "transitions": [(sql, {"account_ids": account_ids}) for sql in TRANSITIONS_SQL],
             "ledger": [(sql, {"account_ids": account_ids}) for sql in LEDGER_SQL[:2]]
             + [(LEDGER_SQL[2], {"mtt": setup["mtt"]})],
             "shows": [(SHOWS_SQL, {"site_ids": [site for _, sites_, _ in setup["accounts"] for site in sites_]})]}
    for name, step in steps.items():
        started = time.perf_counter()
        _sql(env, step)
        print(f"seeded {name} in {time.perf_counter() - started:.0f} s", flush=True)
    started = time.perf_counter()
    counted = app_python(env, "from app.services import stats_rollup\nprint(stats_rollup.roll_up())\n"
                              "print(stats_rollup.roll_up_spend())").split()
    print(f"rollup of {counted[-2]} requests and {counted[-1]} ledger entries in "
          f"{time.perf_counter() - started:.0f} s", flush=True)
    main_id, main_sites, _ = setup["accounts"][0]
    _sql(env, [(RECENT_SQL, {"account_id": main_id, "site_ids": main_sites, "count": 300})])
    _sql(env, [("ANALYZE", {})])
    print(app_python(env, SERVICE_TIMES.format(account_id=main_id)), end="", flush=True)
    return demo


SERVICE_TIMES = """
import statistics, time
import sqlalchemy as sa
from app.extensions import db
from app.models import Account
from app.services import stats
account = db.session.get(Account, {account_id})
start, end = stats.period_bounds("month", account.timezone)
probes = {{"SELECT 1": lambda: db.session.execute(sa.text("SELECT 1")).all(),
          "summary": lambda: stats.summary(account.id, start, end),
          "  of which spend_kop": lambda: stats.spend_kop(account.id, start, end),
          "per_day": lambda: stats.per_day(account.id, start, end, account.timezone),
          "per_hour": lambda: stats.per_hour(account.id, start, end, account.timezone),
          "per_source": lambda: stats.per_source(account.id, start, end)}}
print(f"in-process, month of account {{account.id}} ({{account.timezone}}): "
      f"{{stats.summary(account.id, start, end).requests}} requests")
for name, probe in probes.items():
    times = []
    for _ in range(15):
        started = time.perf_counter()
        probe()
        times.append((time.perf_counter() - started) * 1000)
    print(f"  {{name:22}} median {{statistics.median(times):7.1f}} ms  min {{min(times):7.1f}} ms")
"""


def _sql(env: dict[str, str], statements: list[tuple[str, dict]]) -> None:
    code = ("import json, sqlalchemy as sa\nfrom app.extensions import db\n"
            f"for sql, params in json.loads({json.dumps(json.dumps(statements))}):\n"
            "    db.session.execute(sa.text(sql), params)\n    db.session.commit()\n")
    app_python(env, code)


def login(port: int, email: str, password: str) -> requests.Session:
    session = requests.Session()
    base = f"http://{HOST}:{port}"
    form = session.get(f"{base}/login", timeout=30).text
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', form)
    response = session.post(f"{base}/login", data={"email": email, "password": password,
                                                   "csrf_token": token.group(1) if token else ""}, timeout=30)
    response.raise_for_status()
    if session.get(f"{base}/cabinet/stats", timeout=60, allow_redirects=False).status_code != 200:
        raise RuntimeError("the demo client could not open /cabinet/stats after logging in")
    return session


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(p / 100 * len(ordered))) - 1]


def latencies(session: requests.Session, port: int, rounds: int) -> dict[str, list[float]]:
    paths = {"health": "/api/v1/health", "stats month": "/cabinet/stats?period=month", "calls": "/cabinet/calls"}
    samples: dict[str, list[float]] = {name: [] for name in paths}
    for round_ in range(rounds + 3):  # the first 3 rounds warm up
        for name, path in paths.items():
            started = time.perf_counter()
            response = session.get(f"http://{HOST}:{port}{path}", timeout=60)
            elapsed = (time.perf_counter() - started) * 1000
            if response.status_code != 200:
                raise RuntimeError(f"{path} answered {response.status_code}")
            if round_ >= 3:
                samples[name].append(elapsed)
    return samples


def rss_kb(pid: int, field: str = "VmRSS") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} for {pid}")


def export_memory(session: requests.Session, port: int, pid: int, days: int) -> tuple[int, int, int, float]:
    """(rows, bytes, peak RSS growth in KiB, seconds) of the CSV export of the last `days` local days."""
    today = dt.date.today()
    query = {"from": (today - dt.timedelta(days=days - 1)).isoformat(), "to": today.isoformat()}
    before, peak, done = rss_kb(pid), [0], threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], rss_kb(pid))
            time.sleep(0.01)

    sampler = threading.Thread(target=sample)
    sampler.start()
    started = time.perf_counter()
    size = lines = 0
    try:
        with session.get(f"http://{HOST}:{port}/cabinet/calls.csv", params=query, stream=True, timeout=600) as r:
            r.raise_for_status()
            for chunk in r.iter_content(65536):
                size += len(chunk)
                lines += chunk.count(b"\n")
    finally:
        done.set()
        sampler.join()
    return lines - 1, size, max(0, peak[0] - before), time.perf_counter() - started


def run(tmp: str, args) -> None:
    from servers import free_port, postgres_server

    with postgres_server() as pg:
        pg.create_database("bench")
        port = free_port()
        env = app_env(tmp, port, DATABASE_URL=pg.url("bench"))
        demo = seed_data(env, args)
        with gunicorn(env, port, f"{tmp}/gunicorn.log") as master:
            pid = worker_pid(master)
            session = login(port, demo["client"]["email"], demo["client"]["password"])
            load_before = os.getloadavg()
            samples = latencies(session, port, args.rounds)
            load_after = os.getloadavg()
            exports = [(days, export_memory(session, port, pid, days)) for days in (7, 30, 7, 30)]
            hwm = rss_kb(pid, "VmHWM")
    print(f"load average before {load_before[0]:.2f} / after {load_after[0]:.2f} (1 min); {os.cpu_count()} CPUs; "
          f"{args.rounds} interleaved rounds, one client, keep-alive")
    health = percentile(samples["health"], 95)
    for name, values in samples.items():
        p95 = percentile(values, 95)
        print(f"{name:12} n={len(values):4}  p50 {percentile(values, 50):7.1f} ms  p95 {p95:7.1f} ms  "
              f"max {max(values):7.1f} ms  p95 / health p95 {p95 / health:6.1f}")
    for days, (rows, size, growth, seconds) in exports:
        print(f"calls.csv last {days:2} days: {rows:7} rows, {size / 1e6:6.1f} MB in {seconds:5.1f} s, "
              f"worker RSS growth during the download {growth / 1024:6.1f} MiB")
    print(f"worker peak RSS (VmHWM) {hwm / 1024:.1f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=1_000_000)
    parser.add_argument("--others", type=int, default=10)
    parser.add_argument("--other-requests", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=60)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run(tmp, args)


if __name__ == "__main__":
    main()
