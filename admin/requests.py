"""Back office: callback requests, read-only; a request's page shows its timeline (app.services.timeline).

The rows change only through the dialer (app.services.dialer), so the view never edits them. Staff who see
accounts (`backoffice.accounts`) see their requests, as they see their payments.
"""
from __future__ import annotations

import json
import re

from flask_admin import Admin
from flask_babel import lazy_gettext as _l
from markupsafe import Markup

from admin.base import ClientCodeFilter, account_link
from admin.journal import ReadOnlyView
from app.extensions import db
from app.models import Account, CallbackRequest, ManagerLine
from app.services import phones, timeline

REQUEST_STATUSES = [("received", _l("Received")), ("scheduled", _l("Scheduled")), ("queued", _l("Queued")),
                    ("dialing", _l("Dialing")), ("manager_answered", _l("Manager answered")),
                    ("connected", _l("Connected")), ("completed", _l("Completed")), ("rejected", _l("Rejected")),
                    ("passive", _l("Forwarded by e-mail")), ("expired", _l("Expired"))]
# The timeline also shows when a second call to a visitor who did not answer was planned (X3).
TRANSITION_LABELS = {**dict(REQUEST_STATUSES), "retry_scheduled": _l("Call again scheduled")}
OUTCOMES = [("success", _l("Talked")), ("manager_no_answer", _l("No manager answered")),
            ("client_no_answer", _l("The client did not answer")), ("failed", _l("Call failed"))]
ATTEMPT_STATUSES = [("created", _l("Created")), ("dialing", _l("Dialing")),
                    ("manager_answered", _l("Manager answered")), ("connected", _l("Connected")),
                    ("ended", _l("Ended")), ("failed", _l("Start refused"))]
PHONE_TYPED_RE = re.compile(r"^[\d\s()+\-]+$")


def phone_search_term(search: str) -> str:
    """A number as staff type it (8 999 555-00-00, +7 (999) 555 00 00) → the digits stored in E.164."""
    if not PHONE_TYPED_RE.match(search) or not any(ch.isdigit() for ch in search):
        return search
    digits = re.sub(r"\D", "", search)
    return "7" + digits[1:] if len(digits) == 11 and digits.startswith("8") else digits


def _phone(view, context, model: CallbackRequest, name) -> str:
    return phones.display(model.phone)


def _account_text(view, context, model, name) -> str:
    return db.session.get(Account, model.account_id).client_code


def _manager(view, context, model: CallbackRequest, name) -> str:
    line = db.session.get(ManagerLine, model.answered_line_id) if model.answered_line_id else None
    if line is None:
        return ""
    return f"{line.manager_name} ({line.number})" if line.manager_name else line.number


def _visitor(view, context, model: CallbackRequest, name) -> Markup:
    return Markup("<pre>{}</pre>").format(json.dumps(model.visitor or {}, ensure_ascii=False, indent=2))


class CallbackRequestView(ReadOnlyView):
    permission_key = "backoffice.accounts"
    details_template = "admin/request_details.html"
    column_default_sort = [("created_at", True), ("id", True)]
    column_list = ["id", "created_at", "account_id", "site", "phone", "status", "outcome", "duration_s",
                   "answered_line_id"]
    column_details_list = ["id", "created_at", "account_id", "site", "phone", "country", "region", "status",
                           "outcome", "reject_reason", "mode", "scheduled_for", "retry_at", "duration_s",
                           "answered_line_id", "status_changed_at", "source", "keyword", "page_url", "ip",
                           "user_agent", "visitor"]
    column_export_list = column_list
    column_searchable_list = ["phone"]
    column_filters = [ClientCodeFilter(CallbackRequest.account_id, _l("Account")), "status", "outcome",
                      "site.name", "created_at"]
    column_choices = {"status": REQUEST_STATUSES, "outcome": OUTCOMES}
    column_labels = {"id": _l("Number"), "created_at": _l("Created"), "account_id": _l("Account"),
                     "site": _l("Site"), "site.name": _l("Site"), "phone": _l("Client number"),
                     "country": _l("Country"), "region": _l("Region"), "status": _l("Status"),
                     "outcome": _l("Outcome"), "reject_reason": _l("Why rejected"), "mode": _l("Mode"),
                     "scheduled_for": _l("Scheduled for"), "retry_at": _l("Call the visitor again at"),
                     "duration_s": _l("Talk, s"), "answered_line_id": _l("Answered by"),
                     "status_changed_at": _l("Status changed"),
                     "source": _l("Source"), "keyword": _l("Keyword"), "page_url": _l("Page"), "ip": _l("IP address"),
                     "user_agent": _l("Browser"), "visitor": _l("Visitor context")}
    column_formatters = {"account_id": account_link, "phone": _phone, "answered_line_id": _manager,
                         "visitor": _visitor}
    column_formatters_export = {"account_id": _account_text, "phone": _phone, "answered_line_id": _manager}

    def _apply_search(self, query, count_query, joins, count_joins, search):
        return super()._apply_search(query, count_query, joins, count_joins, phone_search_term(search))

    def timeline(self, model: CallbackRequest) -> timeline.Timeline:
        """Called by the details template."""
        return timeline.timeline(model)

    def status_label(self, status: str, *, of_attempt: bool = False) -> str:
        return str((dict(ATTEMPT_STATUSES) if of_attempt else TRANSITION_LABELS).get(status, status))

    def outcome_label(self, outcome: str | None) -> str:
        return str(dict(OUTCOMES).get(outcome, outcome or ""))


def register(admin: Admin) -> None:
    admin.add_view(CallbackRequestView(CallbackRequest, name=_l("Callback requests"), endpoint="requests",
                                       category=_l("Sites and calls")))
