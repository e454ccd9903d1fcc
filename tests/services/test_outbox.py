"""The mail outbox: written with its cause, sent after commit over SMTP, retried with backoff, never twice."""
from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from app.db import utcnow
from app.extensions import db
from app.models import Notification
from app.services import outbox
from dialer.tasks.mail import deliver, retry_due


def _queue(kind="password_reset", **extra):
    context = {"user": type("U", (), {"email": "who@shop.example.com"})(), "reset_url": "http://x/y",
               "max_age_min": 60}
    return outbox.queue_email(kind, "who@shop.example.com", context, **extra)


def _row() -> Notification:
    """The outbox row as stored now; ends the read so the worker's own session can take the SQLite lock."""
    row = db.session.execute(sa.select(Notification).execution_options(populate_existing=True)).scalar_one()
    db.session.commit()
    return row


def test_sent_after_commit_with_text_html_and_a_stable_message_id(app_ctx, mailbox):
    notification = _queue()
    db.session.flush()
    assert mailbox.messages == []  # nothing leaves before the commit
    db.session.commit()
    [mail] = mailbox.wait_for(1)
    assert mail.message["Message-ID"] == f"<notification-{notification.id}@127.0.0.1>"
    assert mail.message.get_body(("html",)) is not None and "http://x/y" in mail.text
    assert _row().status == "sent" and _row().sent_at is not None


def test_rolled_back_cause_sends_nothing(app_ctx, mailbox):
    _queue()
    db.session.rollback()
    db.session.commit()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Notification)) == 0
    with pytest.raises(AssertionError):
        mailbox.wait_for(1, timeout=0.5)


def test_smtp_down_keeps_the_message_and_retries_with_backoff(app_ctx, mailbox):
    mailbox.stop()
    _queue()
    db.session.commit()  # the immediate task tries once and fails
    row = _row()
    assert (row.status, row.attempts) == ("pending", 1)
    assert row.last_error and row.next_attempt_at > utcnow() + dt.timedelta(seconds=20)

    assert retry_due.call_local() == 0  # not due yet: the sweep leaves it alone
    assert _row().attempts == 1

    db.session.execute(sa.update(Notification).values(next_attempt_at=utcnow() - dt.timedelta(seconds=1)))
    db.session.commit()
    assert retry_due.call_local() == 0  # due, still down: the backoff doubles
    row = _row()
    assert row.attempts == 2 and row.next_attempt_at > utcnow() + dt.timedelta(seconds=50)

    mailbox.start()
    db.session.execute(sa.update(Notification).values(next_attempt_at=utcnow() - dt.timedelta(seconds=1)))
    db.session.commit()
    assert retry_due.call_local() == 1
    assert len(mailbox.wait_for(1)) == 1 and _row().status == "sent"


def test_a_sent_message_is_never_sent_again(app_ctx, mailbox):
    notification = _queue()
    db.session.commit()
    mailbox.wait_for(1)
    assert deliver(notification.id) is False
    assert retry_due.call_local() == 0
    db.session.execute(sa.update(Notification).values(next_attempt_at=utcnow() - dt.timedelta(days=1)))
    db.session.commit()
    assert retry_due.call_local() == 0
    assert len(mailbox.messages) == 1


def test_a_crashed_workers_claim_is_taken_over_after_a_while(app_ctx, mailbox):
    mailbox.stop()
    notification = _queue()
    db.session.commit()
    mailbox.start()
    # As if a worker claimed it and died before recording the result.
    db.session.execute(sa.update(Notification).values(status="sending", claimed_at=utcnow()))
    db.session.commit()
    assert retry_due.call_local() == 0  # a fresh claim belongs to its worker
    db.session.execute(sa.update(Notification).values(claimed_at=utcnow() - dt.timedelta(minutes=11)))
    db.session.commit()
    assert retry_due.call_local() == 1
    assert _row().status == "sent" and _row().id == notification.id


def test_gives_up_after_the_last_attempt(app_ctx, mailbox):
    mailbox.stop()
    _queue()
    db.session.commit()
    db.session.execute(sa.update(Notification).values(attempts=outbox.MAX_ATTEMPTS - 1,
                                                      next_attempt_at=utcnow() - dt.timedelta(seconds=1)))
    db.session.commit()
    retry_due.call_local()
    assert _row().status == "failed"


def test_a_dedup_key_queues_once(app_ctx, mailbox):
    assert _queue(dedup_key="welcome:1") is not None
    db.session.commit()
    assert _queue(dedup_key="welcome:1") is None
    db.session.commit()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Notification)) == 1


def test_rendered_in_the_recipients_language(app_ctx, mailbox):
    _queue(locale="en")
    _queue(locale="ru")
    db.session.commit()
    subjects = sorted(m.subject for m in mailbox.wait_for(2))
    assert subjects == ["Reset your CallBack password", "Сброс пароля CallBack"]
