"""Worker side of provider events: what happens to an attempt after MTT told us something about its call."""
import logging

from app.extensions import db
from app.models import CallAttempt
from app.services import telephony
from dialer.huey_app import task
from dialer.providers.base import ProviderError

log = logging.getLogger(__name__)


@task("dialer.attempt_event")
def attempt_event(attempt_id: int) -> bool:
    """Look at the attempt after a new event. Idempotent: it reads the stored events, not the one that woke it.

    For now: once an `end_*` event arrived, fetch the provider's call record and store it (a record that is
    not final yet is stored too and refreshed by a later run). Returns whether a record was stored. The dialer
    adds the state machine, the outcome and the charge here.
    """
    if db.session.get(CallAttempt, attempt_id) is None or not telephony.has_ended(attempt_id):
        return False
    try:
        record = telephony.refresh_call_record(attempt_id)
    except ProviderError as exc:  # MTT unreachable now: the next event or the dialer's reconciler asks again
        log.warning("call record of attempt %s not fetched: %s", attempt_id, exc)
        return False
    db.session.commit()
    return record is not None
