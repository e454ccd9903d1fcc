"""Delivering the notification outbox (e-mail and SMS): one task per new row, and a periodic sweep for retries."""
from huey import crontab

from app.extensions import db
from app.services import outbox
from dialer.huey_app import periodic_task, task


def deliver(notification_id: int) -> bool:
    """Claim, send and record one notification; the claim is committed before the network call."""
    notification = outbox.claim(notification_id)
    db.session.commit()
    if notification is None:
        return False
    delivery = outbox.transmit(notification)
    outbox.record_result(notification_id, delivery)
    db.session.commit()
    return delivery.error is None


@task("mail.send_notification")
def send_notification(notification_id: int) -> bool:
    return deliver(notification_id)


@periodic_task("mail.retry_due", crontab(minute="*"))
def retry_due() -> int:
    """Send what is due: retries after backoff, rows whose task was lost, and claims of crashed workers.

    No task lock: `outbox.claim` is an atomic compare-and-set, so overlapping sweeps never send a row twice,
    and a lock left by a killed worker cannot stop the retries.
    """
    sent = 0
    for notification_id in outbox.due_ids():
        sent += deliver(notification_id)
    return sent
