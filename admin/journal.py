"""Read-only journals: the ledger and the audit log."""
from __future__ import annotations

import json

from flask_babel import lazy_gettext as _l
from markupsafe import Markup

from admin.base import SecureModelView
from app.models import AuditLog, LedgerTransaction
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


def register(admin) -> None:
    category = _l("Journals")
    admin.add_view(LedgerView(LedgerTransaction, name=_l("Ledger"), endpoint="ledger", category=category))
    admin.add_view(AuditLogView(AuditLog, name=_l("Audit log"), endpoint="audit", category=category))
