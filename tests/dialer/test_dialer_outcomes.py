"""Outcomes (D9) from MTT's call record, the charge once per attempt, the SMS after the call (D10), the
missed-call e-mail (D12), passive mode (D14), an unknown start never redialed, and one call per number (X1)."""
from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from dialer_helpers import attempts_of, request_row
from helpers import top_up

from app.db import utcnow
from app.extensions import db
from app.models import Account, LedgerTransaction, Notification, SmsMessage
from dialer.tasks.dialing import plan_and_dial
from dialer.tasks.telephony import attempt_event

ANNA, BORIS = "+79990000001", "+79990000002"
CLIENT = "+79995550000"


def notifications(app, kind: str) -> list[Notification]:
    with app.app_context():
        rows = list(db.session.scalars(sa.select(Notification).where(Notification.kind == kind)
                                       .order_by(Notification.id)))
        for row in rows:
            db.session.expunge(row)
        return rows


def ledger_keys(app, kind: str) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(sa.select(LedgerTransaction.key).where(LedgerTransaction.kind == kind)
                                       .order_by(LedgerTransaction.id)))


def test_no_manager_answers_sends_the_missed_call_email(served_app, sandbox, make_shop, request_call, settle,
                                                        mailbox):
    shop = make_shop([("Anna", ANNA), ("Boris", BORIS)],
                     settings={"missed_call_email": "sales@shop.example.com", "ring_timeout_s": 10})
    sandbox.set_rule(ANNA, action="busy")
    sandbox.set_rule(BORIS, action="no_answer")

    request = settle(request_call(shop)["id"])

    assert (request.status, request.outcome, request.duration_s, request.answered_line_id) == (
        "completed", "manager_no_answer", 0, None)
    [email] = notifications(served_app, "missed_call")
    assert email.recipient == "sales@shop.example.com" and CLIENT in email.body_text
    assert CLIENT in email.subject
    [received] = [m for m in mailbox.wait_for(2) if m.rcpt_tos == ["sales@shop.example.com"]]
    assert CLIENT in received.text
    assert notifications(served_app, "call_followup") == []


def test_the_visitor_not_answering_is_client_no_answer_without_a_missed_call_email(served_app, sandbox, make_shop,
                                                                                    request_call, settle):
    shop = make_shop([("Anna", ANNA)], settings={"missed_call_email": "sales@shop.example.com"})
    sandbox.set_rule(CLIENT, action="no_answer")

    request = settle(request_call(shop)["id"])

    assert (request.outcome, request.answered_line_id) == ("client_no_answer", shop.line_ids["Anna"])
    assert notifications(served_app, "missed_call") == []
    [attempt] = attempts_of(served_app, request.id)
    assert attempt.manager_answered_at is not None and attempt.client_answered_at is None


def test_mtt_refusing_the_start_fails_the_request_without_a_call(served_app, sandbox, make_shop, request_call):
    shop = make_shop([("Anna", ANNA)], settings={"missed_call_email": "sales@shop.example.com"})
    sandbox.fail_next(2, status=503)  # the first try and its one retry

    request = request_row(served_app, request_call(shop)["id"])

    assert (request.status, request.outcome) == ("completed", "failed")
    [attempt] = attempts_of(served_app, request.id)
    assert (attempt.status, attempt.start_outcome, attempt.busy_number) == ("failed", "rejected", None)
    assert sandbox.calls == {}
    assert [n.kind for n in notifications(served_app, "missed_call")] == ["missed_call"]
    assert ledger_keys(served_app, "call") == []


def test_sms_after_the_call_names_the_manager_and_is_charged(served_app, sandbox, make_shop, request_call, settle):
    shop = make_shop([("Anna", ANNA, {"is_name_in_sms": True})], settings={"is_sms_after_call": True})

    request = settle(request_call(shop)["id"])

    assert request.outcome == "success"
    [sms] = notifications(served_app, "call_followup")
    assert "Anna" in sms.body_text and sms.recipient == CLIENT
    assert any("Anna" in message["text"] for message in sandbox.sms)
    with served_app.app_context():
        row = db.session.scalar(sa.select(SmsMessage).where(SmsMessage.notification_id == sms.id))
        assert row.request_id == request.id
        sms_id = row.id
    assert ledger_keys(served_app, "sms") == [f"sms:{sms_id}"]


def test_sms_after_the_call_without_the_managers_name_when_the_line_says_no(served_app, make_shop, request_call,
                                                                           settle):
    shop = make_shop([("Anna", ANNA)], settings={"is_sms_after_call": True})

    settle(request_call(shop)["id"])

    [sms] = notifications(served_app, "call_followup")
    assert "Anna" not in sms.body_text


@pytest.mark.backends
def test_duplicated_and_late_events_charge_once_and_never_step_back(served_app, sandbox, make_shop, request_call,
                                                                   settle):
    shop = make_shop([("Anna", ANNA)], settings={"is_sms_after_call": True})
    request = settle(request_call(shop)["id"])
    [attempt] = attempts_of(served_app, request.id)
    url = sandbox.calls[attempt.provider_call_id].params["callBackURL"]
    client = served_app.test_client()

    for event in ("end_side_B", "start_side_A", "start_side_B", "end_side_A"):  # redelivered, out of order
        path = url.removeprefix(served_app.config["PUBLIC_URL"])
        assert client.get(path, query_string={"event": event, "id": attempt.provider_call_id}).status_code == 200
    assert attempt_event.call_local(attempt.id) is True
    assert attempt_event.call_local(attempt.id) is True

    again = request_row(served_app, request.id)
    assert (again.status, again.outcome, again.status_changed_at) == ("completed", "success",
                                                                      request.status_changed_at)
    assert ledger_keys(served_app, "call") == [f"call:{request.id}:1"]
    assert len(notifications(served_app, "call_followup")) == 1 and len(ledger_keys(served_app, "sms")) == 1
    assert plan_and_dial.call_local(request.id) == "skipped"
    assert len(sandbox.calls) == 1


@pytest.mark.backends
def test_a_negative_balance_makes_the_request_passive_emailed_and_never_dialed(served_app, sandbox, make_shop,
                                                                            request_call, mailbox):
    shop = make_shop([("Anna", ANNA)])
    with served_app.app_context():
        top_up(shop.account_id, -10_001)  # the gift and a kopeck more: the balance is negative (B5)
        db.session.commit()

    created = request_call(shop)

    assert created["status_code"] == 201
    request = request_row(served_app, created["id"])
    assert (request.status, request.mode) == ("passive", "passive")
    assert sandbox.calls == {} and attempts_of(served_app, request.id) == []
    [email] = notifications(served_app, "passive_request")
    assert email.recipient.startswith("owner") and CLIENT in email.body_text and email.body_html
    assert any(CLIENT in m.text for m in mailbox.wait_for(2) if m.rcpt_tos == [email.recipient])
    assert plan_and_dial.call_local(request.id) == "passive"  # repeated: still one e-mail
    assert len(notifications(served_app, "passive_request")) == 1


def test_a_request_stored_passive_after_the_rent_ended_is_forwarded_by_email(served_app, sandbox, make_shop,
                                                                           request_call):
    shop = make_shop([("Anna", ANNA)])
    with served_app.app_context():
        db.session.get(Account, shop.account_id).trial_ends_at = utcnow() - dt.timedelta(days=1)
        db.session.commit()

    created = request_call(shop)

    assert created["mode"] == "passive"
    assert request_row(served_app, created["id"]).status == "passive"
    assert len(notifications(served_app, "passive_request")) == 1 and sandbox.calls == {}


@pytest.mark.backends
def test_an_unknown_start_is_kept_and_never_dialed_again(served_app, sandbox, make_shop, request_call):
    shop = make_shop([("Anna", ANNA)])
    sandbox.set_rule(CLIENT, talk_s=300)
    sandbox.hang_next(3)  # MTT acts, but its answer comes after our 2 s timeout

    request = request_row(served_app, request_call(shop)["id"])

    [attempt] = attempts_of(served_app, request.id)
    assert attempt.start_outcome == "unknown" and attempt.busy_number == CLIENT
    assert request.status in ("dialing", "manager_answered", "connected")
    assert plan_and_dial.call_local(request.id) == "skipped"
    assert len(sandbox.calls) == 1
    assert [body["method"] for body in sandbox.rpc_log].count("makeCallBackCallFollowme") == 1


@pytest.mark.backends
def test_one_call_at_a_time_per_number_across_accounts(served_app, sandbox, make_shop, request_call, settle):
    first_shop = make_shop([("Anna", ANNA)])
    second_shop = make_shop([("Boris", BORIS)])
    sandbox.set_rule(CLIENT, talk_s=300)  # 3 s of real time

    first = request_call(first_shop)
    second = request_call(second_shop)

    assert request_row(served_app, second["id"]).status == "queued"
    assert attempts_of(served_app, second["id"]) == [] and len(sandbox.calls) == 1
    assert plan_and_dial.call_local(second["id"]) == "number_busy"
    assert settle(first["id"]).outcome == "success"
    # The number is free again: the queued request is dialed when it is picked up again (by the reconciler).
    assert plan_and_dial.call_local(second["id"]) == "dialing"
    assert settle(second["id"]).outcome == "success"


@pytest.mark.backends
def test_mtt_events_alone_move_the_request_forward(served_app, sandbox, make_shop, request_call):
    """Each new event reaching the hook wakes `dialer.attempt_event` (on PostgreSQL too: the insert's RETURNING
    tells a new event from a repeat), so the request moves without the reconciler."""
    shop = make_shop([("Anna", ANNA)])
    request_id = request_call(shop)["id"]
    [attempt] = attempts_of(served_app, request_id)
    sandbox.wait_finished(attempt.provider_call_id)

    request = request_row(served_app, request_id)
    assert request.status in ("connected", "completed")  # `completed` once MTT's record is final
    [attempt] = attempts_of(served_app, request_id)
    assert attempt.status in ("connected", "ended")
