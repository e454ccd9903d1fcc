"""Money coming in by YooKassa and going back (B7, issue 5): top-ups, saved cards, autopay, refunds.

Rules that hold everywhere here:

* Our own idempotence key is made and FLUSHED with the payment row before the API is called, and reused on
  every retry, so a retried create never makes a second payment.
* The provider's answer is the only truth: `apply` (payments) and `apply_refund` (refunds) are the only places
  that change a row from it, whatever brought the answer (the create call, a webhook, the return page, the
  reconciler). A webhook body is never trusted: the object is fetched again by id.
* Money moves once per provider object, by ledger keys `payment:yookassa:<id>` and `refund:yookassa:<id>`.
  The other side of both is `system:yookassa`. A refund may take the balance below zero: it is money the
  client gets back, not a purchase, and the overdraft gate stops dialing meanwhile.

Functions flush and raise `PaymentError` (a DomainError with a stable `code`), never commit.
"""
from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Callable
from decimal import Decimal

import sqlalchemy as sa
from flask import current_app

from app.db import insert, utcnow
from app.extensions import db
from app.models import Account, Autopay, Payment, PaymentCard, Refund, RentPeriod, User
from app.services import ledger, rent
from app.services import yookassa_gateway as gateway
from app.services.yookassa_gateway import PaymentError

__all__ = ["PaymentError", "MIN_TOPUP_KOP", "MAX_TOPUP_KOP", "start_topup", "refresh", "apply",
           "handle_notification", "reconcile_pending", "cards_of", "remove_card", "autopay_of", "set_autopay",
           "autopay_for_renewal", "auto_topup_due", "refund", "apply_refund"]

log = logging.getLogger(__name__)

MIN_TOPUP_KOP = 10_000  # 100 RUB
MAX_TOPUP_KOP = 50_000_000  # 500 000 RUB
SYSTEM = "system:yookassa"
OPEN = ("new", "pending", "waiting_for_capture")
# Declines after which the saved method will not work again: the card is detached and autopay switched off.
DETACHING_REASONS = frozenset({"permission_revoked", "card_expired", "payment_method_restricted"})
RECONCILE_AFTER = dt.timedelta(minutes=2)  # younger payments are left to their webhook
MAX_RENEWAL_CHARGES = 3  # card charges tried for one rent period (one per hourly run) before it expires


# --- top-up by redirect -------------------------------------------------------------------------------------

def start_topup(account_id: int, amount_kop: int, return_url: str | Callable[[int], str], *, save_card: bool,
                email: str, user_id: int | None) -> Payment:
    """Ask YooKassa for a redirect payment; the caller sends the browser to `payment.confirmation_url`.

    `return_url` may be a function of the payment's row id (the row is made here), so the client comes back
    to the page of this very payment. On `provider_unavailable` the row stays `new` (nothing was paid) and the
    error propagates.
    """
    _check_amount(amount_kop)
    account = _account(account_id)
    payment = Payment(account_id=account_id, idempotence_key=str(uuid.uuid4()), purpose="topup",
                      amount_kop=amount_kop, status="new", is_card_saving=save_card, created_by_id=user_id)
    db.session.add(payment)
    db.session.flush()
    params = _payment_params(payment, account, email, f"Пополнение баланса, аккаунт {account.client_code}")
    back = return_url(payment.id) if callable(return_url) else return_url
    params.update(confirmation={"type": "redirect", "return_url": back}, save_payment_method=save_card)
    remote = gateway.create_payment(params, payment.idempotence_key)
    _attach(payment, remote)
    return payment


def _check_amount(amount_kop: int) -> None:
    if type(amount_kop) is not int or not MIN_TOPUP_KOP <= amount_kop <= MAX_TOPUP_KOP:
        raise PaymentError(f"the amount must be {MIN_TOPUP_KOP // 100} to {MAX_TOPUP_KOP // 100} RUB",
                           "invalid_amount")


def _account(account_id: int) -> Account:
    account = db.session.get(Account, account_id)
    if account is None:
        raise PaymentError(f"no account {account_id}", "not_found")
    return account


def _money(kop: int) -> dict:
    return {"value": f"{kop // 100}.{kop % 100:02d}", "currency": "RUB"}


def _kop(value) -> int:
    return int((Decimal(str(value)) * 100).to_integral_value())


def receipt(amount_kop: int, email: str, client_code: str) -> dict:
    """The 54-FZ receipt of a top-up: an advance payment for the service, one item for the whole amount."""
    config = current_app.config
    return {"customer": {"email": email}, "items": [{
        "description": f"Пополнение баланса сервиса CallBack, аккаунт {client_code}"[:128],
        "quantity": "1.00", "amount": _money(amount_kop), "vat_code": int(config["YOOKASSA_VAT_CODE"]),
        "payment_mode": config["YOOKASSA_PAYMENT_MODE"], "payment_subject": "payment"}]}


def _payment_params(payment: Payment, account: Account, email: str, description: str) -> dict:
    return {"amount": _money(payment.amount_kop), "capture": True, "description": description[:128],
            "metadata": {"account_id": str(account.id), "payment_row_id": str(payment.id)},
            "receipt": receipt(payment.amount_kop, email, account.client_code)}


def _attach(payment: Payment, remote) -> None:
    """Store the create call's answer on our row, then apply it like any other answer."""
    payment.provider_id = remote.id
    confirmation = remote.confirmation
    payment.confirmation_url = getattr(confirmation, "confirmation_url", None) if confirmation else None
    db.session.flush()
    apply(remote)


# --- applying the provider's answer -------------------------------------------------------------------------

def refresh(payment_id: int) -> Payment:
    """Fetch the payment from YooKassa and apply it (the return page, the reconciler)."""
    payment = db.session.get(Payment, payment_id)
    if payment is None:
        raise PaymentError(f"no payment {payment_id}", "not_found")
    if payment.provider_id is None:  # the create call never answered: nothing to ask about
        return payment
    return apply(gateway.find_payment(payment.provider_id)) or payment


def apply(remote) -> Payment | None:
    """The one place that changes a payment from YooKassa's answer; idempotent, and monotonic: a succeeded
    payment never goes back. A succeeded and paid payment credits the client once (the reported amount wins
    over ours), and a saved method becomes a card. Unknown payments are logged and ignored (None)."""
    payment = _row_for(remote)
    if payment is None:
        log.warning("YooKassa payment %s is not ours: ignored", remote.id)
        return None
    if payment.status == "succeeded" and remote.status != "succeeded":
        log.error("YooKassa payment %s went from succeeded to %s: kept succeeded", remote.id, remote.status)
        return payment
    payment.status = remote.status
    payment.is_test = bool(remote.test)
    method = remote.payment_method
    if method is not None:
        payment.method_title = (method.title or method.type or "")[:120] or None
    if remote.status == "canceled":
        payment.cancellation_reason = _reason(remote)
        _detach_declined(payment, remote)
    if remote.status == "succeeded" and remote.paid:
        _credit(payment, remote)
        _save_card(payment, remote)
    db.session.flush()
    return payment


def _row_for(remote) -> Payment | None:
    """Our row by YooKassa's id; else (the create answer was lost) by the row id in the metadata."""
    row = db.session.scalar(sa.select(Payment).where(Payment.provider_id == remote.id).with_for_update())
    if row is not None:
        return row
    meta = remote.metadata or {}
    row_id, account_id = str(meta.get("payment_row_id", "")), str(meta.get("account_id", ""))
    if not (row_id.isdigit() and account_id.isdigit()):
        return None
    row = db.session.scalar(sa.select(Payment).where(
        Payment.id == int(row_id), Payment.account_id == int(account_id), Payment.provider_id.is_(None)))
    if row is not None:
        row.provider_id = remote.id
    return row


def _reason(remote) -> str | None:
    details = remote.cancellation_details
    return details.reason if details is not None else None


def _credit(payment: Payment, remote) -> None:
    amount = _kop(remote.amount.value)
    if amount != payment.amount_kop:
        log.error("YooKassa payment %s: reported %s kop, we asked %s kop; crediting the reported amount",
                  remote.id, amount, payment.amount_kop)
        payment.amount_kop = amount
    rent.credit_and_resume(payment.account_id, lambda: ledger.post(
        f"payment:yookassa:{remote.id}", "payment",
        [(ledger.client_account(payment.account_id), amount), (ledger.system_account(SYSTEM), -amount)],
        memo=f"YooKassa payment {remote.id} ({payment.purpose})"))
    if payment.credited_at is None:
        payment.credited_at = utcnow()


def _save_card(payment: Payment, remote) -> None:
    """Upsert the saved method as a card; it becomes the autopay card if the account has none (autopay itself
    stays as the client set it)."""
    method = remote.payment_method
    if method is None or not method.saved or not method.id:
        return
    card_info = getattr(method, "card", None)
    values = {"account_id": payment.account_id, "provider_method_id": method.id, "created_at": utcnow(),
              "title": (method.title or "")[:120], "card_type": getattr(card_info, "card_type", None),
              "last4": getattr(card_info, "last4", None), "expiry_month": getattr(card_info, "expiry_month", None),
              "expiry_year": getattr(card_info, "expiry_year", None)}
    db.session.execute(insert(db.session, PaymentCard).values(**values)
                       .on_conflict_do_nothing(index_elements=["provider_method_id"]))
    card = db.session.scalar(sa.select(PaymentCard).where(PaymentCard.provider_method_id == method.id))
    if card.account_id != payment.account_id:
        log.error("saved method %s belongs to account %s, not %s", method.id, card.account_id, payment.account_id)
        return
    autopay = _autopay_row(payment.account_id)
    if autopay.card is None or autopay.card.removed_at is not None:
        autopay.card_id = card.id
        db.session.flush()
        db.session.expire(autopay, ["card"])


def _detach_declined(payment: Payment, remote) -> None:
    """A charge of a saved card declined for a reason that will not pass: detach the card, autopay off."""
    method = remote.payment_method
    if payment.purpose == "topup" or _reason(remote) not in DETACHING_REASONS or method is None:
        return
    card = db.session.scalar(sa.select(PaymentCard).where(
        PaymentCard.provider_method_id == method.id, PaymentCard.account_id == payment.account_id))
    if card is not None and card.removed_at is None:
        _detach(card, _reason(remote))


# --- notifications and reconciliation -----------------------------------------------------------------------

def handle_notification(body: dict) -> None:
    """A webhook body: parsed, then its object fetched again from the API (the body is unsigned) and applied.

    An id YooKassa does not know is logged and ignored; `provider_unavailable` propagates (the webhook answers
    503 so YooKassa delivers again).
    """
    notification = gateway.parse_notification(body)
    object_id = getattr(notification.object, "id", None)
    if not isinstance(object_id, str) or not object_id:
        raise PaymentError("the notification names no object", "invalid_notification")
    event = notification.event
    if event.startswith("payment."):
        remote = _found(gateway.find_payment, object_id)
        if remote is not None:
            apply(remote)
    elif event == "refund.succeeded":
        remote = _found(gateway.find_refund, object_id)
        if remote is not None:
            apply_refund(remote)
    else:
        log.info("YooKassa notification %s ignored", event)


def _found(find, object_id: str):
    try:
        return find(object_id)
    except PaymentError as exc:
        if exc.code != "provider_not_found":
            raise
        log.warning("YooKassa does not know %s: notification ignored", object_id)
        return None


def reconcile_pending(now: dt.datetime | None = None) -> int:
    """Settle open payments older than RECONCILE_AFTER whose notification never came: fetch and apply each.

    A payment still open after its expiry (YooKassa's `expires_at`, else `YOOKASSA_PENDING_EXPIRY_H` after its
    creation) is marked canceled (`expired`; `no_answer` when the create call never answered); if YooKassa
    later reports it succeeded, `apply` still credits it. Refunds YooKassa never answered are sent again under
    their own key; pending ones are fetched. Stops at the first `provider_unavailable` (the next run goes on).
    Returns how many payments and refunds reached a final status.
    """
    now = now or utcnow()
    settled = 0
    rows = db.session.scalars(sa.select(Payment).where(
        Payment.status.in_(OPEN), Payment.created_at < now - RECONCILE_AFTER).order_by(Payment.id)).all()
    try:
        for payment in rows:
            settled += _reconcile_one(payment, now)
        for row in db.session.scalars(sa.select(Refund).where(
                Refund.status.in_(("new", "pending")), Refund.created_at < now - RECONCILE_AFTER)
                .order_by(Refund.id)).all():
            settled += _reconcile_refund(row).status not in ("new", "pending")
    except PaymentError as exc:
        if exc.code != "provider_unavailable":
            raise
        log.warning("reconciliation stopped: %s", exc)
    return settled


def _reconcile_refund(row: Refund) -> Refund:
    if row.provider_id is not None:
        return apply_refund(gateway.find_refund(row.provider_id)) or row
    try:
        return _send_refund(row)
    except PaymentError as exc:
        if exc.code == "provider_unavailable":
            raise
        log.error("YooKassa refused refund %s on resending (%s): canceled", row.id, exc.code)
        row.status = "canceled"
        return row


def _reconcile_one(payment: Payment, now: dt.datetime) -> int:
    expires_at = payment.created_at + dt.timedelta(hours=current_app.config["YOOKASSA_PENDING_EXPIRY_H"])
    if payment.provider_id is None:
        if now < expires_at:
            return 0
        payment.status, payment.cancellation_reason = "canceled", "no_answer"
        return 1
    try:
        remote = gateway.find_payment(payment.provider_id)
    except PaymentError as exc:
        if exc.code != "provider_not_found":
            raise
        remote = None
    if remote is not None:
        apply(remote)
        if remote.expires_at:
            expires_at = max(expires_at, _parsed(remote.expires_at))
    if payment.status in OPEN and now >= expires_at:
        payment.status, payment.cancellation_reason = "canceled", "expired"
    db.session.flush()
    return int(payment.status not in OPEN)


def _parsed(value) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    return dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))


# --- cards and autopay --------------------------------------------------------------------------------------

def cards_of(account_id: int) -> list[PaymentCard]:
    """The account's saved cards that were not removed, oldest first."""
    return list(db.session.scalars(sa.select(PaymentCard).where(
        PaymentCard.account_id == account_id, PaymentCard.removed_at.is_(None)).order_by(PaymentCard.id)))


def _live_card(account_id: int, card_id: int | None) -> PaymentCard | None:
    if card_id is None:
        return None
    return db.session.scalar(sa.select(PaymentCard).where(
        PaymentCard.id == card_id, PaymentCard.account_id == account_id, PaymentCard.removed_at.is_(None)))


def remove_card(account_id: int, card_id: int, user_id: int) -> PaymentCard:
    """The client removes a card (YooKassa has no delete: we stop using it); autopay on it switches off."""
    card = _live_card(account_id, card_id)
    if card is None:
        raise PaymentError("no such card", "not_found")
    log.info("card %s of account %s removed by user %s", card.id, account_id, user_id)
    _detach(card, "client")
    return card


def _detach(card: PaymentCard, reason: str) -> None:
    card.removed_at, card.removal_reason = utcnow(), reason
    autopay = db.session.get(Autopay, card.account_id)
    if autopay is not None and autopay.card_id == card.id:
        autopay.is_enabled, autopay.card_id = False, None
    db.session.flush()


def autopay_of(account_id: int) -> Autopay:
    """The account's autopay settings; a transient default (off, no card) when it has none."""
    return db.session.get(Autopay, account_id) or Autopay(account_id=account_id, is_enabled=False)


def _autopay_row(account_id: int) -> Autopay:
    db.session.execute(insert(db.session, Autopay).values(account_id=account_id, is_enabled=False,
                                                           updated_at=utcnow())
                       .on_conflict_do_nothing(index_elements=["account_id"]))
    return db.session.get(Autopay, account_id)


def set_autopay(account_id: int, *, is_enabled: bool, card_id: int | None, threshold_kop: int | None,
                amount_kop: int | None) -> Autopay:
    """Save the client's autopay choices; `card_id` None means no card. Codes: `no_card` (enabling without a
    live card of this account, or naming a card that is not one), `invalid_amount` (threshold and amount go
    together; threshold 0 means "when the balance goes negative")."""
    if (threshold_kop is None) != (amount_kop is None):
        raise PaymentError("give both the threshold and the amount, or neither", "invalid_amount")
    if threshold_kop is not None:
        if type(threshold_kop) is not int or not 0 <= threshold_kop <= MAX_TOPUP_KOP:
            raise PaymentError("the threshold is out of bounds", "invalid_amount")
        _check_amount(amount_kop)
    _account(account_id)
    card = _live_card(account_id, card_id)
    if card_id is not None and card is None:
        raise PaymentError("no such card", "no_card")
    if is_enabled and card is None:
        raise PaymentError("autopay needs a saved card", "no_card")
    autopay = _autopay_row(account_id)
    autopay.is_enabled, autopay.card_id = is_enabled, card.id if card else None
    autopay.threshold_kop, autopay.amount_kop = threshold_kop, amount_kop
    db.session.flush()
    db.session.expire(autopay, ["card"])
    return autopay


def _enabled_card(account_id: int) -> PaymentCard | None:
    autopay = db.session.get(Autopay, account_id)
    if autopay is None or not autopay.is_enabled:
        return None
    return _live_card(account_id, autopay.card_id)


def autopay_for_renewal(account_id: int, shortfall_kop: int, *,
                        period_start: dt.datetime | None = None) -> Payment | None:
    """Charge the autopay card for a rent renewal the balance does not cover: the shortfall rounded up to
    whole roubles. None when autopay is off, the period starting at `period_start` (default: at the end of the
    latest one) exists already, or every attempt for it is used up.

    The key is `renewal:<account>:<period start, epoch s>:<attempt>`, so concurrent or repeated runs for one
    period make one charge (pass the `period_start` the renewal run saw: by the time a slower run charges, a
    faster one may have renewed, and "the latest period" is then the next one); a charge declined for a
    passing reason is tried again by the next run with the next attempt number, up to MAX_RENEWAL_CHARGES.
    """
    card = _enabled_card(account_id)
    if period_start is None:
        period_start = db.session.scalar(sa.select(sa.func.max(RentPeriod.ends_at))
                                         .where(RentPeriod.account_id == account_id))
    if card is None or period_start is None or shortfall_kop <= 0 or _period_exists(account_id, period_start):
        return None
    prefix = f"renewal:{account_id}:{int(period_start.timestamp())}:"
    tries = list(db.session.scalars(sa.select(Payment).where(
        Payment.idempotence_key.startswith(prefix, autoescape=True)).order_by(Payment.id)))
    live = [p for p in tries if p.status != "canceled"]
    if not live and len(tries) >= MAX_RENEWAL_CHARGES:
        return None
    key = live[0].idempotence_key if live else f"{prefix}{len(tries) + 1}"
    amount = max(-(-shortfall_kop // 100) * 100, 100)
    return _charge(account_id, card, amount, "autopay", key, "Автоплатёж: продление аренды")


def _period_exists(account_id: int, starts_at: dt.datetime) -> bool:
    return db.session.scalar(sa.select(RentPeriod.id).where(
        RentPeriod.account_id == account_id, RentPeriod.starts_at == starts_at)) is not None


def auto_topup_due(now: dt.datetime | None = None) -> list[Payment]:
    """Charge `amount_kop` to the card of every account with autopay on whose balance is below its threshold.

    The key is `auto_topup:<account>:<UTC date and hour>`: two runs at once (or the runs of one hour) charge
    once, and an account still under its threshold (the amount did not lift it above, or the card declined
    for a passing reason) is charged again the next hour. See `_auto_topup_key` for earlier charges still open.
    """
    now = now or utcnow()
    due = db.session.execute(sa.select(Autopay.account_id, Autopay.threshold_kop, Autopay.amount_kop).where(
        Autopay.is_enabled.is_(True), Autopay.threshold_kop.is_not(None), Autopay.amount_kop.is_not(None))
        .order_by(Autopay.account_id)).all()
    charged = []
    for account_id, threshold_kop, amount_kop in due:
        card = _enabled_card(account_id)
        if card is None or ledger.balance(account_id) >= threshold_kop:
            continue
        key = _auto_topup_key(account_id, now)
        if key is not None:
            charged.append(_charge(account_id, card, amount_kop, "auto_topup", key, "Автопополнение баланса"))
    return charged


def _auto_topup_key(account_id: int, now: dt.datetime) -> str | None:
    """This hour's key; or the key of an earlier charge whose create call never answered (sent again with
    it, so YooKassa answers with what it made, if anything); None while an earlier charge is pending there."""
    open_rows = db.session.scalars(sa.select(Payment).where(
        Payment.account_id == account_id, Payment.purpose == "auto_topup", Payment.status.in_(OPEN))
        .order_by(Payment.id)).all()
    if any(row.provider_id is not None for row in open_rows):
        return None
    return open_rows[0].idempotence_key if open_rows else f"auto_topup:{account_id}:{now.astimezone(dt.UTC):%Y%m%d%H}"


def _charge(account_id: int, card: PaymentCard, amount_kop: int, purpose: str, key: str,
            description: str) -> Payment:
    """One charge of a saved card per `key` (no confirmation: the client takes no action). A row left `new` by
    an unanswered call is sent again with the same key; YooKassa then answers with the payment it made."""
    db.session.execute(insert(db.session, Payment).values(
        account_id=account_id, provider="yookassa", idempotence_key=key, purpose=purpose, amount_kop=amount_kop,
        status="new", is_card_saving=False, refunded_kop=0, is_test=False, created_at=utcnow(),
        updated_at=utcnow()).on_conflict_do_nothing(index_elements=["idempotence_key"]))
    payment = db.session.scalar(sa.select(Payment).where(Payment.idempotence_key == key))
    if payment.status != "new" or payment.provider_id is not None:
        return payment
    account = _account(account_id)
    params = _payment_params(payment, account, _owner_email(account_id), f"{description}, аккаунт "
                             f"{account.client_code}")
    params["payment_method_id"] = card.provider_method_id
    try:
        remote = gateway.create_payment(params, key)
    except PaymentError as exc:
        log.warning("autopay charge %s for account %s failed: %s", key, account_id, exc.code)
        if exc.code != "provider_unavailable":  # refused for good: the next run makes a new attempt
            payment.status, payment.cancellation_reason = "canceled", exc.code
            db.session.flush()
        return payment
    _attach(payment, remote)
    return payment


def _owner_email(account_id: int) -> str:
    """The receipt's e-mail for a charge nobody is looking at: the account's first client user."""
    return db.session.scalar(sa.select(User.email).where(User.account_id == account_id).order_by(User.id).limit(1))


# --- refunds ------------------------------------------------------------------------------------------------

def refund(payment_id: int, amount_kop: int, reason: str, user_id: int, key: str | None = None) -> Refund:
    """Return money of a succeeded payment to its payer (administrators only: the view checks).

    `key` (the refund form's, made when it was shown) makes a resubmitted form one refund: a refund already
    made with that key is returned, or — if YooKassa never answered it — sent again with the same
    Idempotence-Key (YooKassa makes it once). Codes: `not_found`, `not_refundable` (not succeeded),
    `invalid_amount` (≤ 0, or more than what is left after the refunds done and pending). `provider_unavailable`
    leaves the row `new`: it still counts against the refundable amount, and `reconcile_pending` resends it.
    """
    payment = db.session.scalar(sa.select(Payment).where(Payment.id == payment_id).with_for_update())
    if payment is None:
        raise PaymentError(f"no payment {payment_id}", "not_found")
    earlier = key and db.session.scalar(sa.select(Refund).where(Refund.idempotence_key == key,
                                                                Refund.payment_id == payment.id))
    if earlier:
        return _send_refund(earlier) if earlier.provider_id is None else earlier
    if payment.status != "succeeded" or payment.credited_at is None:
        raise PaymentError("only a succeeded payment can be refunded", "not_refundable")
    pending = db.session.scalar(sa.select(sa.func.coalesce(sa.func.sum(Refund.amount_kop), 0)).where(
        Refund.payment_id == payment.id, Refund.status.in_(("new", "pending"))))
    left = payment.amount_kop - payment.refunded_kop - pending
    if type(amount_kop) is not int or not 0 < amount_kop <= left:
        raise PaymentError(f"a refund of this payment is 0.01 to {left / 100:.2f} RUB", "invalid_amount")
    row = Refund(payment_id=payment.id, idempotence_key=key or str(uuid.uuid4()), amount_kop=amount_kop,
                 status="new", reason=(reason or "")[:250], created_by_id=user_id)
    db.session.add(row)
    db.session.flush()
    return _send_refund(row)


def _send_refund(row: Refund) -> Refund:
    """Ask YooKassa for the refund under the row's own Idempotence-Key (so a resend never refunds twice)."""
    payment = db.session.get(Payment, row.payment_id)
    account = _account(payment.account_id)
    params = {"payment_id": payment.provider_id, "amount": _money(row.amount_kop), "description": row.reason[:250],
              "receipt": receipt(row.amount_kop, _owner_email(account.id), account.client_code)}
    remote = gateway.create_refund(params, row.idempotence_key)
    row.provider_id = remote.id
    db.session.flush()
    return apply_refund(remote) or row


def apply_refund(remote) -> Refund | None:
    """The one place that changes a refund from YooKassa's answer; when succeeded the client is debited once
    (`refund:yookassa:<id>`) and the payment's refunded amount grows once. Unknown refunds: ignored (None)."""
    row = db.session.scalar(sa.select(Refund).where(Refund.provider_id == remote.id).with_for_update())
    if row is None:
        log.warning("YooKassa refund %s is not ours: ignored", remote.id)
        return None
    if row.status == "succeeded":
        return row
    row.status = remote.status
    if remote.status == "succeeded":
        amount = _kop(remote.amount.value)
        payment = db.session.scalar(sa.select(Payment).where(Payment.id == row.payment_id).with_for_update())
        posted = ledger.post(f"refund:yookassa:{remote.id}", "refund", [
            (ledger.client_account(payment.account_id), -amount), (ledger.system_account(SYSTEM), amount)],
            memo=f"YooKassa refund {remote.id} of payment {payment.provider_id}: {row.reason}")
        if posted.created:
            payment.refunded_kop += amount
            row.debited_at = utcnow()
    db.session.flush()
    return row
