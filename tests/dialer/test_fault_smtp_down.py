"""Fault: the SMTP server down while calls are made and settled.

The dialer's outcome and charge are committed first; the e-mails they cause (the missed-call notice) are rows of the
outbox, sent after the commit and kept, with a backoff, while SMTP is down (`test_outbox.py`, and
`test_worker_process.py` through a real worker). Here the dialer meets it: with SMTP down every request is still
dialed once, settled and charged once, settling again changes nothing, and once SMTP is back each e-mail goes
out once.
"""
from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from dialer_helpers import request_row

from app.db import utcnow
from app.extensions import db
from app.models import LedgerTransaction, Notification
from dialer.tasks.mail import retry_due

ANNA = "+79990000001"
SALES = "sales@shop.example.com"
MISSED, SERVED = "+79995550000", "+79996660000"  # distinct prefixes: the abuse limits see two visitors


def rows(app) -> list[tuple[str, str, int]]:
    """(kind, status, attempts) of the shop's notifications."""
    with app.app_context():
        return [tuple(r) for r in db.session.execute(
            sa.select(Notification.kind, Notification.status, Notification.attempts)
            .where(Notification.recipient == SALES).order_by(Notification.id))]


def call_keys(app) -> list[str]:
    with app.app_context():
        return sorted(db.session.scalars(sa.select(LedgerTransaction.key).where(LedgerTransaction.kind == "call")))


@pytest.mark.backends
def test_smtp_down_neither_stops_nor_repeats_a_call_or_a_charge_and_each_mail_goes_once_it_is_back(
        served_app, sandbox, make_shop, request_call, settle, mailbox, backend):
    shop = make_shop([("Anna", ANNA)], settings={"missed_call_email": SALES})
    mailbox.clear()  # the owner's welcome mail, sent at sign-up
    mailbox.stop()

    sandbox.set_rule(ANNA, action="no_answer")
    missed = settle(request_call(shop, phone=MISSED)["id"])
    sandbox.set_rule(ANNA, action="answer")
    served = settle(request_call(shop, phone=SERVED)["id"])
    for request in (missed, served):  # the reconciler settling them once more
        settle(request.id)

    assert (missed.status, missed.outcome) == ("completed", "manager_no_answer")
    assert (served.status, served.outcome) == ("completed", "success")
    assert sorted(call.b_number.lstrip("+") for call in sandbox.calls.values()) == [MISSED[1:], SERVED[1:]]
    assert call_keys(served_app) == [f"call:{served.id}:1"]
    assert rows(served_app) == [("missed_call", "pending", 1)]  # tried once, kept

    mailbox.start()
    with served_app.app_context():  # its backoff has passed
        db.session.execute(sa.update(Notification).values(next_attempt_at=utcnow() - dt.timedelta(seconds=1)))
        db.session.commit()
        assert retry_due.call_local() == 1
        assert retry_due.call_local() == 0

    [mail] = mailbox.wait_for(1)
    assert mail.rcpt_tos == [SALES]
    assert MISSED in mail.text
    assert rows(served_app) == [("missed_call", "sent", 2)]
    assert request_row(served_app, missed.id).outcome == "manager_no_answer"
    with pytest.raises(AssertionError):
        mailbox.wait_for(2, timeout=0.5)
