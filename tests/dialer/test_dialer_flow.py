"""The dialer against the MTT sandbox over real HTTP (Huey immediate): a request is dialed with the plan from
its site's settings, MTT's events move it forward, and the call record settles it once."""
from __future__ import annotations

import pytest
import sqlalchemy as sa
from dialer_helpers import attempts_of

from app.extensions import db
from app.models import LedgerTransaction
from app.services import dialer

ANNA, BORIS, VERA = "+79990000001", "+79990000002", "+79990000003"


@pytest.mark.backends
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


def test_all_at_once_rings_every_line_together_and_the_first_to_answer_takes_the_call(served_app, sandbox, make_shop,
                                                                                     request_call, settle):
    shop = make_shop([("Anna", ANNA), ("Boris", BORIS)], settings={"dial_mode": "simultaneous"})
    sandbox.set_rule(ANNA, answer_after_s=8)
    sandbox.set_rule(BORIS, answer_after_s=1)

    request = settle(request_call(shop)["id"])

    assert (request.outcome, request.answered_line_id) == ("success", shop.line_ids["Boris"])
    [attempt] = attempts_of(served_app, request.id)
    struct = sandbox.calls[attempt.provider_call_id].params["simpleCallBackFollowmeStruct"]
    assert {(item["order"], item["type"]) for item in struct} == {(1, "Ringall")}


def test_the_department_chosen_in_the_widget_routes_the_call(served_app, sandbox, make_shop, request_call, settle):
    shop = make_shop([("Anna", ANNA, {"department": "Sales", "is_routed_by_department": True}),
                      ("Boris", BORIS, {"department": "Service", "is_routed_by_department": True}),
                      ("Vera", VERA)], departments=("Sales", "Service"))

    request = settle(request_call(shop, department_id=shop.department_ids["Service"])["id"])

    [attempt] = attempts_of(served_app, request.id)
    assert [leg["address"] for leg in attempt.plan["legs"]] == [BORIS]
    assert request.answered_line_id == shop.line_ids["Boris"]
    # No department chosen: the lines reserved for a department are left out.
    other = settle(request_call(shop, phone="+79995550001")["id"])
    assert [leg["address"] for leg in attempts_of(served_app, other.id)[0].plan["legs"]] == [VERA]


def test_random_order_shuffles_the_lines_in_turn_only(served_app, make_shop):
    import random

    from app.models import CallbackRequest

    shop = make_shop([("Anna", ANNA), ("Boris", BORIS), ("Vera", VERA)], settings={"is_random_order": True})
    with served_app.app_context():
        request = CallbackRequest(account_id=shop.account_id, site_id=shop.site_id, phone="+79995550000",
                                  country="RU", mode="instant", status_token_hash="0" * 64, ip="127.0.0.1")
        db.session.add(request)
        db.session.flush()
        orders = {tuple(leg.address for leg in dialer.build_plan(request, rng=random.Random(seed)).legs)
                  for seed in range(20)}
        assert len(orders) > 1 and all(sorted(order) == [ANNA, BORIS, VERA] for order in orders)
        db.session.rollback()


def test_caller_id_shown_to_the_manager_is_the_visitors_number_when_asked(served_app, sandbox, make_shop,
                                                                        request_call, settle):
    shop = make_shop([("Anna", ANNA)], settings={"caller_id": "client"})

    request = settle(request_call(shop)["id"])

    [attempt] = attempts_of(served_app, request.id)
    params = sandbox.calls[attempt.provider_call_id].params
    assert params["client_caller_id"] == "79995550000" and attempt.plan["caller_id_for_manager"] == "+79995550000"


def test_delay_and_announcement_are_a_side_a_prompt_uploaded_once(served_app, sandbox, make_shop, request_call,
                                                                 settle):
    shop = make_shop([("Anna", ANNA)], settings={"client_delay_s": 3, "is_site_announced": True}, sites_count=2)

    first = settle(request_call(shop)["id"])
    second = settle(request_call(shop, phone="+79995550001")["id"])

    prompt_ids = {attempts_of(served_app, r.id)[0].plan["announcement_prompt_id"] for r in (first, second)}
    [prompt_id] = prompt_ids
    assert prompt_id in sandbox.prompts and len(sandbox.prompts[prompt_id]) > 8000 * 2 * 3  # speech + 3 s pause
    uploads = [body for body in sandbox.rpc_log if body.get("method") == "setCallBackPrompt"]
    assert len(uploads) == 1
    struct = sandbox.calls[attempts_of(served_app, first.id)[0].provider_call_id].params["simpleCallBackFollowmeStruct"]
    assert struct[-1] == {"type": "file", "side": "A", "value": prompt_id}


def test_the_site_is_not_announced_when_the_account_has_one_site(served_app, sandbox, make_shop, request_call,
                                                                 settle):
    shop = make_shop([("Anna", ANNA)], settings={"is_site_announced": True})

    request = settle(request_call(shop)["id"])

    assert attempts_of(served_app, request.id)[0].plan["announcement_prompt_id"] is None
    assert sandbox.prompts == {}
