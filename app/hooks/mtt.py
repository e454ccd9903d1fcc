"""`GET|POST /hooks/mtt/<token>`: MTT's call events (`?event=start_side_A|...&id=<callBackCall_id>`).

MTT signs nothing, so the attempt's secret token in the path authenticates the event (only its hash is
stored), with an optional allow-list of MTT's networks (`MTT_EVENT_NETWORKS`). The event is stored once per
(provider, call id, leg, event) and answered at once; the worker is woken after commit for new events only.

Answers: 403 foreign sender, 404 unknown token (nothing stored), 400 not an MTT event or another call's id,
else 200 (also for a repeat, which changes nothing).
"""
from __future__ import annotations

import logging

from flask import jsonify, request

from app.db import on_commit
from app.extensions import db
from app.hooks import bp
from app.services import telephony
from dialer.providers.base import InvalidEvent

log = logging.getLogger(__name__)


@bp.route("/mtt/<token>", methods=["GET", "POST"])
def mtt_event(token: str):
    if not telephony.is_allowed_source(request.remote_addr):
        log.warning("MTT event from %s outside MTT_EVENT_NETWORKS refused", request.remote_addr)
        return jsonify(error="forbidden"), 403
    attempt = telephony.attempt_by_token(token)
    if attempt is None:
        return jsonify(error="not_found"), 404
    try:
        is_new = telephony.record_event(attempt, request.values.to_dict())
    except InvalidEvent as exc:
        db.session.rollback()
        log.warning("MTT event for attempt %s refused: %s", attempt.id, exc)
        return jsonify(error=exc.code), 400
    if is_new:
        on_commit(db.session, lambda attempt_id=attempt.id: _wake_worker(attempt_id))
    db.session.commit()
    return jsonify(ok=True)


def _wake_worker(attempt_id: int) -> None:
    from dialer.tasks.telephony import attempt_event

    try:
        attempt_event(attempt_id)
    except Exception:  # the queue being down must not lose the stored event; the dialer's reconciler finds it
        log.exception("could not enqueue dialer.attempt_event for attempt %s", attempt_id)
