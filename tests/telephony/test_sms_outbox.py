"""SMS on the notification outbox: sent after commit through the MTT adapter to the sandbox's SendSms, with MTT
named as the sender (N6), retried with the outbox's backoff while the gateway is down, never sent twice."""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from helpers import login

from app.db import utcnow
from app.extensions import db
from app.models import Notification, SmsMessage
from app.services import outbox
from dialer.tasks.mail import retry_due

CLIENT = "+79995550000"
TEXT = "Вам звонили с сайта shop.example.com. Оператор МТТ."


def rows() -> tuple[Notification, SmsMessage]:
    """The outbox row and the SMS row as stored now; ends the read so the worker's session can write."""
    notification = db.session.execute(sa.select(Notification).execution_options(populate_existing=True)).scalar_one()
    sms = db.session.execute(sa.select(SmsMessage).execution_options(populate_existing=True)).scalar_one()
    db.session.commit()
    return notification, sms


def make_due() -> None:
    db.session.execute(sa.update(Notification).values(next_attempt_at=utcnow() - dt.timedelta(seconds=1)))
    db.session.commit()


def test_an_sms_is_sent_after_commit_with_mtt_as_the_sender(app_ctx, sandbox):
    outbox.queue_sms("call_report", CLIENT, TEXT, account_id=None)
    db.session.flush()
    assert sandbox.sms == []  # nothing leaves before the commit
    db.session.commit()

    [received] = sandbox.sms
    assert (received["number"], received["destination"], received["text"]) == ("MTT", "79995550000", TEXT)
    notification, sms = rows()
    assert (notification.channel, notification.status, notification.recipient) == ("sms", "sent", CLIENT)
    assert (sms.status, sms.destination, sms.sender, sms.provider) == ("sent", CLIENT, "MTT", "mtt")
    assert sms.provider_message_id == received["message_id"] and sms.sent_at is not None


def test_the_gateway_down_keeps_the_sms_and_it_is_delivered_once_when_it_recovers(app_ctx, sandbox):
    sandbox.fail_next(2, 503)  # the first try and the adapter's one quick retry
    outbox.queue_sms("call_report", CLIENT, TEXT)
    db.session.commit()

    notification, sms = rows()
    assert (notification.status, notification.attempts, sms.status) == ("pending", 1, "pending")
    assert "503" in sms.last_error and notification.next_attempt_at > utcnow() + dt.timedelta(seconds=20)
    assert sandbox.sms == []
    assert retry_due.call_local() == 0  # not due yet

    make_due()
    assert retry_due.call_local() == 1
    make_due()
    assert retry_due.call_local() == 0

    assert len(sandbox.sms) == 1
    notification, sms = rows()
    assert (notification.status, notification.attempts, sms.status, sms.last_error) == ("sent", 2, "sent", None)


def test_an_sms_whose_outcome_is_unknown_is_not_sent_again(app_ctx, sandbox):
    sandbox.hang_next(3.0)  # the gateway takes it, then answers after the adapter's 2 s read timeout
    outbox.queue_sms("call_report", CLIENT, TEXT)
    db.session.commit()

    notification, sms = rows()
    assert (notification.status, sms.status) == ("failed", "unknown")
    make_due()
    assert retry_due.call_local() == 0
    assert len(sandbox.sms) == 1


def test_a_dedup_key_queues_one_sms(app_ctx, sandbox):
    assert outbox.queue_sms("call_report", CLIENT, TEXT, dedup_key="sms:report:1") is not None
    db.session.commit()
    assert outbox.queue_sms("call_report", CLIENT, TEXT, dedup_key="sms:report:1") is None
    db.session.commit()
    assert len(sandbox.sms) == 1
    assert db.session.scalar(sa.select(sa.func.count()).select_from(SmsMessage)) == 1


def test_the_back_office_mail_page_lists_the_sms_sent_and_what_the_sandbox_received(app, client, sandbox,
                                                                                      make_staff_user):
    with app.app_context():
        outbox.queue_sms("call_report", CLIENT, TEXT)
        db.session.commit()
    _user_id, email, password = make_staff_user("admin")
    login(client, email, password)

    page = client.get("/admin/mailbox/").get_data(as_text=True)

    sent, received = page.split('id="sms"', 1)[1].split('id="sms-sandbox"', 1)
    assert CLIENT in sent and TEXT in sent and "<td>sent</td>" in sent
    assert "79995550000" in received and TEXT in received
