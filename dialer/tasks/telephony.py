"""Worker side of provider events: what happens to an attempt after MTT told us something about its call."""
import logging

from app.extensions import db
from app.models import CallAttempt, RequestStatus
from app.services import dialer, telephony
from dialer.huey_app import task
from dialer.providers.base import ProviderError

log = logging.getLogger(__name__)


@task("dialer.attempt_event")
def attempt_event(attempt_id: int, is_sweep: bool = False) -> bool:
    """Look at the attempt after a new event. Idempotent: it reads the stored events, not the one that woke it.

    The answer events move the attempt and its request forward (guarded: a late one moves nothing). Once an
    `end_*` event arrived, the provider's call record is fetched and stored; when it is final the attempt is
    settled (`dialer.finish_attempt`: outcome, charge once, SMS and e-mail). A record not final yet is stored
    and refreshed by a later run. Returns whether a record was stored.

    `is_sweep` (the reconciler): ask for the record even with no end event stored (it may have been lost);
    a call still in progress has a record that is not final, which settles nothing.
    """
    attempt = db.session.get(CallAttempt, attempt_id)
    if attempt is None:
        return False
    if attempt.manager_answered_at is not None and dialer.advance_attempt(attempt, "manager_answered"):
        dialer.advance_request(attempt.request_id, RequestStatus.MANAGER_ANSWERED)
    if attempt.client_answered_at is not None and dialer.advance_attempt(attempt, "connected"):
        dialer.advance_request(attempt.request_id, RequestStatus.CONNECTED)
    is_ended, call_id = telephony.has_ended(attempt_id), attempt.provider_call_id
    db.session.commit()  # no transaction open while MTT is asked for the record
    if not (is_ended or is_sweep):
        return False
    try:
        record = telephony.refresh_call_record(attempt_id, call_id)
    except ProviderError as exc:  # MTT unreachable now: the next event or the dialer's reconciler asks again
        db.session.rollback()
        log.warning("call record of attempt %s not fetched: %s", attempt_id, exc)
        return False
    if record is not None and record.is_final:
        dialer.finish_attempt(attempt_id)
    db.session.commit()
    return record is not None
