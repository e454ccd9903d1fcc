"""The state machine alone: transitions only move forward, each is recorded with its time, a final attempt frees
its number (X1), and a request gets attempt 1 once."""
from __future__ import annotations

from helpers import make_site

from app.extensions import db
from app.models import CallAttempt, CallbackRequest
from app.services import dialer


def new_request(app, phone: str = "+79995550000") -> int:
    site = make_site(app)
    with app.app_context():
        request = CallbackRequest(account_id=site.account_id, site_id=site.id, phone=phone, country="RU",
                                  mode="instant", status_token_hash="0" * 64, ip="127.0.0.1")
        db.session.add(request)
        db.session.commit()
        return request.id


def test_a_request_moves_only_forward_and_each_move_is_recorded(app_ctx):
    request_id = new_request(app_ctx)

    assert dialer.advance_request(request_id, "queued")
    assert dialer.advance_request(request_id, "connected")  # a skipped step is allowed: events may come late
    assert not dialer.advance_request(request_id, "dialing")  # late
    assert not dialer.advance_request(request_id, "connected")  # repeated
    assert not dialer.advance_request(request_id, "passive")  # passive only before dialing
    assert dialer.advance_request(request_id, "completed", outcome="success")
    assert not dialer.advance_request(request_id, "expired")

    row = db.session.get(CallbackRequest, request_id)
    assert (row.status, row.outcome) == ("completed", "success") and row.status_changed_at is not None
    assert [t.status for t in dialer.transitions(request_id)] == ["queued", "connected", "completed"]


def test_rejected_only_from_received(app_ctx):
    request_id = new_request(app_ctx)
    dialer.advance_request(request_id, "queued")

    assert not dialer.advance_request(request_id, "rejected")


def test_one_attempt_per_number_in_progress_and_a_final_attempt_frees_it(app_ctx):
    first_id, second_id = new_request(app_ctx), new_request(app_ctx)
    first, second = db.session.get(CallbackRequest, first_id), db.session.get(CallbackRequest, second_id)

    claim = dialer.claim_attempt(first)
    assert claim.attempt is not None and claim.attempt.busy_number == first.phone
    assert dialer.claim_attempt(second).reason == "number_busy"
    assert dialer.claim_attempt(first).reason == "attempted"

    assert dialer.advance_attempt(claim.attempt, "dialing")
    assert dialer.advance_attempt(claim.attempt, "ended", outcome="success")
    assert not dialer.advance_attempt(claim.attempt, "connected")
    assert db.session.get(CallAttempt, claim.attempt.id, populate_existing=True).busy_number is None
    assert dialer.claim_attempt(second).attempt is not None
    db.session.commit()
