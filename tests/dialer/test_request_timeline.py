"""The back office's callback requests: a request dialed through the real dialer against the MTT sandbox shows
its timeline (status changes, MTT's events, the plan sent, the call record, the speed to connect); who may see
the pages; the client-ID filter and the phone search.

Here rather than in tests/backoffice: the sandbox, the served app and the shop factory are this directory's
fixtures (tests/dialer/conftest.py).
"""
from __future__ import annotations

import html
import re

import pytest
from dialer_helpers import attempts_of, stored_request
from helpers import login, submit

from admin.base import ClientCodeFilter
from admin.requests import phone_search_term
from app.extensions import db
from app.models import Account, CallbackRequest
from app.services import phones, timeline
from app.services.settings import set_setting

ANNA, BORIS = "+79990000001", "+79990000002"
LIST = "/admin/requests/"
ROW_RE = re.compile(r'<tr data-kind="(\w+)" data-attempt="(\d*)" data-status="(\w*)"\s+data-event="(\w*)" '
                    r'data-offset="([\d.]+)">')
TIMING_RE = re.compile(r'data-timing="(\w+)">([^<]*)<')
SECONDS_RE = re.compile(r"^\+(\d+\.\d{3}) s$")


def _staff(app, make_staff_user, role: str, *, english: bool = True):
    _, email, password = make_staff_user(role)
    client = app.test_client()
    login(client, email, password)
    if english:
        submit(client, "/lang/en", {"next": LIST}, page="/")
    return client


def _details(client, request_id: int) -> str:
    response = client.get(f"{LIST}details/?id={request_id}")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def _timings(page: str) -> dict[str, float | None]:
    shown = {name: text.strip() for name, text in TIMING_RE.findall(page)}
    assert set(shown) == {"dialing", "first_ring", "manager_answered", "connected", "ended"}, shown
    return {name: float(SECONDS_RE.match(text).group(1)) if text != "—" else None for name, text in shown.items()}


def test_a_dialed_request_shows_its_timeline_plan_record_and_timings(served_app, sandbox, make_shop, request_call,
                                                                     settle, make_staff_user):
    shop = make_shop([("Anna", ANNA), ("Boris", BORIS)], settings={"ring_timeout_s": 15})
    sandbox.set_rule(ANNA, action="busy")
    request = settle(request_call(shop)["id"])
    assert (request.status, request.outcome) == ("completed", "success")
    [attempt] = attempts_of(served_app, request.id)
    admin = _staff(served_app, make_staff_user, "admin")

    listing = admin.get(LIST).get_data(as_text=True)
    assert "+7 999 555-00-00" in listing and "Boris (+79990000002)" in listing and "Talked" in listing

    page = _details(admin, request.id)
    rows = ROW_RE.findall(page)
    request_statuses = [status for kind, number, status, _, _ in rows if kind == "status" and not number]
    assert request_statuses == ["queued", "dialing", "manager_answered", "connected", "completed"]
    attempt_statuses = [status for kind, number, status, _, _ in rows if kind == "status" and number == "1"]
    assert attempt_statuses == ["dialing", "manager_answered", "connected", "ended"]
    events = [event for kind, number, _, event, _ in rows if kind == "event"]
    assert events[:2] == ["start_side_A", "start_side_B"] and {"end_side_A", "end_side_B"} & set(events)
    offsets = [float(offset) for *_, offset in rows]
    assert offsets == sorted(offsets) and offsets[0] >= 0
    assert re.search(r"<td>\+\d+\.\d{3} s</td>", page)  # the offset since the request, with milliseconds

    plan = html.unescape(re.search(r'<pre class="border p-2" data-testid="plan">(.*?)</pre>', page, re.S).group(1))
    assert f'"address": "{ANNA}"' in plan and f'"address": "{BORIS}"' in plan
    assert '"ring_mode": "sequential"' in plan and '"ring_timeout_s": 15' in plan
    token = sandbox.calls[attempt.provider_call_id].params["callBackURL"].rsplit("/", 1)[1]
    assert token not in attempt.plan["events_url"]  # the events URL's secret is neither stored nor shown
    assert token not in page and '/hooks/mtt/…"' in plan

    assert 'data-testid="call-record"' in page and "· final ·" in page
    timings = _timings(page)
    assert timings["first_ring"] is None  # MTT sends no ringing event
    steps = [timings[name] for name in ("dialing", "manager_answered", "connected", "ended")]
    assert all(step is not None and step >= 0 for step in steps) and steps == sorted(steps)


def test_the_timings_come_from_the_transitions(served_app, make_shop):
    from request_rows import request_with_timeline

    shop = make_shop([("Anna", ANNA)])
    with served_app.app_context():
        request = db.session.get(CallbackRequest, request_with_timeline(shop.account_id, shop.site_id))
        line = timeline.timeline(request)
        assert line.timings == timeline.Timings(dialing_s=0.5, first_ring_s=None, manager_answered_s=4.25,
                                                connected_s=9.5, ended_s=41.0)
        assert [(entry.kind, entry.attempt_number, entry.status or entry.event) for entry in line.entries][:4] == [
            ("status", None, "queued"), ("status", None, "dialing"), ("status", 1, "dialing"),
            ("status", None, "manager_answered")]
        assert [sms.kind for sms in line.sms] == ["call_followup"] and [m.kind for m in line.emails] == ["missed_call"]
        db.session.rollback()


def test_a_manager_without_the_key_gets_403_and_clients_and_strangers_never_see_requests(served_app, make_shop,
                                                                                        make_staff_user):
    shop = make_shop([("Anna", ANNA)])
    request_id = stored_request(served_app, shop, status="completed")
    manager = _staff(served_app, make_staff_user, "manager", english=False)
    assert manager.get(LIST).status_code == 200  # managers see accounts (backoffice.accounts) by default
    with served_app.app_context():
        set_setting("manager_permissions", ["backoffice.journal"])
        db.session.commit()
    assert manager.get(LIST).status_code == 403
    assert manager.get(f"{LIST}details/?id={request_id}").status_code == 403

    owner = served_app.test_client()
    login(owner, "owner1@shop.example.com", "correct-horse-9")
    assert owner.get(LIST).status_code == 403
    assert owner.get(f"{LIST}details/?id={request_id}").status_code == 403
    stranger = served_app.test_client().get(f"{LIST}details/?id={request_id}")
    assert stranger.status_code == 302 and "/login" in stranger.headers["Location"]


def _client_code_filter_key(app) -> str:
    view = next(v for v in app.extensions["admin"][0]._views if v.endpoint == "requests")
    [key] = [key for key, (_, flt) in view._filter_args.items() if isinstance(flt, ClientCodeFilter)]
    return key


def test_the_client_code_filter_shows_only_that_accounts_requests(served_app, make_shop, make_staff_user):
    first, second = make_shop([("Anna", ANNA)]), make_shop([("Boris", BORIS)])
    stored_request(served_app, first, status="completed", phone="+79995551111")
    stored_request(served_app, second, status="completed", phone="+79995552222")
    with served_app.app_context():
        code = db.session.get(Account, second.account_id).client_code
    manager = _staff(served_app, make_staff_user, "manager")
    key = _client_code_filter_key(served_app)

    everything = manager.get(LIST).get_data(as_text=True)
    assert "+7 999 555-11-11" in everything and "+7 999 555-22-22" in everything
    filtered = manager.get(LIST, query_string={f"flt0_{key}": code.lower()}).get_data(as_text=True)
    assert "+7 999 555-22-22" in filtered and "+7 999 555-11-11" not in filtered


def test_the_search_finds_a_number_as_staff_type_it(served_app, make_shop, make_staff_user):
    shop = make_shop([("Anna", ANNA)])
    stored_request(served_app, shop, status="completed", phone="+79995551111")
    stored_request(served_app, shop, status="completed", phone="+79995552222")
    manager = _staff(served_app, make_staff_user, "manager")

    found = manager.get(LIST, query_string={"search": "8 (999) 555-11-11"}).get_data(as_text=True)
    assert "+7 999 555-11-11" in found and "+7 999 555-22-22" not in found


@pytest.mark.parametrize("typed, term", [("8 999 555-11-11", "79995551111"), ("+7 (999) 555 11 11", "79995551111"),
                                         ("5551111", "5551111"), ("Anna", "Anna")])
def test_phone_search_terms(typed, term):
    assert phone_search_term(typed) == term


def test_a_stored_number_is_written_for_people():
    assert phones.display("+79995550000") == "+7 999 555-00-00" and phones.display("sip:x") == "sip:x"
