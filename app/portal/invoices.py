"""The cabinet's bank-transfer invoices (B8): company details, issuing an invoice, its HTML and PDF.

Not guarded by `requires_running_service`: an expired client must be able to pay by bank transfer. Every
invoice is looked up within the client's own account; another account's invoice is not found.
"""
from __future__ import annotations

import sqlalchemy as sa
from flask import abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import login_required
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import InputRequired, ValidationError

from app.extensions import db
from app.forms.money import parse_roubles
from app.models import Invoice
from app.portal import bp
from app.portal.billing import _billing_account, _zone
from app.services import invoices
from app.services.invoices import InvoiceError

STATUSES = {invoices.ISSUED: _l("Awaiting payment"), invoices.PAID: _l("Paid"), invoices.CANCELED: _l("Canceled")}


class IssueForm(FlaskForm):
    amount = StringField(_l("Amount, roubles"), validators=[InputRequired()],
                         description=_l("From 1 000 to 10 000 000 roubles, e.g. 15 000 or 15000,50."))

    amount_kop: int | None = None

    def validate_amount(self, field):
        try:
            self.amount_kop = parse_roubles(field.data)
        except ValueError:
            raise ValidationError(_("Type an amount in roubles with at most two decimals, e.g. 15000,50.")) from None
        if self.amount_kop <= 0:
            raise ValidationError(_("The amount must be positive."))


class CompanyForm(FlaskForm):
    """The payer's requisites. The checks (required fields, checksums) are all the service's, so one submission
    shows every problem next to its field."""

    name = StringField(_l("Company name"),
                       description=_l("As registered, e.g. ООО «Ромашка» or ИП Иванов Иван Иванович."))
    inn = StringField(_l("INN"), description=_l("10 digits for a company, 12 for a sole proprietor."))
    kpp = StringField(_l("KPP"), description=_l("Companies only; leave empty for a sole proprietor."))
    ogrn = StringField(_l("OGRN or OGRNIP"))
    address = StringField(_l("Legal address"))
    bank_name = StringField(_l("Bank"))
    bik = StringField(_l("BIK"))
    correspondent_account = StringField(_l("Correspondent account"))
    settlement_account = StringField(_l("Settlement account"))


@bp.route("/billing/invoices", methods=["GET", "POST"], endpoint="invoices")
@login_required
def invoice_list():
    """The account's invoices, newest first, and the form that issues a new one."""
    account = _billing_account()
    form = IssueForm()
    details = invoices.company_details(account.id)
    if details is not None and form.validate_on_submit():
        try:
            invoice = invoices.issue(account.id, form.amount_kop)
        except InvoiceError as exc:
            db.session.rollback()
            form.amount.errors = [str(exc)]
        else:
            number = invoice.number
            db.session.commit()
            flash(_("Invoice № %(number)s is issued: download it below.", number=number), "success")
            return redirect(url_for(".invoices"))
    rows = db.session.scalars(sa.select(Invoice).where(Invoice.account_id == account.id)
                              .order_by(Invoice.id.desc())).all()
    return render_template("portal/invoices.html", form=form, details=details, invoices=rows, statuses=STATUSES,
                           zone=_zone(account))



@bp.route("/billing/company", methods=["GET", "POST"])
@login_required
def invoice_company():
    """The requisites invoices are issued to; every problem is shown next to its field."""
    account = _billing_account()
    details = invoices.company_details(account.id)
    form = CompanyForm(obj=details)
    if form.validate_on_submit():
        try:
            invoices.save_company_details(account.id, **{name: form[name].data for name in invoices.COMPANY_FIELDS})
        except InvoiceError as exc:
            db.session.rollback()
            for name, message in exc.fields.items():
                form[name].errors = [message]
        else:
            db.session.commit()
            flash(_("Company details saved."), "success")
            return redirect(url_for(".invoices"))
    return render_template("portal/invoice_company.html", form=form)


def _own_invoice(invoice_id: int) -> Invoice:
    account = _billing_account()
    invoice = db.session.get(Invoice, invoice_id)
    if invoice is None or invoice.account_id != account.id:
        abort(404)
    return invoice


@bp.get("/billing/invoices/<int:invoice_id>")
@login_required
def invoice_html(invoice_id: int):
    """The invoice as a printable page (the same template as the PDF)."""
    return invoices.render_html(_own_invoice(invoice_id))


@bp.get("/billing/invoices/<int:invoice_id>.pdf")
@login_required
def invoice_pdf(invoice_id: int):
    return invoices.pdf_response(_own_invoice(invoice_id))
