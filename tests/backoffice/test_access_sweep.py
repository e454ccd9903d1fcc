"""Every back-office view × every role × every operation answers exactly what it should, and nothing else.

The cases are generated at collection time from the views a throwaway app registers with Flask-Admin, so a
new view (or a new flag, action, filter, sortable column or ajax lookup on an old one) is swept without
editing this file. What a case expects follows from three things only:

* who asks: a stranger is sent to log in, a client gets 403, staff without the view's `permission_key`
  get 403 (administrators have every key; managers have `permissions.MANAGER_DEFAULTS`);
* the view's flags (`can_create`, `can_edit`, `can_delete`, `can_view_details`, `can_export`) and allowed
  actions: a disabled operation gets Flask-Admin's answer for it, a redirect back to the list;
* the database: a request that is not allowed leaves the rows (and the audit log) as they were, an allowed
  one really changed them; a POST without a CSRF token changes nothing, even for the administrator.

Forms are posted as a browser posts them: the view's own form, rendered for the row (or empty for create),
serialised field by field, with the few values a person would type put in. The list is also opened with
each filter, each sortable column and a search, since those build SQL of their own. Every case runs on SQLite;
the administrator's run on PostgreSQL too (one app, one set of users and rows per backend, logged-in clients reused).

The guard tests at the end fail when a registered view has no payload or row factory, or exposes a route
this sweep does not know. Known application bugs are listed in KNOWN_BUGS as strict xfails.
"""
from __future__ import annotations

import dataclasses
import fnmatch
import html
import itertools
import json
import os
import re
import traceback
from urllib.parse import parse_qs, urlencode, urlparse

import pytest
import sqlalchemy as sa
from helpers import collection_app, csrf_token, form_values, fresh_database_url
from money_rows import card_row, invoice_row, issued_invoice, payment_row, refund_row, refundable_payment
from request_rows import request_row, request_with_timeline

from app.services import permissions
from dialer.sandbox.yookassa import FakeYooKassa

ROLES = ("anonymous", "client", "manager", "admin")
PASSWORD = "sweep-pass-123"
UNREGISTERED_AJAX_FIELD = "__no_such_field__"
PAGE_FORM_CLASS = "schema-form"  # the form a plain back-office page (settings) posts
PAGE_FORM_CLASSES = {"invoice_status": "invoice-decision"}  # pages whose form is another
# Pages whose form is an action on the money (a refund, an invoice marked paid): posted as typed it must
# change what it acts on, and the change must leave audit rows.
PAGE_POST_ACTIONS = {"payment_refund", "invoice_status"}

# What each kind of answer is called in the test ids.
LOGIN, FORBIDDEN, DISABLED, OK, NOT_FOUND = "login", "403", "disabled", "ok", "404"

# Known application bugs: fnmatch patterns over "<backend>:<case id>". Strict: once the bug is fixed the case
# XPASSes, which fails the run until the entry is removed.
KNOWN_BUGS: dict[str, str] = {}


# --------------------------------------------------------------------------------------------------------------
# The views, read from a throwaway app at collection time
# --------------------------------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class ViewSpec:
    endpoint: str
    url: str
    permission_key: str | None
    is_model_view: bool
    can_create: bool = False
    can_edit: bool = False
    can_delete: bool = False
    can_view_details: bool = False
    can_export: bool = False
    export_types: tuple[str, ...] = ()
    actions: tuple[str, ...] = ()  # every action the view defines
    allowed_actions: tuple[str, ...] = ()  # the ones `get_actions_list()` offers
    ajax_refs: tuple[str, ...] = ()
    editable_columns: tuple[str, ...] = ()
    searchable: bool = False
    sortable: tuple[tuple[str, int], ...] = ()  # (column, its index as `?sort=` takes it)
    filters: tuple[tuple[str, str, str], ...] = ()  # (column, URL key, a valid value) of every filter
    routes: tuple[tuple[str, str, tuple[str, ...]], ...] = ()  # (rule, endpoint name, methods)


def _filter_value(view, flt) -> str:
    """A value a person could pick or type in this filter's widget."""
    options = flt.get_options(view)
    if options:
        return str(options[0][0])
    kind = type(flt).__name__
    by_widget = {"datetimepicker": "2020-01-01 00:00:00", "datepicker": "2020-01-01", "timepicker": "12:00:00",
                 "datetimerangepicker": "2020-01-01 00:00:00 to 2030-12-31 23:59:59",
                 "daterangepicker": "2020-01-01 to 2030-12-31", "timerangepicker": "00:00:00 to 23:59:59"}
    if flt.data_type in by_widget:
        return by_widget[flt.data_type]
    number = "Int" in kind or "Float" in kind
    if flt.data_type == "select2-tags":
        return "1,2" if number else "a,b"
    return "1" if number else "a"


def _filter_column(flt, key: str) -> str:
    column = getattr(flt, "column", None)
    return getattr(column, "key", None) or str(key)


def _read_views() -> list[ViewSpec]:
    from flask_admin.model import BaseModelView

    with collection_app() as app:
        specs = []
        with app.test_request_context("/admin/"):
            for view in app.extensions["admin"][0]._views:
                common = {"endpoint": view.endpoint, "url": view.url,
                          "permission_key": getattr(view, "permission_key", None),
                          "routes": tuple((rule, name, tuple(methods)) for rule, name, methods in view._urls)}
                if not isinstance(view, BaseModelView):
                    specs.append(ViewSpec(is_model_view=False, **common))
                    continue
                specs.append(ViewSpec(
                    is_model_view=True, can_create=view.can_create, can_edit=view.can_edit,
                    can_delete=view.can_delete, can_view_details=view.can_view_details,
                    can_export=view.can_export, export_types=tuple(view.export_types),
                    actions=tuple(name for name, _ in view._actions),
                    allowed_actions=tuple(name for name, _ in view.get_actions_list()[0]),
                    ajax_refs=tuple(view._form_ajax_refs), editable_columns=tuple(view.column_editable_list or ()),
                    searchable=bool(view._search_supported),
                    sortable=tuple((column, i) for i, (column, _) in enumerate(view._list_columns)
                                   if column in view._sortable_columns),
                    filters=tuple((_filter_column(flt, key), key, _filter_value(view, flt))
                                  for key, (_, flt) in (view._filter_args or {}).items()),
                    **common))
    return specs


VIEWS = _read_views()
SPECS = {spec.endpoint: spec for spec in VIEWS}


# --------------------------------------------------------------------------------------------------------------
# Operations and the answer each one should get
# --------------------------------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Op:
    name: str  # list, list:sort, details, create_get, create_post, edit_get, edit_post, delete, export:csv, ...
    method: str = "GET"
    rule: str = "/"  # the Flask-Admin rule it exercises (for the route guard)
    needs_fresh_row: bool = False  # acts on (and may change or delete) a row of its own

    @property
    def changes_state(self) -> bool:
        return self.method == "POST"

    def __str__(self) -> str:
        return self.name


# Flask-Admin's exposed ModelView endpoints, each swept by the operations of `model_ops`.
MODEL_VIEW_ROUTES = {"index_view", "details_view", "create_view", "edit_view", "delete_view", "export",
                     "action_view", "ajax_lookup", "ajax_update"}


def model_ops(spec: ViewSpec) -> list[Op]:
    ops = [Op("list")]
    # The list again with a search, sorted by each sortable column, filtered by each column's filters: each
    # builds SQL of its own. Same rule as the list, so only swept for those who may open the list.
    ops += [Op("list:search")] if spec.searchable else []
    ops += [Op(f"list:sort:{column}") for column, _ in spec.sortable]
    ops += [Op(f"list:filter:{column}") for column in dict.fromkeys(column for column, _, _ in spec.filters)]
    ops += [Op("details", rule="/details/"), Op("create_get", rule="/new/"), Op("create_post", "POST", "/new/"),
            Op("edit_get", rule="/edit/"), Op("edit_post", "POST", "/edit/", needs_fresh_row=True),
            Op("delete", "POST", "/delete/", needs_fresh_row=True)]
    ops += [Op(f"export:{kind}", rule="/export/<export_type>/") for kind in (spec.export_types or ("csv",))]
    ops += [Op(f"action:{name}", "POST", "/action/", needs_fresh_row=True) for name in spec.actions]
    ops += [Op(f"ajax_lookup:{name}", rule="/ajax/lookup/") for name in (*spec.ajax_refs, UNREGISTERED_AJAX_FIELD)]
    ops.append(Op("ajax_update", "POST", "/ajax/update/", needs_fresh_row=True))
    # Routes a model view adds of its own (an invoice's printable documents) are swept as pages.
    return ops + page_ops(spec, [route for route in spec.routes if route[1] not in MODEL_VIEW_ROUTES])


def page_ops(spec: ViewSpec, routes=None) -> list[Op]:
    """A plain BaseView: each exposed rule opened (GET) and, if it takes one, its form posted back as shown.

    A rule that only takes POST (a live preview) is posted the form of the page one level up (`form_post`).
    """
    ops = []
    for rule, _, methods in spec.routes if routes is None else routes:
        ops += [Op(f"page:{rule}", rule=rule)] if "GET" in methods else []
        if "POST" in methods:
            ops.append(Op(f"{'page_post' if 'GET' in methods else 'form_post'}:{rule}", "POST", rule))
    return ops


# The variable parts of plain views' URLs, filled with the seeded rows: a new variable fails the guard test.
URL_VARIABLES = {"account_id": lambda w: w.account_id, "site_id": lambda w: w.seed["sites"],
                 "key": lambda w: w.mail_key,
                 "invoice_id": lambda w: w.run(issued_invoice, w.account_id)}  # a new one: marking pays it
URL_VARIABLE_RE = re.compile(r"<(?:\w+:)?(\w+)>")


# endpoint -> typed(world, n): what a person types into a page whose form, as shown, is empty (an action, not a
# document to save back). Only what is outside the sweep's snapshot may change (the ledger is not audited).
PAGE_POST_TYPED = {
    "adjustments": lambda w, n: {"client_code": w.run(_client_code, w.account_id), "amount": "1,50",
                                 "reason": f"access sweep {n}"},
    "payment_refund": lambda w, n: {"payment_id": str(w.run(refundable_payment, w.yookassa, w.account_id)),
                                    "amount": "1,00", "reason": f"access sweep {n}"},
    "invoice_status": lambda w, n: {"decision": "mark_paid"},
}


def _client_code(account_id: int) -> str:
    from app.extensions import db
    from app.models import Account

    return db.session.get(Account, account_id).client_code


def fill_rule(world, rule: str) -> str:
    return URL_VARIABLE_RE.sub(lambda match: str(URL_VARIABLES[match.group(1)](world)), rule)


def ops_of(spec: ViewSpec) -> list[Op]:
    return model_ops(spec) if spec.is_model_view else page_ops(spec)


def has_key(spec: ViewSpec, role: str) -> bool:
    if role == "admin":
        return True
    if role == "manager":
        return spec.permission_key in permissions.MANAGER_DEFAULTS
    return False


def flagged_answer(spec: ViewSpec, op: Op) -> str:
    """The answer for someone who may open the view: what the view's flags allow."""
    name = op.name
    if name.startswith("list"):
        return OK
    if name == "details":
        return OK if spec.can_view_details else DISABLED
    if name.startswith("create"):
        return OK if spec.can_create else DISABLED
    if name.startswith("edit"):
        return OK if spec.can_edit else DISABLED
    if name == "delete":
        return OK if spec.can_delete else DISABLED
    if name.startswith("export:"):
        return OK if spec.can_export and name.split(":", 1)[1] in spec.export_types else DISABLED
    if name.startswith("action:"):
        return OK if name.split(":", 1)[1] in spec.allowed_actions else DISABLED
    if name.startswith("ajax_lookup:"):
        return OK if name.split(":", 1)[1] in spec.ajax_refs else NOT_FOUND
    if name == "ajax_update":
        # Flask-Admin answers 404 unless the view lists inline-editable columns (it does not look at can_edit).
        return NOT_FOUND if not spec.editable_columns else (OK if spec.can_edit else DISABLED)
    if name.startswith(("page:", "page_post:", "form_post:")):
        return OK
    raise AssertionError(f"no expectation for operation {name}")


def expected_answer(spec: ViewSpec, op: Op, role: str) -> str:
    if role == "anonymous":
        return LOGIN
    if role == "client" or not has_key(spec, role):
        return FORBIDDEN
    return flagged_answer(spec, op)


def _cases():
    for spec in VIEWS:
        for op in ops_of(spec):
            for role in ROLES:
                answer = expected_answer(spec, op, role)
                if op.name.startswith("list:") and answer != OK:
                    continue  # the guard answers before the query string is read: "list" covers it
                yield pytest.param(spec.endpoint, op, role, answer, id=f"{spec.endpoint}-{op}-{role}-{answer}")


CASES = list(_cases())
ADMIN_CASES = [case for case in CASES if case.values[2] == "admin"]
CSRF_CASES = [pytest.param(spec.endpoint, op, id=f"{spec.endpoint}-{op}-admin-no-csrf")
              for spec in VIEWS for op in ops_of(spec) if op.changes_state]


# --------------------------------------------------------------------------------------------------------------
# Rows: a factory per endpoint (a new view without one fails the guard), payloads a person would type
# --------------------------------------------------------------------------------------------------------------

_counter = itertools.count(1)


def _new_account(n):
    """Rows that will be changed or deleted each get an account of their own (and with it a gift, audit rows)."""
    from app.services import accounts

    return accounts.open_account(f"Row account {n}")


def _user_row(n):
    from app.services import accounts

    return accounts.create_user(f"row{n}@rows.example.com", PASSWORD, "client", account_id=_new_account(n).id)


def _opening_row(n):
    from app.models import AccountPermission

    return AccountPermission(account=_new_account(n), key="widget.design.edit", is_granted=True)


def _site_row(n):
    from app.services import sites

    return sites.create_site(_new_account(n), f"Row site {n}", [f"https://row{n}.example.com"])


def _department_row(n):
    from app.models import Department

    return Department(account=_new_account(n), name=f"Row department {n}")


def _line_row(n):
    from app.models import Department, ManagerLine

    account = _new_account(n)
    return ManagerLine(account=account, kind="phone", country="RU", number="+79161234567",
                       manager_name=f"Row manager {n}", department=Department(account=account, name=f"Line {n}"))


def _blacklist_row(n):
    from app.models import BlacklistEntry

    return BlacklistEntry(account=_new_account(n), kind="number", value=f"+7916700{n:04d}", note=f"row {n}")


def _global_blacklist_row(n):
    from app.models import BlacklistEntry

    return BlacklistEntry(account_id=None, kind="number", value=f"+7916800{n:04d}", note=f"global row {n}")


def _ledger_row(n):
    from app.extensions import db
    from app.models import LedgerTransaction

    account = _new_account(n)  # its gift is the transaction to act on
    return db.session.scalar(sa.select(LedgerTransaction).where(LedgerTransaction.key == f"gift:{account.id}"))


def _audit_row(n):
    from app.extensions import db
    from app.models import AuditLog

    _new_account(n)
    db.session.flush()
    return db.session.scalar(sa.select(AuditLog).order_by(AuditLog.id.desc()).limit(1))


def _tariff_row(n):
    """A version still to come (one in effect may not be changed or deleted), with a rate."""
    import datetime as dt
    from decimal import Decimal

    from app.models import Tariff, TariffRate

    return Tariff(name=f"Row tariff {n}", effective_from=dt.datetime.now(dt.UTC) + dt.timedelta(days=1000 + n),
                  rent_month_kop=99_000, rent_discounts={"3": 5}, free_threshold_s=3, sms_retail_kop=300,
                  sms_cost_kop=200, rates=[TariffRate(country="RU", number_class="mobile", leg="client",
                                                      retail_kop_per_min=Decimal("2.37"),
                                                      cost_kop_per_min=Decimal("1.50"))])


def _request_row(n):
    from app.services import sites

    account = _new_account(n)
    return request_row(account.id, sites.create_site(account, f"Row site {n}", [f"https://row{n}.example.com"]).id)


def _outbox_row(n):
    from app.models import Notification

    account = _new_account(n)
    return Notification(account_id=account.id, channel="email", kind="welcome", recipient=f"row{n}@rows.example.com",
                        body_text="a letter")


def _number_block_row(n):
    from app.db import utcnow
    from app.models import NumberBlock

    return NumberBlock(phone=f"+7916777{n % 10_000:04d}", reason="limit_number", created_at=utcnow(), until=None)


def _tariff_payload(w, n):
    import datetime as dt

    when = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(days=5000 + n)
    return {"name": f"Created tariff {n}", "effective_from": f"{when:%Y-%m-%d %H:%M:%S}"}


# endpoint -> factory(n) returning a new row (added to the session or not) that a request may change or delete
ROW_FACTORIES = {
    "accounts": _new_account, "users": _user_row, "openings": _opening_row, "sites": _site_row,
    "lines": _line_row, "departments": _department_row, "blacklist": _blacklist_row,
    "global_blacklist": _global_blacklist_row, "ledger": _ledger_row, "audit": _audit_row,
    "tariffs": _tariff_row, "tariff_versions": _tariff_row,
    "payments": lambda n: payment_row(_new_account(n).id), "payment_cards": lambda n: card_row(_new_account(n).id),
    "refunds": lambda n: refund_row(_new_account(n).id), "invoices": lambda n: invoice_row(_new_account(n).id),
    "requests": _request_row, "outbox": _outbox_row, "number_blocks": lambda n: _number_block_row(n),
}


def _new_account_id(n) -> str:
    from app.extensions import db

    account = _new_account(n)
    db.session.commit()
    return str(account.id)


# endpoint -> (column that marks the created row, payload(world, n): what a person types on the create page)
CREATE_PAYLOADS = {
    "accounts": ("company", lambda w, n: {"company": f"Created company {n}", "timezone": "Asia/Omsk",
                                          "locale": "en"}),
    "users": ("email", lambda w, n: {"email": f"created{n}@staff.example.com", "role": "manager",
                                     "is_active": "y", "new_password": "created-pass-123"}),
    "openings": ("account_id", lambda w, n: {"account": _new_account_id(n), "key": "widget.texts.edit",
                                             "is_granted": "y"}),
    "sites": ("name", lambda w, n: {"account": str(w.account_id), "name": f"Created site {n}",
                                    "domains": f"https://created{n}.example.com\nhttps://www.created{n}.example.com"}),
    "lines": ("manager_name", lambda w, n: {"account": _new_account_id(n), "kind": "phone", "country": "RU",
                                            "number": "+7 916 123-45-67", "manager_name": f"Created manager {n}",
                                            "department": "__None", "is_active": "y", "is_for_all_sites": "y"}),
    "departments": ("name", lambda w, n: {"account": str(w.account_id), "name": f"Created department {n}"}),
    "blacklist": ("note", lambda w, n: {"account": str(w.account_id), "kind": "number",
                                        "value": f"8 916 555-{n // 100 % 100:02d}-{n % 100:02d}",
                                        "note": f"created {n}"}),
    "global_blacklist": ("note", lambda w, n: {"kind": "ip", "value": f"198.18.{n // 250 % 250}.{n % 250 + 1}",
                                               "note": f"created global {n}"}),
    "ledger": ("key", lambda w, n: {"key": f"manual:{n}", "kind": "manual", "memo": "typed by hand"}),
    "audit": ("actor", lambda w, n: {"actor": f"forger {n}", "action": "create", "table_name": "account",
                                     "row_id": "1", "changes": "{}"}),
    # The create form starts as a copy of the latest version, rates included: a person types a name and a date.
    "tariffs": ("name", _tariff_payload),
    "tariff_versions": ("name", _tariff_payload),
    # Read-only journals of money: what a forger would post.
    "payments": ("idempotence_key", lambda w, n: {"account_id": str(w.account_id), "idempotence_key": f"forged-{n}",
                                                 "purpose": "topup", "amount_kop": "100", "status": "succeeded"}),
    "payment_cards": ("provider_method_id", lambda w, n: {"account_id": str(w.account_id),
                                                         "provider_method_id": f"forged-{n}", "title": "forged"}),
    "refunds": ("idempotence_key", lambda w, n: {"payment_id": "1", "idempotence_key": f"forged-{n}",
                                                "amount_kop": "100", "status": "succeeded"}),
    "invoices": ("number", lambda w, n: {"account_id": str(w.account_id), "number": f"FORGED-{n}",
                                         "amount_kop": "100", "status": "paid"}),
    "requests": ("phone", lambda w, n: {"account_id": str(w.account_id), "phone": f"+7999000{n:04d}",
                                        "status": "completed", "outcome": "success"}),
    "outbox": ("recipient", lambda w, n: {"recipient": f"forged{n}@rows.example.com", "kind": "welcome",
                                          "body_text": "forged", "status": "sent"}),
    "number_blocks": ("phone", lambda w, n: {"phone": f"+7916888{n % 10_000:04d}", "reason": "limit_number"}),
}

# endpoint -> (column, value) a person changes on the edit page; the stored row must then hold it
EDIT_CHANGES = {
    "accounts": ("company", "Edited company {n}"),
    "users": ("email", "edited{n}@rows.example.com"),
    "openings": ("key", "widget.texts.edit"),
    "sites": ("name", "Edited site {n}"),
    "lines": ("manager_name", "Edited manager {n}"),
    "departments": ("name", "Edited department {n}"),
    "blacklist": ("note", "edited {n}"),
    "global_blacklist": ("note", "edited global {n}"),
    "ledger": ("memo", "edited {n}"),
    "audit": ("actor", "edited {n}"),
    "tariffs": ("name", "Edited tariff {n}"),
    "tariff_versions": ("name", "Edited tariff {n}"),
    "payments": ("status", "forged {n}"),
    "payment_cards": ("title", "Edited card {n}"),
    "refunds": ("status", "forged {n}"),
    "invoices": ("status", "forged {n}"),
    "requests": ("status", "forged {n}"),
    "outbox": ("status", "forged {n}"),
    "number_blocks": ("reason", "forged {n}"),
}


def _leaf_fields(form):
    """The fields a browser posts: an inline list (a tariff's rates) posts each row's fields, named `rates-0-...`."""
    for field in form:
        if field.type in ("InlineModelFormList", "InlineFieldList"):
            for entry in field.entries:
                yield from _leaf_fields(entry)
        elif field.type == "InlineModelFormField":
            yield from _leaf_fields(field)
        else:
            yield field


def browser_form_data(form) -> dict[str, str | list[str]]:
    """What a browser submits for this rendered form, unchanged (without the CSRF token)."""
    data: dict[str, str | list[str]] = {}
    for field in _leaf_fields(form):
        if field.name == "csrf_token":
            continue
        if field.type in ("FormField", "FieldList"):
            raise AssertionError(f"teach browser_form_data to post {field.type} {field.name!r}")
        if field.type == "BooleanField":
            if field.data:
                data[field.name] = "y"
        elif hasattr(field, "iter_choices"):
            choices = [(str(choice[0]), choice[2]) for choice in field.iter_choices()]
            selected = [value for value, is_selected in choices if is_selected]
            if getattr(field.widget, "multiple", False):
                if selected:
                    data[field.name] = selected
            elif selected or choices:
                data[field.name] = selected[0] if selected else choices[0][0]  # a browser sends the first option
        else:
            data[field.name] = field._value()
    return data


# --------------------------------------------------------------------------------------------------------------
# One app, its users and rows per backend; a logged-in test client per role
# --------------------------------------------------------------------------------------------------------------

@dataclasses.dataclass
class World:
    backend: str
    app: object
    clients: dict
    tokens: dict
    account_id: int  # the client's account
    seed: dict  # endpoint -> id of the row every read-only case looks at
    mail_key: str  # a message the mail catcher received
    views: dict  # endpoint -> the live view
    yookassa: FakeYooKassa  # the payment service the app asks (refunds are real)

    def run(self, fn, *args):
        from app.extensions import db

        with self.app.app_context():
            try:
                return fn(*args)
            finally:
                db.session.remove()

    def new_row(self, endpoint: str) -> str:
        def make():
            from app.extensions import db

            row = ROW_FACTORIES[endpoint](next(_counter))
            db.session.add(row)
            db.session.commit()
            return str(self.views[endpoint].get_pk_value(row))
        return self.run(make)

    def snapshot(self, endpoint: str, row_id: str | None, marker: tuple[str, object] | None = None) -> dict:
        """What a request may have changed: the table's size, the row, marked rows, the audit log's size."""
        from app.extensions import db
        from app.models import AuditLog

        def read():
            state = {"audit": db.session.scalar(sa.select(sa.func.count()).select_from(AuditLog))}
            if not hasattr(self.views[endpoint], "model"):
                return state  # a page of its own (index, mailbox): it must not write anything
            table = self.views[endpoint].model.__table__
            (pk,) = table.primary_key.columns
            state["count"] = db.session.scalar(sa.select(sa.func.count()).select_from(table))
            if row_id is not None:
                row = db.session.execute(sa.select(table).where(pk == int(row_id))).mappings().first()
                state["row"] = dict(row) if row is not None else None
            if marker is not None:
                column, value = marker
                state["marked"] = db.session.scalar(
                    sa.select(sa.func.count()).select_from(table).where(table.c[column] == value))
            return state
        return self.run(read)

    def form_data(self, endpoint: str, row_id: str | None) -> dict:
        """The create form (row_id None) or the edit form of a row, as the browser would post it back."""
        view = self.views[endpoint]
        url = f"{view.url}/edit/?id={row_id}" if row_id else f"{view.url}/new/"

        def render():
            with self.app.test_request_context(url):
                form = view.edit_form(obj=view.get_one(row_id)) if row_id else view.create_form()
                return browser_form_data(form)
        return self.run(render)


def _config(database_url: str, instance: str, mail_port: int) -> dict:
    """As conftest's `app` fixture configures the app."""
    return {"TESTING": True, "SQLALCHEMY_DATABASE_URI": database_url, "INSTANCE_PATH": instance,
            "SECRET_KEY": "test-secret", "HUEY_IMMEDIATE": True, "HUEY_SQLITE_PATH": f"{instance}/huey.sqlite",
            "MAIL_SERVER": "127.0.0.1", "MAIL_PORT": mail_port, "MAIL_TIMEOUT": 5,
            "RATELIMIT_STORAGE_URI": "memory://", "MAIL_CATCHER_DIR": os.path.join(instance, "maildir")}


def _log_in(client, email: str | None, password: str | None) -> str:
    """Open the log-in page (the session gets its CSRF token), log in unless anonymous; returns the token."""
    token = csrf_token(client.get("/login").get_data(as_text=True))
    if email:
        response = client.post("/login", data={"csrf_token": token, "email": email, "password": password})
        assert response.status_code == 302, f"{email} could not log in"
    return token


def _seed(app) -> tuple[int, dict]:
    """The client's account with one row of every kind (and its gift in the ledger, audit rows of it all)."""
    from app.extensions import db
    from app.models import (
        AccountPermission,
        AuditLog,
        BlacklistEntry,
        Department,
        LedgerTransaction,
        ManagerLine,
        Notification,
    )
    from app.services import accounts, sites

    with app.app_context():
        client_user = accounts.signup("client@acme.example.com", PASSWORD, "Acme LLC")
        for role in ("manager", "admin"):
            accounts.create_user(f"{role}@callback.example.com", PASSWORD, role)
        account = client_user.account
        site = sites.create_site(account, "Acme shop", ["https://shop.acme.example.com"])
        department = Department(account=account, name="Sales")
        line = ManagerLine(account=account, kind="phone", country="RU", number="+79161234567",
                           manager_name="Ivan", department=department, is_for_all_sites=False, sites=[site])
        entry = BlacklistEntry(account=account, kind="number", value="+79167654321", note="spammer")
        global_entry = BlacklistEntry(account_id=None, kind="ip", value="198.51.100.7", note="bot")
        opening = AccountPermission(account=account, key="widget.design.edit", is_granted=True)
        db.session.add_all([department, line, entry, global_entry, opening])
        db.session.commit()
        seed = {"accounts": account.id, "users": client_user.id, "openings": opening.id, "sites": site.id,
                "lines": line.id, "departments": department.id, "blacklist": entry.id,
                "global_blacklist": global_entry.id,
                "ledger": db.session.scalar(sa.select(LedgerTransaction.id)
                                            .where(LedgerTransaction.key == f"gift:{account.id}")),
                "audit": db.session.scalar(sa.select(sa.func.max(AuditLog.id))),
                "tariffs": 1, "tariff_versions": 1}  # the starting tariff (migration 0004), in effect
        money = {"payments": payment_row(account.id), "payment_cards": card_row(account.id),
                 "refunds": refund_row(account.id), "invoices": invoice_row(account.id)}
        db.session.add_all(money.values())
        db.session.commit()
        seed.update({endpoint: row.id for endpoint, row in money.items()})
        seed["requests"] = request_with_timeline(account.id, site.id, line_id=line.id)
        db.session.commit()
        seed["number_blocks"] = _seeded(_number_block_row(0))
        seed["outbox"] = db.session.scalar(sa.select(Notification.id).where(Notification.account_id == account.id)
                                           .order_by(Notification.id).limit(1))  # its welcome letter
        assert all(seed.values()), seed
        account_id = account.id
        db.session.remove()
    return account_id, {endpoint: str(row_id) for endpoint, row_id in seed.items()}


def _seeded(row) -> int:
    from app.extensions import db

    db.session.add(row)
    db.session.commit()
    return row.id


def _receive_mail(app) -> str:
    """One message in the catcher's Maildir, as `make run`'s SMTP catcher stores it."""
    import email.message
    import mailbox

    message = email.message.EmailMessage()
    message["Subject"], message["To"], message["From"] = "Welcome", "client@acme.example.com", "noreply@example.com"
    message.set_content("Your client ID is ABC-DEFG.")
    return mailbox.Maildir(app.config["MAIL_CATCHER_DIR"], create=True).add(message)


@pytest.fixture(scope="module")
def world(request, smtp_service, tmp_path_factory):
    """The app on SQLite, its users and rows: every case runs here."""
    yield from _world("sqlite", request, smtp_service, tmp_path_factory)


@pytest.fixture(scope="module")
def pg_world(request, smtp_service, tmp_path_factory):
    """The same on PostgreSQL, for the administrator's cases: the ones that reach every query of every view."""
    yield from _world("postgresql", request, smtp_service, tmp_path_factory)


def _world(backend, request, smtp_service, tmp_path_factory):
    from app import create_app
    from app.extensions import db

    tmp = tmp_path_factory.mktemp(f"access-sweep-{backend}")
    url = fresh_database_url(backend, tmp, request)
    fake = FakeYooKassa("sweep-shop", "test_sweep").start()
    request.addfinalizer(fake.stop)
    app = create_app({**_config(url, str(tmp), smtp_service.port), "YOOKASSA_API_URL": fake.api_url,
                      "YOOKASSA_SHOP_ID": fake.shop_id, "YOOKASSA_SECRET_KEY": fake.secret_key})
    account_id, seed = _seed(app)
    mail_key = _receive_mail(app)
    views = {view.endpoint: view for view in app.extensions["admin"][0]._views}
    users = {"anonymous": (None, None), "client": ("client@acme.example.com", PASSWORD),
             "manager": ("manager@callback.example.com", PASSWORD), "admin": ("admin@callback.example.com", PASSWORD)}
    clients, tokens = {}, {}
    for role, (email, password) in users.items():
        clients[role] = app.test_client()
        tokens[role] = _log_in(clients[role], email, password)
    yield World(backend=backend, app=app, clients=clients, tokens=tokens, account_id=account_id, seed=seed,
                views=views, mail_key=mail_key, yookassa=fake)
    with app.app_context():
        db.engine.dispose()


@pytest.fixture(autouse=True)
def known_bug(request):
    """Mark a case listed in KNOWN_BUGS as a strict xfail: the pattern names the backend, the id the case."""
    callspec = getattr(request.node, "callspec", None)
    if callspec is None:
        return
    case = f"{'postgresql' if 'pg_world' in request.fixturenames else 'sqlite'}:{callspec.id}"
    for pattern, reason in KNOWN_BUGS.items():
        if fnmatch.fnmatchcase(case, pattern):
            request.node.add_marker(pytest.mark.xfail(strict=True, reason=reason))
            return


# --------------------------------------------------------------------------------------------------------------
# The requests
# --------------------------------------------------------------------------------------------------------------

@dataclasses.dataclass
class Request:
    method: str
    urls: list[str]  # a GET may open several (the list with each filter, each sort)
    data: dict | None = None
    row_id: str | None = None  # the row the request acts on (checked afterwards)
    marker: tuple[str, object] | None = None  # a column value only the intended change would store

    @property
    def url(self) -> str:
        return self.urls[0]


def _list_urls(spec: ViewSpec, name: str) -> list[str]:
    base = f"{spec.url}/"
    if name == "list:search":
        return [f"{base}?search=a"]
    if name.startswith("list:sort:"):
        index = dict(spec.sortable)[name.split(":", 2)[2]]
        return [f"{base}?sort={index}", f"{base}?sort={index}&desc=1"]
    if name.startswith("list:filter:"):
        return [f"{base}?{urlencode({f'flt0_{key}': value})}"
                for column, key, value in spec.filters if column == name.split(":", 2)[2]]
    return [base]


def build_request(world: World, spec: ViewSpec, op: Op, role: str, *, with_csrf: bool = True) -> Request:
    base = spec.url
    n = next(_counter)
    # A row of its own only where it will be changed or deleted; a refused request must not touch the shared one.
    fresh = op.needs_fresh_row and expected_answer(spec, op, role) == OK
    row_id = world.new_row(spec.endpoint) if fresh else world.seed.get(spec.endpoint)
    csrf = {"csrf_token": world.tokens[role]} if with_csrf else {}
    name = op.name
    if name.startswith("page:"):
        return Request("GET", [base + fill_rule(world, name.split(":", 1)[1])])
    if name.startswith(("page_post:", "form_post:")):
        url = base + fill_rule(world, name.split(":", 1)[1])
        page = url if name.startswith("page_post:") else url.rsplit("/", 1)[0]
        form_class = PAGE_FORM_CLASSES.get(spec.endpoint, PAGE_FORM_CLASS)
        shown = form_values(world.clients["admin"].get(page).get_data(as_text=True), form_class)
        assert shown, f"{page}: no form.{form_class} on the page: teach the sweep to post this page's form"
        shown.pop("csrf_token", None)
        typed = PAGE_POST_TYPED[spec.endpoint](world, n) if spec.endpoint in PAGE_POST_TYPED else {}
        return Request("POST", [url], {**shown, **typed, **csrf})
    if name.startswith("list"):
        return Request("GET", _list_urls(spec, name))
    if name == "details":
        return Request("GET", [f"{base}/details/?id={row_id}"], row_id=row_id)
    if name == "create_get":
        return Request("GET", [f"{base}/new/"])
    if name == "edit_get":
        return Request("GET", [f"{base}/edit/?id={row_id}"], row_id=row_id)
    if name.startswith("export:"):
        return Request("GET", [f"{base}/export/{name.split(':', 1)[1]}/"])
    if name.startswith("ajax_lookup:"):
        return Request("GET", [f"{base}/ajax/lookup/?name={name.split(':', 1)[1]}&query=a"])
    if name == "create_post":
        column, payload = CREATE_PAYLOADS[spec.endpoint]
        typed = world.run(payload, world, n)
        data = {**world.form_data(spec.endpoint, None), **typed, **csrf}
        marker_value = int(typed["account"]) if column == "account_id" else typed[column]
        return Request("POST", [f"{base}/new/"], data, marker=(column, marker_value))
    if name == "edit_post":
        column, template = EDIT_CHANGES[spec.endpoint]
        value = template.format(n=n)
        data = {**world.form_data(spec.endpoint, row_id), column: value, **csrf}
        return Request("POST", [f"{base}/edit/?id={row_id}"], data, row_id=row_id, marker=(column, value))
    if name == "delete":
        return Request("POST", [f"{base}/delete/"], {"id": row_id, "url": f"{base}/", **csrf}, row_id=row_id)
    if name.startswith("action:"):
        return Request("POST", [f"{base}/action/"],
                       {"action": name.split(":", 1)[1], "rowid": row_id, "url": f"{base}/", **csrf}, row_id=row_id)
    if name == "ajax_update":
        column = spec.editable_columns[0] if spec.editable_columns else EDIT_CHANGES[spec.endpoint][0]
        value = f"inline {n}"
        return Request("POST", [f"{base}/ajax/update/"], {"list_form_pk": row_id, column: value, **csrf},
                       row_id=row_id, marker=(column, value))
    raise AssertionError(f"no request for operation {name}")


PROJECT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _where(exc: BaseException) -> str:
    frames = [frame for frame in traceback.extract_tb(exc.__traceback__)
              if frame.filename.startswith(PROJECT) and "/.venv/" not in frame.filename
              and "/tests/" not in frame.filename]
    return f" at {os.path.relpath(frames[-1].filename, PROJECT)}:{frames[-1].lineno}" if frames else ""


def _line(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0][:300]}{_where(exc)}"


def server_error(exc: BaseException) -> str:
    """A crash in one line: the exception and where in the project it was raised, and what first went wrong."""
    root = exc
    for _ in range(10):
        if not (root.__cause__ or root.__context__):
            break
        root = root.__cause__ or root.__context__
    return f"500 {_line(exc)}" + ("" if root is exc else f"; first {_line(root)}")


def send(world: World, role: str, request: Request) -> list:
    """The responses; a crash (the test app propagates exceptions) becomes a short failure, not a 200-line trace."""
    client = world.clients[role]
    try:
        if request.method == "GET":
            return [client.get(url) for url in request.urls]  # several only for those who may open the list
        return [client.post(request.url, data=request.data)]
    except Exception as exc:  # noqa: BLE001  (any crash is the finding)
        message = f"{request.method} {request.url} as {role} ({world.backend}): {server_error(exc)}"
    raise AssertionError(message)


def _path(response) -> str:
    return urlparse(response.headers.get("Location", "")).path


def _pop_flashes(world: World, role: str) -> list:
    """Messages flashed but not yet shown (a redirect's); a rendered page has shown (and consumed) its own."""
    with world.clients[role].session_transaction() as session:
        return session.pop("_flashes", [])


ALERT_RE = re.compile(r'class="alert alert-(?:danger|error|warning)[^"]*"[^>]*>(.*?)</div>', re.S)
FIELD_ERROR_RE = re.compile(r'class="(?:help-block|invalid-feedback)[^"]*"[^>]*>(.*?)</', re.S)


def _text(fragment: str) -> str:
    return html.unescape(" ".join(re.sub(r"<[^>]+>|&times;", " ", fragment).split()))


def shown_errors(response) -> list[str]:
    """The error messages a page shows: flashed alerts and field errors."""
    if response.mimetype != "text/html":
        return []
    body = response.get_data(as_text=True)
    return [t for t in map(_text, ALERT_RE.findall(body) + FIELD_ERROR_RE.findall(body)) if t]


def describe(response) -> str:
    shown = shown_errors(response) or repr(response.get_data(as_text=True)[:200])
    return f"{response.status_code} {response.headers.get('Location', '')} {shown}"


def assert_unchanged(before: dict, after: dict, what: str) -> None:
    assert after == before, f"{what} changed the database: {before} -> {after}"


# --------------------------------------------------------------------------------------------------------------
# The sweep
# --------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("endpoint, op, role, answer", CASES)
def test_every_view_operation_and_role(world, endpoint, op, role, answer):
    run_case(world, endpoint, op, role, answer)


@pytest.mark.parametrize("endpoint, op, role, answer", ADMIN_CASES)
def test_every_operation_on_postgresql(pg_world, endpoint, op, role, answer):
    """The administrator reaches every query a view builds; the other roles' answers do not depend on the
    database (strangers and clients are turned away before any SQL of the view; a manager runs the same SQL)."""
    run_case(pg_world, endpoint, op, role, answer)


def run_case(world, endpoint, op, role, answer):
    spec = SPECS[endpoint]
    request = build_request(world, spec, op, role)
    before = world.snapshot(endpoint, request.row_id, request.marker)
    responses = send(world, role, request)
    after = world.snapshot(endpoint, request.row_id, request.marker)
    flashes = _pop_flashes(world, role)

    for url, response in zip(request.urls, responses, strict=True):
        what = f"{request.method} {url} as {role} ({world.backend})"
        if answer == LOGIN:
            assert response.status_code == 302 and _path(response) == "/login", f"{what}: {describe(response)}"
            next_url = parse_qs(urlparse(response.headers["Location"]).query).get("next", [""])[0]
            assert next_url.startswith(urlparse(url).path), f"{what}: the log-in does not come back: {next_url}"
        elif answer == FORBIDDEN:
            assert response.status_code == 403, f"{what}: {describe(response)}"
        elif answer == NOT_FOUND:
            assert response.status_code == 404, f"{what}: {describe(response)}"
        elif answer == DISABLED:
            # Flask-Admin's answer to a switched-off operation: back to the list.
            assert response.status_code == 302 and _path(response) == f"{spec.url}/", f"{what}: {describe(response)}"
        else:
            assert answer == OK
            check_allowed(endpoint, op, request, response, url, before, after, flashes, what)
    if answer != OK:
        assert_unchanged(before, after, f"{request.method} {request.url} as {role} ({world.backend})")


def check_allowed(endpoint, op, request, response, url, before, after, flashes, what):
    name = op.name
    if request.method == "GET":
        leads_on = name.startswith("page:") and response.status_code == 302 and _path(response).startswith("/admin/")
        assert response.status_code == 200 or leads_on, f"{what}: {describe(response)}"
        assert not shown_errors(response), f"{what}: the page shows errors {shown_errors(response)}"
        assert_unchanged(before, after, what)
        if name.startswith("page:") and response.mimetype == "application/pdf":
            assert response.get_data().startswith(b"%PDF-"), f"{what}: not a PDF"
            return  # a printable document
        body = response.get_data(as_text=True)
        if name.startswith("page:") and response.status_code == 302:
            return  # a page that only leads on (checked above: within the back office)
        if name.startswith("export:"):
            assert response.mimetype == "text/csv", f"{what}: {response.mimetype}"
            assert "attachment" in response.headers.get("Content-Disposition", "")
            assert len(body.strip().splitlines()) >= 2, f"{what}: no rows exported: {body[:300]!r}"
        elif name.startswith("ajax_lookup:"):
            assert isinstance(json.loads(body), list)
        else:
            assert response.mimetype == "text/html"
            if name in ("create_get", "edit_get"):
                assert 'name="csrf_token"' in body, f"{what}: the form has no CSRF token"
        return
    errors = [message for category, message in flashes if category in ("error", "danger")]
    if name.startswith("form_post:"):
        # A POST-only rule (a live preview) answers the page's form as shown with JSON, and stores nothing.
        assert response.status_code == 200 and response.mimetype == "application/json", f"{what}: {describe(response)}"
        assert_unchanged(before, after, f"{what} (the form as shown)")
        return
    if name.startswith("page_post:"):
        # The page's form posted back as shown (or as typed, PAGE_POST_TYPED) is accepted, and (nothing having
        # been changed) stores nothing the snapshot sees — except an action on money, which must leave audit rows.
        assert response.status_code == 302, f"{what}: {describe(response)} flashed {flashes}"
        assert not errors, f"{what}: flashed errors {errors}"
        if endpoint in PAGE_POST_ACTIONS:
            assert after["audit"] > before["audit"], f"{what}: the action left no audit row ({flashes})"
        else:
            assert_unchanged(before, after, f"{what} (the form as shown)")
        return
    if name == "ajax_update":
        assert response.status_code == 200, f"{what}: {describe(response)}"
    else:
        assert response.status_code == 302, f"{what}: {describe(response)} flashed {flashes}"
        assert _path(response) != urlparse(url).path, f"{what}: came back to the form: {flashes}"
    assert not errors, f"{what}: flashed errors {errors}"
    if name == "create_post":
        assert after["count"] == before["count"] + 1, f"{what}: no row was created ({flashes})"
        assert after["marked"] == before["marked"] + 1, f"{what}: the created row does not hold what was typed"
    elif name in ("edit_post", "ajax_update"):
        column, value = request.marker
        assert after["row"] is not None and after["count"] == before["count"], f"{what}: {before} -> {after}"
        assert after["row"][column] == value, f"{what}: the change was not stored ({flashes}): {after['row']}"
    elif name in ("delete", "action:delete"):
        assert after["row"] is None and after["count"] == before["count"] - 1, f"{what}: not deleted ({flashes})"
    elif name == "action:lift":  # a number block lifted: the row stays, marked lifted
        assert after["row"]["lifted_at"] is not None and after["count"] == before["count"], f"{what}: not lifted"
    elif name == "action:resume_dialing":  # an account's calls resumed: no pause, a new spend-cap window
        assert after["row"]["dialing_paused_at"] is None and after["row"]["dialing_resumed_at"] is not None, \
            f"{what}: not resumed ({flashes})"
    else:
        raise AssertionError(f"{what}: teach check_allowed what {name} does")
    assert after["audit"] > before["audit"], f"{what}: the change left no audit row"


@pytest.mark.parametrize("endpoint, op", CSRF_CASES)
def test_a_post_without_csrf_token_changes_nothing(world, endpoint, op):
    """The administrator may do everything, yet not without the form's token (a forged cross-site POST)."""
    spec = SPECS[endpoint]
    request = build_request(world, spec, op, "admin", with_csrf=False)
    assert "csrf_token" not in request.data
    before = world.snapshot(endpoint, request.row_id, request.marker)
    (response,) = send(world, "admin", request)
    after = world.snapshot(endpoint, request.row_id, request.marker)
    _pop_flashes(world, "admin")
    what = f"POST {request.url} without csrf_token ({world.backend})"
    rerendered_form = response.status_code == 200 and op.name in ("create_post", "edit_post")
    assert response.status_code == 400 or rerendered_form, f"{what}: {describe(response)}"
    assert_unchanged(before, after, what)


@pytest.mark.parametrize("op", ["details", "edit_get", "edit_post", "delete", "action:delete"])
def test_the_account_blacklist_view_cannot_reach_global_entries(world, op):
    """A manager has the account blacklist (backoffice.accounts) but not the global one (backoffice.admin)."""
    spec, global_id = SPECS["blacklist"], world.seed["global_blacklist"]
    token = world.tokens["manager"]
    request = {"details": ("GET", f"{spec.url}/details/?id={global_id}", None),
               "edit_get": ("GET", f"{spec.url}/edit/?id={global_id}", None),
               "edit_post": ("POST", f"{spec.url}/edit/?id={global_id}",
                             {"kind": "ip", "value": "198.51.100.8", "note": "taken over", "csrf_token": token}),
               "delete": ("POST", f"{spec.url}/delete/", {"id": global_id, "csrf_token": token}),
               "action:delete": ("POST", f"{spec.url}/action/",
                                 {"action": "delete", "rowid": global_id, "csrf_token": token})}[op]
    method, url, data = request
    before = world.snapshot("global_blacklist", global_id)
    client = world.clients["manager"]
    (response,) = send(world, "manager", Request(method, [url], data))
    after = world.snapshot("global_blacklist", global_id)
    _pop_flashes(world, "manager")
    assert response.status_code == 302 and _path(response) == f"{spec.url}/", describe(response)
    assert_unchanged(before, after, f"{method} {url} as manager")
    listing = client.get(f"{spec.url}/").get_data(as_text=True)
    assert "198.51.100.7" not in listing


# --------------------------------------------------------------------------------------------------------------
# Guards: the sweep knows every registered view and every route it exposes
# --------------------------------------------------------------------------------------------------------------

def test_the_sweep_sees_the_views_the_app_registers(world):
    assert list(world.views) == list(SPECS), "the collection-time app and the test app disagree"
    assert {"admin", "mailbox"} <= set(SPECS) and len([s for s in VIEWS if s.is_model_view]) >= 10
    swept = {(case.values[0], case.values[1].name) for case in CASES}
    assert swept == {(spec.endpoint, op.name) for spec in VIEWS for op in ops_of(spec)}


def test_every_view_is_a_secure_view_with_a_known_key(world):
    from admin.base import SecureMixin

    for endpoint, view in world.views.items():
        assert isinstance(view, SecureMixin), f"{endpoint}: {type(view).__name__} does not use SecureMixin"
        assert SPECS[endpoint].permission_key in permissions.FEATURES, f"{endpoint}: unknown permission key"


def test_every_model_view_has_a_payload_an_edit_and_a_row_factory():
    model_views = {spec.endpoint for spec in VIEWS if spec.is_model_view}
    for name, table in (("CREATE_PAYLOADS", CREATE_PAYLOADS), ("EDIT_CHANGES", EDIT_CHANGES),
                        ("ROW_FACTORIES", ROW_FACTORIES)):
        assert set(table) >= model_views, f"{name} lacks {sorted(model_views - set(table))}: add them"
        assert set(table) <= model_views, f"{name} names views that are gone: {sorted(set(table) - model_views)}"


def test_every_exposed_route_is_swept():
    for spec in VIEWS:
        swept_rules = {op.rule for op in ops_of(spec)}
        for rule, name, methods in spec.routes:
            if not spec.is_model_view or name not in MODEL_VIEW_ROUTES:  # a page (of its own, or a model view's)
                assert set(methods) <= {"GET", "POST", "HEAD", "OPTIONS"}, f"{spec.endpoint}: {rule} accepts {methods}"
                for variable in URL_VARIABLE_RE.findall(rule):
                    assert variable in URL_VARIABLES, f"{spec.endpoint}: {rule}: add <{variable}> to URL_VARIABLES"
            assert rule in swept_rules, f"{spec.endpoint}: route {rule} is not swept"


def test_every_known_bug_names_a_swept_case():
    ids = {f"sqlite:{case.id}" for case in CASES + CSRF_CASES} | {f"postgresql:{case.id}" for case in ADMIN_CASES}
    for pattern in KNOWN_BUGS:
        assert fnmatch.filter(ids, pattern), f"KNOWN_BUGS: {pattern!r} names no case any more: remove it"


def test_inline_editing_only_where_editing_is_allowed():
    """Flask-Admin's /ajax/update/ does not look at can_edit: a view must not list editable columns without it."""
    for spec in VIEWS:
        assert not spec.editable_columns or spec.can_edit, f"{spec.endpoint}: inline edits bypass can_edit=False"


def test_manager_rights_are_the_role_defaults(world):
    """The expectations read MANAGER_DEFAULTS; the database's global settings must say the same."""
    assert world.run(permissions.role_defaults, "manager") == set(permissions.MANAGER_DEFAULTS)
    assert not {key for key in world.run(permissions.role_defaults, "client") if key.startswith("backoffice.")}
