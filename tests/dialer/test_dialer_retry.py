"""X3: a visitor who did not answer is called once more (attempt 2, charged on its own), then invited by SMS to
ask again; and D11: the quality-report SMS to the site's configured numbers, once per finished call.

The retry waits in `callback_request.retry_at` and is dialed by the dispatcher (`dialer.dispatch_due`), which
runs here with a `now` past the pause; Huey runs immediately, so `dialer.redial` dials at once."""
from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from dialer_helpers import attempts_of, request_row

from app.db import utcnow
from app.extensions import db
from app.models import CallbackRequest, LedgerTransaction, Notification, SmsMessage
from app.services import dialer, site_settings, timeline
from dialer.tasks.dialing import redial
from dialer.tasks.reconcile import dispatch_due
from dialer.tasks.telephony import attempt_event

ANNA = "+79990000001"
CLIENT = "+79995550000"
REPORTS = "+79161234567"
PAGE = "https://shop.example.com/catalog/sofas"
RETRY = {"is_client_retried": True, "client_retry_delay_s": 60}


def later(seconds: float) -> dt.datetime:
    return utcnow() + dt.timedelta(seconds=seconds)


def makecallback_count(sandbox) -> int:
    return [body["method"] for body in sandbox.rpc_log].count("makeCallBackCallFollowme")


def ledger_keys(app, kind: str) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(sa.select(LedgerTransaction.key).where(LedgerTransaction.kind == kind)
                                       .order_by(LedgerTransaction.id)))


def sms_of(app, kind: str) -> list[tuple[str, str, int]]:
    """(recipient, text, sms id) of the SMS of `kind`."""
    with app.app_context():
        return [tuple(row) for row in db.session.execute(
            sa.select(Notification.recipient, Notification.body_text, SmsMessage.id)
            .join(SmsMessage, SmsMessage.notification_id == Notification.id)
            .where(Notification.kind == kind).order_by(Notification.id))]


def test_a_visitor_who_did_not_answer_is_called_again_and_answers(served_app, sandbox, make_shop, request_call,
                                                                  settle):
    shop = make_shop([("Anna", ANNA)], settings=RETRY)
    sandbox.set_rule(CLIENT, action="no_answer")
    request = settle(request_call(shop, visitor={"page_url": PAGE})["id"])

    assert request.status == "manager_answered" and request.outcome is None  # waiting for attempt 2
    assert request.retry_at is not None
    assert dt.timedelta(seconds=50) < request.retry_at - utcnow() <= dt.timedelta(seconds=60)
    assert ledger_keys(served_app, "call") == [f"call:{request.id}:1"]  # attempt 1 is paid for on its own
    assert dispatch_due.call_local(now=later(30)) == {}  # not before the pause
    assert makecallback_count(sandbox) == 1

    sandbox.set_rule(CLIENT, action="answer")
    assert dispatch_due.call_local(now=later(61)) == {"retry_redial": 1}
    request = settle(request.id)

    assert (request.status, request.outcome) == ("completed", "success")
    first, second = attempts_of(served_app, request.id)
    assert (first.number, first.outcome, second.number, second.outcome) == (1, "client_no_answer", 2, "success")
    assert second.plan["client_number"] == CLIENT
    assert ledger_keys(served_app, "call") == [f"call:{request.id}:1", f"call:{request.id}:2"]
    assert makecallback_count(sandbox) == 2
    assert sms_of(served_app, "call_invite") == []
    with served_app.app_context():  # the back office's timeline shows the pause between the attempts
        entries = timeline.timeline(db.session.get(CallbackRequest, request.id)).entries
        statuses = [(entry.attempt_number, entry.status) for entry in entries if entry.kind == "status"]
    assert statuses.index((1, "ended")) < statuses.index((None, "retry_scheduled")) < statuses.index((2, "dialing"))
    assert redial.call_local(request.id) == "skipped"  # a repeated task places no third call
    assert dispatch_due.call_local(now=later(200)) == {}


@pytest.mark.backends
def test_a_visitor_who_answers_neither_call_is_invited_by_sms_once(served_app, sandbox, make_shop, request_call,
                                                                   settle):
    shop = make_shop([("Anna", ANNA)], settings=RETRY)
    sandbox.set_rule(CLIENT, action="no_answer")
    request_id = request_call(shop, visitor={"page_url": PAGE})["id"]
    settle(request_id)

    dispatch_due.call_local(now=later(61))
    request = settle(request_id)
    for attempt in attempts_of(served_app, request_id):  # events and records again: nothing more happens
        attempt_event.call_local(attempt.id)

    assert (request.status, request.outcome) == ("completed", "client_no_answer")
    assert [a.outcome for a in attempts_of(served_app, request_id)] == ["client_no_answer", "client_no_answer"]
    assert makecallback_count(sandbox) == 2
    [(recipient, text, sms_id)] = sms_of(served_app, "call_invite")
    assert recipient == CLIENT and PAGE in text
    assert any(PAGE in message["text"] for message in sandbox.sms)
    assert f"sms:{sms_id}" in ledger_keys(served_app, "sms")
    assert ledger_keys(served_app, "call") == [f"call:{request_id}:1", f"call:{request_id}:2"]


def test_without_the_retry_setting_the_visitor_is_called_once_and_not_invited(served_app, sandbox, make_shop,
                                                                              request_call, settle):
    shop = make_shop([("Anna", ANNA)])
    sandbox.set_rule(CLIENT, action="no_answer")

    request = settle(request_call(shop)["id"])
    dispatch_due.call_local(now=later(61))

    assert (request.status, request.outcome, request.retry_at) == ("completed", "client_no_answer", None)
    assert makecallback_count(sandbox) == 1
    assert sms_of(served_app, "call_invite") == []


def test_a_retry_due_after_closing_time_is_given_up_with_the_invitation(served_app, sandbox, make_shop,
                                                                        request_call, settle):
    shop = make_shop([("Anna", ANNA)], settings=RETRY)
    sandbox.set_rule(CLIENT, action="no_answer")
    request_id = request_call(shop, visitor={"page_url": PAGE})["id"]
    settle(request_id)
    closed = {day: {"is_open": False, "opens_at": "09:00", "closes_at": "18:00"}
              for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
    with served_app.app_context():
        values = site_settings.effective_settings(shop.account_id, shop.site_id).model_dump()
        site_settings.save(shop.account_id, shop.site_id, {**values, "schedule": closed})
        db.session.commit()

    assert dispatch_due.call_local(now=later(61)) == {"retry_given_up": 1}

    request = request_row(served_app, request_id)
    assert (request.status, request.outcome) == ("completed", "client_no_answer")
    assert makecallback_count(sandbox) == 1  # never called at night
    assert len(sms_of(served_app, "call_invite")) == 1


def test_a_lost_redial_task_is_enqueued_again_and_dials_once(served_app, sandbox, make_shop, request_call, settle):
    shop = make_shop([("Anna", ANNA)], settings=RETRY)
    sandbox.set_rule(CLIENT, action="no_answer")
    request_id = settle(request_call(shop)["id"]).id
    stuck_s = served_app.config["DIALER_STUCK_AFTER_S"]
    now = later(61)

    with served_app.app_context():  # the dispatcher moved it, then its `dialer.redial` task was lost
        assert dialer.dispatch_retry(request_id, now, again_after_s=stuck_s, give_up_after_s=1800) == "redial"
        db.session.commit()
        assert dialer.due_retry_ids(now + dt.timedelta(seconds=1)) == []  # not again at once
        assert dialer.due_retry_ids(now + dt.timedelta(seconds=stuck_s + 1)) == [request_id]
    assert makecallback_count(sandbox) == 1

    sandbox.set_rule(CLIENT, action="answer")
    assert dispatch_due.call_local(now=now + dt.timedelta(seconds=stuck_s + 1)) == {"retry_redial": 1}
    assert redial.call_local(request_id) == "skipped"
    assert settle(request_id).outcome == "success"
    assert makecallback_count(sandbox) == 2


@pytest.mark.backends
def test_the_quality_report_goes_to_each_configured_number_once_per_call(served_app, sandbox, make_shop,
                                                                         request_call, settle):
    shop = make_shop([("Anna", ANNA)], settings={"sms_report_numbers": [REPORTS, "+79161234568"]})
    request = settle(request_call(shop)["id"])
    [attempt] = attempts_of(served_app, request.id)
    attempt_event.call_local(attempt.id)  # a repeated run sends nothing more

    reports = sms_of(served_app, "quality_report")
    assert sorted(recipient for recipient, _text, _id in reports) == [REPORTS, "+79161234568"]
    for _recipient, text, sms_id in reports:
        assert f"Shop {shop.account_id}-0" in text and "+7 999 555-00-00" in text and "Anna" in text
        assert f"{request.duration_s} " in text
        assert f"sms:{sms_id}" in ledger_keys(served_app, "sms")
    assert len(ledger_keys(served_app, "sms")) == 2


def test_a_missed_call_is_reported_too_without_a_manager(served_app, sandbox, make_shop, request_call, settle):
    shop = make_shop([("Anna", ANNA)], settings={"sms_report_numbers": [REPORTS], "ring_timeout_s": 5})
    sandbox.set_rule(ANNA, action="no_answer")

    settle(request_call(shop)["id"])

    [(recipient, text, _id)] = sms_of(served_app, "quality_report")
    assert recipient == REPORTS and "—" in text and "Anna" not in text
