"""Single flight for periodic tasks: a lease row per task name, taken with an atomic insert-or-take-over-if-
expired and released by its holder. Unlike a Huey lock it expires, so a worker killed mid-run (SIGKILL, OOM)
holds it back for `ttl_s` at most, with no restart needed. Commits: call it between the task's transactions."""
from __future__ import annotations

import contextlib
import datetime as dt
import logging
import uuid
from collections.abc import Iterator

import sqlalchemy as sa

from app.db import insert, utcnow
from app.extensions import db
from app.models import TaskLease

log = logging.getLogger(__name__)


def acquire(name: str, holder: str, ttl_s: int) -> bool:
    now = utcnow()
    expires_at = now + dt.timedelta(seconds=ttl_s)
    taken = db.session.execute(
        insert(db.session, TaskLease).values(name=name, holder=holder, expires_at=expires_at)
        .on_conflict_do_nothing(index_elements=["name"]).returning(TaskLease.name)).scalar_one_or_none()
    if taken is None:  # held: take it over only if it has expired
        taken = db.session.execute(
            sa.update(TaskLease).where(TaskLease.name == name, TaskLease.expires_at < now)
            .values(holder=holder, expires_at=expires_at).execution_options(synchronize_session=False)).rowcount
    db.session.commit()
    return bool(taken)


def release(name: str, holder: str) -> None:
    db.session.rollback()
    db.session.execute(sa.delete(TaskLease).where(TaskLease.name == name, TaskLease.holder == holder))
    db.session.commit()


@contextlib.contextmanager
def single_flight(name: str, ttl_s: int) -> Iterator[bool]:
    """Yield True and hold the lease `name` for the body, or yield False when another run holds it."""
    holder = uuid.uuid4().hex
    if not acquire(name, holder, ttl_s):
        log.info("%s: another run holds the lease", name)
        yield False
        return
    try:
        yield True
    finally:
        release(name, holder)
