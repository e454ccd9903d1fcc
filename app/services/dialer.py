"""The dialer's state machine (ARCHITECTURE.md, Contracts): requests and attempts move only forward, each move
is a guarded `UPDATE ... WHERE status IN (the statuses before it)` and a time-stamped `dialer_transition` row;
the plan sent to the provider is built from the site's settings; outcomes come from the call record.

X1: an attempt in progress holds its destination in `call_attempt.busy_number` (unique, NULL once final), so
one number is in at most one call at a time across all accounts.

Services flush, never commit: the task that calls them commits (and never holds a transaction open while it
waits on the provider, see `dialer.tasks.dialer`).
"""
from __future__ import annotations

import datetime as dt
import logging
import random
import zoneinfo
from dataclasses import dataclass

import sqlalchemy as sa
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy.exc import IntegrityError

from app.db import insert, utcnow
from app.extensions import db
from app.models import (
    Account,
    CallAttempt,
    CallbackRequest,
    CallRecord,
    DialerTransition,
    ManagerLine,
    Notification,
    ProviderEvent,
    ProviderPrompt,
    RequestStatus,
    Site,
    SmsMessage,
    manager_line_site,
)
from app.services import DomainError, charges, notifications, outbox, phones, schedule, site_settings, telephony
from app.services.tariffs import Leg
from dialer.providers import prompts
from dialer.providers.base import N_, CallbackPlan, ManagerLeg

log = logging.getLogger(__name__)

S = RequestStatus
# The forward path of a request; the final statuses off it are reached only from before dialing.
REQUEST_PATH = (S.RECEIVED, S.SCHEDULED, S.QUEUED, S.DIALING, S.MANAGER_ANSWERED, S.CONNECTED, S.COMPLETED)
BEFORE_DIALING = (S.RECEIVED, S.SCHEDULED, S.QUEUED)
REQUEST_SOURCES = {
    **{status: REQUEST_PATH[:index] for index, status in enumerate(REQUEST_PATH)},
    S.REJECTED: (S.RECEIVED,),
    S.PASSIVE: BEFORE_DIALING,
    S.EXPIRED: BEFORE_DIALING,
}

# An attempt: created → dialing → manager_answered → connected → ended, or failed (the start was refused).
ATTEMPT_PATH = ("created", "dialing", "manager_answered", "connected", "ended")
ATTEMPT_FINAL = ("ended", "failed")
ATTEMPT_SOURCES = {
    **{status: ATTEMPT_PATH[:index] for index, status in enumerate(ATTEMPT_PATH)},
    "failed": ("created", "dialing"),
}

OUTCOMES = ("success", "manager_no_answer", "client_no_answer", "failed")
MISSED_OUTCOMES = ("manager_no_answer", "failed")


class DialerError(DomainError):
    code = "dialer_error"


# --- transitions -----------------------------------------------------------------------------------------------

def advance_request(request_id: int, to: str, **values) -> bool:
    """Move a request to `to` if it is in a status before it; record the transition. False: nothing moved
    (already there, past it, or final), so a late or repeated cause changes nothing."""
    now = utcnow()
    moved = db.session.execute(
        sa.update(CallbackRequest)
        .where(CallbackRequest.id == request_id, CallbackRequest.status.in_(REQUEST_SOURCES[to]))
        .values(status=to, status_changed_at=now, **values)
        .execution_options(synchronize_session=False)).rowcount
    if moved:
        db.session.add(DialerTransition(request_id=request_id, status=to, at=now))
        db.session.flush()
    return bool(moved)


def advance_attempt(attempt: CallAttempt, to: str, **values) -> bool:
    """The same for an attempt; a final status also frees the destination number (X1)."""
    now = utcnow()
    if to in ATTEMPT_FINAL:
        values["busy_number"] = None
    moved = db.session.execute(
        sa.update(CallAttempt)
        .where(CallAttempt.id == attempt.id, CallAttempt.status.in_(ATTEMPT_SOURCES[to]))
        .values(status=to, status_changed_at=now, **values)
        .execution_options(synchronize_session=False)).rowcount
    if moved:
        db.session.add(DialerTransition(request_id=attempt.request_id, attempt_id=attempt.id, status=to, at=now))
        db.session.flush()
    return bool(moved)


def transitions(request_id: int) -> list[DialerTransition]:
    return list(db.session.scalars(sa.select(DialerTransition).where(DialerTransition.request_id == request_id)
                                   .order_by(DialerTransition.id)))


@dataclass(frozen=True)
class Claim:
    attempt: CallAttempt | None
    raw_token: str | None
    reason: str | None  # None when claimed; "attempted" (this request has its attempt) or "number_busy" (X1)


def claim_attempt(request: CallbackRequest, number: int = 1) -> Claim:
    """A new attempt that holds the request's number (X1). Refused when the request already has attempt
    `number` (a repeated task) or another call to the same number is in progress (any account)."""
    savepoint = db.session.begin_nested()
    try:
        attempt, raw_token = telephony.new_attempt(request.id, number)
        db.session.execute(sa.update(CallAttempt).where(CallAttempt.id == attempt.id)
                           .values(busy_number=request.phone).execution_options(synchronize_session=False))
        savepoint.commit()
    except IntegrityError:
        savepoint.rollback()
        exists = db.session.scalar(sa.select(CallAttempt.id).where(CallAttempt.request_id == request.id,
                                                                   CallAttempt.number == number))
        return Claim(None, None, "attempted" if exists else "number_busy")
    db.session.refresh(attempt)
    return Claim(attempt, raw_token, None)


# --- the plan ------------------------------------------------------------------------------------------------

def usable_lines(request: CallbackRequest) -> list[ManagerLine]:
    """Active lines of the account usable by the request's site (D1), routed by the chosen department (D7).

    A department chosen in the widget rings that department's lines; when it has none, the lines not
    reserved for a department. No department chosen: every line not reserved for a department.
    """
    for_site = sa.or_(ManagerLine.is_for_all_sites.is_(True), ManagerLine.id.in_(
        sa.select(manager_line_site.c.manager_line_id).where(manager_line_site.c.site_id == request.site_id)))
    lines = list(db.session.scalars(
        sa.select(ManagerLine).where(ManagerLine.account_id == request.account_id, ManagerLine.is_active.is_(True),
                                     for_site).order_by(ManagerLine.id)))
    unreserved = [line for line in lines if not (line.is_routed_by_department and line.department_id)]
    if request.department_id is not None:
        chosen = [line for line in lines if line.department_id == request.department_id]
        return chosen or unreserved
    return unreserved


def build_plan(request: CallbackRequest, *, events_url: str = "", gate: charges.Gate | None = None,
               rng: random.Random | None = None) -> CallbackPlan:
    """The plan for one attempt of `request`, from its site's effective settings (D2–D7) and the dialing gate.
    Raises DialerError("no_lines") when no manager line can take the call."""
    settings = site_settings.effective_settings(request.account_id, request.site_id)
    lines = usable_lines(request)
    if not lines:
        raise DialerError("no manager line can take this call", code="no_lines")
    if settings.dial_mode == "sequential" and settings.is_random_order:
        lines = (rng or random.SystemRandom()).sample(lines, len(lines))
    legs = tuple(ManagerLeg(order=position, address=line.number, name=line.manager_name or line.number,
                            ring_timeout_s=settings.ring_timeout_s, kind=line.kind, extension=line.extension or None)
                 for position, line in enumerate(lines, start=1))
    if gate is None:
        gate = charges.may_dial(request.account_id, {"client": request.phone, "manager": lines[0].number})
    site = db.session.get(Site, request.site_id)
    is_announced = settings.is_site_announced and _site_count(request.account_id) > 1
    prompt_id = side_a_prompt(site.name if is_announced else None, settings.client_delay_s, settings.language)
    return CallbackPlan(
        legs=legs, ring_mode=settings.dial_mode, client_number=request.phone, events_url=events_url,
        max_duration_s=gate.max_duration_s,
        caller_id_for_manager=request.phone if settings.caller_id == "client" else None,
        announcement_prompt_id=prompt_id, client_dial_delay_s=settings.client_delay_s,
        extension_delay_s=settings.extension_delay_s, description=f"request {request.id}")


def _site_count(account_id: int) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(Site).where(Site.account_id == account_id))


def side_a_prompt(spoken_text: str | None, pause_s: int, language: str = "ru") -> str | None:
    """The provider's name of the side-A prompt saying `spoken_text` then `pause_s` of silence (D6, D3);
    uploaded the first time this content is needed (its name is derived from the content). None: no prompt."""
    if not spoken_text and not pause_s:
        return None
    wav = prompts.side_a_prompt_wav(spoken_text=spoken_text, pause_s=pause_s, voice=language)
    name = prompts.prompt_file_name(wav)
    adapter = telephony.provider()
    known = db.session.scalar(sa.select(ProviderPrompt.id).where(ProviderPrompt.provider == adapter.name,
                                                                 ProviderPrompt.name == name))
    if known is None:
        try:
            adapter.upload_prompt(name, wav)
        finally:
            adapter.session.close()
        db.session.execute(insert(db.session, ProviderPrompt)
                           .values(provider=adapter.name, name=name, duration_s=prompts.wav_duration_s(wav),
                                   uploaded_at=utcnow())
                           .on_conflict_do_nothing(index_elements=["provider", "name"]))
    return name


# --- outcomes --------------------------------------------------------------------------------------------------

def outcome_of(record: CallRecord) -> str:
    """D9 from the call record (events are only hints)."""
    if not record.is_manager_answered:
        return "manager_no_answer"
    if not record.is_client_answered:
        return "client_no_answer"
    return "success"


def _manager_destination(record: CallRecord) -> str:
    """The number the manager answered on, as the record tells it (MTT: digits with the country code)."""
    legs = (record.raw or {}).get("legs") or []
    return next((leg.get("destination") or "" for leg in legs if leg.get("side") == "A"), "")


def _answered_line_id(request: CallbackRequest, record: CallRecord) -> int | None:
    destination = _manager_destination(record)
    if not destination or not record.is_manager_answered:
        return None
    digits = destination.removeprefix("+")
    for line in db.session.scalars(sa.select(ManagerLine).where(ManagerLine.account_id == request.account_id)):
        if line.number.removeprefix("+") == digits:
            return line.id
    return None


def finish_attempt(attempt_id: int) -> str | None:
    """Settle an attempt whose call record is final: the outcome, talk time and answering line (D9) on the
    attempt and the request, the charge (once, `call:<request>:<attempt>`), the SMS after the call (D10) and
    the missed-call e-mail (D12), all in the caller's transaction. Returns the outcome, or None when the
    attempt was settled before (a repeated or late event) or its record is not final."""
    attempt = db.session.get(CallAttempt, attempt_id)
    record = db.session.scalar(sa.select(CallRecord).where(CallRecord.attempt_id == attempt_id)
                               .execution_options(populate_existing=True))
    if attempt is None or record is None or not record.is_final:
        return None
    request = db.session.get(CallbackRequest, attempt.request_id)
    outcome = outcome_of(record)
    talk_s = record.client_talk_s if outcome == "success" else 0
    line_id = _answered_line_id(request, record)
    if not advance_attempt(attempt, "ended", outcome=outcome, talk_s=talk_s, answered_line_id=line_id):
        return None
    manager_number = _manager_number(attempt, record)
    charges.charge_call(request.account_id, request.id, attempt.number,
                        [Leg("manager", manager_number, record.manager_charged_s),
                         Leg("client", request.phone, record.client_charged_s)],
                        provider_cost_kop=record.cost_kop if record.currency in (None, "RUB") else None,
                        at=attempt.started_at)
    if not (outcome == "client_no_answer" and schedule_retry(request, attempt)):
        complete(request, attempt, outcome, duration_s=talk_s, answered_line_id=line_id)
    return outcome


def _manager_number(attempt: CallAttempt, record: CallRecord) -> str:
    destination = _manager_destination(record)
    if destination:
        return destination if destination.startswith(("+", "sip:")) else f"+{destination}"
    legs = (attempt.plan or {}).get("legs") or [{}]
    return legs[0].get("address") or attempt.busy_number or ""


def complete(request: CallbackRequest, attempt: CallAttempt | None, outcome: str, *, duration_s: int = 0,
             answered_line_id: int | None = None) -> bool:
    """The request is `completed` with `outcome`; then its notifications (written to the outbox, sent after
    commit). False when the request was already final."""
    if not advance_request(request.id, S.COMPLETED, outcome=outcome, duration_s=duration_s,
                           answered_line_id=answered_line_id):
        return False
    settings = site_settings.effective_settings(request.account_id, request.site_id)
    if outcome == "success" and settings.is_sms_after_call:
        _sms_after_call(request, attempt, settings.language, answered_line_id)
    if outcome == "client_no_answer" and settings.is_client_retried:
        _sms_invite(request, attempt, settings.language)
    if outcome in MISSED_OUTCOMES and settings.missed_call_email:
        _missed_call_email(request, attempt, outcome, settings)
    if attempt is not None and settings.sms_report_numbers and \
            notifications.preference(request.account_id, "quality_report").enabled:
        _sms_reports(request, attempt, outcome, settings, duration_s, answered_line_id)
    return True


def _charged_sms(request: CallbackRequest, attempt: CallAttempt | None, kind: str, destination: str, text: str,
                 dedup_key: str) -> None:
    """An SMS about `request` for delivery after commit, linked to it and charged once (`sms:<id>`)."""
    notification = outbox.queue_sms(kind, destination, text, account_id=request.account_id, dedup_key=dedup_key)
    if notification is None:
        return
    sms = db.session.scalar(sa.select(SmsMessage).where(SmsMessage.notification_id == notification.id))
    sms.request_id, sms.attempt_id = request.id, attempt.id if attempt else None
    db.session.flush()
    charges.charge_sms(request.account_id, sms.id)


def _sms_after_call(request: CallbackRequest, attempt: CallAttempt | None, language: str,
                    line_id: int | None) -> None:
    """D10: thanks to the visitor, with the manager's name when the answering line says so; charged."""
    line = db.session.get(ManagerLine, line_id) if line_id else None
    with force_locale(language):
        if line is not None and line.is_name_in_sms and line.manager_name:
            text = _("Thank you for your request! You talked to %(name)s.", name=line.manager_name)
        else:
            text = _("Thank you for your request! We are glad to help you again.")
    _charged_sms(request, attempt, "call_followup", request.phone, text, f"followup:{request.id}")


def _sms_invite(request: CallbackRequest, attempt: CallAttempt | None, language: str) -> None:
    """X3: the visitor did not answer (twice, or once when the retry could not be made): a "call me" link."""
    site = db.session.get(Site, request.site_id)
    link = request.page_url or (site.domains[0] if site.domains else site.name)
    with force_locale(language):
        text = _("We could not reach you. Ask for a free call again: %(link)s", link=link)
    _charged_sms(request, attempt, "call_invite", request.phone, text, f"invite:{request.id}")


OUTCOME_WORDS = {"success": N_("talked"), "manager_no_answer": N_("no manager answered"),
                 "client_no_answer": N_("the visitor did not answer"), "failed": N_("not placed")}


def _sms_reports(request: CallbackRequest, attempt: CallAttempt, outcome: str, settings, talk_s: int,
                 line_id: int | None) -> None:
    """D11: one quality report per finished call to each configured number, in the account's language."""
    site = db.session.get(Site, request.site_id)
    line = db.session.get(ManagerLine, line_id) if line_id else None
    local = request.created_at.astimezone(zoneinfo.ZoneInfo(settings.timezone))
    with force_locale(_account_locale(request.account_id)):
        text = _("%(site)s %(time)s %(phone)s, manager: %(manager)s: %(outcome)s, %(talk)s s",
                 site=site.name, time=local.strftime("%d.%m %H:%M"), phone=phones.display(request.phone),
                 manager=(line.manager_name or line.number) if line else "—",
                 outcome=_(OUTCOME_WORDS[outcome]), talk=talk_s)
    for number in settings.sms_report_numbers:
        _charged_sms(request, attempt, "quality_report", number, text, f"report:{request.id}:{number}")


def _missed_call_email(request: CallbackRequest, attempt: CallAttempt | None, outcome: str, settings) -> None:
    """D12: a missed call (no manager answered, or the call could not be placed) to the configured address."""
    site = db.session.get(Site, request.site_id)
    # The account's preference (N1) decides whether it is sent; the site's setting says to whom.
    notifications.notify(request.account_id, "missed_call",
                         {"callback": request, "site": site, "outcome": outcome, "at": request.created_at},
                         dedup_key=f"missed:{request.id}", recipient=settings.missed_call_email)


def _account_locale(account_id: int) -> str:
    """E-mails to the company are in its account's language (the site's language is the visitors')."""
    return db.session.scalar(sa.select(Account.locale).where(Account.id == account_id)) or "ru"


# --- X3: the visitor who did not answer is called once more -------------------------------------------------

RETRY_WAITS = (S.DIALING, S.MANAGER_ANSWERED, S.CONNECTED)  # a request between its attempts 1 and 2


def schedule_retry(request: CallbackRequest, attempt: CallAttempt) -> bool:
    """X3: attempt 1 ended with the visitor not answering. When the site asks for a retry and is still open
    after the pause, the request waits for attempt 2 (`retry_at`, dialed by the dispatcher, no thread sleeps).
    False: no retry; the caller completes the request."""
    settings = site_settings.effective_settings(request.account_id, request.site_id)
    at = utcnow() + dt.timedelta(seconds=settings.client_retry_delay_s)
    if attempt.number != 1 or not settings.is_client_retried or not schedule.is_open(settings, at):
        return False
    moved = db.session.execute(
        sa.update(CallbackRequest)
        .where(CallbackRequest.id == request.id, CallbackRequest.status.in_(RETRY_WAITS),
               CallbackRequest.retry_at.is_(None))
        .values(retry_at=at).execution_options(synchronize_session=False)).rowcount
    if moved:
        db.session.add(DialerTransition(request_id=request.id, status="retry_scheduled", at=utcnow()))
        db.session.flush()
    return bool(moved)


def _waits_for_retry():
    second = sa.select(CallAttempt.id).where(CallAttempt.request_id == CallbackRequest.id,
                                             CallAttempt.number == 2).exists()
    return sa.and_(CallbackRequest.status.in_(RETRY_WAITS), CallbackRequest.retry_at.is_not(None), ~second)


def due_retry_ids(now, limit: int = 500) -> list[int]:
    """Requests whose attempt 2 is due and not made yet."""
    return list(db.session.scalars(sa.select(CallbackRequest.id)
                                   .where(_waits_for_retry(), CallbackRequest.retry_at <= now)
                                   .order_by(CallbackRequest.retry_at, CallbackRequest.id).limit(limit)))


def first_attempt(request_id: int) -> CallAttempt | None:
    return db.session.scalar(sa.select(CallAttempt).where(CallAttempt.request_id == request_id,
                                                          CallAttempt.number == 1))


def give_up_retry(request: CallbackRequest) -> bool:
    """No attempt 2 after all (the site closed, too late, the balance ran out): the request is completed with
    attempt 1's outcome, and the visitor is invited by SMS to ask again."""
    first = first_attempt(request.id)
    return complete(request, first, "client_no_answer", answered_line_id=first.answered_line_id if first else None)


def dispatch_retry(request_id: int, now, *, again_after_s: int, give_up_after_s: int) -> str:
    """A due retry: "redial" (the caller enqueues `dialer.redial` after commit; `retry_at` moves `again_after_s`
    ahead, so a lost task is enqueued again then and only the mover enqueues), "given_up" (the site is closed
    now, or attempt 1 ended more than `give_up_after_s` ago), or "skipped" (another run moved it)."""
    request = db.session.get(CallbackRequest, request_id)
    if request is None or request.status not in RETRY_WAITS or request.retry_at is None or request.retry_at > now:
        return "skipped"
    first = first_attempt(request_id)
    settings = site_settings.effective_settings(request.account_id, request.site_id)
    ended_at = (first.status_changed_at if first else None) or request.retry_at
    if not schedule.is_open(settings, now) or now - ended_at > dt.timedelta(seconds=give_up_after_s):
        return "given_up" if give_up_retry(request) else "skipped"
    moved = db.session.execute(
        sa.update(CallbackRequest)
        .where(CallbackRequest.id == request_id, CallbackRequest.retry_at == request.retry_at)
        .values(retry_at=now + dt.timedelta(seconds=again_after_s))
        .execution_options(synchronize_session=False)).rowcount
    return "redial" if moved else "skipped"


def abandoned_attempts(now, abandon_after_s: int, limit: int = 500) -> list[int]:
    """Attempts whose start outcome is unknown and whose call id never arrived, created longer ago than any
    call may last: MTT never told us of a call, so they are given up (never redialed)."""
    cutoff = now - dt.timedelta(seconds=abandon_after_s)
    return list(db.session.scalars(sa.select(CallAttempt.id)
                                   .where(CallAttempt.status.in_(("created", "dialing")),
                                          CallAttempt.provider_call_id.is_(None), CallAttempt.created_at < cutoff)
                                   .order_by(CallAttempt.id).limit(limit)))


def abandon(attempt_id: int) -> bool:
    """Give up an attempt with no call id: `failed`, no charge, its number free again; the request `failed`."""
    attempt = db.session.get(CallAttempt, attempt_id)
    if attempt is None or not advance_attempt(attempt, "failed", outcome="failed", start_code="start_unknown"):
        return False
    log.warning("attempt %s: no word from the provider in time; given up, not charged", attempt_id)
    complete(db.session.get(CallbackRequest, attempt.request_id), attempt, "failed")
    return True


# --- passive mode ----------------------------------------------------------------------------------------------

owner_email = notifications.owner_email


def forward_passive(request: CallbackRequest, reason: str | None = None) -> bool:
    """D14/B4/B5: the request goes to the owner by e-mail instead of a call; once per request, if the account
    has not switched these letters off (N1). `reason`: the dialing gate's refusal, when it made the request
    passive (the letter then says why: e.g. `spend_cap`, X1); a request stored passive while the spend cap
    paused the account's dialing says so too."""
    if reason is None and db.session.scalar(sa.select(Account.dialing_paused_at)
                                            .where(Account.id == request.account_id)) is not None:
        reason = "spend_cap"
    recipient = owner_email(request.account_id)
    if recipient is None:
        log.warning("passive request %s: account %s has no owner to e-mail", request.id, request.account_id)
        return False
    site = db.session.get(Site, request.site_id)
    return notifications.notify(request.account_id, "passive_request",
                                {"callback": request, "site": site, "at": request.created_at, "reason": reason},
                                dedup_key=f"passive:{request.id}", recipient=recipient) is not None


# --- the dispatcher and the reconciler (issue 7, parts 3 and 6) --------------------------------------------------

def due_scheduled_ids(now, limit: int = 500) -> list[int]:
    """`scheduled` requests whose time has come, soonest first."""
    return list(db.session.scalars(
        sa.select(CallbackRequest.id).where(CallbackRequest.status == S.SCHEDULED,
                                            CallbackRequest.scheduled_for <= now)
        .order_by(CallbackRequest.scheduled_for, CallbackRequest.id).limit(limit)))


def dispatch(request_id: int, now) -> str:
    """A due `scheduled` request: `queued` when its site is open now (the caller enqueues the dial after commit);
    when the site is closed (a delay made it due at night) it is moved to the next opening in the site's time
    zone, never called at night; with no opening in the next week it is `expired`.
    Returns queued | rescheduled | expired | skipped (another run moved it first)."""
    request = db.session.get(CallbackRequest, request_id)
    if request is None or request.status != S.SCHEDULED:
        return "skipped"
    settings = site_settings.effective_settings(request.account_id, request.site_id)
    if schedule.is_open(settings, now):
        return "queued" if advance_request(request_id, S.QUEUED) else "skipped"
    opening = schedule.next_opening(settings, now)
    if opening is None:
        return "expired" if advance_request(request_id, S.EXPIRED) else "skipped"
    moved = db.session.execute(
        sa.update(CallbackRequest)
        .where(CallbackRequest.id == request_id, CallbackRequest.status == S.SCHEDULED)
        .values(scheduled_for=opening).execution_options(synchronize_session=False)).rowcount
    if moved:
        log.info("request %s due at night: moved to %s", request_id, opening.isoformat())
    return "rescheduled" if moved else "skipped"


def _waiting_since(cutoff):
    """Requests that became dialable (`received`, or `queued`: when queued) before `cutoff` and have no attempt."""
    has_attempt = sa.select(CallAttempt.id).where(CallAttempt.request_id == CallbackRequest.id).exists()
    became_dialable = sa.or_(
        sa.and_(CallbackRequest.status_changed_at.is_(None), CallbackRequest.created_at < cutoff),
        CallbackRequest.status_changed_at < cutoff)
    return sa.and_(CallbackRequest.status.in_((S.RECEIVED, S.QUEUED)), ~has_attempt, became_dialable)


def expirable_ids(now, expire_after_s: int, limit: int = 500) -> list[int]:
    """Requests that can no longer be called in time: dialable for longer than `expire_after_s`, never started."""
    cutoff = now - dt.timedelta(seconds=expire_after_s)
    return list(db.session.scalars(sa.select(CallbackRequest.id).where(_waiting_since(cutoff))
                                   .order_by(CallbackRequest.id).limit(limit)))


def stuck_ids(now, stuck_after_s: int, limit: int = 500) -> list[int]:
    """Requests left `received`/`queued` with no attempt for longer than `stuck_after_s` (a lost task, or the
    number was busy with another call: X1) whose site is open now (a stuck request is never dialed at night)."""
    cutoff = now - dt.timedelta(seconds=stuck_after_s)
    rows = db.session.execute(sa.select(CallbackRequest.id, CallbackRequest.account_id, CallbackRequest.site_id)
                              .where(_waiting_since(cutoff)).order_by(CallbackRequest.id).limit(limit)).all()
    return [row.id for row in rows
            if schedule.is_open(site_settings.effective_settings(row.account_id, row.site_id), now)]


ATTEMPT_IN_PROGRESS = ("created", "dialing", "manager_answered", "connected")


def unsettled_attempts(now, settle_after_s: int, limit: int = 500) -> list[tuple[int, str | None]]:
    """(attempt id, provider call id) of attempts still in progress `settle_after_s` after they were created
    whose call record is to be fetched: every run once the call has ended (MTT's record becomes final a little
    later); before that, with a backoff (when the record was last fetched before the middle of the call's age),
    so a lost end event is noticed while a long call costs MTT a handful of requests, not one a minute.
    A call id of None: the start's outcome is unknown and no event taught the id yet, so there is nothing to ask
    and nothing may be redialed."""
    cutoff = now - dt.timedelta(seconds=settle_after_s)
    ended = sa.select(ProviderEvent.id).where(ProviderEvent.attempt_id == CallAttempt.id,
                                              ProviderEvent.kind == "ended").exists()
    rows = db.session.execute(
        sa.select(CallAttempt.id, CallAttempt.provider_call_id, CallAttempt.created_at, CallRecord.fetched_at,
                  ended.label("is_ended"))
        .outerjoin(CallRecord, CallRecord.attempt_id == CallAttempt.id)
        .where(CallAttempt.status.in_(ATTEMPT_IN_PROGRESS), CallAttempt.created_at < cutoff)
        .order_by(CallAttempt.id).limit(limit)).all()
    return [(row.id, row.provider_call_id) for row in rows
            if row.is_ended or row.fetched_at is None or row.fetched_at < now - (now - row.created_at) / 2]


def unforwarded_passive_ids(now, stuck_after_s: int, window_s: int, limit: int = 500) -> list[int]:
    """`passive` requests stored by the API whose forwarding task was lost: no `passive:<id>` e-mail yet,
    older than `stuck_after_s`, younger than `window_s` (an account with no owner to e-mail is not retried
    for ever)."""
    forwarded = sa.select(Notification.id).where(
        Notification.dedup_key == sa.literal("passive:") + sa.cast(CallbackRequest.id, sa.String)).exists()
    return list(db.session.scalars(
        sa.select(CallbackRequest.id)
        .where(CallbackRequest.status == S.PASSIVE, ~forwarded,
               CallbackRequest.created_at < now - dt.timedelta(seconds=stuck_after_s),
               CallbackRequest.created_at >= now - dt.timedelta(seconds=window_s))
        .order_by(CallbackRequest.id).limit(limit)))
