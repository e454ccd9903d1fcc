"""Read-only journals: the ledger, the audit log and the outbox of e-mails and SMS with their delivery status."""
from __future__ import annotations

import json

from flask_babel import lazy_gettext as _l
from markupsafe import Markup

from admin.base import ClientCodeFilter, SecureModelView, account_link
from app.models import AuditLog, LedgerTransaction, Notification
from app.templating import money


class ReadOnlyView(SecureModelView):
    permission_key = "backoffice.journal"
    can_create = False
    can_edit = False
    can_delete = False
    can_export = True
    column_default_sort = ("id", True)


def _entries(view, context, model: LedgerTransaction, name) -> Markup:
    return Markup("<br>").join(f"{entry.ledger_account.code}: {money(entry.amount_kop)}" for entry in model.entries)


def _changes(view, context, model: AuditLog, name) -> Markup:
    return Markup("<br>").join(
        f"{field}: {json.dumps(old, ensure_ascii=False)} → {json.dumps(new, ensure_ascii=False)}"
        for field, (old, new) in sorted(model.changes.items()))


class LedgerView(ReadOnlyView):
    column_list = ["created_at", "key", "kind", "memo", "entries"]
    column_details_list = column_list
    column_searchable_list = ["key", "memo"]
    column_filters = ["kind", "created_at"]
    column_export_exclude_list = ["entries"]
    column_labels = {"created_at": _l("Time"), "key": _l("Key"), "kind": _l("Kind"), "memo": _l("Memo"),
                     "entries": _l("Entries")}
    column_formatters = {"entries": _entries}


class AuditLogView(ReadOnlyView):
    column_list = ["at", "actor", "action", "table_name", "row_id", "account_id", "changes"]
    column_details_list = column_list
    column_searchable_list = ["actor", "table_name"]
    column_filters = ["at", "actor", "action", "table_name", "row_id", "account_id"]
    column_labels = {"at": _l("Time"), "actor": _l("Who"), "action": _l("Action"), "table_name": _l("Table"),
                     "row_id": _l("Row"), "account_id": _l("Account"), "changes": _l("Changes")}
    column_formatters = {"changes": _changes}
    column_formatters_export = {"changes": lambda v, c, model, n: json.dumps(model.changes, ensure_ascii=False)}


def _account(view, context, model: Notification, name) -> Markup | str:
    return account_link(view, context, model, name) if model.account_id is not None else ""


class OutboxView(ReadOnlyView):
    """Every notification and its delivery: pending, sending, sent or failed, with attempts and the last error."""

    column_list = ["created_at", "channel", "kind", "recipient", "account_id", "status", "attempts", "sent_at",
                   "last_error"]
    column_details_list = ["id", "created_at", "channel", "kind", "recipient", "account_id", "locale", "subject",
                           "status", "attempts", "next_attempt_at", "claimed_at", "sent_at", "last_error",
                           "dedup_key", "body_text"]
    column_searchable_list = ["recipient", "dedup_key"]
    column_filters = [ClientCodeFilter(Notification.account_id, _l("Account")), "channel", "kind", "status",
                      "created_at"]
    column_labels = {"id": _l("Number"), "created_at": _l("Time"), "channel": _l("Channel"), "kind": _l("Kind"),
                     "recipient": _l("Recipient"), "account_id": _l("Account"), "locale": _l("Language"),
                     "subject": _l("Subject"), "status": _l("Status"), "attempts": _l("Attempts"),
                     "next_attempt_at": _l("Next attempt"), "claimed_at": _l("Being sent since"),
                     "sent_at": _l("Sent"), "last_error": _l("Last error"), "dedup_key": _l("Key"),
                     "body_text": _l("Text")}
    column_formatters = {"account_id": _account}
    column_formatters_export = {"account_id": lambda v, c, model, n: model.account_id}


def register(admin) -> None:
    category = _l("Journals")
    admin.add_view(LedgerView(LedgerTransaction, name=_l("Ledger"), endpoint="ledger", category=category))
    admin.add_view(AuditLogView(AuditLog, name=_l("Audit log"), endpoint="audit", category=category))
    admin.add_view(OutboxView(Notification, name=_l("E-mails and SMS sent"), endpoint="outbox", category=category))
