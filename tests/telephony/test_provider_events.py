"""`/hooks/mtt/<token>`: only an attempt's own token is heard, each event is stored once, the attempt's times
never move back, and an end event makes the worker fetch the call record from MTT (the sandbox, over HTTP)."""
from __future__ import annotations

import pytest
import sqlalchemy as sa
from helpers import make_site
from mtt_helpers import CLIENT, make_plan

from app.extensions import db
from app.models import CallAttempt, CallbackRequest, CallRecord, ProviderEvent
from app.services import telephony
from dialer.providers.base import StartResult
from dialer.tasks.telephony import attempt_event


def new_attempt(app, call_id: str | None = "cb-1") -> tuple[int, str]:
    """A request of a new site with its first attempt, accepted by MTT as `call_id` (None: outcome unknown)."""
    site = make_site(app)
    with app.app_context():
        request = CallbackRequest(account_id=site.account_id, site_id=site.id, phone=CLIENT, country="RU",
                                  mode="now", status_token_hash="0" * 64, ip="127.0.0.1")
        db.session.add(request)
        db.session.flush()
        attempt, token = telephony.new_attempt(request.id, 1)
        attempt.provider_call_id = call_id
        attempt.start_outcome = "accepted" if call_id else "unknown"
        db.session.commit()
        return attempt.id, token


def stored_events(app) -> list[tuple[str, str]]:
    with app.app_context():
        return [tuple(row) for row in db.session.execute(
            sa.select(ProviderEvent.event, ProviderEvent.provider_call_id).order_by(ProviderEvent.id))]


def attempt_row(app, attempt_id: int) -> CallAttempt:
    with app.app_context():
        attempt = db.session.get(CallAttempt, attempt_id)
        db.session.expunge(attempt)
        return attempt


def test_the_token_is_stored_hashed_and_names_the_events_url(app_ctx):
    attempt_id, token = new_attempt(app_ctx)
    attempt = db.session.get(CallAttempt, attempt_id)
    assert token not in attempt.token_hash and len(attempt.token_hash) == 64
    assert telephony.events_url(token) == f"{app_ctx.config['PUBLIC_URL']}/hooks/mtt/{token}"
    assert telephony.attempt_by_token(token).id == attempt_id


def test_a_wrong_token_gets_404_and_stores_nothing(app, client):
    attempt_id, token = new_attempt(app)

    for wrong in (token[:-1] + ("A" if token[-1] != "A" else "B"), "x", token.upper()):
        response = client.get(f"/hooks/mtt/{wrong}?event=start_side_A&id=cb-1")
        assert response.status_code == 404

    assert stored_events(app) == []
    assert attempt_row(app, attempt_id).manager_answered_at is None


@pytest.mark.backends
def test_duplicated_and_out_of_order_events_are_stored_once_and_times_never_move_back(app, client, backend):
    attempt_id, token = new_attempt(app)
    url = f"/hooks/mtt/{token}"

    # The hang-up arrives before the answers, then everything is delivered again (GET and, once, as a form).
    assert client.get(f"{url}?event=end_side_B&id=cb-1").status_code == 200
    assert client.get(f"{url}?event=start_side_A&id=cb-1").status_code == 200
    first = attempt_row(app, attempt_id)
    assert client.get(f"{url}?event=start_side_B&id=cb-1").status_code == 200
    for event in ("start_side_A", "end_side_B", "start_side_B"):
        assert client.get(f"{url}?event={event}&id=cb-1").status_code == 200
    assert client.post(url, data={"event": "start_side_A", "id": "cb-1"}).status_code == 200

    assert sorted(stored_events(app)) == [("end_side_B", "cb-1"), ("start_side_A", "cb-1"), ("start_side_B", "cb-1")]
    last = attempt_row(app, attempt_id)
    assert last.ended_at == first.ended_at is not None
    assert last.manager_answered_at == first.manager_answered_at is not None
    assert last.client_answered_at is not None and last.client_answered_at >= first.manager_answered_at


def test_an_event_that_is_not_mtts_or_names_another_call_is_refused(app, client):
    attempt_id, token = new_attempt(app)

    assert client.get(f"/hooks/mtt/{token}?event=start_side_C&id=cb-1").status_code == 400
    assert client.get(f"/hooks/mtt/{token}?event=start_side_A").status_code == 400
    assert client.get(f"/hooks/mtt/{token}?event=start_side_A&id=cb-2").status_code == 400

    assert stored_events(app) == []
    assert attempt_row(app, attempt_id).manager_answered_at is None


def test_an_attempt_whose_start_outcome_was_unknown_learns_its_call_id_from_its_first_event(app, client):
    attempt_id, token = new_attempt(app, call_id=None)

    assert client.get(f"/hooks/mtt/{token}?event=start_side_A&id=cb-77").status_code == 200

    assert attempt_row(app, attempt_id).provider_call_id == "cb-77"
    assert client.get(f"/hooks/mtt/{token}?event=end_side_A&id=cb-78").status_code == 400


def test_the_start_answer_s_call_id_wins_over_one_a_stray_event_taught(app, client):
    """An event naming another call reached the attempt's URL before MTT's answer to the start was stored: the
    answer's id is kept, so the real call's events are accepted and it is settled (the load bench found one
    request left `dialing` for ever when the stray id won)."""
    attempt_id, token = new_attempt(app, call_id=None)
    assert client.get(f"/hooks/mtt/{token}?event=start_side_A&id=cb-stray").status_code == 200

    with app.app_context():
        telephony.record_start(attempt_id, make_plan("http://127.0.0.1/hooks/mtt/x"),
                               StartResult("accepted", call_id="cb-real"))
        db.session.commit()

    assert attempt_row(app, attempt_id).provider_call_id == "cb-real"
    assert client.get(f"/hooks/mtt/{token}?event=start_side_B&id=cb-real").status_code == 200
    assert client.get(f"/hooks/mtt/{token}?event=end_side_A&id=cb-stray").status_code == 400


def test_an_unknown_attempt_cannot_take_another_attempts_call_id(app, client):
    _other_id, _other_token = new_attempt(app, call_id="cb-1")
    attempt_id, token = new_attempt(app, call_id=None)

    assert client.get(f"/hooks/mtt/{token}?event=start_side_A&id=cb-1").status_code == 400

    assert stored_events(app) == []
    assert attempt_row(app, attempt_id).provider_call_id is None


def test_the_allow_list_refuses_other_senders(app, client):
    _attempt_id, token = new_attempt(app)
    app.config["MTT_EVENT_NETWORKS"] = ["10.20.0.0/16"]

    refused = client.get(f"/hooks/mtt/{token}?event=start_side_A&id=cb-1")
    accepted = client.get(f"/hooks/mtt/{token}?event=start_side_A&id=cb-1",
                          environ_base={"REMOTE_ADDR": "10.20.3.4"})

    assert (refused.status_code, accepted.status_code) == (403, 200)
    assert stored_events(app) == [("start_side_A", "cb-1")]


def test_an_end_event_makes_the_worker_store_the_call_record_from_mtt(app, client, sandbox, receiver):
    """A real call in the sandbox; its events (as MTT sent them) are delivered to our hook. The end event wakes
    `dialer.attempt_event` (run at once in tests), which reads the record from the sandbox over HTTP."""
    attempt_id, token = new_attempt(app, call_id=None)
    with app.app_context():
        plan = make_plan(receiver.url(token))
        result = telephony.provider().start_callback(plan)
        telephony.record_start(attempt_id, plan, result)
        db.session.commit()
    sandbox.wait_finished(result.call_id)
    events = receiver.wait_for(result.call_id, 4)
    assert events == ["start_side_A", "start_side_B", "end_side_A", "end_side_B"]

    for path, query in receiver.received[:2]:
        assert client.get(path, query_string=query).status_code == 200
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(CallRecord)) == 0  # no end yet
    for path, query in receiver.received[2:]:
        assert client.get(path, query_string=query).status_code == 200

    with app.app_context():
        record = db.session.scalar(sa.select(CallRecord).where(CallRecord.attempt_id == attempt_id))
        assert record.is_final and record.cost_kop == 300
        assert (record.is_manager_answered, record.is_client_answered) == (True, True)
        assert (record.client_talk_s, record.manager_talk_s) == (30, 32)
        assert record.raw["call_id"] == result.call_id
    # Running the task again (a redelivered wake-up) keeps one final record.
    assert attempt_event.call_local(attempt_id) is True
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(CallRecord)) == 1


def test_the_sandbox_calls_our_events_url_and_each_event_is_stored_once(served_app, sandbox):
    """End to end over HTTP both ways: the plan carries `events_url(token)`, the sandbox sends MTT's GETs to it."""
    app = served_app
    attempt_id, token = new_attempt(app, call_id=None)
    with app.app_context():
        plan = make_plan(telephony.events_url(token))
        result = telephony.provider().start_callback(plan)
        telephony.record_start(attempt_id, plan, result)
        db.session.commit()
    sandbox.wait_finished(result.call_id)

    assert [(e["event"], e["status"]) for e in sandbox.events] == [
        ("start_side_A", 200), ("start_side_B", 200), ("end_side_A", 200), ("end_side_B", 200)]
    assert sorted(stored_events(app)) == sorted((e, result.call_id) for e in
                                                ("start_side_A", "start_side_B", "end_side_A", "end_side_B"))
    attempt = attempt_row(app, attempt_id)
    assert attempt.provider_call_id == result.call_id
    assert (attempt.start_outcome, attempt.plan["client_number"]) == ("accepted", CLIENT)
    assert attempt.started_at is not None
    assert attempt.manager_answered_at <= attempt.client_answered_at <= attempt.ended_at
    with app.app_context():
        record = db.session.scalar(sa.select(CallRecord).where(CallRecord.attempt_id == attempt_id))
        # MTT's events came while the call was ending: the record was stored, but without its cost yet.
        assert record is not None and not record.is_final
        db.session.commit()
    assert attempt_event.call_local(attempt_id) is True  # a later run (the dialer's reconciler) completes it
    with app.app_context():
        record = db.session.scalar(sa.select(CallRecord).where(CallRecord.attempt_id == attempt_id))
        assert record.is_final and record.cost_kop == 300 and record.client_talk_s == 30
