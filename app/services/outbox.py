"""The notification outbox: write a rendered message with its cause; deliver it after commit, with retries.

Two channels: e-mail over SMTP and SMS through the telephony provider (an `sms_message` row records each SMS).
Delivery is at least once only across a worker crash between the SMTP server accepting a message and our
commit of `sent`; each message carries a stable Message-ID so a receiving system can drop such a repeat. An
SMS whose outcome is unknown (the gateway may have taken it without answering) is not sent again.
"""
from __future__ import annotations

import datetime as dt
import logging
import smtplib
from dataclasses import dataclass

import sqlalchemy as sa
from flask import current_app, render_template
from flask_babel import force_locale
from flask_mailman import EmailMultiAlternatives

from app.db import on_commit, utcnow
from app.extensions import db
from app.models import Notification
from app.services import telephony
from dialer.providers.base import SmsResult

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 12
FIRST_RETRY_S = 30
MAX_RETRY_S = 3600
STALE_CLAIM = dt.timedelta(minutes=10)


def queue_email(kind: str, recipient: str, context: dict, *, locale: str = "ru",
                account_id: int | None = None, dedup_key: str | None = None) -> Notification | None:
    """Render `templates/email/<kind>.{txt,html}` in `locale` and store it; None if `dedup_key` was used."""
    with force_locale(locale):
        subject = render_template(f"email/{kind}.subject.txt", **context).strip()
        body_text = render_template(f"email/{kind}.txt", **context)
        body_html = render_template(f"email/{kind}.html", subject=subject, **context)
    if dedup_key and db.session.scalar(sa.select(Notification.id).where(Notification.dedup_key == dedup_key)):
        return None
    notification = Notification(
        channel="email", kind=kind, recipient=recipient, locale=locale, account_id=account_id,
        subject=subject, body_text=body_text, body_html=body_html, dedup_key=dedup_key,
    )
    db.session.add(notification)
    db.session.flush()
    on_commit(db.session, lambda: _enqueue(notification.id))
    return notification


def queue_sms(kind: str, destination: str, text: str, *, account_id: int | None = None,
              dedup_key: str | None = None) -> Notification | None:
    """Store an SMS to `destination` (E.164) for delivery after commit; None if `dedup_key` was used."""
    if dedup_key and db.session.scalar(sa.select(Notification.id).where(Notification.dedup_key == dedup_key)):
        return None
    notification = Notification(channel="sms", kind=kind, recipient=destination, account_id=account_id,
                                body_text=text, dedup_key=dedup_key)
    db.session.add(notification)
    db.session.flush()
    telephony.new_sms(notification, destination, text)
    on_commit(db.session, lambda: _enqueue(notification.id))
    return notification


def _enqueue(notification_id: int) -> None:
    from dialer.tasks.mail import send_notification  # the worker's tasks import this module

    try:
        send_notification(notification_id)
    except Exception:  # the queue being down must not fail the request; the periodic retry sends it
        log.exception("could not enqueue notification %s; the retry sweep will send it", notification_id)


def claim(notification_id: int) -> Notification | None:
    """Mark a due notification as being sent by us; None if it is not ours to send (sent, or claimed)."""
    now = utcnow()
    claimed = db.session.execute(
        sa.update(Notification)
        .where(Notification.id == notification_id, _claimable(now))
        .values(status="sending", claimed_at=now, attempts=Notification.attempts + 1)
        .execution_options(synchronize_session=False)
    ).rowcount
    if not claimed:
        return None
    return db.session.execute(
        sa.select(Notification).where(Notification.id == notification_id).execution_options(populate_existing=True)
    ).scalar_one()


def _claimable(now: dt.datetime):
    pending = sa.and_(Notification.status == "pending", Notification.next_attempt_at <= now)
    stale = sa.and_(Notification.status == "sending", Notification.claimed_at < now - STALE_CLAIM)
    return sa.or_(pending, stale)


def due_ids(limit: int = 100) -> list[int]:
    return list(db.session.scalars(
        sa.select(Notification.id).where(_claimable(utcnow())).order_by(Notification.id).limit(limit)))


@dataclass(frozen=True)
class Delivery:
    """What one try at sending gave: `error` None when sent; `is_final` when it must not be tried again."""

    error: str | None = None
    is_final: bool = False
    sms: SmsResult | None = None


def transmit(notification: Notification) -> Delivery:
    """Send by the notification's channel; writes no database."""
    if notification.channel == "sms":
        return _transmit_sms(notification)
    return Delivery(error=_transmit_email(notification))


def _transmit_sms(notification: Notification) -> Delivery:
    result = telephony.send_sms(notification)
    if result.status == "sent":
        return Delivery(sms=result)
    error = f"{result.status} {result.code}: {result.detail}"[:500]
    return Delivery(error=error, is_final=result.status == "unknown", sms=result)


def _transmit_email(notification: Notification) -> str | None:
    """Send over SMTP; returns None on success or the error text."""
    host = current_app.config["PUBLIC_URL"].split("://", 1)[-1].split("/")[0].split(":")[0]
    message = EmailMultiAlternatives(
        subject=notification.subject, body=notification.body_text, to=[notification.recipient],
        headers={"Message-ID": f"<notification-{notification.id}@{host}>"},
    )
    if notification.body_html:
        message.attach_alternative(notification.body_html, "text/html")
    try:
        message.send(fail_silently=False)
    except (TimeoutError, OSError, smtplib.SMTPException) as exc:
        return f"{type(exc).__name__}: {exc}"[:500]
    return None


def record_result(notification_id: int, delivery: Delivery) -> None:
    notification = db.session.get(Notification, notification_id)
    error = delivery.error
    if error is None:
        notification.status, notification.sent_at, notification.last_error = "sent", utcnow(), None
    elif delivery.is_final:
        notification.status, notification.last_error = "failed", error
        log.error("notification %s not retried: %s", notification_id, error)
    elif notification.attempts >= MAX_ATTEMPTS:
        notification.status, notification.last_error = "failed", error
        log.error("notification %s failed for good after %s attempts: %s", notification_id,
                  notification.attempts, error)
    else:
        delay = min(FIRST_RETRY_S * 2 ** (notification.attempts - 1), MAX_RETRY_S)
        notification.status, notification.last_error = "pending", error
        notification.next_attempt_at = utcnow() + dt.timedelta(seconds=delay)
        log.warning("notification %s not sent (%s); retry in %ss", notification_id, error, delay)
    notification.claimed_at = None
    if delivery.sms is not None:
        is_unknown = notification.status == "failed" and delivery.sms.status == "unknown"
        telephony.record_sms_result(notification_id, delivery.sms, "unknown" if is_unknown else notification.status)
    db.session.flush()
