"""Manual balance adjustments (issue 5): administrators credit or debit a client's balance, with a reason."""
from __future__ import annotations

import sqlalchemy as sa
from flask import flash, redirect, request, url_for
from flask_admin import Admin, expose
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import HiddenField, StringField, TextAreaField, ValidationError
from wtforms.validators import InputRequired, Length

from admin.base import SecureBaseView
from app.extensions import db
from app.forms.money import parse_roubles
from app.models import Account
from app.services import adjustments, ledger
from app.services.adjustments import AdjustmentError
from app.templating import money


class AdjustmentForm(FlaskForm):
    client_code = StringField(_l("Client ID"), validators=[InputRequired()])
    amount = StringField(_l("Amount, roubles"), validators=[InputRequired()],
                         description=_l("Positive credits the client, negative debits: 150,50 or -20."))
    reason = TextAreaField(_l("Reason"), validators=[
        InputRequired(), Length(min=adjustments.REASON_MIN, max=adjustments.REASON_MAX)],
        description=_l("Stored in the ledger with your name."))
    key = HiddenField()

    account: Account | None = None
    amount_kop: int | None = None

    def validate_client_code(self, field):
        code = (field.data or "").strip()
        self.account = db.session.scalar(sa.select(Account).where(sa.func.upper(Account.client_code) == code.upper()))
        if self.account is None:
            raise ValidationError(_("No account has this client ID."))

    def validate_amount(self, field):
        try:
            value = parse_roubles(field.data)
        except ValueError:
            raise ValidationError(_("Type an amount in roubles with at most two decimals, e.g. 150,50 or -20.")) \
                from None
        if value == 0:
            raise ValidationError(_("The amount must not be zero."))
        self.amount_kop = value


class AdjustmentView(SecureBaseView):
    """One page: the account (by client ID), its balance, the amount and the reason; posts `adjust:<uuid>`."""

    permission_key = "backoffice.admin"

    @expose("/", methods=("GET", "POST"))
    def index(self):
        form = AdjustmentForm()
        if request.method == "GET":
            account = _account_from_query()
            if account is not None:
                form.client_code.data = account.client_code
            form.key.data = adjustments.new_key()
        elif form.validate_on_submit():
            try:
                posted = adjustments.adjust(form.account.id, form.amount_kop, form.reason.data, current_user.id,
                                            key=form.key.data or None)
            except AdjustmentError as exc:
                db.session.rollback()
                form.form_errors.append(str(exc))
            else:
                account_id = form.account.id
                db.session.commit()
                balance = money(ledger.balance(account_id))
                if posted.created:
                    flash(_("Adjustment posted. The balance is now %(balance)s.", balance=balance), "success")
                else:
                    flash(_("This adjustment was already posted. The balance is %(balance)s.", balance=balance),
                          "info")
                return redirect(url_for(".index", account=account_id))
        account = form.account or _account_by_code(form.client_code.data)
        balance = ledger.balance(account.id) if account is not None else None
        return self.render("admin/adjustment_form.html", form=form, account=account, balance=balance)


def _account_from_query() -> Account | None:
    account_id = request.args.get("account", type=int)
    return db.session.get(Account, account_id) if account_id else None


def _account_by_code(code: str | None) -> Account | None:
    code = (code or "").strip()
    if not code:
        return None
    return db.session.scalar(sa.select(Account).where(sa.func.upper(Account.client_code) == code.upper()))


def register(admin: Admin) -> None:
    admin.add_view(AdjustmentView(name=_l("Adjust balance"), endpoint="adjustments", url="adjustments",
                                  category=_l("Clients")))
