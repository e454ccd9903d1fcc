"""The notification outbox: write a rendered message with its cause; deliver it after commit, with retries.

Delivery is at least once only across a worker crash between the SMTP server accepting a message and our
commit of `sent`; each message carries a stable Message-ID so a receiving system can drop such a repeat.
"""
from __future__ import annotations

import datetime as dt
import logging
import smtplib

import sqlalchemy as sa
from flask import current_app, render_template
from flask_babel import force_locale
from flask_mailman import EmailMultiAlternatives

from app.db import on_commit, utcnow
from app.extensions import db
from app.models import Notification

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


def transmit(notification: Notification) -> str | None:
    """Send over SMTP; returns None on success or the error text. Touches no database."""
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


def record_result(notification_id: int, error: str | None) -> None:
    notification = db.session.get(Notification, notification_id)
    if error is None:
        notification.status, notification.sent_at, notification.last_error = "sent", utcnow(), None
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
    db.session.flush()
