"""Back office: card payments, saved cards and refunds (B7), read-only; administrators refund a payment.

The tables change only through `app.services.payments` (the provider's answers, the client's choices), so
the views never edit rows. A refund is a form page of its own, not a list action: it needs an amount and a
reason, and only administrators (`backoffice.admin`) may open it while managers read the lists.
"""
from __future__ import annotations

import uuid

import sqlalchemy as sa
from flask import flash, redirect, request, url_for
from flask_admin import Admin, expose
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from markupsafe import Markup
from wtforms import HiddenField, StringField, TextAreaField, ValidationError
from wtforms.validators import InputRequired, Length

from admin.base import ClientCodeFilter, SecureBaseView, account_link
from admin.journal import ReadOnlyView
from app.extensions import db
from app.forms.money import parse_roubles
from app.models import Account, Payment, PaymentCard, Refund, User
from app.permissions import feature_permission
from app.services import ledger, payments
from app.services.payments import PaymentError
from app.templating import money

PAYMENT_STATUSES = [("new", _l("Not sent")), ("pending", _l("Pending")),
                    ("waiting_for_capture", _l("Waiting for capture")), ("succeeded", _l("Succeeded")),
                    ("canceled", _l("Canceled"))]
PURPOSES = [("topup", _l("Top-up")), ("autopay", _l("Autopay for the rent")), ("auto_topup", _l("Automatic top-up"))]
REFUND_STATUSES = [("new", _l("Not sent")), ("pending", _l("Pending")), ("succeeded", _l("Succeeded")),
                   ("canceled", _l("Canceled"))]
OPEN_REFUND = ("new", "pending")  # asked for, not yet debited nor refused: their amount is taken


def _account_text(view, context, model, name) -> str:
    return db.session.get(Account, model.account_id).client_code


def _kop(attribute: str):
    return lambda view, context, model, name: money(getattr(model, attribute) or 0)


def _user(view, context, model, name) -> str:
    user = db.session.get(User, model.created_by_id) if model.created_by_id else None
    return user.email if user is not None else ""


def refundable_kop(payment: Payment) -> int:
    """What may still be refunded: the amount less what was refunded and what refunds in flight claim."""
    in_flight = db.session.scalar(sa.select(sa.func.coalesce(sa.func.sum(Refund.amount_kop), 0))
                                  .where(Refund.payment_id == payment.id, Refund.status.in_(OPEN_REFUND)))
    return payment.amount_kop - payment.refunded_kop - int(in_flight)


def _refund_link(view, context, model: Payment, name) -> Markup | str:
    if model.status != "succeeded" or not feature_permission("backoffice.admin").can():
        return ""
    if refundable_kop(model) <= 0:
        return _("Refunded in full")
    return Markup('<a href="{}">{}</a>').format(url_for("payment_refund.index", payment=model.id), _l("Refund"))


class PaymentView(ReadOnlyView):
    permission_key = "backoffice.accounts"
    column_list = ["created_at", "account_id", "amount_kop", "status", "purpose", "provider_id", "refunded_kop",
                   "refund"]
    column_details_list = ["id", "created_at", "account_id", "amount_kop", "status", "purpose", "provider_id",
                           "refunded_kop", "cancellation_reason", "method_title", "is_card_saving", "is_test",
                           "idempotence_key", "created_by_id", "updated_at", "credited_at", "refund"]
    column_searchable_list = ["provider_id"]
    column_filters = [ClientCodeFilter(Payment.account_id, _l("Account")), "status", "purpose", "created_at"]
    column_choices = {"status": PAYMENT_STATUSES, "purpose": PURPOSES}
    column_export_exclude_list = ["refund"]
    column_labels = {"id": _l("Number"), "created_at": _l("Created"), "account_id": _l("Account"),
                     "amount_kop": _l("Amount"), "status": _l("Status"), "purpose": _l("Purpose"),
                     "provider_id": _l("YooKassa id"), "refunded_kop": _l("Refunded"),
                     "cancellation_reason": _l("Reason declined"), "method_title": _l("Method"),
                     "is_card_saving": _l("Card saved"), "is_test": _l("Test payment"),
                     "idempotence_key": _l("Idempotence key"), "created_by_id": _l("Started by"),
                     "updated_at": _l("Updated"), "credited_at": _l("Credited"), "refund": _l("Refund")}
    column_formatters = {"account_id": account_link, "amount_kop": _kop("amount_kop"),
                         "refunded_kop": _kop("refunded_kop"), "created_by_id": _user, "refund": _refund_link}
    column_formatters_export = {"account_id": _account_text, "amount_kop": _kop("amount_kop"),
                                "refunded_kop": _kop("refunded_kop"), "created_by_id": _user}


class CardView(ReadOnlyView):
    """Saved cards; YooKassa's method id (what a charge needs) stays out of sight."""

    permission_key = "backoffice.accounts"
    column_list = ["created_at", "account_id", "title", "card_type", "last4", "expiry_month", "expiry_year",
                   "removed_at", "removal_reason"]
    column_details_list = column_list
    column_filters = [ClientCodeFilter(PaymentCard.account_id, _l("Account")), "removed_at", "removal_reason"]
    column_labels = {"created_at": _l("Saved"), "account_id": _l("Account"), "title": _l("Title"),
                     "card_type": _l("Card type"), "last4": _l("Last 4 digits"), "expiry_month": _l("Expiry month"),
                     "expiry_year": _l("Expiry year"), "removed_at": _l("Removed"),
                     "removal_reason": _l("Why removed")}
    column_formatters = {"account_id": account_link}
    column_formatters_export = {"account_id": _account_text}


class RefundView(ReadOnlyView):
    permission_key = "backoffice.accounts"
    column_list = ["created_at", "payment", "amount_kop", "status", "reason", "created_by_id", "provider_id",
                   "debited_at"]
    column_details_list = column_list
    column_filters = ["status", "created_at"]
    column_choices = {"status": REFUND_STATUSES}
    column_labels = {"created_at": _l("Asked for"), "payment": _l("Payment"), "amount_kop": _l("Amount"),
                     "status": _l("Status"), "reason": _l("Reason"), "created_by_id": _l("Asked by"),
                     "provider_id": _l("YooKassa id"), "debited_at": _l("Debited")}
    column_formatters = {"amount_kop": _kop("amount_kop"), "created_by_id": _user}
    column_formatters_export = column_formatters


class RefundForm(FlaskForm):
    payment_id = StringField(_l("Payment number"), validators=[InputRequired()])
    amount = StringField(_l("Amount, roubles"), validators=[InputRequired()],
                         description=_l("At most what remains refundable; e.g. 150,50."))
    reason = TextAreaField(_l("Reason"), validators=[InputRequired(), Length(min=3, max=250)],
                           description=_l("Stored with the refund and your name."))
    # Made when the form is shown: the same form sent twice (a double click, a resend after YooKassa did not
    # answer) is one refund, under one Idempotence-Key.
    key = HiddenField(default=lambda: str(uuid.uuid4()), validators=[InputRequired(), Length(max=64)])

    payment: Payment | None = None
    amount_kop: int | None = None

    def validate_payment_id(self, field):
        number = (field.data or "").strip()
        self.payment = db.session.get(Payment, int(number)) if number.isdigit() else None
        if self.payment is None:
            raise ValidationError(_("No payment has this number."))

    def validate_amount(self, field):
        try:
            self.amount_kop = parse_roubles(field.data)
        except ValueError:
            raise ValidationError(_("Type an amount in roubles with at most two decimals, e.g. 150,50.")) from None
        if self.amount_kop <= 0:
            raise ValidationError(_("The amount must be positive."))


class RefundPage(SecureBaseView):
    """The refund of one payment: amount (the refundable rest by default) and a reason → YooKassa."""

    permission_key = "backoffice.admin"

    def is_visible(self) -> bool:
        return False  # reached from a payment's row, never on its own

    @expose("/", methods=("GET", "POST"))
    def index(self):
        form = RefundForm()
        if request.method == "GET":
            _fill_from_query(form)
        elif form.validate_on_submit():
            try:
                refund = payments.refund(form.payment.id, form.amount_kop, form.reason.data.strip(), current_user.id,
                                         key=f"refund-form:{form.key.data}")
            except PaymentError as exc:
                _refusal(form, exc)
            else:
                _flash_refund(refund)
                return redirect(url_for("payments.details_view", id=form.payment.id))
        payment = form.payment or _payment_from_query()
        return self.render("admin/payment_refund.html", form=form, payment=payment,
                           refundable=refundable_kop(payment) if payment is not None else None)


def _refusal(form: RefundForm, exc: PaymentError) -> None:
    """The service's refusal in words, next to the field it is about. An unanswered call leaves the refund
    row `new` (the service keeps it reserved, as YooKassa may have made it): that row is committed."""
    if exc.code == "provider_unavailable":
        db.session.commit()
        form.form_errors.append(_("YooKassa did not answer. The refund is kept as not sent (see Refunds) and its "
                                  "amount stays reserved; check YooKassa's dashboard before trying again."))
        return
    db.session.rollback()
    if exc.code == "invalid_amount":
        left = money(max(refundable_kop(form.payment), 0))
        form.amount.errors.append(_("At most %(left)s can be refunded now.", left=left))
    elif exc.code == "not_refundable":
        form.payment_id.errors.append(_("Only a succeeded payment can be refunded."))
    else:
        form.form_errors.append(_("YooKassa refused the refund (%(code)s).", code=exc.code))


def _payment_from_query() -> Payment | None:
    payment_id = request.args.get("payment", type=int)
    return db.session.get(Payment, payment_id) if payment_id else None


def _fill_from_query(form: RefundForm) -> None:
    payment = _payment_from_query()
    if payment is not None:
        form.payment_id.data = str(payment.id)
        form.amount.data = f"{max(refundable_kop(payment), 0) / 100:.2f}".replace(".", ",")


def _flash_refund(refund: Refund) -> None:
    """Commits, then says what happened: debited now, or when YooKassa confirms it."""
    amount, status, account_id = refund.amount_kop, refund.status, refund.payment.account_id
    db.session.commit()
    if status == "succeeded":
        flash(_("Refunded %(amount)s. The client's balance is now %(balance)s.", amount=money(amount),
                balance=money(ledger.balance(account_id))), "success")
    else:
        flash(_("Refund of %(amount)s asked for; the balance is debited when YooKassa confirms it.",
                amount=money(amount)), "info")


def register(admin: Admin) -> None:
    category = _l("Payments")
    admin.add_view(PaymentView(Payment, name=_l("Payments"), endpoint="payments", category=category))
    admin.add_view(CardView(PaymentCard, name=_l("Cards"), endpoint="payment_cards", category=category))
    admin.add_view(RefundView(Refund, name=_l("Refunds"), endpoint="refunds", category=category))
    admin.add_view(RefundPage(name=_l("Refund"), endpoint="payment_refund", url="payment-refund", category=category))
