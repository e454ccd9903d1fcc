"""How much a keyed, balanced ledger posting costs against a plain insert of one row, on the same database.

    .venv/bin/python bench/ledger_post.py [--postings 2000] [--pg]

Reports postings per second and the ratio to the baseline (one `INSERT` of an audit-free row and a
commit per iteration) measured in the same run, so a noisy shared machine shows in both numbers.
With --pg a throwaway PostgreSQL is started as in the tests (tests/servers.py).
"""
from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))


def _app(url: str, instance: str):
    from flask_migrate import upgrade

    from app import create_app

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "INSTANCE_PATH": instance, "SECRET_KEY": "bench",
                      "HUEY_IMMEDIATE": True})
    with app.app_context():
        upgrade()
    return app


def _rate(fn, count: int) -> float:
    started = time.perf_counter()
    for i in range(count):
        fn(i)
    return count / (time.perf_counter() - started)


def run(app, count: int) -> tuple[float, float]:
    import sqlalchemy as sa

    from app.extensions import db
    from app.models import Account, Setting
    from app.services import ledger

    with app.app_context():
        account = Account(client_code="BEN-CH01", company="Bench")
        db.session.add(account)
        db.session.commit()
        client, cash = ledger.client_account(account.id), ledger.system_account("system:cash")
        db.session.commit()

        def baseline(i):
            db.session.execute(sa.insert(Setting).values(key=f"bench{i}", value=i))
            db.session.commit()

        def posting(i):
            ledger.post(f"adjust:bench{i}", "adjust", [(client, 100), (cash, -100)])
            db.session.commit()

        base, post = _rate(baseline, count), _rate(posting, count)
        assert ledger.balance(account.id) == 100 * count
    return base, post


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--postings", type=int, default=2000)
    parser.add_argument("--pg", action="store_true", help="also on a throwaway PostgreSQL")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        targets = [("sqlite", contextlib.nullcontext(f"sqlite:///{tmp}/bench.sqlite"))]
        if args.pg:
            targets.append(("postgresql", _pg_url()))
        for name, url_ctx in targets:
            with url_ctx as url:
                base, post = run(_app(url, tmp), args.postings)
                print(f"{name:10} baseline insert {base:8.0f}/s   ledger.post {post:8.0f}/s   "
                      f"ratio {post / base:.2f}")


@contextlib.contextmanager
def _pg_url():
    from servers import postgres_server

    with postgres_server() as pg:
        pg.create_database("bench")
        yield pg.url("bench")


if __name__ == "__main__":
    main()
