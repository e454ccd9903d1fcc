"""Back office: bank invoices (B8). Managers read them; administrators mark them paid or cancel them.

Rows change only through `app.services.invoices`, so the view never edits them. Mark paid and Cancel are
Flask-Admin list actions (a POST with the CSRF token, from the checkboxes or a row's own buttons) offered only
to holders of `backoffice.admin`; marking paid credits the client once (ledger key `invoice:<id>`), however
often it is posted. Any invoice's document opens here as HTML or PDF.
"""
from __future__ import annotations

import sqlalchemy as sa
from flask import abort, flash, url_for
from flask_admin import Admin, expose
from flask_admin.actions import action
from flask_admin.contrib.sqla.filters import BaseSQLAFilter, FilterEqual
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup

from admin.base import SecureModelView
from app.extensions import db
from app.models import Account, Invoice, User
from app.permissions import feature_permission
from app.services import invoices
from app.services.invoices import InvoiceError
from app.templating import money

STATUSES = [(invoices.ISSUED, _l("Awaiting payment")), (invoices.PAID, _l("Paid")),
            (invoices.CANCELED, _l("Canceled"))]
ADMIN_KEY = "backoffice.admin"  # who may mark paid and cancel; managers (backoffice.accounts) only read


class ClientFilter(BaseSQLAFilter):
    """By the client ID staff see everywhere (K7M-4QXZ), not by the internal account number."""

    def apply(self, query, value, alias=None):
        ids = sa.select(Account.id).where(sa.func.upper(Account.client_code) == value.strip().upper())
        return query.filter(self.get_column(alias).in_(ids))

    def operation(self):
        return _l("client ID is")


def _account(view, context, model: Invoice, name) -> Markup:
    account = db.session.get(Account, model.account_id)
    return Markup('<a href="{}">{}</a>').format(url_for("accounts.details_view", id=account.id),
                                                f"{account.client_code} {account.company}")


def _payer(view, context, model: Invoice, name) -> str:
    return f"{model.payer.get('name', '')}, ИНН {model.payer.get('inn', '')}"


def _paid_by(view, context, model: Invoice, name) -> str:
    user = db.session.get(User, model.paid_by_id) if model.paid_by_id else None
    return user.email if user is not None else ""


def _documents(view, context, model: Invoice, name) -> Markup:
    return Markup('<a href="{}">HTML</a> · <a href="{}">PDF</a>').format(
        url_for(".document_html", invoice_id=model.id), url_for(".document_pdf", invoice_id=model.id))


def _buttons(view, context, model: Invoice, name) -> Markup:
    """The row's own Mark paid / Cancel buttons: the list action posted for this one row."""
    if model.status != invoices.ISSUED or not feature_permission(ADMIN_KEY).can():
        return Markup("")
    form = ('<form method="post" action="{action}" class="d-inline" onsubmit="return confirm({confirm})">'
            '<input type="hidden" name="csrf_token" value="{csrf}"><input type="hidden" name="action" value="{name}">'
            '<input type="hidden" name="rowid" value="{id}"><button type="submit" class="btn btn-sm {style}" '
            'data-action="{name}">{label}</button></form>')
    return Markup(" ").join(
        Markup(form).format(action=url_for(".action_view"), csrf=generate_csrf(), name=action_name, id=model.id,
                            style=style, label=label, confirm=Markup.escape(repr(str(question))))
        for action_name, label, question, style in (
            ("mark_paid", _("Mark paid"), _("Credit %(amount)s to the client?", amount=money(model.amount_kop)),
             "btn-success"),
            ("cancel", _("Cancel"), _("Cancel this invoice?"), "btn-outline-danger")))


class InvoiceView(SecureModelView):
    permission_key = "backoffice.accounts"
    can_create = False
    can_edit = False
    can_delete = False
    column_default_sort = ("id", True)
    column_list = ["number", "account_id", "payer", "amount_kop", "status", "issued_at", "due_at", "paid_at",
                   "paid_by_id", "documents", "buttons"]
    column_details_list = ["number", "account_id", "payer", "amount_kop", "status", "issued_at", "due_at",
                           "paid_at", "paid_by_id", "documents", "supplier"]
    column_sortable_list = ["number", "amount_kop", "status", "issued_at", "due_at", "paid_at"]
    column_searchable_list = ["number"]
    column_filters = [FilterEqual(Invoice.status, _l("Status"), options=STATUSES),
                      ClientFilter(Invoice.account_id, _l("Account")), "issued_at", "paid_at"]
    column_labels = {"number": _l("Number"), "account_id": _l("Account"), "payer": _l("Payer"),
                     "amount_kop": _l("Amount"), "status": _l("Status"), "issued_at": _l("Issued"),
                     "due_at": _l("Valid until"), "paid_at": _l("Paid"), "paid_by_id": _l("Marked paid by"),
                     "documents": _l("Invoice"), "buttons": "", "supplier": _l("Supplier")}
    column_formatters = {"account_id": _account, "payer": _payer, "amount_kop": lambda v, c, m, n: money(m.amount_kop),
                         "status": lambda v, c, m, n: dict(STATUSES).get(m.status, m.status),
                         "paid_by_id": _paid_by, "documents": _documents, "buttons": _buttons}

    def is_action_allowed(self, name: str) -> bool:
        if name in ("mark_paid", "cancel") and not feature_permission(ADMIN_KEY).can():
            return False
        return super().is_action_allowed(name)

    @action("mark_paid", _l("Mark paid"), _l("Credit the selected invoices' amounts to their clients?"))
    def action_mark_paid(self, ids):
        for invoice_id in _ids(ids):
            self._apply(invoice_id, lambda i: invoices.mark_paid(i, current_user.id),
                        _("Invoice № %(number)s is paid: %(amount)s credited to the client."),
                        _("Invoice № %(number)s was already paid: nothing credited again."))

    @action("cancel", _l("Cancel"), _l("Cancel the selected invoices?"))
    def action_cancel(self, ids):
        for invoice_id in _ids(ids):
            self._apply(invoice_id, lambda i: invoices.cancel(i, current_user.id),
                        _("Invoice № %(number)s is canceled."), _("Invoice № %(number)s was already canceled."))

    @staticmethod
    def _apply(invoice_id: int, change, done: str, unchanged: str) -> None:
        """One invoice per transaction: a refused one (wrong state) does not undo the others."""
        invoice = db.session.get(Invoice, invoice_id)
        if invoice is None:
            return
        before = invoice.status
        try:
            invoice = change(invoice_id)
        except InvoiceError as exc:
            db.session.rollback()
            flash(_("Invoice %(id)s: %(reason)s", id=invoice_id, reason=str(exc)), "error")
            return
        number, amount, changed = invoice.number, money(invoice.amount_kop), invoice.status != before
        db.session.commit()
        flash((done if changed else unchanged) % {"number": number, "amount": amount},
              "success" if changed else "info")

    @expose("/document/<int:invoice_id>")
    def document_html(self, invoice_id: int):
        return invoices.render_html(_invoice_or_404(invoice_id))

    @expose("/document/<int:invoice_id>.pdf")
    def document_pdf(self, invoice_id: int):
        return invoices.pdf_response(_invoice_or_404(invoice_id))


def _ids(ids) -> list[int]:
    return [int(value) for value in ids if str(value).isdigit()]


def _invoice_or_404(invoice_id: int) -> Invoice:
    invoice = db.session.get(Invoice, invoice_id)
    if invoice is None:
        abort(404)
    return invoice


def register(admin: Admin) -> None:
    admin.add_view(InvoiceView(Invoice, name=_l("Invoices"), endpoint="invoices", category=_l("Clients")))
