"""Back office: bank invoices (B8). Managers read them; administrators mark them paid or cancel them.

Rows change only through `app.services.invoices`, so the list never edits them. Mark paid and Cancel are
POSTs (with the CSRF token) on an invoice's own page, a view guarded by `backoffice.admin`; marking paid
credits the client once (ledger key `invoice:<id>`), however often it is posted. Any invoice's document opens
from the list as HTML or PDF, for everyone who may read the list.
"""
from __future__ import annotations

from flask import abort, flash, redirect, request, url_for
from flask_admin import Admin, expose
from flask_admin.contrib.sqla.filters import FilterEqual
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from markupsafe import Markup
from wtforms import HiddenField
from wtforms.validators import AnyOf

from admin.base import ClientCodeFilter, SecureBaseView, SecureModelView, account_link
from app.extensions import db
from app.models import Invoice, User
from app.permissions import feature_permission
from app.services import invoices
from app.services.invoices import InvoiceError
from app.templating import money

STATUSES = [(invoices.ISSUED, _l("Awaiting payment")), (invoices.PAID, _l("Paid")),
            (invoices.CANCELED, _l("Canceled"))]
ADMIN_KEY = "backoffice.admin"  # who may mark paid and cancel; managers (backoffice.accounts) only read
DECISIONS = ("mark_paid", "cancel")


def _payer(view, context, model: Invoice, name) -> str:
    return f"{model.payer.get('name', '')}, ИНН {model.payer.get('inn', '')}"


def _paid_by(view, context, model: Invoice, name) -> str:
    user = db.session.get(User, model.paid_by_id) if model.paid_by_id else None
    return user.email if user is not None else ""


def _documents(view, context, model: Invoice, name) -> Markup:
    return Markup('<a href="{}">HTML</a> · <a href="{}">PDF</a>').format(
        url_for(".document_html", invoice_id=model.id), url_for(".document_pdf", invoice_id=model.id))


def _decide_link(view, context, model: Invoice, name) -> Markup:
    if model.status != invoices.ISSUED or not feature_permission(ADMIN_KEY).can():
        return Markup("")
    return Markup('<a href="{}" class="btn btn-sm btn-outline-primary" data-testid="decide">{}</a>').format(
        url_for("invoice_status.invoice", invoice_id=model.id), _("Mark paid or cancel"))


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
                      ClientCodeFilter(Invoice.account_id, _l("Account")), "issued_at", "paid_at"]
    column_labels = {"number": _l("Number"), "account_id": _l("Account"), "payer": _l("Payer"),
                     "amount_kop": _l("Amount"), "status": _l("Status"), "issued_at": _l("Issued"),
                     "due_at": _l("Valid until"), "paid_at": _l("Paid"), "paid_by_id": _l("Marked paid by"),
                     "documents": _l("Invoice"), "buttons": "", "supplier": _l("Supplier")}
    column_formatters = {"account_id": account_link, "payer": _payer,
                         "amount_kop": lambda v, c, m, n: money(m.amount_kop),
                         "status": lambda v, c, m, n: dict(STATUSES).get(m.status, m.status),
                         "paid_by_id": _paid_by, "documents": _documents, "buttons": _decide_link}

    @expose("/document/<int:invoice_id>")
    def document_html(self, invoice_id: int):
        return invoices.render_html(_invoice_or_404(invoice_id))

    @expose("/document/<int:invoice_id>.pdf")
    def document_pdf(self, invoice_id: int):
        return invoices.pdf_response(_invoice_or_404(invoice_id))


def _invoice_or_404(invoice_id: int) -> Invoice:
    invoice = db.session.get(Invoice, invoice_id)
    if invoice is None:
        abort(404)
    return invoice


class DecisionForm(FlaskForm):
    decision = HiddenField(validators=[AnyOf(DECISIONS)])


class InvoiceStatusView(SecureBaseView):
    """One invoice's page where an administrator marks it paid or cancels it (each a POST with CSRF).

    A view of its own, not a list action, so that its key alone (`backoffice.admin`) says who may change an
    invoice, while managers read the list. Posting Mark paid again (a double click, the back button) credits
    nothing more: the service answers with the invoice as it is.
    """

    permission_key = ADMIN_KEY

    def is_visible(self) -> bool:
        return False

    @expose("/")
    def index(self):
        return redirect(url_for("invoices.index_view"))

    @expose("/<int:invoice_id>", methods=("GET", "POST"))
    def invoice(self, invoice_id: int):
        invoice = _invoice_or_404(invoice_id)
        form = DecisionForm()
        if form.validate_on_submit():
            self._decide(invoice, form.decision.data)
            return redirect(request.path)
        if form.errors:
            flash(_("Unknown action: nothing changed."), "error")
        return self.render("admin/invoice_status.html", invoice=invoice, amount=money(invoice.amount_kop),
                           status=dict(STATUSES).get(invoice.status, invoice.status))

    @staticmethod
    def _decide(invoice: Invoice, decision: str) -> None:
        before, invoice_id = invoice.status, invoice.id
        try:
            if decision == "mark_paid":
                invoice = invoices.mark_paid(invoice_id, current_user.id)
            else:
                invoice = invoices.cancel(invoice_id)  # who canceled: the audit log
        except InvoiceError as exc:
            db.session.rollback()
            flash(str(exc), "error")
            return
        changed, status, number, amount = invoice.status != before, invoice.status, invoice.number, invoice.amount_kop
        db.session.commit()
        if not changed:
            flash(_("Nothing changed: invoice № %(number)s is already “%(status)s”.", number=number,
                    status=dict(STATUSES)[status]), "info")
        elif status == invoices.PAID:
            flash(_("Invoice № %(number)s is paid: %(amount)s credited to the client.", number=number,
                    amount=money(amount)), "success")
        else:
            flash(_("Invoice № %(number)s is canceled.", number=number), "success")


def register(admin: Admin) -> None:
    admin.add_view(InvoiceView(Invoice, name=_l("Invoices"), endpoint="invoices", category=_l("Clients")))
    admin.add_view(InvoiceStatusView(name=_l("Mark an invoice paid"), endpoint="invoice_status",
                                     url="invoice-status"))
