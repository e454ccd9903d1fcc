"""The limiter's hourly housekeeping task `limits.purge`: registered for every consumer, scheduled at the top of
each hour, and deleting only the database hits older than the longest window."""
from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from app.db import utcnow
from app.extensions import db
from app.models import LimitHit
from dialer.huey_app import huey
from dialer.tasks import limits as limits_tasks

PHONE = "+79161234567"


def _name(task) -> str:
    return huey._registry.task_to_string(task if isinstance(task, type) else type(task))


def _periodic_names(at: dt.datetime) -> list[str]:
    return [_name(task) for task in huey.read_periodic(at)]


def _insert_hits(app) -> None:
    now = utcnow()
    with app.app_context():
        db.session.add_all([
            LimitHit(key=f"number:day:{PHONE}", member=PHONE, at=now - dt.timedelta(days=1, minutes=5)),
            LimitHit(key="ip:192.0.2.1", member=PHONE, at=now - dt.timedelta(days=7)),
            LimitHit(key=f"number:day:{PHONE}", member=PHONE, at=now - dt.timedelta(hours=23)),
            LimitHit(key=f"number:10m:{PHONE}", member=PHONE, at=now),
        ])
        db.session.commit()


def _kept(app) -> list[dt.datetime]:
    with app.app_context():
        return sorted(db.session.scalars(sa.select(LimitHit.at)))


def test_purge_is_registered_under_its_stable_name():
    import dialer.tasks  # what the worker imports (dialer.main)

    assert dialer.tasks.limits is limits_tasks
    assert huey._registry.string_to_task("limits.purge") is limits_tasks.purge.task_class
    assert "limits.purge" in [_name(task) for task in huey._registry.periodic_tasks]


def test_purge_runs_at_the_top_of_every_hour():
    day = dt.datetime(2026, 3, 2)
    for hour in (0, 7, 23):
        assert "limits.purge" in _periodic_names(day.replace(hour=hour))
        for minute in (1, 30, 59):
            assert "limits.purge" not in _periodic_names(day.replace(hour=hour, minute=minute))


@pytest.mark.backends
def test_purge_deletes_only_hits_older_than_a_day(app, backend):
    _insert_hits(app)
    before = _kept(app)

    assert limits_tasks.purge.call_local() == 2  # in its own app context, committed
    assert _kept(app) == before[2:]  # the two oldest went
    assert limits_tasks.purge.call_local() == 0


def test_purge_enqueued_runs_on_the_queue(app):
    _insert_hits(app)
    assert huey.immediate  # the test app runs tasks at once, as a consumer would pick this one up

    limits_tasks.purge()

    assert len(_kept(app)) == 2
