"""UTC timestamps on every backend, and the SQLite transaction set-up."""
from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import Account


@pytest.mark.backends
@pytest.mark.parametrize("given, stored", [
    (dt.datetime(2026, 1, 2, 15, 0, tzinfo=dt.timezone(dt.timedelta(hours=3))), dt.datetime(2026, 1, 2, 12, 0)),
    (dt.datetime(2026, 1, 2, 12, 0), dt.datetime(2026, 1, 2, 12, 0)),  # naive: taken as UTC
])
def test_datetimes_come_back_aware_in_utc(app_ctx, backend, given, stored):
    db.session.add(Account(client_code="UTC-TEST", company="Clock", trial_ends_at=given))
    db.session.commit()
    db.session.expire_all()
    value = db.session.scalar(sa.select(Account.trial_ends_at))
    assert value == stored.replace(tzinfo=dt.UTC) and value.utcoffset() == dt.timedelta(0)


def test_sqlite_runs_in_wal_with_a_busy_timeout(app_ctx):
    with db.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30_000
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
