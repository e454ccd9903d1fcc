"""The cabinet's card payments (B7): top-up by YooKassa redirect, the return page, saved cards and autopay.

Not guarded by `requires_running_service`: an expired client must be able to pay. Every payment and card is
looked up within the logged-in client's account, so another account's id is simply not found (404).
"""
from __future__ import annotations

import sqlalchemy as sa
from flask import abort, flash, make_response, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectField, StringField, ValidationError
from wtforms.validators import InputRequired

from app.extensions import db
from app.forms.money import parse_roubles
from app.models import Payment
from app.portal import bp
from app.portal.billing import _billing_account, _money
from app.services import ledger, payments
from app.services.payments import PaymentError

RECENT_PAYMENTS = 20
WAITING = {"new", "pending", "waiting_for_capture"}
RELOAD_AFTER_S = 5  # the return page reloads itself while the bank has not answered
STATUS_TEXT = {
    "new": _l("Not started"),
    "pending": _l("Waiting for the bank"),
    "waiting_for_capture": _l("Waiting for the bank"),
    "succeeded": _l("Credited"),
    "canceled": _l("Declined"),
}
PURPOSE_TEXT = {"topup": _l("Top-up by card"), "autopay": _l("Autopay for the rent"),
                "auto_topup": _l("Automatic top-up")}
# YooKassa's cancellation reasons (cancellation_details.reason) in words a client understands.
DECLINE_TEXT = {
    "3d_secure_failed": _l("the bank's confirmation (3-D Secure) did not succeed"),
    "call_issuer": _l("the bank declined the payment: call the bank that issued the card"),
    "canceled_by_merchant": _l("the payment was cancelled by the service"),
    "card_expired": _l("the card has expired"),
    "country_forbidden": _l("payments from cards of this country are not accepted"),
    "expired_on_confirmation": _l("the payment was not confirmed in time"),
    "expired_on_capture": _l("the payment was not completed in time"),
    "fraud_suspected": _l("the payment was blocked as suspicious"),
    "general_decline": _l("the bank declined the payment without giving a reason"),
    "identification_required": _l("the wallet needs identification"),
    "insufficient_funds": _l("not enough money on the card"),
    "internal_timeout": _l("the payment service did not answer in time"),
    "invalid_card_number": _l("the card number is wrong"),
    "invalid_csc": _l("the CVC/CVV code is wrong"),
    "issuer_unavailable": _l("the card's bank did not answer"),
    "payment_method_limit_exceeded": _l("a limit of the card was exceeded"),
    "payment_method_restricted": _l("payments from this card are restricted"),
    "permission_revoked": _l("the permission to charge the card was withdrawn"),
}


def _kop(field, low: int, high: int) -> int:
    """The field's roubles ("1500", "1 500", "1500,50") in kopecks, within [low, high]; readable errors."""
    try:
        kop = parse_roubles(field.data)
    except ValueError:
        raise ValidationError(_("Type an amount in roubles, e.g. 1500 or 1500,50.")) from None
    if not low <= kop <= high:
        raise ValidationError(_("The amount must be from %(low)s to %(high)s.", low=_money(low), high=_money(high)))
    return kop


def _roubles_text(kop: int | None) -> str:
    """Kopecks as the client would type them back: 1500 or 1500,50."""
    if kop is None:
        return ""
    return str(kop // 100) if kop % 100 == 0 else f"{kop // 100},{kop % 100:02d}"


def _decline_text(reason: str | None) -> str:
    return str(DECLINE_TEXT.get(reason or "", _l("the payment was declined")))


# ---- top-up --------------------------------------------------------------------------------------------------

class TopupForm(FlaskForm):
    amount = StringField(_l("Amount, roubles"), validators=[InputRequired(message=_l("Type the amount."))])
    save_card = BooleanField(_l("Save the card for autopay"))

    amount_kop: int | None = None

    def validate_amount(self, field):
        self.amount_kop = _kop(field, payments.MIN_TOPUP_KOP, payments.MAX_TOPUP_KOP)


def _recent_payments(account_id: int) -> list[Payment]:
    return list(db.session.scalars(sa.select(Payment).where(Payment.account_id == account_id)
                                   .order_by(Payment.created_at.desc(), Payment.id.desc()).limit(RECENT_PAYMENTS)))


def _return_url(payment_id: int) -> str:
    """Where YooKassa sends the client back: the return page of this payment."""
    return url_for(".payment_return", payment_id=payment_id, _external=True)


@bp.route("/billing/topup", methods=["GET", "POST"])
@login_required
def topup():
    """The amount and the card-saving consent → YooKassa's payment page (303); the account's recent payments."""
    account = _billing_account()
    form = TopupForm()
    if form.validate_on_submit():
        try:
            payment = payments.start_topup(account.id, form.amount_kop, _return_url, save_card=form.save_card.data,
                                           email=current_user.email, user_id=current_user.id)
        except PaymentError as exc:
            # Nothing reached the bank that the client could pay: keep no half-made row.
            db.session.rollback()
            if exc.code == "provider_unavailable":
                flash(_("The payment service did not answer, try again in a minute."), "error")
            else:
                flash(_("The payment service refused the payment. Try again later or write to support."), "error")
        else:
            confirmation_url = payment.confirmation_url
            db.session.commit()
            return redirect(confirmation_url, 303)
    return render_template("portal/topup.html", form=form, account=account, payments=_recent_payments(account.id),
                           status_text=STATUS_TEXT, purpose_text=PURPOSE_TEXT, balance_kop=ledger.balance(account.id))


# ---- the return page -----------------------------------------------------------------------------------------

def _own_payment(account_id: int, payment_id: int) -> Payment:
    payment = db.session.scalar(sa.select(Payment).where(Payment.id == payment_id, Payment.account_id == account_id))
    if payment is None:
        abort(404)
    return payment


@bp.get("/billing/payments/<int:payment_id>/return")
@login_required
def payment_return(payment_id: int):
    """Where YooKassa sends the client back: asks YooKassa for the outcome (crediting once) and says it."""
    account = _billing_account()
    payment = _own_payment(account.id, payment_id)
    answered = True
    try:
        payments.refresh(payment.id)
    except PaymentError:
        db.session.rollback()  # the stored status stands; the page asks again on reload
        answered = False
    else:
        db.session.commit()
    payment = _own_payment(account.id, payment_id)
    waiting = payment.status in WAITING
    response = make_response(render_template(
        "portal/payment_return.html", payment=payment, waiting=waiting, answered=answered,
        decline_text=_decline_text(payment.cancellation_reason), balance_kop=ledger.balance(account.id)))
    if waiting:
        response.headers["Refresh"] = str(RELOAD_AFTER_S)
    return response


# ---- cards and autopay ---------------------------------------------------------------------------------------

class AutopayForm(FlaskForm):
    is_enabled = BooleanField(_l("Pay the rent from the card when the balance does not cover it"))
    card_id = SelectField(_l("Card"), choices=[])
    threshold = StringField(_l("Top up automatically when the balance falls below, roubles"))
    amount = StringField(_l("Automatic top-up amount, roubles"))

    threshold_kop: int | None = None
    amount_kop: int | None = None

    def validate_threshold(self, field):
        if field.data.strip():
            self.threshold_kop = _kop(field, 0, payments.MAX_TOPUP_KOP)
        elif self.amount.data.strip():
            raise ValidationError(_("Fill in both the threshold and the amount, or neither."))

    def validate_amount(self, field):
        if field.data.strip():
            self.amount_kop = _kop(field, payments.MIN_TOPUP_KOP, payments.MAX_TOPUP_KOP)
        elif self.threshold.data.strip():
            raise ValidationError(_("Fill in both the threshold and the amount, or neither."))


def _autopay_form(account_id: int, cards) -> AutopayForm:
    autopay = payments.autopay_of(account_id)
    form = AutopayForm(data={"is_enabled": autopay.is_enabled,
                             "card_id": str(autopay.card_id) if autopay.card_id else "",
                             "threshold": _roubles_text(autopay.threshold_kop),
                             "amount": _roubles_text(autopay.amount_kop)})
    form.card_id.choices = [("", _("— no card —"))] + [(str(card.id), _card_text(card)) for card in cards]
    return form


def _card_text(card) -> str:
    """E.g. "MasterCard •••• 4444, 12/2030": the kind, the last digits, the expiry."""
    text = f"{card.card_type or _('Card')} •••• {card.last4 or '????'}"
    return f"{text}, {card.expiry_month}/{card.expiry_year}" if card.expiry_month and card.expiry_year else text


def _save_autopay(account_id: int, form: AutopayForm) -> bool:
    """The service is the judge: its refusals go next to the field they are about."""
    try:
        payments.set_autopay(account_id, is_enabled=form.is_enabled.data,
                             card_id=int(form.card_id.data) if form.card_id.data else None,
                             threshold_kop=form.threshold_kop, amount_kop=form.amount_kop)
    except PaymentError as exc:
        db.session.rollback()
        if exc.code == "no_card":
            form.card_id.errors.append(_("Choose a saved card: autopay charges it."))
        else:
            form.amount.errors.append(_("Give the threshold and the amount within the limits, or neither."))
        return False
    db.session.commit()
    return True


@bp.route("/billing/cards", methods=["GET", "POST"])
@login_required
def cards():
    """The saved cards and the autopay settings (B7)."""
    account = _billing_account()
    saved = payments.cards_of(account.id)
    form = _autopay_form(account.id, saved)
    if form.validate_on_submit() and _save_autopay(account.id, form):
        flash(_("Autopay settings saved."), "success")
        return redirect(url_for(".cards"))
    return render_template("portal/cards.html", form=form, cards=saved, card_text=_card_text,
                           balance_kop=ledger.balance(account.id), removing=None)


def _own_card(account_id: int, card_id: int):
    card = next((card for card in payments.cards_of(account_id) if card.id == card_id), None)
    if card is None:
        abort(404)
    return card


@bp.route("/billing/cards/<int:card_id>/remove", methods=["GET", "POST"])
@login_required
def remove_card(card_id: int):
    """GET asks to confirm; POST removes the card (and autopay stops if it used it)."""
    account = _billing_account()
    card = _own_card(account.id, card_id)
    form = FlaskForm()
    if form.validate_on_submit():
        text = _card_text(card)
        try:
            payments.remove_card(account.id, card.id, current_user.id)
        except PaymentError:
            db.session.rollback()
            abort(404)
        db.session.commit()
        flash(_("The card %(card)s was removed.", card=text), "success")
        return redirect(url_for(".cards"))
    saved = payments.cards_of(account.id)
    return render_template("portal/cards.html", form=_autopay_form(account.id, saved), cards=saved,
                           card_text=_card_text, balance_kop=ledger.balance(account.id), removing=card,
                           remove_form=form)
