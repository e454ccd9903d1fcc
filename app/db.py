"""Declarative base, constraint naming, UTC timestamps and SQLite connection set-up."""
from __future__ import annotations

import datetime as dt
import decimal

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Session, registry

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

SQLITE_BUSY_TIMEOUT_MS = 30_000


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def insert(session: Session, table):
    """An INSERT with ON CONFLICT clauses for the session's database (SQLite or PostgreSQL)."""
    module = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    return module.insert(table)


class HundredthsKopeck(sa.types.TypeDecorator):
    """An exact Decimal number of kopecks with two places, kept as an integer of hundredths on every backend.

    (SQLite has no exact decimal type; a float would not do for money.)
    """

    impl = sa.BigInteger
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        hundredths = decimal.Decimal(value) * 100
        if hundredths != hundredths.to_integral_value():
            raise ValueError(f"{value} has more than two decimal places")
        return int(hundredths)

    def process_result_value(self, value, dialect):
        return None if value is None else decimal.Decimal(value) / 100


class UTCDateTime(sa.types.TypeDecorator):
    """Aware UTC datetimes on every backend; SQLite hands back naive values, PostgreSQL aware ones."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        # Naive values (typed into a back-office form or filter) are taken as UTC.
        value = value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    registry = registry(
        metadata=sa.MetaData(naming_convention=NAMING_CONVENTION),
        type_annotation_map={dt.datetime: UTCDateTime()},
    )


@event.listens_for(Engine, "connect")
def _sqlite_on_connect(dbapi_connection, connection_record):
    """WAL, a busy timeout, and no pysqlite-managed transactions (we emit BEGIN IMMEDIATE ourselves)."""
    if type(dbapi_connection).__module__.split(".")[0] not in {"sqlite3", "pysqlite2"}:
        return
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


@event.listens_for(Engine, "begin")
def _sqlite_on_begin(conn):
    # A deferred SQLite transaction that later writes fails at once with "database is locked"
    # when another writer got in first; taking the write lock at BEGIN makes writers queue instead.
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def on_commit(session, callback) -> None:
    """Run `callback()` once `session`'s outermost transaction commits (dropped on rollback).

    Used to enqueue worker tasks only for rows that really exist: a task enqueued before commit could run
    before the row is visible, or for a row that is then rolled back.
    """
    session.info.setdefault("on_commit", []).append(callback)


@event.listens_for(Session, "after_commit")
def _run_on_commit(session):
    if session.in_nested_transaction():  # SQLAlchemy fires after_commit on a savepoint's release too
        return
    callbacks = session.info.pop("on_commit", [])
    for callback in callbacks:
        callback()


@event.listens_for(Session, "after_rollback")
def _drop_on_commit(session):
    if session.in_nested_transaction():  # a savepoint's rollback: kept (a task for a row rolled back finds none)
        return
    session.info.pop("on_commit", None)
