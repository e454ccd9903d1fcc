"""The audit log (R5): a session listener records every create, change and delete, whatever the path.

Who acted comes from the logged-in user in a request, else from `acting_as(...)` (CLI commands, worker
tasks), else "system". Journals that are audit trails themselves are not copied: the ledger (append-only,
keyed), the notification outbox (its own status and attempts), and visitors' traffic: callback requests
(their own status and, later, attempts), consent records, widget event counters and limiter hits.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import decimal
from contextvars import ContextVar

import sqlalchemy as sa
from flask import has_request_context
from sqlalchemy import event, inspect
from sqlalchemy.orm import Session

from app.db import utcnow

_actor: ContextVar[str | None] = ContextVar("audit_actor", default=None)
MASKED = {"password_hash"}
SKIPPED_TABLES = {"audit_log", "ledger_account", "ledger_transaction", "ledger_entry", "notification",
                  "callback_request", "consent_text", "consent_record", "widget_event_count", "limit_hit"}


@contextlib.contextmanager
def acting_as(actor: str):
    token = _actor.set(actor)
    try:
        yield
    finally:
        _actor.reset(token)


def _who() -> tuple[str, int | None]:
    if has_request_context():
        from flask_login import current_user

        if current_user.is_authenticated:
            return f"{current_user.role}:{current_user.email}"[:120], current_user.id
    return _actor.get() or "system", None


def _plain(value):
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if value is None or isinstance(value, bool | int | float | str | list | dict):
        return value
    return str(value)


def _changes(obj, action: str, session: Session) -> dict:
    hook = getattr(obj, "audit_changes", None)
    if hook is not None and action == "create":
        return hook(session.connection())
    state = inspect(obj)
    changes = {}
    for attr in state.mapper.column_attrs:
        history = state.attrs[attr.key].history
        if action == "update" and not history.has_changes():
            continue
        old = history.deleted[0] if history.deleted else (history.unchanged[0] if action == "delete"
                                                          and history.unchanged else None)
        new = None if action == "delete" else (history.added[0] if history.added else
                                               (history.unchanged[0] if history.unchanged else None))
        if action != "delete" and old == new:
            continue
        if attr.key in MASKED:
            old, new = ("***" if old is not None else None), ("***" if new is not None else None)
        changes[attr.key] = [_plain(old), _plain(new)]
    return changes


def _account_of(obj) -> int | None:
    if obj.__tablename__ == "account":
        return obj.id
    return getattr(obj, "account_id", None)


@event.listens_for(Session, "after_flush")
def _record(session: Session, flush_context) -> None:
    actor, user_id = _who()
    now = utcnow()
    rows = []
    for action, objects in (("create", session.new), ("update", session.dirty), ("delete", session.deleted)):
        for obj in objects:
            table = getattr(obj, "__tablename__", None)
            if table is None or table in SKIPPED_TABLES:
                continue
            changes = _changes(obj, action, session)
            if action == "update" and not changes:
                continue
            row_id = ",".join(str(v) for v in inspect(obj).mapper.primary_key_from_instance(obj))
            rows.append({"at": now, "actor": actor, "user_id": user_id, "account_id": _account_of(obj),
                         "action": action, "table_name": table, "row_id": row_id, "changes": changes})
    if rows:
        from app.models import AuditLog

        session.connection().execute(sa.insert(AuditLog.__table__), rows)
