"""A probe (not issue 9's benchmark): how long the statistics service takes for a month of one account.

    .venv/bin/python bench/stats_probe.py [--requests 200000] [--pg]

Writes `--requests` completed requests spread over 12 months for one account (each with one `connected`
transition), then times `stats.summary`, `per_day`, `per_hour` and `per_source` for the last 30 days in
Europe/Moscow, 5 runs each, and prints the fastest and the median beside a trivial `SELECT 1` of the same
session. No other accounts, no HTTP, no rollup: it says where the service's time goes, nothing more.
With --pg a throwaway PostgreSQL is started as in the tests (tests/servers.py).
"""
from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

NOW = dt.datetime(2026, 11, 27, tzinfo=dt.UTC)
OUTCOMES = ("success", "manager_no_answer", "client_no_answer")


def _app(url: str, instance: str):
    from flask_migrate import upgrade

    from app import create_app

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "INSTANCE_PATH": instance, "SECRET_KEY": "bench",
                      "HUEY_IMMEDIATE": True})
    with app.app_context():
        upgrade()
    return app


def _seed(count: int) -> int:
    import sqlalchemy as sa

    from app.extensions import db
    from app.models import Account, CallbackRequest, DialerTransition
    from app.services import accounts, sites

    account_id = accounts.signup("probe@bench.example.com", "correct-horse-9", "Bench").account_id
    site_id = sites.create_site(db.session.get(Account, account_id), "bench", ["bench.example.com"]).id
    db.session.commit()
    rng = random.Random(9)
    for first in range(0, count, 20_000):
        rows = [dict(account_id=account_id, site_id=site_id, phone="+79995550000", country="RU", mode="instant",
                     status="completed", outcome=rng.choice(OUTCOMES), duration_s=60, status_token_hash="0" * 64,
                     ip="10.0.0.1", source=rng.choice(("google", "yandex", "direct")),
                     created_at=NOW - dt.timedelta(seconds=rng.randint(0, 365 * 86400)))
                for _ in range(min(20_000, count - first))]
        db.session.execute(sa.insert(CallbackRequest), rows)
    db.session.commit()
    ids = db.session.execute(sa.select(CallbackRequest.id, CallbackRequest.created_at)).all()
    for first in range(0, len(ids), 20_000):
        db.session.execute(sa.insert(DialerTransition), [
            dict(request_id=request_id, status="connected", at=created + dt.timedelta(seconds=rng.randint(5, 60)))
            for request_id, created in ids[first:first + 20_000]])
    db.session.commit()
    return account_id


def run(app, count: int) -> None:
    import sqlalchemy as sa

    from app.extensions import db
    from app.services import stats

    with app.app_context():
        account_id = _seed(count)
        start, end = stats.period_bounds("month", "Europe/Moscow", today=NOW.date())
        probes = [("SELECT 1", lambda: db.session.execute(sa.text("SELECT 1")).all()),
                  ("summary", lambda: stats.summary(account_id, start, end)),
                  ("per_day", lambda: stats.per_day(account_id, start, end, "Europe/Moscow")),
                  ("per_hour", lambda: stats.per_hour(account_id, start, end, "Europe/Moscow")),
                  ("per_source", lambda: stats.per_source(account_id, start, end))]
        print(f"{stats.summary(account_id, start, end).requests} requests in the month of {count}")
        for name, probe in probes:
            times = []
            for _ in range(5):
                started = time.perf_counter()
                probe()
                times.append((time.perf_counter() - started) * 1000)
            print(f"  {name:10} min {min(times):7.1f} ms   median {statistics.median(times):7.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=200_000)
    parser.add_argument("--pg", action="store_true", help="also on a throwaway PostgreSQL")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        targets = [("sqlite", contextlib.nullcontext(f"sqlite:///{tmp}/bench.sqlite"))]
        if args.pg:
            targets.append(("postgresql", _pg_url()))
        for name, url_ctx in targets:
            with url_ctx as url:
                print(name)
                run(_app(url, tmp), args.requests)


@contextlib.contextmanager
def _pg_url():
    from servers import postgres_server

    with postgres_server() as pg:
        pg.create_database("bench")
        yield pg.url("bench")


if __name__ == "__main__":
    main()
