"""The dialer against the MTT sandbox over real HTTP (Huey immediate): a request is dialed with the plan from
its site's settings, MTT's events move it forward, and the call record settles it once."""
from __future__ import annotations

import sqlalchemy as sa
from dialer_helpers import attempts_of

from app.extensions import db
from app.models import LedgerTransaction
from app.services import dialer

ANNA, BORIS, VERA = "+79990000001", "+79990000002", "+79990000003"


def test_in_turn_the_busy_first_line_is_skipped_and_the_second_answers(served_app, sandbox, make_shop,
                                                                      request_call, settle):
    shop = make_shop([("Anna", ANNA), ("Boris", BORIS)], settings={"ring_timeout_s": 15})
    sandbox.set_rule(ANNA, action="busy")

    created = request_call(shop)

    assert created["status_code"] == 201 and created["mode"] == "instant"
    request = settle(created["id"])
    assert (request.status, request.outcome) == ("completed", "success")
    assert request.answered_line_id == shop.line_ids["Boris"] and request.duration_s == 30
    [attempt] = attempts_of(served_app, request.id)
    assert attempt.status == "ended" and attempt.busy_number is None and attempt.outcome == "success"
    assert [(leg["address"], leg["order"], leg["ring_timeout_s"]) for leg in attempt.plan["legs"]] == [
        (ANNA, 1, 15), (BORIS, 2, 15)]
    assert attempt.plan["ring_mode"] == "sequential" and attempt.plan["max_duration_s"] > 0
    sent = sandbox.calls[attempt.provider_call_id].params
    assert [item["redirect_number"] for item in sent["simpleCallBackFollowmeStruct"]] == [ANNA[1:], BORIS[1:]]
    assert attempt.manager_answered_at <= attempt.client_answered_at <= attempt.ended_at
    with served_app.app_context():
        statuses = [t.status for t in dialer.transitions(request.id) if t.attempt_id is None]
        assert statuses == ["queued", "dialing", "manager_answered", "connected", "completed"]
        charged = db.session.scalars(sa.select(LedgerTransaction.key).where(LedgerTransaction.kind == "call")).all()
        assert charged == [f"call:{request.id}:1"]
